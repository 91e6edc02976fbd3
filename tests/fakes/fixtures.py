"""Pytest plugin: a started fake per image service, stopped after the test.

Load with ``pytest_plugins = ["tests.fakes.fixtures"]`` in the top-level conftest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .apiframe import FakeApiframe
from .imagehost import ImageHost
from .pixeldojo import FakePixelDojo
from .segmind import FakeSegmind


@pytest.fixture
async def segmind_fake() -> AsyncIterator[FakeSegmind]:
    async with FakeSegmind() as fake:
        yield fake


@pytest.fixture
async def apiframe_fake() -> AsyncIterator[FakeApiframe]:
    async with FakeApiframe() as fake:
        yield fake


@pytest.fixture
async def pixeldojo_fake() -> AsyncIterator[FakePixelDojo]:
    async with FakePixelDojo() as fake:
        yield fake


@pytest.fixture
async def image_host() -> AsyncIterator[ImageHost]:
    """A plain loopback file server for reference images (see `ImageHost.put`)."""
    async with ImageHost() as host:
        yield host
