"""The SQLite connection: opened once per process, migrated at start, shared by repositories."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import fcntl
import logging
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union

import aiosqlite

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# A migration whose first line is this is applied with foreign keys off: SQLite rebuilds a table
# to change a column's constraints, and dropping the old table must not cascade to the rows
# that reference it. The whole database's keys are checked before it commits.
_FOREIGN_KEYS_OFF = "-- cameo: foreign keys off"


if TYPE_CHECKING:
    from storage.postgres import PostgresConnection

# What repositories receive inside a transaction; the domain names it without importing aiosqlite.
Connection = Union[aiosqlite.Connection, "PostgresConnection"]
T = TypeVar("T")
# At most this many one-step transactions share a commit.
GROUP_COMMIT_LIMIT = 64
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


class WaitTimedLock(asyncio.Lock):
    """The connection's lock, telling `on_wait` (when set: the metrics) how long each taker
    waited for it. Storage knows nothing of what is done with the figure."""

    on_wait: Callable[[float], None] | None = None

    async def acquire(self) -> Literal[True]:
        if self.on_wait is None:
            return await super().acquire()
        started = time.perf_counter()
        await super().acquire()
        self.on_wait(time.perf_counter() - started)
        return True


class StorageError(Exception):
    """The database cannot be used as it is; the message tells the operator what to do."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def rebuilds_tables(self) -> bool:
        return self.sql.startswith(_FOREIGN_KEYS_OFF)


def load_migrations() -> list[Migration]:
    """Return the numbered migrations shipped in storage/migrations, in order."""
    migrations = []
    for entry in resources.files("storage").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            migrations.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    migrations.sort(key=lambda m: m.version)
    expected = list(range(1, len(migrations) + 1))
    if [m.version for m in migrations] != expected:
        raise StorageError("Migrations must be numbered 0001, 0002, … without gaps.")
    return migrations


class Database(abc.ABC):
    """What every part of Cameo uses of its database, whichever engine holds it.

    Repository functions are plain functions of one connection with no await inside them;
    `run_transaction` and `transaction()` + `run_sync` run them atomically, `run_read` and
    `read()` run reads that never see another task's half-finished transaction. On SQLite
    they get the sqlite3 connection; on PostgreSQL an adapter with the same face
    (storage/postgres.py), so the repositories are written once.
    """

    backend: str
    # Where the data is, for the operator (a file path, or a database URL without password).
    location: str
    # What `connect` opens again (another connection to the same data, as another process).
    target: str | Path

    @classmethod
    async def connect(cls, target: str | Path) -> Database:
        """Open the database named by `target`: a `postgresql://` URL, or an SQLite file."""
        if isinstance(target, str) and target.startswith(("postgresql://", "postgres://")):  # noqa: ASYNC240 (a URL)
            from storage.postgres import PostgresDatabase  # asyncpg only when it is used

            return await PostgresDatabase.open(target)
        return await SqliteDatabase.open(Path(target))

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def schema_version(self) -> int: ...

    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractAsyncContextManager[Connection]:
        """Run statements atomically; every other writer, in any process, waits meanwhile."""

    @abc.abstractmethod
    def read(self) -> contextlib.AbstractAsyncContextManager[Connection]: ...

    def __init__(self) -> None:
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def run_transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` atomically on the database thread, with no await inside it.

        For short, hot read-check-write units such as a credit reservation. Calls that arrive
        together share one transaction and one hop to the database thread (group
        commit), each inside its own savepoint: a work that raises is rolled back alone and
        its caller gets the exception; the others commit. If the caller is cancelled while
        waiting, its work may still be committed.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((work, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[:GROUP_COMMIT_LIMIT]
            del self._pending[:GROUP_COMMIT_LIMIT]
            works = [work for work, _ in batch]
            try:
                outcomes = await self._run_group(works)
            except BaseException as exc:  # BEGIN or COMMIT failed: nothing in the batch landed
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, future), (value, error) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(value)

    @abc.abstractmethod
    async def _run_group(
        self, works: list[Callable[[sqlite3.Connection], object]]
    ) -> list[tuple[object, Exception | None]]:
        """Run `works` in one transaction, each in a savepoint (`_grouped`); their outcomes."""

    @abc.abstractmethod
    async def run_read(self, work: Callable[[sqlite3.Connection], T]) -> T: ...

    @abc.abstractmethod
    def report_lock_waits(self, on_wait: Callable[[float], None] | None) -> None: ...


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


async def run_sync(conn: Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run `work` with the underlying connection on its own thread, as one step (inside
    `transaction()` it joins that transaction). There is no await between its statements, so
    nothing can interleave with them.

    aiosqlite has no public call for this; `_execute` is how its own methods reach the thread,
    and the locked dependency pins it (tests/storage cover it).
    """
    if not isinstance(conn, aiosqlite.Connection):
        return await conn.run(work)
    return await conn._execute(work, conn._conn)  # type: ignore[no-untyped-call,no-any-return]


def _checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """A PASSIVE checkpoint: (1 if it was blocked, pages in the log, pages copied so far)."""
    busy, pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(busy), int(pages), int(copied)


def _grouped(
    works: list[Callable[[sqlite3.Connection], object]], raw: sqlite3.Connection
) -> list[tuple[object, Exception | None]]:
    """Run each work in its own savepoint of one transaction; report each outcome."""
    outcomes: list[tuple[object, Exception | None]] = []
    raw.execute("BEGIN IMMEDIATE")
    try:
        for work in works:
            raw.execute("SAVEPOINT work")
            try:
                value = work(raw)
            except Exception as error:
                raw.execute("ROLLBACK TO work")
                raw.execute("RELEASE work")
                outcomes.append((None, error))
            else:
                raw.execute("RELEASE work")
                outcomes.append((value, None))
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    return outcomes


async def _finish(
    operation: Awaitable[T], on_cancel: Callable[[], Awaitable[None]] | None = None
) -> T:
    """Await `operation` to its end even if this task is cancelled meanwhile; then re-raise the
    cancellation (after `on_cancel`, which undoes what the operation did)."""
    future = asyncio.ensure_future(operation)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await future
        if on_cancel is not None:
            await asyncio.shield(on_cancel())
        raise


def _ensure_writable_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".cameo-write-test"
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


@asynccontextmanager
async def open_database(target: str | Path) -> AsyncIterator[Database]:
    """Open the database (an SQLite file, or a `postgresql://` URL) for the lifetime of the
    block and close it cleanly afterwards."""
    db = await Database.connect(target)
    try:
        yield db
    finally:
        await db.close()
