"""Reports: any member flags a result or a character (or a likeness of themselves) with a
reason; moderators get it in the server's log with buttons and act on it. Every action is
recorded: who, when, why. Reports need a log channel, so that someone sees them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from bot.characters.service import CharacterService
from bot.clock import Clock, timestamp
from bot.errors import CameoError
from bot.jobs.results import ResultService
from bot.jobs.service import JobService
from bot.models import Job, Viewer
from bot.moderation.blocks import MemberBlocks
from bot.moderation.service import NotStaff
from storage import jobs as job_rows
from storage import reports as repo
from storage.database import Database
from storage.reports import Report

log = logging.getLogger(__name__)

REASON_MAX = 500
WHY_MAX = 300
# A member may file this many reports in a server per hour: enough for real trouble, too few
# to flood the moderators' channel.
REPORTS_PER_HOUR = 10
OUTCOMES = {
    "dismiss": "dismissed",
    "delete-result": "result deleted",
    "delete-character": "character deleted",
    "block": "member blocked",
    "approve": "approved",
    "reject": "rejected",
}


@dataclass(frozen=True)
class Decision:
    report: Report  # as settled: who, when, what, why
    stopped: list[Job]  # queued scenes of a blocked member, stopped and refunded


class ReportService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        jobs: JobService,
        results: ResultService,
        characters: CharacterService,
        blocks: MemberBlocks,
    ) -> None:
        self.db = db
        self.clock = clock
        self.jobs = jobs
        self.results = results
        self.characters = characters
        self.blocks = blocks
        self.log = blocks.moderation.log

    async def report_result(self, viewer: Viewer, job_id: int, reason: str) -> Report:
        job = await self.jobs.get(job_id)
        if job is None or job.guild_id is None or job.guild_id != viewer.guild_id:
            raise CameoError("Those pictures are gone already, so there's nothing to report.")
        pictures = await self.db.run_read(partial(job_rows.stored_images_of, job_id=job_id))
        image = (pictures[0][1], pictures[0][2]) if pictures else None
        return await self._file(
            viewer,
            "result",
            reason,
            job_id=job_id,
            character_id=job.character_id,
            about=job.user_id,
            image=image,
        )

    async def report_character(self, viewer: Viewer, character_id: int, reason: str) -> Report:
        character = await self.characters.get(character_id)
        if character is None or character.guild_id != viewer.guild_id:
            raise CameoError("That character is gone already, so there's nothing to report.")
        return await self._file(
            viewer,
            "character",
            reason,
            character_id=character.id,
            about=character.owner_id,
            image=(character.image_sha256, character.image_format),
        )

    async def report_likeness(
        self, viewer: Viewer, character_query: str | None, reason: str
    ) -> Report:
        """The person pictured asks for removal: marked first in the log, for moderators."""
        character = None
        if character_query:
            character = await self.characters.resolve(viewer, character_query)
        return await self._file(
            viewer,
            "likeness",
            reason,
            character_id=character.id if character else None,
            about=character.owner_id if character else None,
            image=(character.image_sha256, character.image_format) if character else None,
        )

    async def _file(
        self,
        viewer: Viewer,
        kind: str,
        reason: str,
        *,
        job_id: int | None = None,
        character_id: int | None = None,
        about: int | None,
        image: tuple[str, str] | None,
    ) -> Report:
        guild = viewer.guild_id
        if guild is None:
            raise CameoError("Reports go to a server's moderators: use this in the server.")
        text = " ".join(reason.split())[:REASON_MAX]
        if not text:
            raise CameoError("Say what is wrong, so the moderators know what to look at.")
        if await self.log.channel(guild) is None:
            raise CameoError(
                "This server's moderators haven't chosen a channel for Cameo's reports yet, so "
                "a report couldn't reach them. Please contact them directly."
            )
        now = self.clock.now()
        since = timestamp(now - timedelta(hours=1))
        if (
            await self.db.run_read(
                partial(repo.open_count, guild_id=guild, reported_by=viewer.user_id, since=since)
            )
            >= REPORTS_PER_HOUR
        ):
            raise CameoError(
                f"You've sent {REPORTS_PER_HOUR} reports in the last hour; the moderators have "
                "them. Please wait before sending more."
            )
        report = await self.db.run_transaction(
            partial(
                repo.add,
                guild_id=guild,
                kind=kind,
                job_id=job_id,
                character_id=character_id,
                reported_by=viewer.user_id,
                about_user=about,
                reason=text,
                at=timestamp(now),
            )
        )
        if await self.log.report(report, image) is None:
            log.warning("Report %s could not be posted to server %s's log", report.id, guild)
        return report

    async def _carry_out(self, viewer: Viewer, report: Report, action: str, why: str) -> list[Job]:
        """Do what the moderator chose; the member's queued scenes a block stopped."""
        if action == "block":
            if report.about_user is None:
                raise CameoError("There is no member to block for this report.")
            blocked = await self.blocks.block(
                viewer, report.about_user, f"report {report.id}: {why}", None
            )
            return blocked.stopped
        if action == "delete-result":
            await self._delete_result(viewer, report)
        elif action == "delete-character":
            if report.character_id is None:
                raise CameoError("This report isn't about a character.")
            await self._delete_character(viewer, report.character_id)
        elif action in ("approve", "reject"):
            await self._decide_approval(viewer, report, approve=action == "approve")
        return []

    async def _delete_result(self, viewer: Viewer, report: Report) -> None:
        if report.job_id is None:
            raise CameoError("This report isn't about a result.")
        pictures = await self.db.run_read(partial(job_rows.stored_images_of, job_id=report.job_id))
        if pictures:  # else deleted meanwhile: nothing left to do
            positions = [position for position, *_ in pictures]
            await self.results.delete(viewer, report.job_id, positions)

    async def _delete_character(self, viewer: Viewer, character_id: int) -> None:
        if await self.characters.get(character_id) is not None:  # else deleted meanwhile
            await self.characters.delete(viewer, character_id)

    async def _decide_approval(self, viewer: Viewer, report: Report, *, approve: bool) -> None:
        if report.kind != "approval" or report.character_id is None:
            raise CameoError("This report isn't an approval request.")
        if not approve:
            await self._delete_character(viewer, report.character_id)
        elif await self.characters.get(report.character_id) is not None:
            await self.characters.approve(viewer, report.character_id)

    async def get(self, report_id: int) -> Report | None:
        return await self.db.run_read(partial(repo.get, report_id=report_id))

    async def act(self, viewer: Viewer, report_id: int, action: str, why: str) -> Decision:
        """A moderator's decision on a report, recorded and carried out. The report is claimed
        first, so two moderators acting at once never both act; if carrying it out fails, the
        report is open again."""
        if not viewer.can_manage_guild:
            raise NotStaff()
        report = await self.get(report_id)
        if report is None or report.guild_id != viewer.guild_id:
            raise CameoError("That report isn't from this server.")
        if report.outcome is not None:
            raise CameoError(f"Report {report.id} was already settled: {report.outcome}.")
        if action not in OUTCOMES:
            raise CameoError("Choose what to do with the report.")
        reason = " ".join(why.split())[:WHY_MAX] or "no reason given"
        settled = await self.db.run_transaction(
            partial(
                repo.settle,
                report_id=report.id,
                outcome=OUTCOMES[action],
                by=viewer.user_id,
                at=timestamp(self.clock.now()),
                why=reason,
            )
        )
        if settled is None:
            raise CameoError(f"Report {report.id} was settled by someone else meanwhile.")
        try:
            stopped = await self._carry_out(viewer, report, action, reason)
        except BaseException:
            await self.db.run_transaction(partial(repo.reopen, report_id=report.id))
            raise
        log.info("Report %s in %s: %s by %s", report.id, report.guild_id, action, viewer.user_id)
        return Decision(settled, stopped)
