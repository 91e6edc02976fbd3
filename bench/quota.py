"""Credit reservations under contention, on a real SQLite file. Prints JSON.

Run: .venv/bin/python bench/quota.py   (or `make bench`)

64 tasks reserve credits at once for 200 members of one server, each reservation in its own
BEGIN IMMEDIATE transaction through `QuotaService.reserve`, exactly as the job queue does it.
Daily allowances and the server's monthly budget are set so that both run out during the
run. A second scenario splits the same work across two connections to the file, as two bot
processes would. Afterwards every member's usage, the server's budget and the ledger are
checked: "overspend" counts credits granted beyond any limit, and must be zero.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.models import Viewer
from bot.quota.hooks import QuotaExceeded
from bot.quota.service import QuotaService, periods
from storage import quotas as repo
from storage.database import Database, SqliteDatabase, open_database, run_sync

GUILD = 1
MEMBERS = 200
TASKS = 64
ATTEMPTS = 12_000
DAILY = 300
BUDGET = 50_000
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return NOW


def quota_on(db: Database) -> QuotaService:
    return QuotaService(db, FixedClock(), daily_credits=DAILY, reset_hour=0, providers=list)


async def scenario(name: str, connections: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cameo.sqlite3"
        async with open_database(path) as first:
            manager = Viewer(999, GUILD, can_manage_guild=True)
            await quota_on(first).set_budget(manager, BUDGET)
            dbs = [first]
            for _ in range(connections - 1):
                dbs.append(await SqliteDatabase.open(path))
            try:
                quotas = [quota_on(db) for db in dbs]
                return await _run(name, quotas, first)
            finally:
                for db in dbs[1:]:
                    await db.close()


async def _run(name: str, quotas: list[QuotaService], db: Database) -> dict[str, Any]:
    rng = random.Random(11)
    plan = [(rng.randrange(MEMBERS), rng.randint(1, 9)) for _ in range(ATTEMPTS)]
    work = iter(enumerate(plan))
    granted = refused = 0

    async def worker(quota: QuotaService) -> None:
        nonlocal granted, refused
        for job_id, (member, credits) in work:
            reserve = partial(
                quota.reserve,
                job_id=job_id + 1,
                member=Viewer(member + 1, GUILD),
                speed="default",
                credits=credits,
            )
            try:
                await quota.db.run_transaction(reserve)
            except QuotaExceeded:
                refused += 1
            else:
                granted += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(q) for q in itertools.islice(itertools.cycle(quotas), TASKS)))
    seconds = time.perf_counter() - started
    return {
        "benchmark": f"quota/{name}",
        "connections": len(quotas),
        "tasks": TASKS,
        "members": MEMBERS,
        "attempts": ATTEMPTS,
        "granted": granted,
        "refused": refused,
        "seconds": round(seconds, 2),
        "reservations_per_second": round(granted / seconds),
        "decisions_per_second": round(ATTEMPTS / seconds),
        **await _audit(db),
    }


async def _audit(db: Database) -> dict[str, Any]:
    """Compare every total with its limit and with the ledger it is kept from."""
    period = periods(NOW, 0)
    async with db.read() as conn:
        async with conn.execute(
            "SELECT user_id, used FROM credit_usage WHERE guild_id = ? AND day = ?",
            (GUILD, period.day),
        ) as cursor:
            usage = dict(list(await cursor.fetchall()))  # type: ignore[arg-type]
        async with conn.execute(
            "SELECT user_id, SUM(credits) FROM credit_ledger WHERE guild_id = ? GROUP BY user_id",
            (GUILD,),
        ) as cursor:
            ledger = dict(list(await cursor.fetchall()))  # type: ignore[arg-type]
        budget_used = await run_sync(conn, lambda raw: repo.budget_used(raw, GUILD, period.month))
    member_overspend = sum(max(0, used - DAILY) for used in usage.values())
    return {
        "budget": BUDGET,
        "budget_used": budget_used,
        "overspend_credits": member_overspend + max(0, budget_used - BUDGET),
        "ledger_matches_totals": ledger == usage and sum(ledger.values()) == budget_used,
    }


async def main() -> None:
    for name, connections in (("one_connection", 1), ("two_connections", 2)):
        print(json.dumps(await scenario(name, connections)))


if __name__ == "__main__":
    asyncio.run(main())
