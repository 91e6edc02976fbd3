"""What gallery pages and opened pictures look like. Pure functions of what the domain found."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import discord

from bot.gallery.service import GalleryPage
from bot.models import Character, Picture
from cogs.common import safe
from cogs.rendering import BRAND_COLOUR

PROMPT_IN_LIST = 60  # characters of a prompt shown per line of a page's list
PROMPT_IN_PICTURE = 1000
DisplayName = Callable[[int], str]


def sheet_name(image_format: str) -> str:
    return f"gallery.{'jpg' if image_format == 'jpeg' else image_format}"


def character_caption(character: Character, name_of: DisplayName) -> str:
    return f"{character.name}\nby {name_of(character.owner_id)}"


def picture_caption(picture: Picture, name_of: DisplayName) -> str:
    return f"{picture.job.character_name}\nby {name_of(picture.job.user_id)}"


def _prompt(picture: Picture, limit: int) -> str:
    prompt = " ".join((picture.job.options.prompt or "").split())
    return prompt if len(prompt) <= limit else prompt[: limit - 1] + "…"


def character_page_embed(
    page: GalleryPage[Character], heading: str, order_label: str, name_of: DisplayName
) -> discord.Embed:
    lines = [
        f"**{number}** {safe(character.name)} · by {safe(name_of(character.owner_id))}"
        for number, character in enumerate(page.entries, start=1)
    ]
    return _page_embed(heading, lines, page.number, f"sorted by {order_label}")


def picture_page_embed(
    page: GalleryPage[Picture], heading: str, name_of: DisplayName
) -> discord.Embed:
    lines = []
    for number, picture in enumerate(page.entries, start=1):
        prompt = _prompt(picture, PROMPT_IN_LIST)
        said = f" · “{safe(prompt)}”" if prompt else ""
        lines.append(
            f"**{number}** {safe(picture.job.character_name)}{said}"
            f" · by {safe(name_of(picture.job.user_id))}"
        )
    return _page_embed(heading, lines, page.number, "newest first")


def _page_embed(heading: str, lines: Sequence[str], number: int, order: str) -> discord.Embed:
    embed = discord.Embed(title=heading[:256], colour=BRAND_COLOUR)
    if lines:
        embed.description = "\n".join(lines)
        embed.set_footer(text=f"Page {number} · {order} · pick a number below to open it")
    else:
        embed.description = "Nothing here yet." if number == 1 else "No more here."
    return embed


def picture_embed(
    picture: Picture, file_name: str, name_of: DisplayName, where: str | None
) -> discord.Embed:
    """One picture, full size, with how it was made."""
    job = picture.job
    embed = discord.Embed(title=safe(job.character_name)[:256], colour=BRAND_COLOUR)
    prompt = _prompt(picture, PROMPT_IN_PICTURE)
    if prompt:
        embed.description = safe(prompt)
    embed.set_image(url=f"attachment://{file_name}")
    embed.add_field(name="Asked for by", value=f"<@{job.user_id}>")  # embeds never ping
    embed.add_field(name="Picture", value=f"{picture.position + 1} of job {job.id}")
    if job.seed is not None:
        embed.add_field(name="Seed", value=str(job.seed))
    if where is not None:
        embed.add_field(name="Thread", value=where)
    embed.set_footer(text=f"by {name_of(job.user_id)}")
    return embed
