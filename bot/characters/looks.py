"""A character's looks: named reference pictures ("winter coat", "age 60"), one the default.

Who may do what is the registry's rule: everyone who may use a character picks among its
looks; its owner and co-owners add, remove, rename and choose the default. Every check is
made again inside the transaction that changes anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from functools import partial

from bot.characters.consent import Consent, consent_for
from bot.characters.service import (
    CharacterNotFound,
    CharacterService,
    NotAllowed,
    look_picture,
)
from bot.characters.text import clean_name, name_key
from bot.clock import timestamp
from bot.errors import CameoError
from bot.images.contact_sheet import Tile, render_contact_sheet
from bot.images.processing import CleanImage
from bot.models import Character, Look, Viewer
from bot.moderation.log import LogEntry
from storage import characters as character_rows
from storage import looks as repo
from storage.database import Connection, run_sync

log = logging.getLogger(__name__)

MAX_LOOKS = repo.MAX_LOOKS
LOOK_SHEET_COLUMNS = 5
LOOK_TILE_SIDE = 160
_SHEET_CACHE_SIZE = 32


class LookNotFound(CameoError):
    def __init__(self, character: Character, name: str) -> None:
        super().__init__(
            f"{character.name} has no look called “{name}”. Pick one from the suggestions, or "
            "see their card."
        )


class LookService:
    def __init__(self, characters: CharacterService) -> None:
        self.characters = characters
        self._sheets: OrderedDict[tuple[str, ...], tuple[bytes, str]] = OrderedDict()

    # -- reading ----------------------------------------------------------------------------

    async def looks_of(self, character: Character) -> list[Look]:
        """The character's looks, the default first (callers have checked the viewer may
        see the character)."""
        return await self.characters.db.run_read(partial(repo.looks_of, character_id=character.id))

    async def suggest(
        self, viewer: Viewer, character_query: str, typed: str, *, to_use: bool = True
    ) -> list[Look]:
        """The looks of the character named in the command so far whose name contains what is
        typed; none when that character can't be found (or used) by the viewer."""
        try:
            character = await self.characters.resolve(viewer, character_query, to_use=to_use)
        except CameoError:
            return []
        fragment = name_key(typed.strip())
        return [look for look in await self.looks_of(character) if fragment in name_key(look.name)]

    async def pick(self, character: Character, name: str | None) -> Look:
        """The look a scene asks for by name; the default when none is given."""
        return choose_look(character, await self.looks_of(character), name)

    async def sheet(self, looks: list[Look], limit: int) -> tuple[bytes, str] | None:
        """A small contact sheet of a character's looks (from `looks_of`) for its card; None
        for one look."""
        if len(looks) < 2:
            return None
        key = tuple(f"{look.image_sha256}:{look.name}:{look.is_default}" for look in looks)
        cached = self._sheets.get(key)
        if cached is not None:
            self._sheets.move_to_end(key)
            return cached
        store = self.characters.store
        pictures = await asyncio.gather(
            *(store.read(look.image_sha256, look.image_format) for look in looks),
            return_exceptions=True,
        )
        tiles = [
            Tile(
                image=data if isinstance(data, bytes) else None,
                number=number,
                caption=f"{look.name}\n(default)" if look.is_default else look.name,
            )
            for number, (look, data) in enumerate(zip(looks, pictures, strict=True), start=1)
        ]
        sheet = await self.characters.workers.run(
            render_contact_sheet,
            tiles,
            columns=LOOK_SHEET_COLUMNS,
            tile_size=LOOK_TILE_SIDE,
            limit=limit,
            photographs=True,
        )
        self._sheets[key] = sheet
        while len(self._sheets) > _SHEET_CACHE_SIZE:
            self._sheets.popitem(last=False)
        return sheet

    # -- changing ---------------------------------------------------------------------------

    async def add(
        self,
        viewer: Viewer,
        character_query: str,
        name: str,
        image: bytes,
        consent: Consent | None = None,
    ) -> tuple[Character, Look]:
        """Add a look from an uploaded picture (checked and cleaned like any reference)."""
        character = await self.characters.resolve(viewer, character_query)
        display = clean_name(name)
        clean = await self.characters.workers.clean_reference(image)
        return await self.characters.add_look(viewer, character, display, clean, consent)

    async def add_from_picture(
        self,
        viewer: Viewer,
        character: Character,
        name: str,
        clean: CleanImage,
        consent: Consent | None = None,
    ) -> tuple[Character, Look]:
        """Add a look from a picture already cleaned (Use as reference)."""
        return await self.characters.add_look(viewer, character, clean_name(name), clean, consent)

    async def replace_picture(
        self,
        viewer: Viewer,
        character: Character,
        look_id: int,
        clean: CleanImage,
        consent: Consent | None = None,
    ) -> tuple[Character, Look]:
        """Give one look a new picture (Use as reference); the default look's is also the
        character's. A photographed face needs `consent`."""
        confirmed = await consent_for(self.characters.vision, clean, consent)
        now = timestamp(self.characters.clock.now())
        async with self.characters.change(clean) as change:
            current = await self._editable(change.conn, viewer, character.id)
            look = await run_sync(change.conn, partial(repo.by_id, look_id=look_id))
            if look is None or look.character_id != current.id:
                raise CameoError(
                    "The look that scene used has been removed since. Add the picture as a new "
                    "look instead."
                )
            await run_sync(
                change.conn,
                partial(repo.replace_picture, look=look, picture=look_picture(clean), at=now),
            )
            if look.image_sha256 != clean.sha256:
                await change.release_image(look.image_sha256, look.image_format)
            waiting = await self.characters.record_consent(
                change.conn, viewer, current.id, clean, confirmed
            )
            updated = await character_rows.get_by_id(change.conn, current.id)
            changed = await run_sync(change.conn, partial(repo.by_id, look_id=look_id))
        assert updated is not None
        assert changed is not None
        if waiting:
            updated = await self.characters.ask_approval(viewer, updated, clean, confirmed)
        self.characters.moderation.log.record(
            viewer.guild_id,
            LogEntry(
                f"✏️ <@{viewer.user_id}> gave a look a new picture"
                f"{' (a photograph they confirmed they may use)' if confirmed else ''}:",
                quote=f"{updated.name} ({changed.name})",
                image=(clean.sha256, clean.format),
            ),
        )
        return updated, changed

    async def remove(self, viewer: Viewer, character_query: str, name: str) -> Character:
        character = await self.characters.resolve(viewer, character_query)
        async with self.characters.change() as change:
            current = await self._editable(change.conn, viewer, character.id)
            look = await self._named(change.conn, current, name)
            if look.is_default:
                raise CameoError(
                    f"“{look.name}” is {current.name}'s default look. Make another look the "
                    "default first (`/character look default`), then remove this one."
                )
            await run_sync(change.conn, partial(repo.remove, look_id=look.id))
            await change.release_image(look.image_sha256, look.image_format)
        return current

    async def make_default(self, viewer: Viewer, character_query: str, name: str) -> Character:
        character = await self.characters.resolve(viewer, character_query)
        now = timestamp(self.characters.clock.now())
        async with self.characters.change() as change:
            current = await self._editable(change.conn, viewer, character.id)
            look = await self._named(change.conn, current, name)
            await run_sync(change.conn, partial(repo.make_default, look=look, at=now))
            updated = await character_rows.get_by_id(change.conn, current.id)
        assert updated is not None
        return updated

    async def rename(
        self, viewer: Viewer, character_query: str, name: str, new_name: str
    ) -> tuple[Character, str]:
        character = await self.characters.resolve(viewer, character_query)
        display = clean_name(new_name)
        async with self.characters.change() as change:
            current = await self._editable(change.conn, viewer, character.id)
            look = await self._named(change.conn, current, name)
            try:
                await run_sync(
                    change.conn,
                    partial(repo.rename, look_id=look.id, name=display, name_key=name_key(display)),
                )
            except repo.LookNameTaken:
                raise CameoError(
                    f"{current.name} already has a look called “{display}”. Choose another name."
                ) from None
        return current, display

    async def _editable(self, conn: Connection, viewer: Viewer, character_id: int) -> Character:
        current = await character_rows.get_by_id(conn, character_id)
        if current is None:
            raise CharacterNotFound()
        try:
            await self.characters.check_can_edit(conn, viewer, current)
        except NotAllowed:
            raise NotAllowed(
                f"Only {current.name}'s owner or a co-owner can change their looks."
            ) from None
        return current

    async def _named(self, conn: Connection, character: Character, name: str) -> Look:
        look = await run_sync(
            conn,
            partial(repo.by_name, character_id=character.id, name_key=name_key(name.strip())),
        )
        if look is None:
            raise LookNotFound(character, name.strip())
        return look


def choose_look(character: Character, looks: list[Look], name: str | None) -> Look:
    """Among a character's looks, the one named (compared like names); the default for none."""
    if name is None or not name.strip():
        return next(look for look in looks if look.is_default)
    key = name_key(name.strip())
    for look in looks:
        if name_key(look.name) == key:
            return look
    raise LookNotFound(character, name.strip())
