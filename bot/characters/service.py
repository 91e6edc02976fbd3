"""The character registry: create, find, edit, delete, export and import characters.

Every rule about who may see, use, edit or delete a character is enforced here (and in the
repository's WHERE clauses), never by what the Discord UI happens to show.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sqlite3
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial

from bot.characters.archive import (
    ArchivedCharacter,
    ArchivedLook,
    ArchiveReader,
    ExportItem,
    SkippedEntry,
    build_archives,
    entry_label,
)
from bot.characters.consent import Consent, ConsentNeeded, consent_for
from bot.characters.foreign import ForeignExport, fetch_pictures, parse_foreign_export
from bot.characters.text import clean_description, clean_name, name_key
from bot.clock import Clock, timestamp
from bot.errors import CameoError
from bot.images.processing import CleanImage, ImageWorkers
from bot.images.store import ImageStore, image_row
from bot.models import PERSONAL_SCOPE, Character, Look, Role, Suggestion, Viewer, Visibility
from bot.moderation.log import LogEntry
from bot.moderation.service import ModerationService
from bot.net.safe_fetch import DEFAULT_POLICY, FetchBudget, SafeImageFetcher
from bot.prefs.preset import Preset
from bot.vision.service import Vision, load_vision
from storage import characters as repo
from storage import consents as consent_rows
from storage import images as image_rows
from storage import looks as look_rows
from storage import moderation as moderation_rows
from storage import sharing as member_rows
from storage.database import Connection, Database, run_sync

log = logging.getLogger(__name__)

MAX_CHARACTERS_PER_SCOPE = 200
# Forget-me deletes a member's characters this many at a time, so a member with hundreds never
# holds everyone else's commands up for one long transaction.
FORGET_STEP = 50
_PREVIEW_CACHE_SIZE = 64
# The name of a character's first look, unless its owner gives another.
DEFAULT_LOOK = "default"


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
class ErasedCharacters:
    """One step of forget-me's erasing of characters: how many, the images nothing refers to
    any more, and whether the member may own more."""

    characters: int
    released: list[image_rows.ImageRow]
    more: bool

    @property
    def images(self) -> int:
        return len(self.released)


@dataclass(frozen=True)
class ImportReport:
    imported: list[Character] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    source: str = "Cameo export"  # or "PluralKit" / "Tupperbox"
    notes: list[tuple[str, str]] = field(default_factory=list)  # (name, what changed)


# An import can't ask about each picture, so photographs of people are left for the member to
# add one by one, confirming each.
PHOTOGRAPH_NOT_IMPORTED = (
    "Its picture looks like a photograph of a real person: add it with `/character create` "
    "(or `/character look add`), which asks you to confirm you may use it."
)


def _consent_note(consent: Consent | None) -> str:
    """How the log says a photograph of a real person was confirmed."""
    if consent is None:
        return ""
    return (
        " (a photograph: they confirmed it's them)"
        if consent is Consent.SELF
        else (" (a photograph: they confirmed they have the person's permission)")
    )


def looks_like_public_id(text: str) -> bool:
    return len(text) == repo.PUBLIC_ID_LENGTH and all(ch in repo.PUBLIC_ID_ALPHABET for ch in text)


class CharacterService:
    def __init__(
        self,
        db: Database,
        store: ImageStore,
        workers: ImageWorkers,
        clock: Clock,
        *,
        fetcher: SafeImageFetcher | None = None,
        moderation: ModerationService | None = None,
        vision: Vision | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.workers = workers
        self.clock = clock
        # A server's blocked terms and members (a service of its own when none is shared).
        self.moderation = moderation or ModerationService(db, clock)
        # Downloads PluralKit and Tupperbox avatars; without one those imports are refused.
        self.fetcher = fetcher
        # Faces in reference pictures (consent) when this install has the vision extra.
        self.vision = vision if vision is not None else load_vision()
        self._previews: OrderedDict[str, bytes] = OrderedDict()

    # -- creating ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def change(self, new_image: CleanImage | None = None) -> AsyncIterator[_Change]:
        """Write `new_image` (if any) and open a transaction, under the image store's lock.

        Everything that decides a change is read inside the transaction, so it cannot be stale.
        If anything fails, the new file is removed unless another character already uses it;
        after a commit, files whose rows were released are removed.
        """
        async with self.store.mutation():
            if new_image is not None:
                await self.store.write(new_image.sha256, new_image.format, new_image.data)
            try:
                async with self.db.transaction() as conn:
                    change = _Change(conn)
                    if new_image is not None:
                        now = timestamp(self.clock.now())
                        await run_sync(
                            conn,
                            partial(image_rows.insert, row=image_row(new_image), created_at=now),
                        )
                    yield change
            except BaseException:
                if new_image is not None:
                    await self._discard_if_unused(new_image)
                raise
            for sha256, image_format in change.released:
                await self.store.discard(sha256, image_format)
                self._previews.pop(sha256, None)

    async def create(
        self,
        viewer: Viewer,
        *,
        name: str,
        image: bytes,
        description: str | None = None,
        visibility: Visibility = Visibility.SERVER,
        listed: bool | None = None,
        original: OriginalFacts | None = None,
        look_name: str = DEFAULT_LOOK,
        consent: Consent | None = None,
        warn_no_face: bool = False,
    ) -> Character:
        """Register a character from an image; the file and the row land together or not at all.

        The image becomes its first look (`look_name`, the default). `listed` matters only for
        approved characters (whether everyone in the server sees them); it defaults to yes.
        A photographed face needs `consent` (ConsentNeeded otherwise, before anything is stored);
        with `warn_no_face`, a photograph without a face raises NoFaceInPhoto.
        """
        display = clean_name(name)
        text = clean_description(description)
        look = clean_name(look_name)
        shown = _listed(visibility, listed)
        await self.moderation.check_member(viewer)
        await self.moderation.check_text(
            viewer, {"character's name": display, "description": text, "look's name": look}
        )
        clean = await self.workers.clean_reference(image)
        confirmed = await consent_for(self.vision, clean, consent, warn_no_face=warn_no_face)
        facts = original or OriginalFacts(
            clean.original_sha256,
            clean.original_format,
            clean.original_width,
            clean.original_height,
        )
        try:
            async with self.change(clean) as change:
                if await repo.count_owned(change.conn, viewer.user_id, viewer.scope) >= (
                    MAX_CHARACTERS_PER_SCOPE
                ):
                    raise TooManyCharacters()
                created = await repo.insert(
                    change.conn,
                    repo.NewCharacter(
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
                        created_at=timestamp(self.clock.now()),
                        listed=shown,
                    ),
                )
                await run_sync(
                    change.conn,
                    partial(
                        look_rows.add,
                        character_id=created.id,
                        name=look,
                        name_key=name_key(look),
                        picture=look_rows.Picture(
                            clean.sha256, facts.sha256, facts.format, facts.width, facts.height
                        ),
                        at=created.created_at,
                        is_default=True,
                    ),
                )
                waiting = await self.record_consent(
                    change.conn, viewer, created.id, clean, confirmed
                )
        except repo.NameConflict:
            raise NameTaken() from None
        log.info(
            "Character %s created by %s in %s", created.public_id, viewer.user_id, viewer.scope
        )
        if waiting:
            created = await self.ask_approval(viewer, created, clean, confirmed)
        self.moderation.log.record(
            viewer.guild_id,
            LogEntry(
                f"🆕 <@{viewer.user_id}> registered a character{_consent_note(confirmed)}:",
                quote=created.name,
                image=(clean.sha256, clean.format),
            ),
        )
        return created

    async def _discard_if_unused(self, clean: CleanImage) -> None:
        """After a failed write, remove the file unless another character already uses it."""
        still_recorded = await self.db.run_read(partial(image_rows.exists, sha256=clean.sha256))
        if not still_recorded:
            await self.store.discard(clean.sha256, clean.format)

    # -- finding ----------------------------------------------------------------------------

    async def resolve(self, viewer: Viewer, query: str, *, to_use: bool = False) -> Character:
        """Return the character the viewer means: an id from autocomplete, or a typed name.

        `to_use`: only characters the viewer may use in scenes (listed characters approved
        for some members are seen by everyone but used only by those members).
        """
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
            usable_only=to_use,
        )
        if not found:
            seen = await self._seen(viewer, query) if to_use else None
            if seen is not None and seen.awaiting_approval:
                raise NotAllowed(
                    f"{seen.name} is waiting for a moderator's approval: this server approves "
                    "characters made from photographs of real people before anyone uses them."
                )
            if seen is not None:
                raise NotAllowed(
                    "That character's owner approves who may use them in scenes, and you "
                    "aren't on their list. Ask the owner to `/character share` them with you."
                )
            raise CharacterNotFound()
        if len(found) == 1 or found[0].public_id == lowered:
            return found[0]
        return _pick_by_name(viewer, found)

    async def list_visible(self, viewer: Viewer, owner_id: int | None = None) -> list[Character]:
        return await repo.list_visible(
            self.db, user_id=viewer.user_id, scope=viewer.scope, owner_id=owner_id
        )

    async def _seen(self, viewer: Viewer, query: str) -> Character | None:
        """The character, if the viewer can see it (when they may not use it)."""
        try:
            return await self.resolve(viewer, query)
        except CameoError:
            return None

    async def approve(self, viewer: Viewer, character_id: int) -> Character:
        """A moderator approves a character waiting for it (staff of its server only)."""
        character = await self.get(character_id)
        if character is None or character.guild_id != viewer.guild_id:
            raise CharacterNotFound()
        if not viewer.can_manage_guild:
            raise NotAllowed("Only members with the Manage Server permission can approve it.")
        await self.db.run_transaction(
            partial(repo.set_awaiting_approval, character_id=character_id, waiting=False)
        )
        return dataclasses.replace(character, awaiting_approval=False)

    async def suggest(
        self, viewer: Viewer, typed: str, limit: int = 25, *, to_use: bool = False
    ) -> list[Suggestion]:
        """Return autocomplete candidates: the viewer's own first, then those shared with
        them, prefix matches before others; `to_use`, only those they may use in scenes."""
        return await repo.suggest(
            self.db,
            user_id=viewer.user_id,
            scope=viewer.scope,
            fragment_key=name_key(typed.strip())[:64],
            limit=limit,
            usable_only=to_use,
        )

    # -- who may do what --------------------------------------------------------------------

    async def role_of(self, viewer: Viewer, character: Character) -> Role | None:
        """The viewer's place on the character's list (None for its owner and for others)."""
        return await self.db.run_read(
            partial(member_rows.role_of, character_id=character.id, user_id=viewer.user_id)
        )

    async def can_edit(self, viewer: Viewer, character: Character) -> bool:
        if character.owner_id == viewer.user_id:
            return True
        if character.guild_id is None or character.guild_id != viewer.guild_id:
            return False
        return await self.role_of(viewer, character) is Role.CO_OWNER

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
        listed: bool | None = None,
        image: bytes | None = None,
        defaults: Preset | None = None,
        clear_defaults: bool = False,
        consent: Consent | None = None,
    ) -> Character:
        """Change a character: its owner or a co-owner may; who may see and use it (visibility,
        listed) is the owner's alone. A new image replaces the default look's picture.
        `defaults` are merged into the character's default scene settings."""
        character = await self.resolve(viewer, query)
        fields: dict[str, object] = {}
        if name is not None:
            fields["name"] = clean_name(name)
            fields["name_key"] = name_key(str(fields["name"]))
        if description is not None:
            fields["description"] = clean_description(description)
        sharing_changed = visibility is not None or listed is not None
        await self.moderation.check_member(viewer)
        await self.moderation.check_text(
            viewer,
            {
                "character's name": str(fields.get("name") or ""),
                "description": str(fields.get("description") or ""),
                "default negative prompt": defaults.negative_prompt if defaults else None,
            },
        )
        nothing_asked = not (fields or sharing_changed or clear_defaults)
        if image is None and defaults is None and nothing_asked:
            raise CameoError(
                "Tell me what to change: a new name, description, visibility, image or "
                "default scene settings."
            )
        clean = await self.workers.clean_reference(image) if image is not None else None
        confirmed = await consent_for(self.vision, clean, consent) if clean is not None else None
        waiting = False
        now = timestamp(self.clock.now())
        try:
            async with self.change(clean) as change:
                current = await repo.get_by_id(change.conn, character.id)
                if current is None:
                    raise CharacterNotFound()
                await self.check_can_edit(change.conn, viewer, current)
                if sharing_changed:
                    if current.owner_id != viewer.user_id:
                        raise NotAllowed("Only the character's owner decides who sees and uses it.")
                    wanted = visibility or current.visibility
                    fields["visibility"] = wanted.value
                    fields["listed_when_approved"] = int(
                        _listed(wanted, listed if listed is not None else current.listed)
                    )
                if defaults is not None or clear_defaults:
                    base = Preset() if clear_defaults else current.defaults
                    fields["defaults"] = base.merged_with(defaults or Preset()).to_json()
                if fields:
                    await repo.update(change.conn, current.id, fields=fields, updated_at=now)
                if clean is not None and clean.sha256 != current.image_sha256:
                    default_look = next(
                        look
                        for look in await run_sync(
                            change.conn, partial(look_rows.looks_of, character_id=current.id)
                        )
                        if look.is_default
                    )
                    await run_sync(
                        change.conn,
                        partial(
                            look_rows.replace_picture,
                            look=default_look,
                            picture=look_picture(clean),
                            at=now,
                        ),
                    )
                    await change.release_image(current.image_sha256, current.image_format)
                    waiting = await self.record_consent(
                        change.conn, viewer, current.id, clean, confirmed
                    )
                updated = await repo.get_by_id(change.conn, current.id)
        except repo.NameConflict:
            raise NameTaken() from None
        assert updated is not None
        if waiting and clean is not None:
            updated = await self.ask_approval(viewer, updated, clean, confirmed)
        changed = [
            what
            for what, asked in (
                ("name", name is not None),
                ("description", description is not None),
                ("picture", clean is not None),
                ("who may use it", sharing_changed),
                ("default settings", defaults is not None or clear_defaults),
            )
            if asked
        ]
        self.moderation.log.record(
            viewer.guild_id,
            LogEntry(
                f"✏️ <@{viewer.user_id}> changed a character's {', '.join(changed)}"
                f"{_consent_note(confirmed)}:",
                quote=updated.name,
                image=(clean.sha256, clean.format) if clean is not None else None,
            ),
        )
        return updated

    async def check_can_edit(self, conn: Connection, viewer: Viewer, character: Character) -> None:
        """Refuse unless the viewer owns the character or co-owns it (read in `conn`)."""
        if character.owner_id == viewer.user_id:
            return
        if character.guild_id is not None and character.guild_id == viewer.guild_id:
            role = await run_sync(
                conn,
                partial(member_rows.role_of, character_id=character.id, user_id=viewer.user_id),
            )
            if role is Role.CO_OWNER:
                return
        raise NotAllowed("Only the character's owner or a co-owner can change it.")

    async def add_look(
        self,
        viewer: Viewer,
        character: Character,
        name: str,
        clean: CleanImage,
        consent: Consent | None = None,
    ) -> tuple[Character, Look]:
        """Add a look (a cleaned picture, `name` already cleaned) to a character the viewer
        owns or co-owns; at most look_rows.MAX_LOOKS. A photographed face needs `consent`."""
        await self.moderation.check_member(viewer)
        await self.moderation.check_text(viewer, {"look's name": name})
        confirmed = await consent_for(self.vision, clean, consent)
        now = timestamp(self.clock.now())
        async with self.change(clean) as change:
            current = await repo.get_by_id(change.conn, character.id)
            if current is None:
                raise CharacterNotFound()
            try:
                await self.check_can_edit(change.conn, viewer, current)
            except NotAllowed:
                raise NotAllowed(
                    f"Only {current.name}'s owner or a co-owner can change their looks."
                ) from None
            count = await run_sync(change.conn, partial(look_rows.count, character_id=current.id))
            if count >= look_rows.MAX_LOOKS:
                raise CameoError(
                    f"{current.name} already has {look_rows.MAX_LOOKS} looks, the most a "
                    "character can have. Remove one with `/character look remove` to make room."
                )
            try:
                look = await run_sync(
                    change.conn,
                    partial(
                        look_rows.add,
                        character_id=current.id,
                        name=name,
                        name_key=name_key(name),
                        picture=look_picture(clean),
                        at=now,
                    ),
                )
            except look_rows.LookNameTaken:
                raise CameoError(
                    f"{current.name} already has a look called “{name}”. Choose another name."
                ) from None
            waiting = await self.record_consent(change.conn, viewer, current.id, clean, confirmed)
        if waiting:
            current = await self.ask_approval(viewer, current, clean, confirmed)
        log.info("Look %s added to %s by %s", look.id, current.public_id, viewer.user_id)
        self.moderation.log.record(
            viewer.guild_id,
            LogEntry(
                f"🖼️ <@{viewer.user_id}> added a look{_consent_note(confirmed)} to",
                quote=f"{current.name} ({name})",
                image=(clean.sha256, clean.format),
            ),
        )
        return current, look

    async def record_consent(
        self,
        conn: Connection,
        viewer: Viewer,
        character_id: int,
        clean: CleanImage,
        consent: Consent | None,
    ) -> bool:
        """Store a member's confirmation for a photographed face, in the change's transaction.
        True when the server approves such characters first: the character now waits (post
        the request with `ask_approval` once the change commits)."""
        if consent is None:
            return False
        await run_sync(
            conn,
            partial(
                consent_rows.record,
                character_id=character_id,
                image_sha256=clean.sha256,
                confirmed_by=viewer.user_id,
                basis=consent.value,
                at=timestamp(self.clock.now()),
            ),
        )
        # Read in this transaction: the service's own read would wait for it to end.
        if viewer.guild_id is None or not await run_sync(
            conn, partial(moderation_rows.approves_real_people, guild_id=viewer.guild_id)
        ):
            return False
        await run_sync(
            conn,
            partial(repo.set_awaiting_approval, character_id=character_id, waiting=True),
        )
        return True

    async def ask_approval(
        self, viewer: Viewer, character: Character, clean: CleanImage, consent: Consent | None
    ) -> Character:
        """After a change that made the character wait: ask the moderators, and return the
        character as it now is."""
        assert viewer.guild_id is not None
        basis = "it's them" if consent is Consent.SELF else "they have the person's permission"
        await self.moderation.request_approval(
            viewer.guild_id,
            character.id,
            character.owner_id,
            (clean.sha256, clean.format),
            f"“{character.name}” is made from a photograph of a real person, and the member who "
            f"added it confirmed {basis}. Nobody can use it until a moderator approves it.",
        )
        return dataclasses.replace(character, awaiting_approval=True)

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
        async with self.change() as change:
            current = await repo.get_by_id(change.conn, character_id)
            if current is None:
                raise CharacterNotFound()
            self.check_can_delete(viewer, current)
            looks = await run_sync(
                change.conn, partial(look_rows.looks_of, character_id=current.id)
            )
            await repo.delete(change.conn, current.id)  # its looks go with it
            for look in looks:
                await change.release_image(look.image_sha256, look.image_format)
        log.info("Character %s deleted by %s", current.public_id, viewer.user_id)
        return current

    async def forget(self, user_id: int) -> ForgetReport:
        """Delete every character the user owns, everywhere, and images nothing else uses.

        In steps of FORGET_STEP characters, each one transaction on the database thread with
        one trip for its files: a member with a few characters goes in one step, and one with
        thousands never holds everyone else's commands up for longer than a step. A step that
        fails leaves the rest for the member's next request; nothing is half-deleted.
        """

        characters = images = 0
        async with self.store.mutation():
            while True:
                step = await self.db.run_transaction(partial(self.erase_member, user_id=user_id))
                await self.discard(step)
                characters += step.characters
                images += step.images
                if not step.more:
                    return ForgetReport(characters=characters, images=images)

    def erase_member(self, conn: sqlite3.Connection, user_id: int) -> ErasedCharacters:
        """One step of forget-me for characters, inside the caller's transaction: up to
        FORGET_STEP of the member's characters, their places on others' lists and their consents.
        The caller then calls `discard` (inside the store's mutation), and `forget` for the rest
        when there is `more`."""
        count, hashes = repo.delete_owned_by(conn, user_id, limit=FORGET_STEP)
        member_rows.forget_member(conn, user_id)
        consent_rows.forget_member(conn, user_id)
        return ErasedCharacters(count, image_rows.release(conn, hashes), more=count == FORGET_STEP)

    async def discard(self, erased: ErasedCharacters) -> None:
        """Remove the files of erased characters' pictures (inside the store's mutation)."""
        await self.store.discard_all([(row.sha256, row.format) for row in erased.released])
        for row in erased.released:
            self._previews.pop(row.sha256, None)

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
            looks = await self.db.run_read(partial(look_rows.looks_of, character_id=character.id))
            archived_looks = []
            look_images = []
            for number, look in enumerate(looks, start=1):
                look_extension = "png" if look.image_format == "png" else "jpg"
                archived_looks.append(
                    ArchivedLook(
                        name=look.name,
                        image=f"images/{character.public_id}-{number}.{look_extension}"
                        if not look.is_default
                        else f"images/{character.public_id}.{_extension(character)}",
                        default=look.is_default,
                        original_sha256=look.original_sha256,
                        original_format=look.original_format,
                        original_width=look.original_width,
                        original_height=look.original_height,
                    )
                )
                if not look.is_default:
                    look_images.append(await self.store.read(look.image_sha256, look.image_format))
            items.append(
                ExportItem(
                    character=ArchivedCharacter(
                        name=character.name,
                        description=character.description,
                        visibility=character.visibility,
                        listed=character.listed,
                        looks=archived_looks,
                        server_id=str(character.guild_id) if character.guild_id else None,
                        created_at=character.created_at,
                        image=f"images/{character.public_id}.{_extension(character)}",
                        original_sha256=character.original_sha256,
                        original_format=character.original_format,
                        original_width=character.original_width,
                        original_height=character.original_height,
                    ),
                    image=data,
                    look_images=tuple(look_images),
                )
            )
        exported_at = timestamp(self.clock.now())
        return await asyncio.to_thread(build_archives, items, exported_at, part_limit)

    async def import_file(self, viewer: Viewer, data: bytes) -> ImportReport:
        """Import a Cameo export, or a PluralKit (`pk;export`) or Tupperbox (`tul!export`)
        file, whichever `data` is."""
        room = MAX_CHARACTERS_PER_SCOPE - await self._count_owned(viewer)
        # Links the fetcher would refuse are reported as the file is read.
        policy = self.fetcher.policy if self.fetcher is not None else DEFAULT_POLICY
        foreign = await asyncio.to_thread(
            parse_foreign_export, data, limit=max(room, 0), policy=policy
        )
        if foreign is None:
            return await self.import_archive(viewer, data)
        return await self._import_foreign(viewer, foreign)

    async def _count_owned(self, viewer: Viewer) -> int:
        async with self.db.read() as conn:
            return await repo.count_owned(conn, viewer.user_id, viewer.scope)

    async def _import_foreign(self, viewer: Viewer, foreign: ForeignExport) -> ImportReport:
        """Each member or tupper becomes a character, its avatar (downloaded from an allowed
        image host only) its picture; one that can't be made is skipped with the reason."""
        if self.fetcher is None:
            raise CameoError("Importing from PluralKit or Tupperbox isn't available here.")
        report = ImportReport(source=foreign.source)
        report.skipped.extend((entry.label, entry.reason) for entry in foreign.skipped)
        budget = FetchBudget()
        async for fetched in fetch_pictures(foreign.entries, self.fetcher, budget):
            if isinstance(fetched, SkippedEntry):
                report.skipped.append((fetched.label, fetched.reason))
                continue
            entry = fetched.character
            try:
                created = await self.create(
                    viewer, name=entry.name, image=fetched.image, description=entry.description
                )
            except NameTaken:
                report.skipped.append((entry.label, "You already have a character by that name."))
                continue
            except ConsentNeeded:
                report.skipped.append((entry.label, PHOTOGRAPH_NOT_IMPORTED))
                continue
            except CameoError as exc:  # a picture too small or damaged, the character limit
                report.skipped.append((entry.label, exc.message))
                continue
            report.imported.append(created)
            report.notes.extend((entry.label, note) for note in entry.notes)
        log.info(
            "Imported %d characters from %s for %s",
            len(report.imported),
            foreign.source,
            viewer.user_id,
        )
        return report

    async def import_archive(self, viewer: Viewer, data: bytes) -> ImportReport:
        """Recreate the characters in an export file here, checking every image again.

        Entries that can't be imported are skipped and listed with a reason; only a file that
        is not a readable export at all raises.
        """
        reader = await asyncio.to_thread(ArchiveReader, data)
        try:
            entries = await asyncio.to_thread(reader.entries)
            report = ImportReport()
            for index, item in enumerate(entries):
                if isinstance(item, SkippedEntry):
                    report.skipped.append((item.label, item.reason))
                    continue
                entry = item.character
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
                    default_look = next((look for look in entry.looks if look.default), None)
                    created = await self.create(
                        viewer,
                        name=entry.name,
                        image=image,
                        description=entry.description,
                        visibility=entry.visibility,
                        listed=entry.listed,
                        original=original,
                        look_name=default_look.name if default_look else DEFAULT_LOOK,
                    )
                    report.imported.append(created)
                    for look in entry.looks:
                        if look.default:
                            continue
                        try:
                            clean = await self.workers.clean_reference(
                                await asyncio.to_thread(reader.image, look)
                            )
                            await self.add_look(viewer, created, clean_name(look.name), clean)
                        except ConsentNeeded:
                            report.skipped.append(
                                (
                                    f"{item.label}, look {entry_label(0, look.name)}",
                                    PHOTOGRAPH_NOT_IMPORTED,
                                )
                            )
                        except CameoError as exc:
                            report.skipped.append(
                                (f"{item.label}, look {entry_label(0, look.name)}", exc.message)
                            )
                except NameTaken:
                    report.skipped.append(
                        (item.label, "You already have a character by that name.")
                    )
                except ConsentNeeded:
                    report.skipped.append((item.label, PHOTOGRAPH_NOT_IMPORTED))
                except TooManyCharacters as exc:
                    report.skipped.extend(
                        (rest.label, rest.reason if isinstance(rest, SkippedEntry) else exc.message)
                        for rest in entries[index:]
                    )
                    break
                except CameoError as exc:  # a bad image, name or member of this one entry
                    report.skipped.append((item.label, exc.message))
            return report
        finally:
            reader.close()


