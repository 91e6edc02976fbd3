"""Cameo with several gateway shards in one process, against the emulator's sharded gateway:
each shard IDENTIFYs with its [id, count], the server's events reach the shard it belongs to,
and commands work as without shards."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.app import running_bot
from bot.client.cameo_bot import CameoBot, ShardedCameoBot
from tests.cogs.test_operations import get
from tests.conftest import make_settings
from tests.discord.emulator import DiscordEmulator


async def test_two_shards_in_one_process_answer_the_server_on_its_shard(
    data_dir: Path,
) -> None:
    # Two buckets (max_concurrency 2): both shards may IDENTIFY at once.
    async with DiscordEmulator(recommended_shards=2, max_concurrency=2) as emulator:
        settings = make_settings(emulator, data_dir)
        async with running_bot(
            settings, guild_ready_timeout=0.1, shard_ids=[0, 1], shard_count=2
        ) as bot:
            assert isinstance(bot, ShardedCameoBot)
            await emulator.wait_for_ready(shards=2, timeout=20)
            await asyncio.wait_for(bot.wait_until_ready(), timeout=20)
            assert emulator.stats["identifies_shard_0"] == 1
            assert emulator.stats["identifies_shard_1"] == 1
            home = emulator.gateway.shard_of(emulator.guild.id)
            assert bot.get_guild(emulator.guild.id) is not None
            assert bot.get_guild(emulator.guild.id).shard_id == home  # type: ignore[union-attr]

            answer = await (await emulator.slash(emulator.user("alice"), "quota")).response()
            assert answer.embeds or answer.content
            stats = emulator.stats
            assert stats[f"dispatch_interaction_create_shard_{home}"] == 1
            assert stats[f"dispatch_interaction_create_shard_{1 - home}"] == 0

            health = (await get(bot, "/healthz")).json()
            assert health["gateway_connected"] is True
            assert health["ready"] is True


async def test_without_shard_options_the_bot_is_unsharded(cameo: CameoBot) -> None:
    assert not isinstance(cameo, ShardedCameoBot)
    assert cameo.shard_count is None


@pytest.mark.parametrize(
    ("args", "problem"),
    [(["--shards", "0,2", "--shard-count", "2"], "from 0 to 1"), (["--shards", "0"], "needs")],
)
async def test_cameo_run_refuses_impossible_shards(
    args: list[str], problem: str, tmp_path: Path
) -> None:
    from tests.bot.cli.test_generate_command import cameo as run_cli

    status, _, err = await run_cli(
        tmp_path, "run", *args, CAMEO_DISCORD_TOKEN="x" * 60, CAMEO_DATA_DIR=str(tmp_path)
    )
    assert status == 2
    assert problem in err
    assert "Traceback" not in err
