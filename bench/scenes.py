"""Scenes under load: the real bot, the loopback Discord emulator and an instant fake service.

Prints JSON. Run: .venv/bin/python bench/scenes.py   (or `make bench`)

Each scenario runs in its own process, so its peak memory is its own:
- `steady`: 200 single-image scenes from 50 members in 25 channels, arriving together over
  about 20 s (10 a second). Reports acknowledgement latency, the bot's overhead per scene (end
  to end minus the time inside the image service), Discord REST calls per scene besides the
  interaction response, event-loop lag, peak memory and 429s. Then runs `steady_baseline` and
  reports its overhead beside Cameo's, and the ratio of the two; and the same scenes with
  Cameo's age-restricted check off (CAMEO_SAFETY_CHECK=false), so what the check costs each
  picture shows apart from the rest.
- `steady_baseline`: the same scenes against a bare discord.py bot instead of Cameo, making
  the same three Discord calls per scene as Cameo's delivery (the card as the interaction's
  answer, a thread from the card, the picture posted in the thread) around the same call to
  the same fake service: the floor that the emulator, discord.py and this machine set.
- `burst`: the same 200 scenes sent at the same instant. Acknowledgements must stay fast; the
  results then drain at the pace Discord's global and per-channel limits allow.
- `in_flight`: 1,000 scenes from 50 members against a service that never finishes while
  measured, so every job is in flight (8 generating, the rest queued with cards showing).
- `burst_5000`: 5,000 scenes from 50 members in 25 channels sent at the same instant, against a
  service that never finishes (as `in_flight`), with the emulator in a process of its own.
  Reports how fast every scene is acknowledged and how many within Discord's 3 seconds (the
  emulator enforces the rule too); it does not wait for the results.

Cameo runs in its own process with the production wiring (as `cameo run` would), and so does
the baseline, so their loop lag and peak memory are their own; the emulator and the fake service
share the bench's process, as Discord and the image service would be elsewhere, except in
`burst_5000`, where the emulator's own work for 5,000 interactions gets a process (and a core)
of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import logging
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import discord
import httpx
from discord import app_commands

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import running_bot
from bot.client.endpoints import discord_endpoints
from bot.providers.request import ASPECT_RATIOS, PROMPT_MAX, SEED_MAX
from bot.settings import Settings
from tests.discord.emulator import DiscordEmulator
from tests.discord.interactions import InteractionHandle
from tests.fakes import FakeSegmind
from tests.imagefactory import png

MEMBERS = 50
CHANNELS = 25
READY_LINE = "cameo ready"
BASELINE = "steady_baseline"
BURST_5000 = 5000
ACK_DEADLINE = 3.0  # Discord's, which the emulator enforces


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


class LoopLag:
    """How late a 20 ms timer fires: how long the event loop was busy elsewhere."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + 0.02
            await asyncio.sleep(0.02)
            self.samples.append(max(0.0, loop.time() - expected))

    def __enter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def emulator_address(emulator: DiscordEmulator) -> dict[str, str]:
    """What the bot needs to find the emulator (printed by an emulator in its own process)."""
    return {
        "bot_token": emulator.bot_token,
        "api_base": emulator.api_base,
        "gateway_url": emulator.gateway_url,
        "guild_id": str(emulator.guild.id),
    }


def bot_environment(address: dict[str, str], fake: FakeSegmind, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CAMEO_DISCORD_TOKEN": address["bot_token"],
        "CAMEO_DATA_DIR": str(data_dir),
        "CAMEO_DISCORD_API_BASE": address["api_base"],
        "CAMEO_DISCORD_GATEWAY": address["gateway_url"],
        "CAMEO_DEV_GUILD_ID": address["guild_id"],
        "CAMEO_PROVIDERS": "segmind",
        "CAMEO_SEGMIND_API_KEY": fake.api_key,
        "CAMEO_SEGMIND_BASE_URL": fake.base_url,
        "CAMEO_LOG_LEVEL": "WARNING",
        # The benchmark measures the queue, not the quota rules: nobody runs out.
        "CAMEO_DAILY_CREDITS": "1000000",
    }


