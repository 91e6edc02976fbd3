"""Picture shapes: the documented resolution lists, and how a member's choice is checked
against them (and against the aspect ratio chosen with it) before anything is queued."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.providers.request import Needs, SceneOptions, SceneRequest, refusal_of
from bot.providers.shapes import (
    ASPECT_RATIOS,
    FOLLOW_ASPECT_RATIO,
    IDEOGRAM_RESOLUTIONS,
    SEGMIND_RESOLUTIONS,
    ratio_of,
    resolutions_for,
)
from tests.bot.providers.conftest import reference


def test_the_lists_hold_what_their_documents_count() -> None:
    # Ideogram's ResolutionV3 has 69 values from 512x1536 to 1536x640; Segmind's page says
    # "Allowed values (70 total)" and shows these ten first.
    assert len(IDEOGRAM_RESOLUTIONS) == len(set(IDEOGRAM_RESOLUTIONS)) == 69
    assert (IDEOGRAM_RESOLUTIONS[0], IDEOGRAM_RESOLUTIONS[-1]) == ("512x1536", "1536x640")
    assert len(SEGMIND_RESOLUTIONS) == len(set(SEGMIND_RESOLUTIONS)) == 70
    assert SEGMIND_RESOLUTIONS[:10] == (
        FOLLOW_ASPECT_RATIO,
        "512x1536",
        "576x1408",
        "576x1472",
        "576x1536",
        "640x1344",
        "640x1408",
        "640x1472",
        "640x1536",
        "704x1152",
    )


@pytest.mark.parametrize(
    ("resolution", "ratio"),
    [
        ("1024x1024", "1:1"),
        ("1312x736", "16:9"),
        ("1344x768", "16:9"),
        ("736x1312", "9:16"),
        ("1280x800", "16:10"),
        ("1536x512", "3:1"),
        ("1408x704", "2:1"),
        ("1120x896", "5:4"),
        ("1152x864", "4:3"),
    ],
)
def test_a_resolution_counts_as_its_nearest_aspect_ratio(resolution: str, ratio: str) -> None:
    assert ratio_of(resolution) == ratio
    assert resolution in resolutions_for(ratio)


def test_every_resolution_belongs_to_exactly_one_offered_ratio() -> None:
    by_ratio = [value for ratio in ASPECT_RATIOS for value in resolutions_for(ratio)]
    assert sorted(by_ratio) == sorted(IDEOGRAM_RESOLUTIONS)
    assert all(resolutions_for(ratio) for ratio in ASPECT_RATIOS)  # none left without sizes
    assert resolutions_for(None) == IDEOGRAM_RESOLUTIONS


def refused(**options: object) -> str:
    with pytest.raises(ValidationError) as raised:
        SceneOptions.model_validate({"prompt": "rain", **options})
    return refusal_of(raised.value)


@pytest.mark.parametrize("resolution", ["1000x1000", "9999x100", "1024x1023"])
def test_a_size_of_the_right_shape_but_no_documented_value_is_refused(resolution: str) -> None:
    assert refused(resolution=resolution) == (
        f"{resolution} isn't a resolution the image services offer. Pick one of the "
        "suggestions (for example 1024x1024), or leave the resolution out."
    )


def test_a_resolution_of_another_shape_than_the_aspect_ratio_is_refused() -> None:
    assert refused(aspect_ratio="16:9", resolution="1024x1024") == (
        "1024x1024 makes a 1:1 picture, not 16:9. Pick a resolution the suggestions offer "
        "for 16:9, or leave the aspect ratio out."
    )


def test_a_resolution_and_its_own_aspect_ratio_go_together_and_only_the_size_counts() -> None:
    options = SceneOptions(prompt="rain", aspect_ratio="2:1", resolution="1408x704")
    needs = Needs.of_options(options)
    # The services are sent only the resolution, so a service without the 2:1 ratio may still
    # take it; the resolution decides.
    assert (needs.aspect_ratio, needs.resolution) == (None, "1408x704")
    request = SceneRequest.from_options(options, reference=reference())
    assert Needs.of(request) == needs
    assert Needs.of_options(SceneOptions(prompt="rain", aspect_ratio="2:1")).aspect_ratio == "2:1"


def test_prompt_length_is_counted_in_utf16_code_units_as_sent() -> None:
    # Each of these emoji lies outside the Basic Multilingual Plane: two UTF-16 code units.
    options = SceneOptions(prompt="  Mira 🦊🌧  ")
    assert Needs.of_options(options).prompt_utf16 == len("Mira ") + 4
    request = SceneRequest.from_options(options, reference=reference())
    assert Needs.of(request).prompt_utf16 == Needs.of_options(options).prompt_utf16
