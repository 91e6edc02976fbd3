"""A preset of scene settings, and the order presets apply in.

Precedence, for each setting: what the command was given, then the member's preferences in
that server, then the character's defaults (set by its owner), then Cameo's own (the request's
defaults). The scene card shows where each setting came from, so nobody wonders why a picture
came out square.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.errors import CameoError
from bot.providers.request import (
    AspectRatio,
    ChosenNegativePrompt,
    MagicPrompt,
    Speed,
    Style,
    refusal_of,
)

log = logging.getLogger(__name__)

# The settings a preset may hold, in the order members see them.
PRESET_SETTINGS = ("style", "aspect_ratio", "speed", "magic_prompt", "negative_prompt")


class Preset(BaseModel):
    """Scene settings kept for later; None is "not set" (the next source decides)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    style: Style | None = None
    aspect_ratio: AspectRatio | None = None
    speed: Speed | None = None
    magic_prompt: MagicPrompt | None = None
    negative_prompt: ChosenNegativePrompt | None = None

    @classmethod
    def checked(cls, values: Mapping[str, object]) -> Preset:
        """A preset from what a member typed, refused in Cameo's words if anything is wrong."""
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            raise CameoError(refusal_of(exc)) from None

    @classmethod
    def stored(cls, text: str) -> Preset:
        """A preset read back from the database. Settings that later rules no longer allow
        are dropped (with a log line), never a reason for a member's scene to fail."""
        try:
            raw = json.loads(text or "{}")
        except json.JSONDecodeError:
            log.warning("A stored preset is not JSON; ignoring it")
            return cls()
        kept: dict[str, object] = {}
        for name in PRESET_SETTINGS:
            if raw.get(name) is None:
                continue
            try:
                cls.model_validate({name: raw[name]})
            except ValidationError:
                log.warning("Dropping the stored preset setting %s, no longer allowed", name)
                continue
            kept[name] = raw[name]
        return cls.model_validate(kept)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), sort_keys=True)

    def merged_with(self, changes: Preset) -> Preset:
        """This preset with every setting `changes` sets replaced."""
        return Preset.model_validate(
            {**self.model_dump(exclude_none=True), **changes.model_dump(exclude_none=True)}
        )

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in PRESET_SETTINGS)

    def settings(self) -> dict[str, object]:
        """The settings this preset holds, by name, in PRESET_SETTINGS order."""
        return {name: getattr(self, name) for name in PRESET_SETTINGS if getattr(self, name)}


class Source(StrEnum):
    """Where a scene's setting came from, as the scene card names it."""

    COMMAND = "command"
    MEMBER = "member"  # the member's /prefs
    CHARACTER = "character"  # the character's defaults


def apply_presets(
    chosen: Mapping[str, object], member: Preset, character: Preset
) -> tuple[dict[str, object], dict[str, Source]]:
    """Fill the settings the command left out: the member's preferences first, then the
    character's defaults. Return the options and, for every setting set, its source.

    An aspect ratio and a resolution are one choice (a picture's shape): a preset's aspect
    ratio never joins a resolution chosen by a stronger source.
    """
    options = {name: value for name, value in chosen.items() if value is not None}
    sources = {name: Source.COMMAND for name in options if name in PRESET_SETTINGS}
    for preset, source in ((member, Source.MEMBER), (character, Source.CHARACTER)):
        for name, value in preset.settings().items():
            if name in options:
                continue
            if name == "aspect_ratio" and options.get("resolution") is not None:
                continue
            options[name] = value.value if isinstance(value, StrEnum) else value
            sources[name] = source
    return options, sources
