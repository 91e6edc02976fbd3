"""Several workers on one PostgreSQL database: each job is one worker's at a time, the bounds
hold across all of them, and a worker that dies leaves its jobs to the others (issue 20).

Each worker here is a JobRunner with its own database connection, as a process of its own has.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from bot.characters.service import CharacterService
from bot.clock import SystemClock
from bot.images.processing import ImageWorkers
from bot.images.store import ImageStore
from bot.jobs.runner import JobRunner, RunnerLimits
from bot.models import Character, JobState, Viewer
from storage import jobs as repo
from storage.database import Database, connect, open_database
from tests.bot.jobs.test_job_runner import (
    Listener,
    _submitted,
    make_router,
    make_runner,
    queue,
    state_of,
)
from tests.fakes import FakeApiframe, FakeSegmind
from tests.imagefactory import png


@pytest.fixture
async def db(postgres_url: str) -> AsyncIterator[Database]:
    """Overrides the package's: these tests are about several processes, so PostgreSQL only."""
    async with open_database(postgres_url) as database:
        yield database


@pytest.fixture
async def mira(db: Database, tmp_path: Path) -> Character:
    service = CharacterService(
        db, ImageStore(tmp_path / "images", db), ImageWorkers(), SystemClock()
    )
    return await service.create(Viewer(1, 10), name="Mira", image=png(seed=1))


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        yield client


async def worker(
    postgres_url: str,
    store_dir: Path,
    http: httpx.AsyncClient,
    apiframe: FakeApiframe,
    segmind: FakeSegmind,
    limits: RunnerLimits,
) -> tuple[Database, JobRunner, Listener]:
    other = await connect(postgres_url)
    runner, listener = make_runner(
        other, ImageStore(store_dir, other), make_router(http, apiframe, segmind), limits
    )
    return other, runner, listener


def die(runner: JobRunner) -> None:
    """What kill -9 leaves: the runner's tasks gone mid-job, its leases still in the table."""
    for task in [
        runner._loop_task,
        runner._lease_task,
        runner._resume_task,
        *runner._tasks.values(),
        *runner._background,
    ]:
        if task is not None:
            task.cancel()


async def test_a_dead_workers_job_is_taken_over_after_its_lease_and_paid_once(
    db: Database,
    postgres_url: str,
    tmp_path: Path,
    mira: Character,
    http: httpx.AsyncClient,
    apiframe_fake: FakeApiframe,
    segmind_fake: FakeSegmind,
) -> None:
    limits = RunnerLimits(lease_seconds=1.5)
    apiframe_fake.polls_before_done = 10_000  # still generating when its worker dies
    first_db, first, first_listener = await worker(
        postgres_url, tmp_path / "images", http, apiframe_fake, segmind_fake, limits
    )
    second_db, second, second_listener = await worker(
        postgres_url, tmp_path / "images", http, apiframe_fake, segmind_fake, limits
    )
    try:
        await first.start()
        job = await queue(db, mira)
        first.wake()
        await asyncio.wait_for(_submitted(first_listener), 15)
        await second.start()  # the job is the first worker's: its lease is alive
        await asyncio.sleep(1)
        assert second_listener.started == second_listener.finished == []

        die(first)
        apiframe_fake.polls_before_done = 0
        await second_listener.until(lambda: second_listener.finished, timeout=20)
        assert (await state_of(db, job.id)).state is JobState.SUCCEEDED
        assert apiframe_fake.billed == 1  # resumed polling; never asked again
        assert [found.id for found, _ in second_listener.finished] == [job.id]
        assert first_listener.finished == []
    finally:
        die(first)
        await second.stop()
        await first_db.close()
        await second_db.close()


async def test_a_worker_that_lost_its_job_changes_nothing_of_it(
    db: Database, mira: Character
) -> None:
    job = await queue(db, mira)
    claim = repo.Claim("worker-a", "2026-11-21T12:00:30Z", running_limit=8, per_member=2)
    started = await db.run_transaction(
        partial(repo.start, job_id=job.id, at="2026-11-21T12:00:00Z", claim=claim)
    )
    assert started is not None
    # Worker a stalls; at 12:01 its lease has run out and worker b takes the job over.
    running, _ = await db.run_transaction(
        partial(
            repo.take_over,
            claimer="worker-b",
            now="2026-11-21T12:01:00Z",
            lease_until="2026-11-21T12:01:30Z",
        )
    )
    assert [found.id for found in running] == [job.id]
    assert (
        await db.run_transaction(
            partial(repo.renew_leases, claimer="worker-a", job_ids=[job.id], lease_until="x")
        )
        == set()
    )
    late = await db.run_transaction(
        partial(repo.fail, job_id=job.id, error="a's timeout", at="t", claimer="worker-a")
    )
    assert late is None
    assert (await state_of(db, job.id)).state is JobState.RUNNING
    assert await db.run_transaction(
        partial(repo.renew_leases, claimer="worker-b", job_ids=[job.id], lease_until="z")
    ) == {job.id}


async def test_the_bounds_hold_across_workers(
    db: Database,
    postgres_url: str,
    tmp_path: Path,
    mira: Character,
    http: httpx.AsyncClient,
    apiframe_fake: FakeApiframe,
    segmind_fake: FakeSegmind,
) -> None:
    """Two workers, each allowed the whole bound: together they never run more than 3 jobs,
    nor 2 of one member's; and a job queued through one is woken in the other (NOTIFY)."""
    apiframe_fake.polls_before_done = 3
    limits = RunnerLimits(running=3, per_member=2)
    workers = [
        await worker(postgres_url, tmp_path / "images", http, apiframe_fake, segmind_fake, limits)
        for _ in range(2)
    ]
    samples: list[tuple[int, int]] = []

    def busy(conn):  # type: ignore[no-untyped-def]
        """(jobs running, the most one member has running), read in one statement."""
        row = conn.execute(
            "SELECT COALESCE(SUM(n), 0), COALESCE(MAX(n), 0) FROM (SELECT user_id, COUNT(*) AS n "
            "FROM jobs WHERE state = 'running' GROUP BY user_id) AS per_member"
        ).fetchone()
        return int(row[0]), int(row[1])

    try:
        for _, runner, _ in workers:
            await runner.start()
        jobs = [await queue(db, mira, user_id=1 + n % 4) for n in range(12)]
        await workers[0][1].job_queued()  # one NOTIFY: the other worker hears it

        async def sample() -> None:
            while True:
                samples.append(await db.run_read(busy))
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample())
        try:

            async def all_done() -> None:
                while True:
                    states = [(await state_of(db, job.id)).state for job in jobs]
                    if all(state is JobState.SUCCEEDED for state in states):
                        return
                    await asyncio.sleep(0.1)

            await asyncio.wait_for(all_done(), 60)
        finally:
            sampler.cancel()
        assert max(total for total, _ in samples) <= 3
        assert max(one for _, one in samples) <= 2
        assert max(total for total, _ in samples) == 3  # the bound was reached, not avoided
        started_by = [len(listener.started) for _, _, listener in workers]
        assert sum(started_by) == 12
        assert all(started_by)  # both workers took jobs
        assert apiframe_fake.billed == 12
    finally:
        for other, runner, _ in workers:
            await runner.stop()
            await other.close()
