"""Repository for credits: server rules, overrides, prices, holds, the ledger and usage totals.

Callers run these inside `Database.transaction()` (BEGIN IMMEDIATE), which takes SQLite's
write lock before the first read: a check and the write that depends on it can never be split
by another writer, whichever process or task it comes from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import aiosqlite


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


async def settings(conn: aiosqlite.Connection, guild_id: int) -> QuotaSettings:
    async with conn.execute(
        "SELECT daily_credits, monthly_budget, cooldown_seconds, exempt_managers "
        "FROM quota_settings WHERE guild_id = ?",
        (guild_id,),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return QuotaSettings()
    return QuotaSettings(row[0], row[1], row[2], bool(row[3]))


# The server rules a manager can change, one column each.
SETTING_COLUMNS = frozenset(
    {"daily_credits", "monthly_budget", "cooldown_seconds", "exempt_managers"}
)


async def update_setting(
    conn: aiosqlite.Connection, guild_id: int, column: str, value: int | None
) -> None:
    """Set one of a server's rules, keeping the others."""
    if column not in SETTING_COLUMNS:
        raise ValueError(f"not a quota setting: {column}")
    await conn.execute(
        f"INSERT INTO quota_settings (guild_id, {column}) VALUES (?, ?) "  # noqa: S608 (fixed names)
        f"ON CONFLICT (guild_id) DO UPDATE SET {column} = excluded.{column}",
        (guild_id, value),
    )


async def overrides(conn: aiosqlite.Connection, guild_id: int) -> list[Override]:
    async with conn.execute(
        "SELECT target, target_id, daily_credits FROM quota_overrides WHERE guild_id = ? "
        "ORDER BY target, target_id",
        (guild_id,),
    ) as cursor:
        return [Override(row[0], row[1], row[2]) for row in await cursor.fetchall()]


async def overrides_for(
    conn: aiosqlite.Connection, guild_id: int, user_id: int, role_ids: frozenset[int]
) -> list[Override]:
    """The member's own override (if any) and those of the given roles."""
    async with conn.execute(
        "SELECT target, target_id, daily_credits FROM quota_overrides WHERE guild_id = ? AND "
        "((target = 'member' AND target_id = ?) OR "
        "(target = 'role' AND target_id IN (SELECT value FROM json_each(?))))",
        (guild_id, user_id, json.dumps(sorted(role_ids))),
    ) as cursor:
        return [Override(row[0], row[1], row[2]) for row in await cursor.fetchall()]


async def set_override(
    conn: aiosqlite.Connection, guild_id: int, target: str, target_id: int, daily: int | None
) -> None:
    await conn.execute(
        "INSERT INTO quota_overrides (guild_id, target, target_id, daily_credits) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, target, target_id) "
        "DO UPDATE SET daily_credits = excluded.daily_credits",
        (guild_id, target, target_id, daily),
    )


async def remove_override(
    conn: aiosqlite.Connection, guild_id: int, target: str, target_id: int
) -> bool:
    cursor = await conn.execute(
        "DELETE FROM quota_overrides WHERE guild_id = ? AND target = ? AND target_id = ?",
        (guild_id, target, target_id),
    )
    return cursor.rowcount > 0


async def prices(conn: aiosqlite.Connection, guild_id: int) -> dict[tuple[str, str], int]:
    async with conn.execute(
        "SELECT provider, speed, credits FROM credit_prices WHERE guild_id = ?", (guild_id,)
    ) as cursor:
        return {(row[0], row[1]): row[2] for row in await cursor.fetchall()}


async def set_price(
    conn: aiosqlite.Connection, guild_id: int, provider: str, speed: str, credits: int | None
) -> None:
    if credits is None:
        await conn.execute(
            "DELETE FROM credit_prices WHERE guild_id = ? AND provider = ? AND speed = ?",
            (guild_id, provider, speed),
        )
        return
    await conn.execute(
        "INSERT INTO credit_prices (guild_id, provider, speed, credits) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (guild_id, provider, speed) DO UPDATE SET credits = excluded.credits",
        (guild_id, provider, speed, credits),
    )


