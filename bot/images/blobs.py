"""Where stored images' bytes live: a local folder (the default) or an S3-compatible bucket.

Both hold the same names ("ab/<sha256>.png", under a folder per first two hex digits) and
promise the same: a write is create-only (the name is the content's hash, so an existing name
already holds these bytes), a read of a missing name raises FileNotFoundError, and a listing
gives each name with when it was written, which the orphan sweep needs.

Each belongs to one Cameo database, as the data directory does: that database's rows say which
pictures are in use, and its process alone writes and deletes them. A folder is locked like the
data directory; a bucket prefix carries an owner marker naming the database (`claim`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from obstore.store import S3Store

# What a write leaves behind in a local folder if it is interrupted (the sweep removes them).
PARTIAL_SUFFIX = ".partial"
# The object naming the Cameo database a bucket prefix belongs to (outside the image folders).
OWNER_MARKER = "cameo-owner"


@dataclass(frozen=True)
class Listed:
    name: str  # relative to the store: "ab/<sha256>.png"
    written_at: float  # Unix seconds


class Blobs(Protocol):
    def describe(self, name: str) -> str:
        """Where `name` is, for the operator's log."""
        ...

    async def put_new(self, name: str, data: bytes) -> None:
        """Store `data` under `name` durably, unless the name exists already."""
        ...

    async def get(self, name: str) -> bytes: ...

    async def delete(self, names: Sequence[str]) -> None:
        """Remove these names; names already gone are fine."""
        ...

    def delete_blocking(self, names: Sequence[str]) -> None:
        """`delete`, from a thread that may block: inside a database transaction, so that no
        other process's write comes between the check that the names are unused and this."""
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
            await asyncio.to_thread(self.delete_blocking, names)

    def delete_blocking(self, names: Sequence[str]) -> None:
        _unlink_all([self.path(name) for name in names])

    async def listing(self, folder: str) -> list[Listed]:
        return await asyncio.to_thread(_list_folder, self.root, folder)


class BucketBlobs:
    """An S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, Backblaze B2…), through obstore.

    Create-only writes use S3's conditional put (If-None-Match).
    """

    def __init__(self, store: S3Store, url: str) -> None:
        self._store = store
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
        store = S3Store(
            bucket,
            prefix=prefix.strip("/") or None,
            config=config,  # type: ignore[arg-type]
            client_options={
                # Plain http only for an endpoint given as such (a MinIO on this host, tests).
                "allow_http": bool(endpoint and endpoint.startswith("http://")),
                "connect_timeout": timedelta(seconds=5),
                "timeout": timedelta(seconds=60),
            },
            # A member waits for an upload: a bucket that keeps failing is reported in
            # seconds, not after obstore's default three minutes of retries.
            retry_config={"max_retries": 3, "retry_timeout": timedelta(seconds=15)},
        )
        return cls(store, url)

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

    def delete_blocking(self, names: Sequence[str]) -> None:
        import obstore

        if names:
            obstore.delete(self._store, list(names))

    async def listing(self, folder: str) -> list[Listed]:
        import obstore

        found: list[Listed] = []
        async for chunk in obstore.list(self._store, f"{folder}/", chunk_size=1000):
            found += [Listed(meta["path"], _seconds(meta["last_modified"])) for meta in chunk]
        return found


def _seconds(moment: datetime) -> float:
    return moment.timestamp()


def _write_atomically(path: Path, data: bytes) -> None:
    if path.exists() and path.stat().st_size == len(data):
        return  # same hash, same bytes: content addressing makes this a duplicate
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


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _list_folder(root: Path, folder: str) -> list[Listed]:
    directory = root / folder
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        if path.is_file():
            found.append(Listed(f"{folder}/{path.name}", path.stat().st_mtime))
    return found
