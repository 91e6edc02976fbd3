"""The character registry's Discord commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.characters._cog import Characters
from cogs.characters._looks import look_choices
from cogs.characters._shared import character_choices, read_attachment
from cogs.characters._sharing import DYNAMIC_ITEMS

__all__ = ["Characters", "character_choices", "look_choices", "read_attachment", "setup"]

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot


async def setup(bot: CameoBot) -> None:
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(Characters(bot))


async def teardown(bot: CameoBot) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
