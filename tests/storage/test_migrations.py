"""Migrations applied to a database that already holds data, as an upgrade would find it."""

import sqlite3
from pathlib import Path

from bot.characters.service import CharacterService
from bot.clock import SystemClock
from bot.images.processing import ImageWorkers
from bot.images.store import ImageStore
from bot.models import Viewer
from storage import jobs
from storage.database import load_migrations, open_database

SHA = "b" * 64
GUILD = 7


def database_before(path: Path, version: int) -> None:
    """A database at schema `version`, with the rows a few weeks of use would leave."""
    conn = sqlite3.connect(path)
    for migration in load_migrations()[:version]:
        conn.executescript(
            f"BEGIN;\n{migration.sql}\nPRAGMA user_version = {migration.version};\nCOMMIT;"
        )
    conn.execute("PRAGMA foreign_keys = ON")
    with conn:
        conn.execute("INSERT INTO images VALUES (?, 'png', 1, 1, 1, 't')", (SHA,))
        for n, name in enumerate(("Mira", "Amira Stone", "Ravenna")):
            conn.execute(
                "INSERT INTO characters (public_id, guild_id, owner_id, name, name_key, "
                "visibility, image_sha256, original_sha256, original_format, original_width, "
                "original_height, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 'server', ?, ?, 'png', 1, 1, 't', 't')",
                (f"old{n:03d}", GUILD, 100 + n, name, name.lower(), SHA, SHA),
            )
        for user, started in ((1, "2026-10-01T10:00:00Z"), (1, "2026-10-03T10:00:00Z"), (2, None)):
            conn.execute(
                "INSERT INTO jobs (kind, state, guild_id, channel_id, user_id, character_name, "
                "options, image_count, created_at, started_at) "
                "VALUES ('scene', ?, ?, 1, ?, 'Mira', '{}', 1, 't', ?)",
                ("succeeded" if started else "queued", GUILD, user, started),
            )
    conn.close()


async def test_the_history_migration_keeps_and_indexes_existing_data(tmp_path: Path) -> None:
    path = tmp_path / "cameo.sqlite3"
    database_before(path, version=6)
    async with open_database(path) as db:
        assert await db.schema_version() == load_migrations()[-1].version

        def facts(conn: sqlite3.Connection) -> tuple[list[tuple[int, str]], set[str]]:
            turns = conn.execute("SELECT user_id, last_started_at FROM queue_turns").fetchall()
            indexes = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'index'")
            return [tuple(row) for row in turns], {row[0] for row in indexes}

        turns, indexes = await db.run_read(facts)
        # Each member's latest start became their turn; member 2 was never served.
        assert turns == [(1, "2026-10-03T10:00:00Z")]
        assert {"jobs_by_reference", "jobs_by_character", "characters_by_name"} <= indexes
        # The queued job survived and is still next.
        nxt = await db.run_read(lambda conn: jobs.next_runnable(conn, per_user_limit=2))
        assert nxt is not None
        assert nxt.user_id == 2

        # Characters registered before the trigram index are found by any part of their name.
        service = CharacterService(
            db, ImageStore(tmp_path / "images", db), ImageWorkers(), SystemClock()
        )
        viewer = Viewer(user_id=1, guild_id=GUILD)
        assert [c.name for c in await service.suggest(viewer, "mir")] == ["Mira", "Amira Stone"]
        assert [c.name for c in await service.suggest(viewer, "ENNA")] == ["Ravenna"]
