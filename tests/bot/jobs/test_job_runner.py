"""The job runner on real SQLite, real files and real HTTP against the fake services."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import httpx
import pytest

import bot.jobs.runner as runner_module
from bot.characters.service import CharacterService
from bot.clock import SystemClock
from bot.images.processing import ImageWorkers
from bot.images.store import ImageStore
from bot.jobs.runner import RESTART_LOST_TEXT, JobRunner, RunnerLimits, StoredResult
from bot.models import Character, Job, JobKind, JobState, Viewer
from bot.providers.apiframe import ApiframeCharacter
from bot.providers.request import SceneOptions, Speed
from bot.providers.router import ProviderRouter
from bot.providers.segmind import SegmindCharacter
from bot.quota.service import QuotaService
from storage import jobs as repo
from storage.database import Database, open_database
from tests.bot.providers.conftest import FAST_POLL
from tests.fakes import FakeApiframe, FakeSegmind
from tests.imagefactory import png


class Listener:
    def __init__(self, runner_ref: list[JobRunner]) -> None:
        self.runner_ref = runner_ref
        self.started: list[Job] = []
        self.submitted: list[Job] = []
        self.finished: list[tuple[Job, list[StoredResult]]] = []
        self.failed: list[Job] = []
        self.deliver = True
        self.max_running = 0
        self.changed = asyncio.Event()

    async def job_started(self, job: Job) -> None:
        self.started.append(job)
        self.max_running = max(self.max_running, len(self.runner_ref[0].running_ids))
        self.changed.set()

    async def job_submitted(self, job: Job) -> None:
        self.submitted.append(job)
        self.changed.set()

    async def job_finished(self, job: Job, images: list[StoredResult]) -> bool:
        self.finished.append((job, images))
        self.changed.set()
        return self.deliver

    async def job_failed(self, job: Job) -> None:
        self.failed.append(job)
        self.changed.set()

    async def until(self, condition, timeout: float = 15) -> None:  # type: ignore[no-untyped-def]
        """Wait for the condition, then for the runner to finish what it was doing with it."""

        async def wait() -> None:
            while not condition():
                self.changed.clear()
                await self.changed.wait()
            while self.runner_ref[0].running_ids:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(wait(), timeout)


@pytest.fixture
async def db(database_target: str | Path) -> AsyncIterator[Database]:
    async with open_database(database_target) as database:
        yield database


@pytest.fixture
def store(db: Database, tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images", db)


@pytest.fixture
async def mira(db: Database, store: ImageStore) -> Character:
    service = CharacterService(db, store, ImageWorkers(), SystemClock())
    return await service.create(Viewer(1, 10), name="Mira", image=png(seed=1))


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        yield client


def make_router(
    http: httpx.AsyncClient, apiframe: FakeApiframe, segmind: FakeSegmind
) -> ProviderRouter:
    return ProviderRouter(
        [
            ApiframeCharacter(http, apiframe.base_url, apiframe.api_key, FAST_POLL),
            SegmindCharacter(http, segmind.base_url, segmind.api_key),
        ]
    )


def generous_quota(db: Database, router: ProviderRouter) -> QuotaService:
    """The real quota rules, with an allowance no test here reaches."""
    return QuotaService(
        db, SystemClock(), daily_credits=1_000_000, reset_hour=0, providers=router.names
    )


def make_runner(
    db: Database, store: ImageStore, router: ProviderRouter, limits: RunnerLimits | None = None
) -> tuple[JobRunner, Listener]:
    holder: list[JobRunner] = []
    listener = Listener(holder)
    runner = JobRunner(
        db,
        store,
        ImageWorkers(),
        router,
        generous_quota(db, router),
        listener,
        SystemClock(),
        limits,
    )
    holder.append(runner)
    return runner, listener


async def stop_once_submitted(
    db: Database,
    store: ImageStore,
    http: httpx.AsyncClient,
    apiframe_fake: FakeApiframe,
    segmind_fake: FakeSegmind,
    queued: Awaitable[Job],
) -> Job:
    """Queue a job on a runner and stop the runner once the service has taken it (and been
    paid), while it is still being polled: a bot killed or upgraded mid-job."""
    apiframe_fake.polls_before_done = 10_000
    first, listener = make_runner(db, store, make_router(http, apiframe_fake, segmind_fake))
    await first.start()
    job = await queued
    first.wake()
    await asyncio.wait_for(_submitted(listener), 15)
    await first.stop()
    return job


async def restart_and_finish(
    db: Database,
    store: ImageStore,
    http: httpx.AsyncClient,
    apiframe_fake: FakeApiframe,
    segmind_fake: FakeSegmind,
) -> None:
    """Start a new runner, as after a restart, and wait until it finishes the job it resumes."""
    apiframe_fake.polls_before_done = 0
    second, listener = make_runner(db, store, make_router(http, apiframe_fake, segmind_fake))
    await second.start()
    try:
        await listener.until(lambda: listener.finished)
    finally:
        await second.stop()


async def queue(db: Database, character: Character, user_id: int = 1, **options: object) -> Job:
    values: dict[str, object] = {"prompt": "Mira reading by a fireplace"}
    values.update(options)
    chosen = SceneOptions.model_validate(values)
    return await db.run_transaction(
        lambda conn: repo.insert(
            conn,
            repo.NewJob(
                kind=JobKind.SCENE,
                guild_id=10,
                channel_id=20,
                user_id=user_id,
                character_id=character.id,
                character_name=character.name,
                reference_sha256=character.image_sha256,
                edit_image_sha256=None,
                edit_mask_sha256=None,
                options=chosen,
                image_count=chosen.count or 1,
                preferred_provider=None,
                credits=0,
                created_at="2026-11-21T12:00:00Z",
            ),
        )
    )


async def queue_as_before(db: Database, character: Character, options: dict[str, object]) -> Job:
    """Queue a job as the code before typed options wrote it: the member's choices as a plain
    JSON object, with no version marker."""

    def insert(conn: sqlite3.Connection) -> Job:
        row = conn.execute(
            "INSERT INTO jobs (kind, state, guild_id, channel_id, user_id, character_id, "
            "character_name, reference_sha256, edit_image_sha256, edit_mask_sha256, options, "
            "image_count, preferred_provider, credits, created_at, rerolled_from) "
            "VALUES ('scene', 'queued', 10, 20, 1, ?, ?, ?, NULL, NULL, ?, ?, NULL, 0, "
            "'2026-11-21T12:00:00Z', NULL) RETURNING id",
            (
                character.id,
                character.name,
                character.image_sha256,
                json.dumps(options, sort_keys=True),
                options.get("count", 1),
            ),
        ).fetchone()
        job = repo.get(conn, row[0])
        assert job is not None
        return job

    return await db.run_transaction(insert)


async def state_of(db: Database, job_id: int) -> Job:
    job = await db.run_read(lambda conn: repo.get(conn, job_id))
    assert job is not None
    return job


async def test_a_queued_job_is_generated_stored_and_delivered(
    db: Database,
    store: ImageStore,
    mira: Character,
    http: httpx.AsyncClient,
    apiframe_fake: FakeApiframe,
    segmind_fake: FakeSegmind,
) -> None:
    runner, listener = make_runner(db, store, make_router(http, apiframe_fake, segmind_fake))
    await runner.start()
    try:
        job = await queue(db, mira, count=2)
        runner.wake()
        await listener.until(lambda: listener.finished)
    finally:
        await runner.stop()
    finished, images = listener.finished[0]
    assert finished.state is JobState.SUCCEEDED
    assert len(images) == 2
    assert all(store.path_for(i.sha256, i.format).exists() for i in images)
    done = await state_of(db, job.id)
    assert done.delivered_at is not None
    assert done.provider == "apiframe"
    assert done.service_job_id is not None
    assert done.reference_sha256 is None  # the job let go of the character's picture
    assert [j.id for j in listener.submitted] == [job.id, job.id]  # two paid Apiframe jobs
    assert apiframe_fake.billed == 2


async def test_a_characters_picture_is_read_once_for_job_after_job(
    db: Database,
    store: ImageStore,
    mira: Character,
    http: httpx.AsyncClient,
    apiframe_fake: FakeApiframe,
    segmind_fake: FakeSegmind,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[str] = []
    read = store.read

    async def counted(sha256: str, image_format: str) -> bytes:
        reads.append(sha256)
        return await read(sha256, image_format)

    monkeypatch.setattr(store, "read", counted)
    runner, listener = make_runner(db, store, make_router(http, apiframe_fake, segmind_fake))
    await runner.start()
    try:
        for done in range(1, 4):
            await queue(db, mira)
            runner.wake()
            await listener.until(lambda done=done: len(listener.finished) == done)
    finally:
        await runner.stop()
    assert reads.count(mira.image_sha256) == 1


async def test_pictures_read_together_are_counted_once_in_memory(
    db: Database,
    store: ImageStore,
    mira: Character,
    http: httpx.AsyncClient,
    apiframe_fake: FakeApiframe,
    segmind_fake: FakeSegmind,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Jobs of one character that start together each read its picture; the memory kept must
    # count it once, or the count drifts until nothing can be kept (and lookups failed).
    monkeypatch.setattr(runner_module, "REFERENCE_CACHE_BYTES", 1)
    runner, _ = make_runner(db, store, make_router(http, apiframe_fake, segmind_fake))
    found = await asyncio.gather(*(runner._reference(mira.image_sha256) for _ in range(8)))
    assert all(picture is not None for picture in found)
    assert runner._reference_bytes == len(found[0].data)  # type: ignore[union-attr]
    # Over the limit, the newest picture is still kept; nothing fails.
    assert await runner._reference(mira.image_sha256) is not None


async def test_a_failure_is_recorded_with_the_members_reason(
    db: Database,
    store: ImageStore,
    mira: Character,
    http: httpx.AsyncClient,
    apiframe_fake: FakeApiframe,
    segmind_fake: FakeSegmind,
) -> None:
    apiframe_fake.reject_content = True
    runner, listener = make_runner(db, store, make_router(http, apiframe_fake, segmind_fake))
    await runner.start()
    try:
        job = await queue(db, mira)
        runner.wake()
        await listener.until(lambda: listener.failed)
    finally:
        await runner.stop()
    failed = await state_of(db, job.id)
    assert failed.state is JobState.FAILED
    assert failed.error is not None
    assert "content rules" in failed.error
    assert segmind_fake.billed == 0  # a content rejection is never tried elsewhere


async def test_concurrency_is_bounded_per_member_and_overall(
    db: Database,
    store: ImageStore,
    mira: Character,
    http: httpx.AsyncClient,
    apiframe_fake: FakeApiframe,
    segmind_fake: FakeSegmind,
) -> None:
    apiframe_fake.polls_before_done = 6
    runner, listener = make_runner(
        db, store, make_router(http, apiframe_fake, segmind_fake), RunnerLimits(3, 1)
    )
    await runner.start()
    try:
        for _ in range(4):
            await queue(db, mira, user_id=1)
        for user in (2, 3, 4):
            await queue(db, mira, user_id=user)
        runner.wake()
        await listener.until(lambda: len(listener.finished) == 7, timeout=30)
    finally:
        await runner.stop()
    assert listener.max_running <= 3
    # Members 2, 3 and 4 each got their only job started before member 1's second.
    order = [job.user_id for job in listener.started]
    assert order.index(1, 1) > max(order.index(2), order.index(3), order.index(4))


async def test_a_restart_resumes_polling_and_pays_once(
    db: Database,
    store: ImageStore,
    mira: Character,
    http: httpx.AsyncClient,
    apiframe_fake: FakeApiframe,
    segmind_fake: FakeSegmind,
) -> None:
    job = await stop_once_submitted(
        db, store, http, apiframe_fake, segmind_fake, queue(db, mira)
    )  # the bot is killed mid-job
    assert (await state_of(db, job.id)).state is JobState.RUNNING
    await restart_and_finish(db, store, http, apiframe_fake, segmind_fake)
    assert (await state_of(db, job.id)).state is JobState.SUCCEEDED
    assert apiframe_fake.billed == 1


async def test_a_synchronous_job_in_flight_at_restart_fails_honestly(
    db: Database,
    store: ImageStore,
    mira: Character,
    http: httpx.AsyncClient,
    apiframe_fake: FakeApiframe,
    segmind_fake: FakeSegmind,
) -> None:
    job = await queue(db, mira)
    # It was running on Segmind when the bot died.
    await db.run_transaction(lambda conn: repo.start(conn, job.id, "t"))
    runner, listener = make_runner(db, store, make_router(http, apiframe_fake, segmind_fake))
    await runner.start()
    await runner.resumed()
    await runner.stop()
    failed = await state_of(db, job.id)
    assert failed.state is JobState.FAILED
    assert failed.error == RESTART_LOST_TEXT
    assert [j.id for j in listener.failed] == [job.id]
    assert segmind_fake.billed == apiframe_fake.billed == 0


async def test_results_not_yet_posted_are_posted_after_a_restart(
    db: Database,
    store: ImageStore,
    mira: Character,
    http: httpx.AsyncClient,
    apiframe_fake: FakeApiframe,
    segmind_fake: FakeSegmind,
) -> None:
    runner, listener = make_runner(db, store, make_router(http, apiframe_fake, segmind_fake))
    listener.deliver = False  # Discord was unreachable when the images arrived
    await runner.start()
    await runner.resumed()
    job = await queue(db, mira)
    runner.wake()
    await listener.until(lambda: listener.finished)
    await runner.stop()
    assert (await state_of(db, job.id)).delivered_at is None
    again, listener = make_runner(db, store, make_router(http, apiframe_fake, segmind_fake))
    await again.start()
    await again.resumed()
    await again.stop()
    assert [j.id for j, _ in listener.finished] == [job.id]
    assert len(listener.finished[0][1]) == 1
    assert (await state_of(db, job.id)).delivered_at is not None
    assert apiframe_fake.billed == 1


async def test_a_backlog_slower_than_a_lease_is_posted_once(
    db: Database,
    store: ImageStore,
    mira: Character,
    http: httpx.AsyncClient,
    apiframe_fake: FakeApiframe,
    segmind_fake: FakeSegmind,
) -> None:
    """Finished jobs waiting in the backlog after a restart keep their leases while the ones
    before them are posted, so the worker never takes them over from itself and posts twice."""
    router = make_router(http, apiframe_fake, segmind_fake)
    runner, listener = make_runner(db, store, router)
    listener.deliver = False  # Discord was unreachable when the images arrived
    await runner.start()
    jobs = [await queue(db, mira) for _ in range(3)]
    runner.wake()
    await listener.until(lambda: len(listener.finished) == 3)
    await runner.stop()
    again, listener = make_runner(db, store, router, RunnerLimits(lease_seconds=0.6))
    slow = listener.job_finished

    async def posting_slowly(job: Job, images: list[StoredResult]) -> bool:
        await asyncio.sleep(0.5)  # each post outlasts most of a lease
        return await slow(job, images)

    listener.job_finished = posting_slowly  # type: ignore[method-assign]
    await again.start()
    await again.resumed()
    await asyncio.sleep(1.5)  # renewals and look-outs for expired leases meanwhile
    await again.stop()
    assert sorted(j.id for j, _ in listener.finished) == [job.id for job in jobs]


async def test_a_cancelled_running_job_stops_quietly(
    db: Database,
    store: ImageStore,
    mira: Character,
    http: httpx.AsyncClient,
    apiframe_fake: FakeApiframe,
    segmind_fake: FakeSegmind,
) -> None:
    apiframe_fake.polls_before_done = 10_000
    runner, listener = make_runner(db, store, make_router(http, apiframe_fake, segmind_fake))
    await runner.start()
    await runner.resumed()
    try:
        job = await queue(db, mira)
        runner.wake()
        await asyncio.wait_for(_submitted(listener), 15)
        assert await db.run_transaction(lambda conn: repo.cancel(conn, job.id, "t"))
        await runner.cancel(job.id)
        # The task winds down on the loop's next turns (a busy machine may need a while).
        async with asyncio.timeout(10):
            while runner.running_ids:
                await asyncio.sleep(0.01)
    finally:
        await runner.stop()
    assert (await state_of(db, job.id)).state is JobState.CANCELLED
    assert listener.finished == []
    assert listener.failed == []


async def test_a_job_queued_before_typed_options_runs_to_completion(
    db: Database,
    store: ImageStore,
    mira: Character,
    http: httpx.AsyncClient,
    apiframe_fake: FakeApiframe,
    segmind_fake: FakeSegmind,
) -> None:
    job = await queue_as_before(
        db, mira, {"prompt": "Mira reading by a fireplace", "speed": "quality", "count": 2}
    )
    assert job.options == SceneOptions(
        prompt="Mira reading by a fireplace", speed=Speed.QUALITY, count=2
    )
    runner, listener = make_runner(db, store, make_router(http, apiframe_fake, segmind_fake))
    await runner.start()
    try:
        await listener.until(lambda: listener.finished)
    finally:
        await runner.stop()
    finished, images = listener.finished[0]
    assert finished.id == job.id
    assert finished.state is JobState.SUCCEEDED
    assert len(images) == 2
    assert (await state_of(db, job.id)).delivered_at is not None
    sent = [r.body for r in apiframe_fake.requests if r.path == "/v2/images/generate"]
    assert [body["prompt"] for body in sent] == ["Mira reading by a fireplace"] * 2
    assert {body["ideogramParams"]["rendering_speed"] for body in sent} == {"quality"}
    assert apiframe_fake.billed == 2


async def test_a_job_queued_before_typed_options_resumes_after_a_restart(
    db: Database,
    store: ImageStore,
    mira: Character,
    http: httpx.AsyncClient,
    apiframe_fake: FakeApiframe,
    segmind_fake: FakeSegmind,
) -> None:
    old_format = queue_as_before(db, mira, {"prompt": "Mira in the rain", "style": "fiction"})
    # The bot is upgraded mid-job.
    job = await stop_once_submitted(db, store, http, apiframe_fake, segmind_fake, old_format)
    await restart_and_finish(db, store, http, apiframe_fake, segmind_fake)
    assert (await state_of(db, job.id)).state is JobState.SUCCEEDED
    assert apiframe_fake.billed == 1


async def test_a_job_todays_rules_refuse_fails_in_cameos_words_without_a_charge(
    db: Database,
    store: ImageStore,
    mira: Character,
    http: httpx.AsyncClient,
    apiframe_fake: FakeApiframe,
    segmind_fake: FakeSegmind,
) -> None:
    # Queued when more pictures a job were allowed: it is refused when it runs, not sent.
    job = await queue_as_before(db, mira, {"prompt": "Mira in the rain", "count": 9})
    runner, listener = make_runner(db, store, make_router(http, apiframe_fake, segmind_fake))
    await runner.start()
    try:
        await listener.until(lambda: listener.failed)
    finally:
        await runner.stop()
    failed = await state_of(db, job.id)
    assert failed.state is JobState.FAILED
    assert failed.error == "This request can't be made now. Ask for 1 to 4 pictures."
    assert apiframe_fake.requests == segmind_fake.requests == []


async def _submitted(listener: Listener) -> None:
    while not listener.submitted:
        listener.changed.clear()
        await listener.changed.wait()
