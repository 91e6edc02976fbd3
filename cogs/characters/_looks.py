"""`/character look …`: a character's looks. Thin adapters to the look service, which checks
every rule again (who may change looks, how many, which names)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.characters.text import NAME_MAX
from bot.images.processing import MAX_REFERENCE_BYTES, check_declared_size
from cogs.characters._shared import CharacterCards, character_choices, read_attachment
from cogs.common import NO_MENTIONS, UPLOAD_MARGIN, safe, viewer_from
from cogs.consent import with_consent

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot
    from bot.models import Character

Interaction = discord.Interaction["CameoBot"]


async def look_choices(
    bot: CameoBot, interaction: Interaction, current: str, *, to_use: bool
) -> list[app_commands.Choice[str]]:
    """Autocomplete for a `look` option: the looks of the character chosen in the same command
    (none until one is), the default first. The value is the look's name."""
    character = getattr(interaction.namespace, "character", None)
    if not isinstance(character, str) or not character.strip():
        return []
    looks = await bot.services.looks.suggest(
        viewer_from(interaction), character, current, to_use=to_use
    )
    return [
        app_commands.Choice(
            name=(f"{look.name} (default)" if look.is_default else look.name)[:100],
            value=look.name,
        )
        for look in looks[:25]
    ]


class LookCommands(CharacterCards):
    """Mixed into the `/character` cog; discord.py collects these as its `look` subgroup."""

    look = app_commands.Group(name="look", description="A character's looks: outfits, ages…")

    @look.command(name="add")
    @app_commands.describe(
        character="The character (yours, or one you co-own)",
        name="What to call the look, like “winter coat” or “age 60”",
        image="One clear picture of the character in that look: PNG, JPEG or WebP, up to 10 MiB",
    )
    async def look_add(
        self,
        interaction: Interaction,
        character: str,
        name: app_commands.Range[str, 1, NAME_MAX],
        image: discord.Attachment,
    ) -> None:
        """Add a look to a character, with its own reference picture (at most 10)."""
        check_declared_size(image.size, MAX_REFERENCE_BYTES)
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await read_attachment(image, MAX_REFERENCE_BYTES)
        viewer = viewer_from(interaction)
        added = await with_consent(
            interaction,
            lambda consent: self.bot.services.looks.add(viewer, character, name, data, consent),
        )
        if added is None:
            return
        updated, look = added
        await self._answer_with_card(
            interaction,
            f"**{safe(updated.name)}** has a new look, “{safe(look.name)}”. Pick it with the "
            "`look` option of `/scene`.",
            updated,
        )

    @look.command(name="remove")
    @app_commands.describe(character="The character", look="The look to remove")
    async def look_remove(self, interaction: Interaction, character: str, look: str) -> None:
        """Remove one of a character's looks (not the default one)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        updated = await self.bot.services.looks.remove(viewer_from(interaction), character, look)
        await self._answer_with_card(
            interaction, f"Removed the look “{safe(look)}” from **{safe(updated.name)}**.", updated
        )

    @look.command(name="default")
    @app_commands.describe(character="The character", look="The look scenes use when none is asked")
    async def look_default(self, interaction: Interaction, character: str, look: str) -> None:
        """Choose the look scenes use when none is asked (it is also the card's picture)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        updated = await self.bot.services.looks.make_default(
            viewer_from(interaction), character, look
        )
        self.bot.dispatch("character_changed", updated)  # its showcase card shows it too
        await self._answer_with_card(
            interaction,
            f"“{safe(look)}” is now **{safe(updated.name)}**'s default look.",
            updated,
        )

    @look.command(name="rename")
    @app_commands.describe(character="The character", look="The look", name="Its new name")
    async def look_rename(
        self,
        interaction: Interaction,
        character: str,
        look: str,
        name: app_commands.Range[str, 1, NAME_MAX],
    ) -> None:
        """Rename one of a character's looks."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        updated, new_name = await self.bot.services.looks.rename(
            viewer_from(interaction), character, look, name
        )
        await self._answer_with_card(
            interaction,
            f"**{safe(updated.name)}**'s look “{safe(look)}” is now “{safe(new_name)}”.",
            updated,
        )

    async def _answer_with_card(
        self, interaction: Interaction, text: str, character: Character
    ) -> None:
        embeds, files = await self.card(
            character, viewer_from(interaction), interaction.filesize_limit - UPLOAD_MARGIN
        )
        await interaction.followup.send(
            text, embeds=embeds, files=files, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @look_add.autocomplete("character")
    @look_remove.autocomplete("character")
    @look_default.autocomplete("character")
    @look_rename.autocomplete("character")
    async def _look_character_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await character_choices(self.characters, interaction, current)

    @look_remove.autocomplete("look")
    @look_default.autocomplete("look")
    @look_rename.autocomplete("look")
    async def _look_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await look_choices(self.bot, interaction, current, to_use=False)
