"""Buttons for the character commands: a confirmation and a pager, both owner-only."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import discord

from bot.models import Character
from cogs.characters._render import list_page
from cogs.common import NO_MENTIONS, OwnerOnlyView

TIMED_OUT_TEXT = "No answer in time, so nothing was changed."


class ConfirmView(OwnerOnlyView):
    """Ask once; run `on_confirm` (which re-checks permissions) only if the owner agrees."""

    def __init__(
        self,
        owner_id: int,
        *,
        confirm_label: str,
        on_confirm: Callable[[discord.Interaction[Any]], Awaitable[str]],
        cancelled_text: str,
    ) -> None:
        super().__init__(owner_id, timeout=120)
        self._on_confirm = on_confirm
        self._cancelled_text = cancelled_text
        self.confirm.label = confirm_label[:80]

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.danger)
    async def confirm(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[ConfirmView]
    ) -> None:
        await interaction.response.defer()
        text = await self._on_confirm(interaction)
        self._finish()
        await interaction.edit_original_response(
            content=text, embed=None, attachments=[], view=self, allowed_mentions=NO_MENTIONS
        )

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[ConfirmView]
    ) -> None:
        self._finish()
        await interaction.response.edit_message(
            content=self._cancelled_text, embed=None, attachments=[], view=self
        )

    def _finish(self) -> None:
        self.disable_all()
        self.stop()

    async def on_timeout(self) -> None:
        self.disable_all()
        if self.message is not None:
            # The ephemeral message may be gone already; nothing was changed either way.
            with contextlib.suppress(discord.HTTPException):
                await self.message.edit(content=TIMED_OUT_TEXT, embed=None, view=self)


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