def _pick_by_name(viewer: Viewer, found: list[Character]) -> Character:
    """Choose among same-named characters: the viewer's own here, else refuse to guess."""
    own = [c for c in found if c.owner_id == viewer.user_id]
    here = [c for c in own if (c.guild_id or PERSONAL_SCOPE) == viewer.scope]
    if len(here) == 1:
        return here[0]
    if len(own) == 1:
        return own[0]
    raise CameoError(
        "More than one character has that name. Pick the one you mean from the suggestions "
        "as you type (each shows its short id)."
    )


@dataclass
class _Change:
    """One transaction of the registry, and the images it released."""

    conn: Connection
    released: list[tuple[str, str]] = field(default_factory=list)

    async def release(self, character: Character) -> None:
        """Drop the character's image row if nothing else uses it; its file goes after commit."""
        await self.release_image(character.image_sha256, character.image_format)

    async def release_image(self, sha256: str, image_format: str) -> None:
        """Drop an image row if nothing else uses it; its file goes after commit."""
        key = (sha256, image_format)
        if key not in self.released and await run_sync(
            self.conn, partial(image_rows.delete_if_unused, sha256=sha256)
        ):
            self.released.append(key)


def _listed(visibility: Visibility, listed: bool | None) -> bool:
    """Whether everyone in the server sees a character: always when shared with the server,
    never when private, and the owner's choice (yes unless they say no) when approved."""
    if visibility is Visibility.SERVER:
        return True
    if visibility is Visibility.PRIVATE:
        return False
    return True if listed is None else listed


def _extension(character: Character) -> str:
    return "png" if character.image_format == "png" else "jpg"


def look_picture(clean: CleanImage) -> look_rows.Picture:
    """A look's picture as stored: the cleaned image and what the member first uploaded."""
    return look_rows.Picture(
        clean.sha256,
        clean.original_sha256,
        clean.original_format,
        clean.original_width,
        clean.original_height,
    )
