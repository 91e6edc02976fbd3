"""Pictures shared by several processes (one PostgreSQL database, one folder or bucket): a
picture one process lets go of while another adds the same bytes again is never lost.

Each "process" here is its own database connection and image store over the same pictures, as
two hosts would have. The interleavings that could lose a picture are played step by step.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from bot.images import blobs as blobs_module
from bot.images import store as store_module
from bot.images.blobs import Blobs, Listed, LocalBlobs
from bot.images.store import SWEEPER_KEY, ImageStore, name_for
from storage import images as image_rows
from storage import meta
from storage.database import Database, open_database
from tests.bot.images.test_bucket_store import open_bucket
from tests.bot.images.test_image_store import hold_as_edit
from tests.postgres import age_releases, let_grace_pass
from tests.s3server import Bucket, refusing_front


@dataclass
class Process:
    db: Database
    store: ImageStore


@pytest.fixture(params=["folder", "bucket"])
def pictures(request: pytest.FixtureRequest, tmp_path: Path) -> Blobs:
    """Where both processes keep pictures: one folder (a shared volume) or one bucket."""
    if request.param == "folder":
        return LocalBlobs(tmp_path / "images")
    bucket: Bucket = request.getfixturevalue("bucket")
    return open_bucket(bucket)


@pytest.fixture
async def first(postgres_url: str, pictures: Blobs) -> AsyncIterator[Process]:
    async with open_database(postgres_url) as db:
        yield Process(db, ImageStore(pictures, db))


@pytest.fixture
async def second(postgres_url: str, pictures: Blobs) -> AsyncIterator[Process]:
    async with open_database(postgres_url) as db:
        yield Process(db, ImageStore(pictures, db))


@pytest.fixture
async def on_disk(postgres_url: str, tmp_path: Path) -> AsyncIterator[tuple[Process, Process]]:
    """Two processes sharing a folder, whose files' times a test can set back."""
    async with open_database(postgres_url) as one, open_database(postgres_url) as two:
        folder = tmp_path / "images"
        yield Process(one, ImageStore(folder, one)), Process(two, ImageStore(folder, two))


PICTURE = b"the same picture, uploaded twice"
DIGEST = hashlib.sha256(PICTURE).hexdigest()


async def store_file(process: Process) -> None:
    """The first half of every upload: the file, before its row."""
    async with process.store.mutation():
        await process.store.write(DIGEST, "png", PICTURE)


async def record_row(process: Process) -> None:
    """The second half: the row, and what uses it (a finished region edit keeps its image)."""

    def insert(conn: sqlite3.Connection) -> None:
        image_rows.insert(conn, image_rows.ImageRow(DIGEST, "png", 1, 1, len(PICTURE)), "t")

    await process.db.run_transaction(insert)
    await hold_as_edit(process.db, DIGEST, DIGEST)


TWO_HOURS_AGO = time.time() - 2 * 3600


def leave_orphan(process: Process) -> Path:
    """A file with no row, written two hours ago: a crash between an upload's file and row."""
    path = process.store.path_for(DIGEST, "png")
    path.parent.mkdir(parents=True)
    path.write_bytes(PICTURE)
    os.utime(path, (TWO_HOURS_AGO, TWO_HOURS_AGO))
    return path


async def add(process: Process) -> None:
    await store_file(process)
    await record_row(process)


async def release_row(process: Process) -> None:
    """The first half of deleting the last use of a picture: the rows go, in one commit."""

    def delete(conn: sqlite3.Connection) -> list[image_rows.ImageRow]:
        conn.execute("DELETE FROM jobs WHERE edit_image_sha256 = ?", (DIGEST,))
        return image_rows.release(conn, [DIGEST])

    released = await process.db.run_transaction(delete)
    assert [row.sha256 for row in released] == [DIGEST]


async def discard_file(process: Process) -> None:
    """The second half: the file of a picture let go of is discarded, after the commit."""
    async with process.store.mutation():
        await process.store.discard(DIGEST, "png")


async def let_go(process: Process) -> None:
    await release_row(process)
    await discard_file(process)


async def waiting(db: Database) -> list[str]:
    found = await db.run_read(
        lambda conn: conn.execute("SELECT sha256 FROM image_releases").fetchall()
    )
    return [row[0] for row in found]


async def stored(process: Process) -> bool:
    try:
        return await process.store.blobs.get(name_for(DIGEST, "png")) == PICTURE
    except FileNotFoundError:
        return False


