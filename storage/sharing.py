"""Repository for `character_members`: who, besides its owner, may use or edit a character.

Plain functions on the sqlite3 connection, run on the database thread (see storage/jobs.py).
"""

from __future__ import annotations

import sqlite3

from bot.models import Role


def role_of(conn: sqlite3.Connection, character_id: int, user_id: int) -> Role | None:
    row = conn.execute(
        "SELECT role FROM character_members WHERE character_id = ? AND user_id = ?",
        (character_id, user_id),
    ).fetchone()
    return None if row is None else Role(row[0])


def set_role(
    conn: sqlite3.Connection, character_id: int, user_id: int, role: Role, at: str
) -> None:
    conn.execute(
        "INSERT INTO character_members (character_id, user_id, role, added_at) "
        "VALUES (?, ?, ?, ?) "
        "ON CONFLICT (character_id, user_id) DO UPDATE SET role = excluded.role",
        (character_id, user_id, role.value, at),
    )


def remove(conn: sqlite3.Connection, character_id: int, user_id: int) -> Role | None:
    """Take the member off the character's list; return the role they had."""
    row = conn.execute(
        "DELETE FROM character_members WHERE character_id = ? AND user_id = ? RETURNING role",
        (character_id, user_id),
    ).fetchone()
    return None if row is None else Role(row[0])


def members_of(conn: sqlite3.Connection, character_id: int) -> list[tuple[int, Role]]:
    rows = conn.execute(
        "SELECT user_id, role FROM character_members WHERE character_id = ? "
        "ORDER BY role DESC, added_at, user_id",
        (character_id,),
    ).fetchall()
    return [(int(user_id), Role(role)) for user_id, role in rows]


def forget_member(conn: sqlite3.Connection, user_id: int) -> int:
    """Take a forgotten member off every character's list."""
    return conn.execute("DELETE FROM character_members WHERE user_id = ?", (user_id,)).rowcount
