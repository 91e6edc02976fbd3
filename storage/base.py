"""What every database engine gives Cameo: the `Database` face, migrations' files, and the
helpers the engines share. storage/database.py is SQLite's; storage/postgres.py PostgreSQL's."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import aiosqlite

if TYPE_CHECKING:
    from storage.locks import Lock

T = TypeVar("T")

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# A migration whose first line is this is applied with foreign keys off: SQLite rebuilds a table
# to change a column's constraints, and dropping the old table must not cascade to the rows
# that reference it. The whole database's keys are checked before it commits.
_FOREIGN_KEYS_OFF = "-- cameo: foreign keys off"


class RunsWork(Protocol):
    """A connection on which `run_sync` runs a repository function: besides SQLite's own,
    what PostgreSQL's transactions yield (storage/postgres.py)."""

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T: ...


# What repositories receive inside a transaction; the domain names it without importing aiosqlite.
Connection = aiosqlite.Connection | RunsWork
# At most this many one-step transactions share a commit.
GROUP_COMMIT_LIMIT = 64


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

    async def notify(self, channel: str, payload: str = "") -> None:  # noqa: B027 (SQLite: none)
        """Tell the other processes on this database something happened on `channel`
        (`payload`: what). Nothing to do on SQLite: there is no other process."""

    async def wait_turn(self, lock: Lock, bucket: int, hold_seconds: float) -> None:  # noqa: B027
        """Return once this process holds `lock` for `bucket` among every process on the
        database, and keep it `hold_seconds` (so the next holder comes at least that much
        later). Nothing to wait for on SQLite: there is no other process."""

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:  # noqa: B027
        """Have `callback(payload)` called whenever another process notifies `channel`
        (never, on SQLite)."""


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
