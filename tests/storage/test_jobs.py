from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.models import JobKind, JobState
from storage import images, jobs
from storage.database import Database, open_database

SHA = "a" * 64


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database(tmp_path / "cameo.sqlite3") as database:
        async with database.transaction() as conn:
            await images.insert(conn, images.ImageRow(SHA, "png", 1, 1, 1), "now")
        yield database


def new_job(user_id: int, **overrides: object) -> jobs.NewJob:
    values: dict[str, object] = {
        "kind": JobKind.SCENE,
        "guild_id": 10,
        "channel_id": 20,
        "user_id": user_id,
        "character_id": None,
        "character_name": "Mira",
        "reference_sha256": SHA,
        "edit_image_sha256": None,
        "edit_mask_sha256": None,
        "options": {"prompt": "reading"},
        "image_count": 1,
        "preferred_provider": None,
        "credits": 0,
        "created_at": "2026-11-21T12:00:00Z",
    }
    values.update(overrides)
    return jobs.NewJob(**values)  # type: ignore[arg-type]


async def test_a_new_job_is_queued_with_its_options(db: Database) -> None:
    async with db.transaction() as conn:
        job = await jobs.insert(conn, new_job(1, options={"prompt": "x", "count": 2}))
    assert job.state is JobState.QUEUED
    assert job.options == {"prompt": "x", "count": 2}
    assert job.guild_id == 10


async def test_one_members_many_jobs_do_not_starve_the_others(db: Database) -> None:
    async with db.transaction() as conn:
        greedy = [await jobs.insert(conn, new_job(1)) for _ in range(20)]
        polite = await jobs.insert(conn, new_job(2))
        late = await jobs.insert(conn, new_job(3))
        order = await jobs.queue_positions(conn)
    # Everyone's first job comes first, in arrival order; then the greedy member's others.
    assert order[greedy[0].id] == 1
    assert order[polite.id] == 2
    assert order[late.id] == 3
    assert order[greedy[1].id] == 4


async def test_running_jobs_count_against_their_member(db: Database) -> None:
    async with db.transaction() as conn:
        first = await jobs.insert(conn, new_job(1))
        second = await jobs.insert(conn, new_job(1))
        other = await jobs.insert(conn, new_job(2))
        assert (await jobs.next_runnable(conn, per_user_limit=1)).id == first.id  # type: ignore[union-attr]
        assert await jobs.start(conn, first.id, "t")
        # Member 1 is at their limit: member 2 goes next even though their job is newer.
        nxt = await jobs.next_runnable(conn, per_user_limit=1)
        assert nxt is not None
        assert nxt.id == other.id
        assert await jobs.start(conn, other.id, "t")
        assert await jobs.next_runnable(conn, per_user_limit=1) is None
        assert (await jobs.next_runnable(conn, per_user_limit=2)).id == second.id  # type: ignore[union-attr]


async def test_state_changes_only_from_the_right_state(db: Database) -> None:
    async with db.transaction() as conn:
        job = await jobs.insert(conn, new_job(1))
        assert not await jobs.succeed(
            conn, job.id, provider="p", seed=1, cost=None, image_hashes=[], error=None, at="t"
        )
        assert await jobs.start(conn, job.id, "t")
        assert not await jobs.start(conn, job.id, "t")
        await jobs.record_submission(conn, job.id, "apiframe", "svc-1", 77)
        assert await jobs.succeed(
            conn,
            job.id,
            provider="apiframe",
            seed=77,
            cost="15",
            image_hashes=[SHA],
            error=None,
            at="t2",
        )
        assert not await jobs.cancel(conn, job.id, "t3")
        assert not await jobs.fail(conn, job.id, "late", "t3")
        done = await jobs.get(conn, job.id)
        assert done is not None
        assert done.state is JobState.SUCCEEDED
        assert done.service_job_id == "svc-1"
        assert await jobs.images_of(conn, job.id) == [SHA]
        assert [j.id for j in await jobs.undelivered(conn)] == [job.id]
        await jobs.mark_delivered(conn, job.id, "t4")
        assert await jobs.undelivered(conn) == []


async def test_cancel_and_fail_apply_to_active_jobs(db: Database) -> None:
    async with db.transaction() as conn:
        queued = await jobs.insert(conn, new_job(1))
        running = await jobs.insert(conn, new_job(1))
        await jobs.start(conn, running.id, "t")
        assert [j.id for j in await jobs.active_for_user(conn, 1)] == [queued.id, running.id]
        assert await jobs.cancel(conn, queued.id, "t")
        assert await jobs.fail(conn, running.id, "The service is down.", "t")
        assert await jobs.active_for_user(conn, 1) == []


async def test_a_finished_job_lets_go_of_its_reference(db: Database) -> None:
    async with db.transaction() as conn:
        job = await jobs.insert(conn, new_job(1))
        assert not await images.delete_if_unused(conn, SHA)  # held by the queued job
        assert await jobs.release_reference(conn, job.id) == SHA
        assert await images.delete_if_unused(conn, SHA)
