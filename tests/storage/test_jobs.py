import json
import logging
import random
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from bot.models import JobKind, JobState
from bot.providers.request import MagicPrompt, PoseOptions, SceneOptions, Speed, Style
from storage import images, jobs
from storage.database import Database, open_database

SHA = "a" * 64


@pytest.fixture
async def db(database_target: str | Path) -> AsyncIterator[Database]:
    async with open_database(database_target) as database:
        await database.run_transaction(
            lambda conn: images.insert(conn, images.ImageRow(SHA, "png", 1, 1, 1), "now")
        )
        yield database


T = TypeVar("T")


async def step(db: Database, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run `work` as one transaction, the way the services call the repository."""
    return await db.run_transaction(work)


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
        "options": SceneOptions(prompt="reading"),
        "image_count": 1,
        "preferred_provider": None,
        "credits": 0,
        "created_at": "2026-11-21T12:00:00Z",
    }
    values.update(overrides)
    return jobs.NewJob(**values)  # type: ignore[arg-type]


async def test_a_new_job_is_queued_with_its_options(db: Database) -> None:
    job = await step(
        db, lambda c: jobs.insert(c, new_job(1, options=SceneOptions(prompt="x", count=2)))
    )
    assert job.state is JobState.QUEUED
    assert job.options == SceneOptions(prompt="x", count=2)
    assert job.guild_id == 10


async def test_one_members_many_jobs_do_not_starve_the_others(db: Database) -> None:
    def work(conn: sqlite3.Connection) -> None:
        greedy = [jobs.insert(conn, new_job(1)) for _ in range(20)]
        polite = jobs.insert(conn, new_job(2))
        late = jobs.insert(conn, new_job(3))
        order = jobs.queue_positions(conn)
        # Everyone's first job comes first, in arrival order; then the greedy member's others.
        assert order[greedy[0].id] == 1
        assert order[polite.id] == 2
        assert order[late.id] == 3
        assert order[greedy[1].id] == 4

    await step(db, work)


async def test_running_jobs_count_against_their_member(db: Database) -> None:
    def work(conn: sqlite3.Connection) -> None:
        first = jobs.insert(conn, new_job(1))
        second = jobs.insert(conn, new_job(1))
        other = jobs.insert(conn, new_job(2))
        assert (jobs.next_runnable(conn, per_user_limit=1)).id == first.id  # type: ignore[union-attr]
        assert jobs.start(conn, first.id, "t")
        # Member 1 is at their limit: member 2 goes next even though their job is newer.
        nxt = jobs.next_runnable(conn, per_user_limit=1)
        assert nxt is not None
        assert nxt.id == other.id
        assert jobs.start(conn, other.id, "t")
        assert jobs.next_runnable(conn, per_user_limit=1) is None
        assert (jobs.next_runnable(conn, per_user_limit=2)).id == second.id  # type: ignore[union-attr]

    await step(db, work)


async def test_the_member_served_longest_ago_goes_first_among_equals(db: Database) -> None:
    def work(conn: sqlite3.Connection) -> None:
        # Both members were served before; member 2 longer ago, so their newer job goes first.
        for user, started in ((1, "2026-11-21T12:00:00Z"), (2, "2026-11-20T12:00:00Z")):
            old = jobs.insert(conn, new_job(user))
            jobs.start(conn, old.id, started)
            jobs.fail(conn, old.id, "done", started)
        first = jobs.insert(conn, new_job(1))
        second = jobs.insert(conn, new_job(2))
        newcomer = jobs.insert(conn, new_job(3))
        nxt = jobs.next_runnable(conn, per_user_limit=2)
        assert nxt is not None
        assert nxt.id == newcomer.id  # never served: first of all
        order = jobs.queue_positions(conn)
        assert [order[newcomer.id], order[second.id], order[first.id]] == [1, 2, 3]
        # Starting a job is remembered as the member's turn, whatever their history.
        started = jobs.start(conn, newcomer.id, "2026-11-22T12:00:00Z")
        assert started is not None
        assert started.state is JobState.RUNNING
        turn = conn.execute("SELECT last_started_at FROM queue_turns WHERE user_id = 3")
        assert turn.fetchone()[0] == "2026-11-22T12:00:00Z"
        jobs.forget_turn(conn, 3)
        assert conn.execute("SELECT 1 FROM queue_turns WHERE user_id = 3").fetchone() is None

    await step(db, work)


@pytest.mark.parametrize("seed", range(8))
async def test_one_jobs_place_in_line_matches_the_whole_ranking(db: Database, seed: int) -> None:
    """`position_of` counts instead of ranking; on random queues (members served at tied and
    distinct times, or never, some with jobs running) it must agree with the ranking."""
    rng = random.Random(seed)

    def work(conn: sqlite3.Connection) -> None:
        members = list(range(1, rng.randint(2, 9)))
        times = ["2026-11-20T12:00:00Z", "2026-11-21T12:00:00Z"]
        for _ in range(rng.randint(5, 60)):
            job = jobs.insert(conn, new_job(rng.choice(members)))
            roll = rng.random()
            if roll < 0.15:
                jobs.start(conn, job.id, rng.choice(times))  # stays running
            elif roll < 0.3:
                jobs.start(conn, job.id, rng.choice(times))
                jobs.fail(conn, job.id, "done", "t")
            elif roll < 0.35:
                jobs.cancel(conn, job.id, "t")
        ranking = jobs.queue_positions(conn)
        assert ranking
        every_job = [row[0] for row in conn.execute("SELECT id FROM jobs")]
        assert {job_id: jobs.position_of(conn, job_id) for job_id in every_job} == {
            job_id: ranking.get(job_id) for job_id in every_job
        }

    await step(db, work)


async def test_state_changes_only_from_the_right_state(db: Database) -> None:
    def work(conn: sqlite3.Connection) -> None:
        job = jobs.insert(conn, new_job(1))
        assert not jobs.succeed(
            conn, job.id, provider="p", seed=1, cost=None, image_hashes=[], error=None, at="t"
        )
        assert jobs.start(conn, job.id, "t")
        assert jobs.start(conn, job.id, "t") is None
        submitted = jobs.record_submission(conn, job.id, "apiframe", "svc-1", 77)
        assert submitted is not None
        assert submitted.service_job_id == "svc-1"
        assert jobs.succeed(
            conn,
            job.id,
            provider="apiframe",
            seed=77,
            cost="15",
            image_hashes=[SHA],
            error=None,
            at="t2",
        )
        assert jobs.cancel(conn, job.id, "t3") is None
        assert jobs.fail(conn, job.id, "late", "t3") is None
        done = jobs.get(conn, job.id)
        assert done is not None
        assert done.state is JobState.SUCCEEDED
        assert done.service_job_id == "svc-1"
        assert jobs.images_of(conn, job.id) == [SHA]
        assert [j.id for j in jobs.undelivered(conn)] == [job.id]
        jobs.mark_delivered(conn, job.id, "t4")
        assert jobs.undelivered(conn) == []

    await step(db, work)


async def test_cancel_and_fail_apply_to_active_jobs(db: Database) -> None:
    def work(conn: sqlite3.Connection) -> None:
        queued = jobs.insert(conn, new_job(1))
        running = jobs.insert(conn, new_job(1))
        jobs.start(conn, running.id, "t")
        assert [j.id for j in jobs.active_for_user(conn, 1)] == [queued.id, running.id]
        assert jobs.count_active_for_user(conn, 1) == 2
        assert jobs.cancel(conn, queued.id, "t")
        assert jobs.fail(conn, running.id, "The service is down.", "t")
        assert jobs.active_for_user(conn, 1) == []

    await step(db, work)


async def test_a_finished_job_lets_go_of_its_reference(db: Database) -> None:
    def work(conn: sqlite3.Connection) -> None:
        job = jobs.insert(conn, new_job(1))
        assert not images.delete_if_unused(conn, SHA)  # held by the queued job
        cancelled = jobs.cancel(conn, job.id, "t")
        assert cancelled is not None
        assert cancelled.reference_sha256 is None
        assert images.delete_if_unused(conn, SHA)

    await step(db, work)


def old_row(conn: sqlite3.Connection, kind: str, options: dict[str, object]) -> int:
    """A queued job as the code before typed options wrote it: the member's choices as a
    plain JSON object (sorted keys, no version marker)."""
    row = conn.execute(
        "INSERT INTO jobs (kind, state, guild_id, channel_id, user_id, character_name, "
        "reference_sha256, options, image_count, credits, created_at) "
        "VALUES (?, 'queued', 10, 20, 1, 'Mira', ?, ?, 1, 0, 't') RETURNING id",
        (kind, SHA, json.dumps(options, sort_keys=True)),
    ).fetchone()
    return int(row[0])


def stored_options(conn: sqlite3.Connection, job_id: int) -> object:
    row = conn.execute("SELECT options FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return json.loads(row[0])


async def test_options_are_stored_as_chosen_with_a_version_and_read_back_typed(
    db: Database,
) -> None:
    every_scene_option = SceneOptions(
        prompt="  Mira in the rain ",
        style=Style.FICTION,
        aspect_ratio="16:9",
        speed=Speed.TURBO,
        magic_prompt=MagicPrompt.OFF,
        seed=7,
        negative_prompt="hats",
        count=3,
    )
    every_pose_option = PoseOptions(
        prompt="hero",
        negative_prompt="blur",
        outputs=4,
        images_per_pose=2,
        randomise_poses=False,
        output_format="png",
        output_quality=90,
        seed=3,
    )

    def work(conn: sqlite3.Connection) -> None:
        scene = jobs.insert(conn, new_job(1, options=every_scene_option))
        poses = jobs.insert(conn, new_job(1, kind=JobKind.POSES, options=every_pose_option))
        plain = jobs.insert(conn, new_job(1, options=SceneOptions(prompt="x")))
        assert jobs.get(conn, scene.id).options == every_scene_option  # type: ignore[union-attr]
        assert jobs.get(conn, poses.id).options == every_pose_option  # type: ignore[union-attr]
        assert stored_options(conn, scene.id) == {
            "v": 2,
            "prompt": "  Mira in the rain ",
            "style": "fiction",
            "aspect_ratio": "16:9",
            "speed": "turbo",
            "magic_prompt": "off",
            "seed": 7,
            "negative_prompt": "hats",
            "count": 3,
        }
        # Only what the member chose is kept; the services' defaults are not written down.
        assert stored_options(conn, plain.id) == {"v": 2, "prompt": "x"}

    await step(db, work)


async def test_options_written_before_the_version_marker_still_load(db: Database) -> None:
    def work(conn: sqlite3.Connection) -> None:
        scene = old_row(conn, "scene", {"prompt": "reading", "speed": "turbo", "count": 2})
        poses = old_row(
            conn,
            "poses",
            {"prompt": "hero", "outputs": 3, "images_per_pose": 2, "output_format": "png"},
        )
        # The old request models ignored keys they did not know; so does loading.
        stray = old_row(conn, "scene", {"prompt": "rain", "flavour": "vanilla"})
        assert jobs.get(conn, scene).options == SceneOptions(  # type: ignore[union-attr]
            prompt="reading", speed=Speed.TURBO, count=2
        )
        assert jobs.get(conn, poses).options == PoseOptions(  # type: ignore[union-attr]
            prompt="hero", outputs=3, images_per_pose=2, output_format="png"
        )
        assert jobs.get(conn, stray).options == SceneOptions(prompt="rain")  # type: ignore[union-attr]

    await step(db, work)


async def test_options_todays_rules_refuse_still_load_as_stored(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # A queued job must never stop the queue or vanish from /jobs because a rule changed
    # since it was asked for; the runner refuses it in Cameo's words when its turn comes.
    def work(conn: sqlite3.Connection) -> None:
        job_id = old_row(conn, "scene", {"prompt": "rain", "count": 9})
        loaded = jobs.next_runnable(conn, per_user_limit=2)
        assert loaded is not None
        assert loaded.id == job_id
        assert isinstance(loaded.options, SceneOptions)
        assert (loaded.options.prompt, loaded.options.count) == ("rain", 9)

    with caplog.at_level(logging.WARNING, logger="storage.jobs"):
        await step(db, work)
    assert "today's rules refuse" in caplog.text
