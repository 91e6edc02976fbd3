"""Repository for `jobs` and `job_images`. Fairness and state rules live in the SQL."""

from __future__ import annotations

import json
from dataclasses import dataclass

import aiosqlite

from bot.models import PERSONAL_SCOPE, Job, JobKind, JobState

_ACTIVE = "('queued', 'running')"


@dataclass(frozen=True)
class NewJob:
    kind: JobKind
    guild_id: int
    channel_id: int
    user_id: int
    character_id: int | None
    character_name: str
    reference_sha256: str
    edit_image_sha256: str | None
    edit_mask_sha256: str | None
    options: dict[str, object]
    image_count: int
    preferred_provider: str | None
    credits: int
    created_at: str
    upload_limit: int = 10 * 1024 * 1024
    rerolled_from: int | None = None


def _job(row: aiosqlite.Row) -> Job:
    return Job(
        id=row["id"],
        kind=JobKind(row["kind"]),
        state=JobState(row["state"]),
        guild_id=None if row["guild_id"] == PERSONAL_SCOPE else row["guild_id"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        character_id=row["character_id"],
        character_name=row["character_name"],
        reference_sha256=row["reference_sha256"],
        edit_image_sha256=row["edit_image_sha256"],
        edit_mask_sha256=row["edit_mask_sha256"],
        options=json.loads(row["options"]),
        image_count=row["image_count"],
        preferred_provider=row["preferred_provider"],
        provider=row["provider"],
        service_job_id=row["service_job_id"],
        seed=row["seed"],
        credits=row["credits"],
        cost=row["cost"],
        error=row["error"],
        status_channel_id=row["status_channel_id"],
        status_message_id=row["status_message_id"],
        thread_id=row["thread_id"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        delivered_at=row["delivered_at"],
        upload_limit=row["upload_limit"],
        rerolled_from=row["rerolled_from"],
    )


async def insert(conn: aiosqlite.Connection, new: NewJob) -> Job:
    cursor = await conn.execute(
        "INSERT INTO jobs (kind, state, guild_id, channel_id, user_id, character_id, "
        "character_name, reference_sha256, edit_image_sha256, edit_mask_sha256, options, "
        "image_count, preferred_provider, credits, created_at, upload_limit, rerolled_from) "
        "VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            new.kind.value,
            new.guild_id,
            new.channel_id,
            new.user_id,
            new.character_id,
            new.character_name,
            new.reference_sha256,
            new.edit_image_sha256,
            new.edit_mask_sha256,
            json.dumps(new.options, sort_keys=True),
            new.image_count,
            new.preferred_provider,
            new.credits,
            new.created_at,
            new.upload_limit,
            new.rerolled_from,
        ),
    )
    assert cursor.lastrowid is not None
    job = await get(conn, cursor.lastrowid)
    assert job is not None
    return job


async def get(conn: aiosqlite.Connection, job_id: int) -> Job | None:
    async with conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)) as cur:
        row = await cur.fetchone()
    return None if row is None else _job(row)


# Fair order: each member's queued jobs are ranked (0 for their oldest), and a member's running
# jobs count against them, so everyone's first job comes before anyone's second. Among equals,
# the member served longest ago (or never) goes first, then the oldest job.
_FAIR_QUEUE = """
    WITH queued AS (
        SELECT j.*, ROW_NUMBER() OVER (PARTITION BY j.user_id ORDER BY j.id) - 1 AS user_rank
        FROM jobs j WHERE j.state = 'queued'
    ),
    running AS (
        SELECT user_id, COUNT(*) AS busy FROM jobs WHERE state = 'running' GROUP BY user_id
    ),
    served AS (
        SELECT user_id, MAX(started_at) AS last_start FROM jobs
        WHERE user_id IN (SELECT user_id FROM queued) AND started_at IS NOT NULL
        GROUP BY user_id
    )
    SELECT q.*, COALESCE(r.busy, 0) AS busy, s.last_start AS last_start
    FROM queued q LEFT JOIN running r USING (user_id) LEFT JOIN served s USING (user_id)
"""
_FAIR_ORDER = "ORDER BY user_rank + busy, last_start IS NOT NULL, last_start, id"


