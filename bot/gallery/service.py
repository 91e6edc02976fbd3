"""Galleries: a server's characters and delivered pictures, a page at a time, as contact sheets.

Discord-free. What a member may see is decided in the query (`storage.gallery`); this service
pages through it, finds a character or picture the member picked, and renders contact sheets
off the event loop, keeping recent sheets by content so the same page twice is one render.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Generic, Literal, TypeVar

from bot.characters.service import CharacterService
from bot.errors import CameoError
from bot.images.contact_sheet import Tile, render_contact_sheet
from bot.images.processing import DAMAGED_IMAGE_ERRORS, ImageWorkers
from bot.images.store import ImageMissing, ImageStore
from bot.models import PERSONAL_SCOPE, Character, Picture, Viewer
from storage import gallery as repo
from storage import likeness as likeness_rows
from storage.database import Database
from storage.gallery import CharacterOrder, Direction
from storage.likeness import LikenessSettings

# A likeness band, in words (see bot/jobs/likeness.py).
LikenessBand = Literal["strong", "likely", "weak"]

T = TypeVar("T")

PAGE_SIZE = 12  # a 4×3 contact sheet
SHEET_COLUMNS = 4
TILE_SIDE = 256
# Rendered sheets kept for repeat views (a page shown again, or paged back to).
SHEET_CACHE_BYTES = 32 * 1024 * 1024
# Small copies of pictures recently shown on a sheet (about 15 kB each): decoding a full-size
# result is most of a sheet's cost, and the same pictures come back on other pages and sorts.
THUMBNAIL_CACHE_BYTES = 32 * 1024 * 1024


class NotInAServer(CameoError):
    def __init__(self) -> None:
        super().__init__("Galleries show what a server has made: use this in a server.")


class PictureNotFound(CameoError):
    def __init__(self) -> None:
        super().__init__("That picture has been deleted, or isn't one you can see here.")


@dataclass(frozen=True)
class CharacterQuery:
    member_id: int | None = None  # only this member's characters
    order: CharacterOrder = "newest"


@dataclass(frozen=True)
class PictureQuery:
    character_id: int | None = None  # only pictures of this character
    member_id: int | None = None  # only pictures this member asked for
    favorites: bool = False  # only pictures marked as favourites
    likeness: LikenessBand | None = None  # only pictures in this likeness band (the server's)


def band_range(band: LikenessBand, settings: LikenessSettings) -> tuple[float, float]:
    """The scores of a likeness band, lowest included, highest not (the server's thresholds)."""
    return {
        "strong": (settings.strong, 2.0),
        "likely": (settings.likely, settings.strong),
        "weak": (-2.0, settings.likely),
    }[band]


@dataclass(frozen=True)
class PageCursor:
    """Where a page starts: after the last entry of the page before it, or before the first
    entry of the page after it. `number` is only shown (1 = the first page)."""

    direction: Direction
    key: tuple[int, ...]  # a character's id, or a picture's (job id, position)
    number: int


@dataclass(frozen=True)
class GalleryPage(Generic[T]):
    entries: Sequence[T]
    number: int
    has_previous: bool
    has_next: bool


@dataclass(frozen=True)
class Shareable:
    picture: Picture
    character: Character


@dataclass(frozen=True)
class SheetTile:
    image_sha256: str
    image_format: str
    caption: str


class GalleryService:
    def __init__(
        self,
        db: Database,
        store: ImageStore,
        characters: CharacterService,
        workers: ImageWorkers,
    ) -> None:
        self.db = db
        self.store = store
        self.characters = characters
        self.workers = workers
        self._sheets = _BoundedCache[tuple[bytes, str]](SHEET_CACHE_BYTES, lambda s: len(s[0]))
        self._thumbnails = _BoundedCache[bytes](THUMBNAIL_CACHE_BYTES, len)

    async def character_page(
        self, viewer: Viewer, query: CharacterQuery, cursor: PageCursor | None = None
    ) -> GalleryPage[Character]:
        scope = _server(viewer)
        found = await self.db.run_read(
            partial(
                repo.character_page,
                scope=scope,
                viewer_id=viewer.user_id,
                member_id=query.member_id,
                order=query.order,
                cursor=None if cursor is None else (cursor.direction, cursor.key[0]),
                limit=PAGE_SIZE + 1,  # one more tells whether another page follows
            )
        )
        return _page(found, cursor)

    async def picture_page(
        self, viewer: Viewer, query: PictureQuery, cursor: PageCursor | None = None
    ) -> GalleryPage[Picture]:
        scope = _server(viewer)

        def read(conn: sqlite3.Connection) -> list[Picture]:
            scores = None
            if query.likeness is not None:
                scores = band_range(query.likeness, likeness_rows.settings_of(conn, scope))
            return repo.picture_page(
                conn,
                scope=scope,
                viewer_id=viewer.user_id,
                character_id=query.character_id,
                member_id=query.member_id,
                favorites=query.favorites,
                cursor=None if cursor is None else (cursor.direction, *cursor.key[:2]),  # type: ignore[arg-type]
                limit=PAGE_SIZE + 1,
                likeness=scores,
            )

        return _page(await self.db.run_read(read), cursor)

    async def character(self, viewer: Viewer, query: str) -> Character:
        """A character picked from a gallery, if the member may still see it."""
        _server(viewer)
        return await self.characters.resolve(viewer, query)

    async def picture(self, viewer: Viewer, job_id: int, position: int) -> Picture:
        """A picture picked from a gallery, if it still exists and the member may see it."""
        scope = _server(viewer)
        found = await self.db.run_read(
            partial(
                repo.picture,
                scope=scope,
                viewer_id=viewer.user_id,
                job_id=job_id,
                position=position,
            )
        )
        if found is None:
            raise PictureNotFound()
        return found

    async def shareable(self, viewer: Viewer, job_id: int, position: int) -> Shareable:
        """A delivered picture the viewer may share into the server's showcase: the member who
        asked for it, or its character's owner, may; only of a character shared with the
        server (a private character's pictures stay out of public channels)."""
        picture = await self.picture(viewer, job_id, position)
        character = (
            await self.characters.get(picture.job.character_id)
            if picture.job.character_id is not None
            else None
        )
        if character is None:
            raise PictureNotFound()
        if viewer.user_id not in (picture.job.user_id, character.owner_id):
            raise CameoError(
                "Only the member who asked for this picture, or its character's owner, can "
                "share it."
            )
        if not character.listed:
            raise CameoError(
                f"{character.name} is private, so their pictures stay out of the showcase."
            )
        return Shareable(picture, character)

    async def picture_data(self, picture: Picture) -> bytes:
        try:
            return await self.store.read(picture.image_sha256, picture.image_format)
        except ImageMissing:
            raise PictureNotFound() from None

    async def contact_sheet(self, tiles: Sequence[SheetTile], limit: int) -> tuple[bytes, str]:
        """One image of the tiles, numbered from 1, under `limit` bytes; (bytes, format)."""
        key = _sheet_key(tiles, limit)
        cached = self._sheets.get(key)
        if cached is not None:
            return cached
        # Side by side: the pool decodes two at once (Pillow lets go of the GIL while it does).
        pictures = await asyncio.gather(*(self._tile_data(tile) for tile in tiles))
        sheet = await self.workers.run(
            render_contact_sheet,
            [
                Tile(image=data, number=number, caption=tile.caption)
                for number, (tile, data) in enumerate(zip(tiles, pictures, strict=True), start=1)
            ],
            columns=SHEET_COLUMNS,
            tile_size=TILE_SIDE,
            limit=limit,
            photographs=True,
        )
        self._sheets.put(key, sheet)
        return sheet

    def forget_pictures(self) -> None:
        """Drop every sheet and small copy kept in memory (a member asked to be forgotten)."""
        self._sheets.clear()
        self._thumbnails.clear()

    async def _tile_data(self, tile: SheetTile) -> bytes | None:
        cached = self._thumbnails.get(tile.image_sha256)
        if cached is not None:
            return cached
        # A stored file gone missing shows as an "unavailable" tile rather than failing the page.
        try:
            data = await self.store.read(tile.image_sha256, tile.image_format)
        except ImageMissing:
            return None
        try:
            small = await self.workers.thumbnail(data, TILE_SIDE)
        except DAMAGED_IMAGE_ERRORS:
            return None  # the sheet shows it as "unavailable"
        self._thumbnails.put(tile.image_sha256, small)
        return small


class _BoundedCache(Generic[T]):
    """Least recently used entries go first once their sizes add up to more than `limit`."""

    def __init__(self, limit: int, size: Callable[[T], int]) -> None:
        self._entries: OrderedDict[str, T] = OrderedDict()
        self._limit = limit
        self._size = size
        self._total = 0

    def get(self, key: str) -> T | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: str, value: T) -> None:
        if key in self._entries:
            self._total -= self._size(self._entries.pop(key))
        self._entries[key] = value
        self._total += self._size(value)
        while self._total > self._limit and self._entries:
            _, gone = self._entries.popitem(last=False)
            self._total -= self._size(gone)

    def clear(self) -> None:
        self._entries.clear()
        self._total = 0


def _server(viewer: Viewer) -> int:
    if viewer.scope == PERSONAL_SCOPE:
        raise NotInAServer()
    return viewer.scope


def _page(found: Sequence[T], cursor: PageCursor | None) -> GalleryPage[T]:
    """Trim the one extra entry read past the page, and say which way there is more."""
    extra = len(found) > PAGE_SIZE
    if cursor is not None and cursor.direction == "before":
        # Read backwards: the extra entry is the oldest-shown end, before this page.
        entries = found[1:] if extra else found
        number = cursor.number if extra else 1  # nothing before it: this is the first page
        return GalleryPage(entries, max(1, number), has_previous=extra, has_next=True)
    number = 1 if cursor is None else cursor.number
    return GalleryPage(found[:PAGE_SIZE], number, has_previous=cursor is not None, has_next=extra)


def _sheet_key(tiles: Sequence[SheetTile], limit: int) -> str:
    digest = hashlib.sha256(f"{SHEET_COLUMNS}:{limit}".encode())
    for tile in tiles:
        digest.update(f"\0{tile.image_sha256}\0{tile.image_format}\0{tile.caption}".encode())
    return digest.hexdigest()
