"""What the `/character` commands share: reading attachments, character autocomplete, and the
character card as a member sees it."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import CameoError
from bot.models import Character, Viewer
from cogs.characters._render import (
    CARD_IMAGE_NAME,
    LOOKS_IMAGE_STEM,
    character_card,
    choice_label,
    looks_embed,
)
from cogs.common import viewer_from

if TYPE_CHECKING:
    from bot.characters.service import CharacterService
    from bot.client.cameo_bot import CameoBot

Interaction = discord.Interaction["CameoBot"]


async def read_attachment(attachment: discord.Attachment, limit: int) -> bytes:
    """Download an attachment whose declared size the caller has already checked."""
    try:
        data = await attachment.read()
    except (discord.HTTPException, aiohttp.ClientError, TimeoutError):
        raise CameoError(
            "I couldn't download that attachment from Discord. Attach it again and retry."
        ) from None
    if len(data) > limit:  # Discord declared one size and sent another
        raise CameoError("That attachment is larger than it claimed to be; attach it again.")
    return data


async def character_choices(
    characters: CharacterService, interaction: Interaction, current: str, *, to_use: bool = False
) -> list[app_commands.Choice[str]]:
    """Autocomplete for every `character` option: the member's own first, labelled by owner;
    `to_use`, only characters they may use in scenes."""
    viewer = viewer_from(interaction)
    found = await characters.suggest(viewer, current, to_use=to_use)
    guild = interaction.guild
    choices = []
    for character in found:
        member = guild.get_member(character.owner_id) if guild else None
        label = choice_label(character, viewer.user_id, member.display_name if member else None)
        choices.append(app_commands.Choice(name=label, value=character.public_id))
    return choices


class CharacterCards(commands.Cog):
    """Shared by the `/character` cog and its command mixins."""

    bot: CameoBot
    characters: CharacterService

    async def card_file(self, character: Character) -> discord.File:
        return discord.File(
            io.BytesIO(await self.characters.card_image(character)), CARD_IMAGE_NAME
        )

    async def card(
        self, character: Character, viewer: Viewer, limit: int, *, public: bool = False
    ) -> tuple[list[discord.Embed], list[discord.File]]:
        """A character's card as `viewer` sees it: with its looks (as a contact sheet when it
        has several) and, privately to its owner and co-owners, who it is shared with and
        how many scenes other members made."""
        services = self.bot.services
        looks = await services.looks.looks_of(character)
        editor = not public and await self.characters.can_edit(viewer, character)
        members = await services.sharing.members(viewer, character) if editor else []
        embeds = [
            character_card(
                character,
                looks=looks,
                members=members,
                for_owner=not public and character.owner_id == viewer.user_id,
            )
        ]
        files = [await self.card_file(character)]
        sheet = await services.looks.sheet(looks, limit=max(limit // 2, 256 * 1024))
        if sheet is not None:
            data, fmt = sheet
            name = f"{LOOKS_IMAGE_STEM}.{'jpg' if fmt == 'jpeg' else fmt}"
            embeds.append(looks_embed(name))
            files.append(discord.File(io.BytesIO(data), name))
        return embeds, files
