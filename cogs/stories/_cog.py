"""`/story …`: shared stories told in a thread (thin: the story service decides, this draws and
talks to Discord). The cast card is pinned at the top of the thread and edited in place."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import CameoError
from bot.gallery.service import LikenessBand, SheetTile, band_range
from bot.stories.service import TITLE_MAX, StoryService
from cogs.characters import character_choices
from cogs.common import NO_MENTIONS, UPLOAD_MARGIN, viewer_from
from cogs.stories._render import cast_embed, recap_messages, recap_sheets
from storage.stories import Story

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot

log = logging.getLogger(__name__)
Interaction = discord.Interaction["CameoBot"]
THREAD_ARCHIVE_MINUTES: Literal[10080] = 10080  # a week without messages
SHEET_LIMIT = 4 * 1024 * 1024


def _name_of(guild: discord.Guild | None, user_id: int) -> str:
    member = guild.get_member(user_id) if guild is not None else None
    return member.display_name if member is not None else "a member"


@app_commands.guild_only()
class Stories(
    commands.GroupCog, group_name="story", group_description="Shared stories told in a thread"
):
    cast = app_commands.Group(name="cast", description="Who is in this story")

    def __init__(self, bot: CameoBot) -> None:
        self.bot = bot
        self.stories: StoryService = bot.services.stories
        super().__init__()

    async def character_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await character_choices(self.bot.services.characters, interaction, current)

    async def cast_list_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Completes the last name of a comma-separated list, keeping those before it."""
        done, _, last = current.rpartition(",")
        found = await self.bot.services.characters.suggest(viewer_from(interaction), last)
        before = ", ".join(part.strip() for part in done.split(",") if part.strip())
        choices = []
        for character in found:
            value = f"{before}, {character.name}" if before else character.name
            if len(value) <= 100:  # Discord's limit for a choice
                choices.append(app_commands.Choice(name=value, value=value))
        return choices

    async def cast_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.channel_id is None:
            return []
        try:
            story = await self.stories.in_channel(interaction.channel_id)
        except CameoError:
            return []
        wanted = current.strip().casefold()
        return [
            app_commands.Choice(name=c.name, value=c.public_id)
            for c in await self.stories.cast(story)
            if wanted in c.name.casefold()
        ][:25]

    # -- starting -------------------------------------------------------------------------------

    @app_commands.command(name="start")
    @app_commands.describe(
        title="The story's name (its thread's name too)",
        characters="Its first cast, separated by commas (more later with /story cast add)",
    )
    @app_commands.autocomplete(characters=cast_list_autocomplete)
    async def start(
        self,
        interaction: Interaction,
        title: app_commands.Range[str, 1, TITLE_MAX],
        characters: str | None = None,
    ) -> None:
        """Open a thread for a shared story, with its cast pinned at the top."""
        channel = interaction.channel
        if not isinstance(channel, discord.TextChannel):
            raise CameoError("Start a story in a text channel: it opens a thread of its own.")
        if not interaction.permissions.create_public_threads:
            raise CameoError("You need Create Public Threads here to start a story.")
        missing = _missing(channel)
        if missing:
            raise CameoError(f"I need {missing} in {channel.mention} to start a story here.")
        plan = await self.stories.check_start(viewer_from(interaction), title, characters)
        await interaction.response.defer(thinking=True)
        thread = await channel.create_thread(
            name=plan.title,
            type=discord.ChannelType.public_thread,
            auto_archive_duration=THREAD_ARCHIVE_MINUTES,
        )
        story = await self.stories.start(viewer_from(interaction), thread.id, plan)
        await self._post_cast_card(thread, story)
        await interaction.followup.send(
            f"📖 **{discord.utils.escape_markdown(story.title)}** begins in {thread.mention}. "
            "Use /scene there to add its scenes; /story cast add brings characters in.",
            allowed_mentions=NO_MENTIONS,
        )

    # -- the cast -------------------------------------------------------------------------------

    @cast.command(name="add")
    @app_commands.describe(character="A character you may use")
    @app_commands.autocomplete(character=character_autocomplete)
    async def cast_add(self, interaction: Interaction, character: str) -> None:
        """Bring a character into this story's cast."""
        added = await self.stories.add_to_cast(
            viewer_from(interaction), self._here(interaction), character
        )
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._refresh_cast_card(interaction)
        await interaction.followup.send(
            f"{discord.utils.escape_markdown(added.name)} joins the cast.", ephemeral=True
        )

    @cast.command(name="remove")
    @app_commands.describe(character="A character of this story's cast")
    @app_commands.autocomplete(character=cast_autocomplete)
    async def cast_remove(self, interaction: Interaction, character: str) -> None:
        """Take a character out of this story's cast."""
        removed = await self.stories.remove_from_cast(
            viewer_from(interaction), self._here(interaction), character
        )
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._refresh_cast_card(interaction)
        await interaction.followup.send(
            f"{discord.utils.escape_markdown(removed.name)} leaves the cast.", ephemeral=True
        )

    # -- the story so far -----------------------------------------------------------------------

    @app_commands.command(name="recap")
    @app_commands.describe(
        likeness="Only the scenes whose likeness to their character is in this band"
    )
    async def recap(self, interaction: Interaction, likeness: LikenessBand | None = None) -> None:
        """Post the story so far: its scenes in order, as contact sheets with their prompts."""
        story = await self.stories.in_channel(self._here(interaction))
        scenes = await self.stories.scenes(story)
        if not scenes:
            raise CameoError(f"“{story.title}” has no scenes yet: use /scene here to add one.")
        scorer = self.bot.services.runner.likeness
        bands = await scorer.settings(interaction.guild_id) if scorer is not None else None
        if bands is not None and bands.mode == "off":
            bands = None
        if likeness is not None:
            if bands is None:
                raise CameoError(
                    "Likeness isn't shown in this server (or this bot doesn't have it), so "
                    "scenes can't be picked by it."
                )
            low, high = band_range(likeness, bands)
            scenes = [s for s in scenes if s.likeness is not None and low <= s.likeness < high]
            if not scenes:
                raise CameoError(f"No scene of “{story.title}” has a {likeness} likeness.")
        await interaction.response.defer(thinking=True)
        gallery = self.bot.services.gallery
        for number, sheets in enumerate(recap_messages(recap_sheets(story, scenes, bands))):
            files: list[discord.File] = []
            limit = min(SHEET_LIMIT, (interaction.filesize_limit - UPLOAD_MARGIN) // len(sheets))
            for embed, chunk in sheets:
                tiles = [
                    SheetTile(
                        scene.pictures[0][1],
                        scene.pictures[0][2],
                        f"Scene {scene.number}\n{scene.job.character_name}",
                    )
                    for scene in chunk
                ]
                data, fmt = await gallery.contact_sheet(tiles, limit)
                name = f"recap-{len(files) + 1}.{'jpg' if fmt == 'jpeg' else fmt}"
                embed.set_image(url=f"attachment://{name}")
                files.append(discord.File(io.BytesIO(data), name))
            await interaction.followup.send(
                "The story so far:" if number == 0 else "",
                embeds=[embed for embed, _ in sheets],
                files=files,
                allowed_mentions=NO_MENTIONS,
            )

    @app_commands.command(name="export")
    async def export(self, interaction: Interaction) -> None:
        """Download the story: its pictures in order and who asked for what, as a .zip."""
        story = await self.stories.in_channel(self._here(interaction))
        await interaction.response.defer(ephemeral=True, thinking=True)
        parts = await self.stories.archive(
            story,
            lambda user_id: _name_of(interaction.guild, user_id),
            interaction.filesize_limit - UPLOAD_MARGIN,
        )
        stem = "".join(ch for ch in story.title.lower() if ch.isalnum())[:40] or "story"
        for number, part in enumerate(parts, start=1):
            suffix = f"-{number}" if len(parts) > 1 else ""
            await interaction.followup.send(
                f"“{discord.utils.escape_markdown(story.title)}”"
                + (f", part {number} of {len(parts)}" if len(parts) > 1 else ""),
                file=discord.File(io.BytesIO(part), f"{stem}{suffix}.zip"),
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )

    # -- running it -----------------------------------------------------------------------------

    @app_commands.command(name="rename")
    @app_commands.describe(title="The story's new name")
    async def rename(
        self, interaction: Interaction, title: app_commands.Range[str, 1, TITLE_MAX]
    ) -> None:
        """Rename this story (its creator or a moderator)."""
        story = await self.stories.rename(viewer_from(interaction), self._here(interaction), title)
        await interaction.response.defer(ephemeral=True, thinking=True)
        thread = interaction.channel
        if isinstance(thread, discord.Thread):
            await thread.edit(name=story.title)
        await self._refresh_cast_card(interaction)
        await interaction.followup.send("Renamed.", ephemeral=True)

    @app_commands.command(name="close")
    async def close(self, interaction: Interaction) -> None:
        """Close this story: no more scenes, and its thread is archived."""
        story = await self.stories.set_closed(
            viewer_from(interaction), self._here(interaction), True
        )
        await interaction.response.send_message(
            f"“{discord.utils.escape_markdown(story.title)}” is closed. /story reopen opens it "
            "again.",
            allowed_mentions=NO_MENTIONS,
        )
        await self._refresh_cast_card(interaction)
        thread = interaction.channel
        if isinstance(thread, discord.Thread):
            await thread.edit(archived=True)

    @app_commands.command(name="reopen")
    async def reopen(self, interaction: Interaction) -> None:
        """Reopen this story for new scenes."""
        viewer = viewer_from(interaction)
        await self.stories.check_runs(viewer, self._here(interaction), "reopen")
        thread = interaction.channel
        if isinstance(thread, discord.Thread) and thread.archived:
            await thread.edit(archived=False)  # before answering: an archived thread is read-only
        story = await self.stories.set_closed(viewer, self._here(interaction), False)
        await interaction.response.send_message(
            f"“{discord.utils.escape_markdown(story.title)}” is open again.",
            allowed_mentions=NO_MENTIONS,
        )
        await self._refresh_cast_card(interaction)

    # -- the cast card --------------------------------------------------------------------------

    def _here(self, interaction: Interaction) -> int:
        assert interaction.channel_id is not None
        return interaction.channel_id

    async def _cast_card(
        self, story: Story, guild: discord.Guild
    ) -> tuple[discord.Embed, list[discord.File]]:
        cast = await self.stories.cast(story)
        embed = cast_embed(story, cast)
        if not cast:
            return embed, []
        tiles = [
            SheetTile(c.image_sha256, c.image_format, f"{c.name}\nby {_name_of(guild, c.owner_id)}")
            for c in cast
        ]
        limit = min(SHEET_LIMIT, guild.filesize_limit - UPLOAD_MARGIN)
        data, fmt = await self.bot.services.gallery.contact_sheet(tiles, limit)
        name = f"cast.{'jpg' if fmt == 'jpeg' else fmt}"
        embed.set_image(url=f"attachment://{name}")
        return embed, [discord.File(io.BytesIO(data), name)]

    async def _post_cast_card(self, thread: discord.Thread, story: Story) -> None:
        embed, files = await self._cast_card(story, thread.guild)
        card = await thread.send(embed=embed, files=files, allowed_mentions=NO_MENTIONS)
        await self.stories.record_card(story, card.id)
        if thread.permissions_for(thread.guild.me).pin_messages:
            await card.pin()
        else:
            log.info("No Pin Messages permission in a story's thread: its cast card is unpinned")

    async def _refresh_cast_card(self, interaction: Interaction) -> None:
        """Edit the pinned cast card in place (posting a new one if it was deleted)."""
        story = await self.stories.in_channel(self._here(interaction))
        thread = interaction.channel
        if not isinstance(thread, discord.Thread):
            return
        message_id = await self.stories.card_of(story)
        embed, files = await self._cast_card(story, thread.guild)
        if message_id is not None:
            try:
                await thread.get_partial_message(message_id).edit(
                    embed=embed, attachments=files, allowed_mentions=NO_MENTIONS
                )
            except discord.NotFound:
                pass  # deleted by someone: a new card is posted (and pinned) below
            else:
                return
        await self._post_cast_card(thread, story)


def _missing(channel: discord.TextChannel) -> str:
    permissions = channel.permissions_for(channel.guild.me)
    needed = {
        "Create Public Threads": permissions.create_public_threads,
        "Send Messages in Threads": permissions.send_messages_in_threads,
        "Attach Files": permissions.attach_files,
        "Embed Links": permissions.embed_links,
    }
    return " and ".join(name for name, granted in needed.items() if not granted)
