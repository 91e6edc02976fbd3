"""`/help`: what Cameo does and the commands this member can use, read from the command tree.

The tree says which commands exist and who may use them (`default_permissions`). The one list
kept by hand is `SECTIONS`, which files each top-level command under what it is for. A command
missing from it is still shown, under "Other", and a test fails until someone files it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from cogs.common import NO_MENTIONS
from cogs.rendering import ABOUT, BRAND_COLOUR

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot

SlashCommand = app_commands.Command[Any, ..., Any] | app_commands.Group

OTHER = "Other"
STAFF = "Staff"

# Sections in the order /help shows them, each with its top-level commands in the order they are
# listed: a member's own commands first, staff commands last.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Characters", ("character",)),
    ("Scenes", ("scene", "poses", "show", "jobs", "prefs")),
    ("Galleries and stories", ("gallery", "story")),
    ("Credits", ("quota",)),
    ("Privacy", ("privacy",)),
    ("Help", ("help",)),
    (OTHER, ()),  # commands not filed above, so that none disappears from /help
    (STAFF, ("admin",)),
)
SECTION_OF: dict[str, str] = {name: section for section, names in SECTIONS for name in names}
_RANK: dict[str, int] = {name: rank for rank, name in enumerate(SECTION_OF)}

# Discord's limits for one embed, which is all one message may carry in total.
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
EMBED_TOTAL_MAX = 6000


@dataclass(frozen=True)
class HelpSection:
    """One group of commands: its name and one `/name — description` line per command."""

    name: str
    lines: tuple[str, ...]


def can_use(command: SlashCommand, permissions: discord.Permissions, *, in_guild: bool) -> bool:
    """Whether a member with these permissions, here, is offered this top-level command.

    Discord applies `default_permissions` only to top-level commands and hides the command from
    members without them. A server may grant it to others in its Integrations settings, which a
    bot cannot read; those commands check permissions again, so /help follows the default.
    """
    if not in_guild:
        contexts = command.allowed_contexts
        in_dms = contexts.dm_channel if contexts is not None else not command.guild_only
        if not in_dms:
            return False
    needed = command.default_permissions
    if needed is None or permissions.administrator:
        return True
    # Discord reads a default of no permissions at all as "administrators only".
    return needed.value != 0 and permissions.is_superset(needed)


def command_lines(command: SlashCommand) -> list[str]:
    """One line per invocable command, subcommands in the order their cog defines them."""
    if isinstance(command, app_commands.Group):
        return [line for sub in command.commands for line in command_lines(sub)]
    # Discord caps names at 32 characters a level and descriptions at 100, so a line always fits
    # in one field.
    return [f"`/{command.qualified_name}` — {command.description}"]


def help_sections(
    tree_commands: Iterable[SlashCommand], permissions: discord.Permissions, *, in_guild: bool
) -> list[HelpSection]:
    """The commands this member can use, grouped into sections in `SECTIONS` order."""
    filed: dict[str, list[SlashCommand]] = {}
    for command in tree_commands:
        if can_use(command, permissions, in_guild=in_guild):
            filed.setdefault(SECTION_OF.get(command.name, OTHER), []).append(command)
    sections: list[HelpSection] = []
    for name, _ in SECTIONS:
        ordered = sorted(filed.get(name, []), key=lambda c: (_RANK.get(c.name, len(_RANK)), c.name))
        lines = tuple(line for command in ordered for line in command_lines(command))
        if lines:
            sections.append(HelpSection(name, lines))
    return sections


def section_fields(section: HelpSection) -> list[tuple[str, str]]:
    """The section as (name, value) fields, split at line boundaries only where one overflows."""
    values: list[list[str]] = [[]]
    size = 0
    for line in section.lines:
        current = values[-1]
        added = len(line) + (1 if current else 0)  # the newline joining it to the line before
        if current and size + added > FIELD_VALUE_MAX:
            values.append([])
            size, added = 0, len(line)
        values[-1].append(line)
        size += added
    return [
        (section.name if index == 0 else f"{section.name} (continued)", "\n".join(lines))
        for index, lines in enumerate(values)
        if lines
    ]


def help_embeds(sections: Sequence[HelpSection]) -> list[discord.Embed]:
    """Cameo's introduction and one field per section, in as many embeds as Discord's limits need.

    Each embed goes out as a message of its own: 6000 characters is the limit for a message's
    embeds together, so a second embed in the same message would gain nothing.
    """
    embeds = [discord.Embed(title="Cameo", description=ABOUT, colour=BRAND_COLOUR)]
    for section in sections:
        for name, value in section_fields(section):
            embed = embeds[-1]
            if (
                len(embed.fields) == FIELDS_MAX
                or len(embed) + len(name) + len(value) > EMBED_TOTAL_MAX
            ):
                embed = discord.Embed(colour=BRAND_COLOUR)
                embeds.append(embed)
            embed.add_field(name=name, value=value, inline=False)
    return embeds


class Help(commands.Cog):
    def __init__(self, bot: CameoBot) -> None:
        self.bot = bot

    @app_commands.command(name="help")
    async def help(self, interaction: discord.Interaction[CameoBot]) -> None:
        """See what Cameo does and every command you can use."""
        in_guild = interaction.guild_id is not None
        # Outside a server nobody holds permissions, so commands that need them stay hidden.
        permissions = interaction.permissions if in_guild else discord.Permissions.none()
        tree_commands = self.bot.tree.get_commands(type=discord.AppCommandType.chat_input)
        first, *more = help_embeds(help_sections(tree_commands, permissions, in_guild=in_guild))
        await interaction.response.send_message(
            embed=first, ephemeral=True, allowed_mentions=NO_MENTIONS
        )
        for embed in more:
            await interaction.followup.send(
                embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
            )


async def setup(bot: CameoBot) -> None:
    await bot.add_cog(Help(bot))
