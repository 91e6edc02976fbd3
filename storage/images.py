"""Repository for `images`: one row per stored reference file."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import aiosqlite

from storage.database import Database


@dataclass(frozen=True)
class ImageRow:
    sha256: str
    format: str
    width: int
    height: int
    byte_size: int


async def insert(conn: aiosqlite.Connection, row: ImageRow, created_at: str) -> None:
    """Record a stored file; a second record of the same content is a no-op (deduplication)."""
    await conn.execute(
        "INSERT INTO images (sha256, format, width, height, byte_size, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
        (row.sha256, row.format, row.width, row.height, row.byte_size, created_at),
    )


async def delete_if_unused(conn: aiosqlite.Connection, sha256: str) -> bool:
    """Delete the row unless something still references it; return whether it was deleted.

    Every table that points at an image does so with ON DELETE RESTRICT, so SQLite refuses the
    delete while any reference remains: new kinds of reference are covered without changes here.
    """
    try:
        cursor = await conn.execute("DELETE FROM images WHERE sha256 = ?", (sha256,))
    except sqlite3.IntegrityError:
        return False
    return cursor.rowcount > 0


async def get(conn: aiosqlite.Connection, sha256: str) -> ImageRow | None:
    async with conn.execute(
        "SELECT sha256, format, width, height, byte_size FROM images WHERE sha256 = ?", (sha256,)
    ) as cur:
        row = await cur.fetchone()
    return None if row is None else ImageRow(*row)


async def exists(conn: aiosqlite.Connection, sha256: str) -> bool:
    async with conn.execute("SELECT 1 FROM images WHERE sha256 = ?", (sha256,)) as cur:
        return await cur.fetchone() is not None


async def delete_unreferenced(db: Database) -> int:
    """Delete every row nothing references any more; return how many went."""
    async with db.transaction() as conn:
        async with conn.execute("SELECT sha256 FROM images") as cur:
            hashes = [row[0] for row in await cur.fetchall()]
        deleted = 0
        for sha256 in hashes:
            deleted += await delete_if_unused(conn, sha256)
    return deleted


async def all_hashes(db: Database) -> set[str]:
    async with db.read() as conn, conn.execute("SELECT sha256 FROM images") as cur:
        return {row[0] for row in await cur.fetchall()}


async def release(conn: aiosqlite.Connection, hashes: list[str]) -> list[ImageRow]:
    """Delete the rows of these images that nothing uses any more; return them, so their
    files can be removed once the transaction has committed."""
    gone = []
    for sha256 in dict.fromkeys(hashes):
        row = await get(conn, sha256)
        if row is not None and await delete_if_unused(conn, sha256):
            gone.append(row)
    return gone
