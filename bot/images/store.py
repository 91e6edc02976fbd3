"""Content-addressed image files (in CAMEO_DATA_DIR, or a bucket: see blobs.py), kept
consistent with the `images` table.

The invariants, whatever crashes or fails part-way:
- a row in `images` exists only after its file is fully stored (write, fsync, rename, then row);
- a file is removed only after its row is gone (commit, then unlink);
- a file with no row (a crash between the two steps) is an orphan, and `sweep_orphans`, run in
  the background from start-up and periodically, removes it once it is older than a grace period.
The store (a folder or a bucket prefix) belongs to one Cameo database, as blobs.py explains.
With SQLite that is one process, and one lock orders every mutation, so "is this image still
used?" and the unlink cannot race a new upload of the same content. Processes sharing a
PostgreSQL database have no lock between them, so there a picture let go of is written down and
deleted after a grace period, in a write transaction that checks no row names it (`purge`),
and an upload takes its picture off that list before storing the file (migration 0024).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

from bot.errors import CameoError
from bot.images.blobs import PARTIAL_SUFFIX, Blobs, Listed, LocalBlobs
from bot.images.processing import EXTENSIONS, CleanImage
from storage import images as image_rows
from storage import meta
from storage.base import run_sync
from storage.database import Database

log = logging.getLogger(__name__)

# The store's folders: the first two hex digits of each file's hash.
_PREFIXES = [f"{n:02x}" for n in range(256)]
# Image rows checked per transaction by the sweep: a few milliseconds of the write lock.
SWEEP_BATCH = 200
# Where the sweep has got to: "rows:<last hash checked>" or "files:<last folder swept>".
SWEEP_PROGRESS_KEY = "orphan_sweep"
ROWS_PHASE = "rows:"
FILES_PHASE = "files:"
# Files younger than this are never swept: they may belong to an upload still in progress.
# With a shared database, pictures let go of wait as long before they are deleted: an upload
# that found its file already there records its row well within it (seconds, at most the
# database's one-minute statement timeout plus the bucket's 15 s of retries).
ORPHAN_GRACE_SECONDS = 15 * 60
# Pictures let go of deleted per write transaction by `purge`: one bucket request.
PURGE_BATCH = 100
# Who sweeps, with a shared database: one process at a time, "<sweeper>|<until>" (Unix
# seconds). Longer than the bot's hourly sweep, so the process sweeping keeps its turn; one
# that stopped hands it on once its turn runs out.
SWEEPER_KEY = "orphan_sweeper"
SWEEPING_TURN_SECONDS = 90 * 60


class ImageMissing(CameoError):
    """A stored file has gone (deleted by hand, disk restored from an old backup)."""


class StorageUnavailable(CameoError):
    """The disk refused a write (full, read-only, out of quota)."""


class ImageStore:
    def __init__(self, location: Path | Blobs, db: Database) -> None:
        self.blobs: Blobs = LocalBlobs(location) if isinstance(location, Path) else location
        self.db = db
        # Whether other processes may share the database and these pictures (PostgreSQL). Then
        # this process's lock orders nothing for them: deletions wait for `purge`.
        self.shared = db.backend == "postgresql"
        self._lock = asyncio.Lock()
        self._sweeper = secrets.token_hex(8)

    @property
    def root(self) -> Path:
        """The local folder (only for a local store: tests and tools look at the files)."""
        assert isinstance(self.blobs, LocalBlobs), "a bucket store has no local folder"
        return self.blobs.root

    def path_for(self, sha256: str, image_format: str) -> Path:
        return self.root / name_for(sha256, image_format)

    @contextlib.asynccontextmanager
    async def mutation(self) -> AsyncIterator[None]:
        """Hold the store's lock while writing files and the rows that reference them."""
        async with self._lock:
            yield

    async def write(self, sha256: str, image_format: str, data: bytes) -> None:
        """Store the bytes durably under their hash (a no-op if already there).

        Call inside `mutation()`, before inserting the row.
        """
        assert self._lock.locked(), "write files inside ImageStore.mutation()"
        name = name_for(sha256, image_format)
        if self.shared:
            await self._keep(sha256)
        try:
            await self.blobs.put_new(name, data)
        except OSError:
            log.exception("Could not write image %s", self.blobs.describe(name))
            raise StorageUnavailable(
                "Cameo couldn't save the picture: its storage is full or unavailable. Nothing was "
                "saved; please tell the server staff."
            ) from None

    async def _keep(self, sha256: str) -> None:
        """Before storing a picture another process let go of, take it off the list of those
        to delete: a purge then either finds it off the list and keeps the file, or deleted the
        file first and the write that follows stores it anew. A look-up by primary key, and a
        write only for a picture let go of in the last minutes."""
        if await self.db.run_read(partial(image_rows.is_released, sha256=sha256)):
            await self.db.run_transaction(partial(image_rows.keep, sha256=sha256))

    async def read(self, sha256: str, image_format: str) -> bytes:
        name = name_for(sha256, image_format)
        try:
            return await self.blobs.get(name)
        except FileNotFoundError:
            log.warning("Stored image %s is missing", self.blobs.describe(name))
            raise ImageMissing(
                "This character's reference image is missing from the bot's storage. Ask its owner "
                "to set a new one with /character edit."
            ) from None
        except OSError:
            log.exception("Could not read image %s", self.blobs.describe(name))
            raise StorageUnavailable(
                "Cameo couldn't read a picture from its storage just now. Please try again in a "
                "moment; if it keeps happening, tell the server staff."
            ) from None

    async def discard(self, sha256: str, image_format: str) -> None:
        """Remove a file whose row is gone (or was never written). Call inside `mutation()`."""
        await self.discard_all([(sha256, image_format)])

    async def discard_all(self, files: list[tuple[str, str]]) -> None:
        """Remove many files whose rows are gone, in one trip. Their rows are gone already, so
        a file that cannot be removed now is only an orphan: the sweep takes it later, and the
        member's request that let go of it still succeeds."""
        assert self._lock.locked(), "remove files inside ImageStore.mutation()"
        if self.shared:
            # Written down when their rows went; another process may be adding one of them
            # again right now, so `purge` deletes them after the grace period.
            return
        names = [name_for(sha256, fmt) for sha256, fmt in files]
        try:
            await self.blobs.delete(names)
        except Exception:  # an OSError from a disk, anything from a bucket's client
            log.exception("Could not remove %d stored images; the sweep will", len(names))

    async def sweep_orphans(self, grace_seconds: float = ORPHAN_GRACE_SECONDS) -> int:
        """Delete image rows nothing references, then files (and leftover partial writes) no
        row refers to; return how many files went.

        A year of images is too much to check in one go without stopping everything else, so
        the sweep works in short steps: a batch of rows per transaction, one folder of files
        at a time under the store's lock, yielding in between. Where it has got to is kept in
        the database, so a restart carries on instead of starting over.

        With a shared database one process sweeps at a time (the others only purge), and what
        it finds is written down and deleted by `purge` once the grace has passed again.
        """
        if self.shared:
            # Another process's upload may be between its file and its row for a while: with a
            # shared database nothing younger than the grace is swept, whatever the caller asks.
            grace_seconds = max(grace_seconds, ORPHAN_GRACE_SECONDS)
            if not await self._take_sweeping_turn():
                return await self.purge(grace_seconds)
        progress = await meta.get_value(self.db, SWEEP_PROGRESS_KEY) or ROWS_PHASE
        removed, finished = 0, True
        if progress.startswith(ROWS_PHASE):
            finished = await self._sweep_rows(after=progress.removeprefix(ROWS_PHASE))
            progress = FILES_PHASE
        if finished:
            removed, finished = await self._sweep_files(
                after=progress.removeprefix(FILES_PHASE), grace_seconds=grace_seconds
            )
        if finished:
            await self._record_progress(ROWS_PHASE)
        removed += await self.purge(grace_seconds)
        if removed:
            log.info("Removed %d orphaned image files", removed)
        return removed

    async def _take_sweeping_turn(self) -> bool:
        """Whether this process sweeps now: it did last time, or whoever did has stopped."""
        now = time.time()

        def take(conn: sqlite3.Connection) -> bool:
            holder, _, until = (meta.read(conn, SWEEPER_KEY) or "|0").partition("|")
            if holder != self._sweeper and float(until) > now:
                return False
            self._renew_turn(conn, now)
            return True

        return await self.db.run_transaction(take)

    def _renew_turn(self, conn: sqlite3.Connection, now: float) -> None:
        meta.put(conn, SWEEPER_KEY, f"{self._sweeper}|{now + SWEEPING_TURN_SECONDS}")

    async def _record_progress(self, progress: str) -> bool:
        """Record where the sweep has got to; with a shared database, also that this process
        is still sweeping (a sweep of a huge store may outlast one turn). False, recording
        nothing, if another process has taken the turn over meanwhile (this one stalled):
        then this sweep stops, and the other carries on from where it has got to."""

        def record(conn: sqlite3.Connection) -> bool:
            if not self._still_sweeping(conn):
                return False
            meta.put(conn, SWEEP_PROGRESS_KEY, progress)
            return True

        return await self.db.run_transaction(record)

    def _still_sweeping(self, conn: sqlite3.Connection) -> bool:
        """Whether this process still has the sweeping turn (always, on SQLite), renewed."""
        if not self.shared:
            return True
        holder = (meta.read(conn, SWEEPER_KEY) or "|").partition("|")[0]
        if holder != self._sweeper:
            return False
        self._renew_turn(conn, time.time())
        return True

    async def _sweep_rows(self, after: str) -> bool:
        """Rows first: a row nothing references (a failed commit half-cleaned, a released
        reference) would otherwise keep its file forever. False if the sweeping turn passed
        to another process meanwhile (then this sweep stops)."""
        refs = await self.db.run_read(image_rows.references)
        cursor: str | None = after
        while cursor is not None:
            start = cursor

            def step(conn: sqlite3.Connection, start: str = start) -> tuple[bool, str | None]:
                if not self._still_sweeping(conn):
                    return False, None
                _, last = image_rows.delete_unreferenced_after(conn, start, SWEEP_BATCH, refs)
                meta.put(conn, SWEEP_PROGRESS_KEY, ROWS_PHASE + (last or "~"))
                return True, last

            mine, cursor = await self.db.run_transaction(step)
            if not mine:
                return False
            await asyncio.sleep(0)  # let commands in between
        return True

    async def _sweep_files(self, after: str, grace_seconds: float) -> tuple[int, bool]:
        """How many files went, and whether the sweep went through every folder."""
        removed = 0
        for prefix in _PREFIXES:
            if prefix <= after:
                continue
            # Listed first, outside the lock (a bucket's listing takes a network trip). The rows
            # are read under the lock, which uploads hold while they write a file and then its
            # row: a listed file without a row then is not one being added right now.
            listed = await self.blobs.listing(prefix)
            async with self._lock:
                known = await self.db.run_read(partial(image_rows.known_with_prefix, prefix=prefix))
                orphans = _orphans(listed, known, time.time() - grace_seconds)
                if self.shared:
                    # Another process's upload may be recording a row for one of them right
                    # now: pictures wait for `purge`; anything else (partial writes) goes.
                    named = {name: _picture(name) for name in orphans}
                    pictures = [picture for picture in named.values() if picture is not None]
                    orphans = [name for name, picture in named.items() if picture is None]
                    if pictures:
                        await self.db.run_transaction(
                            partial(image_rows.release_files, files=pictures)
                        )
                await self.blobs.delete(orphans)
                removed += len(orphans)
            if not await self._record_progress(FILES_PHASE + prefix):
                return removed, False
        return removed, True

    async def purge(self, grace_seconds: float = ORPHAN_GRACE_SECONDS) -> int:
        """Delete the files of pictures let go of more than `grace_seconds` ago (never less
        than ORPHAN_GRACE_SECONDS) that no row names again; return how many went. Only a
        shared database has any waiting.

        Each batch is one write transaction of its own that deletes its files before it
        commits, and every other process's writes wait for it meanwhile: an upload taking its
        picture off the list comes wholly before (the file stays) or wholly after (its write
        stores the file anew). A file that cannot be deleted starts its wait again, so it
        never holds back the others: the rest of its batch goes, and the next batches next round.
        """
        if not self.shared:
            return 0
        grace_seconds = max(grace_seconds, ORPHAN_GRACE_SECONDS)

        def step(conn: sqlite3.Connection) -> tuple[int, list[str], bool]:
            due = image_rows.due(conn, grace_seconds, PURGE_BATCH)
            unused = {
                name_for(item.sha256, item.format): item.sha256 for item in due if not item.in_use
            }
            failed = self.blobs.delete_blocking(list(unused))
            stuck = {unused[name] for name in failed}
            image_rows.forget_released(
                conn, [item.sha256 for item in due if item.sha256 not in stuck]
            )
            if stuck:
                image_rows.postpone(conn, sorted(stuck))
            return len(unused) - len(failed), failed, len(due) == PURGE_BATCH

        removed, more = 0, True
        while more:
            async with self._lock, self.db.transaction() as conn:
                deleted, failed, more = await run_sync(conn, step)
            removed += deleted
            if failed:
                # Whatever refused them (a bucket that is down) would likely refuse the next
                # batch too, while every process's writes wait: the rest go next round.
                log.warning(
                    "Could not delete %d stored images (%s first); trying again after the grace",
                    len(failed),
                    self.blobs.describe(failed[0]),
                )
                break
            await asyncio.sleep(0)  # let commands in between
        return removed


