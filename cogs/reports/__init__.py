"""Reports and the moderation log: members flag results and characters, moderators act on
them from the log channel, where Cameo also notes what it made and refused."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.reports._buttons import DYNAMIC_ITEMS, Report
from cogs.reports._cog import ModerationLogPoster

__all__ = ["ModerationLogPoster", "Report"]

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot


async def setup(bot: CameoBot) -> None:
    await bot.add_cog(ModerationLogPoster(bot))
    bot.add_dynamic_items(*DYNAMIC_ITEMS)


async def teardown(bot: CameoBot) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
