"""Every picture shape the services document: aspect ratios and exact resolutions.

The lists are copied from the vendors' documents (named beside each) so a member's choice is
checked against them before anything is spent; a service's capabilities say which it takes.
"""

from __future__ import annotations

import math
from functools import cache

# Every aspect ratio Ideogram Character knows (Segmind's ideogram-character page: "Allowed
# values (15 total)"; Replicate's ideogram-character); each service accepts a subset.
ASPECT_RATIOS: tuple[str, ...] = (
    "1:1",
    "16:9",
    "9:16",
    "4:3",
    "3:4",
    "3:2",
    "2:3",
    "16:10",
    "10:16",
    "3:1",
    "1:3",
    "2:1",
    "1:2",
    "4:5",
    "5:4",
)

# Ideogram 3.0's `ResolutionV3` enum, in its order: the Ideogram API reference
# (developer.ideogram.ai, mirrored in reference/ideogram-openapi.yml,
# components.schemas.ResolutionV3), 69 values from 512x1536 to 1536x640. Apiframe and PixelDojo
# pass Ideogram Character's `resolution` through to Ideogram and list no values of their own.
IDEOGRAM_RESOLUTIONS: tuple[str, ...] = (
    "512x1536", "576x1408", "576x1472", "576x1536", "640x1344", "640x1408", "640x1472",
    "640x1536", "704x1152", "704x1216", "704x1280", "704x1344", "704x1408", "704x1472",
    "736x1312", "768x1088", "768x1216", "768x1280", "768x1344", "800x1280", "832x960",
    "832x1024", "832x1088", "832x1152", "832x1216", "832x1248", "864x1152", "896x960",
    "896x1024", "896x1088", "896x1120", "896x1152", "960x832", "960x896", "960x1024",
    "960x1088", "1024x832", "1024x896", "1024x960", "1024x1024", "1088x768", "1088x832",
    "1088x896", "1088x960", "1120x896", "1152x704", "1152x832", "1152x864", "1152x896",
    "1216x704", "1216x768", "1216x832", "1248x832", "1280x704", "1280x768", "1280x800",
    "1312x736", "1344x640", "1344x704", "1344x768", "1408x576", "1408x640", "1408x704",
    "1472x576", "1472x640", "1472x704", "1536x512", "1536x576", "1536x640",
)  # fmt: skip

# "Use the aspect ratio instead": Segmind's page lists it first among its values, and its
# default (512x1536) would otherwise override the aspect ratio.
FOLLOW_ASPECT_RATIO = "None"

# Segmind's ideogram-character page: "Allowed values (70 total)": "None" then Ideogram's 69, in
# the same order (the page shows the first ten, which match; its FAQ names 1536x640 as the
# largest, Ideogram's last).
SEGMIND_RESOLUTIONS: tuple[str, ...] = (FOLLOW_ASPECT_RATIO, *IDEOGRAM_RESOLUTIONS)


def _log_ratio(shape: str, separator: str) -> float:
    width, height = shape.split(separator)
    return math.log(int(width) / int(height))


@cache
def ratio_of(resolution: str) -> str:
    """The documented aspect ratio a resolution is nearest to ("1344x768" is 16:9).

    Ideogram's resolutions are multiples of 32 pixels, so few match a ratio exactly; each is
    counted as the ratio closest to its own (on a log scale, so 2:1 and 1:2 are alike).
    """
    shape = _log_ratio(resolution, "x")
    return min(ASPECT_RATIOS, key=lambda ratio: abs(_log_ratio(ratio, ":") - shape))


def resolutions_for(aspect_ratio: str | None) -> tuple[str, ...]:
    """Ideogram's resolutions of one aspect ratio (all of them for None), in Ideogram's order."""
    if aspect_ratio is None:
        return IDEOGRAM_RESOLUTIONS
    return tuple(value for value in IDEOGRAM_RESOLUTIONS if ratio_of(value) == aspect_ratio)
