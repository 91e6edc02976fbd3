"""Blocking a member from Cameo in a server: the block itself, and their queued scenes there
stopped and refunded in the same request, so a block takes effect at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.jobs.service import JobService
from bot.models import Job, Viewer
from bot.moderation.service import ModerationService
from storage.moderation import Block


@dataclass(frozen=True)
class Blocked:
    block: Block
    stopped: list[Job]  # their queued scenes here, stopped and refunded


class MemberBlocks:
    def __init__(self, moderation: ModerationService, jobs: JobService) -> None:
        self.moderation = moderation
        self.jobs = jobs

    async def block(
        self, viewer: Viewer, member_id: int, reason: str | None, duration: timedelta | None
    ) -> Blocked:
        """Block a member here (staff only, checked by the moderation service)."""
        block = await self.moderation.block(viewer, member_id, reason, duration)
        stopped = await self.jobs.stop_queued_in_server(
            member_id,
            block.guild_id,
            "This server's moderators blocked you from using Cameo here, so this scene was "
            f"stopped before it started. Nothing was charged. Reason: {block.reason}",
        )
        return Blocked(block, stopped)

    async def unblock(self, viewer: Viewer, member_id: int) -> bool:
        return await self.moderation.unblock(viewer, member_id)
