"""Pytest plugin: the ``emulator`` fixture and helpers for pointing discord.py at it.

Load with ``pytest_plugins = ["tests.discord.fixtures"]`` in the top-level conftest. A test that
leaves violations behind fails at teardown, listing them; tests that provoke a violation on
purpose call ``emu.take_violations()``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import discord
import pytest
import yarl

from .emulator import DiscordEmulator


def violation_report(emu: DiscordEmulator) -> str | None:
    """The failure message for leftover violations, or None when there are none."""
    if not emu.violations:
        return None
    listed = "\n".join(f"  - {v}" for v in emu.violations)
    return f"the bot broke {len(emu.violations)} Discord rule(s):\n{listed}"


def check_no_violations(emu: DiscordEmulator) -> None:
    """Fail the current test if the emulator recorded violations."""
    report = violation_report(emu)
    if report is not None:
        pytest.fail(report, pytrace=False)


@contextlib.contextmanager
def discord_globals_restored() -> Iterator[None]:
    """Save and restore discord.py's process-wide REST base and default gateway."""
    base = discord.http.Route.BASE
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    try:
        yield
    finally:
        discord.http.Route.BASE = base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


@contextlib.contextmanager
def discord_pointed_at(emu: DiscordEmulator) -> Iterator[None]:
    """Point discord.py at the emulator for the duration of the block."""
    with discord_globals_restored():
        discord.http.Route.BASE = emu.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
        yield


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "emulator(**options): DiscordEmulator options for the emulator fixture, "
        "e.g. @pytest.mark.emulator(ack_deadline=0.3)",
    )


@pytest.fixture
async def emulator(request: pytest.FixtureRequest) -> AsyncIterator[DiscordEmulator]:
    """A started emulator; the test fails at teardown if any Discord rule was broken.

    Options come from ``@pytest.mark.emulator(...)``; most can also be changed later through
    ``emu.options`` (for example ``emu.options.ack_deadline = 0.3``).
    """
    marker = request.node.get_closest_marker("emulator")
    emu = DiscordEmulator(**(marker.kwargs if marker else {}))
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()
    check_no_violations(emu)
