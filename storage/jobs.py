"""Repository for `jobs` and `job_images`. Fairness and state rules live in the SQL.

Plain functions on the sqlite3 connection, run on the database thread by
`Database.run_transaction` (writes) or `Database.run_read`: a job's every step (queue, start,
record a submission, succeed, deliver and charge, fail) is then one hop to that thread with no
await between its statements, instead of one hop per statement.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from bot.models import PERSONAL_SCOPE, Job, JobKind, JobState
from bot.providers.request import GenerationOptions, PoseOptions, SceneOptions
from storage.dialect import json_values

log = logging.getLogger(__name__)

_ACTIVE = "('queued', 'running')"
# The format of `jobs.options`: a JSON object of the options the member chose, by field name,
# with this version under "v". Rows from before the marker (a plain object) are version 1,
# which used the same names, so both load the same way.
OPTIONS_VERSION = 2


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
    options: GenerationOptions
    image_count: int
    preferred_provider: str | None
    credits: int
    created_at: str
    rerolled_from: int | None = None
    look_id: int | None = None
    look_name: str | None = None
    character_owner_id: int | None = None
    option_sources: Mapping[str, str] = field(default_factory=dict)


def options_json(options: GenerationOptions) -> str:
    """The options as a job row stores them: only what the member chose, and the version."""
    return json.dumps({"v": OPTIONS_VERSION, **options.model_dump(mode="json", exclude_none=True)})


def _options(job_id: int, kind: JobKind, text: str) -> GenerationOptions:
    stored: dict[str, Any] = json.loads(text)
    stored.pop("v", None)
    model = PoseOptions if kind is JobKind.POSES else SceneOptions
    # Version 1 kept whatever keys it was given and the request ignored the unknown ones; a
    # newer version (read after a rollback) gives up only the options this code doesn't know.
    chosen = {name: value for name, value in stored.items() if name in model.model_fields}
    try:
        return model.model_validate(chosen)
    except ValidationError as exc:
        # Queued under rules that refuse it now. Refusing to load it would stop the queue and
        # hide the job; kept as stored, it is shown as asked and the runner fails and refunds
        # it in Cameo's words when it builds the request (`from_options` checks again).
        log.warning("Job %s has options today's rules refuse: %s", job_id, exc.errors()[0]["msg"])
        if model is PoseOptions:
            return PoseOptions.model_construct(**chosen)
        # A scene can't be built without a prompt; a missing one reads as empty, and is refused
        # as empty when the job runs.
        return SceneOptions.model_construct(**{"prompt": "", **chosen})


def _job(row: sqlite3.Row) -> Job:
    kind = JobKind(row["kind"])
    return Job(
        id=row["id"],
        kind=kind,
        state=JobState(row["state"]),
        guild_id=None if row["guild_id"] == PERSONAL_SCOPE else row["guild_id"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        character_id=row["character_id"],
        character_name=row["character_name"],
        reference_sha256=row["reference_sha256"],
        edit_image_sha256=row["edit_image_sha256"],
        edit_mask_sha256=row["edit_mask_sha256"],
        options=_options(row["id"], kind, row["options"]),
        image_count=row["image_count"],
        preferred_provider=row["preferred_provider"],
        provider=row["provider"],
        service_job_id=row["service_job_id"],
        seed=row["seed"],
        credits=row["credits"],
        cost=row["cost"],
        error=row["error"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        held_back=row["held_back"],
        member_retries=row["member_retries"],
        delivered_at=row["delivered_at"],
        rerolled_from=row["rerolled_from"],
        look_id=row["look_id"],
        look_name=row["look_name"],
        character_owner_id=row["character_owner_id"],
        option_sources=_sources(row["option_sources"]),
    )


def _sources(text: str | None) -> dict[str, str]:
    """Where each setting came from; unreadable or odd values read as none (display only)."""
    try:
        stored = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    if not isinstance(stored, dict):
        return {}
    return {str(k): str(v) for k, v in stored.items() if isinstance(v, str)}


def insert(conn: sqlite3.Connection, new: NewJob) -> Job:
    row = conn.execute(
        "INSERT INTO jobs (kind, state, guild_id, channel_id, user_id, character_id, "
        "character_name, reference_sha256, edit_image_sha256, edit_mask_sha256, options, "
        "image_count, preferred_provider, credits, created_at, rerolled_from, look_id, "
        "look_name, character_owner_id, option_sources) "
        "VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
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
            options_json(new.options),
            new.image_count,
            new.preferred_provider,
            new.credits,
            new.created_at,
            new.rerolled_from,
            new.look_id,
            new.look_name,
            new.character_owner_id,
            json.dumps(dict(new.option_sources), sort_keys=True),
        ),
    ).fetchone()
    return _job(row)


def get(conn: sqlite3.Connection, job_id: int) -> Job | None:
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return None if row is None else _job(row)


# Fair order: each member's queued jobs are ranked (0 for their oldest), and a member's running
# jobs count against them, so everyone's first job comes before anyone's second. Among equals,
# the member served longest ago (or never) goes first, then the oldest job. Only queued and
# running jobs are read (through partial indexes), plus one `queue_turns` row per waiting
# member: the cost follows how many are waiting, never how many jobs were ever made.
# The queue's reads name their partial indexes: without statistics SQLite prefers the
# (state, finished_at) index, then sorts by member and reads every row from the table,
# twice as slow; the partial (user_id, id) indexes are already in member order and covering.
_RUNNING = """
    running AS (
        SELECT user_id, COUNT(*) AS busy FROM jobs INDEXED BY jobs_running_by_member
        WHERE state = 'running' GROUP BY user_id
    )
