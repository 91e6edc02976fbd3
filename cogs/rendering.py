"""Small pure functions that turn Cameo's data into embeds; no I/O here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import discord
from discord import app_commands

BRAND_COLOUR = discord.Colour(0x7C5CFF)

ABOUT = (
    "Cameo keeps a character consistent across every picture. Register a character once from "
    "one image, then ask for scenes of them: the pictures land in a thread, ready to reroll, "
    "favourite or reuse."
)

AnyAppCommand = app_commands.Command[Any, ..., Any] | app_commands.Group | app_commands.ContextMenu

# Discord caps an embed field's value at 1024 characters and an embed at 25 fields.
FIELD_LIMIT = 1024


def command_lines(
    commands: Iterable[AnyAppCommand],
) -> list[str]:
    """Return one `/name — description` line per invocable slash command, subcommands included."""
    lines: list[str] = []
    for command in sorted(commands, key=lambda c: c.name):
        if isinstance(command, app_commands.Group):
            lines.extend(command_lines(command.commands))
        elif isinstance(command, app_commands.Command):
            lines.append(f"`/{command.qualified_name}` — {command.description}")
    return lines


def _chunks(lines: Sequence[str], limit: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit and current:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks


def help_embed(
    commands: Iterable[AnyAppCommand],
) -> discord.Embed:
    embed = discord.Embed(title="Cameo", description=ABOUT, colour=BRAND_COLOUR)
    for index, chunk in enumerate(_chunks(command_lines(commands), FIELD_LIMIT)):
        embed.add_field(
            name="Commands" if index == 0 else "More commands", value=chunk, inline=False
        )
    return embed
