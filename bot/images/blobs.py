"""Where stored images' bytes live: a local folder (the default) or an S3-compatible bucket.

Both hold the same names ("ab/<sha256>.png", under a folder per first two hex digits) and
promise the same: a write never leaves a name half-written and never changes its bytes (the
name is the content's hash: a bucket's write is create-only, a folder's replaces the file with
the same bytes), a read of a missing name raises FileNotFoundError, and a listing
gives each name with when it was written, which the orphan sweep needs.

Each belongs to one Cameo database, as the data directory does: that database's rows say which
pictures are in use. With SQLite one process writes and deletes them, and a folder is locked
like the data directory; processes sharing a PostgreSQL database share its pictures too (see
bot/images/store.py for how they delete safely). A bucket prefix carries an owner marker naming
the database (`claim`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from obstore.store import S3Store

log = logging.getLogger(__name__)

# What a write leaves behind in a local folder if it is interrupted (the sweep removes them).
PARTIAL_SUFFIX = ".partial"
# The object naming the Cameo database a bucket prefix belongs to (outside the image folders).
OWNER_MARKER = "cameo-owner"
# How long one call of `delete_blocking` may take, every request and retry included: far within
# the database's minute for a transaction left idle (storage/postgres.py), after which the
# writers' lock is gone and deleting on would no longer be safe.
DELETE_TIMEOUT_SECONDS = 10.0
# One request of a bucket's delete, connecting included, tried once: a request is started only
# while it can end before the deadline.
DELETE_REQUEST_SECONDS = 4.0


@dataclass(frozen=True)
class Listed:
    name: str  # relative to the store: "ab/<sha256>.png"
    written_at: float  # Unix seconds


class Blobs(Protocol):
    def describe(self, name: str) -> str:
        """Where `name` is, for the operator's log."""
        ...

    async def put_new(self, name: str, data: bytes) -> None:
        """Store `data` under `name` durably (a name there already holds these bytes)."""
        ...

    async def get(self, name: str) -> bytes: ...

    async def delete(self, names: Sequence[str]) -> None:
        """Remove these names; names already gone are fine."""
        ...

    def delete_blocking(self, names: Sequence[str]) -> list[str]:
        """`delete`, from a thread that may block: inside a database transaction, so that no
        other process's write comes between the check that the names are unused and this.
        Return the names that could not be removed (the others went), within seconds: every
        process's writes wait meanwhile."""
        ...

    async def listing(self, folder: str) -> list[Listed]:
        """Every name in one folder ("ab"), with when it was written."""
        ...