"""


def next_runnable(conn: sqlite3.Connection, per_user_limit: int) -> Job | None:
    """Return the queued job that should start next, skipping members at their limit.

    Only each member's oldest queued job can be next, so one row per waiting member is ranked.
    """
    row = conn.execute(
        f"""
        WITH {_RUNNING},
        waiting AS (
            SELECT user_id, MIN(id) AS first_id FROM jobs INDEXED BY jobs_queued_by_member
            WHERE state = 'queued' GROUP BY user_id
        )
        SELECT j.* FROM waiting w
        JOIN jobs j ON j.id = w.first_id
        LEFT JOIN running r ON r.user_id = w.user_id
        LEFT JOIN queue_turns t ON t.user_id = w.user_id
        WHERE COALESCE(r.busy, 0) < :limit
        ORDER BY COALESCE(r.busy, 0), t.last_started_at IS NOT NULL, t.last_started_at, j.id
        LIMIT 1
        """,  # noqa: S608 (a constant fragment)
        {"limit": per_user_limit},
    ).fetchone()
    return None if row is None else _job(row)


def queue_positions(conn: sqlite3.Connection) -> dict[int, int]:
    """Return each queued job's position (1 = next) in the fair order."""
    rows = conn.execute(
        f"""
        WITH {_RUNNING},
        queued AS (
            SELECT id, user_id, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY id) - 1 AS rank
            FROM jobs INDEXED BY jobs_queued_by_member WHERE state = 'queued'
        )
        SELECT q.id FROM queued q
        LEFT JOIN running r ON r.user_id = q.user_id
        LEFT JOIN queue_turns t ON t.user_id = q.user_id
        ORDER BY q.rank + COALESCE(r.busy, 0), t.last_started_at IS NOT NULL, t.last_started_at,
            q.id
        """  # noqa: S608 (a constant fragment)
    ).fetchall()
    return {row[0]: index for index, row in enumerate(rows, start=1)}


