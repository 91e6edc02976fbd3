"""A gateway process and a worker process on one PostgreSQL database (`cameo run --role`): the
gateway answers the member and queues the scene, the worker, with no gateway connection, makes
it and posts it over REST."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator

import pytest

from bot.app import running_bot
from bot.client.cameo_bot import CameoBot
from bot.settings import Settings
from tests.cogs.test_scenes import SettingsWith, register, results_in_thread, scene
from tests.discord.emulator import DiscordEmulator
from tests.postgres import drop_postgres_database, fresh_postgres_database


@pytest.fixture
async def shared_settings(
    scene_settings_with: SettingsWith, postgres_server: str, postgres_template: str
) -> AsyncIterator[Settings]:
    url = await fresh_postgres_database(postgres_server, postgres_template)
    yield scene_settings_with(database_url=url)
    await drop_postgres_database(postgres_server, url)


@pytest.fixture
async def gateway(shared_settings: Settings) -> AsyncIterator[CameoBot]:
    async with running_bot(shared_settings, role="gateway", guild_ready_timeout=0.1) as bot:
        await asyncio.wait_for(bot.wait_until_ready(), timeout=15)
        yield bot


@pytest.fixture
async def worker(shared_settings: Settings) -> AsyncIterator[CameoBot]:
    async with running_bot(shared_settings, role="worker") as bot:

        async def working() -> None:
            while not bot.is_working():
                await asyncio.sleep(0.02)

        await asyncio.wait_for(working(), timeout=15)
        yield bot


def healthz(bot: CameoBot) -> dict[str, object]:
    assert bot.operator_endpoints is not None
    url = f"http://127.0.0.1:{bot.operator_endpoints.port}/healthz"
    with urllib.request.urlopen(url, timeout=5) as answer:
        return dict(json.loads(answer.read()))


async def test_the_gateway_queues_and_the_worker_makes_and_posts(
    emulator: DiscordEmulator, gateway: CameoBot, worker: CameoBot
) -> None:
    await register(emulator)
    card, _ = await scene(emulator, provider="apiframe")
    results = await results_in_thread(emulator, card)
    assert len(results[0].attachments) == 1
    # The gateway never ran a job; the worker never connected to the gateway.
    assert not gateway.services.runner.started
    assert worker.ws is None
    assert worker.services.runner.started
    worker_health = await asyncio.to_thread(healthz, worker)
    assert worker_health == {"status": "ok", "ready": True, "database": True}
    gateway_health = await asyncio.to_thread(healthz, gateway)
    assert gateway_health["gateway_connected"] is True
