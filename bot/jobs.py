"""Queueing scenes and pose sheets, cancelling them, and listing a member's jobs.

Everything a request needs is checked here, before a job row exists or a credit is held: the
character is visible to the member, the options make a valid request, an edit's image and
mask pass the same checks as a reference, and some configured service can honour it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError

from bot.characters import CharacterService
from bot.clock import Clock, timestamp
from bot.errors import CameoError
from bot.image_store import ImageStore, image_row
from bot.images import CleanImage, ImageWorkers
from bot.job_runner import JobRunner
from bot.models import Character, Job, JobKind, Viewer
from bot.providers.request import GenerationRequest, ImageInput, PoseRequest, SceneRequest
from bot.providers.router import ProviderRouter
from bot.quota_hooks import QuotaHooks
from storage import images as image_rows
from storage import jobs as repo
from storage.database import Database

log = logging.getLogger(__name__)
T = TypeVar("T")

# A member may have this many jobs waiting or running at once; more are refused, not queued.
MAX_ACTIVE_JOBS_PER_MEMBER = 20


class JobNotFound(CameoError):
    def __init__(self) -> None:
        super().__init__("That job doesn't exist any more, or isn't yours.")


@dataclass(frozen=True)
class QueuedJob:
    job: Job
    position: int | None  # 1 = next to start; None once running


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
    ) -> None:
        self.db = db
        self.store = store
        self.characters = characters
        self.workers = workers
        self.router = router
        self.quota = quota
        self.runner = runner
        self.clock = clock

    async def queue_scene(
        self,
        viewer: Viewer,
        channel_id: int,
        character_query: str,
        options: dict[str, object],
        *,
        provider: str | None = None,
        edit_image: bytes | None = None,
        edit_mask: bytes | None = None,
    ) -> QueuedJob:
        """Queue a scene of a character; nothing is queued or held if any check fails."""
        character = await self.characters.resolve(viewer, character_query)
        reference = ImageInput(
            await self.characters.reference_image(character), f"image/{character.image_format}"
        )
        edits = await self._clean_edit(edit_image, edit_mask)
        request: SceneRequest = _valid(
            lambda: SceneRequest(
                reference=reference,
                edit_image=_as_input(edits[0]) if edits else None,
                edit_mask=_as_input(edits[1]) if edits else None,
                **options,  # type: ignore[arg-type]
            )
        )
        return await self._queue(
            viewer, channel_id, JobKind.SCENE, character, request, options, provider, edits
        )

    async def queue_poses(
        self,
        viewer: Viewer,
        channel_id: int,
        character_query: str,
        options: dict[str, object],
    ) -> QueuedJob:
        """Queue a pose sheet of a character (Segmind Consistent Character)."""
        character = await self.characters.resolve(viewer, character_query)
        subject = ImageInput(
            await self.characters.reference_image(character), f"image/{character.image_format}"
        )
        request: PoseRequest = _valid(
            lambda: PoseRequest(subject=subject, **options)  # type: ignore[arg-type]
        )
        return await self._queue(
            viewer, channel_id, JobKind.POSES, character, request, options, None, None
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
        request: GenerationRequest,
        options: dict[str, object],
        provider: str | None,
        edits: tuple[CleanImage, CleanImage] | None,
    ) -> QueuedJob:
        self.router.ensure_possible(request, provider)
        now = timestamp(self.clock.now())
        async with self.store.mutation():
            for clean in edits or ():
                await self.store.write(clean.sha256, clean.format, clean.data)
            async with self.db.transaction() as conn:
                active = await repo.active_for_user(conn, viewer.user_id)
                if len(active) >= MAX_ACTIVE_JOBS_PER_MEMBER:
                    raise CameoError(
                        f"You already have {len(active)} pictures on the way. Wait for some to "
                        "finish (see /jobs) before asking for more."
                    )
                for clean in edits or ():
                    await image_rows.insert(conn, image_row(clean), now)
                job = await repo.insert(
                    conn,
                    repo.NewJob(
                        kind=kind,
                        guild_id=viewer.scope,
                        channel_id=channel_id,
                        user_id=viewer.user_id,
                        character_id=character.id,
                        character_name=character.name,
                        reference_sha256=character.image_sha256,
                        edit_image_sha256=edits[0].sha256 if edits else None,
                        edit_mask_sha256=edits[1].sha256 if edits else None,
                        options=options,
                        image_count=request.count,
                        preferred_provider=provider,
                        credits=0,  # priced by the quota rules once they are configured
                        created_at=now,
                    ),
                )
                await self.quota.reserve(
                    conn,
                    job_id=job.id,
                    guild_id=viewer.scope,
                    user_id=viewer.user_id,
                    credits=job.credits,
                )
                positions = await repo.queue_positions(conn)
        self.runner.wake()
        return QueuedJob(job, positions.get(job.id))

    async def cancel(self, viewer: Viewer, job_id: int) -> Job:
        """Cancel a queued or running job: its owner, or Manage Server in its server, may."""
        now = timestamp(self.clock.now())
        async with self.db.transaction() as conn:
            job = await repo.get(conn, job_id)
            if job is None or not _may_manage(viewer, job):
                raise JobNotFound()
            if not job.state.active:
                raise CameoError("That job has already finished, so there is nothing to cancel.")
            await repo.cancel(conn, job.id, now)
            await self.quota.refund(conn, job_id=job.id, reason="cancelled")
            await repo.release_inputs(conn, job.id)
            cancelled = await repo.get(conn, job.id)
        await self.runner.cancel(job_id)
        assert cancelled is not None
        return cancelled

    async def active(self, viewer: Viewer) -> list[QueuedJob]:
        """The member's queued and running jobs, with queue positions."""
        async with self.db.read() as conn:
            jobs = await repo.active_for_user(conn, viewer.user_id)
            positions = await repo.queue_positions(conn)
        return [QueuedJob(job, positions.get(job.id)) for job in jobs]


def _may_manage(viewer: Viewer, job: Job) -> bool:
    if job.user_id == viewer.user_id:
        return True
    return viewer.can_manage_guild and job.guild_id is not None and job.guild_id == viewer.guild_id


def _as_input(clean: CleanImage) -> ImageInput:
    return ImageInput(clean.data, f"image/{clean.format}")


def _valid(build: Callable[[], T]) -> T:
    """Build a request model, turning its validation errors into one sentence for the member."""
    try:
        return build()
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(part) for part in first.get("loc", ())) or "request"
        raise CameoError(f"That request can't be made ({field}: {first['msg']}).") from None
