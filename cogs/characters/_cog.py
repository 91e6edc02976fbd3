"""`/character …`: thin adapters from slash commands to the character service."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.characters.consent import NoFaceInPhoto
from bot.characters.text import DESCRIPTION_MAX, NAME_MAX
from bot.client.interaction_errors import defer_publicly
from bot.images.processing import MAX_REFERENCE_BYTES, check_declared_size
from bot.models import Character, Visibility
from bot.prefs.preset import Preset
from cogs.characters._looks import LookCommands
from cogs.characters._render import character_card, import_summary
from cogs.characters._shared import CharacterCards, character_choices, read_attachment
from cogs.characters._sharing import SharingCommands
from cogs.characters._views import ListPager
from cogs.choices import ASPECT_CHOICES, MagicChoice, SpeedChoice, StyleChoice
from cogs.common import (
    NO_MENTIONS,
    UPLOAD_MARGIN,
    ConfirmView,
    message_batches,
    safe,
    viewer_from,
)
from cogs.consent import go_ahead_after, with_consent
from cogs.reports._buttons import Report

if TYPE_CHECKING:
    from bot.characters.service import CharacterService
    from bot.client.cameo_bot import CameoBot

Interaction = discord.Interaction["CameoBot"]
VisibilityChoice = Literal["server", "approved", "private"]

# Exports are split to fit one upload, so an import file is never larger than this.
MAX_IMPORT_BYTES = 25 * 1024 * 1024
IMPORT_WHAT = "Import files"


class CharacterCommands(CharacterCards):
    """Registering, finding, changing, deleting, exporting and importing characters."""

    def __init__(self, bot: CameoBot) -> None:
        self.bot = bot
        self.characters: CharacterService = bot.services.characters

    async def character_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await character_choices(self.characters, interaction, current)

    @app_commands.command(name="create")
    @app_commands.describe(
        name="What to call the character (1–32 characters)",
        image="One clear picture of the character: PNG, JPEG or WebP, up to 10 MiB",
        description="Who they are; shown on their card (up to 1000 characters)",
        visibility="Who can use them: everyone here (default), members you approve, or only you",
        listed="For approved characters: whether everyone here still sees them (default yes)",
    )
    async def create(
        self,
        interaction: Interaction,
        name: app_commands.Range[str, 1, NAME_MAX],
        image: discord.Attachment,
        description: app_commands.Range[str, 1, DESCRIPTION_MAX] | None = None,
        visibility: VisibilityChoice = "server",
        listed: bool | None = None,
    ) -> None:
        """Register a character from one picture, to use in scenes."""
        check_declared_size(image.size, MAX_REFERENCE_BYTES)
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await read_attachment(image, MAX_REFERENCE_BYTES)

        async def register(warn_no_face: bool) -> Character | None:
            return await with_consent(
                interaction,
                lambda consent: self.characters.create(
                    viewer_from(interaction),
                    name=name,
                    image=data,
                    description=description,
                    visibility=Visibility(visibility),
                    listed=listed,
                    consent=consent,
                    warn_no_face=warn_no_face,
                ),
            )

        try:
            character = await register(warn_no_face=True)
        except NoFaceInPhoto as warning:
            if not await go_ahead_after(interaction, warning.message, "Register anyway"):
                return
            character = await register(warn_no_face=False)
        if character is None:
            return
        registered = (
            f"**{safe(character.name)}** is registered. It waits for a moderator's approval "
            "before anyone can use it (a photograph of a real person); you'll see it as usable "
            "once they have."
            if character.awaiting_approval
            else f"**{safe(character.name)}** is registered. Share the card with `/character show`."
        )
        await interaction.followup.send(
            registered,
            embed=character_card(character, for_owner=True),
            file=await self.card_file(character),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="list")
    @app_commands.describe(member="Only this member's characters (that you can see)")
    async def list_(self, interaction: Interaction, member: discord.User | None = None) -> None:
        """List the characters you can see here, or one member's."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        viewer = viewer_from(interaction)
        found = await self.characters.list_visible(viewer, member.id if member else None)
        if not found:
            whose = "that member has no characters you can see" if member else "no characters yet"
            await interaction.followup.send(
                f"There are {whose}. Register one with `/character create`.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        heading = (
            f"{safe(member.display_name)}'s characters" if member else "Characters you can see here"
        )
        pager = ListPager(viewer.user_id, found, heading)
        pager.message = await interaction.followup.send(
            embed=pager.embed,
            view=pager if pager.pages > 1 else discord.utils.MISSING,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
            wait=True,
        )

    @app_commands.command(name="show")
    @app_commands.describe(character="The character to show")
    async def show(self, interaction: Interaction, character: str) -> None:
        """Show a character's card: picture, looks, description, owner and scene count."""
        viewer = viewer_from(interaction)
        found = await self.characters.resolve(viewer, character)
        # An unlisted or personal character is shown only privately, never posted publicly.
        private = not found.listed or found.is_personal
        if private:
            await interaction.response.defer(ephemeral=True, thinking=True)
        else:
            await defer_publicly(interaction)
        # Who it is shared with is for its owner and co-owners, never on a public card.
        embeds, files = await self.card(
            found, viewer, interaction.filesize_limit - UPLOAD_MARGIN, public=not private
        )
        # On a card the server sees, any member can report the character to the moderators.
        report = discord.ui.View(timeout=None).add_item(Report("c", found.id))
        await interaction.followup.send(
            embeds=embeds,
            files=files,
            ephemeral=private,
            view=discord.utils.MISSING if private else report,
            allowed_mentions=NO_MENTIONS,
        )
        if not private and found.owner_id == viewer.user_id and found.others_scene_count:
            await interaction.followup.send(
                f"Members have made {found.others_scene_count} of {found.scene_count} scenes "
                f"of **{safe(found.name)}** (only you see this).",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )

    @app_commands.command(name="edit")
    @app_commands.describe(
        character="The character to change (yours)",
        name="A new name",
        description="A new description",
        visibility="Who can use them (owner only)",
        listed="For approved characters: whether everyone here still sees them (owner only)",
        image="A new picture for their default look",
        default_style="Scenes of them use this style unless asked otherwise",
        default_aspect_ratio="Scenes of them use this shape unless asked otherwise",
        default_speed="Scenes of them use this speed unless asked otherwise",
        default_magic_prompt="Scenes of them use this magic prompt setting unless asked otherwise",
        default_negative_prompt="Scenes of them avoid this unless asked otherwise",
        clear_defaults="Forget their default scene settings (before setting any given here)",
    )
    @app_commands.choices(default_aspect_ratio=ASPECT_CHOICES)
    async def edit(
        self,
        interaction: Interaction,
        character: str,
        name: app_commands.Range[str, 1, NAME_MAX] | None = None,
        description: app_commands.Range[str, 1, DESCRIPTION_MAX] | None = None,
        visibility: VisibilityChoice | None = None,
        listed: bool | None = None,
        image: discord.Attachment | None = None,
        default_style: StyleChoice | None = None,
        default_aspect_ratio: str | None = None,
        default_speed: SpeedChoice | None = None,
        default_magic_prompt: MagicChoice | None = None,
        default_negative_prompt: app_commands.Range[str, 1, 1000] | None = None,
        clear_defaults: bool = False,
    ) -> None:
        """Change your character: name, description, who may use them, picture, defaults."""
        if image is not None:
            check_declared_size(image.size, MAX_REFERENCE_BYTES)
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await read_attachment(image, MAX_REFERENCE_BYTES) if image is not None else None
        wanted = {
            "style": default_style,
            "aspect_ratio": default_aspect_ratio,
            "speed": default_speed,
            "magic_prompt": default_magic_prompt,
            "negative_prompt": default_negative_prompt,
        }
        chosen = {setting: value for setting, value in wanted.items() if value is not None}
        viewer = viewer_from(interaction)
        updated = await with_consent(
            interaction,
            lambda consent: self.characters.edit(
                viewer,
                character,
                name=name,
                description=description,
                visibility=Visibility(visibility) if visibility else None,
                listed=listed,
                image=data,
                defaults=Preset.checked(chosen) if chosen else None,
                clear_defaults=clear_defaults,
                consent=consent,
            ),
        )
        if updated is None:
            return
        # The showcase keeps its post's card current (or takes it down, if now private).
        self.bot.dispatch("character_changed", updated)
        embeds, files = await self.card(updated, viewer, interaction.filesize_limit - UPLOAD_MARGIN)
        await interaction.followup.send(
            f"**{safe(updated.name)}** is updated.",
            embeds=embeds,
            files=files,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="delete")
    @app_commands.describe(character="The character to delete")
    async def delete(self, interaction: Interaction, character: str) -> None:
        """Delete a character (yours, or any in this server if you can Manage Server)."""
        viewer = viewer_from(interaction)
        found = await self.characters.resolve(viewer, character)
        self.characters.check_can_delete(viewer, found)

        async def confirmed(button_interaction: discord.Interaction[CameoBot]) -> str:
            deleted = await self.characters.delete(viewer_from(button_interaction), found.id)
            self.bot.dispatch("pictures_removed")  # its showcase post goes too
            return f"Deleted **{safe(deleted.name)}**."

        view = ConfirmView(
            viewer.user_id,
            confirm_label=f"Delete {found.name}",
            on_confirm=confirmed,
            cancelled_text=f"Kept **{safe(found.name)}**.",
        )
        response = await interaction.response.send_message(
            f"Delete **{safe(found.name)}** (`{found.public_id}`, owned by <@{found.owner_id}>)? "
            "Their picture and card go for good.",
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        if isinstance(response.resource, discord.InteractionMessage):
            view.message = response.resource

    @app_commands.command(name="export")
    async def export(self, interaction: Interaction) -> None:
        """Download all your characters and their pictures as a file you can import later."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        parts = await self.characters.export(
            interaction.user.id, part_limit=interaction.filesize_limit - UPLOAD_MARGIN
        )
        sizes = [len(part) for part in parts]
        names = (
            ["cameo-characters.zip"]
            if len(parts) == 1
            else [f"cameo-characters-{i}-of-{len(parts)}.zip" for i in range(1, len(parts) + 1)]
        )
        files = [
            discord.File(io.BytesIO(part), name) for part, name in zip(parts, names, strict=True)
        ]
        intro = (
            "Here are your characters. Keep the file: `/character import` brings them back."
            if len(files) == 1
            else f"Here are your characters in {len(files)} files; import each one to restore them."
        )
        for index, batch in enumerate(message_batches(files, sizes)):
            await interaction.followup.send(
                intro if index == 0 else "More of your characters:", files=batch, ephemeral=True
            )

    @app_commands.command(name="import")
    @app_commands.describe(
        file="A .zip made by /character export, or a PluralKit or Tupperbox export (.json)"
    )
    async def import_(self, interaction: Interaction, file: discord.Attachment) -> None:
        """Bring back characters from /character export, PluralKit or Tupperbox."""
        check_declared_size(file.size, MAX_IMPORT_BYTES, what=IMPORT_WHAT)
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await read_attachment(file, MAX_IMPORT_BYTES)
        report = await self.characters.import_file(viewer_from(interaction), data)
        await interaction.followup.send(
            import_summary(report), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @show.autocomplete("character")
    @edit.autocomplete("character")
    @delete.autocomplete("character")
    async def _character_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.character_autocomplete(interaction, current)


class Characters(
    SharingCommands,
    LookCommands,
    CharacterCommands,
    commands.GroupCog,
    group_name="character",
    group_description="Register and manage characters",
):
    """`/character`. discord.py lists a cog's commands base class first, so the registry's
    own come first in Discord and /help, then looks, then sharing."""
