"""What a story's cast card and recap look like. Pure functions of what the domain found."""

from __future__ import annotations

import discord

from bot.jobs.likeness import band
from bot.models import Character
from cogs.common import safe
from cogs.rendering import BRAND_COLOUR
from cogs.scenes._render import BAND_MARKS
from storage.likeness import LikenessSettings
from storage.stories import Story, StoryScene

DESCRIPTION_IN_CAST = 90
PROMPT_IN_RECAP = 110
SCENES_PER_SHEET = 12


def cast_embed(story: Story, cast: list[Character]) -> discord.Embed:
    embed = discord.Embed(title=f"📖 {safe(story.title)}"[:256], colour=BRAND_COLOUR)
    lines = []
    for number, character in enumerate(cast, start=1):
        about = " ".join(character.description.split())
        if len(about) > DESCRIPTION_IN_CAST:
            about = about[: DESCRIPTION_IN_CAST - 1] + "…"
        lines.append(
            f"**{number}** {safe(character.name)}" + (f" · {safe(about)}" if about else "")
        )
    embed.description = (
        "\n".join(lines) if lines else "No cast yet: bring characters in with /story cast add."
    )
    status = "closed" if story.closed else "open: use /scene here to add the next scene"
    embed.set_footer(text=f"The cast · the story is {status}")
    return embed


RecapSheet = tuple[discord.Embed, list[StoryScene]]
# Discord's limits for one message: 10 embeds, 6,000 characters across them.
EMBEDS_PER_MESSAGE = 10
EMBED_CHARACTERS_PER_MESSAGE = 6000


def recap_sheets(
    story: Story, scenes: list[StoryScene], bands: LikenessSettings | None = None
) -> list[RecapSheet]:
    """One embed per sheet of up to 12 scenes, listing its scenes' prompts by number (and,
    with the server's `bands`, each scored scene's likeness)."""
    sheets = []
    for start in range(0, len(scenes), SCENES_PER_SHEET):
        chunk = scenes[start : start + SCENES_PER_SHEET]
        lines = []
        for scene in chunk:
            prompt = " ".join((scene.job.options.prompt or "").split())
            if len(prompt) > PROMPT_IN_RECAP:
                prompt = prompt[: PROMPT_IN_RECAP - 1] + "…"
            likeness = ""
            if bands is not None and scene.likeness is not None:
                likeness = f" · {BAND_MARKS[band(scene.likeness, bands)]} {scene.likeness:.2f}"
            lines.append(
                f"**{scene.number}** {safe(scene.job.character_name)} · {safe(prompt)}{likeness}"
            )
        first, last = chunk[0].number, chunk[-1].number
        embed = discord.Embed(
            title=f"📖 {safe(story.title)}: scenes {first}–{last}"[:256],
            description="\n".join(lines)[:4096],
            colour=BRAND_COLOUR,
        )
        sheets.append((embed, chunk))
    return sheets


def recap_messages(sheets: list[RecapSheet]) -> list[list[RecapSheet]]:
    """The sheets grouped into messages Discord accepts (10 embeds, 6,000 characters)."""
    messages: list[list[RecapSheet]] = [[]]
    size = 0
    for sheet in sheets:
        length = len(sheet[0])
        full = len(messages[-1]) == EMBEDS_PER_MESSAGE
        if messages[-1] and (full or size + length > EMBED_CHARACTERS_PER_MESSAGE):
            messages.append([])
            size = 0
        messages[-1].append(sheet)
        size += length
    return messages
