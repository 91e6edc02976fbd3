"""Render a contact sheet: one image of numbered thumbnails with captions, for browsing a gallery.

Synchronous, CPU-bound Pillow work like the rest of this package; callers go through
`ImageWorkers.contact_sheet`, which bounds how many run at once and keeps them off the event loop.
"""

from __future__ import annotations

import io
import logging
import math
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, ImageOps

# The same sniffing, pixel limit and colour handling as clean_reference, so a sheet refuses what
# the store would and shows colours as the store keeps them.
from bot.images.processing import (
    DAMAGED_IMAGE_ERRORS,
    MAX_PIXELS,
    ImageRejected,
    _to_srgb,
    sniff_format,
)

log = logging.getLogger(__name__)

# Caption and badge text keep one pixel size whatever the tile size, so they stay legible on
# small cast cards; the caption strip is therefore a fixed height too.
CAPTION_HEIGHT = 46
GAP = 8  # between cells, and as the margin around the sheet
MIN_TILE_SIZE = 64  # below this the badge would cover most of the picture

SHEET_BACKGROUND = (22, 23, 26)
CARD_BACKGROUND = (38, 40, 45)  # behind each cell, and the letterbox around non-square pictures
PLACEHOLDER_BACKGROUND = (52, 54, 60)
PLACEHOLDER_TEXT = (150, 154, 162)
CAPTION_TEXT = (240, 241, 244)
CAPTION_SECOND_LINE_TEXT = (196, 199, 206)  # dimmer, so "by Alice" reads as a byline
BADGE_FILL = (88, 101, 242)
BADGE_RING = SHEET_BACKGROUND
BADGE_TEXT = (255, 255, 255)

_CAPTION_FONT_SIZE = 15
_BADGE_FONT_SIZE = 16
_CAPTION_PADDING = 8  # left and right of the caption text
_CAPTION_TOP_PADDING = 6
_CAPTION_LINE_HEIGHT = 19
_BADGE_INSET = 6
_BADGE_HEIGHT = 26
_BADGE_PADDING = 8
_BADGE_RING = 2
_BADGE_SUPERSAMPLE = 4

_JPEG_QUALITIES = (90, 80, 70, 60)
_SMALLEST_SHEET_SIDE = 64

_PILLOW_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
_ELLIPSIS = "…"
# Characters with no visible glyph: control (Cc), format (Cf: zero-width spaces and joiners, bidi
# marks) and lone surrogates (Cs). The bundled font has no glyph for them, so each would be drawn
# as a box; removing them leaves what a reader would see.
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs"}


@dataclass(frozen=True)
class Tile:
    """One picture on a contact sheet, its number and its caption.

    `image` is a stored picture (PNG, JPEG or WebP); None, or bytes that cannot be decoded, give a
    placeholder saying "unavailable". `caption` is one or two lines separated by "\\n" (member text,
    drawn as-is); each line is shortened with "…" to fit the tile's width.
    """

    image: bytes | None
    number: int
    caption: str


@dataclass(frozen=True)
class _Fonts:
    caption: ImageFont.FreeTypeFont | ImageFont.ImageFont
    badge: ImageFont.FreeTypeFont | ImageFont.ImageFont