async def next_runnable(conn: aiosqlite.Connection, per_user_limit: int) -> Job | None:
    """Return the queued job that should start next, skipping members at their limit."""
    async with conn.execute(
        f"SELECT * FROM ({_FAIR_QUEUE}) WHERE busy < ? {_FAIR_ORDER} LIMIT 1",  # noqa: S608
        (per_user_limit,),
    ) as cur:
        row = await cur.fetchone()
    return None if row is None else _job(row)


async def queue_positions(conn: aiosqlite.Connection) -> dict[int, int]:
    """Return each queued job's position (1 = next) in the fair order."""
    async with conn.execute(f"SELECT id FROM ({_FAIR_QUEUE}) {_FAIR_ORDER}") as cur:  # noqa: S608
        return {row[0]: index for index, row in enumerate(await cur.fetchall(), start=1)}


async def start(conn: aiosqlite.Connection, job_id: int, at: str) -> bool:
    cursor = await conn.execute(
        "UPDATE jobs SET state = 'running', started_at = ? WHERE id = ? AND state = 'queued'",
        (at, job_id),
    )
    return cursor.rowcount == 1


async def record_submission(
    conn: aiosqlite.Connection, job_id: int, provider: str, service_job_id: str, seed: int | None
) -> None:
    await conn.execute(
        "UPDATE jobs SET provider = ?, service_job_id = ?, seed = ? "
        "WHERE id = ? AND state = 'running'",
        (provider, service_job_id, seed, job_id),
    )


async def succeed(
    conn: aiosqlite.Connection,
    job_id: int,
    *,
    provider: str,
    seed: int | None,
    cost: str | None,
    image_hashes: list[str],
    error: str | None,
    at: str,
) -> bool:
    """Mark a running job done with its images (and a note if some are missing)."""
    cursor = await conn.execute(
        "UPDATE jobs SET state = 'succeeded', provider = ?, seed = ?, cost = ?, error = ?, "
        "finished_at = ? WHERE id = ? AND state = 'running'",
        (provider, seed, cost, error, at, job_id),
    )
    if cursor.rowcount != 1:
        return False
    await conn.executemany(
        "INSERT INTO job_images (job_id, position, image_sha256) VALUES (?, ?, ?)",
        [(job_id, index, sha256) for index, sha256 in enumerate(image_hashes)],
    )
    return True


async def fail(conn: aiosqlite.Connection, job_id: int, error: str, at: str) -> bool:
    cursor = await conn.execute(
        f"UPDATE jobs SET state = 'failed', error = ?, finished_at = ? "  # noqa: S608
        f"WHERE id = ? AND state IN {_ACTIVE}",
        (error, at, job_id),
    )
    return cursor.rowcount == 1


async def cancel(conn: aiosqlite.Connection, job_id: int, at: str) -> bool:
    cursor = await conn.execute(
        f"UPDATE jobs SET state = 'cancelled', finished_at = ? "  # noqa: S608
        f"WHERE id = ? AND state IN {_ACTIVE}",
        (at, job_id),
    )
    return cursor.rowcount == 1


async def release_reference(conn: aiosqlite.Connection, job_id: int) -> str | None:
    """Drop a finished job's hold on the character's reference; return its hash.

    A region edit's image and mask stay with the job, so Reroll can edit the same region again;
    they go when the job row goes (Delete, or a member's request to be forgotten).
    """
    job = await get(conn, job_id)
    if job is None or job.reference_sha256 is None:
        return None
    await conn.execute("UPDATE jobs SET reference_sha256 = NULL WHERE id = ?", (job_id,))
    return job.reference_sha256


async def set_status_message(
    conn: aiosqlite.Connection, job_id: int, channel_id: int, message_id: int
) -> None:
    await conn.execute(
        "UPDATE jobs SET status_channel_id = ?, status_message_id = ? WHERE id = ?",
        (channel_id, message_id, job_id),
    )


async def set_thread(conn: aiosqlite.Connection, job_id: int, thread_id: int | None) -> None:
    await conn.execute("UPDATE jobs SET thread_id = ? WHERE id = ?", (thread_id, job_id))


async def mark_delivered(conn: aiosqlite.Connection, job_id: int, at: str) -> None:
    await conn.execute("UPDATE jobs SET delivered_at = ? WHERE id = ?", (at, job_id))


