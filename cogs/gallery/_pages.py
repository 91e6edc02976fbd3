"""Gallery pages on Discord: the page message (a contact sheet, a numbered list, ◀ ▶ and a menu
to open one entry) and the buttons and menu that turn and open pages.

Each button's custom id holds the whole query and where its page starts, so paging works after
a restart; every click asks the domain again, as the member who clicked, so a character made
private or a picture deleted since is gone from the next page.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

import discord

from bot.client.scene_cards import SceneCards
from bot.gallery.service import (
    CharacterQuery,
    LikenessBand,
    PageCursor,
    PictureQuery,
    SheetTile,
)
from bot.models import Character, Picture, Viewer
from cogs.characters._render import CARD_IMAGE_NAME, character_card
from cogs.common import NO_MENTIONS, UPLOAD_MARGIN, custom_id_number, viewer_from
from cogs.gallery._render import (
    character_caption,
    character_page_embed,
    picture_caption,
    picture_embed,
    picture_page_embed,
    sheet_name,
)
from cogs.guarded import Guarded

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot

Interaction = discord.Interaction[Any]
Button = discord.ui.Button[Any]
Select = discord.ui.Select[Any]

ORDERS: dict[str, tuple[str, str]] = {  # code in a custom id -> (order, how it is shown)
    "n": ("newest", "newest"),
    "s": ("scenes", "most scenes"),
    "a": ("name", "name"),
}
ORDER_CODES = {order: code for code, (order, _) in ORDERS.items()}
# A contact sheet is a preview: kept well under any channel's upload limit.
# A likeness band's code in a custom id: its first letter.
BANDS: dict[str, LikenessBand] = {"s": "strong", "l": "likely", "w": "weak"}
SHEET_LIMIT = 4 * 1024 * 1024
PAGE_MAX = 999_999


@dataclass(frozen=True)
class PageMessage:
    embed: discord.Embed
    file: discord.File | None
    view: discord.ui.View


def _name_of(interaction: Interaction) -> Any:
    guild = interaction.guild

    def name(user_id: int) -> str:
        member = guild.get_member(user_id) if guild is not None else None
        return member.display_name if member is not None else "a member"

    return name


def _sheet_limit(interaction: Interaction) -> int:
    return max(64 * 1024, min(SHEET_LIMIT, interaction.filesize_limit - UPLOAD_MARGIN))


# -- characters ---------------------------------------------------------------------------------


async def character_page(
    interaction: Interaction, query: CharacterQuery, cursor: PageCursor | None
) -> PageMessage:
    bot: CameoBot = interaction.client
    viewer = viewer_from(interaction)
    page = await bot.services.gallery.character_page(viewer, query, cursor)
    name_of = _name_of(interaction)
    heading = (
        "Characters" if query.member_id is None else f"{name_of(query.member_id)}'s characters"
    )
    embed = character_page_embed(page, heading, ORDERS[ORDER_CODES[query.order]][1], name_of)
    tiles = [
        SheetTile(c.image_sha256, c.image_format, character_caption(c, name_of))
        for c in page.entries
    ]
    file = await _sheet(interaction, embed, tiles)
    view = discord.ui.View(timeout=None)
    code = f"{ORDER_CODES[query.order]}:{query.member_id or 0}"
    if page.entries:
        first, last = page.entries[0], page.entries[-1]
        view.add_item(
            CharacterPageButton(
                f"{code}:b:{first.id}:{page.number - 1}", "◀", not page.has_previous
            )
        )
        view.add_item(
            CharacterPageButton(f"{code}:a:{last.id}:{page.number + 1}", "▶", not page.has_next)
        )
        view.add_item(
            OpenEntry(
                "c",
                [
                    discord.SelectOption(
                        label=f"{number} · {character.name}"[:100],
                        value=character.public_id,
                        description=f"by {name_of(character.owner_id)}"[:100],
                    )
                    for number, character in enumerate(page.entries, start=1)
                ],
            )
        )
    elif cursor is not None:
        # Paged past the end (or everything after it was deleted): a way back to the start.
        view.add_item(CharacterPageButton(f"{code}:f:0:1", "⏮ First page"))
    return PageMessage(embed, file, view)


# -- pictures -----------------------------------------------------------------------------------


async def picture_page(
    interaction: Interaction,
    query: PictureQuery,
    character: Character | None,
    cursor: PageCursor | None,
) -> PageMessage:
    bot: CameoBot = interaction.client
    viewer = viewer_from(interaction)
    page = await bot.services.gallery.picture_page(viewer, query, cursor)
    name_of = _name_of(interaction)
    embed = picture_page_embed(page, _picture_heading(query, character, name_of), name_of)
    tiles = [
        SheetTile(p.image_sha256, p.image_format, picture_caption(p, name_of)) for p in page.entries
    ]
    file = await _sheet(interaction, embed, tiles)
    view = discord.ui.View(timeout=None)
    code = (
        f"{character.public_id if character else '-'}:{query.member_id or 0}:{int(query.favorites)}"
    )
    # The likeness band goes last and is optional, so buttons posted before it still turn.
    band = f":{query.likeness[0]}" if query.likeness else ""
    if page.entries:
        first, last = page.entries[0], page.entries[-1]
        view.add_item(
            PicturePageButton(
                f"{code}:b:{first.job.id}:{first.position}:{page.number - 1}{band}",
                "◀",
                not page.has_previous,
            )
        )
        view.add_item(
            PicturePageButton(
                f"{code}:a:{last.job.id}:{last.position}:{page.number + 1}{band}",
                "▶",
                not page.has_next,
            )
        )
        view.add_item(
            OpenEntry(
                "p",
                [
                    discord.SelectOption(
                        label=f"{number} · {picture.job.character_name}"[:100],
                        value=f"{picture.job.id}:{picture.position}",
                        description=(picture.job.options.prompt or "")[:100] or None,
                    )
                    for number, picture in enumerate(page.entries, start=1)
                ],
            )
        )
    elif cursor is not None:
        view.add_item(PicturePageButton(f"{code}:f:0:0:1{band}", "⏮ First page"))
    return PageMessage(embed, file, view)


def _picture_heading(query: PictureQuery, character: Character | None, name_of: Any) -> str:
    what = "Favourites" if query.favorites else "Scenes"
    if character is not None:
        what += f" of {character.name}"
    if query.member_id is not None:
        what += f" asked for by {name_of(query.member_id)}"
    if query.likeness is not None:
        what += f", {query.likeness} likeness"
    return what


async def _sheet(
    interaction: Interaction, embed: discord.Embed, tiles: list[SheetTile]
) -> discord.File | None:
    if not tiles:
        return None
    bot: CameoBot = interaction.client
    data, fmt = await bot.services.gallery.contact_sheet(tiles, _sheet_limit(interaction))
    name = sheet_name(fmt)
    embed.set_image(url=f"attachment://{name}")
    return discord.File(io.BytesIO(data), name)


async def send_page(interaction: Interaction, message: PageMessage) -> None:
    """Answer a command with a page (the command has deferred privately)."""
    files = [message.file] if message.file is not None else []
    await interaction.followup.send(
        embed=message.embed,
        files=files,
        view=message.view,
        ephemeral=True,
        allowed_mentions=NO_MENTIONS,
    )


async def _turn_to(interaction: Interaction, message: PageMessage) -> None:
    """Show another page in place of the one whose button was clicked (which has deferred:
    drawing a sheet can take longer than Discord waits for the first answer)."""
    files = [message.file] if message.file is not None else []
    await interaction.edit_original_response(
        embed=message.embed, attachments=files, view=message.view
    )


# -- the buttons and the menu -------------------------------------------------------------------


def _cursor(direction: str, key: tuple[int, ...], number: str) -> PageCursor | None:
    """Where the page starts: after or before an entry, or ("f") the first page."""
    if direction == "f":
        return None
    return PageCursor(
        "before" if direction == "b" else "after",
        key,
        custom_id_number(number, low=0, high=PAGE_MAX) or 1,
    )


def _member(text: str) -> int | None:
    return custom_id_number(text, low=0) or None


class _PageButton(Guarded):
    """◀ or ▶: its custom id is PREFIX and the state of the page it turns to."""

    PREFIX: ClassVar[str]

    def __init__(self, state: str, label: str = "▶", disabled: bool = False) -> None:
        # Reaches DynamicItem.__init__, which each subclass mixes in after this class.
        super().__init__(  # type: ignore[call-arg,no-untyped-call]
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"{self.PREFIX}{state}",
                disabled=disabled,
            )
        )


class CharacterPageButton(
    _PageButton,
    discord.ui.DynamicItem[Button],
    template=r"cameo:galc:(?P<order>[nsa]):(?P<member>[0-9]+):(?P<dir>[abf])"
    r":(?P<key>[0-9]+):(?P<page>[0-9]+)",
):
    PREFIX = "cameo:galc:"

    @classmethod
    def parse(cls, match: re.Match[str], /) -> CharacterPageButton:
        item = cls(match.string.removeprefix(cls.PREFIX))
        item.query = CharacterQuery(_member(match["member"]), ORDERS[match["order"]][0])  # type: ignore[arg-type]
        item.cursor = _cursor(match["dir"], (custom_id_number(match["key"], low=0),), match["page"])
        return item

    query: CharacterQuery
    cursor: PageCursor | None

    async def run(self, interaction: Interaction) -> None:
        await interaction.response.defer()
        await _turn_to(interaction, await character_page(interaction, self.query, self.cursor))


class PicturePageButton(
    _PageButton,
    discord.ui.DynamicItem[Button],
    template=r"cameo:galp:(?P<character>[a-z0-9]{1,16}|-):(?P<member>[0-9]+):(?P<fav>[01])"
    r":(?P<dir>[abf]):(?P<job>[0-9]+):(?P<position>[0-9]+):(?P<page>[0-9]+)(?::(?P<band>[slw]))?",
):
    PREFIX = "cameo:galp:"

    @classmethod
    def parse(cls, match: re.Match[str], /) -> PicturePageButton:
        item = cls(match.string.removeprefix(cls.PREFIX))
        item.character_id = None if match["character"] == "-" else match["character"]
        item.member_id = _member(match["member"])
        item.favorites = match["fav"] == "1"
        item.likeness = BANDS.get(match["band"] or "")
        key = (custom_id_number(match["job"], low=0), custom_id_number(match["position"], low=0))
        item.cursor = _cursor(match["dir"], key, match["page"])
        return item

    character_id: str | None
    member_id: int | None
    favorites: bool
    likeness: LikenessBand | None
    cursor: PageCursor | None

    async def run(self, interaction: Interaction) -> None:
        await interaction.response.defer()
        bot: CameoBot = interaction.client
        viewer = viewer_from(interaction)
        character = None
        if self.character_id is not None:
            # Asked again as the clicker: a character made private since is refused here.
            character = await bot.services.gallery.character(viewer, self.character_id)
        query = PictureQuery(
            character_id=character.id if character else None,
            member_id=self.member_id,
            favorites=self.favorites,
            likeness=self.likeness,
        )
        await _turn_to(interaction, await picture_page(interaction, query, character, self.cursor))


class OpenEntry(Guarded, discord.ui.DynamicItem[Select], template=r"cameo:galopen:(?P<kind>[cp])"):
    """The page's menu: open one character's card, or one picture full size."""

    def __init__(self, kind: Literal["c", "p"], options: list[discord.SelectOption]) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"cameo:galopen:{kind}",
                placeholder="Open a character" if kind == "c" else "Open a picture",
                options=options or [discord.SelectOption(label="-", value="-")],
            )
        )
        self.kind = kind

    @classmethod
    def parse(cls, match: re.Match[str], /) -> OpenEntry:
        return cls(match["kind"], [])  # type: ignore[arg-type]

    async def run(self, interaction: Interaction) -> None:
        data = cast("dict[str, Any]", interaction.data or {})
        value = str((data.get("values") or [""])[0])
        viewer = viewer_from(interaction)
        if self.kind == "c":
            await _open_character(interaction, viewer, value)
        else:
            await _open_picture(interaction, viewer, value)


async def _open_character(interaction: Interaction, viewer: Viewer, public_id: str) -> None:
    bot: CameoBot = interaction.client
    character = await bot.services.gallery.character(viewer, public_id[:16])
    await interaction.response.defer(ephemeral=True, thinking=True)
    card = discord.File(
        io.BytesIO(await bot.services.characters.card_image(character)), CARD_IMAGE_NAME
    )
    await interaction.followup.send(
        embed=character_card(character), file=card, ephemeral=True, allowed_mentions=NO_MENTIONS
    )


async def _open_picture(interaction: Interaction, viewer: Viewer, value: str) -> None:
    bot: CameoBot = interaction.client
    job_text, _, position_text = value.partition(":")
    picture = await bot.services.gallery.picture(
        viewer, custom_id_number(job_text), custom_id_number(position_text, low=0)
    )
    await interaction.response.defer(ephemeral=True, thinking=True)
    data = await bot.services.gallery.picture_data(picture)
    data, fmt = await bot.services.jobs.workers.fit_upload(
        data, picture.image_format, interaction.filesize_limit - UPLOAD_MARGIN
    )
    name = f"picture-{picture.job.id}-{picture.position + 1}.{'jpg' if fmt == 'jpeg' else fmt}"
    embed = picture_embed(picture, name, _name_of(interaction), await _where(bot, picture))
    await interaction.followup.send(
        embed=embed,
        file=discord.File(io.BytesIO(data), name),
        ephemeral=True,
        allowed_mentions=NO_MENTIONS,
    )


async def _where(bot: CameoBot, picture: Picture) -> str | None:
    place = await SceneCards(bot.resources.db).place(picture.job.id)
    if place.thread_id is not None:
        return f"<#{place.thread_id}>"
    return f"<#{picture.job.channel_id}>"


DYNAMIC_ITEMS = (CharacterPageButton, PicturePageButton, OpenEntry)
