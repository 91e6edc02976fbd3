"""Stories' rows: scene numbers that stay put, and a member forgotten without losing the story."""

from __future__ import annotations

import sqlite3

from storage import stories
from storage.database import Database
from tests.storage.test_gallery import GUILD, add_character, db  # noqa: F401 (the fixture)
from tests.storage.test_jobs import new_job


async def test_scenes_are_numbered_in_order_and_keep_their_numbers(db: Database) -> None:  # noqa: F811
    def work(conn: sqlite3.Connection) -> None:
        from storage import jobs

        story = stories.create(conn, GUILD, 500, "The Lost Crown", 5, "t")
        made = [jobs.insert(conn, new_job(5, reference_sha256="c" * 64)) for _ in range(3)]
        assert [stories.add_scene(conn, story.id, job.id) for job in made] == [1, 2, 3]
        conn.execute("DELETE FROM jobs WHERE id = ?", (made[2].id,))  # the last scene deleted
        fourth = jobs.insert(conn, new_job(5, reference_sha256="c" * 64))
        assert stories.add_scene(conn, story.id, fourth.id) == 3  # one more than the last kept
        assert stories.scene_of(conn, made[1].id) == (story, 2)

    await db.run_transaction(work)


async def test_a_forgotten_members_stories_stay_without_their_id(db: Database) -> None:  # noqa: F811
    def work(conn: sqlite3.Connection) -> None:
        story = stories.create(conn, GUILD, 500, "Night Watch", 5, "t")
        character = add_character(conn, 1, 6, GUILD, "server", 0)
        stories.add_to_cast(conn, story.id, character, 5, "t")
        stories.forget_member(conn, 5)
        kept = stories.get(conn, story.id)
        assert kept is not None
        assert kept.creator_id == 0
        assert stories.added_by(conn, story.id, character) == 0
        assert [c.id for c in stories.cast_of(conn, story.id)] == [character]

    await db.run_transaction(work)
