"""Real images for tests, made with Pillow: sizes, formats, EXIF, animation, damage."""

from __future__ import annotations

import io
import random

from PIL import Image


def make_image(
    width: int = 512,
    height: int = 512,
    fmt: str = "PNG",
    *,
    mode: str = "RGB",
    colour: tuple[int, ...] = (200, 120, 80),
    seed: int | None = None,
    exif: Image.Exif | None = None,
) -> bytes:
    """Return encoded image bytes; `seed` adds noise so different seeds give different content."""
    image = Image.new(mode, (width, height), colour[: len(mode)] if mode != "L" else colour[0])
    if seed is not None:
        rng = random.Random(seed)
        for _ in range(64):
            x, y = rng.randrange(width), rng.randrange(height)
            image.putpixel((x, y), tuple(rng.randrange(256) for _ in mode) if mode != "L" else 0)
    out = io.BytesIO()
    kwargs: dict[str, object] = {}
    if exif is not None:
        kwargs["exif"] = exif
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def png(width: int = 512, height: int = 512, seed: int | None = None) -> bytes:
    return make_image(width, height, "PNG", seed=seed)


def jpeg_with_gps_and_orientation(width: int = 600, height: int = 300) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x010F] = "PhoneMaker"  # Make
    gps = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}
    exif[0x8825] = gps  # GPSInfo
    return make_image(width, height, "JPEG", exif=exif)


def animated_webp(width: int = 300, height: int = 300) -> bytes:
    frames = [Image.new("RGB", (width, height), (i * 60, 0, 0)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares huge dimensions (a decompression bomb's signature)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        checksum = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + checksum

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )
