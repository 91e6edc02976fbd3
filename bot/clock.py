"""Time, behind one seam, so tests can control it (quota resets, token ages)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    """Return the ISO 8601 form stored in the database (UTC, second precision, sortable)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    """Read back a `timestamp()` string as an aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def discord_time(moment: datetime, style: str = "R") -> str:
    """Discord's timestamp markup: shown in each reader's own time zone ("in 3 hours")."""
    return f"<t:{int(moment.timestamp())}:{style}>"
