"""A server's rules in the services: blocked members and terms, before anything is held."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from bot.errors import CameoError
from bot.models import JobState, Viewer
from bot.moderation.blocks import MemberBlocks
from bot.moderation.service import BlockedMember, BlockedTerm, NotStaff
from storage.database import Database
from tests.bot.jobs.test_jobs import ALICE, BOB, GUILD, mira

MOD = Viewer(3, GUILD, can_manage_guild=True)


async def test_blocking_stops_queued_scenes_here_with_a_refund(setup, db: Database) -> None:  # type: ignore[no-untyped-def]
    jobs, characters, _, _ = setup
    await mira(characters)
    queued = await jobs.queue_scene(BOB, 20, "Mira", {"prompt": "x"})
    blocks = MemberBlocks(jobs.moderation, jobs)

    blocked = await blocks.block(MOD, BOB.user_id, "spam", timedelta(days=1))

    assert [job.id for job in blocked.stopped] == [queued.job.id]
    stopped = await jobs.get(queued.job.id)
    assert stopped is not None
    assert stopped.state is JobState.FAILED
    assert "Reason: spam" in (stopped.error or "")
    held = await db.run_read(
        lambda conn: conn.execute(
            "SELECT state FROM credit_holds WHERE job_id = ?", (queued.job.id,)
        ).fetchone()[0]
    )
    assert held == "refunded"
    with pytest.raises(BlockedMember, match="Reason: spam"):
        await jobs.queue_scene(BOB, 20, "Mira", {"prompt": "x"})
    with pytest.raises(BlockedMember):
        await characters.create(BOB, name="Nox", image=b"not even read")
    # Elsewhere, and for everyone else here, nothing changed.
    await jobs.queue_scene(ALICE, 20, "Mira", {"prompt": "x"})
    assert await blocks.unblock(MOD, BOB.user_id)
    await jobs.queue_scene(BOB, 20, "Mira", {"prompt": "x"})


async def test_a_block_ends_when_its_time_is_up(setup) -> None:  # type: ignore[no-untyped-def]
    jobs, characters, _, _ = setup
    await mira(characters)
    moderation = jobs.moderation
    await moderation.block(MOD, BOB.user_id, None, timedelta(seconds=-1))  # already over
    await jobs.queue_scene(BOB, 20, "Mira", {"prompt": "x"})


async def test_only_staff_change_the_rules(setup) -> None:  # type: ignore[no-untyped-def]
    jobs, _, _, _ = setup
    moderation = jobs.moderation
    with pytest.raises(NotStaff):
        await moderation.add_term(ALICE, "dragon")
    with pytest.raises(NotStaff):
        await moderation.block(ALICE, BOB.user_id, None, None)
    with pytest.raises(CameoError, match="yourself"):
        await moderation.block(MOD, MOD.user_id, None, None)


async def test_a_blocked_term_refuses_a_scene_before_any_hold(setup, db: Database) -> None:  # type: ignore[no-untyped-def]
    jobs, characters, _, _ = setup
    await mira(characters)
    await jobs.moderation.add_term(MOD, "dragon fire")
    with pytest.raises(BlockedTerm, match="negative prompt"):
        await jobs.queue_scene(
            ALICE, 20, "Mira", {"prompt": "x", "negative_prompt": "no DRAGON fire"}
        )

    def counts(conn: sqlite3.Connection) -> tuple[int, int]:
        return (
            conn.execute("SELECT count(*) FROM jobs").fetchone()[0],
            conn.execute("SELECT count(*) FROM credit_holds").fetchone()[0],
        )

    assert await db.run_read(counts) == (0, 0)
    # Removed, it is allowed again (the cached list is refreshed).
    await jobs.moderation.remove_term(MOD, "Dragon  Fire")
    await jobs.queue_scene(ALICE, 20, "Mira", {"prompt": "dragon fire"})


async def test_a_scene_is_refused_without_one_of_the_roles_cameo_is_kept_to(setup) -> None:  # type: ignore[no-untyped-def]
    jobs, characters, _, _ = setup
    await mira(characters)
    await jobs.moderation.change_access(MOD, "add", role_id=77, channel_id=None)
    with pytest.raises(CameoError, match="keeps Cameo to some roles"):
        await jobs.queue_scene(BOB, 20, "Mira", {"prompt": "x"})
    artist = Viewer(BOB.user_id, GUILD, role_ids=frozenset({77}))
    await jobs.queue_scene(artist, 20, "Mira", {"prompt": "x"})
    with pytest.raises(NotStaff):
        await jobs.moderation.change_access(BOB, "clear", role_id=None, channel_id=None)
