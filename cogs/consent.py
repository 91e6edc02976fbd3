"""Asking a member to confirm they may use a photograph of a real person.

A service refuses such a picture with ConsentNeeded until the member confirms; `with_consent`
turns that refusal into a private question with buttons and, once answered, tries again with
the answer. The service checks the picture again itself, so no button can skip the question.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import discord

from bot.characters.consent import Consent, ConsentNeeded
from cogs.common import NO_MENTIONS, OwnerOnlyView

T = TypeVar("T")
ANSWER_WITHIN_SECONDS = 300


class ConsentQuestion(OwnerOnlyView):
    def __init__(self, owner_id: int) -> None:
        super().__init__(owner_id, timeout=ANSWER_WITHIN_SECONDS)
        self.answer: Consent | None = None

    @discord.ui.button(label="It's me", style=discord.ButtonStyle.primary)
    async def myself(
        self, interaction: discord.Interaction[Any], _: discord.ui.Button[Any]
    ) -> None:
        await self._answered(interaction, Consent.SELF, "you confirmed it's you")

    @discord.ui.button(label="I have their permission", style=discord.ButtonStyle.primary)
    async def permission(
        self, interaction: discord.Interaction[Any], _: discord.ui.Button[Any]
    ) -> None:
        await self._answered(interaction, Consent.PERMISSION, "you confirmed you have permission")

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction[Any], _: discord.ui.Button[Any]
    ) -> None:
        await interaction.response.edit_message(content="Cancelled: nothing was stored.", view=None)
        self.stop()

    async def _answered(
        self, interaction: discord.Interaction[Any], answer: Consent, said: str
    ) -> None:
        self.answer = answer
        await interaction.response.edit_message(
            content=f"Thank you: {said}. Your confirmation is kept with the character.",
            view=None,
        )
        self.stop()


class GoAheadQuestion(OwnerOnlyView):
    """A warning with a choice: go ahead, or cancel and store nothing."""

    def __init__(self, owner_id: int, go_label: str) -> None:
        super().__init__(owner_id, timeout=ANSWER_WITHIN_SECONDS)
        self.go_ahead = False
        self.go.label = go_label[:80]

    @discord.ui.button(label="Go ahead", style=discord.ButtonStyle.primary)
    async def go(self, interaction: discord.Interaction[Any], _: discord.ui.Button[Any]) -> None:
        self.go_ahead = True
        await interaction.response.edit_message(content="Going ahead.", view=None)
        self.stop()

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction[Any], _: discord.ui.Button[Any]
    ) -> None:
        await interaction.response.edit_message(content="Cancelled: nothing was stored.", view=None)
        self.stop()


async def go_ahead_after(
    interaction: discord.Interaction[Any], warning: str, go_label: str
) -> bool:
    """Show `warning` privately (`interaction` must be deferred) and wait for the member's
    choice; False if they cancel or don't answer in time (nothing stored)."""
    question = GoAheadQuestion(interaction.user.id, go_label)
    message = await interaction.followup.send(
        warning, view=question, ephemeral=True, allowed_mentions=NO_MENTIONS, wait=True
    )
    if await question.wait():  # timed out
        await message.edit(content="No answer in time: nothing was stored.", view=None)
        return False
    return question.go_ahead


async def with_consent(
    interaction: discord.Interaction[Any], attempt: Callable[[Consent | None], Awaitable[T]]
) -> T | None:
    """`attempt()`; if the picture needs consent, ask (in a private follow-up: `interaction`
    must be deferred) and attempt again with the answer. None if the member cancels or doesn't
    answer in time (nothing stored)."""
    try:
        return await attempt(None)
    except ConsentNeeded as needed:
        question = ConsentQuestion(interaction.user.id)
        message = await interaction.followup.send(
            needed.message, view=question, ephemeral=True, allowed_mentions=NO_MENTIONS, wait=True
        )
        if await question.wait():  # timed out
            await message.edit(content="No answer in time: nothing was stored.", view=None)
            return None
        if question.answer is None:
            return None
        return await attempt(question.answer)