def render_contact_sheet(
    tiles: Sequence[Tile],
    *,
    columns: int = 4,
    tile_size: int = 256,
    limit: int,
    photographs: bool = False,
) -> tuple[bytes, str]:
    """Return (encoded bytes, format) of a sheet of numbered, captioned thumbnails.

    The sheet has ceil(len(tiles) / columns) rows and min(len(tiles), columns) columns; each cell
    is `tile_size` wide and `tile_size + CAPTION_HEIGHT` tall, with GAP pixels between cells and
    around the edge. Each picture is scaled to fit its square (aspect ratio kept) and centred.

    The format is "png" when that fits in `limit` bytes, else "jpeg" at the best quality that
    fits, else a JPEG of the whole sheet scaled down. With `photographs` (a sheet of pictures,
    not of drawings with flat colours) it is JPEG from the start: four times faster to encode
    and a fifth of PNG's size for a sheet of photographs, with no difference one can see. The
    same tiles always give the same bytes.
    Raises ValueError for no tiles, bad dimensions, or a limit nothing can fit under.
    """
    if not tiles:
        raise ValueError("a contact sheet needs at least one tile")
    if columns < 1:
        raise ValueError(f"columns must be at least 1, not {columns}")
    if tile_size < MIN_TILE_SIZE:
        raise ValueError(f"tile_size must be at least {MIN_TILE_SIZE}, not {tile_size}")
    if limit <= 0:
        raise ValueError(f"limit must be positive, not {limit}")
    used_columns = min(len(tiles), columns)
    rows = math.ceil(len(tiles) / columns)
    width = used_columns * tile_size + (used_columns + 1) * GAP
    height = rows * (tile_size + CAPTION_HEIGHT) + (rows + 1) * GAP
    if width * height > MAX_PIXELS:
        raise ValueError(f"a {width}×{height} contact sheet is too large to render")

    # Loaded per sheet rather than once per process: a FreeType face is not safe to use from two
    # threads at once, and the worker pool renders sheets in parallel. Loading takes a fraction
    # of a millisecond.
    fonts = _Fonts(
        caption=ImageFont.load_default(size=_CAPTION_FONT_SIZE),
        badge=ImageFont.load_default(size=_BADGE_FONT_SIZE),
    )
    sheet = Image.new("RGB", (width, height), SHEET_BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        left = GAP + column * (tile_size + GAP)
        top = GAP + row * (tile_size + CAPTION_HEIGHT + GAP)
        draw.rectangle(
            (left, top, left + tile_size - 1, top + tile_size + CAPTION_HEIGHT - 1),
            fill=CARD_BACKGROUND,
        )
        thumbnail = _thumbnail(tile.image, tile_size) if tile.image is not None else None
        if thumbnail is None:
            _draw_placeholder(draw, fonts, left, top, tile_size)
        else:
            sheet.paste(
                thumbnail,
                (
                    left + (tile_size - thumbnail.width) // 2,
                    top + (tile_size - thumbnail.height) // 2,
                ),
            )
        _draw_badge(sheet, fonts, str(tile.number), left, top, tile_size)
        _draw_caption(draw, fonts, tile.caption, left, top + tile_size, tile_size)
    return _encode_within(sheet, limit, png_first=not photographs)


def _thumbnail(data: bytes, tile_size: int) -> Image.Image | None:
    """Return the picture scaled to fit a tile_size square, or None if it cannot be decoded."""
    try:
        with warnings.catch_warnings():
            # As in clean_reference: Pillow only warns for big images; treat that as undecodable.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = _decode(data, tile_size)
    except (ImageRejected, *DAMAGED_IMAGE_ERRORS) as error:
        # Pillow reports damaged data through all of these, depending on the codec. One bad
        # picture must not cost the member the whole page, so it becomes a placeholder.
        log.warning("A contact sheet tile could not be decoded (%s); showing a placeholder", error)
        return None
    scale = tile_size / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if size != image.size:
        # reducing_gap=1 shrinks by the largest whole factor with a box filter (averaging each
        # 2×2 or 3×3 block, as a mipmap does) before Lanczos finishes the odd remainder. At
        # thumbnail size it looks the same as Lanczos all the way and is ten times faster, which
        # is most of a sheet's render time.
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=1.0)
    if image.mode == "RGBA":
        flattened = Image.new("RGB", image.size, CARD_BACKGROUND)
        flattened.paste(image, mask=image.getchannel("A"))
        return flattened
    return image


def _decode(data: bytes, tile_size: int) -> Image.Image:
    sniffed = sniff_format(data)
    with Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[sniffed]]) as opened:
        # Only the header has been read: refuse a decompression bomb before decoding it.
        width, height = opened.size
        if width * height > MAX_PIXELS:
            raise ValueError(f"{width}×{height} pixels is too many to decode")
        # JPEG only (a no-op for the rest): libjpeg decodes at 1/2, 1/4 or 1/8 scale for free,
        # never below the requested size, so a big photo is mostly skipped rather than shrunk.
        opened.draft("RGB", (tile_size, tile_size))
        opened.load()
        icc = opened.info.get("icc_profile")
        image = ImageOps.exif_transpose(opened)
    return _to_srgb(image, icc)


def _draw_placeholder(
    draw: ImageDraw.ImageDraw, fonts: _Fonts, left: int, top: int, tile_size: int
) -> None:
    inset = tile_size // 8
    draw.rectangle(
        (left, top, left + tile_size - 1, top + tile_size - 1), fill=PLACEHOLDER_BACKGROUND
    )
    draw.rounded_rectangle(
        (left + inset, top + inset, left + tile_size - 1 - inset, top + tile_size - 1 - inset),
        radius=inset // 2,
        outline=PLACEHOLDER_TEXT,
        width=1,
    )
    label = _shorten("unavailable", fonts.caption, tile_size - 2 * inset - 2 * _CAPTION_PADDING)
    draw.text(
        (left + tile_size / 2, top + tile_size / 2),
        label,
        fill=PLACEHOLDER_TEXT,
        font=fonts.caption,
        anchor="mm",
    )


