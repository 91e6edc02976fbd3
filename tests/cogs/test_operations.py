"""/healthz and /metrics on the real bot: what an operator's load balancer and Prometheus see."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import running_bot
from bot.client.cameo_bot import CameoBot
from bot.settings import Settings, SettingsError
from tests.bot.cli.test_generate_command import cameo as run_cli
from tests.cogs.test_scenes import register, results_in_thread, scene
from tests.conftest import make_settings
from tests.discord.emulator import DiscordEmulator
from tests.fakes import FakeSegmind


def address(bot: CameoBot) -> str:
    assert bot.operator_endpoints is not None
    assert bot.operator_endpoints.port
    return f"http://127.0.0.1:{bot.operator_endpoints.port}"


async def get(bot: CameoBot, path: str) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.get(address(bot) + path)


async def samples(bot: CameoBot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    response = await get(bot, "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_healthz_says_ready_once_connected(cameo: CameoBot) -> None:
    response = await get(cameo, "/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "ready": True,
        "gateway_connected": True,
        "database": True,
    }


async def test_metrics_count_interactions_rest_calls_jobs_and_credits(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    before = await samples(segmind_bot)
    await register(emulator)
    card, _ = await scene(emulator)
    await results_in_thread(emulator, card)
    after = await samples(segmind_bot)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("cameo_interactions_total", kind="command") == 2
    assert grew("cameo_interaction_ack_seconds_count") >= 2
    assert grew("cameo_discord_rest_calls_total", method="POST", status="2xx") >= 3
    assert grew("cameo_jobs_finished_total", state="succeeded", service="segmind") == 1
    assert grew("cameo_queue_wait_seconds_count") == 1
    assert grew("cameo_service_seconds_count", service="segmind") == 1
    assert grew("cameo_database_lock_wait_seconds_count") > 0
    # The ledger: the scene's 19 credits were reserved, then all of them charged.
    assert grew("cameo_credits_total", movement="reserved") == 19
    assert grew("cameo_credits_total", movement="returned") == 0
    # Nothing waits or runs once it is delivered, and nothing stays held.
    assert value(after, "cameo_jobs", state="queued", service="any") == 0
    assert value(after, "cameo_credits_held") == 0
    assert value(after, "cameo_discord_rest_429_total", scope="user") == 0


async def test_a_scene_in_flight_shows_in_the_gauges(
    emulator: DiscordEmulator, segmind_bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register(emulator)
    segmind_fake.latency = 3.0  # long enough to be seen running
    await scene(emulator)
    for _ in range(100):
        found = await samples(segmind_bot)
        running = sum(
            v
            for (name, labels), v in found.items()
            if name == "cameo_jobs" and ("state", "running") in labels
        )
        if running:
            break
        await asyncio.sleep(0.05)
    assert running == 1
    assert value(found, "cameo_credits_held") > 0


async def test_metrics_can_be_turned_off(emulator: DiscordEmulator, data_dir: Path) -> None:
    settings = make_settings(emulator, data_dir, metrics_listen="off")
    async with running_bot(settings, guild_ready_timeout=0.1) as bot:
        await asyncio.wait_for(bot.wait_until_ready(), timeout=15)
        assert bot.operator_endpoints is None


async def test_an_address_in_use_is_a_clear_settings_error(
    emulator: DiscordEmulator, cameo: CameoBot, tmp_path: Path
) -> None:
    assert cameo.operator_endpoints is not None
    taken = f"127.0.0.1:{cameo.operator_endpoints.port}"
    settings = make_settings(emulator, tmp_path / "other", metrics_listen=taken)
    with pytest.raises(SettingsError, match="CAMEO_METRICS_LISTEN"):
        async with running_bot(settings, guild_ready_timeout=0.1):
            pass


@pytest.mark.parametrize("given", ["9810", "localhost", "127.0.0.1:99999", ":80"])
def test_a_bad_metrics_address_is_refused(given: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        Settings(_env_file=None, data_dir=tmp_path, metrics_listen=given)  # type: ignore[call-arg]


def test_metrics_listen_defaults_to_loopback(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.metrics_host_port == ("127.0.0.1", 9810)
    off = Settings(_env_file=None, data_dir=tmp_path, metrics_listen="OFF")  # type: ignore[call-arg]
    assert off.metrics_host_port is None


async def test_cameo_health_reports_the_running_bot(cameo: CameoBot, tmp_path: Path) -> None:
    assert cameo.operator_endpoints is not None
    listen = f"127.0.0.1:{cameo.operator_endpoints.port}"
    status, out, _ = await run_cli(tmp_path, "health", CAMEO_METRICS_LISTEN=listen)
    assert status == 0
    assert "status: ok" in out
    assert "gateway_connected: True" in out


async def test_cameo_health_without_a_bot_fails_with_a_sentence(tmp_path: Path) -> None:
    status, _, err = await run_cli(tmp_path, "health", CAMEO_METRICS_LISTEN="127.0.0.1:9")
    assert status == 1
    assert "is the bot running?" in err
    assert "Traceback" not in err
    status, _, err = await run_cli(tmp_path, "health", CAMEO_METRICS_LISTEN="off")
    assert status == 2
    assert "no /healthz" in err


async def test_the_rest_budget_sets_this_processs_pacing(
    emulator: DiscordEmulator, data_dir: Path
) -> None:
    # Two processes sharing the bot's 50 requests a second get 25 each.
    settings = make_settings(emulator, data_dir, rest_budget=25)
    async with running_bot(settings, guild_ready_timeout=0.1) as bot:
        await asyncio.wait_for(bot.wait_until_ready(), timeout=15)
        scenes = bot.get_cog("Scenes")
        log = bot.get_cog("ModerationLog")
        assert scenes is not None
        assert log is not None
        delivery, log_pacer = scenes.delivery.pacer, log.pacer  # type: ignore[attr-defined]
        worst = delivery.rate + delivery.burst + log_pacer.rate + log_pacer.burst
        assert worst == pytest.approx(25 * 0.9)  # a tenth left for what nothing paces
        assert delivery.rate > 13


@pytest.mark.parametrize("given", ["4", "0", "-1", "lots"])
def test_a_rest_budget_below_five_a_second_is_refused(given: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rest_budget"):
        Settings(_env_file=None, data_dir=tmp_path, rest_budget=given)  # type: ignore[call-arg]