def position_of(conn: sqlite3.Connection, job_id: int) -> int | None:
    """The job's place in line, as `queue_positions` gives it, counted without ranking the whole
    queue (None unless it is queued).

    Jobs are served in rounds (a member's n-th waiting job, plus their running ones, is in round
    n), and within a round by turn, then age. So of each other waiting member's jobs, those in
    earlier rounds come first, and their one job in this job's round comes first if their turn
    is earlier, or the same and that job older. Everything is counted per member, in SQLite.
    """
    row = conn.execute(
        f"""
        WITH {_RUNNING},
        me AS (
            SELECT j.id, j.user_id, t.last_started_at AS last,
                (SELECT COUNT(*) FROM jobs AS q INDEXED BY jobs_queued_by_member
                 WHERE q.state = 'queued' AND q.user_id = j.user_id AND q.id < j.id) AS rank,
                COALESCE(r.busy, 0) AS busy
            FROM jobs j
            LEFT JOIN running r ON r.user_id = j.user_id
            LEFT JOIN queue_turns t ON t.user_id = j.user_id
            WHERE j.id = :job AND j.state = 'queued'
        ),
        waiting AS (
            SELECT user_id, COUNT(*) AS waiting, SUM(CASE WHEN id < :job THEN 1 ELSE 0 END) AS older
            FROM jobs INDEXED BY jobs_queued_by_member WHERE state = 'queued' GROUP BY user_id
        ),
        others AS (
            SELECT w.waiting, w.older,
                me.rank + me.busy - COALESCE(r.busy, 0) AS slot,  -- their job in my round
                t.last_started_at IS NOT NULL AS served, t.last_started_at AS last
            FROM waiting w CROSS JOIN me
            LEFT JOIN running r ON r.user_id = w.user_id
            LEFT JOIN queue_turns t ON t.user_id = w.user_id
            WHERE w.user_id != me.user_id
        )
        SELECT me.rank + 1 + COALESCE(SUM(
            min(max(o.slot, 0), o.waiting)
            + CASE WHEN o.slot >= 0 AND o.slot < o.waiting AND (
                o.served < (me.last IS NOT NULL)
                OR (o.served = (me.last IS NOT NULL) AND o.last < me.last)
                OR (o.last IS NOT DISTINCT FROM me.last AND o.older > o.slot)
            ) THEN 1 ELSE 0 END
        ), 0)
        FROM me LEFT JOIN others o ON TRUE GROUP BY me.rank
        """,  # noqa: S608 (a constant fragment)
        {"job": job_id},
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


class AtCapacity(Exception):
    """As many jobs are running as the bounds allow, across every worker."""


@dataclass(frozen=True)
class Claim:
    """Who starts a job, until when, and the bounds that hold across every worker."""

    claimer: str
    lease_until: str
    running_limit: int  # jobs generating at once, across every worker
    per_member: int  # jobs one member may have generating at once


def start(conn: sqlite3.Connection, job_id: int, at: str, claim: Claim | None = None) -> Job | None:
    """Mark a job running if it is still queued (it may have been cancelled since it was
    chosen); record the member's turn. Return the started job, or None.

    With a claim, the job is the claimer's until its lease runs out, and it starts only if the
    bounds still hold: counted here, inside the writers' lock, they hold whichever worker
    starts what."""
    if claim is not None:
        busy = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN user_id = "
            "(SELECT user_id FROM jobs WHERE id = ?) THEN 1 ELSE 0 END), 0) "
            "FROM jobs INDEXED BY jobs_running_by_member WHERE state = 'running'",
            (job_id,),
        ).fetchone()
        if busy[0] >= claim.running_limit or busy[1] >= claim.per_member:
            raise AtCapacity
    row = conn.execute(
        "UPDATE jobs SET state = 'running', started_at = ?, claimed_by = ?, lease_until = ? "
        "WHERE id = ? AND state = 'queued' RETURNING *",
        (at, claim.claimer if claim else None, claim.lease_until if claim else None, job_id),
    ).fetchone()
    if row is None:
        return None
    job = _job(row)
    conn.execute(
        "INSERT INTO queue_turns (user_id, last_started_at) VALUES (?, ?) "
        "ON CONFLICT (user_id) DO UPDATE SET last_started_at = excluded.last_started_at",
        (job.user_id, at),
    )
    return job


