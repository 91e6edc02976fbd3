"""What a story's cast card and recap look like. Pure functions of what the domain found."""

from __future__ import annotations

import discord

from bot.models import Character
from cogs.common import safe
from cogs.rendering import BRAND_COLOUR
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


def recap_embeds(story: Story, scenes: list[StoryScene]) -> list[discord.Embed]:
    """One embed per sheet of up to 12 scenes, each listing its scenes' prompts by number."""
    embeds = []
    for start in range(0, len(scenes), SCENES_PER_SHEET):
        chunk = scenes[start : start + SCENES_PER_SHEET]
        lines = []
        for scene in chunk:
            prompt = " ".join((scene.job.options.prompt or "").split())
            if len(prompt) > PROMPT_IN_RECAP:
                prompt = prompt[: PROMPT_IN_RECAP - 1] + "…"
            lines.append(f"**{scene.number}** {safe(scene.job.character_name)} · {safe(prompt)}")
        first, last = chunk[0].number, chunk[-1].number
        embed = discord.Embed(
            title=f"📖 {safe(story.title)}: scenes {first}–{last}"[:256],
            description="\n".join(lines)[:4096],
            colour=BRAND_COLOUR,
        )
        embeds.append(embed)
    return embeds
