"""The SQLite connection: opened once per process, migrated at start, shared by repositories;
and `open_database`, which opens whichever engine the settings name (storage/postgres.py is
PostgreSQL's; storage/base.py what the two share, re-exported here for the callers)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from typing import TypeVar

import aiosqlite

from storage.base import (
    GROUP_COMMIT_LIMIT,
    Connection,
    Database,
    Migration,
    StorageError,
    WaitTimedLock,
    _finish,
    _grouped,
    load_migrations,
    run_sync,
)

__all__ = [
    "GROUP_COMMIT_LIMIT",
    "Connection",
    "Database",
    "Migration",
    "SqliteDatabase",
    "StorageError",
    "WaitTimedLock",
    "connect",
    "exclusive_data_dir",
    "load_migrations",
    "open_database",
    "run_sync",
]

T = TypeVar("T")

log = logging.getLogger(__name__)

# A checkpoint copies the write-ahead log into the database file and syncs it to disk: tens of
# milliseconds, which SQLite would otherwise spend inside whichever command's commit crossed
# its threshold. A connection of its own does it in the background this often (ten times as
# often while commands write a lot); SQLite's own checkpoint on the bot's connection is only a
# backstop, if the log ever grows this large (pages). A pass that finds nothing to copy costs
# microseconds; one every half second let a burst of deletes grow the log by 15,000 pages
# before the first pass saw it, and cross the backstop.
CHECKPOINT_INTERVAL_SECONDS = 0.1
CHECKPOINT_BACKSTOP_PAGES = 20_000
# SQLite starts the log afresh only when a write begins with all of it copied, and under a
# steady stream of commands the next write has begun before a background pass ends. So the log
# would grow to the backstop, and whichever commit crossed it would pay for the copy. Once the
# log is this long (pages), the bot's connection copies the last frames itself, between two
# transactions, so the next write starts it afresh. What is left for it is what commands wrote
# while the last background pass ran, so passes first run back to back (at most
# CHECKPOINT_CATCH_UP_PASSES) until two in a row find at most CHECKPOINT_LEFT_PAGES new pages.
CHECKPOINT_RESTART_PAGES = 1_000
CHECKPOINT_CATCH_UP_PASSES = 8
CHECKPOINT_LEFT_PAGES = 100
# If the passes never catch up, the bot's connection copies the rest anyway once the log is
# this long (pages), before SQLite's own backstop would, at a commit. Either way the copy ends
# with syncs, which on this kind of disk take 5-20 ms inside the lock whatever their size (1.5
# ms without them), so under a stream of heavy writes it is done as rarely as is safe.
CHECKPOINT_FORCE_PAGES = CHECKPOINT_BACKSTOP_PAGES * 3 // 4


class SqliteDatabase(Database):
    """One long-lived aiosqlite connection with serialised transactions.

    A single connection is shared by every task, so two tasks must never interleave statements
    inside one transaction: `transaction()` holds a lock for the whole BEGIN…COMMIT, and plain
    reads take the same lock so they never observe another task's uncommitted writes.
    """

    backend = "sqlite"

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._conn = connection
        super().__init__()
        self.location = str(path)
        self.target = path
        self._lock: asyncio.Lock = WaitTimedLock()
        self._checkpointer: asyncio.Task[None] | None = None
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> SqliteDatabase:
        """Open (creating if needed) and migrate the database at `path`."""
        _ensure_writable_dir(path.parent)
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(f"Cannot open the database {path}: {exc}.") from exc
        conn.row_factory = aiosqlite.Row
        db = cls(conn, path)
        try:
            await db._configure()
            await db._migrate(load_migrations())
        except BaseException:
            await conn.close()
            raise
        db._checkpointer = asyncio.create_task(db._checkpoint_periodically(), name="checkpoint")
        return db

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
        async with self._lock:
            await self._conn.close()

    async def _checkpoint_periodically(self) -> None:
        """Copy the write-ahead log into the database now and then, off the commands' path.

        PASSIVE never waits for the bot's connection: it copies what no reader still needs and
        leaves the rest for next time, while commands go on writing. While they write a lot,
        it comes back sooner.
        """
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        pause = CHECKPOINT_INTERVAL_SECONDS
        try:
            while True:
                await asyncio.sleep(pause)
                try:
                    writing = await self._checkpoint_in_background(conn)
                except sqlite3.Error as exc:
                    log.warning("A background checkpoint failed (%s); will retry", exc)
                    writing = False
                pause = CHECKPOINT_INTERVAL_SECONDS / (10 if writing else 1)
        finally:
            conn.close()

    async def _checkpoint_in_background(self, conn: sqlite3.Connection) -> bool:
        """One pass on the background connection `conn`; if the log is long, more passes and
        then the rest of the copy from the bot's own connection, between two transactions: no
        write is in flight then, so the copy completes and the next write starts the log
        afresh. Return whether the log was long (commands are writing a lot)."""
        # Finished even if cancelled meanwhile, so the connections are left idle.
        _, pages, _ = await _finish(asyncio.to_thread(_checkpoint, conn))
        # The log only gets this long when it has not been restarting: even when this pass
        # copied all it saw, a write that began meanwhile keeps the log going.
        if pages < CHECKPOINT_RESTART_PAGES:
            return False
        # Each pass copies what was written during the one before, so each is shorter. The
        # first short one usually copies all there is before anything else commits, and then
        # also syncs the database file, which holds every page copied since it was last synced:
        # the long part of a checkpoint. One more short pass after it usually leaves the bot's
        # connection only a few pages to copy and sync.
        short = 0
        for _ in range(CHECKPOINT_CATCH_UP_PASSES):
            _, latest, _ = await _finish(asyncio.to_thread(_checkpoint, conn))
            if latest < CHECKPOINT_RESTART_PAGES:
                return True  # it has started afresh meanwhile (or another checkpoint is busy)
            short = short + 1 if latest - pages <= CHECKPOINT_LEFT_PAGES else 0
            pages = latest
            if short == 2:
                break
        else:
            # Commands never let up long enough for the tail to be short: copying it inside
            # the lock would hold every command up for as long as it took to write. Come back
            # soon instead, unless the log is heading for the backstop, which costs more.
            if pages < CHECKPOINT_FORCE_PAGES:
                return True
        async with self._lock:
            await _finish(run_sync(self._conn, _checkpoint))
        return True

    async def _configure(self) -> None:
        try:
            # WAL lets readers (and `sqlite3` in an operator's shell) work while the bot writes.
            await self._conn.execute("PRAGMA journal_mode = WAL")
            await self._conn.execute("PRAGMA foreign_keys = ON")
            await self._conn.execute("PRAGMA synchronous = NORMAL")
            await self._conn.execute("PRAGMA busy_timeout = 5000")
            await self._conn.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_BACKSTOP_PAGES}")
        except sqlite3.DatabaseError as exc:
            raise StorageError(
                f"{self.path} is not a usable SQLite database ({exc}). Point CAMEO_DATA_DIR at the "
                "right directory, or restore the file from a backup."
            ) from exc

    async def schema_version(self) -> int:
        async with self._conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self, migrations: list[Migration]) -> None:
        current = await self.schema_version()
        latest = migrations[-1].version if migrations else 0
        if current > latest:
            raise StorageError(
                f"The database {self.path} was written by a newer version of Cameo (schema "
                f"{current}; this version knows up to {latest}). Upgrade Cameo, or restore a "
                "backup made before the upgrade."
            )
        for migration in migrations:
            if migration.version <= current:
                continue
            log.info("Applying database migration %s", migration.name)
            try:
                if migration.rebuilds_tables:
                    await self._apply_rebuild(migration)
                else:
                    # One script, one transaction: the schema change and the version bump land
                    # together or not at all (user_version lives in the database header, which
                    # is transactional).
                    await self._conn.executescript(
                        f"BEGIN IMMEDIATE;\n{migration.sql}\n"
                        f"PRAGMA user_version = {migration.version};\nCOMMIT;"
                    )
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    await self._conn.rollback()
                raise StorageError(f"Migration {migration.name} failed: {exc}.") from exc

    async def _apply_rebuild(self, migration: Migration) -> None:
        """Apply a migration that rebuilds tables, as SQLite documents it: foreign keys off
        (the pragma only takes effect outside a transaction), the script and a check of every
        key in one transaction, keys back on whatever happened."""
        await self._conn.execute("PRAGMA foreign_keys = OFF")
        try:
            await self._conn.executescript(f"BEGIN IMMEDIATE;\n{migration.sql}")
            async with self._conn.execute("PRAGMA foreign_key_check") as cursor:
                broken = await cursor.fetchmany(5)
            if broken:
                await self._conn.rollback()
                rows = ", ".join(f"{row[0]} row {row[1]} → {row[2]}" for row in broken)
                raise StorageError(
                    f"Migration {migration.name} would leave rows pointing at nothing ({rows}); "
                    "nothing was changed. Restore the database from a backup and try again."
                )
            await self._conn.execute(f"PRAGMA user_version = {migration.version}")
            await self._conn.commit()
        finally:
            await self._conn.execute("PRAGMA foreign_keys = ON")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Run statements atomically: BEGIN IMMEDIATE … COMMIT, rolled back on any error.

        Tasks get cancelled (a member cancels a job, the bot shuts down). aiosqlite runs each
        statement in its own thread, which finishes even when the awaiting task is cancelled,
        so BEGIN, COMMIT and ROLLBACK are shielded: the connection is never left inside a
        transaction nobody owns.
        """
        async with self._lock:
            await _finish(self._conn.execute("BEGIN IMMEDIATE"), on_cancel=self._undo)
            try:
                yield self._conn
            except BaseException:
                await _finish(self._undo())
                raise
            try:
                await _finish(self._conn.commit())
            except BaseException:
                # A failed COMMIT (disk full, I/O error) leaves the transaction open, and every
                # later BEGIN would fail until a restart; roll it back so the next one can run.
                await _finish(self._undo())
                raise

    async def _undo(self) -> None:
        if self._conn.in_transaction:
            await self._conn.rollback()

    async def _run_group(
        self, works: list[Callable[[sqlite3.Connection], object]]
    ) -> list[tuple[object, Exception | None]]:
        async with self._lock:
            return await _finish(run_sync(self._conn, partial(_grouped, works)))

    def report_lock_waits(self, on_wait: Callable[[float], None] | None) -> None:
        """Have `on_wait(seconds)` called with each wait for the connection (None: stop)."""
        if isinstance(self._lock, WaitTimedLock):
            self._lock.on_wait = on_wait

    async def run_read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run reads as one step on the database thread, never inside another task's
        half-finished transaction."""
        async with self._lock:
            return await run_sync(self._conn, work)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """Run reads that must not see another task's half-finished transaction."""
        async with self._lock:
            yield self._conn


