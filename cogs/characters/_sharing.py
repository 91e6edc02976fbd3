"""`/character share|unshare|co-owner|transfer`: who else may use or edit a character, and
handing it over. Thin adapters to the sharing service, which checks every rule again."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.models import Role
from cogs.characters._shared import CharacterCards, character_choices
from cogs.common import NO_MENTIONS, custom_id_number, safe, viewer_from
from cogs.guarded import Guarded

if TYPE_CHECKING:
    from bot.characters.sharing import Unshared
    from bot.client.cameo_bot import CameoBot

Interaction = discord.Interaction["CameoBot"]
Button = discord.ui.Button[Any]


class SharingCommands(CharacterCards):
    """Mixed into the `/character` cog."""

    @app_commands.command(name="share")
    @app_commands.describe(
        character="Your character", member="The member who may use them in scenes"
    )
    async def share(self, interaction: Interaction, character: str, member: discord.User) -> None:
        """Let a member use your character in their scenes (they can't edit it)."""
        await self._give(interaction, character, member, Role.APPROVED)

    @app_commands.command(name="unshare")
    @app_commands.describe(character="Your character", member="The member to take off its list")
    async def unshare(self, interaction: Interaction, character: str, member: discord.User) -> None:
        """Stop a member using your character; their queued scenes of it stop, refunded."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.bot.services.sharing.unshare(
            viewer_from(interaction), character, member.id
        )
        await self._after_unshare(interaction, result, member, "is no longer on the list of")

    co_owner = app_commands.Group(
        name="co-owner", description="Members who may edit a character (never delete it)"
    )

    @co_owner.command(name="add")
    @app_commands.describe(character="Your character", member="The member who may edit it")
    async def co_owner_add(
        self, interaction: Interaction, character: str, member: discord.User
    ) -> None:
        """Let a member edit your character and its looks (not delete or hand it over)."""
        await self._give(interaction, character, member, Role.CO_OWNER)

    @co_owner.command(name="remove")
    @app_commands.describe(character="Your character", member="The co-owner")
    async def co_owner_remove(
        self, interaction: Interaction, character: str, member: discord.User
    ) -> None:
        """Stop a co-owner editing your character (they may still use it)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.bot.services.sharing.unshare(
            viewer_from(interaction), character, member.id, role=Role.CO_OWNER
        )
        await self._after_unshare(interaction, result, member, "is no longer a co-owner of")

    @app_commands.command(name="transfer")
    @app_commands.describe(character="Your character", member="Who should own it from now on")
    async def transfer(
        self, interaction: Interaction, character: str, member: discord.User
    ) -> None:
        """Hand your character over to another member, once they accept."""
        if member.bot:
            await interaction.response.send_message(
                "Characters can only be handed to members, not bots.", ephemeral=True
            )
            return
        offer = await self.bot.services.sharing.offer_transfer(
            viewer_from(interaction), character, member.id
        )
        view = discord.ui.View(timeout=None)
        view.add_item(TransferAnswer(True, offer.character.id, offer.from_id, offer.to_id))
        view.add_item(TransferAnswer(False, offer.character.id, offer.from_id, offer.to_id))
        # Posted in the channel so the receiver sees it; mentions in it never ping.
        await interaction.response.send_message(
            f"<@{offer.from_id}> offers **{safe(offer.character.name)}** "
            f"(`{offer.character.public_id}`) to <@{offer.to_id}>. Only <@{offer.to_id}> can "
            "accept; either of you can decline.",
            view=view,
            allowed_mentions=NO_MENTIONS,
        )

    async def _give(
        self, interaction: Interaction, character: str, member: discord.User, role: Role
    ) -> None:
        if member.bot:
            await interaction.response.send_message(
                "Characters can only be shared with members, not bots.", ephemeral=True
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        shared = await self.bot.services.sharing.share(
            viewer_from(interaction), character, member.id, role
        )
        what = "use" if role is Role.APPROVED else "use and edit"
        text = f"{member.mention} may now {what} **{safe(shared.character.name)}**."
        if shared.note:
            text += f" {shared.note}"
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def _after_unshare(
        self, interaction: Interaction, result: Unshared, member: discord.User, what: str
    ) -> None:
        name = safe(result.character.name)
        if result.had is None:
            text = f"{member.mention} wasn't on **{name}**'s list, so nothing changed."
        else:
            text = f"{member.mention} {what} **{name}**."
        if result.stopped:
            count = len(result.stopped)
            text += (
                f" Their {count} queued scene{'s' if count != 1 else ''} of {name} "
                f"{'were' if count != 1 else 'was'} stopped and refunded."
            )
            scenes = self.bot.get_cog("Scenes")
            for job in result.stopped:
                if scenes is not None:  # their scene cards say why
                    await scenes.delivery.show(job)  # type: ignore[attr-defined]
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @share.autocomplete("character")
    @unshare.autocomplete("character")
    @co_owner_add.autocomplete("character")
    @co_owner_remove.autocomplete("character")
    @transfer.autocomplete("character")
    async def _sharing_character_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await character_choices(self.characters, interaction, current)


class TransferAnswer(
    Guarded,
    discord.ui.DynamicItem[Button],
    template=r"cameo:transfer:(?P<answer>yes|no):(?P<character>-?[0-9]+):"
    r"(?P<giver>-?[0-9]+):(?P<receiver>-?[0-9]+)",
):
    """Accept or decline a character offered with `/character transfer`. The receiver alone
    accepts; either side declines. Accepting checks again that the giver still owns it."""

    def __init__(self, accept: bool, character_id: int, giver: int, receiver: int) -> None:
        answer = "yes" if accept else "no"
        super().__init__(
            discord.ui.Button(
                label="Accept" if accept else "Decline",
                style=discord.ButtonStyle.success if accept else discord.ButtonStyle.secondary,
                custom_id=f"cameo:transfer:{answer}:{character_id}:{giver}:{receiver}",
            )
        )
        self.accept = accept
        self.character_id = character_id
        self.giver = giver
        self.receiver = receiver

    @classmethod
    def parse(cls, match: re.Match[str], /) -> TransferAnswer:
        return cls(
            match["answer"] == "yes",
            custom_id_number(match["character"]),
            custom_id_number(match["giver"]),
            custom_id_number(match["receiver"]),
        )

    async def run(self, interaction: Interaction) -> None:
        clicker = interaction.user.id
        if clicker not in (self.giver, self.receiver) or (self.accept and clicker != self.receiver):
            await interaction.response.send_message(
                f"Only <@{self.receiver}> can accept this offer"
                + (" (or decline it)." if not self.accept else "."),
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        if not self.accept:
            who = "withdrawn" if clicker == self.giver else "declined"
            await interaction.response.edit_message(
                content=f"The offer was {who}; nothing changed.",
                view=None,
                allowed_mentions=NO_MENTIONS,
            )
            return
        client: CameoBot = interaction.client
        character = await client.services.sharing.accept_transfer(
            viewer_from(interaction), self.character_id, self.giver
        )
        client.dispatch("character_changed", character)
        await interaction.response.edit_message(
            content=f"**{safe(character.name)}** now belongs to <@{self.receiver}>.",
            view=None,
            allowed_mentions=NO_MENTIONS,
        )


DYNAMIC_ITEMS = (TransferAnswer,)
