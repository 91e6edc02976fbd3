"""Who is asking, as the domain sees them, from what Discord resolved for an interaction."""

from __future__ import annotations

from typing import Any

import discord

from bot.models import Viewer


def viewer_from(interaction: discord.Interaction[Any]) -> Viewer:
    """Describe the member from what Discord resolved for this interaction (server-side truth)."""
    in_guild = interaction.guild_id is not None
    return Viewer(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        can_manage_guild=in_guild and interaction.permissions.manage_guild,
        can_manage_messages=in_guild and interaction.permissions.manage_messages,
        role_ids=role_ids_of(interaction.user),
    )


def role_ids_of(user: discord.abc.User) -> frozenset[int]:
    """A member's role ids (none in DMs); @everyone is left out, it is no override."""
    if not isinstance(user, discord.Member):
        return frozenset()
    return frozenset(role.id for role in user.roles if not role.is_default())
