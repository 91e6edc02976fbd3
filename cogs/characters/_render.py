"""Embeds and labels for characters; pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.characters.service import ImportReport
from bot.models import Character, Look, Role, Suggestion, Visibility
from bot.prefs.preset import Preset
from cogs.common import safe
from cogs.rendering import BRAND_COLOUR

CARD_IMAGE_NAME = "reference.jpg"
LOOKS_IMAGE_STEM = "looks"
PAGE_SIZE = 15
# Discord shows at most this many characters in an embed field.
FIELD_LIMIT = 1024
_SETTING_NAMES = {
    "style": "style",
    "aspect_ratio": "aspect ratio",
    "speed": "speed",
    "magic_prompt": "magic prompt",
    "negative_prompt": "negative prompt",
}


def visibility_text(character: Character) -> str:
    if character.is_personal:
        return "Personal (only you, from DMs)"
    if character.visibility is Visibility.PRIVATE:
        return "Private (only the owner)"
    if character.visibility is Visibility.APPROVED:
        if character.listed:
            return "Everyone sees; approved members use"
        return "Approved members only"
    return "Everyone in this server"


def preset_text(preset: Preset) -> str:
    """A preset's settings in words, e.g. "style realistic · aspect ratio 16:9"."""
    parts = [
        f"{_SETTING_NAMES[name]} {safe(str(value))}" for name, value in preset.settings().items()
    ]
    return " · ".join(parts)[:FIELD_LIMIT] if parts else "none"


def character_card(
    character: Character,
    *,
    looks: Sequence[Look] = (),
    members: Sequence[tuple[int, Role]] = (),
    for_owner: bool = False,
) -> discord.Embed:
    """The card: the reference image, name, description, owner, scene count and short id;
    its looks when it has several; for its owner, how many scenes other members made and
    who it is shared with."""
    embed = discord.Embed(
        title=safe(character.name),
        description=safe(character.description) if character.description else None,
        colour=BRAND_COLOUR,
    )
    embed.set_image(url=f"attachment://{CARD_IMAGE_NAME}")
    embed.add_field(name="Owner", value=f"<@{character.owner_id}>", inline=True)
    embed.add_field(name="Visible to", value=visibility_text(character), inline=True)
    scenes = str(character.scene_count)
    if for_owner and character.others_scene_count:
        scenes += f" ({character.others_scene_count} by other members)"
    embed.add_field(name="Scenes", value=scenes, inline=True)
    if len(looks) > 1:
        names = [f"**{safe(look.name)}**" if look.is_default else safe(look.name) for look in looks]
        embed.add_field(
            name=f"Looks ({len(looks)})",
            value=(", ".join(names) + " (default in bold)")[:FIELD_LIMIT],
            inline=False,
        )
    if not character.defaults.is_empty:
        embed.add_field(
            name="Default scene settings", value=preset_text(character.defaults), inline=False
        )
    if members:
        roles = {Role.CO_OWNER: "co-owner", Role.APPROVED: "approved"}
        lines = [f"<@{user_id}> ({roles[role]})" for user_id, role in members]
        embed.add_field(name="Shared with", value=", ".join(lines)[:FIELD_LIMIT], inline=False)
    embed.set_footer(text=f"ID {character.public_id}")
    return embed


def looks_embed(filename: str) -> discord.Embed:
    """A second embed under a card: the character's looks as a contact sheet."""
    embed = discord.Embed(colour=BRAND_COLOUR)
    embed.set_image(url=f"attachment://{filename}")
    return embed


def choice_label(character: Suggestion, viewer_id: int, owner_name: str | None) -> str:
    """The autocomplete label: name, short id and whose it is (Discord caps labels at 100).

    The id tells apart same-named characters: without the members intent Cameo rarely knows
    other owners' names.
    """
    if character.owner_id == viewer_id:
        if character.is_personal:
            whose = "personal"
        elif character.visibility is Visibility.PRIVATE:
            whose = "yours, private"
        elif character.visibility is Visibility.APPROVED:
            whose = "yours, approved only"
        else:
            whose = "yours"
    else:
        whose = f"by {owner_name}" if owner_name else "shared"
    suffix = f" · {character.public_id} ({whose})"
    return character.name[: 100 - len(suffix)] + suffix


def list_page(
    characters: Sequence[Character], page: int, heading: str
) -> tuple[discord.Embed, int]:
    """Return one page of a character list and the number of pages."""
    pages = max(1, -(-len(characters) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = characters[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    lines = [
        f"**{safe(c.name)}** · `{c.public_id}` · {visibility_text(c)} · <@{c.owner_id}>"
        for c in shown
    ]
    embed = discord.Embed(title=heading, description="\n".join(lines), colour=BRAND_COLOUR)
    if pages > 1:
        embed.set_footer(text=f"Page {page + 1} of {pages} · {len(characters)} characters")
    return embed, pages


MESSAGE_LIMIT = 2000
SKIPPED_SHOWN = 10
# Room kept for the skipped lines: a big import must not push the reasons out of the message.
_IMPORTED_NAMES_BUDGET = 700


def import_summary(report: ImportReport) -> str:
    """Say what was imported, and what was skipped and why, in one message."""
    lines = [_imported_line(report.imported)]
    if report.source != "Cameo export":
        lines[0] = f"From your {report.source} export: {lines[0]}"
    used = len(lines[0])
    # What changed on the way in (a shortened description): useful, but never at the cost of
    # the reasons things were skipped, so it gets at most a quarter of the message.
    for name, note in report.notes[:SKIPPED_SHOWN]:
        line = f"• **{safe(name)}**: {safe(note)}"
        if used + 1 + len(line) > MESSAGE_LIMIT // 4:
            break
        lines.append(line)
        used += 1 + len(line)
    shown = 0
    for name, reason in report.skipped[:SKIPPED_SHOWN]:
        line = f"• Skipped **{safe(name)}**: {reason}"
        if used + 1 + len(line) > MESSAGE_LIMIT - 40:  # 40: room for the "…and N more" line
            break
        lines.append(line)
        used += 1 + len(line)
        shown += 1
    if len(report.skipped) > shown:
        lines.append(f"…and {len(report.skipped) - shown} more skipped.")
    return "\n".join(lines)


def _imported_line(imported: Sequence[Character]) -> str:
    if not imported:
        return "Nothing was imported."
    names: list[str] = []
    used = 0
    for character in imported:
        name = f"**{safe(character.name)}**"
        if names and used + len(name) > _IMPORTED_NAMES_BUDGET:
            break
        names.append(name)
        used += len(name) + 2
    more = len(imported) - len(names)
    listed = ", ".join(names) + (f" and {more} more" if more else "")
    return f"Imported {len(imported)}: {listed}."
