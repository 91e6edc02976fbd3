"""Shared pieces for the provider tests: a real HTTP client, quick polling, real images, and
the check that a failure came after payment."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from bot.images.processing import clean_reference
from bot.providers.errors import FailedAfterPayment, ProviderError
from bot.providers.polling import PollPolicy
from bot.providers.request import ImageInput, SceneRequest
from bot.providers.router import fails_over
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


def assert_after_payment(error: BaseException | None, kind: type[ProviderError]) -> None:
    """Assert `error` is a failure after payment of `kind`, which the router never fails over."""
    assert isinstance(error, FailedAfterPayment), f"{error!r} is not a failure after payment"
    assert isinstance(error.original, kind), f"{error.original!r} is not a {kind.__name__}"
    assert not isinstance(error.original, FailedAfterPayment)  # wrapped once, never twice
    assert error.__cause__ is error.original
    assert not fails_over(error)


@contextlib.contextmanager
def raises_after_payment(
    kind: type[ProviderError], match: str | None = None
) -> Iterator[pytest.ExceptionInfo[FailedAfterPayment]]:
    """Like `pytest.raises(kind, match=match)`, for a failure after payment of that kind.

    `match` is searched in the error's text as `pytest.raises` does: the provider and the
    operator's detail, which (unlike the original's) may name the paid job.
    """
    with pytest.raises(FailedAfterPayment, match=match) as raised:
        yield raised
    assert_after_payment(raised.value, kind)