def _fence(claimer: str | None) -> tuple[str, tuple[str, ...]]:
    """The condition (and its parameter) that a job is still this worker's: a worker whose
    lease ran out and whose job another took over must change nothing of it."""
    return ("AND claimed_by = ?", (claimer,)) if claimer is not None else ("", ())


def record_submission(
    conn: sqlite3.Connection,
    job_id: int,
    provider: str,
    service_job_id: str,
    seed: int | None,
    claimer: str | None = None,
) -> Job | None:
    fence, mine = _fence(claimer)
    row = conn.execute(
        "UPDATE jobs SET provider = ?, service_job_id = ?, seed = ? "  # noqa: S608 (a constant fragment)
        f"WHERE id = ? AND state = 'running' {fence} RETURNING *",
        (provider, service_job_id, seed, job_id, *mine),
    ).fetchone()
    return None if row is None else _job(row)


# The jobs a worker holds: running, or finished and not yet posted. (Repeated as written in
# the partial index jobs_leases, so that the planner can use it.)
_HELD = "(state = 'running' OR (state = 'succeeded' AND delivered_at IS NULL))"


def renew_leases(
    conn: sqlite3.Connection, claimer: str, job_ids: list[int], lease_until: str
) -> set[int]:
    """Extend the claimer's leases on these jobs; return the ones still its (the others were
    taken over, or have ended)."""
    if not job_ids:
        return set()
    rows = conn.execute(
        f"UPDATE jobs SET lease_until = ? WHERE id IN ({json_values(conn, integers=True)}) "  # noqa: S608
        f"AND claimed_by = ? AND {_HELD} RETURNING id",
        (lease_until, json.dumps(sorted(job_ids)), claimer),
    ).fetchall()
    return {int(row[0]) for row in rows}


def take_over(
    conn: sqlite3.Connection, claimer: str, now: str, lease_until: str, *, every: bool = False
) -> tuple[list[Job], list[Job]]:
    """Claim the jobs whose worker's lease ran out (`every`: all held jobs, for the only process
    there can be, after a restart); return them as (running, finished but not posted)."""
    # Never its own: a worker whose renewals failed for a while must not start its jobs twice.
    expired = (
        ""
        if every
        else "AND (lease_until < ? OR lease_until IS NULL) "
        "AND (claimed_by IS NULL OR claimed_by <> ?)"
    )
    rows = conn.execute(
        f"UPDATE jobs SET claimed_by = ?, lease_until = ? WHERE id IN ("  # noqa: S608
        f"SELECT id FROM jobs INDEXED BY jobs_leases WHERE {_HELD} {expired}) RETURNING *",
        (claimer, lease_until) + (() if every else (now, claimer)),
    ).fetchall()
    jobs = sorted((_job(row) for row in rows), key=lambda job: job.id)
    return (
        [job for job in jobs if job.state is JobState.RUNNING],
        [job for job in jobs if job.state is JobState.SUCCEEDED],
    )


def release_leases(conn: sqlite3.Connection, claimer: str) -> None:
    """A worker shutting down lets its jobs go at once (no lease: see take_over): another
    worker resumes them without waiting for the leases to run out."""
    conn.execute(
        "UPDATE jobs SET lease_until = NULL WHERE id IN (SELECT id FROM jobs INDEXED BY "  # noqa: S608
        f"jobs_leases WHERE {_HELD} AND claimed_by = ?)",
        (claimer,),
    )