def _draw_badge(
    sheet: Image.Image, fonts: _Fonts, label: str, left: int, top: int, tile_size: int
) -> None:
    label = _shorten(label, fonts.badge, tile_size - 2 * _BADGE_INSET - 2 * _BADGE_PADDING)
    width = max(_BADGE_HEIGHT, math.ceil(fonts.badge.getlength(label)) + 2 * _BADGE_PADDING)
    badge_left, badge_top = left + _BADGE_INSET, top + _BADGE_INSET
    # A dark ring first, so the badge stays distinct on a picture of the same colour.
    ring = _BADGE_RING
    _paste_pill(
        sheet,
        BADGE_RING,
        badge_left - ring,
        badge_top - ring,
        width + 2 * ring,
        _BADGE_HEIGHT + 2 * ring,
    )
    _paste_pill(sheet, BADGE_FILL, badge_left, badge_top, width, _BADGE_HEIGHT)
    ImageDraw.Draw(sheet).text(
        (badge_left + width / 2, badge_top + _BADGE_HEIGHT / 2),
        label,
        fill=BADGE_TEXT,
        font=fonts.badge,
        anchor="mm",
    )


def _paste_pill(
    sheet: Image.Image, colour: tuple[int, int, int], left: int, top: int, width: int, height: int
) -> None:
    """Fill an antialiased pill (a rectangle with fully rounded ends) with `colour`."""
    # Drawn larger and scaled down: ImageDraw does not antialias shapes, and a jagged pill looks
    # broken next to smooth text.
    scale = _BADGE_SUPERSAMPLE
    mask = Image.new("L", (width * scale, height * scale), 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        (0, 0, width * scale - 1, height * scale - 1), radius=height * scale // 2, fill=255
    )
    mask = mask.resize((width, height), Image.Resampling.BOX)
    sheet.paste(colour, (left, top, left + width, top + height), mask)


def _draw_caption(
    draw: ImageDraw.ImageDraw, fonts: _Fonts, caption: str, left: int, top: int, tile_size: int
) -> None:
    lines = [_visible(line) for line in caption.splitlines()]
    room = tile_size - 2 * _CAPTION_PADDING
    for index, (line, colour) in enumerate(
        zip(lines[:2], (CAPTION_TEXT, CAPTION_SECOND_LINE_TEXT), strict=False)
    ):
        # A third line has nowhere to go; the "…" on the second says that something was cut.
        cut = index == 1 and any(lines[2:])
        draw.text(
            (
                left + _CAPTION_PADDING,
                top + _CAPTION_TOP_PADDING + index * _CAPTION_LINE_HEIGHT,
            ),
            _shorten(line, fonts.caption, room, cut=cut),
            fill=colour,
            font=fonts.caption,
            anchor="la",
        )


def _visible(text: str) -> str:
    """Return the text without characters that have no visible form (see _INVISIBLE_CATEGORIES),
    and accented Latin letters as their base letters ("Zoë" as "Zoe"): Pillow's bundled font
    has ASCII only, and a name with its accents dropped reads better than one with boxes."""
    text = unicodedata.normalize("NFKD", text.replace("\t", " "))
    return "".join(
        character
        for character in text
        if unicodedata.category(character) not in _INVISIBLE_CATEGORIES
        and not unicodedata.combining(character)
    )


def _shorten(
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    room: float,
    *,
    cut: bool = False,
) -> str:
    """Return the text, ending in "…" if it had to be cut to fit `room` pixels (or `cut` is set)."""
    # Every character left by _visible is drawn at least a pixel wide (as a box if the font lacks
    # it), so more than `room` of them cannot fit; cutting first keeps the measuring below cheap
    # for a 100,000-character caption.
    if len(text) > room:
        text, cut = text[: int(room)], True
    if not cut and font.getlength(text) <= room:
        return text
    # The longest prefix that still fits with the ellipsis after it.
    fits, too_long = 0, len(text) + 1
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        if font.getlength(text[:middle].rstrip() + _ELLIPSIS) <= room:
            fits = middle
        else:
            too_long = middle
    return text[:fits].rstrip() + _ELLIPSIS


def _encode_within(sheet: Image.Image, limit: int, *, png_first: bool) -> tuple[bytes, str]:
    """Encode as PNG if it fits (and is wanted), else JPEG at falling quality, else a smaller
    JPEG of the sheet."""
    if png_first:
        # zlib's fastest level: on a sheet of photographs it is three times faster than the
        # default (6) for a file about a third larger; a sheet is rendered on demand, then kept.
        encoded = _save(sheet, "PNG", compress_level=1)
        if len(encoded) <= limit:
            return encoded, "png"
    while True:
        for quality in _JPEG_QUALITIES:
            encoded = _save(sheet, "JPEG", quality=quality, optimize=True)
            if len(encoded) <= limit:
                return encoded, "jpeg"
        if min(sheet.size) * 3 // 4 < _SMALLEST_SHEET_SIDE:
            raise ValueError(f"the contact sheet cannot be made smaller than {limit} bytes")
        sheet = sheet.resize(
            (sheet.width * 3 // 4, sheet.height * 3 // 4), Image.Resampling.LANCZOS
        )


def _save(image: Image.Image, pillow_format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, pillow_format, **options)
    return out.getvalue()