def _checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """A PASSIVE checkpoint: (1 if it was blocked, pages in the log, pages copied so far)."""
    busy, pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(busy), int(pages), int(copied)


def _ensure_writable_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # A name of this process's own: two processes opening one database at once (a CLI next
        # to the bot, the quota tests' second process) must not remove each other's probe.
        probe = directory / f".cameo-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StorageError(
            f"Cameo cannot write to its data directory {directory} ({exc.strerror or exc}). "
            "Set CAMEO_DATA_DIR to a directory the bot's user can write to."
        ) from exc


@contextmanager
def exclusive_data_dir(
    directory: Path, *, what: str = "data directory", setting: str = "CAMEO_DATA_DIR"
) -> Iterator[None]:
    """Hold an exclusive lock on the data directory (or another folder only this process may
    use, such as an image folder outside it) for the life of the process.

    Two bots sharing one directory would each sweep the other's half-written images and race
    on the database; the second one is refused with a clear message instead.
    """
    _ensure_writable_dir(directory)
    handle = os.open(directory / ".cameo.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StorageError(
                f"Another Cameo process is already using the {what} {directory}. Stop it "
                f"first, or give this one its own {setting}."
            ) from None
        yield
    finally:
        os.close(handle)  # closing the descriptor releases the lock


async def connect(target: str | Path) -> Database:
    """Open the database named by `target`: a `postgresql://` URL, or an SQLite file."""
    if isinstance(target, str) and target.startswith(("postgresql://", "postgres://")):  # noqa: ASYNC240 (a URL)
        from storage.postgres import PostgresDatabase  # asyncpg only when it is used

        return await PostgresDatabase.open(target)
    return await SqliteDatabase.open(Path(target))


@asynccontextmanager
async def open_database(target: str | Path) -> AsyncIterator[Database]:
    """Open the database (an SQLite file, or a `postgresql://` URL) for the lifetime of the
    block and close it cleanly afterwards."""
    db = await connect(target)
    try:
        yield db
    finally:
        await db.close()