def succeed(
    conn: sqlite3.Connection,
    job_id: int,
    *,
    provider: str,
    seed: int | None,
    cost: str | None,
    image_hashes: list[str],
    error: str | None,
    at: str,
    age_restricted: Sequence[bool] = (),
    likeness: Sequence[tuple[float | None, str | None]] = (),
    held_back: int = 0,
    member_retries: int = 0,
    claimer: str | None = None,
) -> Job | None:
    """Mark a running job done with its images (and a note if some are missing); let go of the
    character's reference. `age_restricted` flags images by position; `held_back` counts the
    images not kept (see migration 0017); `member_retries` the pictures of second tries the
    member pays for at delivery (migration 0021). Return the finished job, or None if it was no
    longer running."""
    fence, mine = _fence(claimer)
    row = conn.execute(
        "UPDATE jobs SET state = 'succeeded', provider = ?, seed = ?, cost = ?, error = ?, "  # noqa: S608 (a constant fragment)
        "finished_at = ?, reference_sha256 = NULL, held_back = ?, member_retries = ? "
        f"WHERE id = ? AND state = 'running' {fence} RETURNING *",
        (provider, seed, cost, error, at, held_back, member_retries, job_id, *mine),
    ).fetchone()
    if row is None:
        return None
    flags = list(age_restricted) + [False] * (len(image_hashes) - len(age_restricted))
    scores = list(likeness) + [(None, None)] * (len(image_hashes) - len(likeness))
    conn.executemany(
        "INSERT INTO job_images (job_id, position, image_sha256, age_restricted, likeness, "
        "likeness_note) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (job_id, index, sha256, int(flag), score, note)
            for index, (sha256, flag, (score, note)) in enumerate(
                zip(image_hashes, flags, scores, strict=True)
            )
        ],
    )
    return _job(row)


def forget_as_owner(conn: sqlite3.Connection, user_id: int) -> None:
    """Other members' scenes stop crediting a forgotten member as their character's owner."""
    conn.execute(
        "UPDATE jobs SET character_owner_id = NULL WHERE character_owner_id = ?", (user_id,)
    )


def queued_of(
    conn: sqlite3.Connection,
    user_id: int,
    *,
    character_id: int | None = None,
    guild_id: int | None = None,
) -> list[Job]:
    """A member's queued jobs (of one character, or in one server): a member has at most a
    few queued, read through their own index."""
    rows = conn.execute(
        "SELECT * FROM jobs INDEXED BY jobs_queued_by_member "
        "WHERE user_id = :user AND state = 'queued' "
        "AND (character_id = :character OR :character IS NULL) "
        "AND (guild_id = :guild OR :guild IS NULL) ORDER BY id",
        {"user": user_id, "character": character_id, "guild": guild_id},
    ).fetchall()
    return [_job(row) for row in rows]


def fail(
    conn: sqlite3.Connection, job_id: int, error: str, at: str, claimer: str | None = None
) -> Job | None:
    """Mark an active job failed and let go of its reference; None if it had already ended
    (or, with a claimer, is no longer its)."""
    fence, mine = _fence(claimer)
    row = conn.execute(
        f"UPDATE jobs SET state = 'failed', error = ?, finished_at = ?, reference_sha256 = NULL "  # noqa: S608
        f"WHERE id = ? AND state IN {_ACTIVE} {fence} RETURNING *",
        (error, at, job_id, *mine),
    ).fetchone()
    return None if row is None else _job(row)


def cancel(conn: sqlite3.Connection, job_id: int, at: str) -> Job | None:
    """Mark an active job cancelled and let go of its reference; None if it had already ended.

    A finished job's region-edit image and mask stay with it, so Reroll can edit the same region
    again; they go when the job row goes (Delete, or a member's request to be forgotten).
    """
    row = conn.execute(
        f"UPDATE jobs SET state = 'cancelled', finished_at = ?, reference_sha256 = NULL "  # noqa: S608
        f"WHERE id = ? AND state IN {_ACTIVE} RETURNING *",
        (at, job_id),
    ).fetchone()
    return None if row is None else _job(row)


def mark_delivered(conn: sqlite3.Connection, job_id: int, at: str) -> bool:
    """Record that the member has the pictures; False if it was recorded already, so nothing
    is charged twice. Not fenced by the claimer: pictures already posted are recorded (and
    charged) whichever worker holds the job now, so the other does not post them again."""
    changed = conn.execute(
        "UPDATE jobs SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL", (at, job_id)
    )
    return changed.rowcount == 1


