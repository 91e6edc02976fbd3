"""Repository for the `meta` table: small key/value facts about the bot itself."""

from __future__ import annotations

from storage.database import Database


async def get_value(db: Database, key: str) -> str | None:
    async with (
        db.read() as conn,
        conn.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cur,
    ):
        row = await cur.fetchone()
    return None if row is None else str(row["value"])


async def set_value(db: Database, key: str, value: str) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
