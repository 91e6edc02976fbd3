"""Scaling out, end to end: two gateway processes (each some of the emulator's gateway shards)
and two worker processes on one PostgreSQL database, 200 scenes from 50 members, and one
worker killed with SIGKILL in the middle (issue 20)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import asyncpg
import pytest

from tests.cogs.test_scenes import scene
from tests.discord.emulator import DiscordEmulator, Message
from tests.fakes import FakeApiframe
from tests.imagefactory import png
from tests.postgres import drop_postgres_database, fresh_postgres_database
from tests.scaling import cluster_environment, home_shard_count, running_cluster

# The day: 50 members, 200 scenes.
GUILD_MEMBERS = 40  # each asks for 4 scenes in the server, of alice's character
DM_MEMBERS = 10  # each asks for 4 in direct messages, of a character of their own
SCENES_EACH = 4


@pytest.mark.timeout(600)
async def test_two_gateways_and_two_workers_deliver_every_scene_once(
    tmp_path: Path, postgres_server: str, postgres_template: str, apiframe_fake: FakeApiframe
) -> None:
    url = await fresh_postgres_database(postgres_server, postgres_template)
    apiframe_fake.polls_before_done = 4  # long enough to be caught in flight
    apiframe_fake.credits = 100_000.0  # the account never runs dry: that is another test
    try:
        # A large bot's IDENTIFY buckets: every shard may connect at once.
        async with DiscordEmulator(max_concurrency=16) as emulator:
            await run_the_day(emulator, url, tmp_path, apiframe_fake)
    finally:
        await drop_postgres_database(postgres_server, url)


async def run_the_day(
    emulator: DiscordEmulator, url: str, tmp_path: Path, apiframe: FakeApiframe
) -> None:
    shard_count = home_shard_count(emulator)
    home = (emulator.guild.id >> 22) % shard_count
    in_server = [emulator.add_member(f"guest{n}").username for n in range(GUILD_MEMBERS)]
    # Discord lets a channel have a thread started about once a second: the server's members
    # ask in several channels, as in a real server.
    channels = [emulator.add_text_channel(f"scenes-{n}") for n in range(GUILD_MEMBERS // 2)]
    in_dms = [emulator.add_member(f"writer{n}").username for n in range(DM_MEMBERS)]
    environment = cluster_environment(emulator, apiframe, url, tmp_path / "images")
    async with running_cluster(environment, tmp_path / "cluster") as cluster:
        others = ",".join(str(shard) for shard in range(1, shard_count))
        count = str(shard_count)
        # Discord's 50 requests a second split: a little for each gateway, most for the
        # workers, which post.
        gateway = ("gateway", "--shard-count", count)
        processes = [
            await cluster.start("gateway-a", *gateway, "--shards", "0", rest_budget=5),
            await cluster.start("gateway-b", *gateway, "--shards", others, rest_budget=5),
            await cluster.start("worker-1", "worker", rest_budget=20),
            await cluster.start("worker-2", "worker", rest_budget=20),
        ]
        for process in processes:
            await cluster.until_healthy(process)
        await emulator.wait_for_commands()
        doomed = processes[2]

        await register(emulator, "alice", None)
        for name in in_dms:
            await register(emulator, name, emulator.dm_channel(name))

        # One connection each: the sampler, the killer and the waiting run at once.
        database, sampler_db, killer_db = [await asyncpg.connect(url) for _ in range(3)]
        samples: list[tuple[int, int]] = []
        sampling = asyncio.create_task(sample(sampler_db, samples))
        killed: list[int] = []
        killing = asyncio.create_task(kill_when_busy(killer_db, cluster, doomed, killed))
        try:
            cards = await ask_for_everything(emulator, in_server, in_dms, channels)
            await asyncio.wait_for(everything_delivered(database, len(cards)), 240)
        finally:
            sampling.cancel()
            killing.cancel()
            await asyncio.gather(sampling, killing, return_exceptions=True)
            await sampler_db.close()
            await killer_db.close()
        try:
            claimers = await database.fetch("SELECT DISTINCT claimed_by FROM jobs")
            assert killed, f"worker {doomed.pid} never caught in flight; claimers: {claimers}"
            await check_the_books(database, killed, doomed.pid)
        finally:
            await database.close()

    # Every scene delivered exactly once.
    for name, card in cards:
        if name in in_server:
            thread = next(t for t in emulator.threads if t.id == card.id)
            posted = [m for m in emulator.messages(thread) if m.attachments]
            assert len(posted) == 1, f"scene card {card.id}: {len(posted)} results"
    for name in in_dms:
        dm = emulator.dm_channel(name)
        results = [m for m in emulator.messages(dm) if m.attachments and not m.embeds]
        assert len(results) == SCENES_EACH, f"{name}: {len(results)} results in DMs"
    assert apiframe.billed == len(cards)  # one paid submission each, the killed worker's too
    # Never more than 8 generating at once, nor 2 of one member's, across both workers.
    assert samples
    assert max(total for total, _ in samples) <= 8
    assert max(one for _, one in samples) <= 2
    # Both gateway processes answered: the server's shard and shard 0 (direct messages).
    assert emulator.stats[f"dispatch_interaction_create_shard_{home}"] > 0
    assert emulator.stats["dispatch_interaction_create_shard_0"] > 0
    assert emulator.stats["rate_limited_429s"] == 0
    assert emulator.violations == []


async def register(emulator: DiscordEmulator, name: str, channel: object) -> None:
    options: dict[str, object] = {"name": "Mira", "image": png(seed=1)}
    if channel is not None:
        options["channel"] = channel
    ix = await emulator.slash(emulator.user(name), "character create", **options)
    answer = await ix.response()
    assert answer.embeds, answer.content


async def ask_for_everything(
    emulator: DiscordEmulator, in_server: list[str], in_dms: list[str], channels: list[object]
) -> list[tuple[str, Message]]:
    """Every member's scenes, twenty requests in flight at a time."""
    gate = asyncio.Semaphore(20)

    async def ask(name: str, n: int) -> tuple[str, Message]:
        async with gate:
            if name in in_dms:
                where = {"channel": emulator.dm_channel(name)}
            else:
                where = {"channel": channels[in_server.index(name) % len(channels)]}
            card, _ = await scene(emulator, name, prompt=f"scene {n} of {name}", **where)
            assert card.embeds, card.content
            return name, card

    return list(
        await asyncio.gather(
            *(ask(name, n) for n in range(SCENES_EACH) for name in [*in_server, *in_dms])
        )
    )


