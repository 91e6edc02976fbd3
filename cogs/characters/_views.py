"""The character list's pager (owner-only buttons)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import discord

from bot.models import Character
from cogs.characters._render import list_page
from cogs.common import OwnerOnlyView


class ListPager(OwnerOnlyView):
    """Previous/next buttons over a character list."""

    def __init__(self, owner_id: int, characters: Sequence[Character], heading: str) -> None:
        super().__init__(owner_id, timeout=600)
        self._characters = characters
        self._heading = heading
        self.page = 0
        self.embed, self.pages = list_page(characters, 0, heading)
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= self.pages - 1

    async def _show(self, interaction: discord.Interaction[Any], page: int) -> None:
        self.page = page
        self.embed, self.pages = list_page(self._characters, page, self._heading)
        self._sync_buttons()
        await interaction.response.edit_message(embed=self.embed, view=self)

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[ListPager]
    ) -> None:
        await self._show(interaction, self.page - 1)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary)
    async def next(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[ListPager]
    ) -> None:
        await self._show(interaction, self.page + 1)

    async def on_timeout(self) -> None:
        self.disable_all()
        if self.message is not None:
            with contextlib.suppress(discord.HTTPException):
                await self.message.edit(view=self)
