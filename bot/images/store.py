"""Content-addressed image files under CAMEO_DATA_DIR, kept consistent with the `images` table.

The invariants, whatever crashes or fails part-way:
- a row in `images` exists only after its file is fully on disk (write, fsync, rename, then row);
- a file is removed only after its row is gone (commit, then unlink);
- a file with no row (a crash between the two steps) is an orphan, and `sweep_orphans`, run in
  the background from start-up and periodically, removes it once it is older than a grace period.
One lock orders every mutation, so "is this image still used?" and the unlink cannot race a new
upload of the same content.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

from bot.errors import CameoError
from bot.images.processing import EXTENSIONS, CleanImage
from storage import images as image_rows
from storage import meta
from storage.database import Database

log = logging.getLogger(__name__)

_TEMP_SUFFIX = ".partial"
# The store's folders: the first two hex digits of each file's hash.
_PREFIXES = [f"{n:02x}" for n in range(256)]
# Image rows checked per transaction by the sweep: a few milliseconds of the write lock.
SWEEP_BATCH = 200
# Where the sweep has got to: "rows:<last hash checked>" or "files:<last folder swept>".
SWEEP_PROGRESS_KEY = "orphan_sweep"
ROWS_PHASE = "rows:"
FILES_PHASE = "files:"
# Files younger than this are never swept: they may belong to an upload still in progress.
ORPHAN_GRACE_SECONDS = 15 * 60


class ImageMissing(CameoError):
    """A stored file has gone (deleted by hand, disk restored from an old backup)."""


class StorageUnavailable(CameoError):
    """The disk refused a write (full, read-only, out of quota)."""


class ImageStore:
    def __init__(self, root: Path, db: Database) -> None:
        self.root = root
        self.db = db
        self._lock = asyncio.Lock()

    def path_for(self, sha256: str, image_format: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.{EXTENSIONS[image_format]}"

    @contextlib.asynccontextmanager
    async def mutation(self) -> AsyncIterator[None]:
        """Hold the store's lock while writing files and the rows that reference them."""
        async with self._lock:
            yield

    async def write(self, sha256: str, image_format: str, data: bytes) -> Path:
        """Put the bytes on disk durably under their hash (a no-op if already there).

        Call inside `mutation()`, before inserting the row.
        """
        assert self._lock.locked(), "write files inside ImageStore.mutation()"
        path = self.path_for(sha256, image_format)
        try:
            await asyncio.to_thread(_write_atomically, path, data)
        except OSError:
            log.exception("Could not write image %s", path)
            raise StorageUnavailable(
                "Cameo couldn't save the picture: its storage is full or unavailable. Nothing was "
                "saved; please tell the server staff."
            ) from None
        return path

    async def read(self, sha256: str, image_format: str) -> bytes:
        path = self.path_for(sha256, image_format)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            log.warning("Stored image %s is missing from %s", sha256, path)
            raise ImageMissing(
                "This character's reference image is missing from the bot's storage. Ask its owner "
                "to set a new one with /character edit."
            ) from None

    async def discard(self, sha256: str, image_format: str) -> None:
        """Remove a file whose row is gone (or was never written). Call inside `mutation()`."""
        assert self._lock.locked(), "remove files inside ImageStore.mutation()"
        await asyncio.to_thread(self.path_for(sha256, image_format).unlink, missing_ok=True)

    async def discard_all(self, files: list[tuple[str, str]]) -> None:
        """Remove many files whose rows are gone, in one trip to a worker thread."""
        assert self._lock.locked(), "remove files inside ImageStore.mutation()"
        paths = [self.path_for(sha256, image_format) for sha256, image_format in files]
        if paths:
            await asyncio.to_thread(_unlink_all, paths)

    async def sweep_orphans(self, grace_seconds: float = ORPHAN_GRACE_SECONDS) -> int:
        """Delete image rows nothing references, then files (and leftover partial writes) no
        row refers to; return how many files went.

        A year of images is too much to check in one go without stopping everything else, so
        the sweep works in short steps: a batch of rows per transaction, one folder of files
        at a time under the store's lock, yielding in between. Where it has got to is kept in
        the database, so a restart carries on instead of starting over.
        """
        progress = await meta.get_value(self.db, SWEEP_PROGRESS_KEY) or ROWS_PHASE
        if progress.startswith(ROWS_PHASE):
            await self._sweep_rows(after=progress.removeprefix(ROWS_PHASE))
            progress = FILES_PHASE
        removed = await self._sweep_files(
            after=progress.removeprefix(FILES_PHASE), grace_seconds=grace_seconds
        )
        await meta.set_value(self.db, SWEEP_PROGRESS_KEY, ROWS_PHASE)
        if removed:
            log.info("Removed %d orphaned image files", removed)
        return removed

    async def _sweep_rows(self, after: str) -> None:
        """Rows first: a row nothing references (a failed commit half-cleaned, a released
        reference) would otherwise keep its file forever."""
        refs = await self.db.run_read(image_rows.references)
        cursor: str | None = after
        while cursor is not None:
            start = cursor

            def step(conn: sqlite3.Connection, start: str = start) -> str | None:
                _, last = image_rows.delete_unreferenced_after(conn, start, SWEEP_BATCH, refs)
                meta.put(conn, SWEEP_PROGRESS_KEY, ROWS_PHASE + (last or "~"))
                return last

            cursor = await self.db.run_transaction(step)
            await asyncio.sleep(0)  # let commands in between

    async def _sweep_files(self, after: str, grace_seconds: float) -> int:
        removed = 0
        for prefix in _PREFIXES:
            if prefix <= after:
                continue
            folder = self.root / prefix
            # The lock orders this against uploads, which write a file and then its row while
            # holding it: a file seen here without a row is not one being added right now.
            async with self._lock:
                known = await self.db.run_read(partial(image_rows.known_with_prefix, prefix=prefix))
                removed += await asyncio.to_thread(_sweep_folder, folder, known, grace_seconds)
            await meta.set_value(self.db, SWEEP_PROGRESS_KEY, FILES_PHASE + prefix)
        return removed


def image_row(clean: CleanImage) -> image_rows.ImageRow:
    """The `images` row that records a cleaned image once its file is written."""
    return image_rows.ImageRow(
        sha256=clean.sha256,
        format=clean.format,
        width=clean.width,
        height=clean.height,
        byte_size=len(clean.data),
    )


def _write_atomically(path: Path, data: bytes) -> None:
    if path.exists() and path.stat().st_size == len(data):
        return  # same hash, same bytes: content addressing makes this a duplicate
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{_TEMP_SUFFIX}")
    try:
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    # The rename is durable only once the directory entry itself reaches the disk.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _sweep_folder(folder: Path, known: set[str], grace_seconds: float) -> int:
    if not folder.is_dir():
        return 0
    cutoff = time.time() - grace_seconds
    removed = 0
    for path in folder.iterdir():
        if not path.is_file():
            continue
        is_partial = path.name.endswith(_TEMP_SUFFIX)
        sha256 = path.name.lstrip(".").split(".", 1)[0]
        if (is_partial or sha256 not in known) and path.stat().st_mtime <= cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
