import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import pytest

from storage import database, meta
from storage.database import (
    Database,
    Migration,
    SqliteDatabase,
    StorageError,
    load_migrations,
    open_database,
    run_sync,
)


async def test_a_new_database_is_migrated_to_the_latest_version(tmp_path: Path) -> None:
    async with open_database(tmp_path / "cameo.sqlite3") as db:
        assert await db.schema_version() == load_migrations()[-1].version
        async with db.read() as conn, conn.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
        async with db.read() as conn, conn.execute("PRAGMA foreign_keys") as cur:
            assert (await cur.fetchone())[0] == 1


async def test_reopening_keeps_data_and_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "cameo.sqlite3"
    async with open_database(path) as db:
        await meta.set_value(db, "greeting", "hello")
    async with open_database(path) as db:
        assert await meta.get_value(db, "greeting") == "hello"


async def test_the_data_directory_is_created(tmp_path: Path) -> None:
    async with open_database(tmp_path / "nested" / "dir" / "cameo.sqlite3"):
        pass
    assert (tmp_path / "nested" / "dir" / "cameo.sqlite3").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
async def test_an_unwritable_data_directory_is_a_clear_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(StorageError, match="cannot write to its data directory"):
        await SqliteDatabase.open(locked / "cameo.sqlite3")


async def test_a_data_directory_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    # Works as root too: nobody can create a directory where a file stands.
    (tmp_path / "data").write_text("not a directory")
    with pytest.raises(StorageError, match="CAMEO_DATA_DIR"):
        await SqliteDatabase.open(tmp_path / "data" / "cameo.sqlite3")


async def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "cameo.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE future (x)")
        conn.execute("PRAGMA user_version = 999")
    with pytest.raises(StorageError, match="newer version of Cameo"):
        await SqliteDatabase.open(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 999


async def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cameo.sqlite3"
    path.write_bytes(b"this is not sqlite, just some text that is long enough" * 20)
    with pytest.raises(StorageError, match="not a usable SQLite database"):
        await SqliteDatabase.open(path)


async def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    async with open_database(tmp_path / "cameo.sqlite3") as db:
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
                raise RuntimeError("boom")
        assert await meta.get_value(db, "k") is None


async def test_a_table_rebuild_that_would_break_a_key_changes_nothing(tmp_path: Path) -> None:
    async with open_database(tmp_path / "cameo.sqlite3") as db:
        latest = load_migrations()[-1].version
        # Keys are off while a rebuild runs; a picture of a job that does not exist must still
        # never get in.
        broken = Migration(
            latest + 1,
            "9999_broken.sql",
            "-- cameo: foreign keys off\n"
            f"INSERT INTO images VALUES ('{'c' * 64}', 'png', 1, 1, 1, 't');\n"
            "INSERT INTO job_images (job_id, position, image_sha256) "
            f"VALUES (999, 0, '{'c' * 64}');",
        )
        with pytest.raises(StorageError, match="pointing at nothing"):
            await db._migrate([*load_migrations(), broken])
        assert await db.schema_version() == latest

        def facts(conn: sqlite3.Connection) -> tuple[int, int, int]:
            images = conn.execute("SELECT count(*) FROM images").fetchone()[0]
            pictures = conn.execute("SELECT count(*) FROM job_images").fetchone()[0]
            return images, pictures, conn.execute("PRAGMA foreign_keys").fetchone()[0]

        assert await db.run_read(facts) == (0, 0, 1)


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))


def test_a_second_process_cannot_use_the_same_data_directory(tmp_path: Path) -> None:
    from storage.database import exclusive_data_dir

    with exclusive_data_dir(tmp_path), pytest.raises(StorageError, match="Another Cameo process"):
        # flock locks belong to open file descriptions: a second open behaves like another process.
        with exclusive_data_dir(tmp_path):
            pass
    with exclusive_data_dir(tmp_path):  # released when the first holder is done
        pass


async def test_cancelling_a_task_mid_transaction_never_leaves_the_connection_stuck(
    tmp_path: Path,
) -> None:
    import asyncio

    async with open_database(tmp_path / "cameo.sqlite3") as db:

        async def write(key: str) -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO meta (key, value) VALUES (?, 'v')", (key,))
                await asyncio.sleep(0.01)

        # Cancel at many points: during BEGIN, inside the body, during COMMIT.
        for attempt in range(40):
            task = asyncio.create_task(write(f"k{attempt}"))
            for _ in range(attempt % 8):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await write(f"after{attempt}")  # would fail if a transaction were left open
            assert await meta.get_value(db, f"after{attempt}") == "v"


