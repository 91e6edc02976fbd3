import contextlib
import io
import resource

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.images.processing import (
    MAX_LONG_SIDE,
    MAX_REFERENCE_BYTES,
    STORED_MAX_BYTES,
    ImageRejected,
    ImageWorkers,
    check_declared_size,
    clean_reference,
    preview,
    sniff_format,
)
from tests.imagefactory import (
    animated_webp,
    jpeg_with_gps_and_orientation,
    make_image,
    png,
    png_declaring,
)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_accepts_png_jpeg_and_webp(fmt: str) -> None:
    clean = clean_reference(make_image(640, 480, fmt))
    assert (clean.width, clean.height) == (640, 480)
    assert clean.original_format == {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}[fmt]
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.format in {"PNG", "JPEG"}


def test_the_type_is_sniffed_from_bytes_not_trusted_from_names() -> None:
    assert sniff_format(make_image(300, 300, "WEBP")) == "webp"
    with pytest.raises(ImageRejected, match="isn't a picture"):
        sniff_format(b"%PDF-1.7 pretending to be a png")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello world, definitely not an image", "isn't a picture"),
        (make_image(300, 300, "GIF"), "GIFs"),
        (png(300, 300)[:200], "damaged or incomplete"),
        (make_image(300, 300, "JPEG")[:-400], "damaged or incomplete"),
        (png(255, 400), "at least 256"),
        (png(400, 100), "at least 256"),
        (animated_webp(), "animated"),
        (png_declaring(100_000, 100_000), "too many pixels"),
        (png_declaring(8000, 8000), "too many pixels"),
    ],
    ids=[
        "empty",
        "text",
        "gif",
        "truncated-png",
        "truncated-jpeg",
        "too-narrow",
        "too-short",
        "animated",
        "bomb-huge",
        "bomb-64mp",
    ],
)
def test_bad_files_are_refused_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(ImageRejected, match=message):
        clean_reference(data)


def test_the_declared_size_is_checked_before_downloading() -> None:
    with pytest.raises(ImageRejected, match=r"at most 10\.0 MiB"):
        check_declared_size(MAX_REFERENCE_BYTES + 1)
    with pytest.raises(ImageRejected, match="empty"):
        check_declared_size(0)
    check_declared_size(MAX_REFERENCE_BYTES)


def test_orientation_is_applied_and_all_metadata_dropped() -> None:
    clean = clean_reference(jpeg_with_gps_and_orientation(600, 300))
    assert (clean.width, clean.height) == (300, 600)  # rotated upright
    assert (clean.original_width, clean.original_height) == (600, 300)
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert len(stored.getexif()) == 0
        assert "exif" not in stored.info
        assert "icc_profile" not in stored.info
    assert b"PhoneMaker" not in clean.data


def test_large_images_are_downscaled_to_2048_on_the_long_side() -> None:
    clean = clean_reference(make_image(4096, 1024, "JPEG"))
    assert (clean.width, clean.height) == (MAX_LONG_SIDE, 512)


def test_transparency_is_kept_as_png_and_opaque_images_become_jpeg() -> None:
    rgba = clean_reference(make_image(300, 300, "PNG", mode="RGBA", colour=(1, 2, 3, 100)))
    assert rgba.format == "png"
    grey = clean_reference(make_image(300, 300, "PNG", mode="L"))
    assert grey.format == "jpeg"


def test_the_hash_addresses_the_stored_content() -> None:
    first = clean_reference(png(300, 300, seed=1))
    again = clean_reference(png(300, 300, seed=1))
    other = clean_reference(png(300, 300, seed=2))
    assert first.sha256 == again.sha256
    assert first.sha256 != other.sha256
    assert len(first.original_sha256) == 64


def test_noisy_images_are_scaled_until_they_fit_the_stored_size_limit() -> None:
    import os

    noise = Image.frombytes("RGBA", (2048, 2048), os.urandom(2048 * 2048 * 4))
    out = io.BytesIO()
    noise.save(out, "PNG", compress_level=1)
    clean = clean_reference(out.getvalue(), limit=64 * 1024 * 1024)
    assert len(clean.data) <= STORED_MAX_BYTES


def test_preview_is_a_small_jpeg() -> None:
    small = preview(clean_reference(make_image(2000, 1000, "PNG", mode="RGBA")).data)
    with Image.open(io.BytesIO(small)) as image:
        assert image.format == "JPEG"
        assert max(image.size) <= 1024


async def test_workers_run_the_checks_off_the_event_loop() -> None:
    workers = ImageWorkers(concurrency=1)
    clean = await workers.clean_reference(png(300, 300))
    assert clean.width == 300
    with pytest.raises(ImageRejected):
        await workers.clean_reference(b"nope")


# -- property tests: whatever the bytes, only ImageRejected, quickly, within a memory bound ----

_VALID_SAMPLES = [make_image(300, 300, fmt) for fmt in ("PNG", "JPEG", "WEBP")]
_MEMORY_BOUND_MB = 600


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _only_user_facing_errors(data: bytes) -> None:
    with contextlib.suppress(ImageRejected):
        clean_reference(data)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes_only_ever_raise_the_user_facing_error(data: bytes) -> None:
    _only_user_facing_errors(data)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_VALID_SAMPLES),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=12),
    st.integers(min_value=0),
)
def test_mutated_images_only_ever_raise_the_user_facing_error(
    sample: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(sample)
    for position, value in flips:
        data[position % len(data)] = value
    _only_user_facing_errors(bytes(data[: max(8, len(data) - cut % len(data))]))
    assert _peak_rss_mb() < _MEMORY_BOUND_MB


@settings(max_examples=60, deadline=2000)
@given(st.integers(1, 70_000), st.integers(1, 70_000))
def test_declared_dimensions_never_cause_a_big_decode(width: int, height: int) -> None:
    _only_user_facing_errors(png_declaring(width, height))
    assert _peak_rss_mb() < _MEMORY_BOUND_MB


def test_a_png_with_a_header_and_no_image_data_is_not_an_image() -> None:
    from bot.images.processing import NotAnImage, inspect
    from tests.bot.net.test_safe_fetch import png_header

    with pytest.raises(ImageRejected):
        clean_reference(png_header(512, 512, data=False))
    # What checks services' results says so too, rather than letting Pillow's IndexError out.
    with pytest.raises(NotAnImage):
        inspect(png_header(512, 512, data=False))
