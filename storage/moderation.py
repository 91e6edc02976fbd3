"""Repository for a server's moderation rules: blocked terms, the default list's switch, and
blocked members. Plain functions on the sqlite3 connection, run on the database thread."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    guild_id: int
    user_id: int
    reason: str
    blocked_by: int
    blocked_at: str
    until: str | None  # None: until a moderator unblocks them


def terms_of(conn: sqlite3.Connection, guild_id: int) -> list[tuple[str, str]]:
    """The server's blocked terms as (term as typed, match key), in the order typed."""
    rows = conn.execute(
        "SELECT term, term_key FROM blocked_terms WHERE guild_id = ? ORDER BY added_at, term_key",
        (guild_id,),
    ).fetchall()
    return [(str(term), str(key)) for term, key in rows]


def add_term(
    conn: sqlite3.Connection, guild_id: int, term: str, key: str, by: int, at: str
) -> bool:
    """Add a term; False if the server already blocks it."""
    cursor = conn.execute(
        "INSERT INTO blocked_terms (guild_id, term_key, term, added_by, added_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, term_key) DO NOTHING",
        (guild_id, key, term, by, at),
    )
    return cursor.rowcount > 0


def remove_term(conn: sqlite3.Connection, guild_id: int, key: str) -> bool:
    cursor = conn.execute(
        "DELETE FROM blocked_terms WHERE guild_id = ? AND term_key = ?", (guild_id, key)
    )
    return cursor.rowcount > 0


def count_terms(conn: sqlite3.Connection, guild_id: int) -> int:
    row = conn.execute("SELECT count(*) FROM blocked_terms WHERE guild_id = ?", (guild_id,))
    return int(row.fetchone()[0])


def default_terms_on(conn: sqlite3.Connection, guild_id: int) -> bool:
    row = conn.execute(
        "SELECT default_terms FROM moderation_settings WHERE guild_id = ?", (guild_id,)
    ).fetchone()
    return bool(row[0]) if row else False


def set_default_terms(conn: sqlite3.Connection, guild_id: int, on: bool) -> None:
    conn.execute(
        "INSERT INTO moderation_settings (guild_id, default_terms) VALUES (?, ?) "
        "ON CONFLICT (guild_id) DO UPDATE SET default_terms = excluded.default_terms",
        (guild_id, int(on)),
    )


def block_of(conn: sqlite3.Connection, guild_id: int, user_id: int) -> Block | None:
    row = conn.execute(
        "SELECT guild_id, user_id, reason, blocked_by, blocked_at, until FROM blocked_members "
        "WHERE guild_id = ? AND user_id = ?",
        (guild_id, user_id),
    ).fetchone()
    return None if row is None else Block(*row)


def block(conn: sqlite3.Connection, new: Block) -> None:
    conn.execute(
        "INSERT INTO blocked_members (guild_id, user_id, reason, blocked_by, blocked_at, until) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
        "reason = excluded.reason, blocked_by = excluded.blocked_by, "
        "blocked_at = excluded.blocked_at, until = excluded.until",
        (new.guild_id, new.user_id, new.reason, new.blocked_by, new.blocked_at, new.until),
    )


def unblock(conn: sqlite3.Connection, guild_id: int, user_id: int) -> bool:
    cursor = conn.execute(
        "DELETE FROM blocked_members WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    )
    return cursor.rowcount > 0


def access_of(conn: sqlite3.Connection, guild_id: int) -> tuple[set[int], set[int]]:
    """The server's (roles, channels) that Cameo is limited to; empty sets are no limit."""
    roles: set[int] = set()
    channels: set[int] = set()
    for kind, target in conn.execute(
        "SELECT kind, target_id FROM access_rules WHERE guild_id = ?", (guild_id,)
    ):
        (roles if kind == "role" else channels).add(int(target))
    return roles, channels


def add_access(conn: sqlite3.Connection, guild_id: int, kind: str, target_id: int) -> bool:
    cursor = conn.execute(
        "INSERT INTO access_rules (guild_id, kind, target_id) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (guild_id, kind, target_id),
    )
    return cursor.rowcount > 0


def remove_access(conn: sqlite3.Connection, guild_id: int, kind: str, target_id: int) -> bool:
    cursor = conn.execute(
        "DELETE FROM access_rules WHERE guild_id = ? AND kind = ? AND target_id = ?",
        (guild_id, kind, target_id),
    )
    return cursor.rowcount > 0


def clear_access(conn: sqlite3.Connection, guild_id: int) -> int:
    return conn.execute("DELETE FROM access_rules WHERE guild_id = ?", (guild_id,)).rowcount


def charges_held_back(conn: sqlite3.Connection, guild_id: int) -> bool:
    """Whether the server charges for pictures held back as age-restricted (default: no)."""
    row = conn.execute(
        "SELECT charge_held_back FROM moderation_settings WHERE guild_id = ?", (guild_id,)
    ).fetchone()
    return bool(row[0]) if row else False


def set_charges_held_back(conn: sqlite3.Connection, guild_id: int, charge: bool) -> None:
    conn.execute(
        "INSERT INTO moderation_settings (guild_id, charge_held_back) VALUES (?, ?) "
        "ON CONFLICT (guild_id) DO UPDATE SET charge_held_back = excluded.charge_held_back",
        (guild_id, int(charge)),
    )


def approves_real_people(conn: sqlite3.Connection, guild_id: int) -> bool:
    """Whether characters from photographs of real people wait for a moderator's approval."""
    row = conn.execute(
        "SELECT approve_real_people FROM moderation_settings WHERE guild_id = ?", (guild_id,)
    ).fetchone()
    return bool(row[0]) if row else False


def set_approves_real_people(conn: sqlite3.Connection, guild_id: int, on: bool) -> None:
    conn.execute(
        "INSERT INTO moderation_settings (guild_id, approve_real_people) VALUES (?, ?) "
        "ON CONFLICT (guild_id) DO UPDATE SET approve_real_people = excluded.approve_real_people",
        (guild_id, int(on)),
    )
