"""The export file: a zip of a member's characters (a JSON manifest plus the reference images).

Version 2 (written since characters have looks) lists each character's looks, each with its
own picture; the character's own `image` is its default look's, as in version 1, which still
imports (each of its characters gets one look, "default").

Members own their data: `/character export` writes these, `/character import` reads them back.
An uploaded archive is untrusted input, so reading it is bounded in every dimension (entries,
declared and actual sizes, total bytes inflated) and every image is checked again on import.
A file that is not an export at all is refused whole; one bad entry in an export is skipped,
with a reason, and the rest are imported.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.characters.text import DESCRIPTION_MAX, NAME_MAX
from bot.errors import CameoError
from bot.images.processing import MAX_REFERENCE_BYTES
from bot.models import Visibility

MANIFEST_NAME = "cameo-characters.json"
MANIFEST_MAX_BYTES = 2 * 1024 * 1024
MAX_ENTRIES = 500
# Files in one archive: the manifest and every look's picture. Exports are split to stay under
# it; its central directory (about 100 bytes a file) stays under the bound below.
MAX_FILES = 2000
MAX_LOOKS = 10
MANIFEST_VERSION: Literal[2] = 2
# However the members are compressed, reading one archive never inflates more than this.
MAX_TOTAL_BYTES = 120 * 1024 * 1024
# Our archives hold at most MAX_FILES files; a central directory this large is not one of ours.
MAX_CENTRAL_DIRECTORY_BYTES = 256 * 1024
_END_OF_CENTRAL_DIRECTORY = b"PK\x05\x06"


class ArchiveRejected(CameoError):
    pass


class ArchivedLook(BaseModel):
    """One look of a character, in version 2 exports."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    image: str = Field(min_length=1, max_length=200)
    default: bool = False
    original_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    original_format: str | None = Field(default=None, max_length=10)
    original_width: int | None = Field(default=None, gt=0)
    original_height: int | None = Field(default=None, gt=0)


