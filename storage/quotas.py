"""Repository for credits: server rules, overrides, prices, holds, the ledger and usage totals.

Callers run these inside `Database.transaction()` (BEGIN IMMEDIATE), which takes SQLite's
write lock before the first read: a check and the write that depends on it can never be split
by another writer, whichever process or task it comes from.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from storage.dialect import json_values


@dataclass(frozen=True)
class QuotaSettings:
    daily_credits: int | None = None  # None: the bot's default
    monthly_budget: int | None = None  # None: no cap
    cooldown_seconds: int = 0
    exempt_managers: bool = False


@dataclass(frozen=True)
class Override:
    target: str  # 'role' or 'member'
    target_id: int
    daily_credits: int | None  # None: exempt (members only)


@dataclass(frozen=True)
class Hold:
    job_id: int
    guild_id: int
    user_id: int
    speed: str
    credits: int
    charged: int | None
    state: str
    day: str
    month: str


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    guild_id: int
    user_id: int
    job_id: int | None
    change: str
    credits: int
    budget: int
    day: str
    month: str
    reason: str
    actor_id: int | None
    at: str


def settings(conn: sqlite3.Connection, guild_id: int) -> QuotaSettings:
    cursor = conn.execute(
        "SELECT daily_credits, monthly_budget, cooldown_seconds, exempt_managers "
        "FROM quota_settings WHERE guild_id = ?",
        (guild_id,),
    )
    row = cursor.fetchone()
    if row is None:
        return QuotaSettings()
    return QuotaSettings(row[0], row[1], row[2], bool(row[3]))


# The server rules a manager can change, one column each.
SETTING_COLUMNS = frozenset(
    {"daily_credits", "monthly_budget", "cooldown_seconds", "exempt_managers"}
)


def update_setting(conn: sqlite3.Connection, guild_id: int, column: str, value: int | None) -> None:
    """Set one of a server's rules, keeping the others."""
    if column not in SETTING_COLUMNS:
        raise ValueError(f"not a quota setting: {column}")
    conn.execute(
        f"INSERT INTO quota_settings (guild_id, {column}) VALUES (?, ?) "  # noqa: S608 (fixed names)
        f"ON CONFLICT (guild_id) DO UPDATE SET {column} = excluded.{column}",
        (guild_id, value),
    )


def overrides(conn: sqlite3.Connection, guild_id: int) -> list[Override]:
    cursor = conn.execute(
        "SELECT target, target_id, daily_credits FROM quota_overrides WHERE guild_id = ? "
        "ORDER BY target, target_id",
        (guild_id,),
    )
    return [Override(row[0], row[1], row[2]) for row in cursor.fetchall()]


def overrides_for(
    conn: sqlite3.Connection, guild_id: int, user_id: int, role_ids: frozenset[int]
) -> list[Override]:
    """The member's own override (if any) and those of the given roles."""
    cursor = conn.execute(
        "SELECT target, target_id, daily_credits FROM quota_overrides WHERE guild_id = ? AND "  # noqa: S608 (a placeholder's subquery)
        "((target = 'member' AND target_id = ?) OR "
        f"(target = 'role' AND target_id IN ({json_values(conn, integers=True)}))) "
        "ORDER BY target, target_id",
        (guild_id, user_id, json.dumps(sorted(role_ids))),
    )
    return [Override(row[0], row[1], row[2]) for row in cursor.fetchall()]


def set_override(
    conn: sqlite3.Connection, guild_id: int, target: str, target_id: int, daily: int | None
) -> None:
    conn.execute(
        "INSERT INTO quota_overrides (guild_id, target, target_id, daily_credits) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, target, target_id) "
        "DO UPDATE SET daily_credits = excluded.daily_credits",
        (guild_id, target, target_id, daily),
    )


def remove_override(conn: sqlite3.Connection, guild_id: int, target: str, target_id: int) -> bool:
    cursor = conn.execute(
        "DELETE FROM quota_overrides WHERE guild_id = ? AND target = ? AND target_id = ?",
        (guild_id, target, target_id),
    )
    return cursor.rowcount > 0


def prices(conn: sqlite3.Connection, guild_id: int) -> dict[tuple[str, str], int]:
    cursor = conn.execute(
        "SELECT provider, speed, credits FROM credit_prices WHERE guild_id = ?", (guild_id,)
    )
    return {(row[0], row[1]): row[2] for row in cursor.fetchall()}


def set_price(
    conn: sqlite3.Connection, guild_id: int, provider: str, speed: str, credits: int | None
) -> None:
    if credits is None:
        conn.execute(
            "DELETE FROM credit_prices WHERE guild_id = ? AND provider = ? AND speed = ?",
            (guild_id, provider, speed),
        )
        return
    conn.execute(
        "INSERT INTO credit_prices (guild_id, provider, speed, credits) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (guild_id, provider, speed) DO UPDATE SET credits = excluded.credits",
        (guild_id, provider, speed, credits),
    )


