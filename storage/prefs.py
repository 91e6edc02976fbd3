"""Repository for `member_prefs`: each member's preset scene settings, per server.

Plain functions on the sqlite3 connection, run on the database thread (see storage/jobs.py).
"""

from __future__ import annotations

import sqlite3


def member_preset(conn: sqlite3.Connection, guild_id: int, user_id: int) -> str | None:
    """The member's stored preset (JSON) in this server, or None."""
    row = conn.execute(
        "SELECT options FROM member_prefs WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    ).fetchone()
    return None if row is None else str(row[0])


def save_member_preset(
    conn: sqlite3.Connection, guild_id: int, user_id: int, options: str, at: str
) -> None:
    conn.execute(
        "INSERT INTO member_prefs (guild_id, user_id, options, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (guild_id, user_id) DO UPDATE SET options = excluded.options, "
        "updated_at = excluded.updated_at",
        (guild_id, user_id, options, at),
    )


def clear_member_preset(conn: sqlite3.Connection, guild_id: int, user_id: int) -> bool:
    cursor = conn.execute(
        "DELETE FROM member_prefs WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    )
    return cursor.rowcount > 0


def forget_member(conn: sqlite3.Connection, user_id: int) -> int:
    """Delete the member's presets in every server; return how many there were."""
    return conn.execute("DELETE FROM member_prefs WHERE user_id = ?", (user_id,)).rowcount
