"""Shared pieces for the provider tests: a real HTTP client, quick polling, real images."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.images.processing import clean_reference
from bot.providers.polling import PollPolicy
from bot.providers.request import ImageInput, SceneRequest
from tests.imagefactory import png

FAST_POLL = PollPolicy(initial=0.01, factor=1.5, cap=0.05)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        yield client


def reference(seed: int = 1) -> ImageInput:
    clean = clean_reference(png(512, 512, seed=seed))
    return ImageInput(clean.data, f"image/{clean.format}")


def scene(**options: object) -> SceneRequest:
    values: dict[str, object] = {"prompt": "Mira reading by a fireplace", "reference": reference()}
    values.update(options)
    return SceneRequest(**values)  # type: ignore[arg-type]
