import io
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.images.contact_sheet import (
    BADGE_FILL,
    CAPTION_HEIGHT,
    CARD_BACKGROUND,
    GAP,
    PLACEHOLDER_BACKGROUND,
    SHEET_BACKGROUND,
    Tile,
    render_contact_sheet,
)
from bot.images.processing import ImageWorkers
from tests.imagefactory import animated_webp, make_image, png, png_declaring

LIMIT = 8 * 1024 * 1024
COLOURS = [
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (170, 110, 40),
]

Box = tuple[int, int, int, int]


def render(tiles: list[Tile], *, columns: int = 4, tile_size: int = 256) -> Image.Image:
    data, fmt = render_contact_sheet(tiles, columns=columns, tile_size=tile_size, limit=LIMIT)
    assert fmt == "png"  # lossless, so the tests below can compare exact colours
    return decoded(data)


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.convert("RGB")


def solid_tiles(count: int, caption: str = "") -> list[Tile]:
    return [
        Tile(make_image(512, 512, colour=COLOURS[index % len(COLOURS)]), index + 1, caption)
        for index in range(count)
    ]


def picture_box(index: int, *, columns: int = 4, tile_size: int = 256) -> Box:
    """The square a tile's picture occupies, computed from the documented layout."""
    row, column = divmod(index, columns)
    left = GAP + column * (tile_size + GAP)
    top = GAP + row * (tile_size + CAPTION_HEIGHT + GAP)
    return left, top, left + tile_size, top + tile_size


def caption_box(index: int, *, columns: int = 4, tile_size: int = 256) -> Box:
    left, _, right, bottom = picture_box(index, columns=columns, tile_size=tile_size)
    return left, bottom, right, bottom + CAPTION_HEIGHT


def light_pixels(sheet: Image.Image, box: Box) -> int:
    return sum(1 for pixel in sheet.crop(box).get_flattened_data() if min(pixel) > 128)


def pixels_of(
    sheet: Image.Image, box: Box, colour: tuple[int, int, int], tolerance: int = 0
) -> int:
    return sum(
        1
        for pixel in sheet.crop(box).get_flattened_data()
        if all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))
    )


def rightmost_light_column(sheet: Image.Image, box: Box) -> int:
    region = sheet.crop(box)
    columns = [
        x
        for x in range(region.width)
        if any(min(region.getpixel((x, y))) > 128 for y in range(region.height))  # type: ignore[arg-type]
    ]
    return box[0] + max(columns)


# -- layout ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "used_columns", "rows"), [(1, 1, 1), (4, 4, 1), (5, 4, 2), (12, 4, 3)]
)
def test_the_sheet_has_one_cell_per_tile_and_is_only_as_wide_as_it_needs(
    count: int, used_columns: int, rows: int
) -> None:
    sheet = render(solid_tiles(count), tile_size=128)
    assert sheet.size == (
        used_columns * 128 + (used_columns + 1) * GAP,
        rows * (128 + CAPTION_HEIGHT) + (rows + 1) * GAP,
    )


