"""Likeness with the real face models, on public-domain photographs (tests/fixtures/photos):
the same person through the changes a result goes through scores strong, another person weak,
and a drawing gets no score at all."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

from bot.vision.faces import FaceDetector, Pixels, decode
from bot.vision.likeness import DEFAULT_BANDS, Bands, FaceEmbedder, likeness
from bot.vision.models import FACE_DETECTOR, FACE_RECOGNISER
from tests.bot.vision.test_vision import cel_shaded

PHOTOS = Path(__file__).parents[2] / "fixtures" / "photos"
ASTRONAUT = (PHOTOS / "astronaut.jpg").read_bytes()
HOPPER = (PHOTOS / "grace_hopper.jpg").read_bytes()


@pytest.fixture(scope="module")
def embedder() -> FaceEmbedder:
    return FaceEmbedder(FaceDetector(FACE_DETECTOR.locate()), FACE_RECOGNISER.locate())


def pixels(image: Image.Image, fmt: str = "PNG", **options: object) -> Pixels:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    decoded = decode(out.getvalue())
    assert decoded is not None
    return decoded


def photo() -> Image.Image:
    return Image.open(io.BytesIO(ASTRONAUT)).convert("RGB")


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param(lambda p: p.transpose(Image.Transpose.FLIP_LEFT_RIGHT), id="mirrored"),
        pytest.param(lambda p: p.crop((100, 0, 450, 380)), id="cropped"),
        pytest.param(lambda p: ImageEnhance.Color(p).enhance(0.3), id="re-coloured"),
        pytest.param(lambda p: p.resize((1024, 1024)), id="enlarged"),
    ],
)
def test_the_same_person_scores_strong_through_what_a_result_goes_through(
    embedder: FaceEmbedder, changed: object
) -> None:
    reference = embedder.reference_embedding(pixels(photo()))
    assert reference is not None
    result = embedder.embedding(pixels(changed(photo())))  # type: ignore[operator]
    assert result is not None
    score = likeness(reference, result)
    assert score > 0.5
    assert DEFAULT_BANDS.word(score) == "strong"


def test_a_heavily_compressed_copy_is_still_the_same_person(embedder: FaceEmbedder) -> None:
    reference = embedder.reference_embedding(pixels(photo()))
    result = embedder.embedding(pixels(photo(), "JPEG", quality=30))
    assert reference is not None
    assert result is not None
    assert likeness(reference, result) > 0.5


def test_another_person_scores_weak(embedder: FaceEmbedder) -> None:
    reference = embedder.reference_embedding(pixels(photo()))
    other = decode(HOPPER)
    assert reference is not None
    assert other is not None
    result = embedder.embedding(other)
    assert result is not None
    score = likeness(reference, result)
    assert score < 0.36
    assert DEFAULT_BANDS.word(score) == "weak"


def test_a_drawing_or_a_picture_without_a_face_gets_no_embedding(embedder: FaceEmbedder) -> None:
    drawn = decode(cel_shaded(ASTRONAUT))
    assert drawn is not None
    assert embedder.embedding(drawn) is None
    assert embedder.reference_embedding(drawn) is None
    assert embedder.embedding(pixels(Image.new("RGB", (512, 512), (40, 120, 200)))) is None


def test_bands_say_the_score_in_words_and_can_be_moved() -> None:
    assert [DEFAULT_BANDS.word(s) for s in (0.62, 0.5, 0.42, 0.36, 0.2)] == [
        "strong",
        "strong",
        "likely",
        "likely",
        "weak",
    ]
    assert Bands(strong=0.6, likely=0.45).word(0.5) == "likely"