def used(conn: sqlite3.Connection, guild_id: int, user_id: int, day: str) -> int:
    cursor = conn.execute(
        "SELECT used FROM credit_usage WHERE guild_id = ? AND user_id = ? AND day = ?",
        (guild_id, user_id, day),
    )
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def budget_used(conn: sqlite3.Connection, guild_id: int, month: str) -> int:
    cursor = conn.execute(
        "SELECT used FROM budget_usage WHERE guild_id = ? AND month = ?", (guild_id, month)
    )
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def held(conn: sqlite3.Connection, guild_id: int, user_id: int) -> int:
    """Credits on hold for the member's jobs that are not finished yet."""
    cursor = conn.execute(
        "SELECT COALESCE(SUM(credits), 0) FROM credit_holds "
        "WHERE guild_id = ? AND user_id = ? AND state = 'held'",
        (guild_id, user_id),
    )
    row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def last_request(conn: sqlite3.Connection, guild_id: int, user_id: int) -> str | None:
    cursor = conn.execute(
        "SELECT at FROM member_requests WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    )
    row = cursor.fetchone()
    return None if row is None else str(row[0])


def record_request(conn: sqlite3.Connection, guild_id: int, user_id: int, at: str) -> None:
    conn.execute(
        "INSERT INTO member_requests (guild_id, user_id, at) VALUES (?, ?, ?) "
        "ON CONFLICT (guild_id, user_id) DO UPDATE SET at = excluded.at",
        (guild_id, user_id, at),
    )


def record(conn: sqlite3.Connection, entry: LedgerEntry) -> None:
    """Append a ledger row and apply it to the running totals it belongs to."""
    conn.execute(
        "INSERT INTO credit_ledger (guild_id, user_id, job_id, change, credits, budget, day, "
        "month, reason, actor_id, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.guild_id,
            entry.user_id,
            entry.job_id,
            entry.change,
            entry.credits,
            entry.budget,
            entry.day,
            entry.month,
            entry.reason,
            entry.actor_id,
            entry.at,
        ),
    )
    if entry.credits:
        conn.execute(
            "INSERT INTO credit_usage (guild_id, user_id, day, used) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (guild_id, user_id, day) "
            "DO UPDATE SET used = credit_usage.used + excluded.used",
            (entry.guild_id, entry.user_id, entry.day, entry.credits),
        )
    if entry.budget:
        conn.execute(
            "INSERT INTO budget_usage (guild_id, month, used) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, month) DO UPDATE SET used = budget_usage.used + excluded.used",
            (entry.guild_id, entry.month, entry.budget),
        )


def retry_paid(conn: sqlite3.Connection, job_id: int) -> int:
    """What the server has paid, and not had back, for a job's second try (its budget)."""
    row = conn.execute(
        "SELECT COALESCE(SUM(budget), 0) FROM credit_ledger INDEXED BY credit_ledger_retries "
        "WHERE job_id = ? AND change = 'retry' AND credits = 0",
        (job_id,),
    ).fetchone()
    return int(row[0])


def insert_hold(conn: sqlite3.Connection, hold: Hold) -> None:
    conn.execute(
        "INSERT INTO credit_holds (job_id, guild_id, user_id, speed, credits, day, month) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (hold.job_id, hold.guild_id, hold.user_id, hold.speed, hold.credits, hold.day, hold.month),
    )


def hold(conn: sqlite3.Connection, job_id: int) -> Hold | None:
    cursor = conn.execute(
        "SELECT job_id, guild_id, user_id, speed, credits, charged, state, day, month "
        "FROM credit_holds WHERE job_id = ?",
        (job_id,),
    )
    row = cursor.fetchone()
    return None if row is None else Hold(*row)


def settle_hold(conn: sqlite3.Connection, job_id: int, state: str, charged: int | None) -> bool:
    """Move a hold out of 'held'; False if it was settled already (so nothing happens twice)."""
    cursor = conn.execute(
        "UPDATE credit_holds SET state = ?, charged = ? WHERE job_id = ? AND state = 'held'",
        (state, charged, job_id),
    )
    return cursor.rowcount == 1


def ledger(conn: sqlite3.Connection, guild_id: int, user_id: int, limit: int) -> list[LedgerEntry]:
    """The member's latest ledger rows in this server, newest first."""
    cursor = conn.execute(
        "SELECT id, guild_id, user_id, job_id, change, credits, budget, day, month, reason, "
        "actor_id, at FROM credit_ledger WHERE guild_id = ? AND user_id = ? "
        "ORDER BY id DESC LIMIT ?",
        (guild_id, user_id, limit),
    )
    return [LedgerEntry(*row) for row in cursor.fetchall()]


def forget(conn: sqlite3.Connection, user_id: int, today: str) -> None:
    """Remove what is stored about a member's credits, except today's spent count (so that
    forgetting cannot reset a quota; it goes at the next reset like any other day's)."""
    for statement in (
        "DELETE FROM credit_ledger WHERE user_id = ?",
        "DELETE FROM credit_holds WHERE user_id = ?",
        "DELETE FROM member_requests WHERE user_id = ?",
        "DELETE FROM quota_overrides WHERE target = 'member' AND target_id = ?",
    ):
        conn.execute(statement, (user_id,))
    conn.execute("DELETE FROM credit_usage WHERE user_id = ? AND day <> ?", (user_id, today))
