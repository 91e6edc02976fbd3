"""Scenes and pose sheets: the commands, the cards, the results and their buttons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.scenes._buttons import DYNAMIC_ITEMS
from cogs.scenes._cog import Scenes

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot


async def setup(bot: CameoBot) -> None:
    await bot.add_cog(Scenes(bot))
    bot.add_dynamic_items(*DYNAMIC_ITEMS)


async def teardown(bot: CameoBot) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
