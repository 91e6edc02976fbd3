"""Fixtures for the fakes' own tests: the fakes, an image host, and a plain HTTP client."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx
import pytest

# The fakes' fixtures come from tests.fakes.fixtures, loaded as a plugin by tests/conftest.py.

# Loading the CA bundle costs ~50 ms; build the context once, not per test (only http is used).
_TLS = ssl.create_default_context()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False: a developer's HTTP(S)_PROXY must never capture loopback traffic.
    async with httpx.AsyncClient(trust_env=False, timeout=10, verify=_TLS) as http:
        yield http