async def test_one_step_transactions_commit_together_but_fail_alone(tmp_path: Path) -> None:
    async with open_database(tmp_path / "cameo.sqlite3") as db:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE tally (n INTEGER NOT NULL CHECK (n < 5))")

        def add(n: int, conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO tally (n) VALUES (?)", (n,))
            return n * 10

        outcomes = await asyncio.gather(
            *(db.run_transaction(partial(add, n)) for n in range(8)), return_exceptions=True
        )
        assert outcomes[:5] == [0, 10, 20, 30, 40]
        assert all(isinstance(o, sqlite3.IntegrityError) for o in outcomes[5:])
        async with db.read() as conn:
            rows = await run_sync(conn, lambda raw: raw.execute("SELECT n FROM tally").fetchall())
        assert sorted(row[0] for row in rows) == [0, 1, 2, 3, 4]


INSERT_NOTE = "INSERT INTO notes VALUES (randomblob(3000))"  # a page or two of the log each


@asynccontextmanager
async def writes_during_passes(
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    per_pass: int,
    in_the_lock: list[int] | None = None,
) -> AsyncIterator[tuple[Database, sqlite3.Connection]]:
    """A database with a notes table and an empty log, and the connection for background
    passes (run by hand); another connection writes `per_pass` notes across every pass: in
    step with the passes, not by timing. `in_the_lock` gets the log's length at each copy
    the bot's own connection makes."""
    monkeypatch.setattr(database, "CHECKPOINT_INTERVAL_SECONDS", 3600.0)  # passes run by hand
    async with open_database(path) as db:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE notes (body BLOB NOT NULL)")
        # The log file keeps the length of its longest log (the migrations'); start it empty.
        await db.run_read(lambda raw: raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
        background = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        other = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        real_checkpoint = database._checkpoint

        def checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
            if conn is not background:  # the bot's connection's, between transactions
                result = real_checkpoint(conn)
                if in_the_lock is not None:
                    in_the_lock.append(result[1])
                return result
            other.execute("BEGIN IMMEDIATE")
            for _ in range(per_pass):
                other.execute(INSERT_NOTE)
            try:
                return real_checkpoint(conn)
            finally:
                other.execute("COMMIT")

        monkeypatch.setattr(database, "_checkpoint", checkpoint)
        try:
            yield db, background
        finally:
            other.close()
            background.close()


async def test_the_log_starts_afresh_under_a_steady_stream_of_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under a steady stream of commands a write is under way whenever a background pass runs,
    # so no pass copies the last commit and SQLite never restarts the log by itself.
    monkeypatch.setattr(database, "CHECKPOINT_RESTART_PAGES", 50)
    path = tmp_path / "cameo.sqlite3"
    log_file = path.with_name(path.name + "-wal")
    async with writes_during_passes(path, monkeypatch, per_pass=1) as (db, background):
        page_size = await db.run_read(lambda raw: raw.execute("PRAGMA page_size").fetchone()[0])
        longest = 0
        for _ in range(300):
            await db.run_transaction(lambda raw: raw.execute(INSERT_NOTE))
            await db._checkpoint_in_background(background)
            longest = max(longest, log_file.stat().st_size // page_size)
        async with db.read() as conn, conn.execute("SELECT count(*) FROM notes") as cursor:
            assert (await cursor.fetchone())[0] >= 600  # nothing lost
    # Restarted, the log never holds much more than CHECKPOINT_RESTART_PAGES; without that,
    # it would hold every one of these writes.
    assert longest < 4 * 50


async def test_a_log_that_never_catches_up_is_copied_inside_the_lock_only_when_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Commands write more during every background pass than a short tail: copying the rest on
    # the bot's connection would hold everyone up for as long as that tail took to write, so
    # it waits until the log is CHECKPOINT_FORCE_PAGES long, and then does it anyway.
    monkeypatch.setattr(database, "CHECKPOINT_RESTART_PAGES", 20)
    monkeypatch.setattr(database, "CHECKPOINT_LEFT_PAGES", 2)
    monkeypatch.setattr(database, "CHECKPOINT_CATCH_UP_PASSES", 2)
    monkeypatch.setattr(database, "CHECKPOINT_FORCE_PAGES", 120)
    copied_in_the_lock: list[int] = []  # the log's length each time
    async with writes_during_passes(
        tmp_path / "cameo.sqlite3", monkeypatch, per_pass=3, in_the_lock=copied_in_the_lock
    ) as (db, background):
        for _ in range(60):
            await db.run_transaction(lambda raw: raw.execute(INSERT_NOTE))
            await db._checkpoint_in_background(background)
    assert copied_in_the_lock, "a long log is copied in the end"
    assert all(pages >= 120 for pages in copied_in_the_lock)
