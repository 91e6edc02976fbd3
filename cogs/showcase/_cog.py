"""The showcase cog: owns the poster, whose worker deletes copies whose picture is gone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

from bot.models import Character
from cogs.showcase._poster import ShowcasePoster

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot


class Showcase(commands.Cog):
    def __init__(self, bot: CameoBot) -> None:
        self.bot = bot
        self.poster = ShowcasePoster(bot)

    async def cog_load(self) -> None:
        self.poster.start()

    async def cog_unload(self) -> None:
        await self.poster.close()

    @commands.Cog.listener()
    async def on_character_changed(self, character: Character) -> None:
        await self.poster.character_changed(character)

    @commands.Cog.listener()
    async def on_pictures_removed(self) -> None:
        """Pictures or characters were deleted: their copies are queued; delete them now."""
        self.poster.wake()