async def start_bot(role: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    """Start this file as the bot's process (`--bot`, or `--baseline`) and wait until it says
    it is ready."""
    bot = await asyncio.create_subprocess_exec(
        sys.executable, __file__, role, env=env, stdout=asyncio.subprocess.PIPE
    )
    assert bot.stdout is not None
    ready = await asyncio.wait_for(bot.stdout.readline(), timeout=30)
    if ready.decode().strip() != READY_LINE:
        bot.kill()
        await bot.wait()
        raise RuntimeError(f"the bot did not start: {ready!r}")
    return bot


async def run_bot() -> None:
    """The bot's own process: production wiring, plus a loop-lag probe and a timer around
    each call to the image service. Prints what it measured when told to stop."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    service_time: dict[str, float] = {}
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with running_bot(settings) as bot:
        router = bot.services.router
        generate = router.generate

        async def timed_generate(request: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await generate(request, **kwargs)
            finally:
                service_time[request.prompt] = time.perf_counter() - started

        router.generate = timed_generate  # type: ignore[method-assign]
        # Scenes arrive at a bot that has been up a while: its job runner started (on READY,
        # which discord.py holds back until no guild has arrived for two seconds).
        await bot.wait_until_ready()
        print(READY_LINE, flush=True)
        with LoopLag() as lag:
            await stop.wait()
        active = len(await _active(bot))
    print(
        json.dumps(
            {
                "loop_lag_p99_ms": ms(percentile(lag.samples, 0.99)) if lag.samples else 0.0,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "service_time": service_time,
                "active_jobs": active,
            }
        )
    )


class BaselineBot(discord.Client):
    """A bare discord.py bot with one command, `/scene`, that does for each scene what Cameo's
    delivery does on Discord, and nothing else: no database, no queue, no pacing, no card
    edits. Its overhead is what the emulator, discord.py and this machine cost by themselves."""

    def __init__(self, guild_id: int, service_url: str, api_key: str) -> None:
        # Cameo's intents and mention policy; discord.py's default connection pool.
        super().__init__(
            intents=discord.Intents(guilds=True), allowed_mentions=discord.AllowedMentions.none()
        )
        self.guild = discord.Object(guild_id)
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(baseline_scene, guild=self.guild)
        self.service = httpx.AsyncClient(timeout=httpx.Timeout(180.0, connect=5.0))
        self.service_url = service_url
        self.api_key = api_key
        self.reference = png(seed=1)  # Mira's picture, as the bench gives it to Cameo
        self.service_time: dict[str, float] = {}  # prompt -> seconds inside the service

    async def setup_hook(self) -> None:
        await self.tree.sync(guild=self.guild)

    async def close(self) -> None:
        await self.service.aclose()
        await super().close()

    async def generate(self, prompt: str) -> bytes:
        """One picture from the fake service, asked as Cameo's `segmind` provider asks it (the
        same route, fields and reference), and timed the same way: the whole call."""
        started = time.perf_counter()
        try:
            response = await self.service.post(
                f"{self.service_url}/v1/ideogram-character",
                headers={"x-api-key": self.api_key},
                data={
                    "prompt": prompt,
                    "style_type": "Auto",
                    "rendering_speed": "Default",
                    "magic_prompt_option": "Auto",
                    "seed": str(random.randint(100, 999_999)),
                    "resolution": "None",
                    "aspect_ratio": "1:1",
                },
                files={"character_reference_image": ("mira.png", self.reference, "image/png")},
            )
            response.raise_for_status()
            return response.content
        finally:
            self.service_time[prompt] = time.perf_counter() - started


def _buttons(*names: str) -> discord.ui.View:
    """Persistent buttons like Cameo's (its card has one, a single result five), so the
    messages have the same shape and discord.py keeps the same kind of view state."""
    view = discord.ui.View(timeout=None)
    for name in names:
        view.add_item(discord.ui.Button(label=name.title(), custom_id=f"{name}:{id(view)}"))
    return view


# Cameo's `/scene` options, so the command synced, and each interaction discord.py parses,
# look the same; the scenes set only `character` and `prompt`.
@app_commands.command(name="scene")
@app_commands.choices(
    aspect_ratio=[app_commands.Choice(name=ratio, value=ratio) for ratio in ASPECT_RATIOS]
)
async def baseline_scene(
    interaction: discord.Interaction[BaselineBot],
    character: str,
    prompt: app_commands.Range[str, 1, PROMPT_MAX],
    style: Literal["auto", "realistic", "fiction", "general", "design"] | None = None,
    aspect_ratio: str | None = None,
    speed: Literal["turbo", "default", "quality"] | None = None,
    count: app_commands.Range[int, 1, 4] | None = None,
    seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
    negative_prompt: app_commands.Range[str, 1, PROMPT_MAX] | None = None,
    magic_prompt: Literal["auto", "on", "off"] | None = None,
    image: discord.Attachment | None = None,
    mask: discord.Attachment | None = None,
    provider: str | None = None,
) -> None:
    """Picture a character in a scene; the images arrive in a thread."""
    bot = interaction.client
    # 1. The card, as the interaction's answer (Cameo's quick answer: no deferral).
    card = discord.Embed(title=f"{character} in a scene", description=prompt)
    card.add_field(name="Requested by", value=interaction.user.mention)
    card.add_field(name="Status", value="Generating…", inline=False)
    answer = await interaction.response.send_message(embed=card, view=_buttons("cancel"))
    message = answer.resource
    assert isinstance(message, discord.InteractionMessage)
    picture = await bot.generate(prompt)
    # 2. A public thread from the card, and 3. the picture in it: what Cameo's
    # `SceneDelivery.job_finished` does once the service has answered.
    thread = await message.create_thread(
        name=f"{character}: {prompt}"[:100], auto_archive_duration=1440
    )
    await thread.send(
        f"**{character}** for {interaction.user.mention}",
        file=discord.File(io.BytesIO(picture), f"{character.lower()}-1.png"),
        view=_buttons("reroll", "info", "delete", "favorite", "reference"),
    )


async def run_baseline() -> None:
    """The baseline's own process, as `run_bot` is Cameo's: the same environment, the same
    ready line, loop-lag probe and report."""
    env = os.environ
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    bot = BaselineBot(
        int(env["CAMEO_DEV_GUILD_ID"]), env["CAMEO_SEGMIND_BASE_URL"], env["CAMEO_SEGMIND_API_KEY"]
    )
    with discord_endpoints(env["CAMEO_DISCORD_API_BASE"], env["CAMEO_DISCORD_GATEWAY"]):
        async with bot:
            runner = asyncio.create_task(bot.start(env["CAMEO_DISCORD_TOKEN"]), name="baseline")
            await bot.wait_until_ready()
            print(READY_LINE, flush=True)
            with LoopLag() as lag:
                await stop.wait()
            await bot.close()
            await runner
    print(
        json.dumps(
            {
                "loop_lag_p99_ms": ms(percentile(lag.samples, 0.99)) if lag.samples else 0.0,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "service_time": bot.service_time,
            }
        )
    )


async def scenario(name: str) -> dict[str, Any]:
    if name == "burst_5000":
        return await burst_5000()
    result = await _measure(name)
    if name == "steady":
        # The floor, measured right after on the machine as it is now, so the ratio compares
        # like with like (absolute figures move between machines and runs; the ratio less).
        baseline = await _measure(BASELINE)
        result["baseline_overhead_p50_ms"] = baseline["overhead_p50_ms"]
        result["overhead_vs_baseline"] = round(
            result["overhead_p50_ms"] / baseline["overhead_p50_ms"], 2
        )
        result["baseline"] = baseline
        unchecked = await _measure(name, safety_check=False)
        result["overhead_p50_ms_without_safety_check"] = unchecked["overhead_p50_ms"]
        result["overhead_vs_baseline_without_safety_check"] = round(
            unchecked["overhead_p50_ms"] / baseline["overhead_p50_ms"], 2
        )
        result["without_safety_check"] = unchecked
    return result


async def _measure(name: str, *, safety_check: bool = True) -> dict[str, Any]:
    """Run one scenario against a fresh emulator, fake service and bot process (the bare
    baseline bot for `steady_baseline`, Cameo otherwise, its age-restricted check on unless
    `safety_check` is False)."""
    scenes = 1000 if name == "in_flight" else 200
    emulator = DiscordEmulator()
    await emulator.start()
    try:
        async with FakeSegmind(credits=1_000_000) as fake:
            if name == "in_flight":
                fake.latency = 3600.0  # nothing finishes while we measure
            with tempfile.TemporaryDirectory() as tmp:
                env = bot_environment(emulator_address(emulator), fake, Path(tmp) / "data")
                env["CAMEO_SAFETY_CHECK"] = "true" if safety_check else "false"
                bot = await start_bot("--baseline" if name == BASELINE else "--bot", env)
                try:
                    await emulator.wait_for_commands(timeout=30)
                    result = await _drive(name, scenes, emulator)
                finally:
                    bot.send_signal(signal.SIGTERM)
                    out, _ = await bot.communicate()
                inside = json.loads(out.decode().strip().splitlines()[-1])
    finally:
        await emulator.stop()
    return _report(name, scenes, emulator, fake, result, inside)


async def _drive(name: str, scenes: int, emulator: DiscordEmulator) -> dict[str, Any]:
    if name != BASELINE:  # the baseline has no characters to create: any name will do
        register = await emulator.slash(
            emulator.user("alice"), "character create", name="Mira", image=png(seed=1)
        )
        await register.response()
    channels = [emulator.add_text_channel(f"room-{n}") for n in range(CHANNELS)]
    members = [emulator.add_member(f"member{n}") for n in range(MEMBERS)]
    await asyncio.sleep(0.5)  # CHANNEL_CREATEs reach the bot
    log_start = len(emulator.request_log)
    handles: list[InteractionHandle] = []
    started = time.monotonic()

    async def ask(n: int) -> None:
        member = members[n % MEMBERS]
        channel = channels[n % CHANNELS]
        handles.append(
            await emulator.slash(
                member, "scene", channel=channel, character="Mira", prompt=f"scene {n}"
            )
        )

    if name in ("steady", BASELINE):
        rng = random.Random(7)
        tasks = []
        for n in range(scenes):
            tasks.append(asyncio.create_task(ask(n)))
            await asyncio.sleep(rng.expovariate(10.0))
        await asyncio.gather(*tasks)
    else:
        await asyncio.gather(*(ask(n) for n in range(scenes)))
    cards = [await handle.response(timeout=60) for handle in handles]
    if name != "in_flight":
        card_ids = {card.id for card in cards}
        await emulator._state.wait_until(
            lambda: (
                sum(
                    1
                    for thread in emulator.threads
                    if thread.id in card_ids and emulator.messages(thread)
                )
                == scenes
            ),
            600,
            "every result",
        )
        await asyncio.sleep(CARD_SETTLE)  # the last cards' final edits
    else:
        await asyncio.sleep(5)  # the queue settles; memory is what it holds now
    return {
        "handles": handles,
        "cards": cards,
        "log_start": log_start,
        "seconds": time.monotonic() - started,
    }


def _report(
    name: str,
    scenes: int,
    emulator: DiscordEmulator,
    fake: FakeSegmind,
    run: dict[str, Any],
    inside: dict[str, Any],
) -> dict[str, Any]:
    handles: list[InteractionHandle] = run["handles"]
    acks = [handle.ack_latency for handle in handles if handle.ack_latency is not None]
    result: dict[str, Any] = {
        "benchmark": f"scenes/{name}",
        "scenes": scenes,
        "members": MEMBERS,
        "channels": CHANNELS,
        "acknowledged": len(acks),
        "ack_p50_ms": ms(statistics.median(acks)),
        "ack_p99_ms": ms(percentile(acks, 0.99)),
        "ack_max_ms": ms(max(acks)),
        "bot_loop_lag_p99_ms": inside["loop_lag_p99_ms"],
        "bot_peak_rss_mb": inside["peak_rss_mb"],
        "rate_limited_429s": emulator.stats["rate_limited_429s"],
        "violations": len(emulator.violations),
        "seconds": round(run["seconds"], 1),
    }
    if name == "in_flight":
        result["jobs_in_flight"] = inside["active_jobs"]
        return result
    calls = [
        entry
        for entry in emulator.request_log[run["log_start"] :]
        if "/interactions/" not in entry.path and "/webhooks/" not in entry.path
    ]
    service_time: dict[str, float] = inside["service_time"]
    overhead = []
    for handle, card in zip(handles, run["cards"], strict=True):
        thread = next(t for t in emulator.threads if t.id == card.id)
        posted = emulator.messages(thread)[0]
        end_to_end = posted.created_at - handle.record.created_at
        prompt = handle.payload["data"]["options"][1]["value"]
        overhead.append(end_to_end - service_time.get(prompt, 0.0))
    result.update(
        {
            "overhead_p50_ms": ms(statistics.median(overhead)),
            "overhead_p99_ms": ms(percentile(overhead, 0.99)),
            "rest_calls_per_scene": round(len(calls) / scenes, 2),
            "service_p50_ms": ms(statistics.median(service_time.values())),
            "billed": fake.billed,
        }
    )
    return result


CARD_SETTLE = 8.0


async def burst_5000() -> dict[str, Any]:
    """The bench's side of `burst_5000`: the fake service here, the emulator and the bot each in
    a process of their own. The emulator's process sends the scenes and measures."""
    emulator = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--emulator",
        "burst_5000",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert emulator.stdin is not None
    assert emulator.stdout is not None
    try:
        address = json.loads(await asyncio.wait_for(emulator.stdout.readline(), timeout=30))
        async with FakeSegmind(credits=1_000_000) as fake:
            fake.latency = 3600.0  # nothing finishes while we measure
            with tempfile.TemporaryDirectory() as tmp:
                bot = await start_bot("--bot", bot_environment(address, fake, Path(tmp) / "data"))
                try:
                    emulator.stdin.write(b"go\n")  # the bot is ready: send the scenes
                    await emulator.stdin.drain()
                    line = await asyncio.wait_for(emulator.stdout.readline(), timeout=120)
                    measured = json.loads(line)
                    await asyncio.sleep(5)  # the queue settles; memory is what it holds now
                finally:
                    bot.send_signal(signal.SIGTERM)
                    out, _ = await bot.communicate()
                inside = json.loads(out.decode().strip().splitlines()[-1])
    finally:
        emulator.stdin.close()  # tells the emulator to stop
        await emulator.wait()
    return {
        "benchmark": "scenes/burst_5000",
        "scenes": BURST_5000,
        "members": MEMBERS,
        "channels": CHANNELS,
        **measured,
        "bot_loop_lag_p99_ms": inside["loop_lag_p99_ms"],
        "bot_peak_rss_mb": inside["peak_rss_mb"],
        "jobs_in_flight": inside["active_jobs"],
    }


