"""The image store in an S3-compatible bucket (a loopback moto server): the same promises as a
folder, and a bucket prefix belongs to one Cameo database, as a data directory does."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.images.blobs import BucketBlobs
from bot.images.store import ImageMissing, ImageStore, name_for
from storage import images as image_rows
from storage.database import Database, open_database
from tests.bot.images.test_image_store import hold_as_edit
from tests.s3server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, Bucket


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database(tmp_path / "cameo.sqlite3") as database:
        yield database


def open_bucket(bucket: Bucket) -> BucketBlobs:
    return BucketBlobs.open(
        bucket.url,
        endpoint=bucket.endpoint,
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )


@pytest.fixture
def store(bucket: Bucket, db: Database) -> ImageStore:
    return ImageStore(open_bucket(bucket), db)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def add(store: ImageStore, db: Database, data: bytes) -> str:
    """What every upload does: the file, then its row, in one mutation."""
    digest = sha(data)
    async with store.mutation():
        await store.write(digest, "png", data)
        await db.run_transaction(
            lambda conn: image_rows.insert(
                conn, image_rows.ImageRow(digest, "png", 1, 1, len(data)), "t"
            )
        )
    return digest


async def drop_row(db: Database, digest: str) -> None:
    def delete(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM images WHERE sha256 = ?", (digest,))

    await db.run_transaction(delete)


async def test_a_picture_is_stored_under_its_hash_and_read_back(
    store: ImageStore, db: Database, bucket: Bucket
) -> None:
    digest = await add(store, db, b"picture one")
    assert bucket.object_keys() == [f"images/{name_for(digest, 'png')}"]
    assert await store.read(digest, "png") == b"picture one"
    # The same picture again: create-only, nothing rewritten, no error.
    assert await add(store, db, b"picture one") == digest
    assert bucket.object_keys() == [f"images/{name_for(digest, 'png')}"]


async def test_a_missing_picture_is_a_clear_error(store: ImageStore) -> None:
    with pytest.raises(ImageMissing, match="missing"):
        await store.read(sha(b"never stored"), "png")


async def test_letting_go_removes_the_file_and_the_sweep_respects_its_grace(
    store: ImageStore, db: Database, bucket: Bucket
) -> None:
    digest = await add(store, db, b"let go")
    await drop_row(db, digest)
    async with store.mutation():
        await store.discard(digest, "png")
    assert bucket.object_keys() == []  # forget-me's pictures go at once
    orphan = sha(b"orphan")
    await store.blobs.put_new(name_for(orphan, "png"), b"orphan")  # a crash before its row
    assert await store.sweep_orphans(grace_seconds=3600) == 0  # too young to go
    assert len(bucket.object_keys()) == 1
    assert await store.sweep_orphans(grace_seconds=0) == 1
    assert bucket.object_keys() == []


async def test_the_sweep_keeps_every_picture_a_row_names(
    store: ImageStore, db: Database, bucket: Bucket
) -> None:
    kept = [await add(store, db, f"kept {n}".encode()) for n in range(4)]
    await hold_as_edit(db, kept[0], kept[1])  # a finished region edit keeps both
    await hold_as_edit(db, kept[2], kept[3])
    orphan = sha(b"orphan")
    await store.blobs.put_new(name_for(orphan, "png"), b"orphan")  # a crash before its row
    assert await store.sweep_orphans(grace_seconds=0) == 1
    assert bucket.object_keys() == sorted(f"images/{name_for(digest, 'png')}" for digest in kept)


async def test_a_prefix_belongs_to_the_first_database_that_claims_it(bucket: Bucket) -> None:
    blobs = open_bucket(bucket)
    assert await blobs.claim("database-one") == "database-one"
    assert await blobs.claim("database-one") == "database-one"  # a restart: still its own
    assert await open_bucket(bucket).claim("database-two") == "database-one"
    assert "images/cameo-owner" in bucket.object_keys()
