"""Small pieces every feature cog uses: who is asking, safe text, owner-only views."""

from __future__ import annotations

from typing import Any

import discord

from bot.interaction_errors import report_error
from bot.models import Viewer

NO_MENTIONS = discord.AllowedMentions.none()


def viewer_from(interaction: discord.Interaction[Any]) -> Viewer:
    """Describe the member from what Discord resolved for this interaction (server-side truth)."""
    in_guild = interaction.guild_id is not None
    return Viewer(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        can_manage_guild=in_guild and interaction.permissions.manage_guild,
    )


def safe(text: str) -> str:
    """Show member-written text literally: no markdown tricks, no mention look-alikes."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


class OwnerOnlyView(discord.ui.View):
    """A view whose buttons answer only the member who opened it."""

    def __init__(self, owner_id: int, *, timeout: float = 120) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.message: discord.InteractionMessage | discord.WebhookMessage | None = None

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message(
                "These buttons belong to someone else's command.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return False
        return True

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: discord.ui.Item[Any], /
    ) -> None:
        await report_error(interaction, error)

    def disable_all(self) -> None:
        for child in self.children:
            if isinstance(child, discord.ui.Button | discord.ui.Select):
                child.disabled = True
