"""The Share button on results, and the menu that asks which picture when a message holds
several. Both outlive a restart; every click is judged again by the domain, as the clicker."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import discord

from cogs.common import NO_MENTIONS, custom_id_number, viewer_from
from cogs.guarded import Guarded

if TYPE_CHECKING:
    from cogs.showcase._poster import ShowcasePoster

Interaction = discord.Interaction[Any]
Button = discord.ui.Button[Any]
Select = discord.ui.Select[Any]
POSITION_MAX = 999  # as on the other result buttons


def _poster(interaction: Interaction) -> ShowcasePoster:
    # Looked up on each click: after the extension is reloaded, its new poster answers.
    cog = interaction.client.get_cog("Showcase")
    assert cog is not None
    poster: ShowcasePoster = cog.poster
    return poster


async def _share(interaction: Interaction, job_id: int, position: int) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    link = await _poster(interaction).share(viewer_from(interaction), job_id, position)
    await interaction.followup.send(
        f"Shared in the showcase: {link}", ephemeral=True, allowed_mentions=NO_MENTIONS
    )


class Share(
    Guarded,
    discord.ui.DynamicItem[Button],
    template=r"cameo:share:(?P<job>-?[0-9]+):(?P<first>-?[0-9]+):(?P<last>-?[0-9]+)",
):
    """Share a picture of this message into its character's showcase post."""

    def __init__(self, job_id: int, first: int, last: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Share",
                emoji="📌",
                style=discord.ButtonStyle.secondary,
                custom_id=f"cameo:share:{job_id}:{first}:{last}",
            )
        )
        self.job_id, self.first, self.last = job_id, first, last

    @classmethod
    def parse(cls, match: re.Match[str], /) -> Share:
        first = custom_id_number(match["first"], low=0, high=POSITION_MAX)
        last = custom_id_number(match["last"], low=first, high=POSITION_MAX)
        return cls(custom_id_number(match["job"]), first, last)

    async def run(self, interaction: Interaction) -> None:
        if self.first == self.last:
            await _share(interaction, self.job_id, self.first)
            return
        menu = discord.ui.View(timeout=None)
        menu.add_item(SharePick(self.job_id, range(self.first, self.last + 1)))
        await interaction.response.send_message(
            "Which picture?", view=menu, ephemeral=True, allowed_mentions=NO_MENTIONS
        )


class SharePick(
    Guarded, discord.ui.DynamicItem[Select], template=r"cameo:sharepick:(?P<job>-?[0-9]+)"
):
    def __init__(self, job_id: int, positions: range = range(0)) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"cameo:sharepick:{job_id}",
                placeholder="Pick the picture to share",
                options=[
                    discord.SelectOption(label=f"Picture {p + 1}", value=str(p))
                    for p in positions[:25]
                ]
                or [discord.SelectOption(label="-", value="-")],
            )
        )
        self.job_id = job_id

    @classmethod
    def parse(cls, match: re.Match[str], /) -> SharePick:
        return cls(custom_id_number(match["job"]))

    async def run(self, interaction: Interaction) -> None:
        data = cast("dict[str, Any]", interaction.data or {})
        chosen = str((data.get("values") or [""])[0])
        await _share(interaction, self.job_id, custom_id_number(chosen, low=0, high=POSITION_MAX))


DYNAMIC_ITEMS = (Share, SharePick)
