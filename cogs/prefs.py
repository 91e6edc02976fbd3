"""`/prefs`: a member's own defaults for `/scene` in this server. A thin adapter to the prefs
service; the order presets apply in is the domain's (bot/prefs/preset.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.providers.request import PROMPT_MAX
from cogs.characters._render import preset_text
from cogs.choices import ASPECT_CHOICES, MagicChoice, SpeedChoice, StyleChoice
from cogs.common import NO_MENTIONS, viewer_from

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot

Interaction = discord.Interaction["CameoBot"]
ORDER_TEXT = (
    "Each setting of a scene comes from, in order: what you give `/scene`, then these "
    "preferences, then the character's defaults (set by its owner), then Cameo's."
)


class Prefs(commands.GroupCog, group_name="prefs", group_description="Your defaults for /scene"):
    def __init__(self, bot: CameoBot) -> None:
        self.bot = bot

    @app_commands.command(name="set")
    @app_commands.describe(
        style="The style your scenes use unless you ask otherwise",
        aspect_ratio="The shape your scenes use unless you ask otherwise",
        speed="The speed your scenes use unless you ask otherwise",
        magic_prompt="Whether the service rewrites your prompt, unless you ask otherwise",
        negative_prompt="What your scenes avoid unless you ask otherwise",
    )
    @app_commands.choices(aspect_ratio=ASPECT_CHOICES)
    async def set_(
        self,
        interaction: Interaction,
        style: StyleChoice | None = None,
        aspect_ratio: str | None = None,
        speed: SpeedChoice | None = None,
        magic_prompt: MagicChoice | None = None,
        negative_prompt: app_commands.Range[str, 1, PROMPT_MAX] | None = None,
    ) -> None:
        """Remember settings for your scenes in this server (the others stay as they were)."""
        preset = await self.bot.services.prefs.change(
            viewer_from(interaction),
            {
                "style": style,
                "aspect_ratio": aspect_ratio,
                "speed": speed,
                "magic_prompt": magic_prompt,
                "negative_prompt": negative_prompt,
            },
        )
        await interaction.response.send_message(
            f"Saved. Your preferences here: {preset_text(preset)}.\n{ORDER_TEXT}",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="show")
    async def show(self, interaction: Interaction) -> None:
        """Show the settings your scenes use here unless you ask otherwise."""
        preset = await self.bot.services.prefs.of(viewer_from(interaction))
        text = (
            "You have no preferences here yet; set some with `/prefs set`."
            if preset.is_empty
            else f"Your preferences here: {preset_text(preset)}."
        )
        await interaction.response.send_message(
            f"{text}\n{ORDER_TEXT}", ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @app_commands.command(name="clear")
    async def clear(self, interaction: Interaction) -> None:
        """Forget your preferences in this server."""
        cleared = await self.bot.services.prefs.clear(viewer_from(interaction))
        await interaction.response.send_message(
            "Forgotten: your scenes here use the characters' and Cameo's defaults again."
            if cleared
            else "You had no preferences here, so there was nothing to forget.",
            ephemeral=True,
        )


async def setup(bot: CameoBot) -> None:
    await bot.add_cog(Prefs(bot))