def active_for_user(conn: sqlite3.Connection, user_id: int) -> list[Job]:
    rows = conn.execute(
        f"SELECT * FROM jobs WHERE user_id = ? AND state IN {_ACTIVE} ORDER BY id",  # noqa: S608
        (user_id,),
    ).fetchall()
    return [_job(row) for row in rows]


def count_active_for_user(conn: sqlite3.Connection, user_id: int) -> int:
    row = conn.execute(
        f"SELECT COUNT(*) FROM jobs WHERE user_id = ? AND state IN {_ACTIVE}",  # noqa: S608
        (user_id,),
    ).fetchone()
    return int(row[0])


def running(conn: sqlite3.Connection) -> list[Job]:
    """Jobs marked running (after a restart: the ones the last process left in flight)."""
    rows = conn.execute("SELECT * FROM jobs WHERE state = 'running' ORDER BY id").fetchall()
    return [_job(row) for row in rows]


def undelivered(conn: sqlite3.Connection) -> list[Job]:
    rows = conn.execute(
        "SELECT * FROM jobs WHERE state = 'succeeded' AND delivered_at IS NULL ORDER BY id"
    ).fetchall()
    return [_job(row) for row in rows]


@dataclass(frozen=True)
class PictureFacts:
    """What is kept about one result besides its image."""

    position: int
    sha256: str
    age_restricted: bool
    likeness: float | None
    likeness_note: str | None


def positioned_images_of(conn: sqlite3.Connection, job_id: int) -> list[PictureFacts]:
    """A job's results, in order."""
    rows = conn.execute(
        "SELECT position, image_sha256, age_restricted, likeness, likeness_note FROM job_images "
        "WHERE job_id = ? ORDER BY position",
        (job_id,),
    ).fetchall()
    return [PictureFacts(row[0], row[1], bool(row[2]), row[3], row[4]) for row in rows]


def stored_images_of(conn: sqlite3.Connection, job_id: int) -> list[tuple[int, str, str, bool]]:
    """A job's results as (position, sha256, format, age-restricted), in order."""
    rows = conn.execute(
        "SELECT ji.position, ji.image_sha256, i.format, ji.age_restricted FROM job_images ji "
        "JOIN images i ON i.sha256 = ji.image_sha256 WHERE ji.job_id = ? ORDER BY ji.position",
        (job_id,),
    ).fetchall()
    return [(row[0], row[1], row[2], bool(row[3])) for row in rows]


def recent_finished(
    conn: sqlite3.Connection, *, scope: int, user_id: int | None, viewer_id: int, limit: int
) -> list[Job]:
    """The newest jobs with results in a server (or a member's there), newest first. Each
    reads an index in job order and stops at `limit`."""
    # Only of characters the viewer may see: listed for the server, theirs, or shared with them.
    visible = (
        "AND EXISTS (SELECT 1 FROM characters c WHERE c.id = j.character_id "
        "AND (c.listed = 1 OR c.owner_id = :viewer OR EXISTS (SELECT 1 FROM character_members m "
        "WHERE m.character_id = c.id AND m.user_id = :viewer)))"
    )
    if user_id is None:
        rows = conn.execute(
            "SELECT j.* FROM jobs j INDEXED BY jobs_pictures_by_guild "  # noqa: S608
            f"WHERE j.guild_id = :scope AND j.state = 'succeeded' {visible} "
            "ORDER BY j.id DESC LIMIT :limit",
            {"scope": scope, "viewer": viewer_id, "limit": limit},
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT j.* FROM jobs j INDEXED BY jobs_by_user "  # noqa: S608
            "WHERE j.user_id = :user AND j.state = 'succeeded' AND j.guild_id = :scope "
            f"{visible} ORDER BY j.id DESC LIMIT :limit",
            {"user": user_id, "scope": scope, "viewer": viewer_id, "limit": limit},
        ).fetchall()
    return [_job(row) for row in rows]


def images_of(conn: sqlite3.Connection, job_id: int) -> list[str]:
    return [facts.sha256 for facts in positioned_images_of(conn, job_id)]


