"""Copying a Cameo SQLite database into PostgreSQL (`cameo migrate-to`), resumably.

Both are at the same schema version first (each is migrated when opened), so every table has
the same columns on both sides. Tables are copied parents first (the order comes from
PostgreSQL's own foreign keys), in batches in primary-key order, each batch one transaction
that skips rows already there: a copy that stopped half-way (a crash, ^C, a lost connection)
carries on where it was when run again, and a second run of a finished copy changes nothing.
Then the identity sequences are moved past the copied ids, so new rows never reuse one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from storage.database import SqliteDatabase
from storage.postgres import PostgresDatabase

BATCH_ROWS = 1_000
# SQLite's own tables and the FTS5 index of character names (PostgreSQL indexes the names
# themselves): nothing to copy.
_NOT_COPIED = ("sqlite_", "character_names")


@dataclass(frozen=True)
class TableCopy:
    table: str
    source_rows: int
    target_rows: int
    added: int  # rows this run copied (the rest were there already)

    @property
    def complete(self) -> bool:
        return self.source_rows == self.target_rows


async def copy_rows(
    source: SqliteDatabase,
    target: PostgresDatabase,
    on_table: Callable[[TableCopy], None] | None = None,
    *,
    tables: list[str] | None = None,
) -> list[TableCopy]:
    """Copy every table (or only `tables`) of `source` into `target`; report each."""
    wanted = set(await source.run_read(_tables))
    order = [table for table in await target.tables_parents_first() if table in wanted]
    missing = wanted - set(order)
    if missing:
        raise ValueError(f"tables PostgreSQL does not have: {', '.join(sorted(missing))}")
    copies = []
    for table in order:
        if tables is not None and table not in tables:
            continue
        columns = await target.insertable_columns(table)
        key = await target.primary_key(table)
        added = 0
        after: tuple[object, ...] | None = None
        while True:
            batch = await source.run_read(
                partial(_batch, table=table, columns=columns, key=key, after=after)
            )
            if not batch:
                break
            added += await target.insert_rows(table, columns, batch)
            last = batch[-1]
            after = tuple(last[columns.index(column)] for column in key)
        copy = TableCopy(
            table,
            source_rows=await source.run_read(partial(_count, table=table)),
            target_rows=await target.count_rows(table),
            added=added,
        )
        copies.append(copy)
        if on_table is not None:
            on_table(copy)
    await target.move_identities_past_copied_ids(await source.run_read(_ids_handed_out))
    return copies


def _ids_handed_out(conn: sqlite3.Connection) -> dict[str, int]:
    """The largest id each AUTOINCREMENT table ever handed out, deleted rows' included: ids
    that are never reused (a deleted character's old jobs still name its id) stay unused."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
        return {
            str(name): int(seq)
            for name, seq in conn.execute("SELECT name, seq FROM sqlite_sequence")
        }
    return {}


def _tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return [row[0] for row in rows if not row[0].startswith(_NOT_COPIED)]


def _count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0])  # noqa: S608 (a table of the schema)


def _batch(
    conn: sqlite3.Connection,
    table: str,
    columns: list[str],
    key: list[str],
    after: tuple[object, ...] | None,
) -> list[tuple[object, ...]]:
    """The next rows in primary-key order after `after` (a row value compare: one seek)."""
    names = ", ".join(f'"{column}"' for column in columns)
    order = ", ".join(f'"{column}"' for column in key)
    where = ""
    parameters: tuple[object, ...] = ()
    if after is not None:
        marks = ", ".join("?" * len(key))
        where = f"WHERE ({order}) > ({marks})"
        parameters = after
    rows = conn.execute(
        f'SELECT {names} FROM "{table}" {where} ORDER BY {order} LIMIT {BATCH_ROWS}',  # noqa: S608 (names from the schema)
        parameters,
    ).fetchall()
    return [tuple(row) for row in rows]
