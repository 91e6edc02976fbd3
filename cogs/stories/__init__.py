"""Stories: shared roleplay told in a thread, with a pinned cast card, numbered scenes, recaps
and exports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.stories._cog import Stories

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot


async def setup(bot: CameoBot) -> None:
    await bot.add_cog(Stories(bot))
