"""`/healthz` and `/metrics` for operators, on CAMEO_METRICS_LISTEN (loopback by default).

`/healthz` answers 200 when this process is ready (the bot is connected to the gateway and has
its guilds) and its database answers, else 503, with each check in JSON, so a load balancer or
an orchestrator can restart a process that is stuck. `/metrics` is Prometheus's text format:
bot/observability/metrics.py says what is in it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.net.serving import serve
from bot.observability import metrics
from storage.database import Database
from storage.metrics import Snapshot, snapshot

log = logging.getLogger(__name__)

# A scrape or a health check that waits longer than this for the database reports it down.
DATABASE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Health:
    """How the process is doing, asked fresh on every request."""

    ready: Callable[[], bool]  # the bot has connected and received its guilds (a worker: runs jobs)
    # Its gateway connection is open now; None for a worker, which has none.
    gateway_connected: Callable[[], bool] | None


class OperatorEndpoints:
    """The small HTTP server behind /healthz and /metrics."""

    def __init__(self, db: Database, health: Health, host: str, port: int) -> None:
        self._db = db
        self._health = health
        self._host = host
        self._port = port
        self.port: int | None = None  # the bound port, once started (port 0 picks one)
        self._runner: web.AppRunner | None = None
        self._ledger_cursor: int | None = None
        self._scrape = asyncio.Lock()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner, self.port = await serve(app, self._host, self._port)
        log.info("Serving /healthz and /metrics on %s:%s", self._host, self.port)
        # Ledger movements count from now.
        await self._read_database()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        database = await self._database_answers()
        checks = {"ready": self._health.ready()}
        if self._health.gateway_connected is not None:
            checks["gateway_connected"] = self._health.gateway_connected()
        checks["database"] = database
        healthy = all(checks.values())
        return web.json_response(
            {"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        if not await self._read_database():
            log.warning("The metrics scrape could not read the database in time")
        return web.Response(
            body=generate_latest(metrics.REGISTRY),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    async def _database_answers(self) -> bool:
        return await _within(self._db.run_read(lambda conn: conn.execute("SELECT 1").fetchone()))

    async def _read_database(self) -> bool:
        """Refresh the gauges read from the database; False if it did not answer in time."""
        async with self._scrape:  # two scrapes at once must not count the ledger twice
            figures: list[Snapshot] = []

            async def read() -> None:
                figures.append(
                    await self._db.run_read(lambda conn: snapshot(conn, self._ledger_cursor))
                )

            if not await _within(read()):
                return False
            figures_now = figures[0]
            metrics.JOBS.clear()
            for state in ("queued", "running"):  # present even when nothing is waiting
                metrics.JOBS.labels(state=state, service="any").set(0)
            for (state, service), count in figures_now.jobs.items():
                metrics.JOBS.labels(state=state, service=service).set(count)
            metrics.CREDITS_HELD.set(figures_now.credits_held)
            for movement, credits in figures_now.ledger.items():
                metrics.CREDITS.labels(movement=movement).inc(max(0, credits))
            self._ledger_cursor = figures_now.ledger_cursor
            return True


async def _within(step: Awaitable[object]) -> bool:
    try:
        await asyncio.wait_for(step, timeout=DATABASE_TIMEOUT_SECONDS)
    except Exception:  # any failure means the database is not answering as it should
        return False
    return True