async def active_for_user(conn: aiosqlite.Connection, user_id: int) -> list[Job]:
    async with conn.execute(
        f"SELECT * FROM jobs WHERE user_id = ? AND state IN {_ACTIVE} ORDER BY id",  # noqa: S608
        (user_id,),
    ) as cur:
        return [_job(row) for row in await cur.fetchall()]


async def in_state(conn: aiosqlite.Connection, state: JobState) -> list[Job]:
    async with conn.execute(
        "SELECT * FROM jobs WHERE state = ? ORDER BY id", (state.value,)
    ) as cur:
        return [_job(row) for row in await cur.fetchall()]


async def undelivered(conn: aiosqlite.Connection) -> list[Job]:
    async with conn.execute(
        "SELECT * FROM jobs WHERE state = 'succeeded' AND delivered_at IS NULL ORDER BY id"
    ) as cur:
        return [_job(row) for row in await cur.fetchall()]


async def positioned_images_of(conn: aiosqlite.Connection, job_id: int) -> list[tuple[int, str]]:
    async with conn.execute(
        "SELECT position, image_sha256 FROM job_images WHERE job_id = ? ORDER BY position",
        (job_id,),
    ) as cur:
        return [(row[0], row[1]) for row in await cur.fetchall()]


async def images_of(conn: aiosqlite.Connection, job_id: int) -> list[str]:
    async with conn.execute(
        "SELECT image_sha256 FROM job_images WHERE job_id = ? ORDER BY position", (job_id,)
    ) as cur:
        return [row[0] for row in await cur.fetchall()]


async def image_at(conn: aiosqlite.Connection, job_id: int, position: int) -> str | None:
    async with conn.execute(
        "SELECT image_sha256 FROM job_images WHERE job_id = ? AND position = ?",
        (job_id, position),
    ) as cur:
        row = await cur.fetchone()
    return None if row is None else str(row[0])


async def toggle_favorite(conn: aiosqlite.Connection, job_id: int, position: int) -> bool | None:
    """Flip an image's favourite mark; return the new mark, or None if the image is gone."""
    async with conn.execute(
        "UPDATE job_images SET favorite = 1 - favorite WHERE job_id = ? AND position = ? "
        "RETURNING favorite",
        (job_id, position),
    ) as cur:
        row = await cur.fetchone()
    return None if row is None else bool(row[0])


async def favorites_of(conn: aiosqlite.Connection, job_id: int) -> set[int]:
    async with conn.execute(
        "SELECT position FROM job_images WHERE job_id = ? AND favorite = 1", (job_id,)
    ) as cur:
        return {row[0] for row in await cur.fetchall()}


async def forget_images(conn: aiosqlite.Connection, job_id: int, positions: list[int]) -> list[str]:
    """Remove some of a job's results; return the hashes that were listed."""
    removed: list[str] = []
    for position in positions:
        async with conn.execute(
            "DELETE FROM job_images WHERE job_id = ? AND position = ? RETURNING image_sha256",
            (job_id, position),
        ) as cur:
            row = await cur.fetchone()
        if row is not None:
            removed.append(row[0])
    return removed


async def finished_for_user(conn: aiosqlite.Connection, user_id: int) -> list[Job]:
    async with conn.execute(
        f"SELECT * FROM jobs WHERE user_id = ? AND state NOT IN {_ACTIVE} ORDER BY id",  # noqa: S608
        (user_id,),
    ) as cur:
        return [_job(row) for row in await cur.fetchall()]


async def delete(conn: aiosqlite.Connection, job_id: int) -> list[str]:
    """Delete a job and its result list; return every image hash it referred to."""
    job = await get(conn, job_id)
    if job is None:
        return []
    held = [h for h in (job.reference_sha256, job.edit_image_sha256, job.edit_mask_sha256) if h]
    held += await images_of(conn, job_id)
    await conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
    return held


async def recent_durations(conn: aiosqlite.Connection, limit: int = 20) -> list[float]:
    """Seconds from start to finish of the latest successful jobs, newest first (for ETAs)."""
    async with conn.execute(
        "SELECT (julianday(finished_at) - julianday(started_at)) * 86400.0 FROM jobs "
        "WHERE state = 'succeeded' AND started_at IS NOT NULL AND finished_at IS NOT NULL "
        "ORDER BY finished_at DESC LIMIT ?",
        (limit,),
    ) as cur:
        return [float(row[0]) for row in await cur.fetchall() if row[0] is not None]
