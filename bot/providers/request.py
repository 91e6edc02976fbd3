"""Cameo's own vocabulary for what to generate; each client maps it onto its service's fields."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.characters.text import visible_length
from bot.providers.shapes import ASPECT_RATIOS, IDEOGRAM_RESOLUTIONS, ratio_of

PROMPT_MAX = 2000
MAX_SCENE_IMAGES = 4
MAX_POSES = 20
MAX_IMAGES_PER_POSE = 4
SEED_MAX = 2_147_483_647

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


def _refuse_blank(value: str, sentence: str) -> None:
    """Refuse text with `sentence` if nothing in it shows on screen."""
    # Stop at the first character that shows: every job read from its row checks its prompt
    # again, and counting all of a long prompt's characters each time costs more than the read.
    if not any(visible_length(character) for character in value):
        raise _refusal(sentence)


def _visible(value: str, sentence: str) -> str:
    """Return the text trimmed; refuse it with `sentence` if nothing in it shows on screen."""
    _refuse_blank(value, sentence)
    return value.strip()


def _known_ratio(value: str) -> str:
    if value not in ASPECT_RATIOS:
        raise _refusal(_RULES["aspect_ratio"])
    return value


def _documented_resolution(value: str) -> str:
    if not _RESOLUTION.match(value):
        raise _refusal(_RULES["resolution"])
    # Checked here, before anything is queued or spent: the services answer an undocumented
    # size with an error (Segmind, PixelDojo) or a failed job (Apiframe) only once it is sent.
    if value not in IDEOGRAM_RESOLUTIONS:
        raise _refusal(
            f"{value} isn't a resolution the image services offer. Pick one of the suggestions "
            "(for example 1024x1024), or leave the resolution out."
        )
    return value


def _shapes_agree(aspect_ratio: str | None, resolution: str | None) -> None:
    """Refuse a resolution of another shape than the aspect ratio chosen with it.

    Both may be given (the resolution suggestions follow the chosen ratio); the services are
    sent only the resolution, which sets the shape, so a disagreeing pair is a mistake.
    """
    if aspect_ratio is None or resolution is None:
        return
    shape = ratio_of(resolution)
    if shape != aspect_ratio:
        raise _refusal(
            f"{resolution} makes a {shape} picture, not {aspect_ratio}. Pick a resolution the "
            f"suggestions offer for {aspect_ratio}, or leave the aspect ratio out."
        )


# The rules for each option, shared by what a member chose and what a service is sent; each
# failure is refused in the sentence `_RULES` (or the check itself) gives.
Prompt = Annotated[str, Field(max_length=PROMPT_MAX)]


def _shows(sentence: str) -> AfterValidator:
    """Refuse a chosen text with `sentence` when nothing in it shows (kept as typed)."""

    def check(value: str) -> str:
        _refuse_blank(value, sentence)
        return value

    return AfterValidator(check)


def _trimmed(sentence: str) -> AfterValidator:
    """Trim a text for the service; refuse it with `sentence` when nothing in it shows."""
    return AfterValidator(lambda value: _visible(value, sentence))


# What a member typed, kept as typed in their options; what a service is sent, trimmed.
ChosenPrompt = Annotated[Prompt, _shows(EMPTY_PROMPT)]
ChosenNegativePrompt = Annotated[Prompt, _shows(EMPTY_NEGATIVE_PROMPT)]
SentPrompt = Annotated[Prompt, _trimmed(EMPTY_PROMPT)]
SentNegativePrompt = Annotated[Prompt, _trimmed(EMPTY_NEGATIVE_PROMPT)]
AspectRatio = Annotated[str, AfterValidator(_known_ratio)]
Resolution = Annotated[str, AfterValidator(_documented_resolution)]
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
SceneCount = Annotated[int, Field(ge=1, le=MAX_SCENE_IMAGES)]
PoseCount = Annotated[int, Field(ge=1, le=MAX_POSES)]
PerPose = Annotated[int, Field(ge=1, le=MAX_IMAGES_PER_POSE)]
OutputFormat = Literal["webp", "jpg", "png"]
OutputQuality = Annotated[int, Field(ge=0, le=100)]


class SceneOptions(BaseModel):
    """What a member chose for a scene, checked once when it is queued and kept with the job.

    None is "not chosen": the request fills in the service's default, and cards show only
    what the member set. Text is kept as typed (the request trims it for the service).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: ChosenPrompt
    style: Style | None = None
    aspect_ratio: AspectRatio | None = None
    resolution: Resolution | None = None
    speed: Speed | None = None
    magic_prompt: MagicPrompt | None = None
    seed: Seed | None = None
    negative_prompt: ChosenNegativePrompt | None = None
    count: SceneCount | None = None

    @model_validator(mode="after")
    def _check_shapes(self) -> SceneOptions:
        _shapes_agree(self.aspect_ratio, self.resolution)
        return self


