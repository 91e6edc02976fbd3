"""Migrations applied to a database that already holds data, as an upgrade would find it."""

import sqlite3
from pathlib import Path

from bot.characters.service import CharacterService
from bot.clock import SystemClock
from bot.images.processing import ImageWorkers
from bot.images.store import ImageStore
from bot.models import Viewer, Visibility
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


async def test_cards_threads_and_upload_limits_move_to_the_discord_sides_table(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cameo.sqlite3"
    database_before(path, version=7)
    conn = sqlite3.connect(path)
    with conn:
        # Job 1 finished in a thread; job 2's card is posted in a boosted server; job 3 never
        # got a card (nothing to keep).
        conn.execute(
            "UPDATE jobs SET status_channel_id = 5, status_message_id = 50, thread_id = 51 "
            "WHERE id = 1"
        )
        conn.execute(
            "UPDATE jobs SET status_channel_id = 6, status_message_id = 60, "
            "upload_limit = 52428800 WHERE id = 3"
        )
    conn.close()
    async with open_database(path) as db:

        def facts(conn: sqlite3.Connection) -> tuple[list[tuple[object, ...]], set[str]]:
            cards = conn.execute("SELECT * FROM scene_cards ORDER BY job_id").fetchall()
            columns = conn.execute("SELECT name FROM pragma_table_info('jobs')").fetchall()
            return [tuple(row) for row in cards], {row[0] for row in columns}

        cards, columns = await db.run_read(facts)
        assert cards == [(1, 5, 50, 51, 10485760), (3, 6, 60, None, 52428800)]
        assert not {"status_channel_id", "status_message_id", "thread_id", "upload_limit"} & columns
        # Every job is still there and reads as the domain's job.
        stored = await db.run_read(lambda conn: [jobs.get(conn, n) for n in (1, 2, 3)])
        assert [job.id for job in stored if job is not None] == [1, 2, 3]
        # A card goes with its job.
        await db.run_transaction(lambda conn: conn.execute("DELETE FROM jobs WHERE id = 1"))
        assert [row[0] for row in (await db.run_read(facts))[0]] == [3]


async def test_favourites_marked_before_galleries_are_found_by_server(tmp_path: Path) -> None:
    path = tmp_path / "cameo.sqlite3"
    database_before(path, version=8)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("INSERT INTO job_images VALUES (1, 0, ?, 1)", (SHA,))
        conn.execute("INSERT INTO job_images VALUES (1, 1, ?, 0)", (SHA,))
    conn.close()
    async with open_database(path) as db:
        rows = await db.run_read(
            lambda conn: conn.execute("SELECT * FROM favorite_pictures").fetchall()
        )
        assert [tuple(row) for row in rows] == [(GUILD, 1, 0)]
        # Marks made from now on are kept in step by the triggers.
        await db.run_transaction(lambda conn: jobs.toggle_favorite(conn, 1, 1))
        await db.run_transaction(lambda conn: jobs.toggle_favorite(conn, 1, 0))
        rows = await db.run_read(
            lambda conn: conn.execute("SELECT * FROM favorite_pictures").fetchall()
        )
        assert [tuple(row) for row in rows] == [(GUILD, 1, 1)]


async def test_deleting_a_character_leaves_its_scenes_alone_and_its_id_unused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cameo.sqlite3"
    database_before(path, version=11)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("PRAGMA foreign_keys = ON")
        # Mira (character 1) is in every scene, one a reroll of another, one in a story, and
        # her card is in the showcase.
        conn.execute("UPDATE jobs SET character_id = 1")
        conn.execute("UPDATE jobs SET rerolled_from = 1 WHERE id = 2")
        conn.execute("INSERT INTO job_images VALUES (1, 0, ?, 1)", (SHA,))
        conn.execute("INSERT INTO stories VALUES (1, ?, 900, 'Ferry', 100, 0, 't')", (GUILD,))
        conn.execute("INSERT INTO story_cast VALUES (1, 1, 100, 't')")
        conn.execute("INSERT INTO story_scenes VALUES (1, 1, 1)")
        conn.execute("INSERT INTO showcase_posts VALUES (1, ?, 800, 801, 801, 802)", (GUILD,))
    conn.close()

    async with open_database(path) as db:
        assert await db.schema_version() == load_migrations()[-1].version

        async def counts(*tables: str) -> list[int]:
            def read(conn: sqlite3.Connection) -> list[int]:
                sql = "SELECT count(*) FROM {}"
                return [conn.execute(sql.format(table)).fetchone()[0] for table in tables]

            return await db.run_read(read)

        # Everything came across, and every key still points somewhere.
        assert await counts("characters", "jobs", "job_images", "favorite_pictures") == [3, 3, 1, 1]
        assert await db.run_read(lambda c: c.execute("PRAGMA foreign_keys").fetchone()[0]) == 1
        assert await db.run_read(lambda c: c.execute("PRAGMA foreign_key_check").fetchall()) == []

        service = CharacterService(
            db, ImageStore(tmp_path / "images", db), ImageWorkers(), SystemClock()
        )
        owner = Viewer(user_id=100, guild_id=GUILD)
        await service.delete(owner, 1)

        def job_facts(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
            rows = conn.execute("SELECT id, character_id, rerolled_from FROM jobs ORDER BY id")
            return [tuple(row) for row in rows]

        # The scenes keep the id they were made with (nothing rewrote them)…
        assert await db.run_read(job_facts) == [(1, 1, None), (2, 1, 1), (3, 1, None)]
        # …while what belongs to the character itself went with it.
        assert await counts("story_cast", "showcase_posts", "story_scenes") == [0, 0, 1]
        assert [c.name for c in await service.suggest(owner, "mir")] == ["Amira Stone"]

        # Deleting the newest character does not free its id for the next one.
        await service.delete(Viewer(user_id=102, guild_id=GUILD), 3)
        await db.run_transaction(
            lambda conn: conn.execute(
                "INSERT INTO characters (public_id, guild_id, owner_id, name, name_key, "
                "visibility, image_sha256, original_sha256, original_format, original_width, "
                "original_height, created_at, updated_at) "
                "VALUES ('new000', ?, 100, 'Mira', 'mira', 'server', ?, ?, 'png', 1, 1, 't', 't')",
                (GUILD, SHA, SHA),
            )
        )
        new_id = await db.run_read(
            lambda c: c.execute("SELECT id FROM characters WHERE public_id = 'new000'").fetchone()
        )
        assert new_id[0] == 4
        assert [c.name for c in await service.suggest(owner, "mir")] == ["Mira", "Amira Stone"]

        # Keys that matter still hold: a job takes its pictures and story place with it, and a
        # reroll forgets its original.
        await db.run_transaction(lambda conn: conn.execute("DELETE FROM jobs WHERE id = 1"))
        assert await counts("job_images", "favorite_pictures", "story_scenes") == [0, 0, 0]
        assert (await db.run_read(job_facts))[0] == (2, 1, None)


async def test_every_character_gets_one_default_look_and_keeps_everything(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cameo.sqlite3"
    database_before(path, version=12)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("UPDATE characters SET visibility = 'private' WHERE name = 'Ravenna'")
        # Mira's scenes: job 1 by her owner (member 100), job 2 by member 1, a result each.
        conn.execute(
            "UPDATE jobs SET character_id = 1, user_id = 100, state = 'succeeded' WHERE id = 1"
        )
        conn.execute("UPDATE jobs SET character_id = 1, state = 'succeeded' WHERE id = 2")
        conn.execute("INSERT INTO job_images VALUES (1, 0, ?, 1)", (SHA,))
    conn.close()

    async with open_database(path) as db:
        assert await db.schema_version() == load_migrations()[-1].version

        def facts(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
            queries = {
                "looks": "SELECT character_id, name, is_default, image_sha256 FROM looks "
                "ORDER BY character_id",
                "characters": "SELECT id, visibility, listed, others_scene_count, defaults "
                "FROM characters ORDER BY id",
                "jobs": "SELECT id, look_id, look_name, option_sources FROM jobs ORDER BY id",
                "pictures": "SELECT job_id, position, favorite FROM job_images",
                "broken": "PRAGMA foreign_key_check",
            }
            return {
                name: [tuple(row) for row in conn.execute(sql).fetchall()]
                for name, sql in queries.items()
            }

        found = await db.run_read(facts)
        assert found["looks"] == [(n, "default", 1, SHA) for n in (1, 2, 3)]
        assert found["characters"] == [
            (1, "server", 1, 1, "{}"),
            (2, "server", 1, 0, "{}"),
            (3, "private", 0, 0, "{}"),
        ]
        assert found["jobs"] == [(n, None, None, "{}") for n in (1, 2, 3)]
        assert found["pictures"] == [(1, 0, 1)]
        assert found["broken"] == []

        # The characters read back as the domain's, each with its one look as the default.
        service = CharacterService(
            db, ImageStore(tmp_path / "images", db), ImageWorkers(), SystemClock()
        )
        mira = await service.resolve(Viewer(user_id=100, guild_id=GUILD), "Mira")
        assert (mira.listed, mira.others_scene_count) == (True, 1)
        # A character can still be made approved-only, listed or not (a generated column).
        await service.edit(Viewer(100, GUILD), "Mira", visibility=Visibility.APPROVED, listed=False)
        hidden = await service.get(mira.id)
        assert hidden is not None
        assert (hidden.visibility, hidden.listed) == (Visibility.APPROVED, False)


async def test_likeness_rerolls_keep_the_ledger_and_each_servers_settings(tmp_path: Path) -> None:
    path = tmp_path / "cameo.sqlite3"
    database_before(path, version=20)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT INTO likeness_settings (guild_id, mode, strong) VALUES (?, 'off', 0.6)",
            (GUILD,),
        )
        for n, change in enumerate(("reserve", "charge", "give")):
            conn.execute(
                "INSERT INTO credit_ledger (id, guild_id, user_id, job_id, change, credits, "
                "budget, day, month, reason, at) VALUES (?, ?, 1, 1, ?, ?, ?, 'd', 'm', 'r', 't')",
                (10 + n, GUILD, change, 5 - n, 5 - n),
            )
    conn.close()
    async with open_database(path) as db:
        assert await db.schema_version() == load_migrations()[-1].version

        def facts(conn: sqlite3.Connection) -> tuple[list[tuple[object, ...]], tuple[object, ...]]:
            ledger = conn.execute(
                "SELECT id, change, credits, budget FROM credit_ledger ORDER BY id"
            ).fetchall()
            settings = conn.execute(
                "SELECT mode, strong, likely, reroll_payer FROM likeness_settings"
            ).fetchone()
            return [tuple(row) for row in ledger], tuple(settings)

        ledger, settings = await db.run_read(facts)
        assert ledger == [(10, "reserve", 5, 5), (11, "charge", 4, 4), (12, "give", 3, 3)]
        assert settings == ("off", 0.6, 0.36, "server")
        # The ledger takes second tries now, and the member's rows are still found by index.
        await db.run_transaction(
            lambda conn: conn.execute(
                "INSERT INTO credit_ledger (guild_id, user_id, job_id, change, credits, budget, "
                "day, month, reason, at) VALUES (?, 1, 1, 'retry', 0, 19, 'd', 'm', 'r', 't')",
                (GUILD,),
            )
        )
        plan = await db.run_read(
            lambda conn: conn.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM credit_ledger "
                "WHERE guild_id = ? AND user_id = 1 "
                "ORDER BY id DESC LIMIT 5",
                (GUILD,),
            ).fetchall()
        )
        assert "credit_ledger_member" in " ".join(str(row["detail"]) for row in plan)


async def test_ledger_ids_are_never_reused_after_the_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "cameo.sqlite3"
    database_before(path, version=21)
    insert = (
        "INSERT INTO credit_ledger (guild_id, user_id, job_id, change, credits, budget, day, "
        "month, reason, at) VALUES (?, ?, 1, 'reserve', 5, 5, 'd', 'm', 'r', 't')"
    )
    conn = sqlite3.connect(path)
    with conn:
        for user in (1, 2, 2):
            conn.execute(insert, (GUILD, user))
    conn.close()
    async with open_database(path) as db:
        assert await db.schema_version() == load_migrations()[-1].version

        def forget_the_newest_then_add(conn: sqlite3.Connection) -> list[int]:
            conn.execute("DELETE FROM credit_ledger WHERE user_id = 2")  # ids 2 and 3
            conn.execute(insert, (GUILD, 3))
            return [row[0] for row in conn.execute("SELECT id FROM credit_ledger ORDER BY id")]

        assert await db.run_transaction(forget_the_newest_then_add) == [1, 4]
