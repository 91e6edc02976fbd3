"""Scaling out: the same load on one process with SQLite and on two gateways and two workers
sharing PostgreSQL (issue 20). Prints JSON. Run: .venv/bin/python bench/scale.py

Each setup runs as real processes (`python -m bot run …`, as in production) against the
loopback Discord emulator and an instant fake Segmind in this process:
- `one_process_sqlite`: `cameo run`, everything in one process, its SQLite file.
- `split_postgresql`: `--role gateway` on shard 0 and on the shards holding the server, two
  `--role worker`, one PostgreSQL database, Discord's budget split 5/5/20/20.
Load: 200 single-picture scenes from 50 members in 25 channels, all sent at once.
Reports scenes delivered a second (first request to last picture: how fast the setup drains
a burst, within Discord's global and per-channel limits), acknowledgement p50/p99,
overhead p50/p99 (request to picture posted: the service answers at once, so all of it is
Cameo, discord.py, the emulator and this machine) and 429s.

Then the write paths alone, from two connections at once (as two processes), on each engine:
`claims_per_second` (queued jobs started with a claim, the bounds counted) and
`reservations_per_second` (credit holds, each checked against the member's allowance).

PostgreSQL: the server named by CAMEO_TEST_POSTGRES_URL, else a throwaway cluster started here
(tests/postgres_cluster.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.models import JobKind, Viewer
from bot.providers.request import SceneOptions
from bot.quota.service import QuotaService
from storage import images, jobs
from storage.database import Database, connect
from tests import postgres_cluster
from tests.discord.emulator import DiscordEmulator
from tests.fakes import FakeSegmind
from tests.imagefactory import png
from tests.postgres import drop_postgres_database, fresh_postgres_database
from tests.scaling import cluster_environment, home_shard_count, running_cluster

SCENES = 200
MEMBERS = 50
CHANNELS = 25
WRITES = 2_000  # claims and reservations timed, per engine
SHA = "a" * 64


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def a_day(name: str, folder: Path, database_url: str | None) -> dict[str, Any]:
    """Start the setup, send the scenes, wait for every picture, measure."""
    async with (
        FakeSegmind(credits=1_000_000) as segmind,
        DiscordEmulator(max_concurrency=16) as emulator,
    ):
        members = [emulator.add_member(f"member{n}") for n in range(MEMBERS)]
        channels = [emulator.add_text_channel(f"scenes-{n}") for n in range(CHANNELS)]
        environment = cluster_environment(
            emulator, segmind, database_url, folder / "images", extra={"CAMEO_LOG_LEVEL": "WARNING"}
        )
        async with running_cluster(environment, folder / name) as cluster:
            if database_url is None:
                processes = [await cluster.start("all", "all", rest_budget=50)]
            else:
                count = home_shard_count(emulator)
                others = ",".join(str(shard) for shard in range(1, count))
                gateway = ("gateway", "--shard-count", str(count))
                processes = [
                    await cluster.start("gateway-a", *gateway, "--shards", "0", rest_budget=5),
                    await cluster.start("gateway-b", *gateway, "--shards", others, rest_budget=5),
                    await cluster.start("worker-1", "worker", rest_budget=20),
                    await cluster.start("worker-2", "worker", rest_budget=20),
                ]
            for process in processes:
                await cluster.until_healthy(process, timeout=120)
            await emulator.wait_for_commands()
            ix = await emulator.slash(
                emulator.user("alice"), "character create", name="Mira", image=png(seed=1)
            )
            await ix.response()
            log_start = len(emulator.request_log)
            started = time.monotonic()
            handles = []

            async def ask(n: int) -> None:
                handles.append(
                    await emulator.slash(
                        members[n % MEMBERS], "scene", channel=channels[n % CHANNELS],
                        character="Mira", prompt=f"scene {n}",
                    )
                )  # fmt: skip

            await asyncio.gather(*(ask(n) for n in range(SCENES)))
            cards = [await handle.response(timeout=60) for handle in handles]
            card_ids = {card.id for card in cards}
            await emulator._state.wait_until(
                lambda: sum(
                    1 for t in emulator.threads if t.id in card_ids and emulator.messages(t)
                ) == SCENES,
                600,
                "every picture",
            )  # fmt: skip
            seconds = time.monotonic() - started
        acks = [h.ack_latency for h in handles if h.ack_latency is not None]
        overhead = []
        for handle, card in zip(handles, cards, strict=True):
            thread = next(t for t in emulator.threads if t.id == card.id)
            overhead.append(emulator.messages(thread)[0].created_at - handle.record.created_at)
        return {
            "benchmark": f"scale/{name}",
            "processes": len(processes),
            "scenes": SCENES,
            "scenes_per_second": round(SCENES / seconds, 2),
            "ack_p50_ms": ms(statistics.median(acks)),
            "ack_p99_ms": ms(percentile(acks, 0.99)),
            "overhead_p50_ms": ms(statistics.median(overhead)),
            "overhead_p99_ms": ms(percentile(overhead, 0.99)),
            "rest_calls": len(emulator.request_log) - log_start,
            "rate_limited_429s": emulator.stats["rate_limited_429s"],
            "violations": len(emulator.violations),
            "billed": segmind.billed,
        }


class Now:
    def now(self) -> datetime:
        return datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


async def writes_per_second(engine: str, target: str | Path) -> dict[str, Any]:
    """Claims and reservations from two connections at once, as two processes make them."""
    first, second = await connect(target), await connect(target)
    try:
        await first.run_transaction(
            lambda conn: images.insert(conn, images.ImageRow(SHA, "png", 1, 1, 1), "t")
        )
        for n in range(0, WRITES, 500):
            await first.run_transaction(partial(_queue, count=min(500, WRITES - n)))
        claims = await _timed(
            [first, second],
            lambda db, n: db.run_transaction(partial(_claim_next, worker=f"w{n % 2}")),
        )
        quotas = [
            QuotaService(db, Now(), daily_credits=10**9, reset_hour=0, providers=list)
            for db in (first, second)
        ]
        reservations = await _timed(
            [first, second],
            lambda db, n: db.run_transaction(
                partial(
                    quotas[0 if db is first else 1].reserve,
                    job_id=10**6 + n,
                    member=Viewer(1 + n % 50, 10),
                    speed="default",
                    credits=1,
                )
            ),
        )
    finally:
        await first.close()
        await second.close()
    return {
        "benchmark": f"scale/writes_{engine}",
        "claims_per_second": round(WRITES / claims, 1),
        "reservations_per_second": round(WRITES / reservations, 1),
    }


def _queue(conn: Any, count: int) -> None:
    for n in range(count):
        jobs.insert(
            conn,
            jobs.NewJob(
                kind=JobKind.SCENE, guild_id=10, channel_id=20, user_id=1 + n % 50,
                character_id=None, character_name="Mira", reference_sha256=SHA,
                edit_image_sha256=None, edit_mask_sha256=None, options=SceneOptions(prompt="x"),
                image_count=1, preferred_provider=None, credits=0, created_at="t",
            ),
        )  # fmt: skip


def _claim_next(conn: Any, worker: str) -> None:
    """A worker's step: choose the next job fairly, start it with a claim; then finish it, so
    the bounds never stop the next claim (what is timed is choosing and claiming)."""
    job = jobs.next_runnable(conn, per_user_limit=2)
    if job is None:
        return
    claim = jobs.Claim(worker, "2026-11-21T12:01:00Z", running_limit=8, per_member=2)
    started = jobs.start(conn, job.id, "2026-11-21T12:00:00Z", claim)
    if started is not None:
        jobs.fail(conn, job.id, "benchmark", "t", claimer=worker)


async def _timed(databases: list[Database], step: Callable[[Database, int], Any]) -> float:
    """Seconds for WRITES steps, spread over the databases, 16 in flight at once on each."""
    counter = iter(range(WRITES))

    async def keep_going(db: Database) -> None:
        for n in counter:
            await step(db, n)

    started = time.perf_counter()
    await asyncio.gather(*(keep_going(db) for db in databases for _ in range(16)))
    return time.perf_counter() - started


async def main() -> None:
    server = os.environ.get("CAMEO_TEST_POSTGRES_URL")
    started_cluster = None
    if server is None:
        server, started_cluster = postgres_cluster.start()
    try:
        template = "template_scale_bench"
        await _template(server, template)
        with tempfile.TemporaryDirectory(prefix="cameo-scale-") as folder:
            root = Path(folder)
            print(json.dumps(await a_day("one_process_sqlite", root, None)), flush=True)
            url = await fresh_postgres_database(server, template)
            try:
                print(json.dumps(await a_day("split_postgresql", root, url)), flush=True)
            finally:
                await drop_postgres_database(server, url)
            print(json.dumps(await writes_per_second("sqlite", root / "writes.sqlite3")))
            url = await fresh_postgres_database(server, template)
            try:
                print(json.dumps(await writes_per_second("postgresql", url)))
            finally:
                await drop_postgres_database(server, url)
    finally:
        if started_cluster is not None:
            postgres_cluster.stop(started_cluster)


async def _template(server: str, name: str) -> None:
    """A database migrated once, which each run's database copies."""
    import asyncpg

    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    db = await connect(f"{server.rsplit('/', 1)[0]}/{name}")
    await db.close()


if __name__ == "__main__":
    asyncio.run(main())
