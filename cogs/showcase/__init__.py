"""The showcase: a forum (or text) channel with one post per shared character, where members
share their pictures; copies go when their picture, character or member does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.showcase._buttons import DYNAMIC_ITEMS
from cogs.showcase._cog import Showcase
from cogs.showcase._poster import ShowcasePoster

__all__ = ["Showcase", "ShowcasePoster"]

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot


async def setup(bot: CameoBot) -> None:
    await bot.add_cog(Showcase(bot))
    bot.add_dynamic_items(*DYNAMIC_ITEMS)


async def teardown(bot: CameoBot) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