def name_for(sha256: str, image_format: str) -> str:
    """A stored image's name: a folder per first two hex digits of its hash."""
    return f"{sha256[:2]}/{sha256}.{EXTENSIONS[image_format]}"


def _picture(name: str) -> tuple[str, str] | None:
    """The (hash, format) a stored picture's name gives, or None for any other name."""
    base = name.rsplit("/", 1)[-1]
    sha256, _, extension = base.partition(".")
    image_format = _FORMATS.get(extension)
    if image_format is None or len(sha256) != 64 or sha256.strip("0123456789abcdef"):
        return None
    return sha256, image_format


_FORMATS = {extension: image_format for image_format, extension in EXTENSIONS.items()}


def _orphans(listed: list[Listed], known: set[str], cutoff: float) -> list[str]:
    """Files written before `cutoff` that no row names, and leftovers of interrupted writes."""
    found = []
    for item in listed:
        base = item.name.rsplit("/", 1)[-1]
        is_partial = base.endswith(PARTIAL_SUFFIX)
        sha256 = base.lstrip(".").split(".", 1)[0]
        if (is_partial or sha256 not in known) and item.written_at <= cutoff:
            found.append(item.name)
    return found


def image_row(clean: CleanImage) -> image_rows.ImageRow:
    """The `images` row that records a cleaned image once its file is written."""
    return image_rows.ImageRow(
        sha256=clean.sha256,
        format=clean.format,
        width=clean.width,
        height=clean.height,
        byte_size=len(clean.data),
    )
