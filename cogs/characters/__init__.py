"""The character registry's Discord commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.characters._cog import Characters, character_choices, read_attachment

__all__ = ["Characters", "character_choices", "read_attachment", "setup"]

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot


async def setup(bot: CameoBot) -> None:
    await bot.add_cog(Characters(bot))
