"""The ``emulator`` fixture fails a test that leaves violations behind."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.discord.emulator import DiscordEmulator
from tests.discord.fixtures import check_no_violations, violation_report

REPO = Path(__file__).resolve().parents[2]


def test_check_passes_without_violations() -> None:
    check_no_violations(DiscordEmulator())


def test_check_fails_listing_every_violation() -> None:
    emu = DiscordEmulator()
    emu.violations.extend(["first broken rule", "second broken rule"])
    with pytest.raises(pytest.fail.Exception) as caught:
        check_no_violations(emu)
    assert "broke 2 Discord rule(s)" in str(caught.value)
    assert "first broken rule" in str(caught.value)
    assert "second broken rule" in str(caught.value)
    assert violation_report(emu) == str(caught.value)


def test_a_test_with_leftover_violations_fails_at_teardown(tmp_path: Path) -> None:
    test_file = tmp_path / "test_leftover.py"
    test_file.write_text(
        textwrap.dedent(
            """
            import aiohttp

            async def test_hits_an_unknown_route(emulator) -> None:
                async with aiohttp.ClientSession() as session:
                    await session.get(emulator.api_base + "/nowhere")

            async def test_clean(emulator) -> None:
                assert emulator.violations == []
            """
        )
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.discord.fixtures",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "--rootdir",
            str(tmp_path),
            str(test_file),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    # Both test bodies pass; the first one's teardown fails.
    assert re.search(r"2 passed.* 1 error", result.stdout), result.stdout
    assert "broke 1 Discord rule(s)" in result.stdout
    assert "/nowhere" in result.stdout
