"""Credits on real SQLite: holds, charges and refunds through the real queue and runner, the
allowance rules, resets at the boundary with a controlled clock, and races for the last credit."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest

from bot.characters.service import CharacterService
from bot.errors import CameoError
from bot.images.processing import ImageWorkers
from bot.images.store import ImageStore
from bot.jobs.runner import RESTART_LOST_TEXT, JobRunner
from bot.jobs.service import JobService
from bot.models import JobState, Viewer
from bot.providers.router import ProviderRouter
from bot.quota.hooks import QuotaExceeded
from bot.quota.service import QuotaService, periods
from storage import jobs as job_rows
from storage import quotas as repo
from storage.database import Database, open_database, run_sync
from tests.bot.jobs.test_job_runner import Listener, _submitted, make_router
from tests.fakes import FakeApiframe, FakeSegmind
from tests.imagefactory import png

GUILD = 10
CHANNEL = 20
ALICE = Viewer(1, GUILD)
BOB = Viewer(2, GUILD)
MANAGER = Viewer(3, GUILD, can_manage_guild=True)
ARTISTS, PATRONS = 501, 502
# Apiframe is tried first and charges 15 a default-speed image; Segmind, the dearer fallback,
# 19. So a queued default scene holds 19, and an Apiframe delivery gives 4 back.
HOLD, APIFRAME_PRICE = 19, 15
# Another process finds the project's modules from the repository's root.
PROCESS_ENV = {"PYTHONPATH": str(Path(__file__).resolve().parents[3])}


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.now_value = now

    def now(self) -> datetime:
        return self.now_value

    def advance(self, **delta: float) -> None:
        self.now_value += timedelta(**delta)


@dataclass
class World:
    db: Database
    clock: MovableClock
    quota: QuotaService
    jobs: JobService
    runner: JobRunner
    listener: Listener
    segmind: FakeSegmind
    apiframe: FakeApiframe
    make_runner: object


@pytest.fixture
async def db(database_target: str | Path) -> AsyncIterator[Database]:
    async with open_database(database_target) as database:
        yield database


def quota_service(db: Database, clock: MovableClock, router: ProviderRouter) -> QuotaService:
    return QuotaService(db, clock, daily_credits=100, reset_hour=6, providers=router.names)


@pytest.fixture
async def world(
    db: Database, tmp_path: Path, segmind_fake: FakeSegmind, apiframe_fake: FakeApiframe
) -> AsyncIterator[World]:
    clock = MovableClock(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    store = ImageStore(tmp_path / "images", db)
    workers = ImageWorkers()
    characters = CharacterService(db, store, workers, clock)
    await characters.create(ALICE, name="Mira", image=png(seed=1))
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        router = make_router(http, apiframe_fake, segmind_fake)
        quota = quota_service(db, clock, router)
        runners: list[JobRunner] = []

        def new_runner() -> tuple[JobRunner, Listener]:
            holder: list[JobRunner] = []
            listener = Listener(holder)
            runner = JobRunner(db, store, workers, router, quota, listener, clock)
            holder.append(runner)
            runners.append(runner)
            return runner, listener

        runner, listener = new_runner()
        jobs = JobService(db, store, characters, workers, router, quota, runner, clock)
        yield World(
            db, clock, quota, jobs, runner, listener, segmind_fake, apiframe_fake, new_runner
        )
        for each in runners:
            await each.stop()


async def scene(
    world: World, member: Viewer = ALICE, provider: str | None = None, **options: object
) -> int:
    queued = await world.jobs.queue_scene(
        member, CHANNEL, "Mira", {"prompt": "Mira in the rain", **options}, provider=provider
    )
    return queued.job.id


async def entries(db: Database, member: Viewer = ALICE) -> list[tuple[str, int]]:
    async with db.read() as conn:
        rows = await run_sync(conn, lambda raw: repo.ledger(raw, member.scope, member.user_id, 100))
    return [(row.change, row.credits) for row in reversed(rows)]


async def remaining(world: World, member: Viewer = ALICE) -> int | None:
    return (await world.quota.status(member)).remaining


async def test_a_delivered_scene_holds_then_charges_the_service_that_made_it(
    world: World,
) -> None:
    await scene(world)
    assert await remaining(world) == 100 - HOLD
    await world.runner.start()
    await world.listener.until(lambda: world.listener.finished)
    assert await entries(world.db) == [("reserve", HOLD), ("charge", APIFRAME_PRICE - HOLD)]
    status = await world.quota.status(ALICE)
    assert (status.remaining, status.held) == (100 - APIFRAME_PRICE, 0)
    assert status.recent[0].reason == "charged 15 for 1 image from apiframe"


async def test_nothing_is_charged_until_the_pictures_are_delivered(world: World) -> None:
    world.listener.deliver = False  # Discord would not take them
    await scene(world)
    await world.runner.start()
    await world.listener.until(lambda: world.listener.finished)
    assert await entries(world.db) == [("reserve", HOLD)]
    assert (await world.quota.status(ALICE)).held == HOLD


async def test_a_failed_scene_is_refunded(world: World) -> None:
    world.segmind.reject_content = True  # a content rejection on the chosen service
    await scene(world, provider="segmind")
    await world.runner.start()
    await world.listener.until(lambda: world.listener.failed)
    assert await entries(world.db) == [("reserve", HOLD), ("refund", -HOLD)]
    assert await remaining(world) == 100
    assert world.segmind.billed == 0


async def test_a_cancelled_scene_is_refunded_once(world: World) -> None:
    job_id = await scene(world)
    await world.jobs.cancel(ALICE, job_id)
    with pytest.raises(CameoError):
        await world.jobs.cancel(ALICE, job_id)
    assert await entries(world.db) == [("reserve", HOLD), ("refund", -HOLD)]
    assert await remaining(world) == 100


async def test_a_restart_mid_job_charges_once_on_delivery(world: World) -> None:
    world.apiframe.polls_before_done = 10_000
    await world.runner.start()
    await scene(world)
    await asyncio.wait_for(_submitted(world.listener), 15)
    await world.runner.stop()  # the bot is killed while Apiframe works
    world.apiframe.polls_before_done = 0
    again, listener = world.make_runner()  # type: ignore[operator]
    await again.start()
    await listener.until(lambda: listener.finished)
    assert world.apiframe.billed == 1
    assert await entries(world.db) == [("reserve", HOLD), ("charge", APIFRAME_PRICE - HOLD)]


async def test_a_synchronous_job_lost_at_restart_is_refunded(world: World) -> None:
    job_id = await scene(world, provider="segmind")
    # Running on Segmind when the bot died.
    await world.db.run_transaction(lambda conn: job_rows.start(conn, job_id, "t"))
    await world.runner.start()
    await world.runner.resumed()
    job = await world.db.run_read(lambda conn: job_rows.get(conn, job_id))
    assert job is not None
    assert job.state is JobState.FAILED
    assert job.error == RESTART_LOST_TEXT
    assert await entries(world.db) == [("reserve", HOLD), ("refund", -HOLD)]


async def test_over_quota_is_refused_before_any_job_or_service_call(world: World) -> None:
    await world.quota.set_daily(MANAGER, HOLD * 2)
    await scene(world)
    await scene(world)
    with pytest.raises(QuotaExceeded, match="needs 19 credits and you have 0 left today"):
        await scene(world)
    assert (
        await world.db.run_read(lambda c: c.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]) == 2
    )
    assert world.segmind.billed == world.apiframe.billed == 0


async def test_a_scene_costs_its_count_times_the_price_at_its_speed(world: World) -> None:
    job_id = await scene(world, count=3, speed="quality")
    job = await world.db.run_read(lambda conn: job_rows.get(conn, job_id))
    assert job is not None
    assert job.credits == 3 * 25  # Segmind's quality price, the dearest


async def test_a_servers_own_prices_apply(world: World) -> None:
    await world.quota.set_price(MANAGER, "segmind", "default", 5)
    await world.quota.set_price(MANAGER, "apiframe", "default", 2)
    await scene(world)
    assert await remaining(world) == 95
    with pytest.raises(CameoError, match="priced only at: turbo, default, quality"):
        await world.quota.set_price(MANAGER, "segmind", "ludicrous", 1)
    with pytest.raises(CameoError, match="isn't set up"):
        await world.quota.set_price(MANAGER, "midjourney", "default", 1)


async def test_overrides_the_most_generous_role_and_the_member_win(world: World) -> None:
    quota = world.quota
    await quota.set_daily(MANAGER, 50)
    artist = Viewer(4, GUILD, role_ids=frozenset({ARTISTS}))
    both = Viewer(5, GUILD, role_ids=frozenset({ARTISTS, PATRONS}))
    await quota.set_role_allowance(MANAGER, ARTISTS, 20)  # lower than the server's: it applies
    await quota.set_role_allowance(MANAGER, PATRONS, 300)
    assert await remaining(world, ALICE) == 50
    assert await remaining(world, artist) == 20
    assert await remaining(world, both) == 300
    await quota.set_member_allowance(MANAGER, both.user_id, 7)
    assert await remaining(world, both) == 7
    await quota.set_member_allowance(MANAGER, both.user_id, None)
    assert await remaining(world, both) == 300
    await quota.set_role_allowance(MANAGER, PATRONS, None)
    assert await remaining(world, both) == 20
    await quota.set_daily(MANAGER, None)
    assert await remaining(world, ALICE) == 100  # Cameo's default again


async def test_exempt_members_have_no_daily_limit_but_the_budget_binds(world: World) -> None:
    quota = world.quota
    await quota.set_daily(MANAGER, 0)
    await quota.set_budget(MANAGER, HOLD * 2)
    with pytest.raises(QuotaExceeded):
        await scene(world, MANAGER)
    await quota.set_exempt_managers(MANAGER, True)
    await quota.set_member_allowance(MANAGER, ALICE.user_id, None, exempt=True)
    await scene(world, MANAGER)
    await scene(world, ALICE)
    assert (await quota.status(ALICE)).remaining is None
    with pytest.raises(QuotaExceeded, match="budget for the month is used up"):
        await scene(world, ALICE)


async def test_the_day_resets_at_the_configured_hour(world: World) -> None:
    world.clock.now_value = datetime(2026, 11, 22, 5, 59, 59, tzinfo=UTC)  # reset hour: 06:00
    await world.quota.set_daily(MANAGER, HOLD)
    held_yesterday = await scene(world)
    with pytest.raises(QuotaExceeded, match="<t:1795327200:R>"):  # 2026-11-22 06:00 UTC
        await scene(world)
    world.clock.advance(seconds=1)
    assert await remaining(world) == HOLD
    await scene(world)
    # A refund after the reset gives back yesterday's credits, not extra ones today.
    await world.jobs.cancel(ALICE, held_yesterday)
    assert await remaining(world) == 0
    async with world.db.read() as conn:
        assert (
            await run_sync(conn, lambda raw: repo.used(raw, GUILD, ALICE.user_id, "2026-11-21"))
            == 0
        )


def test_periods_and_their_ends() -> None:
    late = periods(datetime(2026, 12, 1, 5, 0, tzinfo=UTC), reset_hour=6)
    assert (late.day, late.month) == ("2026-11-30", "2026-11")
    assert late.day_ends == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    assert late.month_ends == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    new_year = periods(datetime(2026, 12, 31, 23, 0, tzinfo=UTC), reset_hour=0)
    assert new_year.month_ends == datetime(2027, 1, 1, tzinfo=UTC)


async def test_the_month_budget_renews_with_the_month(world: World) -> None:
    world.clock.now_value = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    await world.quota.set_budget(MANAGER, HOLD)
    await scene(world, ALICE)
    with pytest.raises(QuotaExceeded, match="budget"):
        await scene(world, BOB)
    world.clock.now_value = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    await scene(world, BOB)


async def test_the_cooldown_spaces_a_members_requests(world: World) -> None:
    await world.quota.set_cooldown(MANAGER, 60)
    await scene(world)
    with pytest.raises(QuotaExceeded, match="60 s between requests"):
        await scene(world)
    await scene(world, BOB)  # per member
    world.clock.advance(seconds=60)
    await scene(world)


async def test_give_and_take_are_in_the_ledger_with_who_and_why(world: World) -> None:
    used = await world.quota.adjust(MANAGER, ALICE.user_id, 40, "won the art contest")
    assert used == -40
    assert await remaining(world) == 140
    await world.quota.adjust(MANAGER, ALICE.user_id, -150, "  spam \n ")
    assert await remaining(world) == 0
    rows = await world.quota.ledger(MANAGER, ALICE.user_id)
    assert [(r.change, r.credits, r.reason, r.actor_id) for r in rows] == [
        ("take", 150, "spam", MANAGER.user_id),
        ("give", -40, "won the art contest", MANAGER.user_id),
    ]
    with pytest.raises(CameoError, match="Say why"):
        await world.quota.adjust(MANAGER, ALICE.user_id, 5, "   ")


@pytest.mark.parametrize(
    "action",
    [
        lambda q, v: q.rules(v),
        lambda q, v: q.set_daily(v, 5),
        lambda q, v: q.set_budget(v, 5),
        lambda q, v: q.set_cooldown(v, 5),
        lambda q, v: q.set_exempt_managers(v, True),
        lambda q, v: q.set_role_allowance(v, ARTISTS, 5),
        lambda q, v: q.set_member_allowance(v, 2, 5),
        lambda q, v: q.set_price(v, "segmind", "default", 1),
        lambda q, v: q.adjust(v, 2, 5, "why not"),
        lambda q, v: q.ledger(v, 2),
    ],
)
async def test_every_admin_action_needs_manage_server_in_a_server(world: World, action) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CameoError, match="Manage Server"):
        await action(world.quota, ALICE)
    with pytest.raises(CameoError, match="per server"):
        await action(world.quota, Viewer(3, None, can_manage_guild=True))
    assert await entries(world.db) == []
    assert (await world.quota.rules(MANAGER)).settings == repo.QuotaSettings()


async def test_twenty_simultaneous_requests_with_three_credits_get_three(world: World) -> None:
    await world.quota.set_price(MANAGER, "segmind", "default", 1)
    await world.quota.set_price(MANAGER, "apiframe", "default", 1)
    await world.quota.set_daily(MANAGER, 3)
    results = await asyncio.gather(*(scene(world) for _ in range(20)), return_exceptions=True)
    assert sum(isinstance(r, int) for r in results) == 3
    assert all(isinstance(r, QuotaExceeded) for r in results if not isinstance(r, int))
    assert await remaining(world) == 0


async def test_twenty_requests_from_two_processes_for_three_credits_get_three(
    world: World,
) -> None:
    """Two bot processes (real ones) on one database each ask ten times at the same moment for
    the member's last three credits: exactly three holds are granted between them."""
    await world.quota.set_daily(MANAGER, 3)
    target = str(world.db.target)
    start_at = time.time() + 3  # both have connected and migrated by then
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.bot.quota.reserve_elsewhere",
            target,
            str(first),
            "10",
            str(start_at),
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, **PROCESS_ENV},
        )
        for first in (1000, 2000)
    ]
    outputs = [await process.communicate() for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    granted = [json.loads(stdout)["granted"] for stdout, _ in outputs]
    assert sum(granted) == 3
    assert await remaining(world) == 0
    assert [change for change, _ in await entries(world.db)] == ["reserve"] * 3


async def test_two_processes_racing_never_overspend(world: World, tmp_path: Path) -> None:
    """Two connections to one file (as two bot processes would have) hammer the same member
    and server budget; BEGIN IMMEDIATE makes every check-and-hold one step."""
    await world.quota.set_daily(MANAGER, 50)
    await world.quota.set_budget(MANAGER, 120)
    async with open_database(world.db.target) as other_db:
        other = QuotaService(other_db, world.clock, daily_credits=100, reset_hour=6, providers=list)
        quotas = [world.quota, other]
        members = [Viewer(100 + n, GUILD) for n in range(4)]
        rng = random.Random(5)
        next_job = iter(range(1, 10_000))

        async def attempt(quota: QuotaService, member: Viewer, credits: int) -> bool:
            reserve = partial(
                quota.reserve,
                job_id=next(next_job),
                member=member,
                speed="default",
                credits=credits,
            )
            try:
                if credits % 2:  # as the job queue does: inside its own transaction
                    async with quota.db.transaction() as conn:
                        await run_sync(conn, reserve)
                else:  # as one step, grouped with others
                    await quota.db.run_transaction(reserve)
            except QuotaExceeded:
                return False
            return True

        outcomes = await asyncio.gather(
            *(attempt(quotas[n % 2], rng.choice(members), rng.randint(1, 9)) for n in range(300))
        )
    assert any(outcomes)
    assert not all(outcomes)
    async with world.db.read() as conn:
        budget = await run_sync(conn, lambda raw: repo.budget_used(raw, GUILD, "2026-11"))
        assert budget <= 120
        for member in members:
            used = partial(repo.used, guild_id=GUILD, user_id=member.user_id, day="2026-11-21")
            assert await run_sync(conn, used) <= 50
        ledger_budget = await run_sync(
            conn,
            lambda raw: raw.execute(
                "SELECT COALESCE(SUM(budget), 0) FROM credit_ledger WHERE guild_id = ?", (GUILD,)
            ).fetchone()[0],
        )
        assert ledger_budget == budget


async def test_forgetting_a_member_keeps_only_todays_spent_count(world: World) -> None:
    await world.quota.set_member_allowance(MANAGER, ALICE.user_id, 60)
    await scene(world)
    await world.runner.start()
    await world.listener.until(lambda: world.listener.finished)
    await scene(world)  # still queued when forgotten: refunded
    await world.runner.stop()
    await world.jobs.forget(ALICE.user_id)
    await world.quota.forget(ALICE.user_id)
    assert await entries(world.db) == []
    assert (await world.quota.rules(MANAGER)).overrides == []
    # Forgetting cannot reset a quota: what the delivered scene cost still counts today.
    assert await remaining(world) == 100 - APIFRAME_PRICE


async def test_a_second_try_the_server_pays_is_paid_once_bound_by_the_budget_and_undone(
    world: World,
) -> None:
    quota = world.quota
    await quota.set_budget(MANAGER, HOLD * 2 + 1)
    job_id = await scene(world)  # the queued scene holds HOLD of the budget

    def pay(images: int) -> Callable[[sqlite3.Connection], bool]:
        return partial(quota.pay_server_retry, job_id=job_id, provider="segmind", images=images)

    # Two second-try pictures at Segmind's 19 would pass the budget: refused, nothing written.
    assert not await world.db.run_transaction(pay(2))
    assert await entries(world.db) == [("reserve", HOLD)]
    assert await world.db.run_transaction(pay(1))
    # Resumed after a restart, the same job's second try is not paid again.
    assert await world.db.run_transaction(pay(1))
    assert await entries(world.db) == [("reserve", HOLD), ("retry", 0)]
    status = await quota.status(ALICE)
    assert (status.budget_used, status.remaining) == (HOLD + 19, 100 - HOLD)

    await world.db.run_transaction(
        partial(quota.undo_server_retry, job_id=job_id, reason="the service failed")
    )
    await world.db.run_transaction(
        partial(quota.undo_server_retry, job_id=job_id, reason="again")  # nothing left to undo
    )
    assert await entries(world.db) == [("reserve", HOLD), ("retry", 0), ("retry", 0)]
    assert (await quota.status(ALICE)).budget_used == HOLD


async def test_a_second_try_the_member_pays_comes_out_of_the_hold_as_its_own_row(
    world: World,
) -> None:
    job_id = await scene(world)

    def covers(retried: int) -> Callable[[sqlite3.Connection], bool]:
        return partial(
            world.quota.covers_retry, job_id=job_id, provider="apiframe", images=1, retried=retried
        )

    assert not await world.db.run_read(covers(1))  # a hold of 19 pays one Apiframe picture only
    await world.db.run_transaction(
        partial(world.quota.commit, job_id=job_id, provider="apiframe", images=1, retried=1)
    )
    # Charged what the hold allows: the picture, and the rest of the hold towards the retry.
    assert await entries(world.db) == [
        ("reserve", HOLD),
        ("charge", APIFRAME_PRICE - HOLD),
        ("retry", HOLD - APIFRAME_PRICE),
    ]
    assert await remaining(world) == 100 - HOLD
