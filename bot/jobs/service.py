"""Queueing scenes and pose sheets, cancelling them, and listing a member's jobs.

Everything a request needs is checked here, before a job row exists or a credit is held: the
character is visible to the member, the options make a valid request, an edit's image and
mask pass the same checks as a reference, and some configured service can honour it. The
member's options are checked once, into SceneOptions or PoseOptions, and kept with the job.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar, cast

from pydantic import ValidationError

from bot.characters.looks import LookService, choose_look
from bot.characters.service import CharacterService
from bot.clock import Clock, timestamp
from bot.errors import CameoError
from bot.images.processing import CleanImage, ImageWorkers, StoredFormat
from bot.images.store import ImageStore, image_row
from bot.jobs.likeness import DRAWN_STYLES
from bot.jobs.runner import JobRunner
from bot.jobs.shared_result import SharedResult
from bot.models import Character, Job, JobKind, Look, Viewer
from bot.moderation.service import ModerationService
from bot.prefs.preset import Preset, Source, apply_presets
from bot.prefs.service import PrefsService
from bot.providers.request import (
    GenerationOptions,
    Needs,
    PoseOptions,
    SceneOptions,
    refusal_of,
)
from bot.providers.router import ProviderRouter
from bot.quota import pricing
from bot.quota.hooks import QuotaHooks
from bot.stories.service import StoryClosed
from storage import images as image_rows
from storage import jobs as repo
from storage import likeness as likeness_rows
from storage import looks as look_rows
from storage import prefs as pref_rows
from storage import stories as story_rows
from storage.database import Database

log = logging.getLogger(__name__)
T = TypeVar("T")

# A member may have this many jobs waiting or running at once; more are refused, not queued.
MAX_ACTIVE_JOBS_PER_MEMBER = 20
# Until a few jobs have finished, assume one takes this long (for the ETA on queued cards).
ASSUMED_JOB_SECONDS = 30.0
# How stale a shared queue ranking, and the typical job duration, may be.
POSITIONS_FRESH_SECONDS = 0.5
DURATIONS_FRESH_SECONDS = 10.0


class JobNotFound(CameoError):
    def __init__(self) -> None:
        super().__init__("That job doesn't exist any more, or isn't yours.")


@dataclass(frozen=True)
class ErasedJobs:
    """What forget-me erased of a member's jobs: the ones that were active, how many in all, and
    the images nothing refers to any more."""

    active: list[int]
    jobs: int
    released: list[image_rows.ImageRow]


@dataclass(frozen=True)
class QueuedJob:
    job: Job
    position: int | None  # 1 = next to start; None once running
    story: tuple[str, int] | None = None  # (title, number) when asked in a story's thread


class JobService:
    def __init__(
        self,
        db: Database,
        store: ImageStore,
        characters: CharacterService,
        workers: ImageWorkers,
        router: ProviderRouter,
        quota: QuotaHooks,
        runner: JobRunner,
        clock: Clock,
        *,
        looks: LookService | None = None,
        prefs: PrefsService | None = None,
        moderation: ModerationService | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.characters = characters
        self.workers = workers
        self.router = router
        self.quota = quota
        self.runner = runner
        self.clock = clock
        self.looks = looks or LookService(characters)
        self.prefs = prefs or PrefsService(db, clock)
        self.moderation = moderation or characters.moderation
        self._positions = SharedResult(self._rank_queue, POSITIONS_FRESH_SECONDS)
        self._placing = 0  # new jobs whose place in line is being found now
        self._durations = SharedResult(self._typical_duration, DURATIONS_FRESH_SECONDS)

    async def queue_scene(
        self,
        viewer: Viewer,
        channel_id: int,
        character_query: str,
        options: Mapping[str, object],
        *,
        provider: str | None = None,
        edit_image: bytes | None = None,
        edit_mask: bytes | None = None,
        look: str | None = None,
    ) -> QueuedJob:
        """Queue a scene of a character; nothing is queued or held if any check fails.

        `options` are the ones the member set, by SceneOptions' field names; the settings they
        left out come from their preferences, then the character's defaults (bot/prefs).
        `look` names one of the character's looks (the default when None).
        """
        character = await self.characters.resolve(viewer, character_query, to_use=True)

        def read(conn: sqlite3.Connection) -> tuple[list[Look], str | None]:
            """The character's looks and the member's preset: one step on the database."""
            looks = look_rows.looks_of(conn, character.id)
            return looks, pref_rows.member_preset(conn, viewer.scope, viewer.user_id)

        looks, stored = await self.db.run_read(read)
        chosen_look = choose_look(character, looks, look)
        edits = await self._clean_edit(edit_image, edit_mask)
        preset = Preset() if stored is None else Preset.stored(stored)
        merged, sources = apply_presets(options, preset, character.defaults)
        chosen = _valid(lambda: SceneOptions.model_validate(merged))
        return await self._queue_scene(
            viewer,
            channel_id,
            character,
            chosen,
            provider,
            edits,
            rerolled_from=None,
            look=chosen_look,
            sources=sources,
        )

    async def _queue_scene(
        self,
        viewer: Viewer,
        channel_id: int,
        character: Character,
        options: SceneOptions,
        provider: str | None,
        edits: tuple[CleanImage, CleanImage] | None,
        *,
        rerolled_from: int | None,
        look: Look,
        sources: Mapping[str, Source],
    ) -> QueuedJob:
        return await self._queue(
            viewer,
            channel_id,
            JobKind.SCENE,
            character,
            Needs.of_options(options, edit=edits is not None),
            options,
            provider,
            edits,
            rerolled_from=rerolled_from,
            look=look,
            sources=sources,
        )

    async def queue_poses(
        self,
        viewer: Viewer,
        channel_id: int,
        character_query: str,
        options: Mapping[str, object],
        *,
        look: str | None = None,
    ) -> QueuedJob:
        """Queue a pose sheet of a character (Segmind Consistent Character).

        `options` are the ones the member set, by PoseOptions' field names; `look` names one
        of the character's looks (the default when None).
        """
        character = await self.characters.resolve(viewer, character_query, to_use=True)
        chosen_look = await self.looks.pick(character, look)
        chosen = _valid(lambda: PoseOptions.model_validate(options))
        return await self._queue_poses(
            viewer, channel_id, character, chosen, rerolled_from=None, look=chosen_look
        )

    async def _queue_poses(
        self,
        viewer: Viewer,
        channel_id: int,
        character: Character,
        options: PoseOptions,
        *,
        rerolled_from: int | None,
        look: Look,
    ) -> QueuedJob:
        return await self._queue(
            viewer,
            channel_id,
            JobKind.POSES,
            character,
            Needs.of_options(options),
            options,
            None,
            None,
            rerolled_from=rerolled_from,
            look=look,
            sources={},
        )

    async def _clean_edit(
        self, image: bytes | None, mask: bytes | None
    ) -> tuple[CleanImage, CleanImage] | None:
        if image is None and mask is None:
            return None
        if image is None or mask is None:
            raise CameoError("To edit a region, attach both the image and its mask.")
        clean_image = await self.workers.clean_reference(image)
        clean_mask = await self.workers.clean_reference(mask)
        if (clean_image.width, clean_image.height) != (clean_mask.width, clean_mask.height):
            raise CameoError(
                "The mask must be the same size as the image "
                f"({clean_image.width}×{clean_image.height}); this one is "
                f"{clean_mask.width}×{clean_mask.height}."
            )
        return clean_image, clean_mask

    async def _queue(
        self,
        viewer: Viewer,
        channel_id: int,
        kind: JobKind,
        character: Character,
        needs: Needs,
        options: GenerationOptions,
        provider: str | None,
        edits: tuple[CleanImage, CleanImage] | None,
        *,
        rerolled_from: int | None,
        look: Look,
        sources: Mapping[str, Source],
    ) -> QueuedJob:
        # A server's rules come first: a blocked member or term is refused before anything is
        # checked with the services, held or written.
        await self.moderation.check_member(viewer)
        await self.moderation.check_access(viewer, None)  # roles; channels, by the client
        await self.moderation.check_text(
            viewer, {"prompt": options.prompt, "negative prompt": options.negative_prompt}
        )
        able = self.router.ensure_possible(needs, provider)
        speed = pricing.speed_of(needs)
        now = timestamp(self.clock.now())

        def enqueue(conn: sqlite3.Connection) -> tuple[Job, tuple[str, int] | None]:
            """Check the member's limits, hold the credits and write the job (and, asked in a
            story's thread, number it as the story's next scene): one step."""
            story = story_rows.in_channel(conn, channel_id)
            if story is not None and story.closed:
                raise StoryClosed(story)
            active = repo.count_active_for_user(conn, viewer.user_id)
            if active >= MAX_ACTIVE_JOBS_PER_MEMBER:
                raise CameoError(
                    f"You already have {active} pictures on the way. Wait for some to "
                    "finish (see /jobs) before asking for more."
                )
            for clean in edits or ():
                image_rows.insert(conn, image_row(clean), now)
            credits = self.quota.hold_for(
                conn,
                guild_id=viewer.scope,
                providers=[p.name for p in able],
                speed=speed,
                images=needs.count
                * (2 if self._member_may_pay_second_tries(conn, viewer, options) else 1),
            )
            job = repo.insert(
                conn,
                repo.NewJob(
                    kind=kind,
                    guild_id=viewer.scope,
                    channel_id=channel_id,
                    user_id=viewer.user_id,
                    character_id=character.id,
                    character_name=character.name,
                    reference_sha256=look.image_sha256,
                    edit_image_sha256=edits[0].sha256 if edits else None,
                    edit_mask_sha256=edits[1].sha256 if edits else None,
                    options=options,
                    image_count=needs.count,
                    preferred_provider=provider,
                    credits=credits,
                    created_at=now,
                    rerolled_from=rerolled_from,
                    look_id=look.id,
                    look_name=look.name,
                    # Credited on the card only when it is someone else's character.
                    character_owner_id=(
                        character.owner_id if character.owner_id != viewer.user_id else None
                    ),
                    option_sources={name: source.value for name, source in sources.items()},
                ),
            )
            self.quota.reserve(conn, job_id=job.id, member=viewer, speed=speed, credits=credits)
            if story is None:
                return job, None
            return job, (story.title, story_rows.add_scene(conn, story.id, job.id))

        # The store's lock orders file writes against the orphan sweep; a plain scene writes
        # no file (its reference is held by the job row's foreign key), so it skips the lock.
        try:
            lock = self.store.mutation() if edits else contextlib.nullcontext()
            async with lock:
                for clean in edits or ():
                    await self.store.write(clean.sha256, clean.format, clean.data)
                job, scene = await self.db.run_transaction(enqueue)
        except sqlite3.IntegrityError:
            # The character's picture was replaced between reading it and queueing.
            raise CameoError(
                f"{character.name}'s picture changed just now. Please ask again."
            ) from None
        await self.runner.job_queued()
        return QueuedJob(job, await self._place_of(job.id), scene)

    def _member_may_pay_second_tries(
        self, conn: sqlite3.Connection, viewer: Viewer, options: GenerationOptions
    ) -> bool:
        """Whether this scene may be made twice at the member's cost (a server that rerolls
        weak likenesses at members' cost): then the hold covers every picture twice, and what
        is not made comes back at delivery, as with any hold."""
        if self.runner.likeness is None or viewer.guild_id is None:
            return False
        if not isinstance(options, SceneOptions) or options.style in DRAWN_STYLES:
            return False
        settings = likeness_rows.settings_of(conn, viewer.guild_id)
        return settings.rerolls and settings.reroll_payer == "member"

    async def cancel(self, viewer: Viewer, job_id: int) -> Job:
        """Cancel a queued or running job: its owner, or Manage Server in its server, may."""
        now = timestamp(self.clock.now())

        def record(conn: sqlite3.Connection) -> Job:
            job = repo.get(conn, job_id)
            if job is None or not _may_manage(viewer, job):
                raise JobNotFound()
            cancelled = repo.cancel(conn, job.id, now)
            if cancelled is None:
                raise CameoError("That job has already finished, so there is nothing to cancel.")
            self.quota.refund(conn, job_id=job.id, reason="cancelled")
            return cancelled

        cancelled = await self.db.run_transaction(record)
        await self.runner.cancel(job_id)
        return cancelled

    async def active(self, viewer: Viewer) -> list[QueuedJob]:
        """The member's queued and running jobs, with queue positions."""
        jobs = await self.db.run_read(partial(repo.active_for_user, user_id=viewer.user_id))
        positions = await self.positions()
        return [QueuedJob(job, positions.get(job.id)) for job in jobs]

    async def get(self, job_id: int) -> Job | None:
        return await self.db.run_read(partial(repo.get, job_id=job_id))

    async def reroll(self, viewer: Viewer, job_id: int, channel_id: int) -> QueuedJob:
        """Queue the same request again with a new seed, to be shown in `channel_id`; only the
        member who asked may."""

        def read(conn: sqlite3.Connection) -> tuple[Job | None, list[image_rows.ImageRow | None]]:
            job = repo.get(conn, job_id)
            if job is None or not job.is_edit:
                return job, []
            shas = (job.edit_image_sha256, job.edit_mask_sha256)
            return job, [image_rows.get(conn, sha) for sha in shas if sha is not None]

        job, edit_rows = await self.db.run_read(read)
        if job is None or job.user_id != viewer.user_id:
            raise JobNotFound()
        if job.character_id is None:
            raise CameoError(
                f"{job.character_name} has been deleted, so there is nothing to reroll."
            )
        character = await self.characters.get(job.character_id)
        if character is None:
            raise CameoError(
                f"{job.character_name} has been deleted, so there is nothing to reroll."
            )
        # The member must still be allowed to use the character (it may have turned private).
        character = await self.characters.resolve(viewer, character.public_id, to_use=True)
        look = await self._look_of(job, character)
        known = {source.value for source in Source}
        sources = {
            name: Source(value) for name, value in job.option_sources.items() if value in known
        }
        # Everything the member chose but the seed, so the service picks a new one.
        # Checked again (a copy would not be): a job stored under older rules is refused now,
        # before anything is held, not after its turn in the queue.
        kind = type(job.options)
        options = _valid(lambda: kind.model_validate({**job.options.model_dump(), "seed": None}))
        if isinstance(options, PoseOptions):
            return await self._queue_poses(
                viewer, channel_id, character, options, rerolled_from=job.id, look=look
            )
        edits = None
        if job.is_edit:
            if len(edit_rows) != 2 or any(row is None for row in edit_rows):
                raise CameoError("The image and mask of that edit are gone; use /scene again.")
            edits = tuple([await self._stored_clean(row) for row in edit_rows if row is not None])
        return await self._queue_scene(
            viewer,
            channel_id,
            character,
            options,
            job.preferred_provider,
            edits,  # type: ignore[arg-type]
            rerolled_from=job.id,
            look=look,
            sources=sources,
        )

    async def _look_of(self, job: Job, character: Character) -> Look:
        """The look a job used, for its reroll: the default for jobs made before looks."""
        looks = await self.looks.looks_of(character)
        if job.look_id is None:
            return next(look for look in looks if look.is_default)
        for look in looks:
            if look.id == job.look_id:
                return look
        raise CameoError(
            f"{character.name}'s look “{job.look_name}” has been removed since, so this scene "
            "can't be made again as it was. Ask with /scene and another look."
        )

    async def _stored_clean(self, row: image_rows.ImageRow) -> CleanImage:
        data = await self.store.read(row.sha256, row.format)
        fmt = cast("StoredFormat", row.format)
        return CleanImage(
            data, fmt, row.width, row.height, row.sha256, row.sha256, fmt, row.width, row.height
        )

    async def positions(self) -> dict[int, int]:
        """Every queued job's place in line (1 = next), at most a moment old.

        When a whole server asks at once, each answer would otherwise rank the whole queue
        again; one ranking is shared by every caller within POSITIONS_FRESH_SECONDS.
        """
        return await self._positions.get()

    async def _place_of(self, job_id: int) -> int | None:
        """A new job's place in line. Alone, it is counted for this job only (a few
        milliseconds less than ranking the whole queue); when others are being placed at the
        same time (a whole server asking at once), they share one fresh ranking instead of
        each counting the queue."""
        placed_after = time.monotonic()
        self._placing += 1
        try:
            if self._placing == 1:
                return await self.db.run_read(partial(repo.position_of, job_id=job_id))
            return (await self._positions.get(since=placed_after)).get(job_id)
        finally:
            self._placing -= 1

    async def _rank_queue(self) -> dict[int, int]:
        return await self.db.run_read(repo.queue_positions)

    async def _typical_duration(self) -> float:
        durations = await self.db.run_read(repo.recent_durations)
        return statistics.median(durations) if durations else ASSUMED_JOB_SECONDS

    async def estimated_start(self, position: int) -> datetime:
        """When a job at this place in line should start, from how long recent jobs took."""
        typical = await self._durations.get()
        rounds = math.ceil(position / self.runner.limits.running)
        return self.clock.now() + timedelta(seconds=max(1.0, typical) * rounds)

    async def stop_queued_of(self, user_id: int, character: Character, reason: str) -> list[Job]:
        """Stop a member's queued scenes of a character they may no longer use, refunding
        each; `reason` is what their cards say. Running ones finish (already paid for)."""
        return await self._stop_queued(user_id, reason, character_id=character.id)

    async def stop_queued_in_server(self, user_id: int, guild_id: int, reason: str) -> list[Job]:
        """Stop a member's queued scenes in a server (they were blocked there), refunding each."""
        return await self._stop_queued(user_id, reason, guild_id=guild_id)

    async def _stop_queued(
        self,
        user_id: int,
        reason: str,
        *,
        character_id: int | None = None,
        guild_id: int | None = None,
    ) -> list[Job]:
        def stop(conn: sqlite3.Connection) -> list[Job]:
            stopped = []
            queued = repo.queued_of(conn, user_id, character_id=character_id, guild_id=guild_id)
            for job in queued:
                if repo.fail(conn, job.id, reason, timestamp(self.clock.now())) is None:
                    continue
                self.quota.refund(conn, job_id=job.id, reason="cancelled")
                stopped.append(job)
            return stopped

        stopped = await self.db.run_transaction(stop)
        return [await self.get(job.id) or job for job in stopped]

    async def forget(self, user_id: int) -> int:
        """Cancel a member's jobs and delete every job and result of theirs; return how many."""
        async with self.store.mutation():
            erased = await self.db.run_transaction(partial(self.erase_member, user_id=user_id))
            await self.discard(erased)
        await self.stop_running(erased)
        return erased.jobs

    def erase_member(self, conn: sqlite3.Connection, user_id: int) -> ErasedJobs:
        """forget-me's part for jobs, inside the caller's transaction: cancel the member's active
        jobs (refunding their holds) and delete every job and result of theirs. The caller then
        calls `discard` (inside the store's mutation) and `stop_running`."""
        now = timestamp(self.clock.now())
        active = repo.active_for_user(conn, user_id)
        for job in active:
            repo.cancel(conn, job.id, now)
            self.quota.refund(conn, job_id=job.id, reason="forgotten")
        count, held = repo.delete_all_of(conn, user_id)
        repo.forget_turn(conn, user_id)
        repo.forget_as_owner(conn, user_id)
        return ErasedJobs([job.id for job in active], count, image_rows.release(conn, held))

    async def discard(self, erased: ErasedJobs) -> None:
        """Remove the files of erased results (inside the store's mutation)."""
        await self.store.discard_all([(row.sha256, row.format) for row in erased.released])

    async def stop_running(self, erased: ErasedJobs) -> None:
        """Stop the work in progress of jobs that were erased while active."""
        for job_id in erased.active:
            await self.runner.cancel(job_id)


def _may_manage(viewer: Viewer, job: Job) -> bool:
    if job.user_id == viewer.user_id:
        return True
    return viewer.can_manage_guild and job.guild_id is not None and job.guild_id == viewer.guild_id


def _valid(build: Callable[[], T]) -> T:
    """Build a request model; refuse it with Cameo's sentence for what is wrong, not pydantic's.

    This runs before the job row and its credit hold are written, so a refused request leaves
    nothing behind.
    """
    try:
        return build()
    except ValidationError as exc:
        raise CameoError(refusal_of(exc)) from None
