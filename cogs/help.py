"""`/help`: what Cameo does and every command, read from the registered command tree."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs.rendering import help_embed

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot


class Help(commands.Cog):
    def __init__(self, bot: CameoBot) -> None:
        self.bot = bot

    @app_commands.command(name="help")
    async def help(self, interaction: discord.Interaction[CameoBot]) -> None:
        """See what Cameo does and every command it has."""
        embed = help_embed(self.bot.tree.get_commands())
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: CameoBot) -> None:
    await bot.add_cog(Help(bot))
