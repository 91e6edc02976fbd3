"""Repository for the `meta` table: small key/value facts about the bot itself."""

from __future__ import annotations

import secrets
import sqlite3
from functools import partial

from storage.database import Database


def read(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def put(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


async def get_value(db: Database, key: str) -> str | None:
    return await db.run_read(partial(read, key=key))


async def set_value(db: Database, key: str, value: str) -> None:
    await db.run_transaction(partial(put, key=key, value=value))


DATABASE_ID_KEY = "database_id"


def _database_id(conn: sqlite3.Connection) -> str:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
        (DATABASE_ID_KEY, secrets.token_hex(16)),
    )
    found = read(conn, DATABASE_ID_KEY)
    assert found is not None
    return found


async def database_id(db: Database) -> str:
    """This database's own id, made once: what a bucket prefix's owner marker names."""
    return await db.run_transaction(_database_id)
