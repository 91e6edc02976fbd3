"""The showcase on Discord: each shared character's post (a forum post, or a card with a thread
in a text channel), the pictures members share into it, its card kept up to date, and the
deletions of copies whose picture or character is gone.

Who may share what is the domain's rule (`GalleryService.shareable`); the records of posts and
copies are the Discord side's (`storage.showcase`). Deletions are queued by the database in the
same transaction as whatever deleted the picture or character, and worked off here, so a
restart in between loses none.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from functools import partial
from typing import TYPE_CHECKING, Literal

import discord

from bot.errors import CameoError
from bot.gallery.service import Shareable
from bot.models import Character, JobKind, Viewer
from cogs.characters._render import CARD_IMAGE_NAME, character_card
from cogs.common import NO_MENTIONS, UPLOAD_MARGIN, safe
from storage import showcase as records
from storage.showcase import SharedPicture, ShowcasePost

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot

log = logging.getLogger(__name__)

# How often queued deletions are looked for when nothing wakes the worker sooner.
DELETION_SWEEP_SECONDS = 5.0
DELETIONS_PER_STEP = 20
THREAD_ARCHIVE_MINUTES: Literal[10080] = (
    10080  # a week: a character's post is visited for longer than a scene
)
PROMPT_SHOWN = 300
# Forum tags applied when a picture of this kind is shared, where the forum has one by a name.
KIND_TAGS = {JobKind.SCENE: ("scene", "scenes"), JobKind.POSES: ("pose sheet", "poses")}
MAX_TAGS = 5  # Discord's limit per post

ShowcaseChannel = discord.ForumChannel | discord.TextChannel


class NoShowcase(CameoError):
    def __init__(self) -> None:
        super().__init__(
            "This server has no showcase yet: someone with Manage Server can choose one with "
            "/admin gallery channel."
        )


class ShowcasePoster:
    def __init__(self, bot: CameoBot) -> None:
        self.bot = bot
        self.db = bot.resources.db
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        # One share at a time per character: two members sharing at once must not both find
        # no post and make two. (A lock left over when its last waiter is gone is dropped.)
        self._posting: dict[int, asyncio.Lock] = {}

    # -- the channel ------------------------------------------------------------------------

    async def set_channel(self, guild_id: int, channel_id: int | None) -> None:
        await self.db.run_transaction(
            partial(records.set_channel, guild_id=guild_id, channel_id=channel_id)
        )

    async def _channel(self, guild_id: int) -> ShowcaseChannel:
        channel_id = await self.db.run_read(partial(records.channel_of, guild_id=guild_id))
        if channel_id is None:
            raise NoShowcase()
        channel = self.bot.get_channel(channel_id)
        if not isinstance(channel, discord.ForumChannel | discord.TextChannel):
            raise CameoError(
                "I can't see this server's showcase channel any more. Someone with Manage "
                "Server can choose it again with /admin gallery channel."
            )
        return channel

    # -- sharing ----------------------------------------------------------------------------

    async def share(self, viewer: Viewer, job_id: int, position: int) -> str:
        """Post the picture into its character's post; return a link to the copy."""
        if viewer.guild_id is None:
            raise CameoError("Pictures are shared into a server's showcase: share from a server.")
        shareable = await self.bot.services.gallery.shareable(viewer, job_id, position)
        lock = self._posting.setdefault(shareable.character.id, asyncio.Lock())
        try:
            async with lock:
                return await self._share(viewer.guild_id, shareable)
        finally:
            if not lock.locked():
                self._posting.pop(shareable.character.id, None)

    async def _share(self, guild_id: int, shareable: Shareable) -> str:
        picture = shareable.picture
        already = await self.db.run_read(
            partial(records.shared, job_id=picture.job.id, position=picture.position)
        )
        if already is not None:
            return _jump(guild_id, already.thread_id, already.message_id)
        channel = await self._channel(guild_id)
        thread = await self._post_for(channel, shareable.character, picture.job.kind)
        message = await thread.send(
            _credit(shareable),
            file=await self._picture_file(shareable, channel.guild),
            allowed_mentions=NO_MENTIONS,
        )
        copy = SharedPicture(picture.job.id, picture.position, thread.id, message.id)
        if not await self.db.run_transaction(partial(records.record_shared, picture=copy)):
            self.wake()  # deleted, or its character made private, while it was being posted
            raise CameoError(
                "That picture was deleted, or its character made private, just now, so it "
                "wasn't shared."
            )
        return message.jump_url

    async def _post_for(
        self, channel: ShowcaseChannel, character: Character, kind: JobKind
    ) -> discord.Thread:
        """The character's post in the showcase, made now if it has none (or lost it)."""
        post = await self.db.run_read(partial(records.post_of, character_id=character.id))
        if post is not None and post.channel_id == channel.id:
            thread = channel.guild.get_thread(post.thread_id)
            if thread is None:
                with contextlib.suppress(discord.NotFound):
                    fetched = await self.bot.fetch_channel(post.thread_id)
                    thread = fetched if isinstance(fetched, discord.Thread) else None
            if thread is not None:
                await self._tag(thread, channel, kind)
                return thread
        card = character_card(character)
        file = discord.File(
            io.BytesIO(await self.bot.services.characters.card_image(character)), CARD_IMAGE_NAME
        )
        name = character.name[:100]
        if isinstance(channel, discord.ForumChannel):
            if channel.flags.require_tag and not _tags(channel, kind, []):
                raise CameoError(
                    f"{channel.mention} needs a tag on every post: add a tag named “scene” "
                    "(and “pose sheet”) to it, so Cameo can post there."
                )
            created = await channel.create_thread(
                name=name,
                embed=card,
                file=file,
                applied_tags=_tags(channel, kind, []),
                auto_archive_duration=THREAD_ARCHIVE_MINUTES,
                allowed_mentions=NO_MENTIONS,
            )
            thread, card_message = created.thread, created.message
        else:
            card_message = await channel.send(embed=card, file=file, allowed_mentions=NO_MENTIONS)
            thread = await card_message.create_thread(
                name=name, auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
        recorded = ShowcasePost(
            character.id,
            channel.guild.id,
            channel.id,
            thread.id,
            card_message.channel.id,
            card_message.id,
        )
        replaced = post is not None
        if not await self.db.run_transaction(partial(records.record_post, post=recorded)):
            self.wake()  # the new post is queued for deletion
            raise CameoError(
                f"{character.name} was deleted or made private just now, so nothing was shared."
            )
        if replaced:
            self.wake()  # the post in the previous showcase channel goes
        return thread

    async def _tag(self, thread: discord.Thread, channel: ShowcaseChannel, kind: JobKind) -> None:
        if not isinstance(channel, discord.ForumChannel):
            return
        tags = _tags(channel, kind, thread.applied_tags)
        if tags != thread.applied_tags:
            with contextlib.suppress(discord.HTTPException):  # a tag is a nicety, never a failure
                await thread.edit(applied_tags=tags)

    async def _picture_file(self, shareable: Shareable, guild: discord.Guild) -> discord.File:
        gallery = self.bot.services.gallery
        picture = shareable.picture
        data, fmt = await self.bot.services.jobs.workers.fit_upload(
            await gallery.picture_data(picture),
            picture.image_format,
            guild.filesize_limit - UPLOAD_MARGIN,
        )
        stem = "".join(ch for ch in shareable.character.name.lower() if ch.isalnum())[:32]
        extension = "jpg" if fmt == "jpeg" else fmt
        return discord.File(
            io.BytesIO(data),
            f"{stem or 'cameo'}-{picture.job.id}-{picture.position + 1}.{extension}",
        )

    # -- keeping posts current --------------------------------------------------------------

    async def character_changed(self, character: Character) -> None:
        """After an edit: the post's card shows the character as it is now; a character made
        private leaves the showcase."""
        post = await self.db.run_read(partial(records.post_of, character_id=character.id))
        if post is None:
            return
        if not character.listed:
            await self.db.run_transaction(partial(records.remove_post, character_id=character.id))
            self.wake()
            return
        file = discord.File(
            io.BytesIO(await self.bot.services.characters.card_image(character)), CARD_IMAGE_NAME
        )
        try:
            card_channel = self.bot.get_partial_messageable(post.card_channel_id)
            await card_channel.get_partial_message(post.message_id).edit(
                embed=character_card(character), attachments=[file]
            )
            await self.bot.http.edit_channel(post.thread_id, name=character.name[:100])
        except discord.HTTPException as error:
            log.warning("Could not update the showcase post of a character: %s", error)

    # -- deletions --------------------------------------------------------------------------

    def start(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._delete_gone(), name="showcase-deletions")

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def _delete_gone(self) -> None:
        """Delete, on Discord, the copies and posts whose picture or character is gone."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DELETION_SWEEP_SECONDS):
                    await self._wake.wait()
            self._wake.clear()
            try:
                while await self._delete_some():
                    pass
            except Exception:
                log.exception("Deleting shared copies failed; will try again")

    async def _delete_some(self) -> bool:
        pending = await self.db.run_read(
            partial(records.pending_deletions, limit=DELETIONS_PER_STEP)
        )
        done = []
        for deletion in pending:
            try:
                if deletion.message_id is None:
                    await self._delete_thread(deletion.channel_id)
                else:
                    await self.bot.http.delete_message(deletion.channel_id, deletion.message_id)
            except discord.NotFound:
                pass  # already gone
            except discord.Forbidden as error:
                # Nothing this bot can do: a moderator removed its permission. Said once.
                log.warning("Not allowed to delete a shared copy (%s); leaving it", error.text)
            except discord.HTTPException as error:
                if error.status < 500:
                    # Refused for good (discord.py has already waited out any 429): trying
                    # again would only block every deletion queued after this one.
                    log.warning("Discord refused to delete a shared copy: %s", error.text)
                else:
                    log.warning("Deleting a shared copy failed for now", exc_info=True)
                    break
            done.append(deletion.id)
        if done:
            await self.db.run_transaction(partial(records.deletions_done, ids=done))
        return len(done) == DELETIONS_PER_STEP

    async def _delete_thread(self, thread_id: int) -> None:
        """Delete a post's thread; without Manage Threads (which Cameo does not ask for), its
        messages are already deleted one by one, and the empty thread is archived instead."""
        thread = self.bot.get_channel(thread_id)
        if thread is None:
            thread = await self.bot.fetch_channel(thread_id)
        if (
            isinstance(thread, discord.Thread)
            and not thread.permissions_for(thread.guild.me).manage_threads
        ):
            # Asked of the cache first: a refused request counts against the bot on Discord.
            if not thread.archived:
                await thread.edit(archived=True)
            return
        await self.bot.http.delete_channel(thread_id)


def _credit(shareable: Shareable) -> str:
    job = shareable.picture.job
    prompt = " ".join((job.options.prompt or "").split())
    if len(prompt) > PROMPT_SHOWN:
        prompt = prompt[: PROMPT_SHOWN - 1] + "…"
    said = f" · “{safe(prompt)}”" if prompt else ""
    return f"**{safe(shareable.character.name)}** · asked for by <@{job.user_id}>{said}"


def _tags(
    forum: discord.ForumChannel, kind: JobKind, current: list[discord.ForumTag]
) -> list[discord.ForumTag]:
    wanted = [
        tag
        for tag in forum.available_tags
        if tag.name.casefold() in KIND_TAGS[kind] and not tag.moderated
    ]
    tags = list(current)
    for tag in wanted[:1]:
        if tag not in tags and len(tags) < MAX_TAGS:
            tags.append(tag)
    return tags


def _jump(guild_id: int, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"
