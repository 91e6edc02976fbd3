"""The showcase's records (`showcase_*`, `shared_pictures`) and the queue of Discord messages
and threads to delete (`discord_deletions`). Written and read by the Discord side only."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class ShowcasePost:
    character_id: int
    guild_id: int
    channel_id: int  # the showcase channel
    thread_id: int
    card_channel_id: int  # the post itself (a forum), or the showcase channel (a text channel)
    message_id: int


@dataclass(frozen=True)
class SharedPicture:
    job_id: int
    position: int
    thread_id: int
    message_id: int


@dataclass(frozen=True)
class Deletion:
    id: int
    channel_id: int
    message_id: int | None  # None: the thread itself


def set_channel(conn: sqlite3.Connection, guild_id: int, channel_id: int | None) -> None:
    if channel_id is None:
        conn.execute("DELETE FROM showcase_channels WHERE guild_id = ?", (guild_id,))
        return
    conn.execute(
        "INSERT INTO showcase_channels (guild_id, channel_id) VALUES (?, ?) "
        "ON CONFLICT (guild_id) DO UPDATE SET channel_id = excluded.channel_id",
        (guild_id, channel_id),
    )


def channel_of(conn: sqlite3.Connection, guild_id: int) -> int | None:
    row = conn.execute(
        "SELECT channel_id FROM showcase_channels WHERE guild_id = ?", (guild_id,)
    ).fetchone()
    return None if row is None else int(row[0])


def post_of(conn: sqlite3.Connection, character_id: int) -> ShowcasePost | None:
    row = conn.execute(
        "SELECT character_id, guild_id, channel_id, thread_id, card_channel_id, message_id "
        "FROM showcase_posts WHERE character_id = ?",
        (character_id,),
    ).fetchone()
    return None if row is None else ShowcasePost(*row)


def record_post(conn: sqlite3.Connection, post: ShowcasePost) -> bool:
    """Record a character's new post, if it is still shared with the server; False if it was
    deleted or made private meanwhile (the new post is then queued for deletion).

    A post it had before (in a showcase since moved elsewhere) is deleted first, so the
    trigger queues its thread, card and copies for deletion too.
    """
    remove_post(conn, post.character_id)
    cursor = conn.execute(
        "INSERT INTO showcase_posts "
        "(character_id, guild_id, channel_id, thread_id, card_channel_id, message_id) "
        "SELECT id, ?, ?, ?, ?, ? FROM characters WHERE id = ? AND listed = 1",
        (
            post.guild_id,
            post.channel_id,
            post.thread_id,
            post.card_channel_id,
            post.message_id,
            post.character_id,
        ),
    )
    if cursor.rowcount == 0:
        queue_deletion(conn, post.card_channel_id, post.message_id)
        queue_deletion(conn, post.thread_id, None)
        return False
    return True


def remove_post(conn: sqlite3.Connection, character_id: int) -> None:
    """Forget a character's post; the trigger queues its thread (and card) for deletion."""
    conn.execute("DELETE FROM showcase_posts WHERE character_id = ?", (character_id,))


def shared(conn: sqlite3.Connection, job_id: int, position: int) -> SharedPicture | None:
    row = conn.execute(
        "SELECT job_id, position, thread_id, message_id FROM shared_pictures "
        "WHERE job_id = ? AND position = ?",
        (job_id, position),
    ).fetchone()
    return None if row is None else SharedPicture(*row)


def record_shared(conn: sqlite3.Connection, picture: SharedPicture) -> bool:
    """Record a shared copy; False if the picture was deleted while it was being posted (the
    copy is then queued for deletion at once)."""
    # Only into the character's current post, and only while it is shared with the server.
    cursor = conn.execute(
        "INSERT INTO shared_pictures (job_id, position, thread_id, message_id) "
        "SELECT ji.job_id, ji.position, ?, ? FROM job_images ji "
        "JOIN jobs j ON j.id = ji.job_id "
        "JOIN showcase_posts p ON p.character_id = j.character_id AND p.thread_id = ? "
        "WHERE ji.job_id = ? AND ji.position = ? AND ji.age_restricted = 0 "
        "ON CONFLICT (job_id, position) DO NOTHING",
        (
            picture.thread_id,
            picture.message_id,
            picture.thread_id,
            picture.job_id,
            picture.position,
        ),
    )
    if cursor.rowcount == 0:
        queue_deletion(conn, picture.thread_id, picture.message_id)
        return False
    return True


def queue_deletion(conn: sqlite3.Connection, channel_id: int, message_id: int | None) -> None:
    conn.execute(
        "INSERT INTO discord_deletions (channel_id, message_id) VALUES (?, ?)",
        (channel_id, message_id),
    )


def pending_deletions(conn: sqlite3.Connection, limit: int) -> list[Deletion]:
    rows = conn.execute(
        "SELECT id, channel_id, message_id FROM discord_deletions ORDER BY id LIMIT ?", (limit,)
    ).fetchall()
    return [Deletion(*row) for row in rows]


def deletions_done(conn: sqlite3.Connection, ids: list[int]) -> None:
    conn.executemany("DELETE FROM discord_deletions WHERE id = ?", [(i,) for i in ids])
