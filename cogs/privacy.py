"""`/privacy forget-me`: delete everything Cameo stores about you, after a confirmation;
`/privacy report-likeness`: ask a server's moderators to remove a character that is you."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.moderation.reports import REASON_MAX
from bot.privacy import ForgottenData
from cogs.characters import character_choices
from cogs.common import NO_MENTIONS, ConfirmView, viewer_from

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

    @app_commands.command(name="report-likeness")
    @app_commands.describe(
        details="Who you are and where it appears (a link to the message helps)",
        character="The character, if you can see it (private ones: describe it instead)",
    )
    async def report_likeness(
        self,
        interaction: discord.Interaction[CameoBot],
        details: app_commands.Range[str, 3, REASON_MAX],
        character: str | None = None,
    ) -> None:
        """A character here pictures you: ask the moderators to remove it (they see it first)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        filed = await self.bot.services.reports.report_likeness(
            viewer_from(interaction), character, details
        )
        await interaction.followup.send(
            f"Your request (report {filed.id}) is with this server's moderators, marked as the "
            "person pictured asking for removal. Only they see it.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @report_likeness.autocomplete("character")
    async def character_autocomplete(
        self, interaction: discord.Interaction[CameoBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return await character_choices(self.bot.services.characters, interaction, current)


async def setup(bot: CameoBot) -> None:
    await bot.add_cog(Privacy(bot))
