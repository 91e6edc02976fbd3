"""Where each job shows on Discord (the `scene_cards` table): its card, its results' thread,
and the channel's upload limit. Written and read by the Discord side only."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class CardPlace:
    job_id: int
    channel_id: int | None
    message_id: int | None
    thread_id: int | None
    upload_limit: int

    @property
    def has_card(self) -> bool:
        return self.channel_id is not None and self.message_id is not None


def _place(row: sqlite3.Row) -> CardPlace:
    return CardPlace(
        job_id=row["job_id"],
        channel_id=row["channel_id"],
        message_id=row["message_id"],
        thread_id=row["thread_id"],
        upload_limit=row["upload_limit"],
    )


def get(conn: sqlite3.Connection, job_id: int) -> CardPlace | None:
    row = conn.execute("SELECT * FROM scene_cards WHERE job_id = ?", (job_id,)).fetchone()
    return None if row is None else _place(row)


def record_card(
    conn: sqlite3.Connection, job_id: int, channel_id: int, message_id: int, upload_limit: int
) -> CardPlace | None:
    """Record the job's card; None if the job is gone (deleted while its card was posted)."""
    row = conn.execute(
        "INSERT INTO scene_cards (job_id, channel_id, message_id, upload_limit) "
        "SELECT id, ?, ?, ? FROM jobs WHERE id = ? "
        "ON CONFLICT (job_id) DO UPDATE SET channel_id = excluded.channel_id, "
        "message_id = excluded.message_id, upload_limit = excluded.upload_limit "
        "RETURNING *",
        (channel_id, message_id, upload_limit, job_id),
    ).fetchone()
    return None if row is None else _place(row)


def record_thread(
    conn: sqlite3.Connection, job_id: int, thread_id: int | None, upload_limit: int
) -> CardPlace | None:
    """Record (or forget, with None) the thread of the job's results."""
    row = conn.execute(
        "INSERT INTO scene_cards (job_id, thread_id, upload_limit) "
        "SELECT id, ?, ? FROM jobs WHERE id = ? "
        "ON CONFLICT (job_id) DO UPDATE SET thread_id = excluded.thread_id "
        "RETURNING *",
        (thread_id, upload_limit, job_id),
    ).fetchone()
    return None if row is None else _place(row)
