"""Cameo as several real processes (`python -m bot run --role …`) on one PostgreSQL database,
against the loopback Discord emulator and the fake image services of the test process: what
the multi-process test and bench/scale.py both start."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.discord.emulator import DiscordEmulator
from tests.fakes import FakeApiframe
from tests.fakes.base import FakeService

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def home_shard_count(emulator: DiscordEmulator) -> int:
    """The smallest shard count (2 or more) that puts the emulator's server on a shard other
    than 0, which also carries the direct messages: so both gateway processes have work."""
    for count in range(2, 9):
        if (emulator.guild.id >> 22) % count != 0:
            return count
    raise AssertionError("no shard count from 2 to 8 puts the server off shard 0")


@dataclass
class Process:
    name: str
    role: str
    process: asyncio.subprocess.Process
    health_port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def health(self) -> dict[str, object] | None:
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return dict(json.loads(answer.read()))
        except urllib.error.HTTPError as refused:
            return dict(json.loads(refused.read()))
        except (OSError, ValueError):
            return None


@dataclass
class Cluster:
    """Gateway and worker processes, started and stopped together."""

    environment: dict[str, str]
    folder: Path
    processes: list[Process] = field(default_factory=list)

    async def start(
        self, name: str, role: str, *arguments: str, rest_budget: float | None = None
    ) -> Process:
        health_port = free_port()
        data_dir = self.folder / name
        data_dir.mkdir(parents=True, exist_ok=True)
        log = self.folder / f"{name}.log"
        environment = {
            **self.environment,
            "CAMEO_DATA_DIR": str(data_dir),
            "CAMEO_METRICS_LISTEN": f"127.0.0.1:{health_port}",
        }
        if rest_budget is not None:
            environment["CAMEO_REST_BUDGET"] = str(rest_budget)
        with log.open("wb") as output:
            started = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", "--role", role, *arguments,
                cwd=ROOT, env=environment, stdout=output, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        found = Process(name, role, started, health_port, log)
        self.processes.append(found)
        return found

    async def until_healthy(self, process: Process, timeout: float = 60) -> None:
        async def healthy() -> None:
            while True:
                if process.process.returncode is not None:
                    raise AssertionError(f"{process.name} exited: {process.log.read_text()}")
                answer = await asyncio.to_thread(process.health)
                if answer is not None and answer.get("status") == "ok":
                    return
                await asyncio.sleep(0.2)

        await asyncio.wait_for(healthy(), timeout)

    def kill(self, process: Process) -> None:
        """kill -9: no clean stop, its leases stay in the table."""
        os.kill(process.pid, signal.SIGKILL)

    async def stop(self) -> None:
        for process in self.processes:
            if process.process.returncode is None:
                process.process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.wait_for(process.process.wait(), 20)
            except TimeoutError:
                process.process.kill()
                await process.process.wait()


def cluster_environment(
    emulator: DiscordEmulator,
    service: FakeService,
    database_url: str | None,
    images: Path,
    *,
    lease_seconds: float = 3,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Settings every process gets: the emulator, one image service (Apiframe for the tests:
    asynchronous, so a job taken over resumes polling), one database (None: each process's
    own SQLite file) and one image folder. Give each its share of Discord's global REST limit
    when starting it (most to the workers: they post)."""
    provider = "apiframe" if isinstance(service, FakeApiframe) else "segmind"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("CAMEO_")}
    environment.update(
        {
            "PYTHONPATH": str(ROOT),
            "CAMEO_DISCORD_TOKEN": emulator.bot_token,
            "CAMEO_DISCORD_API_BASE": emulator.api_base,
            "CAMEO_DISCORD_GATEWAY": emulator.gateway_url,
            "CAMEO_IMAGE_STORE": str(images),
            "CAMEO_PROVIDERS": provider,
            f"CAMEO_{provider.upper()}_API_KEY": service.api_key,
            f"CAMEO_{provider.upper()}_BASE_URL": service.base_url,
            "CAMEO_PROVIDER_POLL_SECONDS": "0.05",
            "CAMEO_SAFETY_CHECK": "false",
            "CAMEO_JOB_LEASE_SECONDS": str(lease_seconds),
            "CAMEO_LOG_LEVEL": "INFO",
        }
    )
    if database_url is not None:
        environment["CAMEO_DATABASE_URL"] = database_url
    environment.update(extra or {})
    return environment


@contextlib.asynccontextmanager
async def running_cluster(environment: dict[str, str], folder: Path) -> AsyncIterator[Cluster]:
    cluster = Cluster(environment, folder)
    try:
        yield cluster
    finally:
        await cluster.stop()
