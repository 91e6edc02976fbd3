"""The job runner: takes queued jobs in fair order and turns them into stored images.

Discord-free. It bounds concurrency globally and per member, persists a service's job id the
moment a paid submission is accepted, and on start resumes where the last process stopped:
asynchronous jobs keep polling their stored job id (never resubmitted), synchronous ones that
were in flight are failed and refunded honestly, and results not yet posted are posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import socket
import sqlite3
from collections import OrderedDict
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol

from pydantic import ValidationError

from bot.clock import Clock, parse_timestamp, timestamp
from bot.errors import CameoError
from bot.images.processing import ImageWorkers
from bot.images.store import ImageMissing, ImageStore
from bot.jobs.likeness import LikenessScorer
from bot.models import PERSONAL_SCOPE, Job, JobKind
from bot.observability.metrics import JOBS_FINISHED, QUEUE_WAIT
from bot.providers.base import GeneratedImage, GenerationResult, SubmittedJob
from bot.providers.request import (
    GenerationRequest,
    ImageInput,
    PoseOptions,
    PoseRequest,
    SceneRequest,
    refusal_of,
)
from bot.providers.router import ProviderRouter
from bot.quota.hooks import QuotaHooks
from bot.vision.service import SafetyVerdict
from storage import characters as character_rows
from storage import images as image_rows
from storage import jobs as repo
from storage import likeness as likeness_rows
from storage import moderation as moderation_rows
from storage.database import Database
from storage.likeness import LikenessSettings, OtherTry

log = logging.getLogger(__name__)

# How long a shutdown lets results that are being posted finish.
DELIVERY_GRACE_SECONDS = 10.0
# Characters' pictures kept in memory between jobs (see JobRunner._reference).
REFERENCE_CACHE_BYTES = 64 * 1024 * 1024

RESTART_LOST_TEXT = (
    "Cameo restarted while this picture was being made, and the image service it used can't be "
    "asked again for the result. You were not charged; please try again."
)
UNEXPECTED_TEXT = "Something went wrong on Cameo's side. You were not charged; please try again."


@dataclass(frozen=True)
class RunnerLimits:
    running: int = 8  # jobs generating at once, across every member, service and worker
    per_member: int = 2  # jobs one member may have generating at once (the rest wait in line)
    # How long a worker's claim on a job lasts unless renewed (it renews every third of it):
    # a worker that dies leaves its jobs to the others after at most this long.
    lease_seconds: float = 30.0


# Workers wake each other through this channel (PostgreSQL's NOTIFY) when a job is queued or
# a slot frees up.
JOBS_CHANNEL = "cameo_jobs"


def claimer_name() -> str:
    """This process's name on the jobs it claims: host, process and a random part (a process
    id is reused after a restart)."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"


@dataclass(frozen=True)
class StoredResult:
    position: int  # the image's place in the job's results, which buttons refer to
    sha256: str
    format: str
    data: bytes
    age_restricted: bool = False  # flagged, in an age-restricted channel: posted as a spoiler
    likeness: float | None = None  # to the character's reference (see bot/jobs/likeness.py)
    likeness_note: str | None = None  # why there is no likeness score
    second_try: bool = False  # made again for a closer likeness, and delivered as the better


@dataclass(frozen=True)
class Reroll:
    """What making weak pictures once more gave (see JobRunner._rerolled)."""

    delivered: list[StoredResult]  # the better try of each picture, in place
    made: list[StoredResult]  # the second tries' pictures, to store (delivered or not)
    sizes: dict[str, tuple[int, int]]  # the second tries' pictures' sizes, by hash
    others: list[OtherTry]  # the try of each remade picture that was not delivered
    member_pays: int = 0  # second-try pictures charged to the member at delivery
    note: str | None = None  # why weak pictures were not made again


class SafetyCheck(Protocol):
    """Whether a picture is age-restricted (bot.vision's classifier, where installed)."""

    async def check_safety(self, data: bytes) -> SafetyVerdict: ...