async def test_a_picture_let_go_of_is_deleted_only_after_the_grace(first: Process) -> None:
    await add(first)
    await let_go(first)
    assert await stored(first)  # not at once: another process may be adding it again
    assert await waiting(first.db) == [DIGEST]
    assert await first.store.purge() == 0  # within the grace: kept
    assert await first.store.purge(grace_seconds=0) == 0  # shared: never less than the grace
    assert await stored(first)
    assert await let_grace_pass(first.store) == 1
    assert not await stored(first)
    assert await waiting(first.db) == []


async def test_an_upload_of_a_picture_let_go_of_elsewhere_keeps_it(
    first: Process, second: Process
) -> None:
    await add(first)
    await release_row(first)
    # The second process finds the file there (the same bytes, the same name), so it writes
    # nothing, and is about to record its row when the first discards the file and, later,
    # purges. Deleting the file at once here is what lost pictures.
    await store_file(second)
    await discard_file(first)
    assert await let_grace_pass(first.store) == 0
    await record_row(second)
    assert await second.store.read(DIGEST, "png") == PICTURE


async def test_an_upload_after_the_purge_stores_the_picture_anew(
    first: Process, second: Process
) -> None:
    await add(first)
    await let_go(first)
    assert await let_grace_pass(first.store) == 1
    await add(second)
    assert await second.store.read(DIGEST, "png") == PICTURE


async def test_a_row_recorded_again_keeps_the_file_and_ends_its_wait(
    first: Process, second: Process
) -> None:
    await add(first)
    await let_go(first)
    # The second process had stored its file (found there) before the first let go, so it did
    # not take the picture off the list; its row lands during the grace.
    await record_row(second)
    assert await let_grace_pass(first.store) == 0
    assert await waiting(first.db) == []
    assert await second.store.read(DIGEST, "png") == PICTURE


