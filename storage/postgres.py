"""PostgreSQL through asyncpg, behind the same `Database` face as SQLite.

Why repositories with a small dialect layer, not SQLAlchemy Core: every repository is already
a plain function of one connection, written in SQL both engines share and covered by tests;
SQLAlchemy would mean rewriting all of them (and its async layer runs them through greenlets)
to gain portability we use on two engines only. So the repositories stay as they are and get,
on PostgreSQL, an adapter with the part of the sqlite3 connection they use (`execute`,
`executemany`, cursors with `fetchone`/`fetchall`/`rowcount`), whose statements are rewritten
once by storage/dialect.py. The adapter runs the repository function on a thread of its own and
hands each statement to asyncpg on the event loop, so a function still has no await inside it
and nothing else of this process can interleave with it.

Consistency across processes: every write transaction first takes one advisory lock
(storage/locks.py) that it holds until it commits, so writers from every process run one at a
time, as they do on SQLite; a transaction's reads, all after the lock, see every earlier
commit (READ COMMITTED takes a snapshot per statement). A credit reservation's check and its
write, a job claim and a queue position are therefore never split, on one host or on ten.
Reads take no lock and never wait for writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storage import locks
from storage.base import (
    Database,
    Migration,
    StorageError,
    WaitTimedLock,
    _finish,
    _grouped,
    load_migrations,
)
from storage.dialect import to_postgres

log = logging.getLogger(__name__)
T = TypeVar("T")

_BEGIN_IMMEDIATE = re.compile(r"^\s*BEGIN\s+IMMEDIATE\s*;?\s*$", re.IGNORECASE)
_WRITE_LOCK = "SELECT pg_advisory_xact_lock({}, {})".format(*locks.key(locks.Lock.WRITE))
_POSTGRES_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# How long a connection may take to open, and any statement (waits for locks included).
CONNECT_TIMEOUT_SECONDS = 10.0
STATEMENT_TIMEOUT_SECONDS = 60.0
IDLE_IN_TRANSACTION_MS = 60_000
# How often a process waiting for its turn (`wait_turn`) asks again.
TURN_RETRY_SECONDS = 0.25


def redacted(url: str) -> str:
    """A database URL fit for logs and messages: the password replaced."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class Cursor:
    """The results of one statement, as a sqlite3 cursor shows them."""

    lastrowid = None  # PostgreSQL has none; repositories use RETURNING id

    def __init__(self, rows: list[asyncpg.Record], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    def fetchone(self) -> asyncpg.Record | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchmany(self, size: int = 1) -> list[asyncpg.Record]:
        rows = self._rows[self._next : self._next + size]
        self._next += len(rows)
        return rows

    def fetchall(self) -> list[asyncpg.Record]:
        rows = self._rows[self._next :]
        self._next = len(self._rows)
        return rows

    def __iter__(self) -> Iterator[asyncpg.Record]:
        return iter(self.fetchall())


class SyncConnection:
    """What a repository function gets on PostgreSQL: sqlite3's `execute` and friends, each
    statement run by asyncpg on the event loop while the function waits on its own thread.

    asyncpg's errors arrive as sqlite3's (a broken constraint as IntegrityError, anything
    else as OperationalError), so a repository catches the same exceptions on both engines.
    """

    def __init__(self, conn: asyncpg.Connection, loop: asyncio.AbstractEventLoop) -> None:
        self._conn = conn
        self._loop = loop
        self.in_transaction = False

    def _wait(self, operation: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(operation, self._loop).result()

    def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> Cursor:
        if _BEGIN_IMMEDIATE.match(sql):
            self._wait(self._conn.execute("BEGIN"))
            self.in_transaction = True
            self._wait(self._conn.execute(_WRITE_LOCK))
            return Cursor([], -1)
        statement = to_postgres(sql)
        if statement.names is not None:
            assert isinstance(parameters, dict)
            arguments = [parameters[name] for name in statement.names]
        else:
            arguments = list(parameters)
        try:
            rows, status, _ = self._wait(
                self._conn._execute(statement.sql, arguments, 0, None, return_status=True)
            )
        except asyncpg.IntegrityConstraintViolationError as error:
            raise sqlite3.IntegrityError(_sqlite_message(error)) from error
        except asyncpg.PostgresError as error:
            raise sqlite3.OperationalError(f"{type(error).__name__}: {error}") from error
        return Cursor(list(rows), _rowcount(status))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Cursor:
        count = 0
        for parameters in rows:
            count += max(self.execute(sql, parameters).rowcount, 0)
        return Cursor([], count)

    def commit(self) -> None:
        if self.in_transaction:
            self.in_transaction = False
            self._wait(self._conn.execute("COMMIT"))

    def rollback(self) -> None:
        if self.in_transaction:
            self.in_transaction = False
            self._wait(self._conn.execute("ROLLBACK"))


_KEY_COLUMNS = re.compile(r"^Key \((?P<columns>[^)]*)\)=")


def _sqlite_message(error: asyncpg.IntegrityConstraintViolationError) -> str:
    """The broken constraint as SQLite words it ("UNIQUE constraint failed: looks.character_id,
    looks.name_key"), which repositories read to tell a taken name from other failures."""
    table = getattr(error, "table_name", None) or "?"
    if isinstance(error, asyncpg.UniqueViolationError):
        found = _KEY_COLUMNS.match(getattr(error, "detail", None) or "")
        columns = found.group("columns").split(", ") if found else []
        return "UNIQUE constraint failed: " + ", ".join(f"{table}.{c}" for c in columns)
    if isinstance(error, asyncpg.NotNullViolationError):
        return f"NOT NULL constraint failed: {table}.{getattr(error, 'column_name', '?')}"
    if isinstance(error, asyncpg.ForeignKeyViolationError):
        return "FOREIGN KEY constraint failed"
    if isinstance(error, asyncpg.CheckViolationError):
        return f"CHECK constraint failed: {getattr(error, 'constraint_name', '?')}"
    return str(error)


def _rowcount(status: bytes | str) -> int:
    """sqlite3's rowcount from a command tag: rows changed, -1 for a SELECT."""
    text = status.decode() if isinstance(status, bytes) else status
    verb, _, rest = text.partition(" ")
    if verb in {"INSERT", "UPDATE", "DELETE", "MERGE"}:
        return int(rest.split()[-1])
    return -1


class PostgresConnection:
    """What `transaction()` and `read()` yield on PostgreSQL: `run_sync(conn, work)` runs a
    repository function on the database's thread, inside the transaction if there is one."""

    def __init__(self, database: PostgresDatabase, sync: SyncConnection) -> None:
        self._database = database
        self._sync = sync

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._database._on_thread(work, self._sync)


class PostgresDatabase(Database):
    """One asyncpg connection per process, used one transaction at a time like SQLite's (so
    that a process's tasks never interleave inside one), with the writers of every process
    taking turns through an advisory lock (see the module's docstring)."""

    backend = "postgresql"

    def __init__(self, conn: asyncpg.Connection, url: str) -> None:
        super().__init__()
        self._conn = conn
        self.location = redacted(url)
        self.target = self.url = url
        self._lock: asyncio.Lock = WaitTimedLock()
        # Repository functions run here: one at a time, like statements on the connection.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cameo-postgres")
        self._sync = SyncConnection(conn, asyncio.get_running_loop())
        self._listener: asyncpg.Connection | None = None
        self._aside_lock = asyncio.Lock()
        self._releases: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(cls, url: str) -> PostgresDatabase:
        """Connect to the database at `url` and migrate it."""
        try:
            conn = await connect(url)
        except (TimeoutError, OSError, asyncpg.PostgresError) as error:
            raise StorageError(
                f"Cannot connect to the PostgreSQL database {redacted(url)} ({error}). Check "
                "CAMEO_DATABASE_URL and that the server is running."
            ) from error
        db = cls(conn, url)
        try:
            _check_version(conn, url)
            await db._migrate(load_postgres_migrations())
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        for release in list(self._releases):
            release.cancel()
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=5)
        async with self._lock:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=5)
        self._thread.shutdown(wait=False)

    async def _on_thread(self, work: Callable[[sqlite3.Connection], T], sync: SyncConnection) -> T:
        loop = asyncio.get_running_loop()
        # The function sees the sqlite3 face (see SyncConnection).
        call = partial(work, sync)  # type: ignore[arg-type]
        return await _finish(loop.run_in_executor(self._thread, call))

    async def schema_version(self) -> int:
        async with self._lock:
            return await _schema_version(self._conn)

    async def _migrate(self, migrations: list[Migration]) -> None:
        async with self._conn.transaction():
            await self._conn.execute(
                "SELECT pg_advisory_xact_lock($1, $2)", *locks.key(locks.Lock.MIGRATE)
            )
            await self._conn.execute(
                "CREATE TABLE IF NOT EXISTS cameo_schema (version BIGINT NOT NULL)"
            )
        # Held for the whole run (a session lock): another process starting now waits, then
        # finds the schema current.
        await self._conn.execute("SELECT pg_advisory_lock($1, $2)", *locks.key(locks.Lock.MIGRATE))
        try:
            current = await _schema_version(self._conn)
            latest = migrations[-1].version if migrations else 0
            if current > latest:
                raise StorageError(
                    f"The database {self.location} was written by a newer version of Cameo "
                    f"(schema {current}; this version knows up to {latest}). Upgrade Cameo."
                )
            for migration in migrations:
                if migration.version <= current:
                    continue
                log.info("Applying database migration %s", migration.name)
                try:
                    async with self._conn.transaction():
                        await self._conn.execute(migration.sql)
                        await self._conn.execute("DELETE FROM cameo_schema")
                        await self._conn.execute(
                            "INSERT INTO cameo_schema (version) VALUES ($1)", migration.version
                        )
                except asyncpg.PostgresError as error:
                    raise StorageError(f"Migration {migration.name} failed: {error}.") from error
                current = migration.version
        finally:
            await self._conn.execute(
                "SELECT pg_advisory_unlock($1, $2)", *locks.key(locks.Lock.MIGRATE)
            )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresConnection]:
        """BEGIN, the writers' advisory lock, … COMMIT; rolled back on any error. Shielded
        like SQLite's, so the connection is never left inside a transaction nobody owns."""
        async with self._lock:
            sync = self._sync
            await _finish(
                self._on_thread(lambda raw: raw.execute("BEGIN IMMEDIATE"), sync),
                on_cancel=self._undo,
            )
            try:
                yield PostgresConnection(self, sync)
            except BaseException:
                await _finish(self._undo())
                raise
            try:
                await _finish(self._on_thread(lambda raw: raw.commit(), sync))
            except BaseException:
                await _finish(self._undo())
                raise

    async def _undo(self) -> None:
        if self._sync.in_transaction:
            await self._on_thread(lambda raw: raw.rollback(), self._sync)

    async def _run_group(
        self, works: list[Callable[[sqlite3.Connection], object]]
    ) -> list[tuple[object, Exception | None]]:
        async with self._lock:
            return await _finish(self._on_thread(partial(_grouped, works), self._sync))

    async def run_read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        async with self._lock:
            return await self._on_thread(work, self._sync)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[PostgresConnection]:
        async with self._lock:
            yield PostgresConnection(self, self._sync)

    def report_lock_waits(self, on_wait: Callable[[float], None] | None) -> None:
        if isinstance(self._lock, WaitTimedLock):
            self._lock.on_wait = on_wait

    async def notify(self, channel: str, payload: str = "") -> None:
        """NOTIFY, outside any transaction (so delivered at once). Channels are Cameo's own
        names, never input."""
        async with self._lock:
            await self._conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """LISTEN on a connection of its own: the main one is busy with transactions, and a
        notification only arrives on an idle connection."""
        aside = await self._aside()
        # asyncpg calls back with (connection, pid, channel, payload).
        await aside.add_listener(channel, lambda *heard: callback(heard[3]))

    async def wait_turn(self, lock: locks.Lock, bucket: int, hold_seconds: float) -> None:
        """A session advisory lock on the connection aside, tried every quarter second (so a
        wait never ties the connection up), released `hold_seconds` after it was taken; or
        when this process ends, with its session."""
        key = locks.key(lock, bucket)
        aside = await self._aside()
        while True:
            async with self._aside_lock:
                if await aside.fetchval("SELECT pg_try_advisory_lock($1, $2)", *key):
                    break
            await asyncio.sleep(TURN_RETRY_SECONDS)

        async def release() -> None:
            await asyncio.sleep(hold_seconds)
            async with self._aside_lock:
                await aside.execute("SELECT pg_advisory_unlock($1, $2)", *key)

        task = asyncio.create_task(release(), name="release-turn")
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    # -- copying a database in (storage/transfer.py) -----------------------------------------

    async def tables_parents_first(self) -> list[str]:
        """Cameo's tables, each after every table its foreign keys point at."""
        async with self._lock:
            tables = [
                row[0]
                for row in await self._conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND tablename <> 'cameo_schema' ORDER BY tablename"
                )
            ]
            edges = await self._conn.fetch(
                "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text "
                "FROM pg_constraint c WHERE c.contype = 'f' AND c.conrelid <> c.confrelid"
            )
        parents: dict[str, set[str]] = {table: set() for table in tables}
        for child, parent in edges:
            parents.setdefault(child, set()).add(parent)
        ordered: list[str] = []
        while len(ordered) < len(tables):
            ready = [t for t in tables if t not in ordered and parents[t] <= set(ordered)]
            if not ready:
                raise StorageError("The tables' foreign keys form a cycle; nothing copied.")
            ordered.extend(ready)
        return ordered

    async def insertable_columns(self, table: str) -> list[str]:
        """The table's columns a copy writes (not the generated ones), in order."""
        async with self._lock:
            rows = await self._conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
                "AND table_schema = current_schema() AND is_generated = 'NEVER' "
                "ORDER BY ordinal_position",
                table,
            )
        return [row[0] for row in rows]

    async def primary_key(self, table: str) -> list[str]:
        async with self._lock:
            rows = await self._conn.fetch(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
                "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE i.indrelid = $1::regclass AND i.indisprimary "
                "ORDER BY array_position(i.indkey, a.attnum)",
                table,
            )
        return [row[0] for row in rows]

    async def insert_rows(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> int:
        """Insert rows that are not there yet (by any unique key), in one write transaction;
        return how many were added. Names come from the schema, never from input."""
        names = ", ".join(f'"{column}"' for column in columns)
        marks = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
        sql = f'INSERT INTO "{table}" ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING'  # noqa: S608
        async with self._lock, self._conn.transaction():
            await self._conn.execute(_WRITE_LOCK)
            before = await self._conn.fetchval(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608
            await self._conn.executemany(sql, rows)
            after = await self._conn.fetchval(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608
        return int(after) - int(before)

    async def count_rows(self, table: str) -> int:
        async with self._lock:
            return int(await self._conn.fetchval(f'SELECT COUNT(*) FROM "{table}"'))  # noqa: S608

    async def move_identities_past_copied_ids(self, handed_out: dict[str, int]) -> None:
        """Set every identity column's sequence past the largest id copied in, and past
        `handed_out[table]` (the largest the old database ever gave, deleted rows' included)."""
        async with self._lock:
            columns = await self._conn.fetch(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND is_identity = 'YES'"
            )
            for table, column in columns:
                await self._conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'), "  # noqa: S608
                    f'GREATEST(COALESCE((SELECT MAX("{column}") FROM "{table}"), 0), $1) + 1, '
                    "false)",
                    handed_out.get(table, 0),
                )

    async def _aside(self) -> asyncpg.Connection:
        """The second connection: notifications, and locks held across transactions."""
        async with self._aside_lock:
            if self._listener is None:
                self._listener = await connect(self.url)
            return self._listener


async def connect(url: str) -> asyncpg.Connection:
    """A connection with SQLite's habits where Cameo relies on them: the sum of integers is an
    integer (PostgreSQL's SUM of BIGINT is NUMERIC, which asyncpg would hand over as
    Decimal)."""
    conn = await asyncpg.connect(
        url,
        timeout=CONNECT_TIMEOUT_SECONDS,
        command_timeout=STATEMENT_TIMEOUT_SECONDS,
        # A process that stalls inside a transaction holds the writers' lock for everyone: the
        # server ends such a session (and its lock) rather than let every process wait.
        server_settings={"idle_in_transaction_session_timeout": str(IDLE_IN_TRANSACTION_MS)},
    )
    await conn.set_type_codec(
        "numeric", schema="pg_catalog", encoder=str, decoder=_number, format="text"
    )
    return conn


def _number(text: str) -> int | float:
    return int(text) if text.lstrip("-").isdigit() else float(text)


def _check_version(conn: asyncpg.Connection, url: str) -> None:
    version = int(conn.get_server_version().major)
    if version < 15:
        raise StorageError(f"{redacted(url)} runs PostgreSQL {version}; Cameo needs 15 or newer.")


async def _schema_version(conn: asyncpg.Connection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('cameo_schema') IS NOT NULL")
    if not exists:
        return 0
    value = await conn.fetchval("SELECT max(version) FROM cameo_schema")
    return int(value or 0)


def load_postgres_migrations() -> list[Migration]:
    """The migrations as PostgreSQL runs them.

    A database made by PostgreSQL starts from `NNNN_baseline.sql` in migrations/postgresql:
    the whole schema as of migration NNNN, written for PostgreSQL. SQLite's own migrations up
    to there include table rebuilds that exist only because SQLite cannot change a column's
    constraints, so replaying them would mean nothing here. After the baseline every number is
    shared: migrations/postgresql/NNNN_x.sql when the dialects differ, else the common file.
    Either way a version number means the same schema on both engines.
    """
    common = {migration.version: migration for migration in load_migrations()}
    folder = resources.files("storage").joinpath("migrations", "postgresql")
    own: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _POSTGRES_MIGRATION.match(entry.name)
        if match:
            version = int(match.group(1))
            own[version] = Migration(version, f"postgresql/{entry.name}", entry.read_text("utf-8"))
    baselines = [version for version, m in own.items() if m.name.endswith("_baseline.sql")]
    if len(baselines) != 1:
        raise StorageError("migrations/postgresql must hold exactly one NNNN_baseline.sql.")
    baseline = baselines[0]
    chosen = [own[baseline]]
    for version in sorted(set(common) | set(own)):
        if version > baseline:
            chosen.append(own.get(version) or common[version])
    return chosen
