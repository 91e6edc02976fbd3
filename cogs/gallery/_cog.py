"""`/gallery …`: browse what a server has made, as contact sheets (thin: the domain decides who
sees what, `_pages` draws the page)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.gallery.service import CharacterQuery, LikenessBand, PictureQuery
from cogs.characters import character_choices
from cogs.common import viewer_from
from cogs.gallery._pages import ORDERS, character_page, picture_page, send_page

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot

Interaction = discord.Interaction["CameoBot"]
SortChoice = Literal["newest", "most scenes", "name"]
_SORTS = {shown: order for order, shown in ORDERS.values()}


# Galleries show what a server has made: Discord offers the command in servers only (and the
# domain refuses a DM viewer all the same).
@app_commands.guild_only()
class Gallery(
    commands.GroupCog, group_name="gallery", group_description="Browse this server's characters"
):
    def __init__(self, bot: CameoBot) -> None:
        self.bot = bot

    async def character_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await character_choices(self.bot.services.characters, interaction, current)

    @app_commands.command(name="characters")
    @app_commands.describe(
        member="Only this member's characters", sort="Newest first (default), most scenes, or name"
    )
    async def characters(
        self,
        interaction: Interaction,
        member: discord.Member | None = None,
        sort: SortChoice = "newest",
    ) -> None:
        """The characters you can see here, as a contact sheet to page through."""
        query = CharacterQuery(
            member_id=member.id if member else None,
            order=_SORTS[sort],  # type: ignore[arg-type]
        )
        await interaction.response.defer(ephemeral=True, thinking=True)
        await send_page(interaction, await character_page(interaction, query, None))

    @app_commands.command(name="scenes")
    @app_commands.describe(
        character="Only pictures of this character",
        member="Only pictures this member asked for",
        favorites="Only pictures marked as favourites",
        likeness="Only pictures whose likeness to their character is in this band",
    )
    @app_commands.autocomplete(character=character_autocomplete)
    async def scenes(
        self,
        interaction: Interaction,
        character: str | None = None,
        member: discord.Member | None = None,
        favorites: bool = False,
        likeness: LikenessBand | None = None,
    ) -> None:
        """The pictures made here, newest first, as a contact sheet to page through."""
        await self._pictures(interaction, character, member, favorites=favorites, likeness=likeness)

    @app_commands.command(name="favorites")
    @app_commands.describe(member="Only the favourites of this member's pictures")
    async def favorites(
        self, interaction: Interaction, member: discord.Member | None = None
    ) -> None:
        """The pictures members marked as favourites, newest first."""
        await self._pictures(interaction, None, member, favorites=True)

    async def _pictures(
        self,
        interaction: Interaction,
        character_query: str | None,
        member: discord.Member | None,
        *,
        favorites: bool,
        likeness: LikenessBand | None = None,
    ) -> None:
        gallery = self.bot.services.gallery
        character = None
        if character_query is not None:
            character = await gallery.character(viewer_from(interaction), character_query)
        query = PictureQuery(
            character_id=character.id if character else None,
            member_id=member.id if member else None,
            favorites=favorites,
            likeness=likeness,
        )
        await interaction.response.defer(ephemeral=True, thinking=True)
        await send_page(interaction, await picture_page(interaction, query, character, None))
