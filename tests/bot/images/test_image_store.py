"""The orphan sweep: short steps, every kind of reference respected, carries on after a restart."""

import hashlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from bot.images.blobs import LocalBlobs
from bot.images.store import FILES_PHASE, ROWS_PHASE, SWEEP_BATCH, SWEEP_PROGRESS_KEY, ImageStore
from bot.models import JobKind
from bot.providers.request import SceneOptions
from storage import images as image_rows
from storage import jobs as job_rows
from storage import meta
from storage.database import Database, open_database

UNUSED = 2 * SWEEP_BATCH + 17  # three row batches


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database(tmp_path / "cameo.sqlite3") as database:
        yield database


def sha(n: int) -> str:
    return hashlib.sha256(f"image {n}".encode()).hexdigest()


async def add_images(db: Database, store: ImageStore, numbers: range) -> list[str]:
    hashes = [sha(n) for n in numbers]
    for h in hashes:
        path = store.path_for(h, "png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"png")

    def insert(conn: sqlite3.Connection) -> None:
        for h in hashes:
            image_rows.insert(conn, image_rows.ImageRow(h, "png", 1, 1, 3), "t")

    await db.run_transaction(insert)
    return hashes


async def rows(db: Database) -> set[str]:
    found = await db.run_read(lambda conn: conn.execute("SELECT sha256 FROM images").fetchall())
    return {row[0] for row in found}


async def hold_as_edit(db: Database, edit_image: str, edit_mask: str) -> None:
    """A finished region edit keeps its image and mask (for Reroll), and nothing else."""
    new = job_rows.NewJob(
        kind=JobKind.SCENE,
        guild_id=1,
        channel_id=2,
        user_id=3,
        character_id=None,
        character_name="Mira",
        reference_sha256=edit_image,
        edit_image_sha256=edit_image,
        edit_mask_sha256=edit_mask,
        options=SceneOptions(prompt="x"),
        image_count=1,
        preferred_provider=None,
        credits=0,
        created_at="t",
    )

    def insert(conn: sqlite3.Connection) -> None:
        job = job_rows.insert(conn, new)
        job_rows.cancel(conn, job.id, "t")  # lets go of the reference, keeps image and mask

    await db.run_transaction(insert)


async def test_the_sweep_removes_unreferenced_rows_and_files_in_batches(
    db: Database, tmp_path: Path
) -> None:
    store = ImageStore(tmp_path / "images", db)
    unused = await add_images(db, store, range(UNUSED))
    kept = await add_images(db, store, range(UNUSED, UNUSED + 2))
    await hold_as_edit(db, *kept)
    transactions = 0
    step = image_rows.delete_unreferenced_after

    def counted(*args: object, **kwargs: object) -> tuple[int, str | None]:
        nonlocal transactions
        transactions += 1
        return step(*args, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(image_rows, "delete_unreferenced_after", counted)
        assert await store.sweep_orphans(grace_seconds=0) == len(unused)
    assert await rows(db) == set(kept)
    assert sorted(p.name.split(".")[0] for p in store.root.glob("*/*")) == sorted(kept)
    # Never the whole table in one transaction: a batch at a time (and one to find the end).
    assert transactions == (UNUSED + 2) // SWEEP_BATCH + 2
    assert await meta.get_value(db, SWEEP_PROGRESS_KEY) == ROWS_PHASE  # next time: from the top


async def test_a_sweep_cut_short_carries_on_where_it_stopped(db: Database, tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images", db)
    unused = sorted(await add_images(db, store, range(UNUSED)))
    step = image_rows.delete_unreferenced_after
    batches = 0

    def crash_after_two(*args: object, **kwargs: object) -> tuple[int, str | None]:
        nonlocal batches
        batches += 1
        if batches > 2:
            raise sqlite3.OperationalError("disk I/O error")  # the process dies here
        return step(*args, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(image_rows, "delete_unreferenced_after", crash_after_two)
        with pytest.raises(sqlite3.OperationalError):
            await store.sweep_orphans(grace_seconds=0)
    # Two batches landed, and where they stopped is remembered.
    assert await rows(db) == set(unused[2 * SWEEP_BATCH :])
    assert await meta.get_value(db, SWEEP_PROGRESS_KEY) == ROWS_PHASE + unused[2 * SWEEP_BATCH - 1]

    # The next process starts from there: the rows already checked are not read again.
    looked_at: list[str] = []

    def recorded(conn: sqlite3.Connection, after: str, *rest: object) -> tuple[int, str | None]:
        looked_at.append(after)
        return step(conn, after, *rest)  # type: ignore[arg-type]

    restarted = ImageStore(tmp_path / "images", db)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(image_rows, "delete_unreferenced_after", recorded)
        assert await restarted.sweep_orphans(grace_seconds=0) == len(unused)
    assert looked_at[0] == unused[2 * SWEEP_BATCH - 1]
    assert await rows(db) == set()
    assert list(restarted.root.glob("*/*")) == []


async def test_the_file_phase_carries_on_from_its_last_folder(db: Database, tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images", db)
    early = store.root / "00" / ("00" + "1" * 62 + ".png")
    late = store.root / "ff" / ("ff" + "1" * 62 + ".png")
    for orphan in (early, late):
        orphan.parent.mkdir(parents=True, exist_ok=True)
        orphan.write_bytes(b"left behind")
    # The last process had swept every row and the folders up to "80" when it stopped.
    await meta.set_value(db, SWEEP_PROGRESS_KEY, FILES_PHASE + "80")
    assert await store.sweep_orphans(grace_seconds=0) == 1
    assert early.exists()
    assert not late.exists()
    # The next full pass takes the rest.
    assert await store.sweep_orphans(grace_seconds=0) == 1
    assert not early.exists()


async def test_the_sweep_knows_every_reference_to_an_image(db: Database) -> None:
    """Read from the schema, so a new table that points at images is respected unchanged."""
    assert set(await db.run_read(image_rows.references)) == {
        ("characters", "image_sha256"),
        ("looks", "image_sha256"),
        ("jobs", "reference_sha256"),
        ("jobs", "edit_image_sha256"),
        ("jobs", "edit_mask_sha256"),
        ("job_images", "image_sha256"),
        ("likeness_tries", "image_sha256"),
    }


async def test_facts_about_a_picture_go_with_it_and_keep_nothing_alive(db: Database) -> None:
    # A reference picture's face embedding (migration 0020) is a cache: the picture's row may
    # be released while it exists, and it goes too.
    sha = "e" * 64

    def add(conn: object) -> None:
        conn.execute(  # type: ignore[attr-defined]
            "INSERT INTO images VALUES (?, 'png', 1, 1, 1, '2026-01-01T00:00:00+00:00')", (sha,)
        )
        conn.execute(  # type: ignore[attr-defined]
            "INSERT INTO face_embeddings VALUES (?, 'models', NULL)", (sha,)
        )

    await db.run_transaction(add)
    released = await db.run_transaction(lambda conn: image_rows.release(conn, [sha]))
    assert [row.sha256 for row in released] == [sha]
    left = await db.run_read(
        lambda conn: conn.execute("SELECT count(*) FROM face_embeddings").fetchone()[0]
    )
    assert left == 0


class _RefusesDeletes(LocalBlobs):
    """A disk that will not delete (as root, permissions cannot make one)."""

    async def delete(self, names: Sequence[str]) -> None:
        raise PermissionError("read-only file system")


async def test_a_file_that_cannot_be_removed_is_left_to_the_sweep(
    db: Database, tmp_path: Path
) -> None:
    refusing = ImageStore(_RefusesDeletes(tmp_path / "images"), db)
    [digest] = await add_images(db, refusing, range(1))
    await db.run_transaction(lambda conn: conn.execute("DELETE FROM images"))
    async with refusing.mutation():
        await refusing.discard(digest, "png")  # the member's request still succeeds
    assert refusing.path_for(digest, "png").exists()
    assert await ImageStore(tmp_path / "images", db).sweep_orphans(grace_seconds=0) == 1
    assert not refusing.path_for(digest, "png").exists()