class JobListener(Protocol):
    """What the Discord layer is told; each call may be slow or fail without harming the job."""

    async def job_started(self, job: Job) -> None: ...

    async def job_submitted(self, job: Job) -> None: ...

    async def job_finished(self, job: Job, images: list[StoredResult]) -> bool:
        """Show the results; return whether they were delivered (else retried on start)."""
        ...

    async def job_failed(self, job: Job) -> None: ...

    async def age_restricted_place(self, job: Job) -> bool:
        """Whether the job's results go to an age-restricted (NSFW) channel, as it is now."""
        ...


class UndeliveredListener:
    """Shows nothing; finished results stay undelivered and are posted after the next start."""

    async def job_started(self, job: Job) -> None:
        return None

    async def job_submitted(self, job: Job) -> None:
        return None

    async def job_finished(self, job: Job, images: list[StoredResult]) -> bool:
        return False

    async def job_failed(self, job: Job) -> None:
        return None

    async def age_restricted_place(self, job: Job) -> bool:
        return False


class JobRunner:
    def __init__(
        self,
        db: Database,
        store: ImageStore,
        workers: ImageWorkers,
        router: ProviderRouter,
        quota: QuotaHooks,
        listener: JobListener | None,
        clock: Clock,
        limits: RunnerLimits | None = None,
        safety: SafetyCheck | None = None,
        likeness: LikenessScorer | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.workers = workers
        self.router = router
        self.quota = quota
        # The Discord layer attaches its listener before `start`; until then nothing is shown.
        self.listener: JobListener = listener or UndeliveredListener()
        self.clock = clock
        self.limits = limits or RunnerLimits()
        # Results are checked for age-restricted content where the vision extra is installed.
        self.safety = safety
        # Each picture's likeness to its reference, where the vision extra is installed.
        self.likeness = likeness
        self._wake = asyncio.Event()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._cancelled: set[int] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._resume_task: asyncio.Task[None] | None = None
        self._delivering: set[int] = set()
        # Every job this worker has claimed and not yet let go of (running, or finished and
        # waiting in the backlog to be posted): all of them have their leases renewed.
        self._held: set[int] = set()
        self._references: OrderedDict[str, ImageInput] = OrderedDict()
        self._reference_bytes = 0
        self.claimer = claimer_name()
        self._lease_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    # -- life cycle -------------------------------------------------------------------------

    def attach(self, listener: JobListener) -> None:
        """Tell `listener` about jobs from now on (the Discord layer, when its cog loads)."""
        self.listener = listener

    def detach(self, listener: JobListener) -> None:
        """Stop telling `listener` (its cog unloads): results wait, undelivered, for the next
        listener, instead of going to an object that has closed."""
        if self.listener is listener:
            self.listener = UndeliveredListener()

    async def start(self) -> None:
        """Resume what the last process left, then keep taking queued jobs.

        The jobs the last process left running are read before anything new starts; resuming
        them and posting the backlog then happen in the background, so queued jobs do not wait
        for a long backlog, and a second call (a reconnect's READY) changes nothing.
        """
        if self._loop_task is not None:
            return
        # On SQLite this is the only process there can be (the data directory is locked), so
        # whatever is held was the last process's: take it all now. On PostgreSQL other
        # workers may be alive: take only what their leases let go of.
        running, undelivered = await self._take_over(every=self.db.backend == "sqlite")
        await self.db.listen(JOBS_CHANNEL, lambda _: self.wake())
        self._loop_task = asyncio.create_task(self._loop(), name="job-runner")
        self._resume_task = asyncio.create_task(
            self._resume(running, undelivered), name="job-runner-resume"
        )
        self._lease_task = asyncio.create_task(self._keep_leases(), name="job-leases")
        self.wake()

    async def _take_over(self, *, every: bool = False) -> tuple[list[Job], list[Job]]:
        now = self.clock.now()
        running, undelivered = await self.db.run_transaction(
            partial(
                repo.take_over,
                claimer=self.claimer,
                now=timestamp(now),
                lease_until=self._lease_from(now),
                every=every,
            )
        )
        self._held.update(job.id for job in [*running, *undelivered])
        return running, undelivered

    def _lease_from(self, now: datetime) -> str:
        return timestamp(now + timedelta(seconds=self.limits.lease_seconds))

    async def _keep_leases(self) -> None:
        """Renew this worker's leases; stop working on a job another worker took over (this
        one stalled past its lease); take over the jobs of workers that died; and look at the
        queue, in case a wake-up from another process was missed."""
        while True:
            await asyncio.sleep(self.limits.lease_seconds / 3)
            try:
                await self.renew_leases()
                running, undelivered = await self._take_over()
                if running or undelivered:
                    log.info(
                        "Took over %d running and %d finished jobs from a worker that stopped",
                        len(running),
                        len(undelivered),
                    )
                    self._spawn_resume(running, undelivered)
                self.wake()
            except Exception:
                log.exception("Could not renew this worker's job leases; will retry")

    async def renew_leases(self) -> None:
        held = sorted(self._held | set(self._tasks) | self._delivering)
        kept = await self.db.run_transaction(
            partial(
                repo.renew_leases,
                claimer=self.claimer,
                job_ids=held,
                lease_until=self._lease_from(self.clock.now()),
            )
        )
        for job_id in set(held) - kept:
            self._held.discard(job_id)
            task = self._tasks.get(job_id)
            if task is not None and not task.done():
                log.warning("Job %s is no longer this worker's; leaving it", job_id)
                self._cancelled.add(job_id)
                task.cancel()

    def _spawn_resume(self, running: list[Job], undelivered: list[Job]) -> None:
        task = asyncio.create_task(self._resume(running, undelivered), name="job-takeover")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        """Stop without failing anything: running asynchronous jobs resume on the next start.

        Jobs already posting their results get a short grace to finish, so a shutdown does not
        cut a delivery in half (which would post part of it twice after the restart).
        """
        for task in (self._loop_task, self._resume_task, self._lease_task, *self._background):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._loop_task = self._resume_task = self._lease_task = None
        delivering = [self._tasks[i] for i in self._delivering if i in self._tasks]
        if delivering:
            await asyncio.wait(delivering, timeout=DELIVERY_GRACE_SECONDS)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # What is left goes to the other workers at once, not when the leases run out.
        try:
            await self.db.run_transaction(partial(repo.release_leases, claimer=self.claimer))
        except Exception:
            log.exception("Could not let this worker's jobs go; they go when the leases run out")

    async def resumed(self) -> None:
        """Wait until what the last process left has been resumed, failed or posted."""
        if self._resume_task is not None:
            await asyncio.shield(self._resume_task)

    def wake(self) -> None:
        """A job was queued or finished: look at the queue now."""
        self._wake.set()

    async def job_queued(self) -> None:
        """A job was queued: look at the queue now, here and in every other worker."""
        self.wake()
        await self.db.notify(JOBS_CHANNEL)

    @property
    def started(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    @property
    def running_ids(self) -> set[int]:
        return set(self._tasks)

    async def cancel(self, job_id: int) -> None:
        """Stop waiting for a running job (its state is already set by the caller)."""
        task = self._tasks.get(job_id)
        if task is not None:
            self._cancelled.add(job_id)
            task.cancel()

    # -- the queue --------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._fill()
            except Exception:
                log.exception("The job runner could not start queued jobs; will retry")
                await asyncio.sleep(1)
                self._wake.set()

    async def _fill(self) -> None:
        while len(self._tasks) < self.limits.running:
            if not await self.start_next():
                return

    async def start_next(self) -> bool:
        """Start the job that should run next, if any and if the bounds allow; return whether
        it is worth looking again now.

        Chosen by a read, outside the write lock; starting re-checks that the job is still
        queued (a member may cancel it in between), and if not, the next one is chosen.
        """
        job = await self.db.run_read(
            partial(repo.next_runnable, per_user_limit=self.limits.per_member)
        )
        if job is None:
            return False
        now = self.clock.now()
        claim = repo.Claim(
            self.claimer, self._lease_from(now), self.limits.running, self.limits.per_member
        )
        try:
            started = await self.db.run_transaction(
                partial(repo.start, job_id=job.id, at=timestamp(now), claim=claim)
            )
        except repo.AtCapacity:
            return False  # other workers fill the slots; a finished job wakes this one
        if started is not None:
            self._held.add(started.id)
            waited = self.clock.now() - parse_timestamp(started.created_at)
            QUEUE_WAIT.observe(max(0.0, waited.total_seconds()))
            self._spawn(started, self._run(started))
        return True

    def _spawn(self, job: Job, work: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(work, name=f"job-{job.id}")
        self._tasks[job.id] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._tasks.get(job.id) is finished:
                self._tasks.pop(job.id, None)
                self._held.discard(job.id)
            self._cancelled.discard(job.id)
            self._wake.set()  # a slot is free, here and for every other worker
            notice = asyncio.create_task(self._tell_others(), name="job-slot-free")
            self._background.add(notice)
            notice.add_done_callback(self._background.discard)

        task.add_done_callback(done)

    async def _tell_others(self) -> None:
        try:
            await self.db.notify(JOBS_CHANNEL)
        except Exception:
            log.warning("Could not wake the other workers; they look again within seconds")

    # -- running one job --------------------------------------------------------------------

    async def _run(self, job: Job) -> None:
        await self._notify(self.listener.job_started(job))
        try:
            request = await self._request(job)

            async def submitted(provider: str, submission: SubmittedJob) -> None:
                current = await self.db.run_transaction(
                    partial(
                        repo.record_submission,
                        job_id=job.id,
                        provider=provider,
                        service_job_id=submission.job_id,
                        seed=submission.seed,
                        claimer=self.claimer,
                    )
                )
                if current is not None:
                    await self._notify(self.listener.job_submitted(current))

            result = await self.router.generate(
                request, preferred=job.preferred_provider, on_submitted=submitted
            )
        except asyncio.CancelledError:
            if job.id in self._cancelled:
                return  # the member cancelled; the canceller set the state and refunded
            raise  # shutting down: the job stays running and resumes on the next start
        except CameoError as error:
            await self._fail(job, error.message, str(error))
            return
        except Exception:
            log.exception("Job %s failed unexpectedly", job.id)
            await self._fail(job, UNEXPECTED_TEXT, "unexpected error")
            return
        await self._succeed(job, result)

    async def _resume_polling(self, job: Job) -> None:
        assert job.provider is not None
        assert job.service_job_id is not None
        provider = self.router.get(job.provider)
        assert provider is not None  # _resume only resumes jobs whose service is configured
        try:
            request = await self._request(job, seed=job.seed)
            result = await provider.resume(job.service_job_id, request)
        except asyncio.CancelledError:
            if job.id in self._cancelled:
                return
            raise
        except CameoError as error:
            await self._fail(job, error.message, str(error))
            return
        except Exception:
            log.exception("Resuming job %s failed unexpectedly", job.id)
            await self._fail(job, UNEXPECTED_TEXT, "unexpected error while resuming")
            return
        await self._succeed(job, result)

    async def _request(self, job: Job, seed: int | None = None) -> GenerationRequest:
        """The job's options with the pictures they go with; `seed` is the one the service
        was given before a restart, so resuming asks for the same job."""
        reference = await self._reference(job.reference_sha256)
        if reference is None:
            raise CameoError("The character's picture is no longer stored. You were not charged.")
        options = job.options if seed is None else job.options.model_copy(update={"seed": seed})
        try:
            if isinstance(options, PoseOptions):
                return PoseRequest.from_options(options, subject=reference)
            return SceneRequest.from_options(
                options,
                reference=reference,
                edit_image=await self._input(job.edit_image_sha256),
                edit_mask=await self._input(job.edit_mask_sha256),
            )
        except ValidationError as exc:  # a job queued under older rules
            raise CameoError(f"This request can't be made now. {refusal_of(exc)}") from None

    async def _reference(self, sha256: str | None) -> ImageInput | None:
        """A character's picture, from memory when a recent job used it.

        Pictures are stored by content, so a cached one can never be stale, and the same few
        characters come up job after job: this saves a database read and a file read per job.
        (The job row's reference keeps the picture's row from being deleted while it waits.)
        """
        if sha256 is not None and (cached := self._references.get(sha256)) is not None:
            self._references.move_to_end(sha256)
            return cached
        found = await self._input(sha256)
        # Jobs that start together may each have read it; the first one in is kept.
        if sha256 is not None and found is not None and sha256 not in self._references:
            self._references[sha256] = found
            self._reference_bytes += len(found.data)
            while self._reference_bytes > REFERENCE_CACHE_BYTES and len(self._references) > 1:
                _, oldest = self._references.popitem(last=False)
                self._reference_bytes -= len(oldest.data)
        return found

    def forget_references(self) -> None:
        """Drop every picture kept in memory (a member asked to be forgotten)."""
        self._references.clear()
        self._reference_bytes = 0

    async def _input(self, sha256: str | None) -> ImageInput | None:
        if sha256 is None:
            return None
        row = await self.db.run_read(partial(image_rows.get, sha256=sha256))
        if row is None:
            return None
        data = await self.store.read(sha256, row.format)
        return ImageInput(data, f"image/{row.format}")

    # -- finishing --------------------------------------------------------------------------

    async def _storable(self, position: int, image: GeneratedImage) -> StoredResult:
        """Keep PNG and JPEG as they came; turn WebP into PNG (lossless) so every image is
        stored in a format Discord embeds and every service accepts as a reference."""
        if image.content_type == "image/jpeg":
            data, fmt = image.data, "jpeg"
        elif image.content_type == "image/png":
            data, fmt = image.data, "png"
        else:
            data, fmt = await self.workers.to_png(image.data), "png"
        return StoredResult(position, hashlib.sha256(data).hexdigest(), fmt, data)

    async def _succeed(self, job: Job, result: GenerationResult) -> None:
        made = [
            await self._storable(position, image) for position, image in enumerate(result.images)
        ]
        stored, held = await self._screened(job, made)
        likeness = await self._likeness_settings(job)
        stored = await self._scored(job, stored, likeness)
        firsts = stored
        try:
            reroll = await self._rerolled(job, result, stored, likeness)
        except Exception:  # the pictures are paid for: deliver the first tries whatever happens
            log.exception("Job %s: making weak pictures again failed", job.id)
            reroll = Reroll(stored, [], {}, [])
        stored = reroll.delivered
        sizes = {
            item.sha256: (image.width, image.height)
            for item, image in zip(made, result.images, strict=True)
        } | reroll.sizes
        # Every picture kept: the delivered ones and the tries that lost (for Info).
        kept = list({item.sha256: item for item in [*firsts, *reroll.made]}.values())
        now = timestamp(self.clock.now())
        notes = [result.shortfall.message] if result.shortfall is not None else []
        if held:
            notes.append(await self._held_note(job, held))
        if reroll.note:
            notes.append(reroll.note)

        def record(conn: sqlite3.Connection) -> Job | None:
            for item in kept:
                width, height = sizes[item.sha256]
                image_rows.insert(
                    conn,
                    image_rows.ImageRow(item.sha256, item.format, width, height, len(item.data)),
                    now,
                )
            finished = repo.succeed(
                conn,
                job.id,
                provider=result.provider,
                seed=result.seed,
                cost=str(result.cost) if result.cost is not None else None,
                image_hashes=[item.sha256 for item in stored],
                error=" ".join(notes) or None,
                at=now,
                age_restricted=[item.age_restricted for item in stored],
                likeness=[(item.likeness, item.likeness_note) for item in stored],
                held_back=held,
                member_retries=reroll.member_pays,
                claimer=self.claimer,
            )
            if finished is None:
                return None
            likeness_rows.save_other_tries(conn, job.id, reroll.others)
            if job.character_id is not None:
                character_rows.count_scene(conn, job.character_id, job.user_id)
            return finished

        async with self.store.mutation():
            for item in kept:
                await self.store.write(item.sha256, item.format, item.data)
            finished = await self.db.run_transaction(record)
        if finished is None:
            return  # cancelled meanwhile: nothing to show, the refund already happened
        JOBS_FINISHED.labels(state="succeeded", service=result.provider).inc()
        await self.deliver(finished, stored)

    async def _screened(self, job: Job, made: list[StoredResult]) -> tuple[list[StoredResult], int]:
        """The results to keep, and how many were held back. Outside an age-restricted channel
        a flagged picture is never stored or shown; inside one it is kept, flagged, and posted
        behind a spoiler."""
        if self.safety is None or not made:
            return made, 0
        flags = [(await self.safety.check_safety(item.data)).age_restricted for item in made]
        if not any(flags):
            return made, 0
        if await self._restricted_place(job):
            return [
                replace(item, age_restricted=flag) for item, flag in zip(made, flags, strict=True)
            ], 0
        kept = [item for item, flag in zip(made, flags, strict=True) if not flag]
        log.info("Job %s: %d pictures held back as age-restricted", job.id, len(made) - len(kept))
        return [replace(item, position=index) for index, item in enumerate(kept)], len(made) - len(
            kept
        )

    async def _likeness_settings(self, job: Job) -> LikenessSettings | None:
        """The server's likeness settings for a scene, read once per job; None where its
        pictures are not scored (no vision extra, not a scene, likeness off, or unreadable)."""
        if self.likeness is None or job.kind is not JobKind.SCENE:
            return None
        try:
            settings = await self.likeness.settings(job.guild_id)
        except Exception:  # a score is a nicety: never let it stop a delivery
            log.exception("Couldn't read the likeness settings for job %s", job.id)
            return None
        return None if settings.mode == "off" else settings

    async def _scored(
        self, job: Job, stored: list[StoredResult], settings: LikenessSettings | None
    ) -> list[StoredResult]:
        """The pictures with their likeness to the reference, where the server shows it."""
        if self.likeness is None or settings is None:
            return stored
        try:
            scores = await self.likeness.score(job, [item.data for item in stored], settings)
        except Exception:  # a score is a nicety: never let it stop a delivery
            log.exception("Couldn't score the likeness of job %s", job.id)
            return stored
        if scores is None:
            return stored
        return [
            replace(item, likeness=found.score, likeness_note=found.note)
            for item, found in zip(stored, scores, strict=True)
        ]

    async def _rerolled(
        self,
        job: Job,
        result: GenerationResult,
        stored: list[StoredResult],
        settings: LikenessSettings | None,
    ) -> Reroll:
        """Where the server rerolls (`/admin likeness mode:reroll`), each picture in the weak
        band is made once more, on the same service with a new seed, and the better of its two
        tries is delivered; the other is kept for Info. The second try is paid for before it
        is asked: by the server's monthly budget, or out of the member's hold (which the queue
        made large enough, when members pay)."""
        unchanged = Reroll(stored, [], {}, [])
        if self.likeness is None or settings is None or not stored:
            return unchanged
        weak = [i for i in stored if i.likeness is not None and i.likeness < settings.likely]
        if not settings.rerolls or not weak:
            return unchanged
        provider, member_pays = result.provider, settings.reroll_payer == "member"
        if member_pays:
            paid = await self.db.run_read(
                partial(
                    self.quota.covers_retry,
                    job_id=job.id,
                    provider=provider,
                    images=job.image_count,
                    retried=len(weak),
                )
            )
            refusal = "your credits held for this picture don't cover a second try"
        else:
            paid = await self.db.run_transaction(
                partial(
                    self.quota.pay_server_retry, job_id=job.id, provider=provider, images=len(weak)
                )
            )
            refusal = "this server's image budget for the month can't pay for a second try"
        if not paid:
            return replace(unchanged, note=f"Not made again for a closer likeness: {refusal}.")
        try:
            request = await self._request(job)
            assert isinstance(request, SceneRequest)  # likeness scores scenes only
            # No seed: the service is given a new one, so the second try differs.
            again = request.model_copy(update={"count": len(weak), "seed": None})
            second = await self.router.generate(again, preferred=provider, only_preferred=True)
            made = [
                await self._storable(first.position, image)
                for first, image in zip(weak, second.images, strict=False)
            ]
            sizes = {
                item.sha256: (image.width, image.height)
                for item, image in zip(made, second.images, strict=True)
            }
            made = await self._acceptable(job, made)
            scores = await self.likeness.score(job, [item.data for item in made], settings)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            detail = error.message if isinstance(error, CameoError) else "unexpected error"
            log.warning("Job %s: the second try for likeness failed: %s", job.id, detail)
            if not member_pays:
                await self.db.run_transaction(
                    partial(self.quota.undo_server_retry, job_id=job.id, reason=detail)
                )
            return replace(
                unchanged,
                note="A second try for a closer likeness failed, so the first is shown. "
                "It costs nothing.",
            )
        delivered = {item.position: item for item in stored}
        others = []
        for again_made, found in zip(made, scores or (), strict=False):
            retried = replace(
                again_made, likeness=found.score, likeness_note=found.note, second_try=True
            )
            first = delivered[retried.position]
            assert first.likeness is not None  # only scored pictures are weak
            better, other = (
                (retried, first)
                if retried.likeness is not None and retried.likeness > first.likeness
                else (first, retried)
            )
            delivered[first.position] = better
            others.append(
                OtherTry(
                    first.position,
                    other.sha256,
                    2 if other.second_try else 1,
                    other.likeness,
                    other.likeness_note,
                )
            )
        log.info("Job %s: %d weak pictures made again", job.id, len(made))
        return Reroll(
            [delivered[item.position] for item in stored],
            made,
            sizes,
            others,
            member_pays=len(second.images) if member_pays else 0,
        )

    async def _acceptable(self, job: Job, made: list[StoredResult]) -> list[StoredResult]:
        """Second tries that may be shown where the job's results go: one the safety check
        flags is dropped outside an age-restricted channel (its first try stays), and marked
        inside one."""
        if self.safety is None or not made:
            return made
        flags = [(await self.safety.check_safety(item.data)).age_restricted for item in made]
        if not any(flags):
            return made
        restricted_place = await self._restricted_place(job)
        return [
            replace(item, age_restricted=flag)
            for item, flag in zip(made, flags, strict=True)
            if restricted_place or not flag
        ]

    async def _restricted_place(self, job: Job) -> bool:
        """Whether the job's results go to an age-restricted channel; if that can't be told,
        the place is treated as not age-restricted."""
        try:
            return await self.listener.age_restricted_place(job)
        except Exception:
            log.exception("Couldn't tell whether job %s's channel is age-restricted", job.id)
            return False

    async def read_stored(self, sha256: str) -> bytes | None:
        """A stored picture's bytes by its hash, or None if it is gone."""
        try:
            found = await self._input(sha256)
        except ImageMissing:
            return None
        return found.data if found is not None else None

    async def _held_note(self, job: Job, held: int) -> str:
        charged = await self.db.run_read(
            partial(moderation_rows.charges_held_back, guild_id=job.guild_id or PERSONAL_SCOPE)
        )
        pictures = "1 picture was" if held == 1 else f"{held} pictures were"
        return (
            f"{pictures} held back: the safety check found {'it' if held == 1 else 'them'} "
            "age-restricted, and this channel isn't. Ask in an age-restricted channel to see "
            f"such pictures. {'Charged, as this server has set.' if charged else 'Not charged.'}"
        )

    async def deliver(self, job: Job, stored: list[StoredResult] | None = None) -> None:
        """Hand the results to the listener; remember delivery so it is never repeated."""
        self._delivering.add(job.id)
        try:
            if stored is None:
                stored = await self._stored_results(job)
            delivered = await self._notify(self.listener.job_finished(job, stored))
            if delivered:
                # Credits are charged when the member has the pictures, not before; pictures
                # held back as age-restricted only where the server says so.
                at = timestamp(self.clock.now())
                shown = len(stored)

                def charge(conn: sqlite3.Connection) -> None:
                    if not repo.mark_delivered(conn, job.id, at):
                        return  # recorded already (another worker posted them too)
                    held = (
                        job.held_back
                        if job.held_back
                        and moderation_rows.charges_held_back(conn, job.guild_id or PERSONAL_SCOPE)
                        else 0
                    )
                    self.quota.commit(
                        conn,
                        job_id=job.id,
                        provider=job.provider,
                        images=shown + held,
                        retried=job.member_retries,
                    )

                await self.db.run_transaction(charge)
        finally:
            self._delivering.discard(job.id)

    async def _stored_results(self, job: Job) -> list[StoredResult]:
        def listed(
            conn: sqlite3.Connection,
        ) -> tuple[list[tuple[int, image_rows.ImageRow | None, repo.PictureFacts]], set[int]]:
            others = likeness_rows.other_tries_of(conn, job.id)
            second_tries = {position for position, other in others.items() if other.attempt == 1}
            return [
                (facts.position, image_rows.get(conn, facts.sha256), facts)
                for facts in repo.positioned_images_of(conn, job.id)
            ], second_tries

        rows, second_tries = await self.db.run_read(listed)
        return [
            StoredResult(
                position,
                row.sha256,
                row.format,
                await self.store.read(row.sha256, row.format),
                age_restricted=facts.age_restricted,
                likeness=facts.likeness,
                likeness_note=facts.likeness_note,
                second_try=position in second_tries,
            )
            for position, row, facts in rows
            if row is not None
        ]

    async def _fail(self, job: Job, member_text: str, detail: str) -> None:
        log.info("Job %s failed: %s", job.id, detail)
        at = timestamp(self.clock.now())

        def record(conn: sqlite3.Connection) -> Job | None:
            failed = repo.fail(conn, job.id, member_text, at, self.claimer)
            if failed is not None:
                self.quota.refund(conn, job_id=job.id, reason=member_text)
            return failed

        failed = await self.db.run_transaction(record)
        if failed is not None:
            JOBS_FINISHED.labels(state="failed", service=failed.provider or "none").inc()
            await self._notify(self.listener.job_failed(failed))

    async def _notify(self, call: Awaitable[bool | None]) -> bool:
        """Await a listener call; a failure there is logged, never fatal to the job."""
        try:
            outcome = await call
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("A job listener failed")
            return False
        return bool(outcome) if outcome is not None else True

    # -- after a restart --------------------------------------------------------------------

    async def _resume(self, running: list[Job], undelivered: list[Job]) -> None:
        for job in running:
            if job.id in self._tasks:
                continue  # already working on it here
            try:
                provider = self.router.get(job.provider) if job.provider else None
                if job.service_job_id and provider is not None and provider.asynchronous:
                    log.info("Resuming job %s on %s (%s)", job.id, job.provider, job.service_job_id)
                    self._spawn(job, self._resume_polling(job))
                else:
                    await self._fail(job, RESTART_LOST_TEXT, "in flight at restart, not resumable")
            except Exception:
                log.exception("Could not resume job %s; it stays as it was", job.id)
        for job in undelivered:
            if job.id in self._delivering:
                continue
            try:
                await self.deliver(job)
            except Exception:
                log.exception("Could not post the results of job %s; will retry on restart", job.id)
            finally:
                self._held.discard(job.id)