async def used(conn: aiosqlite.Connection, guild_id: int, user_id: int, day: str) -> int:
    async with conn.execute(
        "SELECT used FROM credit_usage WHERE guild_id = ? AND user_id = ? AND day = ?",
        (guild_id, user_id, day),
    ) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def budget_used(conn: aiosqlite.Connection, guild_id: int, month: str) -> int:
    async with conn.execute(
        "SELECT used FROM budget_usage WHERE guild_id = ? AND month = ?", (guild_id, month)
    ) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def held(conn: aiosqlite.Connection, guild_id: int, user_id: int) -> int:
    """Credits on hold for the member's jobs that are not finished yet."""
    async with conn.execute(
        "SELECT COALESCE(SUM(credits), 0) FROM credit_holds "
        "WHERE guild_id = ? AND user_id = ? AND state = 'held'",
        (guild_id, user_id),
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def last_request(conn: aiosqlite.Connection, guild_id: int, user_id: int) -> str | None:
    async with conn.execute(
        "SELECT at FROM member_requests WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else str(row[0])


async def record_request(conn: aiosqlite.Connection, guild_id: int, user_id: int, at: str) -> None:
    await conn.execute(
        "INSERT INTO member_requests (guild_id, user_id, at) VALUES (?, ?, ?) "
        "ON CONFLICT (guild_id, user_id) DO UPDATE SET at = excluded.at",
        (guild_id, user_id, at),
    )


async def record(conn: aiosqlite.Connection, entry: LedgerEntry) -> None:
    """Append a ledger row and apply it to the running totals it belongs to."""
    await conn.execute(
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
        await conn.execute(
            "INSERT INTO credit_usage (guild_id, user_id, day, used) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (guild_id, user_id, day) DO UPDATE SET used = used + excluded.used",
            (entry.guild_id, entry.user_id, entry.day, entry.credits),
        )
    if entry.budget:
        await conn.execute(
            "INSERT INTO budget_usage (guild_id, month, used) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, month) DO UPDATE SET used = used + excluded.used",
            (entry.guild_id, entry.month, entry.budget),
        )


async def insert_hold(conn: aiosqlite.Connection, hold: Hold) -> None:
    await conn.execute(
        "INSERT INTO credit_holds (job_id, guild_id, user_id, speed, credits, day, month) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (hold.job_id, hold.guild_id, hold.user_id, hold.speed, hold.credits, hold.day, hold.month),
    )


async def hold(conn: aiosqlite.Connection, job_id: int) -> Hold | None:
    async with conn.execute(
        "SELECT job_id, guild_id, user_id, speed, credits, charged, state, day, month "
        "FROM credit_holds WHERE job_id = ?",
        (job_id,),
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else Hold(*row)


async def settle_hold(
    conn: aiosqlite.Connection, job_id: int, state: str, charged: int | None
) -> bool:
    """Move a hold out of 'held'; False if it was settled already (so nothing happens twice)."""
    cursor = await conn.execute(
        "UPDATE credit_holds SET state = ?, charged = ? WHERE job_id = ? AND state = 'held'",
        (state, charged, job_id),
    )
    return cursor.rowcount == 1


async def ledger(
    conn: aiosqlite.Connection, guild_id: int, user_id: int, limit: int
) -> list[LedgerEntry]:
    """The member's latest ledger rows in this server, newest first."""
    async with conn.execute(
        "SELECT id, guild_id, user_id, job_id, change, credits, budget, day, month, reason, "
        "actor_id, at FROM credit_ledger WHERE guild_id = ? AND user_id = ? "
        "ORDER BY id DESC LIMIT ?",
        (guild_id, user_id, limit),
    ) as cursor:
        return [LedgerEntry(*row) for row in await cursor.fetchall()]


async def forget(conn: aiosqlite.Connection, user_id: int, today: str) -> None:
    """Remove what is stored about a member's credits, except today's spent count (so that
    forgetting cannot reset a quota; it goes at the next reset like any other day's)."""
    for statement in (
        "DELETE FROM credit_ledger WHERE user_id = ?",
        "DELETE FROM credit_holds WHERE user_id = ?",
        "DELETE FROM member_requests WHERE user_id = ?",
        "DELETE FROM quota_overrides WHERE target = 'member' AND target_id = ?",
    ):
        await conn.execute(statement, (user_id,))
    await conn.execute("DELETE FROM credit_usage WHERE user_id = ? AND day <> ?", (user_id, today))