def test_each_picture_fills_its_own_square_in_reading_order() -> None:
    sheet = render(solid_tiles(12))
    for index, colour in enumerate(COLOURS):
        left, top, right, bottom = picture_box(index)
        # The centre and the corner opposite the badge both show this tile's picture.
        assert sheet.getpixel(((left + right) // 2, (top + bottom) // 2)) == colour, index
        assert sheet.getpixel((right - 2, bottom - 2)) == colour, index
    # Between cells is the sheet's background, not a picture.
    assert sheet.getpixel((GAP // 2, GAP // 2)) == SHEET_BACKGROUND
    between = picture_box(0)[2] + GAP // 2
    assert sheet.getpixel((between, 100)) == SHEET_BACKGROUND


def test_other_column_counts_wrap_rows_accordingly() -> None:
    sheet = render(solid_tiles(6), columns=3, tile_size=96)
    for index in range(6):
        left, top, right, bottom = picture_box(index, columns=3, tile_size=96)
        assert sheet.getpixel(((left + right) // 2, (top + bottom) // 2)) == COLOURS[index]


@pytest.mark.parametrize(("width", "height"), [(512, 256), (256, 512)])
def test_non_square_pictures_keep_their_shape_and_are_centred(width: int, height: int) -> None:
    colour = COLOURS[3]
    sheet = render([Tile(make_image(width, height, colour=colour), 1, "")])
    left, top, right, bottom = picture_box(0)
    assert sheet.getpixel((128 + left, 128 + top)) == colour
    # 512×256 becomes 256×128: bands of 64 px above and below (left and right for portrait).
    if width > height:
        band, picture = (left + 200, top + 30), (left + 200, top + 70)
        other_band = (left + 200, bottom - 30)
    else:
        band, picture = (left + 30, top + 200), (left + 70, top + 200)
        other_band = (right - 30, top + 200)
    assert sheet.getpixel(band) == CARD_BACKGROUND
    assert sheet.getpixel(other_band) == CARD_BACKGROUND
    assert sheet.getpixel(picture) == colour


def test_small_pictures_are_scaled_up_to_fill_the_square() -> None:
    sheet = render([Tile(make_image(40, 40, colour=COLOURS[0]), 1, "")])
    _, _, right, bottom = picture_box(0)
    assert sheet.getpixel((right - 3, bottom - 3)) == COLOURS[0]


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_jpeg_and_webp_pictures_are_shown_too(fmt: str) -> None:
    colour = (200, 60, 40)
    sheet = render([Tile(make_image(1024, 768, fmt, colour=colour), 1, "")])
    left, top, right, bottom = picture_box(0)
    centre = sheet.getpixel(((left + right) // 2, (top + bottom) // 2))
    assert isinstance(centre, tuple)
    assert all(abs(a - b) <= 6 for a, b in zip(centre, colour, strict=True))  # lossy formats


def test_transparent_pictures_are_shown_on_the_card_colour() -> None:
    clear = make_image(256, 256, mode="RGBA", colour=(255, 255, 255, 0))
    sheet = render([Tile(clear, 1, "")])
    assert sheet.getpixel((200, 200)) == CARD_BACKGROUND


# -- badge and caption -----------------------------------------------------------------------


def test_each_tile_carries_a_numbered_badge_in_its_top_left_corner() -> None:
    sheet = render(solid_tiles(12))
    for index in range(12):
        left, top, right, _ = picture_box(index)
        corner: Box = (left, top, left + 48, top + 40)
        assert pixels_of(sheet, corner, BADGE_FILL) > 200, index
        assert pixels_of(sheet, corner, (255, 255, 255), tolerance=20) > 10, index
        # Only the corner: the rest of the top edge is the picture itself.
        assert pixels_of(sheet, (left + 64, top, right, top + 40), BADGE_FILL) == 0
    # The badge grows to fit the number: "12" needs a wider badge than "1".
    one, twelve = picture_box(0), picture_box(11)
    row_through_one = (one[0], one[1] + 19, one[0] + 80, one[1] + 20)
    row_through_twelve = (twelve[0], twelve[1] + 19, twelve[0] + 80, twelve[1] + 20)
    assert pixels_of(sheet, row_through_twelve, BADGE_FILL) > pixels_of(
        sheet, row_through_one, BADGE_FILL
    )


def test_captions_are_drawn_in_light_text_under_their_tile() -> None:
    tiles = solid_tiles(3)
    tiles[0] = Tile(tiles[0].image, 1, "Mira\nby Alice")
    tiles[1] = Tile(tiles[1].image, 2, "Mira")
    sheet = render(tiles)
    two_lines, one_line, blank = (caption_box(index) for index in range(3))
    assert light_pixels(sheet, blank) == 0
    assert light_pixels(sheet, one_line) > 50
    assert light_pixels(sheet, two_lines) > light_pixels(sheet, one_line) + 50

    def lower_half(box: Box) -> Box:
        return box[0], box[1] + CAPTION_HEIGHT // 2 + 2, box[2], box[3]

    assert light_pixels(sheet, lower_half(two_lines)) > 50
    assert light_pixels(sheet, lower_half(one_line)) == 0


def test_long_caption_lines_are_shortened_to_the_tile_width() -> None:
    name = "Captain Theodora Wellington-Smythe the Third of the Northern Reaches"
    tiles = [Tile(png(), 1, f"{name}\nby {'a_member_' * 40}"), Tile(png(), 2, name[:9])]
    sheet = render(tiles, columns=2)
    long_caption, short_caption = caption_box(0, columns=2), caption_box(1, columns=2)
    right_edge = rightmost_light_column(sheet, long_caption)
    # It fills the width (it was not cut to a few letters) but stops inside the tile.
    assert long_caption[2] - 40 < right_edge < long_caption[2]
    assert rightmost_light_column(sheet, short_caption) < short_caption[0] + 128


def test_a_third_line_is_not_drawn_but_marked_as_cut() -> None:
    two = render([Tile(png(), 1, "Orion\nby Sam")])
    three = render([Tile(png(), 1, "Orion\nby Sam\nthird line\nfourth")])
    box = caption_box(0)
    # The only difference is the "…" after "by Sam": a few pixels, nothing the size of a line.
    assert 0 < light_pixels(three, box) - light_pixels(two, box) < 40


# -- pictures that cannot be shown -----------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        None,
        b"",
        b"not an image at all",
        png()[:300],
        make_image(300, 300, "JPEG")[:-400],
        make_image(64, 64, "GIF"),
        png_declaring(100_000, 100_000),
    ],
    ids=["none", "empty", "text", "truncated-png", "truncated-jpeg", "gif", "bomb"],
)
def test_missing_or_broken_pictures_become_a_placeholder(data: bytes | None) -> None:
    sheet = render([Tile(png(), 1, "fine"), Tile(data, 2, "broken")], columns=2)
    left, top, right, _ = picture_box(1, columns=2)
    assert sheet.getpixel((left + 20, top + 128)) == PLACEHOLDER_BACKGROUND
    # It says "unavailable" in the middle, and keeps its badge and caption.
    assert pixels_of(sheet, (left + 64, top + 118, right - 64, top + 138), (150, 154, 162), 40) > 20
    assert pixels_of(sheet, (left, top, left + 40, top + 40), BADGE_FILL) > 100
    assert light_pixels(sheet, caption_box(1, columns=2)) > 50
    # The good tile next to it is untouched.
    assert sheet.getpixel((picture_box(0)[0] + 128, 128)) == (200, 120, 80)


def test_every_placeholder_looks_the_same() -> None:
    sheet = render([Tile(None, 1, ""), Tile(b"garbage", 1, "")], columns=2)
    first, second = picture_box(0, columns=2), picture_box(1, columns=2)
    assert sheet.crop(first).tobytes() == sheet.crop(second).tobytes()
    assert sheet.crop(first).tobytes() != render(solid_tiles(1)).crop(first).tobytes()


def test_an_animated_picture_shows_its_first_frame() -> None:
    sheet = render([Tile(animated_webp(), 1, "")])
    assert sheet.getpixel((128, 128)) == (0, 0, 0)


# -- encoding --------------------------------------------------------------------------------


def noise_tiles(count: int) -> list[Tile]:
    """Pictures that compress badly, so the sheet's PNG is large."""
    tiles = []
    for index in range(count):
        noise = Image.frombytes("RGB", (256, 256), os.urandom(256 * 256 * 3))
        out = io.BytesIO()
        noise.save(out, "PNG")
        tiles.append(Tile(out.getvalue(), index + 1, f"Noise {index}"))
    return tiles


def test_the_sheet_is_a_png_when_it_fits_the_limit() -> None:
    data, fmt = render_contact_sheet(solid_tiles(12), limit=LIMIT)
    assert fmt == "png"
    assert data.startswith(b"\x89PNG")
    assert len(data) <= LIMIT


def test_a_sheet_too_big_for_png_falls_back_to_a_jpeg_of_the_same_size() -> None:
    tiles = noise_tiles(4)
    png_data, png_format = render_contact_sheet(tiles, limit=LIMIT)
    assert png_format == "png"
    limit = len(png_data) // 2
    data, fmt = render_contact_sheet(tiles, limit=limit)
    assert fmt == "jpeg"
    assert len(data) <= limit
    with Image.open(io.BytesIO(data)) as jpeg:
        assert jpeg.format == "JPEG"
        assert jpeg.size == decoded(png_data).size


def test_a_small_limit_shrinks_the_whole_sheet() -> None:
    tiles = noise_tiles(4)
    nominal = decoded(render_contact_sheet(tiles, limit=LIMIT)[0]).size
    data, fmt = render_contact_sheet(tiles, limit=30_000)
    assert fmt == "jpeg"
    assert len(data) <= 30_000
    with Image.open(io.BytesIO(data)) as shrunk:
        assert shrunk.width < nominal[0]
        # Shrunk as a whole: the proportions stay (within rounding).
        assert math.isclose(shrunk.width / shrunk.height, nominal[0] / nominal[1], rel_tol=0.02)


def test_an_impossible_limit_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot be made smaller"):
        render_contact_sheet(noise_tiles(1), limit=200)


@pytest.mark.parametrize("limit", [LIMIT, 60_000])
def test_the_same_tiles_always_give_the_same_bytes(limit: int) -> None:
    tiles = noise_tiles(2) + solid_tiles(3, "Mira\nby Alice") + [Tile(None, 9, "gone")]
    first = render_contact_sheet(tiles, limit=limit)
    assert render_contact_sheet(list(tiles), limit=limit) == first
    changed = [*tiles[:-1], Tile(None, 9, "gone!")]
    assert render_contact_sheet(changed, limit=limit)[0] != first[0]


@pytest.mark.parametrize(
    ("tiles", "options", "message"),
    [
        ([], {}, "at least one tile"),
        (solid_tiles(1), {"columns": 0}, "columns"),
        (solid_tiles(1), {"tile_size": 8}, "tile_size"),
        (solid_tiles(1), {"limit": 0}, "limit"),
        (solid_tiles(1), {"tile_size": 10_000}, "too large"),
    ],
    ids=["no-tiles", "no-columns", "tiny-tiles", "no-limit", "huge-sheet"],
)
def test_impossible_sheets_are_refused(
    tiles: list[Tile], options: dict[str, int], message: str
) -> None:
    arguments: dict[str, int] = {"limit": LIMIT, **options}
    with pytest.raises(ValueError, match=message):
        render_contact_sheet(tiles, **arguments)


# -- member text -----------------------------------------------------------------------------

HOSTILE_CAPTIONS = [
    "x" * 100_000,
    "\u200b" * 50_000 + "Mira",
    "Nyx 🌙✨👩‍👩‍👧‍👦🏳️‍🌈\nby 🦊",
    "美咲\nby 花子",
    "ميرا\nby أحمد",  # right-to-left
    "Z\u0301\u0302\u0303\u0304\u0305" * 40,  # stacked combining marks
    "\u202e\u2066reversed\u200d\u200c\ufeff",  # bidi overrides, joiners, BOM
    "\x00\x07\x1b[31m\ttabs\r\nand\rcarriage\x85returns",
    "\ud800 lone surrogate \udfff",
    "\n" * 50,
    "one\ntwo\nthree\nfour\nfive",
    "\U0010ffff\ue000 private use",
    "",
]


@pytest.mark.parametrize("caption", HOSTILE_CAPTIONS)
def test_any_caption_is_drawn_without_error(caption: str) -> None:
    sheet = render([Tile(png(), 1, caption), Tile(png(), 2, caption.upper())], columns=2)
    # Whatever the text, it stays in its own caption strip: the gap beside it is untouched.
    strip = caption_box(0, columns=2)
    gap: Box = (strip[2], strip[1], strip[2] + GAP, strip[3])
    assert pixels_of(sheet, gap, SHEET_BACKGROUND) == GAP * CAPTION_HEIGHT


def test_invisible_characters_are_not_drawn_as_boxes() -> None:
    plain = render([Tile(None, 1, "Mira\nby Alice")])
    sprinkled = render([Tile(None, 1, "\u200bMi\u200dra\ufeff\nby\x07 Al\u2066ice\u200e")])
    assert sprinkled.tobytes() == plain.tobytes()
    only_invisible = render([Tile(None, 1, "\u200b\u200c\u200d\x00\x1b")])
    assert light_pixels(only_invisible, caption_box(0)) == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300), st.integers(min_value=-(10**6), max_value=10**30))
def test_random_captions_and_numbers_never_raise(caption: str, number: int) -> None:
    data, fmt = render_contact_sheet([Tile(None, number, caption)], tile_size=64, limit=LIMIT)
    assert fmt == "png"
    assert decoded(data).size == (64 + 2 * GAP, 64 + CAPTION_HEIGHT + 2 * GAP)


# -- the worker pool -------------------------------------------------------------------------


async def test_workers_render_sheets_off_the_event_loop() -> None:
    workers = ImageWorkers(concurrency=1)
    tiles = solid_tiles(5, "Mira\nby Alice")
    data, fmt = await workers.run(
        render_contact_sheet, tiles, columns=4, tile_size=128, limit=LIMIT
    )
    assert (data, fmt) == render_contact_sheet(tiles, columns=4, tile_size=128, limit=LIMIT)
    with pytest.raises(ValueError, match="at least one tile"):
        await workers.run(render_contact_sheet, [], limit=LIMIT)


def test_a_sheet_of_photographs_is_a_jpeg_even_when_a_png_would_fit() -> None:
    tiles = solid_tiles(4, "Mira\nby Alice")
    data, fmt = render_contact_sheet(tiles, tile_size=128, limit=LIMIT, photographs=True)
    assert fmt == "jpeg"
    assert data[:3] == b"\xff\xd8\xff"
    assert render_contact_sheet(tiles, tile_size=128, limit=LIMIT)[1] == "png"


def test_accented_names_are_drawn_with_their_base_letters() -> None:
    """The bundled font has ASCII only: "Zoë" is drawn as "Zoe", not as "Zo" and a box."""
    accented = render_contact_sheet(solid_tiles(1, "Zoë\nby José"), tile_size=128, limit=LIMIT)
    plain = render_contact_sheet(solid_tiles(1, "Zoe\nby Jose"), tile_size=128, limit=LIMIT)
    assert accented == plain
