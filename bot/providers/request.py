"""Cameo's own vocabulary for what to generate; each client maps it onto its service's fields."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from bot.characters.text import visible_length

PROMPT_MAX = 2000
MAX_SCENE_IMAGES = 4
MAX_POSES = 20
MAX_IMAGES_PER_POSE = 4
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


EMPTY_PROMPT = "Give a prompt with at least one visible character."
EMPTY_NEGATIVE_PROMPT = "Give a negative prompt with at least one visible character, or none."


def _listed(values: tuple[str, ...] | type[StrEnum]) -> str:
    names = [str(value) for value in values]
    return f"{', '.join(names[:-1])} or {names[-1]}"


# Cameo's words for an option that fails one of pydantic's own checks (a length, a range, a
# choice), whose messages name the model's fields and types rather than what the member gave.
_RULES = {
    "prompt": f"Prompts can be at most {PROMPT_MAX} characters long.",
    "negative_prompt": f"Negative prompts can be at most {PROMPT_MAX} characters long.",
    "style": f"The style must be {_listed(Style)}.",
    "aspect_ratio": f"The aspect ratio must be {_listed(ASPECT_RATIOS)}.",
    "resolution": "Give the resolution as width and height in pixels, like 1024x1024.",
    "speed": f"The speed must be {_listed(Speed)}.",
    "magic_prompt": f"Magic prompt must be {_listed(MagicPrompt)}.",
    "seed": f"A seed is a whole number from 0 to {SEED_MAX}.",
    "count": f"Ask for 1 to {MAX_SCENE_IMAGES} pictures.",
    "outputs": f"Ask for 1 to {MAX_POSES} poses.",
    "images_per_pose": f"Ask for 1 to {MAX_IMAGES_PER_POSE} pictures of each pose.",
    "output_format": "The file type must be webp, jpg or png.",
    "output_quality": "The quality must be a whole number from 0 to 100.",
}


# The error type of a check written here, whose message is already a sentence for the member.
REFUSAL = "cameo_refusal"


def _refusal(sentence: str) -> PydanticCustomError:
    return PydanticCustomError(REFUSAL, sentence)


def _visible(value: str, sentence: str) -> str:
    """Return the text trimmed; refuse it with `sentence` if nothing in it shows on screen."""
    if not visible_length(value):
        raise _refusal(sentence)
    return value.strip()


class SceneRequest(BaseModel):
    """One scene of a character: what `/scene` and `cameo generate` ask for."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    prompt: Annotated[str, Field(max_length=PROMPT_MAX)]
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
        return _visible(value, EMPTY_PROMPT)

    @field_validator("negative_prompt")
    @classmethod
    def _negative_prompt_has_text(cls, value: str | None) -> str | None:
        return None if value is None else _visible(value, EMPTY_NEGATIVE_PROMPT)

    @field_validator("aspect_ratio")
    @classmethod
    def _known_ratio(cls, value: str | None) -> str | None:
        if value is not None and value not in ASPECT_RATIOS:
            raise _refusal(_RULES["aspect_ratio"])
        return value

    @field_validator("resolution")
    @classmethod
    def _resolution_shape(cls, value: str | None) -> str | None:
        if value is not None and not _RESOLUTION.match(value):
            raise _refusal(_RULES["resolution"])
        return value

    @model_validator(mode="after")
    def _edit_needs_both(self) -> SceneRequest:
        if (self.edit_image is None) != (self.edit_mask is None):
            raise _refusal("To edit a region, attach both the image and its mask.")
        if self.aspect_ratio is not None and self.resolution is not None:
            raise _refusal("Give an aspect ratio or a resolution, not both.")
        return self

    @property
    def is_edit(self) -> bool:
        return self.edit_image is not None


class PoseRequest(BaseModel):
    """A pose sheet of a character (Segmind Consistent Character)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    subject: ImageInput
    prompt: Annotated[str, Field(max_length=PROMPT_MAX)] = "A headshot photo"
    negative_prompt: Annotated[str, Field(max_length=PROMPT_MAX)] = "low quality,blur"
    outputs: Annotated[int, Field(ge=1, le=MAX_POSES)] = 1
    images_per_pose: Annotated[int, Field(ge=1, le=MAX_IMAGES_PER_POSE)] = 1
    randomise_poses: bool = True
    output_format: Literal["webp", "jpg", "png"] = "webp"
    output_quality: Annotated[int, Field(ge=0, le=100)] = 80
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt_has_text(cls, value: str) -> str:
        return _visible(value, EMPTY_PROMPT)

    @field_validator("negative_prompt")
    @classmethod
    def _negative_prompt_has_text(cls, value: str) -> str:
        return _visible(value, EMPTY_NEGATIVE_PROMPT)

    @property
    def count(self) -> int:
        return self.outputs * self.images_per_pose


GenerationRequest = SceneRequest | PoseRequest


def refusal_of(error: ValidationError) -> str:
    """Cameo's sentence for the first thing wrong with a request, to show the member as is."""
    first = error.errors(include_url=False, include_input=False)[0]
    if first["type"] == REFUSAL:
        return first["msg"]
    field = str(first["loc"][0]) if first["loc"] else ""
    return _RULES.get(field, "That request can't be made; check its options and try again.")