class LocalBlobs:
    """A folder on this host's disk."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        return self.root / name

    def describe(self, name: str) -> str:
        return str(self.path(name))

    async def put_new(self, name: str, data: bytes) -> None:
        await asyncio.to_thread(_write_atomically, self.path(name), data)

    async def get(self, name: str) -> bytes:
        return await asyncio.to_thread(self.path(name).read_bytes)

    async def delete(self, names: Sequence[str]) -> None:
        if names:
            failed = await asyncio.to_thread(self.delete_blocking, names)
            if failed:
                raise OSError(f"could not remove {len(failed)} files, {self.describe(failed[0])}")

    def delete_blocking(self, names: Sequence[str]) -> list[str]:
        # Each unlink is quick on a local disk; on a shared volume (NFS) one may hang as long
        # as the mount lets it, which is why such a mount must fail well within the deadline.
        deadline = time.monotonic() + DELETE_TIMEOUT_SECONDS
        failed = []
        for name in names:
            if time.monotonic() >= deadline:
                failed.append(name)
                continue
            try:
                self.path(name).unlink(missing_ok=True)
            except OSError:
                failed.append(name)
        return failed

    async def listing(self, folder: str) -> list[Listed]:
        return await asyncio.to_thread(_list_folder, self.root, folder)


class BucketBlobs:
    """An S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, Backblaze B2…), through obstore.

    Create-only writes use S3's conditional put (If-None-Match).
    """

    def __init__(self, store: S3Store, url: str, deleter: S3Store | None = None) -> None:
        self._store = store
        # `delete_blocking` runs while every process's writes wait: a client of its own that
        # gives up in seconds.
        self._deleter = deleter or store
        self._url = url.rstrip("/")

    @classmethod
    def open(
        cls,
        url: str,
        *,
        endpoint: str | None,
        region: str | None,
        access_key_id: str | None,
        secret_access_key: str | None,
    ) -> BucketBlobs:
        """The bucket at `url` ("s3://bucket/prefix"); unset settings come from the usual AWS
        environment (AWS_ACCESS_KEY_ID, AWS_REGION…), as obstore reads it."""
        from obstore.store import S3Store

        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        config: dict[str, str] = {}
        if endpoint:
            config["endpoint"] = endpoint
        if region:
            config["region"] = region
        if access_key_id:
            config["access_key_id"] = access_key_id
        if secret_access_key:
            config["secret_access_key"] = secret_access_key

        def client(timeout: float, retries: int, retrying: float) -> S3Store:
            return S3Store(
                bucket,
                prefix=prefix.strip("/") or None,
                config=config,  # type: ignore[arg-type]
                client_options={
                    # Plain http only for an endpoint given as such (a MinIO on this host, tests).
                    "allow_http": bool(endpoint and endpoint.startswith("http://")),
                    "connect_timeout": timedelta(seconds=min(2, timeout)),
                    "timeout": timedelta(seconds=timeout),  # the whole request
                },
                retry_config={"max_retries": retries, "retry_timeout": timedelta(seconds=retrying)},
            )

        # A member waits for an upload: a bucket that keeps failing is reported in seconds,
        # not after obstore's default three minutes of retries.
        return cls(
            client(timeout=60, retries=3, retrying=15),
            url,
            deleter=client(timeout=DELETE_REQUEST_SECONDS, retries=0, retrying=0),
        )

    def describe(self, name: str) -> str:
        return f"{self._url}/{name}"

    async def claim(self, owner: str) -> str:
        """Mark the prefix as `owner`'s (a database's id) unless it is marked already; return
        the owner it belongs to. Also checks that the service honours create-only writes,
        which the marker, and every picture, rely on."""
        import obstore
        from obstore.exceptions import AlreadyExistsError

        try:
            await obstore.put_async(self._store, OWNER_MARKER, owner.encode(), mode="create")
        except AlreadyExistsError:
            result = await obstore.get_async(self._store, OWNER_MARKER)
            return bytes(await result.bytes_async()).decode(errors="replace").strip()
        try:
            await obstore.put_async(self._store, OWNER_MARKER, b"?", mode="create")
        except AlreadyExistsError:
            return owner
        await obstore.put_async(self._store, OWNER_MARKER, owner.encode(), mode="overwrite")
        raise OSError("the service ignores create-only writes (S3's If-None-Match)")

    async def put_new(self, name: str, data: bytes) -> None:
        import obstore
        from obstore.exceptions import AlreadyExistsError

        try:
            await obstore.put_async(self._store, name, data, mode="create")
        except AlreadyExistsError:
            return  # the same hash: the same bytes are there already
        except Exception as error:  # obstore's errors are not OSErrors; the store expects one
            raise OSError(f"the bucket refused the write ({type(error).__name__})") from error

    async def get(self, name: str) -> bytes:
        import obstore

        try:
            result = await obstore.get_async(self._store, name)
            return bytes(await result.bytes_async())
        except FileNotFoundError:
            raise
        except Exception as error:
            raise OSError(f"the bucket refused the read ({type(error).__name__})") from error

    async def delete(self, names: Sequence[str]) -> None:
        import obstore

        if names:
            await obstore.delete_async(self._store, list(names))

    def delete_blocking(self, names: Sequence[str]) -> list[str]:
        """One bulk request; if it fails (a bucket refuses a whole request that names an
        object it protects), each name on its own, so one refused name does not hold back the
        rest. Within DELETE_TIMEOUT_SECONDS: names left untried count as failed."""
        import obstore

        if not names:
            return []
        deadline = time.monotonic() + DELETE_TIMEOUT_SECONDS
        try:
            obstore.delete(self._deleter, list(names))
        except Exception:  # obstore's errors, whatever the bucket answered
            log.warning("The bucket refused a bulk delete; deleting one by one", exc_info=True)
        else:
            return []
        failed = []
        for name in names:
            if time.monotonic() + DELETE_REQUEST_SECONDS > deadline:
                failed.append(name)
                continue
            try:
                obstore.delete(self._deleter, name)
            except Exception:
                failed.append(name)
        return failed

    async def listing(self, folder: str) -> list[Listed]:
        import obstore

        found: list[Listed] = []
        async for chunk in obstore.list(self._store, f"{folder}/", chunk_size=1000):
            found += [Listed(meta["path"], _seconds(meta["last_modified"])) for meta in chunk]
        return found


def _seconds(moment: datetime) -> float:
    return moment.timestamp()


def _write_atomically(path: Path, data: bytes) -> None:
    # A file already there is written again (the same bytes, by its name) rather than trusted:
    # on a volume hosts share (NFS), a cached look may still show a file another host has just
    # deleted, and a row would then name a picture that is gone. Re-uploads are rare.
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
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


def _list_folder(root: Path, folder: str) -> list[Listed]:
    directory = root / folder
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        if path.is_file():
            found.append(Listed(f"{folder}/{path.name}", path.stat().st_mtime))
    return found
