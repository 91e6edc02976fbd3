"""Running tests on both database engines.

A test (or a fixture) that asks for `database_target` runs twice: once on a fresh SQLite file,
once on a fresh PostgreSQL database, copied from a template migrated once per session. The
PostgreSQL server is the one named by CAMEO_TEST_POSTGRES_URL (`.ci/run` starts one), else a
throwaway cluster these tests start and stop themselves (tests/postgres_cluster.py).

With no PostgreSQL server binaries on the machine the PostgreSQL half is skipped, loudly; when
CAMEO_REQUIRE_POSTGRES=1 (as in CI) it fails instead, so CI can never pass without it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import postgres_cluster

if TYPE_CHECKING:
    from bot.images.store import ImageStore
    from storage.database import Database

TEMPLATE = "cameo_template"
BACKENDS = ("sqlite", "postgresql")
# Read once at import: every test then clears CAMEO_* variables (tests/conftest.py).
SERVER_URL = os.environ.get("CAMEO_TEST_POSTGRES_URL")
REQUIRED = os.environ.get("CAMEO_REQUIRE_POSTGRES") == "1"


def _with_database(url: str, name: str) -> str:
    return f"{url.rsplit('/', 1)[0]}/{name}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server's maintenance database, on loopback."""
    if SERVER_URL:
        yield SERVER_URL
        return
    if postgres_cluster.server_binaries() is None:
        message = (
            "PostgreSQL 15+ is not installed here, so the PostgreSQL half of the storage, quota "
            "and queue tests cannot run (apt-get install postgresql)"
        )
        if REQUIRED:
            pytest.fail(message)
        print(f"\n*** SKIPPING: {message} ***\n")
        pytest.skip(message)
    url, directory = postgres_cluster.start()
    try:
        yield url
    finally:
        postgres_cluster.stop(directory)


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> str:
    """A database migrated to the current schema, which each test's database copies."""
    import asyncpg

    from storage.database import open_database

    async def build() -> None:
        admin = await asyncpg.connect(postgres_server)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
            await admin.execute(f"CREATE DATABASE {TEMPLATE}")
        finally:
            await admin.close()
        async with open_database(_with_database(postgres_server, TEMPLATE)):
            pass

    # On a thread of its own: the first test to need it may be running inside an event loop.
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, build()).result()
    return TEMPLATE


async def fresh_postgres_database(server: str, template: str) -> str:
    import asyncpg

    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    finally:
        await admin.close()
    return _with_database(server, name)


async def drop_postgres_database(server: str, url: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture(params=BACKENDS)
async def database_target(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str | Path]:
    """Where a test's database is: an SQLite file, or a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        yield tmp_path / "cameo.sqlite3"
        return
    server = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("postgres_template")
    url = await fresh_postgres_database(server, template)
    try:
        yield url
    finally:
        await drop_postgres_database(server, url)


@pytest.fixture
async def postgres_url(postgres_server: str, postgres_template: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database at the current schema (for tests about PostgreSQL alone)."""
    url = await fresh_postgres_database(postgres_server, postgres_template)
    yield url
    await drop_postgres_database(postgres_server, url)


@pytest.fixture
async def empty_postgres_url(postgres_server: str) -> AsyncIterator[str]:
    """A PostgreSQL database with nothing in it yet, not even the schema."""
    url = await fresh_postgres_database(postgres_server, "template0")
    yield url
    await drop_postgres_database(postgres_server, url)


async def let_grace_pass(store: ImageStore) -> int:
    """What 15 minutes do to the pictures a shared store let go of (PostgreSQL): their files
    are deleted, unless a row names them again. Nothing waits on SQLite. How many went."""
    if not store.shared:
        return 0
    await age_releases(store.db)
    return await store.purge()


async def age_releases(db: Database, released_at: str = "2000-01-01T00:00:00Z") -> None:
    """Set back when every picture waiting to be deleted was let go of."""
    await db.run_transaction(
        lambda conn: conn.execute("UPDATE image_releases SET released_at = ?", (released_at,))
    )
