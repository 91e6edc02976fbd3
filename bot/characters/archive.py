"""The export file: a zip of a member's characters (a JSON manifest plus the reference images).

Members own their data: `/character export` writes these, `/character import` reads them back.
An uploaded archive is untrusted input, so reading it is bounded in every dimension (entries,
declared and actual sizes, total bytes inflated) and every image is checked again on import.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import CameoError
from bot.images.processing import MAX_REFERENCE_BYTES
from bot.models import Visibility

MANIFEST_NAME = "cameo-characters.json"
MANIFEST_MAX_BYTES = 2 * 1024 * 1024
MAX_ENTRIES = 500
# However the members are compressed, reading one archive never inflates more than this.
MAX_TOTAL_BYTES = 120 * 1024 * 1024
# Our manifests list at most 500 entries; a central directory this large is not one of ours.
MAX_CENTRAL_DIRECTORY_BYTES = 256 * 1024
_END_OF_CENTRAL_DIRECTORY = b"PK\x05\x06"


class ArchiveRejected(CameoError):
    pass


class ArchivedCharacter(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    visibility: Visibility = Visibility.SERVER
    server_id: str | None = None
    created_at: str | None = None
    image: str = Field(min_length=1, max_length=200)
    original_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    original_format: str | None = Field(default=None, max_length=10)
    original_width: int | None = Field(default=None, gt=0)
    original_height: int | None = Field(default=None, gt=0)


class Manifest(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    format: Literal["cameo-characters"]
    version: Literal[1]
    exported_at: str
    characters: list[ArchivedCharacter] = Field(max_length=MAX_ENTRIES)


@dataclass(frozen=True)
class ExportItem:
    character: ArchivedCharacter
    image: bytes


def build_archives(items: list[ExportItem], exported_at: str, part_limit: int) -> list[bytes]:
    """Pack the characters into zips of at most `part_limit` bytes each (one item may exceed it).

    Each part is a complete archive on its own (its own manifest), so any part can be imported.
    Parts are packed by estimate, then measured: one that came out too big is split in two.
    """
    groups: list[list[ExportItem]] = [[]]
    size = 0
    for item in items:
        item_size = len(item.image) + len(item.character.model_dump_json()) + 512
        if groups[-1] and size + item_size + 4096 > part_limit:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += item_size
    return [part for group in groups for part in _measured(group, exported_at, part_limit)]


def _measured(items: list[ExportItem], exported_at: str, part_limit: int) -> list[bytes]:
    archive = _zip(items, exported_at)
    if len(archive) <= part_limit or len(items) == 1:
        return [archive]
    half = len(items) // 2
    return _measured(items[:half], exported_at, part_limit) + _measured(
        items[half:], exported_at, part_limit
    )


def _zip(items: list[ExportItem], exported_at: str) -> bytes:
    manifest = Manifest(
        format="cameo-characters",
        version=1,
        exported_at=exported_at,
        characters=[item.character for item in items],
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            MANIFEST_NAME, manifest.model_dump_json(indent=2), compress_type=zipfile.ZIP_DEFLATED
        )
        for item in items:
            # Images are already compressed; storing them keeps export fast.
            archive.writestr(item.character.image, item.image, compress_type=zipfile.ZIP_STORED)
    return out.getvalue()


class ArchiveReader:
    """Read an uploaded archive one bounded member at a time."""

    def __init__(self, data: bytes) -> None:
        _check_central_directory(data)
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
            raise _not_an_export() from None
        if len(infos) > MAX_ENTRIES + 1:
            raise ArchiveRejected(f"That archive has too many files (at most {MAX_ENTRIES}).")
        self._infos = {info.filename: info for info in infos}
        self._inflated = 0

    def manifest(self) -> Manifest:
        raw = self._read(MANIFEST_NAME, MANIFEST_MAX_BYTES, what="the list of characters")
        try:
            return Manifest.model_validate_json(raw)
        except ValidationError:
            raise _not_an_export() from None

    def image(self, character: ArchivedCharacter) -> bytes:
        return self._read(character.image, MAX_REFERENCE_BYTES, what=f"the image {character.image}")

    def _read(self, name: str, limit: int, *, what: str) -> bytes:
        info = self._infos.get(name)
        if info is None:
            raise ArchiveRejected(f"That archive is incomplete: {what} is missing.")
        if info.file_size > limit:
            raise ArchiveRejected(f"That archive is too large to import: {what} is too big.")
        try:
            with self._zip.open(info) as member:
                # Never trust the declared size: read at most one byte past the limit.
                data = member.read(limit + 1)
        except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, RuntimeError):
            raise ArchiveRejected(f"That archive is damaged: {what} can't be read.") from None
        if len(data) > limit:
            raise ArchiveRejected(f"That archive is too large to import: {what} is too big.")
        self._inflated += len(data)
        if self._inflated > MAX_TOTAL_BYTES:
            raise ArchiveRejected("That archive is too large to import in one go.")
        return data

    def close(self) -> None:
        self._zip.close()


def _check_central_directory(data: bytes) -> None:
    """Refuse archives whose directory is too big, before Python parses all of it.

    `zipfile` reads the whole central directory up front; a small upload listing a million
    entries would hold the CPU (and the event loop's thread pool) for seconds.
    """
    tail = data[-(65535 + 22) :]
    position = tail.rfind(_END_OF_CENTRAL_DIRECTORY)
    if position == -1 or position + 22 > len(tail):
        raise _not_an_export()
    entries, directory_size = struct.unpack("<HI", tail[position + 10 : position + 16])
    if entries > MAX_ENTRIES + 1 or directory_size > MAX_CENTRAL_DIRECTORY_BYTES:
        raise ArchiveRejected(f"That archive has too many files (at most {MAX_ENTRIES}).")


def _not_an_export() -> ArchiveRejected:
    return ArchiveRejected(
        "That file isn't a Cameo export. Attach a .zip made by /character export."
    )
