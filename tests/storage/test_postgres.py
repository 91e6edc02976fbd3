"""PostgreSQL's own parts: the statement rewriting, migrations, and the sqlite3-shaped adapter."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import pytest

from storage import meta
from storage.database import StorageError, connect, open_database, run_sync
from storage.dialect import to_postgres, undo_alone
from storage.locks import Lock
from storage.postgres import PostgresDatabase, load_postgres_migrations, redacted


def test_parameters_are_numbered_outside_literals_and_casts() -> None:
    statement = to_postgres("SELECT '?', ':x', \"a?\" FROM t WHERE a = ? AND b::text = ? -- ?")
    assert statement.sql == "SELECT '?', ':x', \"a?\" FROM t WHERE a = $1 AND b::text = $2 -- ?"
    assert statement.names is None
    named = to_postgres("SELECT 1 WHERE a = :user OR b = :scope OR c = :user AND d = 'it''s :x'")
    assert named.sql == "SELECT 1 WHERE a = $1 OR b = $2 OR c = $1 AND d = 'it''s :x'"
    assert named.names == ("user", "scope")


def test_sqlite_only_syntax_is_rewritten() -> None:
    assert to_postgres("INSERT OR IGNORE INTO t (a) VALUES (?)").sql == (
        "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING"
    )
    assert to_postgres("INSERT OR IGNORE INTO t (a) VALUES (?) RETURNING a").sql == (
        "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING RETURNING a"
    )
    assert (
        to_postgres(
            "SELECT 1 FROM jobs j INDEXED BY jobs_by_user "
            "CROSS JOIN job_images ji ON ji.job_id = j.id CROSS JOIN me"
        ).sql
        == "SELECT 1 FROM jobs j JOIN job_images ji ON ji.job_id = j.id CROSS JOIN me"
    )


def test_a_password_never_reaches_a_message() -> None:
    assert (
        redacted("postgresql://cameo:s3cret@db:5432/cameo")
        == "postgresql://cameo:***@db:5432/cameo"
    )
    assert redacted("postgresql://cameo@db/cameo") == "postgresql://cameo@db/cameo"


def test_the_baseline_then_every_later_number_makes_the_postgres_migrations() -> None:
    migrations = load_postgres_migrations()
    assert migrations[0].name.endswith("_baseline.sql")
    assert [m.version for m in migrations] == list(
        range(migrations[0].version, migrations[-1].version + 1)
    )


async def test_processes_starting_together_migrate_once(empty_postgres_url: str) -> None:
    latest = load_postgres_migrations()[-1].version
    opened = await asyncio.gather(*(connect(empty_postgres_url) for _ in range(3)))
    try:
        assert [await db.schema_version() for db in opened] == [latest] * 3
        # The same database for all: one id, which the image bucket's owner marker names.
        ids = {await meta.database_id(db) for db in opened}
        assert len(ids) == 1
    finally:
        for db in opened:
            await db.close()


async def test_a_database_from_a_newer_cameo_is_refused(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("UPDATE cameo_schema SET version = version + 1")
    finally:
        await conn.close()
    with pytest.raises(StorageError, match="newer version of Cameo"):
        await connect(postgres_url)


async def test_an_unreachable_server_is_an_operators_sentence(postgres_server: str) -> None:
    bad = "postgresql://cameo:s3cret@127.0.0.1:1/cameo"
    with pytest.raises(StorageError) as refused:
        await connect(bad)
    assert "CAMEO_DATABASE_URL" in str(refused.value)
    assert "s3cret" not in str(refused.value)


async def test_a_broken_constraint_reads_as_sqlites_and_spares_the_transaction(
    postgres_url: str,
) -> None:
    async with open_database(postgres_url) as db:
        assert isinstance(db, PostgresDatabase)

        def work(conn: sqlite3.Connection) -> str:
            conn.execute("INSERT INTO meta (key, value) VALUES ('a', '1')")
            try:
                with undo_alone(conn):
                    conn.execute("INSERT INTO meta (key, value) VALUES ('a', '2')")
            except sqlite3.IntegrityError as error:
                message = str(error)
            conn.execute("INSERT INTO meta (key, value) VALUES ('b', '3')")  # still usable
            return message

        assert await db.run_transaction(work) == "UNIQUE constraint failed: meta.key"
        rows = await db.run_read(
            lambda conn: conn.execute("SELECT key, value FROM meta WHERE key IN ('a', 'b')")
        )
        assert sorted(tuple(row) for row in rows) == [("a", "1"), ("b", "3")]


async def test_a_failed_or_cancelled_transaction_leaves_nothing_and_the_connection_usable(
    postgres_url: str,
) -> None:
    async with open_database(postgres_url) as db:
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await run_sync(conn, lambda raw: raw.execute("INSERT INTO meta VALUES ('x', '1')"))
                raise RuntimeError("the caller failed")

        started = asyncio.Event()

        async def slow() -> None:
            async with db.transaction() as conn:
                await run_sync(conn, lambda raw: raw.execute("INSERT INTO meta VALUES ('y', '1')"))
                started.set()
                await asyncio.sleep(10)

        task = asyncio.create_task(slow())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await db.run_transaction(lambda raw: raw.execute("INSERT INTO meta VALUES ('z', '1')"))
        keys = await db.run_read(
            lambda raw: [row[0] for row in raw.execute("SELECT key FROM meta WHERE key < 'zz'")]
        )
        assert "x" not in keys
        assert "y" not in keys
        assert "z" in keys


async def test_a_writer_waits_for_another_processes_writer(postgres_url: str) -> None:
    """The writers' advisory lock: a second connection's transaction starts only once the
    first has committed, and then sees its write."""
    async with open_database(postgres_url) as first, open_database(postgres_url) as second:
        order: list[str] = []
        holding = asyncio.Event()

        async def long_writer() -> None:
            async with first.transaction() as conn:
                await run_sync(conn, lambda raw: raw.execute("INSERT INTO meta VALUES ('n', '1')"))
                holding.set()
                await asyncio.sleep(0.3)
                order.append("first commits")

        def read_then_write(raw: sqlite3.Connection) -> str:
            value = raw.execute("SELECT value FROM meta WHERE key = 'n'").fetchone()[0]
            raw.execute("UPDATE meta SET value = ? WHERE key = 'n'", (str(int(value) + 1),))
            order.append("second writes")
            return str(value)

        writer = asyncio.create_task(long_writer())
        await holding.wait()
        seen = await second.run_transaction(read_then_write)
        await writer
        assert seen == "1"
        assert order == ["first commits", "second writes"]


async def test_a_turn_is_one_processes_at_a_time_for_as_long_as_it_is_held(
    postgres_url: str,
) -> None:
    """Gateway processes take turns to IDENTIFY per bucket through the database."""
    async with open_database(postgres_url) as first, open_database(postgres_url) as second:
        await first.wait_turn(Lock.IDENTIFY_BUCKET, 0, hold_seconds=0.6)
        other_bucket = asyncio.create_task(second.wait_turn(Lock.IDENTIFY_BUCKET, 1, 0.6))
        same_bucket = asyncio.create_task(second.wait_turn(Lock.IDENTIFY_BUCKET, 0, 0.6))
        await asyncio.wait_for(other_bucket, 5)  # another bucket: no wait
        await asyncio.sleep(0.2)
        assert not same_bucket.done()  # bucket 0 is the first process's for a while yet
        await asyncio.wait_for(same_bucket, 5)  # then it is the second's