def image_at(conn: sqlite3.Connection, job_id: int, position: int) -> str | None:
    row = conn.execute(
        "SELECT image_sha256 FROM job_images WHERE job_id = ? AND position = ?",
        (job_id, position),
    ).fetchone()
    return None if row is None else str(row[0])


def toggle_favorite(conn: sqlite3.Connection, job_id: int, position: int) -> bool | None:
    """Flip an image's favourite mark; return the new mark, or None if the image is gone."""
    row = conn.execute(
        "UPDATE job_images SET favorite = 1 - favorite WHERE job_id = ? AND position = ? "
        "RETURNING favorite",
        (job_id, position),
    ).fetchone()
    return None if row is None else bool(row[0])


def favorites_of(conn: sqlite3.Connection, job_id: int) -> set[int]:
    rows = conn.execute(
        "SELECT position FROM job_images WHERE job_id = ? AND favorite = 1", (job_id,)
    ).fetchall()
    return {row[0] for row in rows}


def forget_images(conn: sqlite3.Connection, job_id: int, positions: list[int]) -> list[str]:
    """Remove some of a job's results; return the hashes that were listed."""
    removed: list[str] = []
    for position in positions:
        # The try that was not delivered goes with the picture (its row by the foreign key).
        other = conn.execute(
            "SELECT image_sha256 FROM likeness_tries WHERE job_id = ? AND position = ?",
            (job_id, position),
        ).fetchone()
        if other is not None:
            removed.append(other[0])
        row = conn.execute(
            "DELETE FROM job_images WHERE job_id = ? AND position = ? RETURNING image_sha256",
            (job_id, position),
        ).fetchone()
        if row is not None:
            removed.append(row[0])
    return removed


def delete_all_of(conn: sqlite3.Connection, user_id: int) -> tuple[int, list[str]]:
    """Delete every job of a member, with their results; return how many, and every image hash
    they referred to (for the caller to release in the same transaction)."""
    held = [
        sha256
        for (sha256,) in conn.execute(
            "SELECT image_sha256 FROM job_images WHERE job_id IN "
            "(SELECT id FROM jobs WHERE user_id = ?) "
            "UNION ALL SELECT image_sha256 FROM likeness_tries WHERE job_id IN "
            "(SELECT id FROM jobs WHERE user_id = ?)",
            (user_id, user_id),
        )
    ]
    deleted = conn.execute(
        "DELETE FROM jobs WHERE user_id = ? "
        "RETURNING reference_sha256, edit_image_sha256, edit_mask_sha256",
        (user_id,),
    ).fetchall()
    held += [sha256 for row in deleted for sha256 in row if sha256 is not None]
    return len(deleted), held


def delete(conn: sqlite3.Connection, job_id: int) -> list[str]:
    """Delete a job and its result list; return every image hash it referred to."""
    job = get(conn, job_id)
    if job is None:
        return []
    held = [h for h in (job.reference_sha256, job.edit_image_sha256, job.edit_mask_sha256) if h]
    held += images_of(conn, job_id)
    held += [
        sha256
        for (sha256,) in conn.execute(
            "SELECT image_sha256 FROM likeness_tries WHERE job_id = ?", (job_id,)
        )
    ]
    conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
    return held


def forget_turn(conn: sqlite3.Connection, user_id: int) -> None:
    """Drop the member's place in the queue's memory (they asked to be forgotten)."""
    conn.execute("DELETE FROM queue_turns WHERE user_id = ?", (user_id,))


def recent_durations(conn: sqlite3.Connection, limit: int = 20) -> list[float]:
    """Seconds from start to finish of the latest successful jobs, newest first (for ETAs)."""
    rows = conn.execute(
        "SELECT started_at, finished_at FROM jobs "
        "WHERE state = 'succeeded' AND started_at IS NOT NULL AND finished_at IS NOT NULL "
        "ORDER BY finished_at DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [
        (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
        for started, finished in rows
    ]
