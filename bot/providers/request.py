"""Cameo's own vocabulary for what to generate; each client maps it onto its service's fields."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PROMPT_MAX = 2000
MAX_SCENE_IMAGES = 4
SEED_MAX = 2_147_483_647

# Every aspect ratio Ideogram Character knows; each service accepts a subset.
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
_RESOLUTION = re.compile(r"^\d{3,4}x\d{3,4}$")


class Speed(StrEnum):
    TURBO = "turbo"
    DEFAULT = "default"
    QUALITY = "quality"


class Style(StrEnum):
    AUTO = "auto"
    REALISTIC = "realistic"
    FICTION = "fiction"
    GENERAL = "general"
    DESIGN = "design"


class MagicPrompt(StrEnum):
    AUTO = "auto"
    ON = "on"
    OFF = "off"


@dataclass(frozen=True)
class ImageInput:
    """An image handed to a service: always bytes we hold, never a URL a member gave us."""

    data: bytes
    content_type: str = "image/png"

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def filename(self) -> str:
        extension = {"image/jpeg": "jpg", "image/webp": "webp"}.get(self.content_type, "png")
        return f"{self.sha256[:16]}.{extension}"


class SceneRequest(BaseModel):
    """One scene of a character: what `/scene` and `cameo generate` ask for."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    prompt: Annotated[str, Field(min_length=1, max_length=PROMPT_MAX)]
    reference: ImageInput
    style: Style = Style.AUTO
    aspect_ratio: str | None = None
    resolution: str | None = None
    speed: Speed = Speed.DEFAULT
    magic_prompt: MagicPrompt = MagicPrompt.AUTO
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] | None = None
    negative_prompt: Annotated[str, Field(max_length=PROMPT_MAX)] | None = None
    count: Annotated[int, Field(ge=1, le=MAX_SCENE_IMAGES)] = 1
    edit_image: ImageInput | None = None
    edit_mask: ImageInput | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the prompt is empty")
        return value.strip()

    @field_validator("aspect_ratio")
    @classmethod
    def _known_ratio(cls, value: str | None) -> str | None:
        if value is not None and value not in ASPECT_RATIOS:
            raise ValueError(f"aspect ratio must be one of {', '.join(ASPECT_RATIOS)}")
        return value

    @field_validator("resolution")
    @classmethod
    def _resolution_shape(cls, value: str | None) -> str | None:
        if value is not None and not _RESOLUTION.match(value):
            raise ValueError("resolution must look like 1024x1024")
        return value

    @model_validator(mode="after")
    def _edit_needs_both(self) -> SceneRequest:
        if (self.edit_image is None) != (self.edit_mask is None):
            raise ValueError("editing a region needs both an image and a mask")
        if self.aspect_ratio is not None and self.resolution is not None:
            raise ValueError("give an aspect ratio or a resolution, not both")
        return self

    @property
    def is_edit(self) -> bool:
        return self.edit_image is not None


class PoseRequest(BaseModel):
    """A pose sheet of a character (Segmind Consistent Character)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    subject: ImageInput
    prompt: Annotated[str, Field(min_length=1, max_length=PROMPT_MAX)] = "A headshot photo"
    negative_prompt: Annotated[str, Field(max_length=PROMPT_MAX)] = "low quality,blur"
    outputs: Annotated[int, Field(ge=1, le=20)] = 1
    images_per_pose: Annotated[int, Field(ge=1, le=4)] = 1
    randomise_poses: bool = True
    output_format: Literal["webp", "jpg", "png"] = "webp"
    output_quality: Annotated[int, Field(ge=0, le=100)] = 80
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] | None = None

    @property
    def count(self) -> int:
        return self.outputs * self.images_per_pose


GenerationRequest = SceneRequest | PoseRequest
