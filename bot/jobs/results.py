"""What members do with finished images: favourite, reuse as a reference, inspect, delete.

Discord-free. Every rule is checked here against the stored job, so a button that outlives a
restart (or is clicked by someone else) is judged by the same rules as the first click.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from functools import partial

from bot.characters.consent import Consent
from bot.characters.looks import LookService
from bot.characters.service import CharacterService
from bot.errors import CameoError
from bot.images.store import ImageStore
from bot.jobs.runner import StoredResult
from bot.jobs.service import JobNotFound
from bot.models import Character, Job, JobState, Look, Viewer
from storage import images as image_rows
from storage import jobs as repo
from storage import likeness as likeness_rows
from storage.database import Database
from storage.likeness import DEFAULT_SETTINGS, LikenessSettings, OtherTry

log = logging.getLogger(__name__)


# How many of the latest finished jobs /show searches for what was typed.
RECENT_JOBS = 100
_NOT_SHOWABLE = {
    JobState.QUEUED: "is still waiting its turn",
    JobState.RUNNING: "is still being made",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "was cancelled",
}


class ImageGone(CameoError):
    def __init__(self) -> None:
        super().__init__("That picture has been deleted.")


@dataclass(frozen=True)
class JobInfo:
    job: Job
    show_cost: bool  # what a job cost is the requester's (and moderators') business
    # Each picture's likeness (position, score, why none), and the server's bands.
    likeness: list[tuple[int, float | None, str | None]] = field(default_factory=list)
    bands: LikenessSettings = DEFAULT_SETTINGS
    # The try not delivered of each picture that was made twice, by position.
    other_tries: dict[int, OtherTry] = field(default_factory=dict)


class ResultService:
    def __init__(
        self,
        db: Database,
        store: ImageStore,
        characters: CharacterService,
        looks: LookService | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.characters = characters
        self.looks = looks or LookService(characters)

    async def _job(self, job_id: int) -> Job:
        job = await self.db.run_read(partial(repo.get, job_id=job_id))
        if job is None:
            raise JobNotFound()
        return job

    async def _visible_job(self, viewer: Viewer, job_id: int) -> Job:
        """A job the viewer may see: theirs, or one from the server they are in."""
        job = await self._job(job_id)
        if job.user_id != viewer.user_id and (
            job.guild_id is None or job.guild_id != viewer.guild_id
        ):
            raise JobNotFound()
        return job

    async def info(self, viewer: Viewer, job_id: int) -> JobInfo:
        """Anyone in the server where the results are may ask how they were made."""
        job = await self._visible_job(viewer, job_id)

        def read(
            conn: sqlite3.Connection,
        ) -> tuple[list[repo.PictureFacts], LikenessSettings, dict[int, OtherTry]]:
            bands = likeness_rows.settings_of(conn, job.guild_id) if job.guild_id else None
            return (
                repo.positioned_images_of(conn, job_id),
                bands or DEFAULT_SETTINGS,
                likeness_rows.other_tries_of(conn, job_id),
            )

        pictures, bands, others = await self.db.run_read(read)
        scored = [
            (facts.position, facts.likeness, facts.likeness_note)
            for facts in pictures
            if facts.likeness is not None or facts.likeness_note is not None
        ]
        return JobInfo(
            job,
            show_cost=job.user_id == viewer.user_id or _moderates(viewer, job),
            likeness=scored,
            bands=bands,
            other_tries=others,
        )

    async def toggle_favorite(self, viewer: Viewer, job_id: int, position: int) -> bool:
        """Mark (or unmark) one of the requester's own results as a favourite."""
        job = await self._job(job_id)
        if job.user_id != viewer.user_id:
            raise CameoError("Only the member who asked for these pictures can favourite them.")
        marked = await self.db.run_transaction(
            partial(repo.toggle_favorite, job_id=job_id, position=position)
        )
        if marked is None:
            raise ImageGone()
        return marked

    async def favorites(self, job_id: int) -> set[int]:
        return await self.db.run_read(partial(repo.favorites_of, job_id=job_id))

    async def reference_choice(self, viewer: Viewer, job_id: int) -> tuple[Character, Look]:
        """Before a result becomes a reference: the character (its owner only may) and the
        look the scene used, which the owner may replace (or they add a new look instead)."""
        job = await self._visible_job(viewer, job_id)
        character = await self.characters.get(job.character_id) if job.character_id else None
        if character is None:
            raise CameoError(f"{job.character_name} has been deleted.")
        if character.owner_id != viewer.user_id:
            raise CameoError(
                f"Only the owner of {character.name} can change their reference pictures."
            )
        looks = await self.looks.looks_of(character)
        used = next((look for look in looks if look.id == job.look_id), None)
        if used is None:  # made before looks, or that look has been removed since
            used = next(look for look in looks if look.is_default)
        return character, used

    async def use_as_reference(
        self,
        viewer: Viewer,
        job_id: int,
        position: int,
        *,
        replace_look: int | None = None,
        new_look: str | None = None,
        consent: Consent | None = None,
    ) -> tuple[Character, Look]:
        """Make a result a reference picture: its character's owner only, same checks as
        registration (the image is cleaned again, exactly as an upload would be). Either
        replacing the look `replace_look` (by id), or as a new look called `new_look`."""
        character, _ = await self.reference_choice(viewer, job_id)

        def read(conn: sqlite3.Connection) -> image_rows.ImageRow | None:
            sha256 = repo.image_at(conn, job_id, position)
            return image_rows.get(conn, sha256) if sha256 is not None else None

        row = await self.db.run_read(read)
        if row is None:
            raise ImageGone()
        clean = await self.characters.workers.clean_reference(
            await self.store.read(row.sha256, row.format)
        )
        owner_view = Viewer(viewer.user_id, character.guild_id)
        if new_look is not None:
            return await self.looks.add_from_picture(
                owner_view, character, new_look, clean, consent
            )
        if replace_look is None:
            raise CameoError("Choose whether to replace a look or add a new one.")
        return await self.looks.replace_picture(owner_view, character, replace_look, clean, consent)

    async def recent(self, viewer: Viewer, typed: str, limit: int = 25) -> list[Job]:
        """Finished jobs the viewer may show again here, newest first: their own, or every
        member's for a moderator; matching what they typed (a job number, or part of the
        character's name or the prompt). Only the latest RECENT_JOBS are searched."""
        moderator = viewer.guild_id is not None and (
            viewer.can_manage_guild or viewer.can_manage_messages
        )
        found = await self.db.run_read(
            partial(
                repo.recent_finished,
                scope=viewer.scope,
                user_id=None if moderator else viewer.user_id,
                viewer_id=viewer.user_id,
                limit=RECENT_JOBS,
            )
        )
        wanted = typed.strip().casefold().lstrip("#")
        if wanted:
            found = [
                job
                for job in found
                if str(job.id).startswith(wanted)
                or wanted in job.character_name.casefold()
                or wanted in (job.options.prompt or "").casefold()
            ]
        return found[:limit]

    async def showable(self, viewer: Viewer, job_id: int) -> tuple[Job, list[StoredResult]]:
        """A finished job's pictures, to post again where the viewer asks: the requester may,
        and a moderator may in that server; never in another server than the job's."""
        job = await self._job(job_id)
        own = job.user_id == viewer.user_id and job.guild_id == viewer.guild_id
        if not own and not _moderates(viewer, job):
            raise JobNotFound()
        if job.state is not JobState.SUCCEEDED:
            raise CameoError(
                f"Job {job.id} has no pictures to show: it {_NOT_SHOWABLE[job.state]}."
            )
        # As in galleries: an unlisted character's pictures are not for the whole server.
        character = await self.characters.get(job.character_id) if job.character_id else None
        if character is None:
            raise CameoError(f"{job.character_name} has been deleted, so these stay hidden.")
        if not character.listed and character.owner_id != viewer.user_id:
            raise CameoError(f"{character.name} is private, so their pictures stay hidden.")
        rows = await self.db.run_read(partial(repo.stored_images_of, job_id=job_id))
        if not rows:
            raise ImageGone()
        facts = {
            fact.position: fact
            for fact in await self.db.run_read(partial(repo.positioned_images_of, job_id=job_id))
        }
        images = [
            StoredResult(
                position,
                sha256,
                fmt,
                await self.store.read(sha256, fmt),
                age_restricted=flagged,
                likeness=facts[position].likeness if position in facts else None,
                likeness_note=facts[position].likeness_note if position in facts else None,
            )
            for position, sha256, fmt, flagged in rows
        ]
        return job, images

    async def delete(self, viewer: Viewer, job_id: int, positions: list[int]) -> None:
        """Forget some results: the requester may, and so may a moderator of that server."""
        job = await self._job(job_id)
        if job.user_id != viewer.user_id and not _moderates(viewer, job):
            raise CameoError(
                "Only the member who asked for these pictures, or a moderator, can delete them."
            )

        def forget(conn: sqlite3.Connection) -> list[image_rows.ImageRow]:
            hashes = repo.forget_images(conn, job_id, positions)
            if not repo.images_of(conn, job_id) and not job.state.active:
                # Nothing left to show: the request itself (prompt, edit image and mask) goes too.
                hashes += repo.delete(conn, job_id)
            return image_rows.release(conn, hashes)

        async with self.store.mutation():
            gone = await self.db.run_transaction(forget)
            for row in gone:
                await self.store.discard(row.sha256, row.format)
        log.info("Results %s of job %s deleted by %s", positions, job_id, viewer.user_id)


def _moderates(viewer: Viewer, job: Job) -> bool:
    if job.guild_id is None or viewer.guild_id != job.guild_id:
        return False
    return viewer.can_manage_guild or viewer.can_manage_messages
