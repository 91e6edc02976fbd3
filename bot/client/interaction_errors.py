"""How any failure inside an interaction is shown to the user and recorded for operators."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.client.acknowledge import defer_thinking
from bot.errors import CameoError, new_error_id

log = logging.getLogger(__name__)

SHUTTING_DOWN_TEXT = "Cameo is restarting right now. Try again in a minute; nothing was charged."


# Discord's error code when an interaction was not answered within 3 seconds (or is unknown).
UNKNOWN_INTERACTION = 10062


def expired(error: BaseException) -> bool:
    """Whether Discord refused an answer because the interaction's 3 seconds had passed."""
    return isinstance(error, discord.NotFound) and error.code == UNKNOWN_INTERACTION


def unwrap(error: BaseException) -> BaseException:
    """Return the exception a command actually raised, without discord.py's wrappers."""
    while isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    return error


def _permission_names(names: list[str]) -> str:
    return ", ".join(name.replace("_", " ").title() for name in names)


def describe_check_failure(error: app_commands.AppCommandError) -> str | None:  # noqa: PLR0911 (a case per failure)
    """Return friendly text for discord.py's own expected failures, or None if not one."""
    match error:
        case app_commands.NoPrivateMessage():
            return "That command only works inside a server."
        case app_commands.MissingPermissions(missing_permissions=missing):
            return f"You need the {_permission_names(missing)} permission to do that."
        case app_commands.BotMissingPermissions(missing_permissions=missing):
            return f"I need the {_permission_names(missing)} permission in this channel to do that."
        case app_commands.CommandOnCooldown(retry_after=wait):
            return f"Slow down a little: try again in {wait:.0f} seconds."
        case app_commands.TransformerError():
            return "I couldn't understand one of the options; check it and try again."
        case app_commands.CheckFailure():
            return "You can't use that here."
        case _:
            return None


async def report_error(
    interaction: discord.Interaction[discord.Client], error: BaseException
) -> None:
    """Tell the user what went wrong, privately; log anything unexpected with an error id."""
    original = unwrap(error)
    if expired(original):
        # Nobody can be told (the token is gone with the interaction), and when a crowd
        # outruns the bot a traceback and a second doomed request for each one would only
        # make the next answers later still.
        log.warning("Interaction %s expired before Cameo could answer it", interaction.id)
        return
    if isinstance(original, CameoError):
        text = original.message
    elif isinstance(original, app_commands.AppCommandError) and (
        friendly := describe_check_failure(original)
    ):
        text = friendly
    else:
        error_id = new_error_id()
        command = interaction.command.qualified_name if interaction.command else "component"
        log.error(
            "Unexpected error %s in %s (guild %s, user %s)",
            error_id,
            command,
            interaction.guild_id,
            interaction.user.id,
            exc_info=original,
        )
        text = (
            "Something went wrong on my side and nothing was charged. If it keeps happening, "
            f"give this error id to the server staff: `{error_id}`."
        )
    await send_private(interaction, text)


PUBLIC_DEFERRAL = "cameo.public_deferral"


async def defer_publicly(interaction: discord.Interaction[discord.Client]) -> None:
    """Defer with a public "thinking…" message, remembering it so errors stay private.

    The first follow-up after a deferral edits that message and keeps its visibility, so an error
    sent then would be public; `send_private` deletes the public "thinking" message first.
    """
    interaction.extras[PUBLIC_DEFERRAL] = True
    await defer_thinking(interaction)


async def send_private(interaction: discord.Interaction[discord.Client], text: str) -> None:
    """Send an ephemeral message whether or not the interaction was already acknowledged."""
    try:
        if interaction.response.is_done():
            if interaction.extras.pop(PUBLIC_DEFERRAL, False):
                await interaction.delete_original_response()
            await interaction.followup.send(
                text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
        else:
            await interaction.response.send_message(
                text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
    except discord.HTTPException:
        # The token may have expired or the user left; there is no one left to tell.
        log.warning("Could not deliver an error message for interaction %s", interaction.id)
