"""Real result images for the fake services, and the magic-byte sniffing they use on inputs.

Every picture a fake hands out is a genuine PNG, JPEG or WebP, so the bot's own checks (sniffing,
Pillow decoding, size limits) run against the same kind of bytes a real service returns. The
colours and shapes are derived from the prompt and seed, so two jobs with different seeds never
return identical bytes and a test can tell results apart.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageDraw

# The long side of every generated image. Small enough to encode in a few milliseconds, large
# enough to look like a picture (and to pass a bot's "too small" check).
LONG_SIDE = 512

# Pillow's format name, the MIME type and the file extension for each output format.
FORMATS: dict[str, tuple[str, str, str]] = {
    "png": ("PNG", "image/png", "png"),
    "jpeg": ("JPEG", "image/jpeg", "jpg"),
    "jpg": ("JPEG", "image/jpeg", "jpg"),
    "webp": ("WEBP", "image/webp", "webp"),
}


@dataclass(frozen=True)
class RenderSpec:
    """What to draw for one job: the same spec always gives the same bytes."""

    prompt: str
    seed: int
    width: int = LONG_SIDE
    height: int = LONG_SIDE
    fmt: str = "png"
    quality: int = 80

    def variant(self, index: int) -> RenderSpec:
        """The spec for the index-th image of a multi-image job (a different seed per image)."""
        return RenderSpec(
            self.prompt, self.seed + index, self.width, self.height, self.fmt, self.quality
        )

    @property
    def content_type(self) -> str:
        return FORMATS[self.fmt][1]

    @property
    def extension(self) -> str:
        return FORMATS[self.fmt][2]


def size_for_ratio(ratio: str | None, long_side: int = LONG_SIDE) -> tuple[int, int]:
    """Width and height for "W:H" (or "WxH") scaled so the long side is `long_side`."""
    if not ratio or ratio == "None":
        return long_side, long_side
    sep = ":" if ":" in ratio else "x"
    w_text, h_text = ratio.split(sep, 1)
    w, h = int(w_text), int(h_text)
    if w >= h:
        return long_side, max(1, round(long_side * h / w))
    return max(1, round(long_side * w / h)), long_side


def render(spec: RenderSpec) -> bytes:
    """Encode a small abstract picture whose colours come from the prompt and seed."""
    digest = hashlib.sha256(f"{spec.seed}|{spec.prompt}".encode()).digest()
    background = (digest[0], digest[1], digest[2])
    image = Image.new("RGB", (spec.width, spec.height), background)
    draw = ImageDraw.Draw(image)
    # A few seeded shapes give the encoder real structure to compress (a flat colour would
    # make every JPEG of the same size nearly identical).
    for i in range(6):
        chunk = digest[3 + i * 4 : 7 + i * 4]
        x0 = chunk[0] * spec.width // 256
        y0 = chunk[1] * spec.height // 256
        x1 = min(spec.width, x0 + 20 + chunk[2] * spec.width // 512)
        y1 = min(spec.height, y0 + 20 + chunk[3] * spec.height // 512)
        colour = (chunk[2], chunk[3], chunk[0] ^ chunk[1])
        draw.ellipse((x0, y0, x1, y1), fill=colour)
    out = io.BytesIO()
    pillow_format = FORMATS[spec.fmt][0]
    if pillow_format == "PNG":
        image.save(out, pillow_format)
    else:
        image.save(out, pillow_format, quality=max(1, min(spec.quality, 95)))
    return out.getvalue()


def sniff(data: bytes) -> str | None:
    """The image type from magic bytes ("png", "jpeg", "webp", "gif"), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def is_image(data: bytes) -> bool:
    """True when the bytes both carry an image signature and decode with Pillow."""
    if sniff(data) is None:
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Exception:  # Pillow raises many types for damaged data; any of them means "not an image"
        return False
    return True


MIME_BY_KIND = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}


def decode(data: bytes) -> Image.Image:
    """Fully decode (not just the header), so truncated bytes fail loudly; for tests."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
