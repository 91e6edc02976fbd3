"""The public-domain photographs the tests use (see tests/fixtures/photos/README.md)."""

from __future__ import annotations

from pathlib import Path

PHOTOS = Path(__file__).parent / "fixtures" / "photos"
ASTRONAUT = (PHOTOS / "astronaut.jpg").read_bytes()
HOPPER = (PHOTOS / "grace_hopper.jpg").read_bytes()
