"""`cameo migrate-to`: a bot's SQLite database and picture folder moved to PostgreSQL and
another store, checked, and carried on after an interruption."""

from __future__ import annotations

import hashlib
from pathlib import Path

import asyncpg

from bot.characters.service import CharacterService
from bot.clock import SystemClock
from bot.images.processing import ImageWorkers
from bot.images.store import ImageStore
from bot.models import JobKind, Viewer
from bot.providers.request import SceneOptions
from storage import characters as character_rows
from storage import jobs, quotas
from storage.database import SqliteDatabase, exclusive_data_dir, open_database
from storage.postgres import PostgresDatabase
from storage.transfer import copy_rows
from tests.bot.cli.test_generate_command import cameo
from tests.imagefactory import png
from tests.s3server import Bucket

ALICE = Viewer(1, 10)


async def a_bot_that_has_been_used(data_dir: Path) -> int:
    """Characters (with pictures), a finished scene with a favourite picture, ledger rows, and
    the newest character deleted: return its id, which must never be handed out again."""
    async with open_database(data_dir / "cameo.sqlite3") as db:
        characters = CharacterService(
            db, ImageStore(data_dir / "images", db), ImageWorkers(), SystemClock()
        )
        mira = await characters.create(ALICE, name="Mira", image=png(seed=1))
        await characters.create(ALICE, name="Kael", image=png(seed=2))
        ghost = await characters.create(ALICE, name="Ghost", image=png(seed=4))
        await characters.delete(ALICE, ghost.id)

        def a_scene(conn):  # type: ignore[no-untyped-def]
            job = jobs.insert(
                conn,
                jobs.NewJob(
                    kind=JobKind.SCENE, guild_id=10, channel_id=20, user_id=1,
                    character_id=mira.id, character_name="Mira",
                    reference_sha256=mira.image_sha256, edit_image_sha256=None,
                    edit_mask_sha256=None, options=SceneOptions(prompt="rain"), image_count=1,
                    preferred_provider=None, credits=15, created_at="2026-11-21T12:00:00Z",
                ),
            )  # fmt: skip
            jobs.start(conn, job.id, "2026-11-21T12:00:01Z")
            jobs.succeed(
                conn, job.id, provider="apiframe", seed=7, cost=None,
                image_hashes=[mira.image_sha256], error=None, at="2026-11-21T12:00:09Z",
            )  # fmt: skip
            conn.execute("UPDATE job_images SET favorite = 1 WHERE job_id = ?", (job.id,))
            quotas.record(
                conn,
                quotas.LedgerEntry(
                    0, 10, 1, job.id, "charge", 15, 15, "2026-11-21", "2026-11", "scene", None,
                    "2026-11-21T12:00:10Z",
                ),
            )  # fmt: skip

        await db.run_transaction(a_scene)
    return ghost.id


async def counts(postgres_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(postgres_url)
    try:
        return {
            table: await conn.fetchval(f"SELECT COUNT(*) FROM {table}")
            for table in ("characters", "looks", "jobs", "job_images", "favorite_pictures",
                          "credit_ledger", "credit_usage", "images")
        }  # fmt: skip
    finally:
        await conn.close()


async def test_a_used_bot_moves_whole_and_a_second_run_changes_nothing(
    tmp_path: Path, empty_postgres_url: str
) -> None:
    data_dir = tmp_path / "data"
    ghost = await a_bot_that_has_been_used(data_dir)
    destination = tmp_path / "moved-images"

    # Interrupted after the first tables: the run that follows carries on.
    source = await SqliteDatabase.open(data_dir / "cameo.sqlite3")
    target = await PostgresDatabase.open(empty_postgres_url)
    await copy_rows(source, target, tables=["images", "characters"])
    await source.close()
    await target.close()

    arguments = [
        "migrate-to",
        "--database-url",
        empty_postgres_url,
        "--image-store",
        str(destination),
    ]
    status, said, _ = await cameo(tmp_path, *arguments, CAMEO_DATA_DIR=str(data_dir))
    assert status == 0, said
    assert "Everything arrived" in said
    assert f"CAMEO_IMAGE_STORE={destination}" in said
    moved = await counts(empty_postgres_url)
    assert moved == {
        "characters": 2, "looks": 2, "jobs": 1, "job_images": 1, "favorite_pictures": 1,
        "credit_ledger": 1, "credit_usage": 1, "images": 2,
    }  # fmt: skip
    pictures = sorted(p for p in destination.rglob("*") if p.is_file())
    assert len(pictures) == 2
    for picture in pictures:
        assert hashlib.sha256(picture.read_bytes()).hexdigest() == picture.stem.split(".")[0]

    status, said, _ = await cameo(tmp_path, *arguments, CAMEO_DATA_DIR=str(data_dir))
    assert status == 0
    assert "0 copied this run" in said

    # What the bot reads, as it reads it; and new rows never reuse a copied id.
    async with open_database(empty_postgres_url) as db:
        found = await character_rows.find_visible(
            db, user_id=1, scope=10, public_id=None, name_key="mira"
        )
        assert [c.name for c in found] == ["Mira"]
        characters = CharacterService(
            db, ImageStore(destination, db), ImageWorkers(), SystemClock()
        )
        newest = await characters.create(ALICE, name="Orin", image=png(seed=3))
        assert newest.id > ghost  # not even a deleted character's id comes back
    # Once the new database is in use, a copy no longer matches: said, not papered over.
    status, said, _ = await cameo(tmp_path, *arguments, CAMEO_DATA_DIR=str(data_dir))
    assert status == 1
    assert "used since" in said


async def test_a_running_bot_or_a_wrong_url_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    await a_bot_that_has_been_used(data_dir)
    wrong = ["migrate-to", "--database-url", "mysql://db/cameo"]
    status, _, err = await cameo(tmp_path, *wrong, CAMEO_DATA_DIR=str(data_dir))
    assert status == 2
    assert "postgresql://" in err
    running = ["migrate-to", "--database-url", "postgresql://127.0.0.1:1/x"]
    with exclusive_data_dir(data_dir):  # the bot is running
        status, _, err = await cameo(tmp_path, *running, CAMEO_DATA_DIR=str(data_dir))
    assert status == 2
    assert "Another Cameo process" in err
    assert "Traceback" not in err


async def test_pictures_move_into_a_bucket(
    tmp_path: Path, empty_postgres_url: str, bucket: Bucket
) -> None:
    data_dir = tmp_path / "data"
    await a_bot_that_has_been_used(data_dir)
    settings = {
        f"CAMEO_{key.upper()}": str(value)
        for key, value in bucket.settings().items()
        if key != "image_store"
    }
    arguments = ["migrate-to", "--database-url", empty_postgres_url, "--image-store", bucket.url]
    status, said, _ = await cameo(tmp_path, *arguments, CAMEO_DATA_DIR=str(data_dir), **settings)
    assert status == 0, said
    assert "2 copied" in said
    assert len([key for key in bucket.object_keys() if key.startswith("images/")]) == 2
