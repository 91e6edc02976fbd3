"""Stories, their casts and their numbered scenes (`storage/migrations/0011_stories.sql`)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from bot.models import Character, Job
from storage.characters import COLUMNS, character_of
from storage.jobs import _job


@dataclass(frozen=True)
class Story:
    id: int
    guild_id: int
    channel_id: int
    title: str
    creator_id: int
    closed: bool
    created_at: str


_STORY = "SELECT id, guild_id, channel_id, title, creator_id, closed, created_at FROM stories"


def _story(row: sqlite3.Row | tuple[Any, ...]) -> Story:
    id_, guild_id, channel_id, title, creator_id, closed, created_at = tuple(row)
    return Story(id_, guild_id, channel_id, title, creator_id, bool(closed), created_at)


def create(
    conn: sqlite3.Connection, guild_id: int, channel_id: int, title: str, creator_id: int, at: str
) -> Story:
    row = conn.execute(
        "INSERT INTO stories (guild_id, channel_id, title, creator_id, created_at) "
        "VALUES (?, ?, ?, ?, ?) RETURNING id, guild_id, channel_id, title, creator_id, closed, "
        "created_at",
        (guild_id, channel_id, title, creator_id, at),
    ).fetchone()
    return _story(row)


def in_channel(conn: sqlite3.Connection, channel_id: int) -> Story | None:
    row = conn.execute(f"{_STORY} WHERE channel_id = ?", (channel_id,)).fetchone()
    return None if row is None else _story(row)


def get(conn: sqlite3.Connection, story_id: int) -> Story | None:
    row = conn.execute(f"{_STORY} WHERE id = ?", (story_id,)).fetchone()
    return None if row is None else _story(row)


def rename(conn: sqlite3.Connection, story_id: int, title: str) -> None:
    conn.execute("UPDATE stories SET title = ? WHERE id = ?", (title, story_id))


def set_closed(conn: sqlite3.Connection, story_id: int, closed: bool) -> None:
    conn.execute("UPDATE stories SET closed = ? WHERE id = ?", (int(closed), story_id))


def add_to_cast(
    conn: sqlite3.Connection, story_id: int, character_id: int, added_by: int, at: str
) -> bool:
    cursor = conn.execute(
        "INSERT INTO story_cast (story_id, character_id, added_by, added_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (story_id, character_id, added_by, at),
    )
    return cursor.rowcount > 0


def remove_from_cast(conn: sqlite3.Connection, story_id: int, character_id: int) -> bool:
    cursor = conn.execute(
        "DELETE FROM story_cast WHERE story_id = ? AND character_id = ?", (story_id, character_id)
    )
    return cursor.rowcount > 0


def cast_of(conn: sqlite3.Connection, story_id: int) -> list[Character]:
    """The cast as shown to everyone: a character made private since leaves it (until it is
    shared with the server again)."""
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM story_cast s "  # noqa: S608 (a constant fragment)
        "JOIN characters c ON c.id = s.character_id JOIN images i ON i.sha256 = c.image_sha256 "
        "WHERE s.story_id = ? AND c.listed = 1 ORDER BY s.added_at, c.id",
        (story_id,),
    ).fetchall()
    return [character_of(row) for row in rows]


def added_by(conn: sqlite3.Connection, story_id: int, character_id: int) -> int | None:
    row = conn.execute(
        "SELECT added_by FROM story_cast WHERE story_id = ? AND character_id = ?",
        (story_id, character_id),
    ).fetchone()
    return None if row is None else int(row[0])


def forget_member(conn: sqlite3.Connection, user_id: int) -> None:
    """Keep the member's stories and what they added, without their id (they asked to be
    forgotten; the story belongs to everyone who told it)."""
    conn.execute("UPDATE stories SET creator_id = 0 WHERE creator_id = ?", (user_id,))
    conn.execute("UPDATE story_cast SET added_by = 0 WHERE added_by = ?", (user_id,))


def add_scene(conn: sqlite3.Connection, story_id: int, job_id: int) -> int:
    """Number a new scene of the story (one more than its last kept); return the number."""
    row = conn.execute(
        "INSERT INTO story_scenes (story_id, number, job_id) "
        "SELECT ?, COALESCE(MAX(number), 0) + 1, ? FROM story_scenes WHERE story_id = ? "
        "RETURNING number",
        (story_id, job_id, story_id),
    ).fetchone()
    return int(row[0])


def scene_of(conn: sqlite3.Connection, job_id: int) -> tuple[Story, int] | None:
    """The story a job is a scene of, and its number."""
    row = conn.execute(
        "SELECT s.id, s.guild_id, s.channel_id, s.title, s.creator_id, s.closed, s.created_at, "
        "ss.number FROM story_scenes ss JOIN stories s ON s.id = ss.story_id WHERE ss.job_id = ?",
        (job_id,),
    ).fetchone()
    return None if row is None else (_story(tuple(row)[:7]), int(row[7]))


@dataclass(frozen=True)
class StoryScene:
    number: int
    job: Job
    pictures: list[tuple[int, str, str]]  # (position, sha256, format)
    likeness: float | None = None  # the first picture's, where it was scored


def scenes_of(conn: sqlite3.Connection, story_id: int) -> list[StoryScene]:
    """The story's delivered scenes in order, each with its pictures."""
    rows = conn.execute(
        "SELECT j.*, ss.number AS scene_number FROM story_scenes ss "
        "JOIN jobs j ON j.id = ss.job_id "
        "WHERE ss.story_id = ? AND j.state = 'succeeded' ORDER BY ss.number",
        (story_id,),
    ).fetchall()
    scenes = []
    for row in rows:
        pictures = conn.execute(
            "SELECT ji.position, ji.image_sha256, i.format, ji.likeness FROM job_images ji "
            "JOIN images i ON i.sha256 = ji.image_sha256 "
            # Age-restricted pictures stay in the channel they were made for (migration 0017).
            "WHERE ji.job_id = ? AND ji.age_restricted = 0 ORDER BY ji.position",
            (row["id"],),
        ).fetchall()
        if pictures:
            scenes.append(
                StoryScene(
                    row["scene_number"],
                    _job(row),
                    [(p[0], p[1], p[2]) for p in pictures],
                    pictures[0][3],
                )
            )
    return scenes


def card_of(conn: sqlite3.Connection, story_id: int) -> int | None:
    row = conn.execute(
        "SELECT message_id FROM story_cards WHERE story_id = ?", (story_id,)
    ).fetchone()
    return None if row is None else int(row[0])


def record_card(conn: sqlite3.Connection, story_id: int, message_id: int) -> None:
    conn.execute(
        "INSERT INTO story_cards (story_id, message_id) VALUES (?, ?) "
        "ON CONFLICT (story_id) DO UPDATE SET message_id = excluded.message_id",
        (story_id, message_id),
    )
