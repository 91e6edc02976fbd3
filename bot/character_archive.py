"""The export file: a zip of a member's characters (a JSON manifest plus the reference images).

Members own their data: `/character export` writes these, `/character import` reads them back.
An uploaded archive is untrusted input, so reading it is bounded in every dimension (entries,
declared and actual sizes, total bytes inflated) and every image is checked again on import.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import CameoError
from bot.images import MAX_REFERENCE_BYTES
from bot.models import Visibility

MANIFEST_NAME = "cameo-characters.json"
MANIFEST_MAX_BYTES = 2 * 1024 * 1024
MAX_ENTRIES = 500
# However the members are compressed, reading one archive never inflates more than this.
MAX_TOTAL_BYTES = 120 * 1024 * 1024


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
    """Pack the characters into as few zips as fit `part_limit` bytes each.

    Each part is a complete archive on its own (its own manifest), so any part can be imported.
    """
    parts: list[list[ExportItem]] = [[]]
    size = 0
    overhead = 4096  # manifest and zip headers, generously
    for item in items:
        item_size = len(item.image) + 1024
        if parts[-1] and size + item_size + overhead > part_limit:
            parts.append([])
            size = 0
        parts[-1].append(item)
        size += item_size
    return [_zip(part, exported_at) for part in parts]


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
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError):
            raise ArchiveRejected(f"That archive is damaged: {what} can't be read.") from None
        if len(data) > limit:
            raise ArchiveRejected(f"That archive is too large to import: {what} is too big.")
        self._inflated += len(data)
        if self._inflated > MAX_TOTAL_BYTES:
            raise ArchiveRejected("That archive is too large to import in one go.")
        return data

    def close(self) -> None:
        self._zip.close()


def _not_an_export() -> ArchiveRejected:
    return ArchiveRejected(
        "That file isn't a Cameo export. Attach a .zip made by /character export."
    )
