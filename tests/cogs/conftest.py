"""Fixtures shared by the end-to-end tests of the cogs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest

from bot.app import running_bot
from bot.client.cameo_bot import CameoBot
from tests.cogs.test_scenes import SettingsWith, provider_settings
from tests.discord.emulator import DiscordEmulator
from tests.fakes import FakeApiframe, FakePixelDojo, FakeSegmind


@pytest.fixture
def scene_settings_with(
    emulator: DiscordEmulator,
    data_dir: Path,
    segmind_fake: FakeSegmind,
    apiframe_fake: FakeApiframe,
    pixeldojo_fake: FakePixelDojo,
) -> SettingsWith:
    return partial(
        provider_settings, emulator, data_dir, segmind_fake, apiframe_fake, pixeldojo_fake
    )


@pytest.fixture
async def segmind_bot(
    emulator: DiscordEmulator, scene_settings_with: SettingsWith
) -> AsyncIterator[CameoBot]:
    """The bot with Segmind alone and 50 credits a day: a default-speed scene holds and costs
    19, so a credit held or charged by mistake shows in /quota."""
    settings = scene_settings_with(providers=("segmind",), daily_credits=50)
    async with running_bot(settings, guild_ready_timeout=0.1) as running:
        await asyncio.wait_for(running.wait_until_ready(), timeout=15)
        await emulator.wait_for_commands(timeout=15)
        yield running