class PoseOptions(BaseModel):
    """What a member chose for a pose sheet; None is "not chosen", as for SceneOptions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: ChosenPrompt | None = None
    negative_prompt: ChosenNegativePrompt | None = None
    outputs: PoseCount | None = None
    images_per_pose: PerPose | None = None
    randomise_poses: bool | None = None
    output_format: OutputFormat | None = None
    output_quality: OutputQuality | None = None
    seed: Seed | None = None


GenerationOptions = SceneOptions | PoseOptions


def _chosen(options: GenerationOptions) -> dict[str, object]:
    """The options the member set, by field name, for a request to take over."""
    return {name: value for name, value in options if value is not None}


class SceneRequest(BaseModel):
    """One scene of a character: what `/scene` and `cameo generate` ask for."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    prompt: SentPrompt
    reference: ImageInput
    style: Style = Style.AUTO
    aspect_ratio: AspectRatio | None = None
    resolution: Resolution | None = None
    speed: Speed = Speed.DEFAULT
    magic_prompt: MagicPrompt = MagicPrompt.AUTO
    seed: Seed | None = None
    negative_prompt: SentNegativePrompt | None = None
    count: SceneCount = 1
    edit_image: ImageInput | None = None
    edit_mask: ImageInput | None = None

    @classmethod
    def from_options(
        cls,
        options: SceneOptions,
        *,
        reference: ImageInput,
        edit_image: ImageInput | None = None,
        edit_mask: ImageInput | None = None,
    ) -> SceneRequest:
        """The request for a member's options and the pictures they go with.

        Validated again, so options stored under older rules are refused in Cameo's words
        (`refusal_of`) rather than sent.
        """
        return cls.model_validate(
            {
                **_chosen(options),
                "reference": reference,
                "edit_image": edit_image,
                "edit_mask": edit_mask,
            }
        )

    @model_validator(mode="after")
    def _edit_needs_both(self) -> SceneRequest:
        if (self.edit_image is None) != (self.edit_mask is None):
            raise _refusal("To edit a region, attach both the image and its mask.")
        _shapes_agree(self.aspect_ratio, self.resolution)
        return self

    @property
    def is_edit(self) -> bool:
        return self.edit_image is not None


class PoseRequest(BaseModel):
    """A pose sheet of a character (Segmind Consistent Character)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    subject: ImageInput
    prompt: SentPrompt = "A headshot photo"
    negative_prompt: SentNegativePrompt = "low quality,blur"
    outputs: PoseCount = 1
    images_per_pose: PerPose = 1
    randomise_poses: bool = True
    output_format: OutputFormat = "webp"
    output_quality: OutputQuality = 80
    seed: Seed | None = None

    @classmethod
    def from_options(cls, options: PoseOptions, *, subject: ImageInput) -> PoseRequest:
        """The request for a member's options and the character's picture (see SceneRequest)."""
        return cls.model_validate({**_chosen(options), "subject": subject})

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


@dataclass(frozen=True)
class Needs:
    """What a service must be able to do to take a request.

    Read from a member's options when a job is queued (so no picture is read just to check
    that some service could honour it), or from a built request when it is sent.
    """

    poses: bool
    count: int
    speed: Speed = Speed.DEFAULT
    style: Style = Style.AUTO
    # Only without a resolution: a resolution is all a service is sent, and it sets the shape.
    aspect_ratio: str | None = None
    resolution: str | None = None
    seed: int | None = None
    negative_prompt: bool = False
    edit: bool = False
    # The prompt as sent (trimmed), in UTF-16 code units: how JavaScript validators (Apiframe's)
    # count a string's length, so an emoji counts twice.
    prompt_utf16: int = 0

    @classmethod
    def of(cls, request: GenerationRequest) -> Needs:
        if isinstance(request, PoseRequest):
            return cls(poses=True, count=request.count, seed=request.seed)
        return cls(
            poses=False,
            count=request.count,
            speed=request.speed,
            style=request.style,
            aspect_ratio=None if request.resolution else request.aspect_ratio,
            resolution=request.resolution,
            seed=request.seed,
            negative_prompt=request.negative_prompt is not None,
            edit=request.is_edit,
            prompt_utf16=utf16_length(request.prompt),
        )

    @classmethod
    def of_options(cls, options: GenerationOptions, *, edit: bool = False) -> Needs:
        """What these options will need, with the request's defaults for what was not chosen."""
        if isinstance(options, PoseOptions):
            defaults = PoseRequest.model_fields
            outputs = options.outputs or defaults["outputs"].default
            per_pose = options.images_per_pose or defaults["images_per_pose"].default
            return cls(poses=True, count=outputs * per_pose, seed=options.seed)
        return cls(
            poses=False,
            count=options.count or SceneRequest.model_fields["count"].default,
            speed=options.speed or Speed.DEFAULT,
            style=options.style or Style.AUTO,
            aspect_ratio=None if options.resolution else options.aspect_ratio,
            resolution=options.resolution,
            seed=options.seed,
            negative_prompt=options.negative_prompt is not None,
            edit=edit,
            # Trimmed as the request trims it (`SentPrompt`), so both count the same text.
            prompt_utf16=utf16_length(options.prompt.strip()),
        )


def utf16_length(text: str) -> int:
    """The length of `text` in UTF-16 code units (JavaScript's `string.length`)."""
    return len(text.encode("utf-16-le")) // 2
