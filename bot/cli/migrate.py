"""`cameo migrate-to`: move a bot from its SQLite file (and image folder) to PostgreSQL (and a
bucket), resumably, and check the copy by counts and hashes before saying it is done."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from functools import partial

from bot.images.blobs import Blobs
from bot.images.store import name_for
from bot.services import image_blobs
from bot.settings import Settings, SettingsError
from storage import images as image_rows
from storage.database import SqliteDatabase, StorageError, exclusive_data_dir
from storage.postgres import PostgresDatabase, redacted
from storage.transfer import TableCopy, copy_rows

# Pictures copied at once (each read, checked and written whole).
PICTURES_AT_ONCE = 16


@dataclass
class PictureCopy:
    copied: int = 0
    already_there: int = 0
    missing: int = 0  # recorded, but not in the source store
    damaged: int = 0  # in the source store, but not the bytes their name says


async def migrate_to(settings: Settings, database_url: str, image_store: str | None) -> int:
    """Copy, verify, and say what to set next; 0 when everything arrived whole."""
    if not database_url.startswith(("postgresql://", "postgres://")):
        raise SettingsError("--database-url must be a postgresql:// URL.")
    source_path = settings.database_path
    if not source_path.is_file():
        raise SettingsError(
            f"There is no Cameo database at {source_path} to move (check CAMEO_DATA_DIR)."
        )
    destination = _destination(settings, image_store) if image_store else None
    # The bot must be stopped: its lock on the data directory says whether it is running.
    with exclusive_data_dir(settings.data_dir):
        source = await SqliteDatabase.open(source_path)
        try:
            target = await PostgresDatabase.open(database_url)
        except BaseException:
            await source.close()
            raise
        try:
            print(f"Copying {source_path} into {redacted(database_url)}")
            tables = await copy_rows(source, target, on_table=_say_table)
            pictures = None
            if destination is not None:
                print(f"Copying pictures into {image_store}")
                pictures = await copy_pictures(source, image_blobs(settings), destination)
        finally:
            await target.close()
            await source.close()
    return _verdict(tables, pictures, database_url, image_store)


def _destination(settings: Settings, image_store: str) -> Blobs:
    try:
        moved = Settings.model_validate({**dict(settings), "image_store": image_store})
    except ValueError as error:
        raise SettingsError(f"--image-store: {error}") from None
    return image_blobs(moved)


def _say_table(copy: TableCopy) -> None:
    print(f"  {copy.table}: {copy.target_rows} of {copy.source_rows} rows (+{copy.added})")


async def copy_pictures(source: SqliteDatabase, origin: Blobs, destination: Blobs) -> PictureCopy:
    """Every recorded picture into `destination`, each checked against its hash; what is
    there already (a previous run's) is left as it is: names are the content's hash."""
    outcome = PictureCopy()
    gate = asyncio.Semaphore(PICTURES_AT_ONCE)
    for first in range(256):
        prefix = f"{first:02x}"
        rows = await source.run_read(partial(image_rows.rows_with_prefix, prefix=prefix))
        there = {listed.name for listed in await destination.listing(prefix)}

        async def one(row: image_rows.ImageRow, there: set[str] = there) -> None:
            name = name_for(row.sha256, row.format)
            if name in there:
                outcome.already_there += 1
                return
            async with gate:
                try:
                    data = await origin.get(name)
                except FileNotFoundError:
                    outcome.missing += 1
                    return
                if hashlib.sha256(data).hexdigest() != row.sha256:
                    outcome.damaged += 1
                    return
                await destination.put_new(name, data)
                outcome.copied += 1

        await asyncio.gather(*(one(row) for row in rows))
    return outcome


def _verdict(
    tables: list[TableCopy], pictures: PictureCopy | None, database_url: str, store: str | None
) -> int:
    rows = sum(copy.target_rows for copy in tables)
    short = [copy for copy in tables if not copy.complete]
    print(f"Rows: {rows} in {len(tables)} tables, {sum(c.added for c in tables)} copied this run.")
    if pictures is not None:
        print(
            f"Pictures: {pictures.copied} copied, {pictures.already_there} already there, every "
            "one checked against its hash."
        )
    ahead = [c.table for c in short if c.target_rows > c.source_rows]
    if ahead:
        print(
            f"The PostgreSQL database has rows the SQLite one does not ({', '.join(ahead)}): it "
            "has been used since the copy, or holds another bot's data. Nothing to carry on."
        )
        return 1
    problems = [f"{c.table} has {c.target_rows} rows of {c.source_rows}" for c in short]
    if pictures is not None and pictures.missing:
        problems.append(f"{pictures.missing} recorded pictures are missing from the old store")
    if pictures is not None and pictures.damaged:
        problems.append(f"{pictures.damaged} pictures in the old store are damaged")
    if problems:
        print("Not finished: " + "; ".join(problems) + ". Run the same command again to go on.")
        return 1
    print("Everything arrived. Stop using the old files, and start Cameo with:")
    print(f"  CAMEO_DATABASE_URL={redacted(database_url)}")
    if store is not None:
        print(f"  CAMEO_IMAGE_STORE={store}")
    return 0


def run_migrate_to(settings: Settings, database_url: str, image_store: str | None) -> int:
    try:
        return asyncio.run(migrate_to(settings, database_url, image_store))
    except StorageError as error:
        raise SettingsError(str(error)) from None
