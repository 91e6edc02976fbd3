"""Repository for reports and the moderation log's channel (see migration 0018)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class Report:
    id: int
    guild_id: int
    kind: str  # 'result', 'character' or 'likeness'
    job_id: int | None
    character_id: int | None
    reported_by: int | None
    about_user: int | None
    reason: str
    created_at: str
    log_message_id: int | None
    outcome: str | None
    handled_by: int | None
    handled_at: str | None
    handled_why: str | None


_COLUMNS = (
    "id, guild_id, kind, job_id, character_id, reported_by, about_user, reason, created_at, "
    "log_message_id, outcome, handled_by, handled_at, handled_why"
)


def log_channel(conn: sqlite3.Connection, guild_id: int) -> int | None:
    row = conn.execute(
        "SELECT log_channel_id FROM moderation_settings WHERE guild_id = ?", (guild_id,)
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def set_log_channel(conn: sqlite3.Connection, guild_id: int, channel_id: int | None) -> None:
    conn.execute(
        "INSERT INTO moderation_settings (guild_id, log_channel_id) VALUES (?, ?) "
        "ON CONFLICT (guild_id) DO UPDATE SET log_channel_id = excluded.log_channel_id",
        (guild_id, channel_id),
    )


def add(
    conn: sqlite3.Connection,
    *,
    guild_id: int,
    kind: str,
    job_id: int | None,
    character_id: int | None,
    reported_by: int | None,  # None: Cameo itself (an approval request)
    about_user: int | None,
    reason: str,
    at: str,
) -> Report:
    row = conn.execute(
        "INSERT INTO reports (guild_id, kind, job_id, character_id, reported_by, about_user, "  # noqa: S608
        f"reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
        (guild_id, kind, job_id, character_id, reported_by, about_user, reason, at),
    ).fetchone()
    return Report(*row)


def get(conn: sqlite3.Connection, report_id: int) -> Report | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM reports WHERE id = ?", (report_id,)).fetchone()  # noqa: S608
    return Report(*row) if row else None


def set_log_message(conn: sqlite3.Connection, report_id: int, message_id: int) -> None:
    conn.execute("UPDATE reports SET log_message_id = ? WHERE id = ?", (message_id, report_id))


def settle(
    conn: sqlite3.Connection, report_id: int, *, outcome: str, by: int, at: str, why: str
) -> Report | None:
    """Record what a moderator did; None if someone already settled it."""
    row = conn.execute(
        "UPDATE reports SET outcome = ?, handled_by = ?, handled_at = ?, handled_why = ? "  # noqa: S608
        f"WHERE id = ? AND outcome IS NULL RETURNING {_COLUMNS}",
        (outcome, by, at, why, report_id),
    ).fetchone()
    return Report(*row) if row else None


def reopen(conn: sqlite3.Connection, report_id: int) -> None:
    """Undo a settlement whose action failed, so a moderator can try again."""
    conn.execute(
        "UPDATE reports SET outcome = NULL, handled_by = NULL, handled_at = NULL, "
        "handled_why = NULL WHERE id = ?",
        (report_id,),
    )


def open_count(conn: sqlite3.Connection, guild_id: int, reported_by: int, since: str) -> int:
    """How many reports a member filed here since a moment (a bound on report spam)."""
    row = conn.execute(
        "SELECT count(*) FROM reports WHERE reported_by = ? AND guild_id = ? AND created_at >= ?",
        (reported_by, guild_id, since),
    ).fetchone()
    return int(row[0])


def forget_member(conn: sqlite3.Connection, user_id: int) -> None:
    """A forgotten member's reports, and reports about them, stay without their id."""
    conn.execute("UPDATE reports SET reported_by = NULL WHERE reported_by = ?", (user_id,))
    conn.execute("UPDATE reports SET about_user = NULL WHERE about_user = ?", (user_id,))
    conn.execute("UPDATE reports SET handled_by = NULL WHERE handled_by = ?", (user_id,))
