"""Check and clean reference images: by content, within size and pixel limits, metadata stripped.

Everything here is synchronous, CPU-bound Pillow work; callers run it through
`asyncio.to_thread` (see `prepare_reference`) so the event loop never stalls.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, ParamSpec, TypeVar

from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from bot.errors import CameoError

P = ParamSpec("P")
T = TypeVar("T")

MAX_REFERENCE_BYTES = 10 * 1024 * 1024
MIN_SHORT_SIDE = 256
MAX_LONG_SIDE = 2048
# Refused before decoding: a 40-megapixel RGBA image already needs 160 MB to decode. Pillow's own
# bomb check (89 MP warning, 179 MP error) is far too generous for a bot decoding many at once.
MAX_PIXELS = 40_000_000
JPEG_QUALITY = 92
# A stored reference must fit in one Discord upload and one service upload with room to spare;
# a noisy 2048 px PNG can exceed that, so such images are scaled down further.
STORED_MAX_BYTES = 8 * 1024 * 1024

SniffedFormat = Literal["png", "jpeg", "webp"]
StoredFormat = Literal["png", "jpeg"]
EXTENSIONS: dict[str, str] = {"png": "png", "jpeg": "jpg"}

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated upload is an error, never a grey half-image

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class ImageRejected(CameoError):
    """The file cannot be used as a reference image; the message says why and what to do."""


@dataclass(frozen=True)
class CleanImage:
    """A reference image ready to store: normalised bytes plus facts about the original."""

    data: bytes
    format: StoredFormat
    width: int
    height: int
    sha256: str
    original_sha256: str
    original_format: SniffedFormat
    original_width: int
    original_height: int


def check_declared_size(size: int, limit: int = MAX_REFERENCE_BYTES, *, what: str = "") -> None:
    """Refuse by the size Discord declares, before a single byte is downloaded.

    `what` names the kind of file for the message; by default a reference picture.
    """
    if size <= 0:
        raise ImageRejected(f"That file is empty. Attach {what or 'a PNG, JPEG or WebP picture'}.")
    if size > limit:
        advice = "" if what else " Export it smaller or as a JPEG and try again."
        raise ImageRejected(
            f"That file is {_mib(size)}; {what or 'reference pictures'} can be at most "
            f"{_mib(limit)}.{advice}"
        )


def sniff_format(data: bytes) -> SniffedFormat:
    """Return the real format from the first bytes, whatever the file name or content type say."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith((b"GIF87a", b"GIF89a")):
        raise ImageRejected("GIFs can't be used. Attach a still PNG, JPEG or WebP picture.")
    raise ImageRejected(
        "That file isn't a picture Cameo can use. Attach a PNG, JPEG or WebP image."
    )


def clean_reference(data: bytes, limit: int = MAX_REFERENCE_BYTES) -> CleanImage:
    """Validate `data` as a reference image and return it normalised.

    Orientation applied, converted to sRGB, long side at most 2048 px, every bit of metadata
    (EXIF, GPS, XMP, comments) dropped. Raises ImageRejected, and nothing else, for bad input.
    """
    check_declared_size(len(data), limit)
    sniffed = sniff_format(data)
    try:
        with warnings.catch_warnings():
            # Pillow warns (rather than raises) for big images; treat the warning as a refusal.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _clean(data, sniffed)
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error):
        # Pillow reports corrupt and truncated data through all of these, depending on the codec.
        raise ImageRejected(
            "That picture is damaged or incomplete, so it can't be read. Save it again and retry."
        ) from None


