"""The real bot's life against loopback Discord: start, sync, errors, reconnects, shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import pytest
from discord import app_commands

from bot.app import running_bot
from bot.client.cameo_bot import CameoBot
from bot.client.interaction_errors import SHUTTING_DOWN_TEXT
from bot.errors import CameoError
from bot.settings import Settings
from tests.discord.emulator import DiscordEmulator


async def test_the_bot_connects_and_syncs_its_commands_to_the_dev_guild(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    assert cameo.commands_synced
    names = {command["name"] for command in emulator.commands(guild_id=emulator.guild.id)}
    assert "help" in names
    assert emulator.commands() == []  # nothing global while a dev guild is set


async def test_global_sync_when_no_dev_guild_is_set(
    emulator: DiscordEmulator, data_dir: Path
) -> None:
    from tests.conftest import make_settings

    settings = make_settings(emulator, data_dir, dev_guild_id=None)
    async with running_bot(settings, guild_ready_timeout=0.1) as bot:
        await asyncio.wait_for(bot.wait_until_ready(), 15)
    assert "help" in {command["name"] for command in emulator.commands()}


async def test_a_restart_with_an_unchanged_tree_does_not_sync_again(
    emulator: DiscordEmulator, settings: Settings
) -> None:
    synced = []
    for _ in range(2):
        async with running_bot(settings, guild_ready_timeout=0.1) as bot:
            await asyncio.wait_for(bot.wait_until_ready(), 15)
            synced.append(bot.commands_synced)
            ix = await emulator.slash(emulator.user("alice"), "help")
            assert (await ix.response()).embeds
    assert synced == [True, False]
    assert len(emulator.sync_requests) == 1


async def test_a_changed_tree_is_synced_on_the_next_start(
    emulator: DiscordEmulator, settings: Settings
) -> None:
    async with running_bot(settings, guild_ready_timeout=0.1) as bot:
        await asyncio.wait_for(bot.wait_until_ready(), 15)

    @app_commands.command(name="extra")
    async def extra(interaction) -> None:  # type: ignore[no-untyped-def]
        """An extra command."""

    class WithExtra(CameoBot):
        async def setup_hook(self) -> None:
            self.tree.add_command(extra)
            await super().setup_hook()

    import bot.app as app_module

    original = app_module.CameoBot
    app_module.CameoBot = WithExtra  # type: ignore[misc]
    try:
        async with running_bot(settings, guild_ready_timeout=0.1) as bot:
            await asyncio.wait_for(bot.wait_until_ready(), 15)
            assert bot.commands_synced
    finally:
        app_module.CameoBot = original  # type: ignore[misc]
    assert len(emulator.sync_requests) == 2
    assert "extra" in {c["name"] for c in emulator.commands(guild_id=emulator.guild.id)}


async def test_a_user_facing_error_is_shown_privately(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    @app_commands.command(name="refuse")
    async def refuse(interaction) -> None:  # type: ignore[no-untyped-def]
        """Always refuses."""
        raise CameoError("That character is private.")

    cameo.tree.add_command(refuse, guild=emulator.guild)
    await cameo.tree.sync(guild=emulator.guild)
    ix = await emulator.slash(emulator.user("alice"), "refuse")
    message = await ix.response()
    assert ix.ephemeral
    assert message.content == "That character is private."


async def test_an_unexpected_error_gets_an_id_shown_and_logged(
    emulator: DiscordEmulator, cameo: CameoBot, caplog: pytest.LogCaptureFixture
) -> None:
    @app_commands.command(name="explode")
    async def explode(interaction) -> None:  # type: ignore[no-untyped-def]
        """Always fails."""
        raise ZeroDivisionError("kaboom")

    cameo.tree.add_command(explode, guild=emulator.guild)
    await cameo.tree.sync(guild=emulator.guild)
    caplog.set_level(logging.ERROR, logger="bot.client.interaction_errors")
    ix = await emulator.slash(emulator.user("alice"), "explode")
    message = await ix.response()
    assert ix.ephemeral
    assert "kaboom" not in message.content  # internals are not shown to members
    error_id = message.content.split("`")[1]
    assert len(error_id) == 8
    record = next(r for r in caplog.records if error_id in r.getMessage())
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ZeroDivisionError)


async def test_an_error_after_deferring_still_reaches_the_user(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    @app_commands.command(name="slowfail")
    async def slowfail(interaction) -> None:  # type: ignore[no-untyped-def]
        """Defers, then fails."""
        await interaction.response.defer(ephemeral=True)
        raise CameoError("The image service is busy; try again soon.")

    cameo.tree.add_command(slowfail, guild=emulator.guild)
    await cameo.tree.sync(guild=emulator.guild)
    ix = await emulator.slash(emulator.user("alice"), "slowfail")
    message = await ix.response()
    assert message.content == "The image service is busy; try again soon."


async def test_commands_are_refused_politely_while_shutting_down(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    cameo.shutting_down = True
    ix = await emulator.slash(emulator.user("alice"), "help")
    message = await ix.response()
    assert ix.ephemeral
    assert message.content == SHUTTING_DOWN_TEXT
    cameo.shutting_down = False


async def test_the_bot_resumes_after_a_gateway_reconnect(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    identifies = emulator.stats["identifies"]
    await emulator.send_reconnect()
    await emulator.wait_for_resume(timeout=15)
    assert emulator.stats["identifies"] == identifies  # resumed, not a new session
    ix = await emulator.slash(emulator.user("alice"), "help")
    assert (await ix.response()).embeds


async def test_the_bot_resumes_after_the_socket_drops(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    await emulator.drop_gateway()
    await emulator.wait_for_resume(timeout=15)
    ix = await emulator.slash(emulator.user("bob"), "help")
    assert (await ix.response()).embeds


async def test_sigterm_shuts_the_bot_down_cleanly_with_status_0(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMEO_")}
    env.update(
        CAMEO_DISCORD_TOKEN=emulator.bot_token,
        CAMEO_DATA_DIR=str(tmp_path / "data"),
        CAMEO_DISCORD_API_BASE=emulator.api_base,
        CAMEO_DISCORD_GATEWAY=emulator.gateway_url,
        CAMEO_DEV_GUILD_ID=str(emulator.guild.id),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await emulator.wait_for_ready(timeout=30)
        ix = await emulator.slash(emulator.user("alice"), "help")
        await ix.response()
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = stderr.decode()
    assert process.returncode == 0, log
    assert "Cameo stopped cleanly" in log
    assert "Traceback" not in log
    assert emulator.bot_token not in log


async def test_shutdown_lets_a_running_command_finish(
    emulator: DiscordEmulator, settings: Settings
) -> None:
    started = asyncio.Event()

    @app_commands.command(name="slow")
    async def slow(interaction) -> None:  # type: ignore[no-untyped-def]
        """Takes a moment."""
        await interaction.response.defer(ephemeral=True)
        started.set()
        await asyncio.sleep(0.5)
        await interaction.followup.send("finished", ephemeral=True)

    async with running_bot(settings, guild_ready_timeout=0.1) as bot:
        await asyncio.wait_for(bot.wait_until_ready(), 15)
        bot.tree.add_command(slow, guild=emulator.guild)
        await bot.tree.sync(guild=emulator.guild)
        ix = await emulator.slash(emulator.user("alice"), "slow")
        await asyncio.wait_for(started.wait(), 5)
        await bot.shutdown()
        assert (await ix.response()).content == "finished"
