"""Fixtures shared by the whole suite: a clean environment, and the real bot on loopback Discord."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import running_bot
from bot.client.cameo_bot import CameoBot
from bot.settings import Settings
from tests.discord.emulator import DiscordEmulator

pytest_plugins = [
    "tests.discord.fixtures",
    "tests.fakes.fixtures",
    "tests.s3server",
    "tests.postgres",
]


@pytest.fixture(autouse=True)
def _no_operator_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's own CAMEO_* variables out of every test."""
    for name in list(os.environ):
        if name.startswith("CAMEO_"):
            monkeypatch.delenv(name)


def make_settings(emulator: DiscordEmulator, data_dir: Path, **overrides: object) -> Settings:
    """Return production settings pointed at the emulator, with no `.env` file read."""
    values: dict[str, object] = {
        "discord_token": emulator.bot_token,
        "data_dir": data_dir,
        "discord_api_base": emulator.api_base,
        "discord_gateway": emulator.gateway_url,
        "dev_guild_id": emulator.guild.id,
        # Every test bot serves /healthz and /metrics, on a port of its own.
        "metrics_listen": "127.0.0.1:0",
        # Cards refresh quickly so tests see "Done" without waiting out Discord-friendly pacing;
        # the tests of the pacing itself set their own interval.
        "card_edit_seconds": 0.1,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings(emulator: DiscordEmulator, data_dir: Path) -> Settings:
    return make_settings(emulator, data_dir)


@pytest.fixture
async def cameo(emulator: DiscordEmulator, settings: Settings) -> AsyncIterator[CameoBot]:
    """The real Cameo bot (production wiring, real cogs, a temporary data directory), connected."""
    async with running_bot(settings, guild_ready_timeout=0.1) as bot:
        await asyncio.wait_for(bot.wait_until_ready(), timeout=15)
        yield bot