class ArchivedCharacter(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    visibility: Visibility = Visibility.SERVER
    listed: bool | None = None  # for approved characters (version 2)
    looks: list[ArchivedLook] = Field(default_factory=list, max_length=MAX_LOOKS)
    server_id: str | None = None
    created_at: str | None = None
    image: str = Field(min_length=1, max_length=200)
    original_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    original_format: str | None = Field(default=None, max_length=10)
    original_width: int | None = Field(default=None, gt=0)
    original_height: int | None = Field(default=None, gt=0)


class Manifest(BaseModel):
    """The manifest as export writes it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    format: Literal["cameo-characters"]
    version: Literal[1, 2]
    exported_at: str
    characters: list[ArchivedCharacter] = Field(max_length=MAX_ENTRIES)


class _ManifestEnvelope(BaseModel):
    """What a manifest must be for the file to be a Cameo export at all.

    The entries stay raw here: each is checked on its own, so one bad entry costs only itself.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    format: Literal["cameo-characters"]
    version: Literal[1, 2]
    exported_at: str
    characters: list[Any]


@dataclass(frozen=True)
class ImportableEntry:
    label: str  # how the import report names it: see entry_label
    character: ArchivedCharacter


@dataclass(frozen=True)
class SkippedEntry:
    label: str
    reason: str  # in Cameo's words, for the member


LABEL_MAX = 40
# Facts about the original upload, kept for provenance only. An entry whose provenance is damaged
# is still a good character: it is imported as if the image were uploaded afresh.
_PROVENANCE = frozenset(
    {
        "server_id",
        "created_at",
        "original_sha256",
        "original_format",
        "original_width",
        "original_height",
    }
)
TOO_MANY_ENTRIES = (
    f"The file lists more than {MAX_ENTRIES} characters; only the first {MAX_ENTRIES} are read."
)


@dataclass(frozen=True)
class ExportItem:
    character: ArchivedCharacter
    image: bytes
    look_images: tuple[bytes, ...] = ()  # each look's picture but the default's, in order

    @property
    def files(self) -> int:
        return 1 + len(self.look_images)


def build_archives(items: list[ExportItem], exported_at: str, part_limit: int) -> list[bytes]:
    """Pack the characters into zips of at most `part_limit` bytes each (one item may exceed it).

    Each part is a complete archive on its own (its own manifest), so any part can be imported;
    that is also why no part holds more than MAX_ENTRIES characters, the most import reads.
    Parts are packed by estimate, then measured: one that came out too big is split in two.
    """
    groups: list[list[ExportItem]] = [[]]
    size = files = 0
    for item in items:
        item_size = (
            len(item.image)
            + sum(len(image) for image in item.look_images)
            + len(item.character.model_dump_json())
            + 512
        )
        full = len(groups[-1]) >= MAX_ENTRIES or files + item.files >= MAX_FILES
        if groups[-1] and (size + item_size + 4096 > part_limit or full):
            groups.append([])
            size = files = 0
        groups[-1].append(item)
        size += item_size
        files += item.files
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
        version=MANIFEST_VERSION,
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
            others = [look for look in item.character.looks if not look.default]
            for look, image in zip(others, item.look_images, strict=True):
                archive.writestr(look.image, image, compress_type=zipfile.ZIP_STORED)
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
        if len(infos) > MAX_FILES:
            raise ArchiveRejected(f"That archive has too many files (at most {MAX_FILES}).")
        self._infos = {info.filename: info for info in infos}
        self._inflated = 0

    def entries(self) -> list[ImportableEntry | SkippedEntry]:
        """Return every entry of the manifest, in order, each importable or skipped with a reason.

        Raises ArchiveRejected only when the file as a whole is not a readable Cameo export.
        """
        if MANIFEST_NAME not in self._infos:
            raise _not_an_export()
        raw = self._read(MANIFEST_NAME, MANIFEST_MAX_BYTES, what="the list of characters")
        try:
            envelope = _ManifestEnvelope.model_validate_json(raw)
        except ValidationError:
            raise _not_an_export() from None
        # Past the limit, import the first MAX_ENTRIES and list the rest as skipped, rather than
        # refuse the file: the member keeps what can be imported and learns exactly what was
        # not, as when they reach their character limit part-way through. Cameo's own exports
        # never go past it (build_archives splits them), so only an edited file gets here.
        listed = envelope.characters
        return [
            _read_entry(position, value) for position, value in enumerate(listed[:MAX_ENTRIES], 1)
        ] + [
            SkippedEntry(_label(position, value), TOO_MANY_ENTRIES)
            for position, value in enumerate(listed[MAX_ENTRIES:], MAX_ENTRIES + 1)
        ]

    def image(self, character: ArchivedCharacter | ArchivedLook) -> bytes:
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


def entry_label(position: int, name: object) -> str:
    """Name an entry for the member: its name on one line, shortened, else its place in the file.

    Names here are untrusted and may be long, multi-line or empty; a report line stays short.
    """
    if isinstance(name, str):
        # Slice first: a name may be megabytes long, and only its start is ever shown.
        visible = "".join(ch if ch.isprintable() else " " for ch in name[: LABEL_MAX * 4])
        shown = " ".join(visible.split())
        if shown:
            return shown if len(shown) <= LABEL_MAX else shown[: LABEL_MAX - 1].rstrip() + "…"
    return f"entry {position}"


def _label(position: int, value: object) -> str:
    return entry_label(position, value.get("name") if isinstance(value, dict) else None)


def _read_entry(position: int, value: object) -> ImportableEntry | SkippedEntry:
    label = _label(position, value)
    if not isinstance(value, dict):
        return SkippedEntry(label, "This entry isn't a character.")
    try:
        return ImportableEntry(label, ArchivedCharacter.model_validate(value))
    except ValidationError as exc:
        failed = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
    if failed <= _PROVENANCE:
        kept = {key: item for key, item in value.items() if key not in failed}
        try:
            return ImportableEntry(label, ArchivedCharacter.model_validate(kept))
        except ValidationError:
            pass  # cannot happen with the failing fields gone; skip it rather than guess
    return SkippedEntry(label, _reason(failed, value))


def _reason(failed: set[str], value: dict[Any, Any]) -> str:
    """Say why an entry can't be imported, in the words Cameo uses for the same rule elsewhere.

    Worked out from the entry's own values rather than pydantic's messages, which name types
    and constraints a member never sees.
    """
    if "name" in failed:
        return _name_reason(value.get("name"))
    if "image" in failed:
        return "It doesn't say which picture in the file is its own."
    if "visibility" in failed:
        return "Its visibility must be private, approved or server."
    if "looks" in failed:
        return f"Its list of looks is damaged (a character has at most {MAX_LOOKS})."
    if "description" in failed:
        return _description_reason(value.get("description"))
    return "This entry is damaged."


def _name_reason(name: object) -> str:
    if isinstance(name, str) and name.strip():
        return f"Names can be at most {NAME_MAX} characters long."
    return "It has no name."


def _description_reason(description: object) -> str:
    if isinstance(description, str):
        return (
            f"Descriptions can be at most {DESCRIPTION_MAX} characters "
            f"(this one has {len(description)})."
        )
    return "Its description isn't text."


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
    if entries > MAX_FILES or directory_size > MAX_CENTRAL_DIRECTORY_BYTES:
        raise ArchiveRejected(f"That archive has too many files (at most {MAX_FILES}).")


def _not_an_export() -> ArchiveRejected:
    return ArchiveRejected(
        "That file isn't a Cameo export. Attach a .zip made by /character export."
    )