def _clean(data: bytes, sniffed: SniffedFormat) -> CleanImage:
    pillow_format = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[sniffed]
    with Image.open(io.BytesIO(data), formats=[pillow_format]) as opened:
        # Only the header has been read so far: refuse huge or animated images before decoding.
        width, height = opened.size
        if width * height > MAX_PIXELS or width > 65535 or height > 65535:
            raise _too_many_pixels()
        if getattr(opened, "is_animated", False) or getattr(opened, "n_frames", 1) > 1:
            raise ImageRejected(
                "That's an animated image. Attach a still picture (export the frame you want)."
            )
        if min(width, height) < MIN_SHORT_SIDE:
            raise ImageRejected(
                f"That picture is {width}×{height} px; the short side must be at least "
                f"{MIN_SHORT_SIDE} px so the services can see the character's features."
            )
        if sniffed == "jpeg":
            # Let libjpeg decode at a reduced scale when the result will be downscaled anyway.
            opened.draft("RGB", (MAX_LONG_SIDE, MAX_LONG_SIDE))
        opened.load()
        # Judged on the header's dimensions: JPEG draft mode may have decoded at a smaller size.
        if _already_clean(data, sniffed, opened.mode, width, height):
            # Re-encoding a JPEG loses quality each time; an image that already meets every rule
            # (our own exports, re-imported) keeps its exact bytes and therefore its hash.
            return _as_clean(data, sniffed, width, height)
        icc = opened.info.get("icc_profile")
        image = ImageOps.exif_transpose(opened)
    image = _to_srgb(image, icc)
    if max(image.size) > MAX_LONG_SIDE:
        image.thumbnail((MAX_LONG_SIDE, MAX_LONG_SIDE), Image.Resampling.LANCZOS)
    image.info = {}  # nothing from the original's metadata may reach the encoder
    stored_format: StoredFormat = "png" if image.mode == "RGBA" else "jpeg"
    encoded = _encode(image, stored_format)
    while len(encoded) > STORED_MAX_BYTES:
        image = image.resize(
            (max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)),
            Image.Resampling.LANCZOS,
        )
        encoded = _encode(image, stored_format)
    return CleanImage(
        data=encoded,
        format=stored_format,
        width=image.width,
        height=image.height,
        sha256=hashlib.sha256(encoded).hexdigest(),
        original_sha256=hashlib.sha256(data).hexdigest(),
        original_format=sniffed,
        original_width=width,
        original_height=height,
    )


def _as_clean(data: bytes, sniffed: SniffedFormat, width: int, height: int) -> CleanImage:
    digest = hashlib.sha256(data).hexdigest()
    return CleanImage(
        data=data,
        format="png" if sniffed == "png" else "jpeg",
        width=width,
        height=height,
        sha256=digest,
        original_sha256=digest,
        original_format=sniffed,
        original_width=width,
        original_height=height,
    )


# PNG chunks that carry pixels and nothing else; any other chunk (text, EXIF, ICC, time) is
# metadata, so its presence means the image must be re-encoded.
_PIXEL_ONLY_PNG_CHUNKS = {b"IHDR", b"IDAT", b"IEND"}
# JPEG markers of a plain baseline or progressive image: tables, frame, scan, restart, JFIF.
_PIXEL_ONLY_JPEG_MARKERS = {0xC0, 0xC1, 0xC2, 0xC4, 0xDB, 0xDD, 0xDA, 0xE0}


def _already_clean(data: bytes, sniffed: SniffedFormat, mode: str, width: int, height: int) -> bool:
    """Return whether the bytes already are what `clean_reference` would produce."""
    if len(data) > STORED_MAX_BYTES or max(width, height) > MAX_LONG_SIDE:
        return False
    if sniffed == "png":
        return mode == "RGBA" and _png_has_only_pixels(data)
    if sniffed == "jpeg":
        return mode == "RGB" and _jpeg_has_only_pixels(data)
    return False


def _png_has_only_pixels(data: bytes) -> bool:
    position = 8
    while position + 8 <= len(data):
        length: int = struct.unpack(">I", data[position : position + 4])[0]
        kind = data[position + 4 : position + 8]
        if kind not in _PIXEL_ONLY_PNG_CHUNKS:
            return False
        position += 12 + length
        if kind == b"IEND":
            return position == len(data)
    return False


def _jpeg_has_only_pixels(data: bytes) -> bool:
    position = 2  # after SOI
    while position + 4 <= len(data):
        marker = data[position + 1]
        if data[position] != 0xFF or marker not in _PIXEL_ONLY_JPEG_MARKERS:
            return False
        length: int = struct.unpack(">H", data[position + 2 : position + 4])[0]
        if marker == 0xE0 and data[position + 4 : position + 9] != b"JFIF\x00":
            return False
        position += 2 + length
        if marker == 0xDA:
            return _scan_ends_cleanly(data[position:])
    return False


def _scan_ends_cleanly(rest: bytes) -> bool:
    """Return whether entropy-coded data holds only stuffed bytes and restarts, then EOI."""
    end = rest.rfind(b"\xff\xd9")
    if end == -1 or end + 2 != len(rest):
        return False  # missing EOI, or bytes smuggled after it
    scan = rest[:end]
    index = scan.find(b"\xff")
    while index != -1:
        follower = scan[index + 1] if index + 1 < len(scan) else 0
        if follower != 0x00 and not 0xD0 <= follower <= 0xD7:
            return False  # a marker after the scan: metadata or another scan
        index = scan.find(b"\xff", index + 2)
    return True


