"""Stories: a shared roleplay told in one thread, with a cast and its scenes in order.

Discord-free. A story is told in one place (the id of the thread it lives in, as a job knows
the channel it was asked in); a scene asked there becomes its next numbered scene, in the same
step that queues it (`JobService`). Who may change what is decided here: anyone may add a
character they may use to the cast; its creator and the server's moderators rename, close and
reopen it; they, the character's owner and whoever added it may take a character out.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sqlite3
import unicodedata
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from bot.characters.service import CharacterService
from bot.characters.text import visible_length
from bot.clock import Clock, timestamp
from bot.errors import CameoError
from bot.images.store import ImageStore
from bot.models import PERSONAL_SCOPE, Character, Viewer
from bot.moderation.service import ModerationService
from storage import stories as repo
from storage.database import Database
from storage.stories import Story, StoryScene

log = logging.getLogger(__name__)

TITLE_MAX = 100  # Discord's limit for a thread's name
CAST_MAX = 12  # one contact sheet
ARCHIVE_VERSION = 1
# An export is read into memory to be packed: a bound on it (about 100 pictures of 2 MiB).
ARCHIVE_MAX_BYTES = 200 * 2**20
_SPACES = re.compile(r"\s+")
_PERSONAL = (
    "{name} is one of your personal characters; only characters of this server can join its "
    "stories."
)


class StoryNotFound(CameoError):
    def __init__(self) -> None:
        super().__init__(
            "This isn't a story's thread. Start one with /story start, or use this inside one."
        )


class StoryClosed(CameoError):
    def __init__(self, story: Story) -> None:
        super().__init__(
            f"“{story.title}” is closed. Its creator or a moderator can reopen it with "
            "/story reopen."
        )


def clean_title(raw: str) -> str:
    title = _SPACES.sub(" ", unicodedata.normalize("NFC", raw)).strip()
    if visible_length(title) == 0:
        raise CameoError("Give the story a title with at least one visible character.")
    if len(title) > TITLE_MAX:
        raise CameoError(f"Story titles can be at most {TITLE_MAX} characters long.")
    return title


@dataclass(frozen=True)
class StoryStart:
    """A story checked and ready to start, before its thread exists."""

    title: str
    cast: list[Character]


class StoryService:
    def __init__(
        self,
        db: Database,
        store: ImageStore,
        characters: CharacterService,
        clock: Clock,
        *,
        moderation: ModerationService | None = None,
    ):
        self.db = db
        self.store = store
        self.characters = characters
        self.clock = clock
        self.moderation = moderation or ModerationService(db, clock)

    # -- starting and finding -----------------------------------------------------------------

    async def check_start(self, viewer: Viewer, title: str, characters: str | None) -> StoryStart:
        """Everything that could refuse a new story, checked before its thread is made.

        `characters` names its first cast, separated by commas (each as autocomplete gives it,
        or as typed); each must be a character of this server the member may use.
        """
        if viewer.scope == PERSONAL_SCOPE:
            raise CameoError("Stories are told in servers: use this in a server's channel.")
        await self.moderation.check_member(viewer)
        await self.moderation.check_text(viewer, {"story title": title})
        named = [part.strip() for part in (characters or "").split(",") if part.strip()]
        if len(named) > CAST_MAX:
            raise CameoError(f"A story's cast can have at most {CAST_MAX} characters.")
        cast: list[Character] = []
        for query in named:
            character = _castable(await self.characters.resolve(viewer, query, to_use=True))
            if all(c.id != character.id for c in cast):
                cast.append(character)
        return StoryStart(clean_title(title), cast)

    async def start(self, viewer: Viewer, channel_id: int, start: StoryStart) -> Story:
        now = timestamp(self.clock.now())

        def create(conn: sqlite3.Connection) -> Story:
            story = repo.create(conn, viewer.scope, channel_id, start.title, viewer.user_id, now)
            for character in start.cast:
                repo.add_to_cast(conn, story.id, character.id, viewer.user_id, now)
            return story

        return await self.db.run_transaction(create)

    async def in_channel(self, channel_id: int) -> Story:
        story = await self.db.run_read(partial(repo.in_channel, channel_id=channel_id))
        if story is None:
            raise StoryNotFound()
        return story

    async def scene_label(self, job_id: int) -> tuple[str, int] | None:
        """The story a job is a scene of, as (title, number)."""
        found = await self.db.run_read(partial(repo.scene_of, job_id=job_id))
        return None if found is None else (found[0].title, found[1])

    # -- the cast -------------------------------------------------------------------------------

    async def cast(self, story: Story) -> list[Character]:
        return await self.db.run_read(partial(repo.cast_of, story_id=story.id))

    async def add_to_cast(self, viewer: Viewer, channel_id: int, query: str) -> Character:
        story = await self.in_channel(channel_id)
        if story.closed:
            raise StoryClosed(story)
        character = _castable(await self.characters.resolve(viewer, query, to_use=True))
        now = timestamp(self.clock.now())

        def add(conn: sqlite3.Connection) -> bool:
            if len(repo.cast_of(conn, story.id)) >= CAST_MAX:
                raise CameoError(f"A story's cast can have at most {CAST_MAX} characters.")
            return repo.add_to_cast(conn, story.id, character.id, viewer.user_id, now)

        if not await self.db.run_transaction(add):
            raise CameoError(f"{character.name} is already in the cast.")
        return character

    async def remove_from_cast(self, viewer: Viewer, channel_id: int, query: str) -> Character:
        story = await self.in_channel(channel_id)
        cast = await self.cast(story)
        wanted = query.strip().casefold()
        character = next((c for c in cast if wanted in (c.public_id, c.name.casefold())), None)
        if character is None:
            raise CameoError("That character isn't in this story's cast.")
        if not (
            _runs(viewer, story)
            or viewer.user_id == character.owner_id
            or viewer.user_id == await self._added_by(story, character)
        ):
            raise CameoError(
                "Only the story's creator, a moderator, the character's owner or whoever added "
                "it can take a character out of the cast."
            )
        await self.db.run_transaction(
            partial(repo.remove_from_cast, story_id=story.id, character_id=character.id)
        )
        return character

    async def _added_by(self, story: Story, character: Character) -> int | None:
        return await self.db.run_read(
            partial(repo.added_by, story_id=story.id, character_id=character.id)
        )

    async def forget(self, user_id: int) -> None:
        """The member asked to be forgotten: their stories stay, without their id."""
        await self.db.run_transaction(partial(self.erase_member, user_id=user_id))

    @staticmethod
    def erase_member(conn: sqlite3.Connection, user_id: int) -> None:
        """forget-me's part for stories, inside the caller's transaction."""
        repo.forget_member(conn, user_id)

    async def card_of(self, story: Story) -> int | None:
        """The cast card's message (the Discord side's record)."""
        return await self.db.run_read(partial(repo.card_of, story_id=story.id))

    async def record_card(self, story: Story, message_id: int) -> None:
        await self.db.run_transaction(
            partial(repo.record_card, story_id=story.id, message_id=message_id)
        )

    # -- running the story ----------------------------------------------------------------------

    async def rename(self, viewer: Viewer, channel_id: int, title: str) -> Story:
        story = await self._run_by(viewer, channel_id, "rename")
        clean = clean_title(title)
        await self.moderation.check_text(viewer, {"story title": clean})
        await self.db.run_transaction(partial(repo.rename, story_id=story.id, title=clean))
        return await self.in_channel(channel_id)

    async def check_runs(self, viewer: Viewer, channel_id: int, what: str) -> Story:
        """The story here, if the viewer may `what` it (its creator, or a moderator)."""
        return await self._run_by(viewer, channel_id, what)

    async def set_closed(self, viewer: Viewer, channel_id: int, closed: bool) -> Story:
        story = await self._run_by(viewer, channel_id, "close" if closed else "reopen")
        if story.closed == closed:
            raise CameoError(f"“{story.title}” is already {'closed' if closed else 'open'}.")
        await self.db.run_transaction(partial(repo.set_closed, story_id=story.id, closed=closed))
        return await self.in_channel(channel_id)

    async def _run_by(self, viewer: Viewer, channel_id: int, what: str) -> Story:
        story = await self.in_channel(channel_id)
        if not _runs(viewer, story):
            raise CameoError(f"Only the story's creator or a moderator can {what} it.")
        return story

    # -- the story so far -----------------------------------------------------------------------

    async def scenes(self, story: Story) -> list[StoryScene]:
        return await self.db.run_read(partial(repo.scenes_of, story_id=story.id))

    async def archive(
        self, story: Story, names: Callable[[int], str], part_limit: int
    ) -> list[bytes]:
        """The story's pictures in order with a manifest (title, cast, each scene's prompt and
        who asked), as one or more .zip files, each under `part_limit` bytes."""
        scenes = await self.scenes(story)
        if not scenes:
            raise CameoError(f"“{story.title}” has no scenes yet.")
        cast = await self.cast(story)
        files: list[tuple[str, bytes]] = []
        entries = []
        total = 0
        for scene in scenes:
            names_in_zip = []
            for position, sha256, fmt in scene.pictures:
                name = f"{scene.number:03d}-{position + 1}.{'jpg' if fmt == 'jpeg' else fmt}"
                data = await self.store.read(sha256, fmt)
                total += len(data)
                if total > ARCHIVE_MAX_BYTES:
                    raise CameoError(
                        f"“{story.title}” has more pictures than one export can carry "
                        f"({ARCHIVE_MAX_BYTES // 2**20} MiB): /story recap shows them all."
                    )
                files.append((name, data))
                names_in_zip.append(name)
            entries.append(
                {
                    "number": scene.number,
                    "character": scene.job.character_name,
                    "prompt": scene.job.options.prompt or "",
                    "asked_by": names(scene.job.user_id),
                    "files": names_in_zip,
                }
            )
        manifest = {
            "cameo_story": ARCHIVE_VERSION,
            "title": story.title,
            "cast": [{"name": c.name, "description": c.description} for c in cast],
            "scenes": entries,
        }
        # Packing hundreds of pictures takes a while: not on the event loop.
        return await asyncio.to_thread(_zip_parts, manifest, files, part_limit)


def _castable(character: Character) -> Character:
    """Only characters shared with this server join a cast, which everyone in it sees."""
    if character.guild_id is None:
        raise CameoError(_PERSONAL.format(name=character.name))
    if not character.listed:
        raise CameoError(
            f"{character.name} is private; only characters shared with the server join a "
            "story's cast, which everyone here sees."
        )
    return character


def _runs(viewer: Viewer, story: Story) -> bool:
    """The story's creator, or a moderator of its server."""
    moderator = viewer.guild_id == story.guild_id and (
        viewer.can_manage_guild or viewer.can_manage_messages
    )
    return viewer.user_id == story.creator_id or moderator


def _zip_parts(
    manifest: Mapping[str, object], files: list[tuple[str, bytes]], limit: int
) -> list[bytes]:
    """Pack the pictures into .zip files under `limit`, each with the whole manifest."""
    manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
    parts: list[list[tuple[str, bytes]]] = [[]]
    size = len(manifest_bytes)
    for name, data in files:
        # Pictures are compressed already: stored as they are, with ~100 bytes of headers each.
        if parts[-1] and size + len(data) + 200 > limit:
            parts.append([])
            size = len(manifest_bytes)
        parts[-1].append((name, data))
        size += len(data) + 200
    out = []
    for part in parts:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("story.json", manifest_bytes)
            for name, data in part:
                archive.writestr(name, data)
        if len(buffer.getvalue()) > limit:
            raise CameoError("One of the story's pictures is too large to send here.")
        out.append(buffer.getvalue())
    log.info("A story was exported in %d part(s)", len(out))
    return out