async def test_a_purge_holds_every_processs_writes_while_it_deletes(
    first: Process, second: Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add(first)
    await let_go(first)
    await age_releases(first.db)
    deleting, carry_on = threading.Event(), threading.Event()
    delete = first.store.blobs.delete_blocking

    def paused(names: list[str]) -> list[str]:
        deleting.set()
        carry_on.wait(timeout=60)
        return delete(names)

    monkeypatch.setattr(first.store.blobs, "delete_blocking", paused)
    purging = asyncio.create_task(first.store.purge())
    assert await asyncio.to_thread(deleting.wait, 60)
    # The second process uploads the same picture while the first is deleting its file.
    adding = asyncio.create_task(add(second))
    await asyncio.sleep(0.5)
    assert not adding.done()  # its writes wait for the purge's transaction
    carry_on.set()
    assert await purging == 1
    await adding  # then it stores the file anew
    assert await second.store.read(DIGEST, "png") == PICTURE
    assert await waiting(first.db) == []


async def add_picture(process: Process, data: bytes) -> str:
    """Store a picture and its row, used by nothing (each test releases it)."""
    digest = hashlib.sha256(data).hexdigest()
    async with process.store.mutation():
        await process.store.write(digest, "png", data)
    row = image_rows.ImageRow(digest, "png", 1, 1, len(data))
    await process.db.run_transaction(partial(image_rows.insert, row=row, created_at="t"))
    return digest


async def test_a_file_that_cannot_be_deleted_waits_again_and_holds_back_no_other(
    on_disk: tuple[Process, Process],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, _ = on_disk
    monkeypatch.setattr(store_module, "PURGE_BATCH", 1)  # the stuck one alone fills a batch
    stuck = await add_picture(first, b"a picture whose file cannot go")
    other = await add_picture(first, b"a picture let go of after it")
    for digest, when in ((stuck, "2000-01-01T00:00:00Z"), (other, "2000-01-02T00:00:00Z")):
        await first.db.run_transaction(partial(image_rows.release, hashes=[digest]))
        await first.db.run_transaction(
            lambda conn, digest=digest, when=when: conn.execute(
                "UPDATE image_releases SET released_at = ? WHERE sha256 = ?", (when, digest)
            )
        )
    # Something no unlink can remove has taken the stuck one's name (here a folder).
    stuck_path = first.store.path_for(stuck, "png")
    stuck_path.unlink()
    (stuck_path / "inside").mkdir(parents=True)

    with caplog.at_level(logging.WARNING, logger="bot.images.store"):
        assert await first.store.purge() == 0  # the round stops at the failure
    assert "Could not delete 1 stored images" in caplog.text
    # Its wait started again, so the next round gets on with the other one.
    assert await first.store.purge() == 1
    assert not first.store.path_for(other, "png").exists()
    assert stuck_path.is_dir()
    assert await waiting(first.db) == [stuck]
    # Once an operator clears the way, it goes after its wait.
    shutil.rmtree(stuck_path)
    assert await let_grace_pass(first.store) == 1
    assert await waiting(first.db) == []


async def date_releases(process: Process, digests: list[str]) -> None:
    """Set when these pictures were let go of: the first longest ago, all past the grace."""
    for day, digest in enumerate(digests, start=1):
        await process.db.run_transaction(
            lambda conn, digest=digest, day=day: conn.execute(
                "UPDATE image_releases SET released_at = ? WHERE sha256 = ?",
                (f"2000-01-{day:02d}T00:00:00Z", digest),
            )
        )


async def release_in_order(process: Process, digests: list[str]) -> None:
    """Let go of pictures used by nothing, the first longest ago, all past the grace."""
    await process.db.run_transaction(partial(image_rows.release, hashes=digests))
    await date_releases(process, digests)


async def test_a_bucket_that_refuses_to_delete_one_picture_lets_the_others_go(
    postgres_url: str, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_database(postgres_url) as db:
        uploader = Process(db, ImageStore(open_bucket(bucket), db))
        stuck = await add_picture(uploader, b"a picture a bucket policy protects")
        other = await add_picture(uploader, b"a picture nothing protects")
        await release_in_order(uploader, [stuck, other])

        def refuse(method: str, path: str, body: bytes) -> bool:
            # A policy protects one object: any delete naming it is refused, a bulk one too.
            return method in {"POST", "DELETE"} and stuck.encode() in path.encode() + body

        with refusing_front(bucket.endpoint, refuse) as endpoint:
            purger = Process(db, ImageStore(open_bucket(Bucket(endpoint, bucket.name)), db))
            # Every process's writes wait while a purge deletes: with no time left after the
            # bulk request, it starts no other, and what is left waits again.
            with monkeypatch.context() as patch:
                patch.setattr(blobs_module, "DELETE_TIMEOUT_SECONDS", 0.0)
                assert await purger.store.purge() == 0
            assert sorted(await waiting(db)) == sorted([stuck, other])
            await date_releases(purger, [stuck, other])
            assert await purger.store.purge() == 1  # one by one: the other went
        assert await waiting(db) == [stuck]  # its wait started again
        assert f"images/{name_for(stuck, 'png')}" in bucket.object_keys()
        assert f"images/{name_for(other, 'png')}" not in bucket.object_keys()


async def test_a_bucket_too_slow_to_answer_is_given_up_on_in_time(
    postgres_url: str, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A request's limit shortened so that the test takes about a second.
    monkeypatch.setattr(blobs_module, "DELETE_REQUEST_SECONDS", 0.3)
    monkeypatch.setattr(blobs_module, "DELETE_TIMEOUT_SECONDS", 3.0)
    async with open_database(postgres_url) as db:
        uploader = Process(db, ImageStore(open_bucket(bucket), db))
        digests = [await add_picture(uploader, f"picture {n}".encode()) for n in range(3)]
        await release_in_order(uploader, digests)
        asked: list[str] = []

        def slow(method: str, path: str, body: bytes) -> bool:
            if method in {"POST", "DELETE"}:
                asked.append(method)
                return True
            return False

        with refusing_front(bucket.endpoint, slow, after_seconds=10.0) as endpoint:
            purger = Process(db, ImageStore(open_bucket(Bucket(endpoint, bucket.name)), db))
            assert await purger.store.purge() == 0
        # Each request given up on after 0.3 s: the bulk one, then each name on its own, all
        # well within the 3 s (waiting for the answer would have used the time up).
        assert asked == ["POST"] * 4
        assert sorted(await waiting(db)) == sorted(digests)


async def test_a_folder_purge_stops_at_its_deadline_and_what_is_left_waits(
    on_disk: tuple[Process, Process], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = on_disk
    digests = [await add_picture(first, f"picture {n}".encode()) for n in range(3)]
    await release_in_order(first, digests)
    # Past its deadline (here before the first file) a purge unlinks nothing more.
    with monkeypatch.context() as patch:
        patch.setattr(blobs_module, "DELETE_TIMEOUT_SECONDS", 0.0)
        assert await first.store.purge() == 0
    assert sorted(await waiting(first.db)) == sorted(digests)
    assert all(first.store.path_for(digest, "png").exists() for digest in digests)
    assert await let_grace_pass(first.store) == 3


async def test_a_sweeper_that_stalled_past_its_turn_stops_for_the_one_that_took_over(
    on_disk: tuple[Process, Process], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = on_disk
    leave_orphan(first)
    listing = first.store.blobs.listing
    stalled = False

    async def stalling(folder: str) -> list[Listed]:
        # While the first lists its first folder, its turn runs out and the second takes it.
        nonlocal stalled
        if not stalled:
            stalled = True
            await first.db.run_transaction(partial(meta.put, key=SWEEPER_KEY, value="gone|0"))
            assert await second.store.sweep_orphans() == 0
        return await listing(folder)

    monkeypatch.setattr(first.store.blobs, "listing", stalling)
    await first.store.sweep_orphans()
    holder = (await meta.get_value(first.db, SWEEPER_KEY) or "").partition("|")[0]
    assert holder == second.store._sweeper  # the first gave the turn up
    assert await waiting(first.db) == [DIGEST]  # found once, by the second's sweep
    progress = await meta.get_value(first.db, store_module.SWEEP_PROGRESS_KEY)
    assert progress == store_module.ROWS_PHASE  # the second's finished sweep, not overwritten


async def test_a_row_nothing_uses_is_swept_and_its_file_waits_for_a_purge(
    first: Process,
) -> None:
    digest = await add_picture(first, PICTURE)  # a failed commit left a row nothing uses
    assert await first.store.sweep_orphans() == 0  # the row goes; its file waits
    assert not await first.db.run_read(partial(image_rows.exists, sha256=digest))
    assert await stored(first)
    assert await waiting(first.db) == [digest]
    assert await let_grace_pass(first.store) == 1
    assert not await stored(first)


async def test_many_pictures_are_purged_in_batches(first: Process) -> None:
    digests = []
    for n in range(130):  # more than one batch
        data = f"picture {n}".encode()
        digest = hashlib.sha256(data).hexdigest()
        digests.append(digest)
        async with first.store.mutation():
            await first.store.write(digest, "png", data)

    def insert_then_release(conn: sqlite3.Connection) -> None:
        for digest in digests:
            image_rows.insert(conn, image_rows.ImageRow(digest, "png", 1, 1, 9), "t")
        assert len(image_rows.release(conn, digests)) == len(digests)

    await first.db.run_transaction(insert_then_release)
    assert await let_grace_pass(first.store) == len(digests)
    assert await first.store.blobs.listing(digests[0][:2]) == []
    assert await waiting(first.db) == []


async def test_orphans_found_by_the_sweep_wait_for_a_purge(
    on_disk: tuple[Process, Process],
) -> None:
    first, second = on_disk
    orphan_path = leave_orphan(first)
    partial_write = orphan_path.with_name(f".{DIGEST}.png.1234.partial")
    partial_write.write_bytes(b"half")
    os.utime(partial_write, (TWO_HOURS_AGO, TWO_HOURS_AGO))

    # A partial write is nobody's picture and goes; the orphan is written down, and stays.
    assert await first.store.sweep_orphans() == 1
    assert not partial_write.exists()
    assert orphan_path.exists()
    assert await waiting(first.db) == [DIGEST]
    # Meanwhile the second process uploads the same picture: the file is there already.
    await add(second)
    assert await let_grace_pass(first.store) == 0
    assert await second.store.read(DIGEST, "png") == PICTURE


async def test_one_process_sweeps_at_a_time(on_disk: tuple[Process, Process]) -> None:
    first, second = on_disk
    leave_orphan(first)

    await first.store.sweep_orphans()
    await first.db.run_transaction(lambda conn: conn.execute("DELETE FROM image_releases"))
    await second.store.sweep_orphans()  # the first's turn: the second only purges
    assert await waiting(first.db) == []
    # The first process stops; once its turn runs out, the second takes over.
    await first.db.run_transaction(partial(meta.put, key=SWEEPER_KEY, value="gone|0"))
    await second.store.sweep_orphans()
    assert await waiting(first.db) == [DIGEST]


async def test_with_sqlite_one_process_deletes_at_once(tmp_path: Path) -> None:
    async with open_database(tmp_path / "cameo.sqlite3") as db:
        process = Process(db, ImageStore(tmp_path / "images", db))
        assert not process.store.shared
        await add(process)
        await let_go(process)
        assert not await stored(process)
        assert await waiting(db) == []
