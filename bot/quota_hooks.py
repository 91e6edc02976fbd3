"""The calls the job queue makes into the quota rules (`bot.quota.QuotaService`).

Every call takes the open transaction of the job change it belongs to, so a hold and the job
row it pays for land (or roll back) together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.errors import CameoError
from bot.models import Viewer
from storage.database import Connection


class QuotaExceeded(CameoError):
    """The member (or the server) has no credits left for this request, or asked too soon."""


class QuotaHooks(Protocol):
    async def hold_for(
        self, conn: Connection, *, guild_id: int, providers: Sequence[str], speed: str, images: int
    ) -> int:
        """What a job must hold if any of `providers` may make its `images` at `speed`."""

    async def reserve(
        self, conn: Connection, *, job_id: int, member: Viewer, speed: str, credits: int
    ) -> None:
        """Hold `credits` for a queued job; raise QuotaExceeded if they are not there."""

    async def commit(
        self, conn: Connection, *, job_id: int, provider: str | None, images: int
    ) -> None:
        """The job's images were delivered: charge their price, give back the rest."""

    async def refund(self, conn: Connection, *, job_id: int, reason: str) -> None:
        """The job failed or was cancelled: give the whole hold back."""