def _encode(image: Image.Image, stored_format: StoredFormat) -> bytes:
    out = io.BytesIO()
    if stored_format == "png":
        image.save(out, "PNG", compress_level=6)
    else:
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Return an RGB or RGBA image in sRGB, honouring an embedded colour profile."""
    has_alpha = image.mode in {"RGBA", "LA", "PA"} or (
        image.mode == "P" and "transparency" in image.info
    )
    target = "RGBA" if has_alpha else "RGB"
    if image.mode in {"I;16", "I;16B", "I;16L", "I"}:
        # 16-bit greyscale: converting straight to RGB clips; scale to 8 bits first.
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            working = image if image.mode in {"RGB", "RGBA", "CMYK", "L"} else image.convert(target)
            converted = ImageCms.profileToProfile(working, source, _SRGB, outputMode=target)
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile is not worth refusing the picture; assume sRGB
    return image if image.mode == target else image.convert(target)


def preview(data: bytes, max_side: int = 1024) -> bytes:
    """Return a small JPEG of a stored image, for character cards (well under Discord's limit)."""
    with Image.open(io.BytesIO(data)) as opened:
        opened.draft("RGB", (max_side, max_side))
        image = (
            opened.convert("RGBA") if opened.mode in {"RGBA", "LA", "P"} else opened.convert("RGB")
        )
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        image = background
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue()


class ImageWorkers:
    """Run image work off the event loop, a bounded number at a time (decoding is memory-hungry)."""

    def __init__(self, concurrency: int = 2) -> None:
        self._slots = asyncio.Semaphore(concurrency)

    async def clean_reference(self, data: bytes, limit: int = MAX_REFERENCE_BYTES) -> CleanImage:
        async with self._slots:
            return await asyncio.to_thread(clean_reference, data, limit)

    async def preview(self, data: bytes) -> bytes:
        async with self._slots:
            return await asyncio.to_thread(preview, data)

    async def thumbnail(self, data: bytes, side: int) -> bytes:
        """A small JPEG of a stored image, at most `side` pixels across (contact sheet tiles)."""
        async with self._slots:
            return await asyncio.to_thread(preview, data, side)

    async def inspect(self, data: bytes) -> tuple[str, int, int]:
        """A downloaded result's content type and size, from its content (see `inspect`)."""
        async with self._slots:
            return await asyncio.to_thread(inspect, data)

    async def to_png(self, data: bytes) -> bytes:
        async with self._slots:
            return await asyncio.to_thread(to_png, data)

    async def fit_upload(self, data: bytes, image_format: str, limit: int) -> tuple[bytes, str]:
        if len(data) <= limit:
            return data, image_format
        async with self._slots:
            return await asyncio.to_thread(fit_upload, data, limit)

    async def run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run other Pillow work (a contact sheet) in the pool, within its bound."""
        async with self._slots:
            return await asyncio.to_thread(work, *args, **kwargs)


# What Pillow raises for bytes that are not a whole, safe image: which one depends on the codec.
DAMAGED_IMAGE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,  # a PNG with a header and no image data at all
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


class NotAnImage(ValueError):
    """Bytes that are not one whole image Cameo will open (the message says what Pillow saw)."""


def inspect(data: bytes) -> tuple[str, int, int]:
    """Verify the bytes are a whole image; return its content type, width and height.

    Raises NotAnImage for anything else, decompression bombs included.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
            with Image.open(io.BytesIO(data)) as image:
                content_type = Image.MIME.get(image.format or "", "")
                return content_type, image.width, image.height
    except DAMAGED_IMAGE_ERRORS as error:
        raise NotAnImage(str(error)) from None


def to_png(data: bytes) -> bytes:
    """The image re-encoded as PNG (lossless)."""
    with Image.open(io.BytesIO(data)) as opened:
        out = io.BytesIO()
        opened.save(out, "PNG")
    return out.getvalue()


def fit_upload(data: bytes, limit: int) -> tuple[bytes, str]:
    """Re-encode an image that is too large to upload as a JPEG that fits under `limit`.

    Quality goes down first (the picture keeps its size), then the picture shrinks by a
    quarter at a time. Returns the bytes and their format.
    """
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
    while True:
        for quality in (92, 85, 75):
            out = io.BytesIO()
            image.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() <= limit:
                return out.getvalue(), "jpeg"
        if min(image.size) <= 64:
            raise ValueError("the image cannot be made small enough to upload")
        image = image.resize(
            (image.width * 3 // 4, image.height * 3 // 4), Image.Resampling.LANCZOS
        )


def _too_many_pixels() -> ImageRejected:
    return ImageRejected(
        f"That picture has too many pixels (the limit is {MAX_PIXELS // 1_000_000} megapixels). "
        "Resize it and try again."
    )


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"