async def sample(database: asyncpg.Connection, into: list[tuple[int, int]]) -> None:
    while True:
        row = await database.fetchrow(
            "SELECT COALESCE(SUM(n), 0) AS total, COALESCE(MAX(n), 0) AS most FROM "
            "(SELECT user_id, COUNT(*) AS n FROM jobs WHERE state = 'running' GROUP BY user_id) s"
        )
        into.append((int(row["total"]), int(row["most"])))
        await asyncio.sleep(0.02)


async def kill_when_busy(database, cluster, doomed, killed: list[int]) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL the worker once it has jobs in flight at the service, and none still on their
    way there (a job killed before its submission was recorded fails with a refund instead,
    as after a restart: tested in tests/bot/jobs); remember which."""
    mine = f"%/{doomed.pid}/%"
    while True:
        rows = await database.fetch(
            "SELECT id, service_job_id FROM jobs WHERE state = 'running' AND claimed_by LIKE $1",
            mine,
        )
        if rows and all(row["service_job_id"] is not None for row in rows):
            cluster.kill(doomed)
            killed.extend(int(row["id"]) for row in rows)
            return
        await asyncio.sleep(0.01)


async def everything_delivered(database: asyncpg.Connection, expected: int) -> None:
    while True:
        done = await database.fetchval(
            "SELECT COUNT(*) FROM jobs WHERE state = 'succeeded' AND delivered_at IS NOT NULL"
        )
        if done >= expected:
            return
        await asyncio.sleep(0.2)


async def check_the_books(database: asyncpg.Connection, killed: list[int], dead_pid: int) -> None:
    """The killed worker's jobs were finished by the other; every member's spent credits are
    what their ledger rows add up to; nothing is still held."""
    for job_id in killed:
        row = await database.fetchrow(
            "SELECT state, delivered_at, claimed_by FROM jobs WHERE id = $1", job_id
        )
        assert row["state"] == "succeeded"
        assert row["delivered_at"] is not None
        assert not re.search(rf"/{dead_pid}/", row["claimed_by"])
    mismatched = await database.fetch(
        "SELECT u.user_id, u.used, l.spent FROM "
        "(SELECT user_id, SUM(used) AS used FROM credit_usage GROUP BY user_id) u "
        "FULL JOIN (SELECT user_id, SUM(credits) AS spent FROM credit_ledger GROUP BY user_id) l "
        "ON l.user_id = u.user_id WHERE u.used IS DISTINCT FROM l.spent"
    )
    assert mismatched == []
    assert await database.fetchval("SELECT COUNT(*) FROM credit_holds WHERE state = 'held'") == 0
