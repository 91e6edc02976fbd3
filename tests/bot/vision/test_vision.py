"""The vision checks with their real model files: loading (and refusing a file that is not the
one expected), one real inference each, and photographs told from drawings."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFilter

from bot.images.processing import clean_reference
from bot.vision.faces import FLAT_SHARE_DRAWN
from bot.vision.models import FACE_DETECTOR, SAFETY_CLASSIFIER, ModelFile, ModelUnavailable
from bot.vision.service import Vision, load_vision

PHOTO = Path(__file__).parents[2] / "fixtures" / "photos" / "astronaut.jpg"


@pytest.fixture
def vision() -> Vision:
    loaded = load_vision()
    assert loaded is not None, "the vision extra is part of the test install"
    return loaded


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def cel_shaded(photo: bytes) -> bytes:
    """The photograph turned into a drawing: smoothed, twelve flat colours, tidied edges (as a
    cel-shaded illustration is). The face detector still finds the face in it."""
    image = Image.open(io.BytesIO(photo)).convert("RGB").filter(ImageFilter.MedianFilter(5))
    flat = image.quantize(12, dither=Image.Dither.NONE).convert("RGB")
    return _png(flat.filter(ImageFilter.ModeFilter(5)))


def cartoon_face() -> bytes:
    """A drawn face in flat colours: yellow disc, dot eyes, a smile."""
    image = Image.new("RGB", (512, 512), (120, 180, 230))
    draw = ImageDraw.Draw(image)
    draw.ellipse((96, 96, 416, 416), fill=(250, 210, 60), outline=(0, 0, 0), width=6)
    draw.ellipse((180, 190, 220, 240), fill=(0, 0, 0))
    draw.ellipse((292, 190, 332, 240), fill=(0, 0, 0))
    draw.arc((170, 220, 342, 350), 20, 160, fill=(0, 0, 0), width=8)
    return _png(image)


def test_the_model_files_are_found_in_their_packages_and_match_their_hashes() -> None:
    for model in (FACE_DETECTOR, SAFETY_CLASSIFIER):
        assert model.locate().is_file()


def test_a_model_file_that_is_not_the_expected_one_is_refused() -> None:
    wrong = ModelFile(FACE_DETECTOR.package, FACE_DETECTOR.path, "0" * 64, "MIT")
    with pytest.raises(ModelUnavailable, match="not the model Cameo expects"):
        wrong.locate()
    with pytest.raises(ModelUnavailable, match="not installed"):
        ModelFile("cameo_no_such_package", "model.onnx", "0" * 64, "MIT").locate()


async def test_a_photograph_of_a_person_is_a_photographic_face(vision: Vision) -> None:
    found = await vision.find_faces(PHOTO.read_bytes())
    assert found.faces == 1
    assert found.photographic_face


async def test_the_same_face_drawn_in_flat_colours_is_not_a_photograph(vision: Vision) -> None:
    drawn = cel_shaded(PHOTO.read_bytes())
    for picture in (drawn, clean_reference(drawn).data):  # as uploaded, and as stored (JPEG)
        found = await vision.find_faces(picture)
        assert found.faces == 1  # the detector still sees a face…
        assert found.flat_share >= FLAT_SHARE_DRAWN
        assert not found.photographic_face  # …but nobody's photograph
    stored_photo = clean_reference(PHOTO.read_bytes()).data
    assert (await vision.find_faces(stored_photo)).photographic_face


async def test_a_cartoon_face_and_a_landscape_have_no_photographic_face(vision: Vision) -> None:
    assert not (await vision.find_faces(cartoon_face())).photographic_face
    landscape = Image.new("RGB", (640, 400), (90, 150, 220))
    ImageDraw.Draw(landscape).rectangle((0, 260, 640, 400), fill=(40, 140, 60))
    assert (await vision.find_faces(_png(landscape))).faces == 0
    assert (await vision.find_faces(b"not a picture")).faces == 0


def faceless_crop(photo: bytes) -> bytes:
    """The lower part of a photograph of a person, without the face, as a JPEG."""
    image = Image.open(io.BytesIO(photo)).convert("RGB")
    out = io.BytesIO()
    lower = image.crop((0, image.height * 3 // 5, image.width, image.height))
    lower.resize((lower.width * 2, lower.height * 2)).save(out, "JPEG")  # as large as a reference
    return out.getvalue()


async def test_a_photograph_without_a_face_is_told_from_a_drawing(vision: Vision) -> None:
    hopper = (PHOTO.parent / "grace_hopper.jpg").read_bytes()
    for photo in (PHOTO.read_bytes(), hopper):
        found = await vision.find_faces(faceless_crop(photo))
        assert found.faces == 0
        assert found.photograph_without_face
        stored = await vision.find_faces(clean_reference(faceless_crop(photo)).data)
        assert stored.photograph_without_face
    landscape = Image.new("RGB", (640, 400), (90, 150, 220))
    ImageDraw.Draw(landscape).rectangle((0, 260, 640, 400), fill=(40, 140, 60))
    for drawing in (_png(landscape), clean_reference(_png(landscape)).data):
        found = await vision.find_faces(drawing)
        assert found.faces == 0
        assert not found.photograph_without_face
    assert not (await vision.find_faces(PHOTO.read_bytes())).photograph_without_face


async def test_the_safety_classifier_runs_for_real_on_an_everyday_photograph(
    vision: Vision,
) -> None:
    verdict = await vision.check_safety(PHOTO.read_bytes())
    assert 0.0 <= verdict.score < 0.2  # Yahoo's "safe" band
    assert not verdict.age_restricted
    # A picture that can't be read is held back rather than posted unchecked.
    assert (await vision.check_safety(b"not a picture")).age_restricted
