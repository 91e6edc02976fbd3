"""Releasing images: only rows nothing references go, whatever kind of reference it is."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import images, jobs
from storage.database import Database, open_database
from tests.storage.test_jobs import new_job


def sha(n: int) -> str:
    return f"{n:064x}"


@pytest.fixture
async def db(database_target: str | Path) -> AsyncIterator[Database]:
    async with open_database(database_target) as database:

        def add(conn: sqlite3.Connection) -> None:
            for n in range(1, 10):
                images.insert(conn, images.ImageRow(sha(n), "png", n, n, 100 + n), "t")

        await database.run_transaction(add)
        yield database


def add_character(conn: sqlite3.Connection, image: str) -> int:
    row = conn.execute(
        "INSERT INTO characters (public_id, guild_id, owner_id, name, name_key, visibility, "
        "image_sha256, original_sha256, original_format, original_width, original_height, "
        "created_at, updated_at) "
        "VALUES ('abc123', 10, 1, 'Mira', 'mira', 'server', ?, ?, 'png', 1, 1, 't', 't') "
        "RETURNING id",
        (image, image),
    ).fetchone()
    return int(row[0])


def remaining(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT sha256 FROM images")}


async def test_only_images_nothing_references_are_released_in_the_order_asked(
    db: Database,
) -> None:
    def work(conn: sqlite3.Connection) -> None:
        character = add_character(conn, sha(1))
        conn.execute(
            "INSERT INTO looks (character_id, name, name_key, image_sha256, original_sha256, "
            "original_format, original_width, original_height, created_at) "
            "VALUES (?, 'winter', 'winter', ?, ?, 'png', 1, 1, 't')",
            (character, sha(2), sha(2)),
        )
        jobs.insert(conn, new_job(2, reference_sha256=sha(3)))  # waiting: holds its reference
        job = jobs.insert(conn, new_job(1, reference_sha256=sha(7), edit_image_sha256=sha(4)))
        jobs.start(conn, job.id, "t")
        jobs.succeed(
            conn, job.id, provider="x", seed=1, cost=None, image_hashes=[sha(5)], error=None,
            at="t",
        )  # fmt: skip
        asked = [sha(8), sha(1), sha(6), sha(2), sha(3), sha(8), "f" * 64, sha(4), sha(5)]
        gone = images.release(conn, asked)
        assert gone == [
            images.ImageRow(sha(8), "png", 8, 8, 108),
            images.ImageRow(sha(6), "png", 6, 6, 106),
        ]
        assert remaining(conn) == {sha(n) for n in (1, 2, 3, 4, 5, 7, 9)}
        assert images.release(conn, []) == []
        assert images.release(conn, [sha(8)]) == []  # already gone

    await db.run_transaction(work)


async def test_a_release_follows_the_schema_as_it_changes(db: Database) -> None:
    # The references are read from the schema once per version of it: a table that points at
    # images keeps them, and once dropped, no longer does (nor breaks the next release).
    def work(conn: sqlite3.Connection) -> None:
        assert images.release(conn, [sha(1)]) == [images.ImageRow(sha(1), "png", 1, 1, 101)]
        conn.execute(
            "CREATE TABLE pins (image_sha256 TEXT NOT NULL "
            "REFERENCES images (sha256) ON DELETE RESTRICT)"
        )
        conn.execute("CREATE INDEX pins_by_image ON pins (image_sha256)")
        conn.execute("INSERT INTO pins VALUES (?)", (sha(2),))
        assert images.release(conn, [sha(2), sha(3)]) == [images.ImageRow(sha(3), "png", 3, 3, 103)]
        conn.execute("DROP TABLE pins")
        assert images.release(conn, [sha(2)]) == [images.ImageRow(sha(2), "png", 2, 2, 102)]

    await db.run_transaction(work)


def test_a_database_in_memory_is_released_from_too() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(
        "CREATE TABLE images (sha256 TEXT PRIMARY KEY, format TEXT, width INTEGER, "
        "height INTEGER, byte_size INTEGER, created_at TEXT)"
    )
    conn.execute("CREATE TABLE uses (image_sha256 TEXT REFERENCES images (sha256))")
    for n in (1, 2):
        images.insert(conn, images.ImageRow(sha(n), "png", 1, 1, 1), "t")
    conn.execute("INSERT INTO uses VALUES (?)", (sha(1),))
    assert [row.sha256 for row in images.release(conn, [sha(1), sha(2)])] == [sha(2)]
    conn.close()


async def test_pictures_let_go_of_are_due_by_the_databases_clock(db: Database) -> None:
    def work(conn: sqlite3.Connection) -> list[list[tuple[str, bool]]]:
        conn.execute(
            "INSERT INTO image_releases (sha256, format, released_at) "
            "VALUES (?, 'png', ?), (?, 'png', ?), (?, 'png', ?)",
            (
                sha(1),  # let go of, then recorded again: its file stays
                images.database_time(conn, 300),
                sha(20),
                images.database_time(conn, 200),
                sha(21),
                images.database_time(conn, 30),
            ),
        )
        seen = [
            [(item.sha256, item.in_use) for item in images.due(conn, grace, 10)]
            for grace in (400, 100, 10)
        ]
        images.forget_released(conn, [sha(1)])
        images.postpone(conn, [sha(20)])  # could not be deleted: its wait starts again
        seen.append([(item.sha256, item.in_use) for item in images.due(conn, 10, 10)])
        return seen

    assert await db.run_transaction(work) == [
        [],
        [(sha(1), True), (sha(20), False)],
        [(sha(1), True), (sha(20), False), (sha(21), False)],
        [(sha(21), False)],
    ]
