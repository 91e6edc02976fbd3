"""The character registry: create, find, edit, delete, export and import characters.

Every rule about who may see, use, edit or delete a character is enforced here (and in the
repository's WHERE clauses), never by what the Discord UI happens to show.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
from collections import OrderedDict
from dataclasses import dataclass, field

import aiosqlite

from bot.character_archive import ArchivedCharacter, ArchiveReader, ExportItem, build_archives
from bot.character_text import clean_description, clean_name, name_key
from bot.clock import Clock, timestamp
from bot.errors import CameoError
from bot.image_store import ImageStore
from bot.images import CleanImage, ImageWorkers
from bot.models import Character, Viewer, Visibility
from storage import characters as repo
from storage import images as image_rows
from storage.database import Database

log = logging.getLogger(__name__)

MAX_CHARACTERS_PER_SCOPE = 200
_PUBLIC_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i look-alikes
_PUBLIC_ID_LENGTH = 6
_PREVIEW_CACHE_SIZE = 64


class CharacterNotFound(CameoError):
    def __init__(self) -> None:
        super().__init__(
            "I can't find a character by that name that you can use here. "
            "Pick one from the suggestions, or see /character list."
        )


class NameTaken(CameoError):
    def __init__(self) -> None:
        super().__init__(
            "You already have a character with that name here. Choose another name, or change "
            "the existing one with /character edit."
        )


class NotAllowed(CameoError):
    pass


class TooManyCharacters(CameoError):
    def __init__(self) -> None:
        super().__init__(
            f"You already have {MAX_CHARACTERS_PER_SCOPE} characters here, the most one member "
            "can keep. Delete one to make room."
        )


@dataclass(frozen=True)
class OriginalFacts:
    """What the member first uploaded (kept for provenance; the stored image is normalised)."""

    sha256: str
    format: str
    width: int
    height: int


@dataclass(frozen=True)
class ForgetReport:
    characters: int
    images: int


@dataclass(frozen=True)
class ImportReport:
    imported: list[Character] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)


def looks_like_public_id(text: str) -> bool:
    return len(text) == _PUBLIC_ID_LENGTH and all(ch in _PUBLIC_ID_ALPHABET for ch in text)


class CharacterService:
    def __init__(
        self, db: Database, store: ImageStore, workers: ImageWorkers, clock: Clock
    ) -> None:
        self.db = db
        self.store = store
        self.workers = workers
        self.clock = clock
        self._previews: OrderedDict[str, bytes] = OrderedDict()

    # -- creating ---------------------------------------------------------------------------

    async def create(
        self,
        viewer: Viewer,
        *,
        name: str,
        image: bytes,
        description: str | None = None,
        visibility: Visibility = Visibility.SERVER,
        original: OriginalFacts | None = None,
    ) -> Character:
        """Register a character from an image; the file and the row land together or not at all."""
        display = clean_name(name)
        text = clean_description(description)
        clean = await self.workers.clean_reference(image)
        facts = original or OriginalFacts(
            clean.original_sha256,
            clean.original_format,
            clean.original_width,
            clean.original_height,
        )
        now = timestamp(self.clock.now())
        async with self.store.mutation():
            await self.store.write(clean.sha256, clean.format, clean.data)
            try:
                async with self.db.transaction() as conn:
                    if await repo.count_owned(conn, viewer.user_id, viewer.scope) >= (
                        MAX_CHARACTERS_PER_SCOPE
                    ):
                        raise TooManyCharacters()  # noqa: TRY301 (the handlers below clean up)
                    await image_rows.insert(conn, _image_row(clean), now)
                    character_id = await repo.insert(
                        conn,
                        repo.NewCharacter(
                            public_id=await self._new_public_id(conn),
                            guild_id=viewer.scope,
                            owner_id=viewer.user_id,
                            name=display,
                            name_key=name_key(display),
                            description=text,
                            visibility=visibility,
                            image_sha256=clean.sha256,
                            original_sha256=facts.sha256,
                            original_format=facts.format,
                            original_width=facts.width,
                            original_height=facts.height,
                            created_at=now,
                        ),
                    )
                    created = await repo.get_by_id(conn, character_id)
            except sqlite3.IntegrityError:
                await self._discard_if_unused(clean)
                raise NameTaken() from None
            except BaseException:
                await self._discard_if_unused(clean)
                raise
        assert created is not None
        log.info(
            "Character %s created by %s in %s", created.public_id, viewer.user_id, viewer.scope
        )
        return created

    async def _new_public_id(self, conn: aiosqlite.Connection) -> str:
        while True:
            candidate = "".join(
                secrets.choice(_PUBLIC_ID_ALPHABET) for _ in range(_PUBLIC_ID_LENGTH)
            )
            if not await repo.public_id_taken(conn, candidate):
                return candidate

    async def _discard_if_unused(self, clean: CleanImage) -> None:
        """After a failed write, remove the file unless another character already uses it."""
        async with self.db.read() as conn:
            still_recorded = await image_rows.exists(conn, clean.sha256)
        if not still_recorded:
            await self.store.discard(clean.sha256, clean.format)

    # -- finding ----------------------------------------------------------------------------

    async def resolve(self, viewer: Viewer, query: str) -> Character:
        """Return the character the viewer means: an id from autocomplete, or a typed name."""
        text = query.strip()
        if not text:
            raise CharacterNotFound()
        lowered = text.lower()
        try:
            key: str | None = name_key(clean_name(text))
        except CameoError:
            key = None
        found = await repo.find_visible(
            self.db,
            user_id=viewer.user_id,
            scope=viewer.scope,
            public_id=lowered if looks_like_public_id(lowered) else None,
            name_key=key,
        )
        if not found:
            raise CharacterNotFound()
        if found[0].owner_id == viewer.user_id or len(found) == 1:
            return found[0]
        raise CameoError(
            "Several members have a character with that name. Pick the one you mean from the "
            "suggestions as you type."
        )

    async def list_visible(self, viewer: Viewer, owner_id: int | None = None) -> list[Character]:
        return await repo.list_visible(
            self.db, user_id=viewer.user_id, scope=viewer.scope, owner_id=owner_id
        )

    async def suggest(self, viewer: Viewer, typed: str, limit: int = 25) -> list[Character]:
        """Return autocomplete candidates: the viewer's own first, prefix matches before others."""
        return await repo.suggest(
            self.db,
            user_id=viewer.user_id,
            scope=viewer.scope,
            fragment_key=name_key(typed.strip())[:64],
            limit=limit,
        )

    async def get(self, character_id: int) -> Character | None:
        async with self.db.read() as conn:
            return await repo.get_by_id(conn, character_id)

    # -- changing ---------------------------------------------------------------------------

    async def edit(
        self,
        viewer: Viewer,
        query: str,
        *,
        name: str | None = None,
        description: str | None = None,
        visibility: Visibility | None = None,
        image: bytes | None = None,
    ) -> Character:
        """Change a character; only its owner may."""
        character = await self.resolve(viewer, query)
        if character.owner_id != viewer.user_id:
            raise NotAllowed("Only the character's owner can edit it.")
        fields: dict[str, object] = {}
        if name is not None:
            fields["name"] = clean_name(name)
            fields["name_key"] = name_key(str(fields["name"]))
        if description is not None:
            fields["description"] = clean_description(description)
        if visibility is not None:
            fields["visibility"] = visibility.value
        if image is None and not fields:
            raise CameoError(
                "Tell me what to change: a new name, description, visibility or image."
            )
        return await self._apply_edit(character, fields, image)

    async def replace_reference(self, viewer: Viewer, character_id: int, image: bytes) -> Character:
        """Make `image` the character's new reference (owner only; the same checks as creating)."""
        character = await self.get(character_id)
        if character is None:
            raise CharacterNotFound()
        if character.owner_id != viewer.user_id:
            raise NotAllowed("Only the character's owner can change its reference image.")
        return await self._apply_edit(character, {}, image)

    async def _apply_edit(
        self, character: Character, fields: dict[str, object], image: bytes | None
    ) -> Character:
        clean = await self.workers.clean_reference(image) if image is not None else None
        if clean is not None:
            fields.update(
                image_sha256=clean.sha256,
                original_sha256=clean.original_sha256,
                original_format=clean.original_format,
                original_width=clean.original_width,
                original_height=clean.original_height,
            )
        now = timestamp(self.clock.now())
        released = False
        async with self.store.mutation():
            if clean is not None:
                await self.store.write(clean.sha256, clean.format, clean.data)
            try:
                async with self.db.transaction() as conn:
                    if clean is not None:
                        await image_rows.insert(conn, _image_row(clean), now)
                    await repo.update(conn, character.id, fields=fields, updated_at=now)
                    if clean is not None and clean.sha256 != character.image_sha256:
                        released = await image_rows.delete_if_unused(conn, character.image_sha256)
                    updated = await repo.get_by_id(conn, character.id)
            except sqlite3.IntegrityError:
                if clean is not None:
                    await self._discard_if_unused(clean)
                raise NameTaken() from None
            except BaseException:
                if clean is not None:
                    await self._discard_if_unused(clean)
                raise
            if released:
                await self.store.discard(character.image_sha256, character.image_format)
        if updated is None:
            raise CharacterNotFound()
        return updated

    def check_can_delete(self, viewer: Viewer, character: Character) -> None:
        """Owners may delete their characters; Manage Server members, any in their server."""
        if character.owner_id == viewer.user_id:
            return
        if viewer.can_manage_guild and character.guild_id == viewer.guild_id is not None:
            return
        raise NotAllowed(
            "Only the character's owner, or a member with the Manage Server permission, can "
            "delete it."
        )

    async def delete(self, viewer: Viewer, character_id: int) -> Character:
        """Delete a character (re-checking permission) and its image if nothing else uses it."""
        character = await self.get(character_id)
        if character is None:
            raise CharacterNotFound()
        self.check_can_delete(viewer, character)
        await self._delete_many([character])
        log.info("Character %s deleted by %s", character.public_id, viewer.user_id)
        return character

    async def _delete_many(self, characters: list[Character]) -> int:
        """Delete characters in one transaction; return how many image files were freed."""
        freed: list[Character] = []
        async with self.store.mutation():
            async with self.db.transaction() as conn:
                for character in characters:
                    await repo.delete(conn, character.id)
                seen: set[str] = set()
                for character in characters:
                    if character.image_sha256 in seen:
                        continue
                    seen.add(character.image_sha256)
                    if await image_rows.delete_if_unused(conn, character.image_sha256):
                        freed.append(character)
            for character in freed:
                await self.store.discard(character.image_sha256, character.image_format)
                self._previews.pop(character.image_sha256, None)
        return len(freed)

    async def forget(self, user_id: int) -> ForgetReport:
        """Delete every character the user owns, everywhere, and images nothing else uses."""
        async with self.db.read() as conn:
            owned = await repo.owned_by(conn, user_id)
        freed = await self._delete_many(owned) if owned else 0
        return ForgetReport(characters=len(owned), images=freed)

    # -- images -----------------------------------------------------------------------------

    async def reference_image(self, character: Character) -> bytes:
        """Return the stored reference bytes (what the image services receive)."""
        return await self.store.read(character.image_sha256, character.image_format)

    async def card_image(self, character: Character) -> bytes:
        """Return a small JPEG of the reference for character cards, cached by content."""
        cached = self._previews.get(character.image_sha256)
        if cached is not None:
            self._previews.move_to_end(character.image_sha256)
            return cached
        small = await self.workers.preview(await self.reference_image(character))
        self._previews[character.image_sha256] = small
        while len(self._previews) > _PREVIEW_CACHE_SIZE:
            self._previews.popitem(last=False)
        return small

    # -- export and import ------------------------------------------------------------------

    async def export(self, user_id: int, part_limit: int) -> list[bytes]:
        """Return the user's characters as one or more zip files, each under `part_limit` bytes."""
        async with self.db.read() as conn:
            owned = await repo.owned_by(conn, user_id)
        if not owned:
            raise CameoError("You have no characters to export yet.")
        items = []
        for character in owned:
            data = await self.reference_image(character)
            extension = "png" if character.image_format == "png" else "jpg"
            items.append(
                ExportItem(
                    character=ArchivedCharacter(
                        name=character.name,
                        description=character.description,
                        visibility=character.visibility,
                        server_id=str(character.guild_id) if character.guild_id else None,
                        created_at=character.created_at,
                        image=f"images/{character.public_id}.{extension}",
                        original_sha256=character.original_sha256,
                        original_format=character.original_format,
                        original_width=character.original_width,
                        original_height=character.original_height,
                    ),
                    image=data,
                )
            )
        exported_at = timestamp(self.clock.now())
        return await asyncio.to_thread(build_archives, items, exported_at, part_limit)

    async def import_archive(self, viewer: Viewer, data: bytes) -> ImportReport:
        """Recreate the characters in an export file here, checking every image again."""
        reader = await asyncio.to_thread(ArchiveReader, data)
        try:
            manifest = await asyncio.to_thread(reader.manifest)
            report = ImportReport()
            for index, entry in enumerate(manifest.characters):
                try:
                    image = await asyncio.to_thread(reader.image, entry)
                    original = None
                    if entry.original_sha256 and entry.original_width and entry.original_height:
                        original = OriginalFacts(
                            entry.original_sha256,
                            entry.original_format or "unknown",
                            entry.original_width,
                            entry.original_height,
                        )
                    created = await self.create(
                        viewer,
                        name=entry.name,
                        image=image,
                        description=entry.description,
                        visibility=entry.visibility,
                        original=original,
                    )
                    report.imported.append(created)
                except NameTaken:
                    report.skipped.append((entry.name, "you already have a character by that name"))
                except TooManyCharacters as exc:
                    report.skipped.extend(
                        (e.name, exc.message) for e in manifest.characters[index:]
                    )
                    break
                except CameoError as exc:  # a bad image, name or member of this one entry
                    report.skipped.append((entry.name, exc.message))
            return report
        finally:
            reader.close()


def _image_row(clean: CleanImage) -> image_rows.ImageRow:
    return image_rows.ImageRow(
        sha256=clean.sha256,
        format=clean.format,
        width=clean.width,
        height=clean.height,
        byte_size=len(clean.data),
    )
