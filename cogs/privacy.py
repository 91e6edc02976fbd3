"""`/privacy forget-me`: delete everything Cameo stores about you, after a confirmation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.privacy import ForgottenData
from cogs.common import NO_MENTIONS, ConfirmView

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot


def forgotten_summary(data: ForgottenData) -> str:
    if data.nothing:
        return "Done. Cameo had nothing stored about you."
    return (
        f"Done. Deleted {data.characters} character{'s' if data.characters != 1 else ''}, "
        f"{data.images} stored picture{'s' if data.images != 1 else ''} and "
        f"{data.jobs} scene request{'s' if data.jobs != 1 else ''} with their results. Cameo "
        "keeps nothing else about you."
    )


class Privacy(commands.GroupCog, group_name="privacy", group_description="Your data in Cameo"):
    def __init__(self, bot: CameoBot) -> None:
        self.bot = bot

    @app_commands.command(name="forget-me")
    async def forget_me(self, interaction: discord.Interaction[CameoBot]) -> None:
        """Delete everything Cameo stores about you, in every server (asks first)."""
        user_id = interaction.user.id

        async def confirmed(button_interaction: discord.Interaction[CameoBot]) -> str:
            forgotten = await self.bot.services.privacy.forget(user_id)
            self.bot.dispatch("pictures_removed")  # shared copies of their pictures go too
            return forgotten_summary(forgotten)

        view = ConfirmView(
            user_id,
            confirm_label="Delete everything",
            on_confirm=confirmed,
            cancelled_text="Nothing was deleted.",
        )
        response = await interaction.response.send_message(
            "This deletes **all** your characters, their pictures and your scenes, in every server "
            "and in DMs. "
            "It can't be undone; `/character export` first if you may want them back.",
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        if isinstance(response.resource, discord.InteractionMessage):
            view.message = response.resource


async def setup(bot: CameoBot) -> None:
    await bot.add_cog(Privacy(bot))
