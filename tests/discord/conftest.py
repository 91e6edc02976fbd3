"""Fixtures for the emulator's self-tests: the emulator itself and a running probe bot."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

import pytest

from tests.discord.emulator import DiscordEmulator
from tests.discord.fixtures import discord_pointed_at, emulator, pytest_configure
from tests.discord.probe_bot import ProbeBot

__all__ = ["emulator", "probe", "pytest_configure", "running_probe"]

T = TypeVar("T")


async def _unless_bot_dies(
    awaitable: Awaitable[T], bot_task: asyncio.Task[None], timeout: float
) -> T:
    """Await something, but fail at once (with the bot's own error) if the bot task ends."""
    waiter = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({waiter, bot_task}, timeout=timeout, return_when="FIRST_COMPLETED")
    if waiter in done:
        return waiter.result()
    waiter.cancel()
    if bot_task in done:
        bot_task.result()
        raise RuntimeError("the probe bot stopped before it was ready")
    raise TimeoutError(f"the probe bot was not ready within {timeout}s")


@contextlib.asynccontextmanager
async def running_probe(emu: DiscordEmulator, *, sync_count: int = 1) -> AsyncIterator[ProbeBot]:
    """Start a ProbeBot against the emulator; close it afterwards."""
    with discord_pointed_at(emu):
        bot = ProbeBot(emu.guild.id)
        task = asyncio.create_task(bot.start(emu.bot_token))
        try:
            await _unless_bot_dies(emu.wait_for_ready(), task, 10)
            await _unless_bot_dies(emu.wait_for_commands(count=sync_count), task, 10)
            await _unless_bot_dies(bot.wait_until_ready(), task, 10)
            yield bot
        finally:
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)


@pytest.fixture
async def probe(emulator: DiscordEmulator) -> AsyncIterator[ProbeBot]:
    async with running_probe(emulator) as bot:
        yield bot
