"""Galleries: a server's characters and pictures as contact sheets, paged, to open one by one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.gallery._cog import Gallery
from cogs.gallery._pages import DYNAMIC_ITEMS

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot


async def setup(bot: CameoBot) -> None:
    await bot.add_cog(Gallery(bot))
    bot.add_dynamic_items(*DYNAMIC_ITEMS)


async def teardown(bot: CameoBot) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
