"""/healthz reports each check, and says 503 when any fails, so an orchestrator can act."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.observability.server import Health, OperatorEndpoints
from storage.database import Database, SqliteDatabase


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await SqliteDatabase.open(tmp_path / "cameo.sqlite3")
    yield database
    await database.close()


async def healthz(endpoints: OperatorEndpoints) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.get(f"http://127.0.0.1:{endpoints.port}/healthz")


@pytest.mark.parametrize(("ready", "connected"), [(False, False), (True, False), (False, True)])
async def test_a_process_not_connected_or_not_ready_is_unavailable(
    db: Database, ready: bool, connected: bool
) -> None:
    endpoints = OperatorEndpoints(db, Health(lambda: ready, lambda: connected), "127.0.0.1", 0)
    await endpoints.start()
    try:
        response = await healthz(endpoints)
    finally:
        await endpoints.stop()
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "ready": ready,
        "gateway_connected": connected,
        "database": True,
    }


async def test_a_database_that_does_not_answer_is_unavailable(tmp_path: Path) -> None:
    db = await SqliteDatabase.open(tmp_path / "cameo.sqlite3")
    endpoints = OperatorEndpoints(db, Health(lambda: True, lambda: True), "127.0.0.1", 0)
    await endpoints.start()
    await db.close()
    try:
        response = await healthz(endpoints)
    finally:
        await endpoints.stop()
    assert response.status_code == 503
    assert response.json()["database"] is False