async def run_emulator(name: str) -> None:
    """The emulator's own process (`burst_5000`): prints its address, sends the scenes when
    told the bot is ready, prints what it measured, and stops when its input closes."""
    assert name == "burst_5000"
    logging.getLogger("tests.discord").setLevel(logging.ERROR)  # counted, not printed
    emulator = DiscordEmulator()
    await emulator.start()
    try:
        print(json.dumps(emulator_address(emulator)), flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # "go"
        await emulator.wait_for_commands(timeout=30)
        print(json.dumps(await _drive_acks(emulator, BURST_5000)), flush=True)
        await asyncio.to_thread(sys.stdin.read)  # until the bench closes our input
    finally:
        await emulator.stop()


async def _drive_acks(emulator: DiscordEmulator, scenes: int) -> dict[str, Any]:
    """Send `scenes` scenes at one instant; wait until each is acknowledged or too late."""
    register = await emulator.slash(
        emulator.user("alice"), "character create", name="Mira", image=png(seed=1)
    )
    await register.response()
    channels = [emulator.add_text_channel(f"room-{n}") for n in range(CHANNELS)]
    members = [emulator.add_member(f"member{n}") for n in range(MEMBERS)]
    await asyncio.sleep(0.5)  # CHANNEL_CREATEs reach the bot
    # Every payload is built first, then all are sent at one instant.
    with emulator.at_once():
        handles = [
            await emulator.slash(
                members[n % MEMBERS],
                "scene",
                channel=channels[n % CHANNELS],
                character="Mira",
                prompt=f"scene {n}",
            )
            for n in range(scenes)
        ]
    settled = 0  # handles before this one are acknowledged or too late

    def all_settled() -> bool:
        nonlocal settled
        while settled < len(handles) and (
            handles[settled].ack_type is not None or handles[settled].record.timed_out
        ):
            settled += 1
        return settled == len(handles)

    with contextlib.suppress(TimeoutError):  # counted below
        await emulator._state.wait_until(all_settled, ACK_DEADLINE + 5.0, "every answer")
    acks = [handle.ack_latency for handle in handles if handle.ack_latency is not None]
    order = [handle.record.acked_at for handle in handles if handle.record.acked_at is not None]
    return {
        "acknowledged": len(acks),
        "acknowledged_within_3s": sum(1 for ack in acks if ack <= ACK_DEADLINE),
        "ack_p50_ms": ms(statistics.median(acks)) if acks else None,
        "ack_p99_ms": ms(percentile(acks, 0.99)) if acks else None,
        "ack_max_ms": ms(max(acks)) if acks else None,
        # Acknowledgements that went out after one for a later scene (0 in arrival order).
        "acked_out_of_order": sum(1 for a, b in itertools.pairwise(order) if b < a),
        "rate_limited_429s": emulator.stats["rate_limited_429s"],
        "violations": len(emulator.violations),
    }


async def _active(bot: Any) -> list[Any]:
    async with (
        bot.resources.db.read() as conn,
        conn.execute("SELECT id FROM jobs WHERE state IN ('queued', 'running')") as cursor,
    ):
        return list(await cursor.fetchall())


def main() -> None:
    if sys.argv[1:] == ["--bot"]:
        asyncio.run(run_bot())
        return
    if sys.argv[1:] == ["--baseline"]:
        asyncio.run(run_baseline())
        return
    if sys.argv[1:2] == ["--emulator"]:
        asyncio.run(run_emulator(sys.argv[2]))
        return
    if len(sys.argv) > 1:
        print(json.dumps(asyncio.run(scenario(sys.argv[1]))))
        return
    for name in ("steady", "burst", "in_flight", "burst_5000"):
        out = subprocess.run(
            [sys.executable, __file__, name], check=True, capture_output=True, text=True
        )
        print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
