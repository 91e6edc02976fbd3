"""The base of every Cameo button and menu that outlives a restart (a `DynamicItem`): its
custom id says what it acts on, and every rule is checked again by the domain on each click."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Self, cast

import discord

from bot.client.cameo_bot import allowed_here
from bot.client.interaction_errors import SHUTTING_DOWN_TEXT, report_error, send_private
from bot.errors import CameoError
from cogs.common import UnusableButton

# discord.py types component callbacks for any client; ours is always a CameoBot.
Interaction = discord.Interaction[Any]


class Guarded(discord.ui.Item[discord.ui.View]):
    """Shared by every Cameo button and menu: the shutdown gate, task tracking, friendly errors.

    Each button defines `parse`, which reads its custom id, and `run`, what its click does.
    """

    run: Callable[[Interaction], Awaitable[None]]
    # Set only on a stand-in for a button whose custom id holds an unusable number.
    refusal: CameoError | None = None

    @classmethod
    def parse(cls, match: re.Match[str], /) -> Self:
        """Build the button from its custom id, reading every number with `custom_id_number`.

        Every button class defines its own; this one only says so if one forgets.
        """
        raise TypeError(f"{cls.__name__} must define parse() to read its custom id")

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        try:
            return cls.parse(match)
        except UnusableButton as refusal:
            # discord.py only logs what this method raises and leaves the click unanswered, so
            # a stand-in wrapping the clicked button answers it with the refusal instead.
            stand_in = cls.__new__(cls)
            discord.ui.DynamicItem.__init__(cast("discord.ui.DynamicItem[Any]", stand_in), item)
            stand_in.refusal = refusal
            return stand_in

    async def interaction_check(self, interaction: Interaction) -> bool:
        if interaction.client.shutting_down:
            await send_private(interaction, SHUTTING_DOWN_TEXT)
            return False
        if self.refusal is not None:
            await report_error(interaction, self.refusal)
            return False
        interaction.client.track_current_task()
        # A member blocked in this server is refused on every button, as on every command.
        return await allowed_here(interaction)

    async def callback(self, interaction: Interaction) -> None:
        try:
            await self.run(interaction)
        except Exception as error:  # every failure becomes a private message, never silence
            await report_error(interaction, error)
