"""The emulator's wall clock and snowflake ids.

Token and CDN-URL expiry are measured on this clock so tests can jump 15 minutes or 24 hours ahead
with ``clock.advance`` instead of sleeping. The 3-second acknowledgement deadline and rate limits
are deliberately *not* on this clock: they guard real latency, so they use ``time.monotonic``.
"""

from __future__ import annotations

import datetime as dt
import time

DISCORD_EPOCH_MS = 1_420_070_400_000


class EmulatorClock:
    """Real time plus an offset that only ever grows."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        """Seconds since the Unix epoch, as the emulator sees it."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward without sleeping (token expiry, CDN URL expiry)."""
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        self._offset += seconds

    @property
    def offset(self) -> float:
        return self._offset

    def iso(self, when: float | None = None) -> str:
        """An ISO-8601 timestamp in Discord's format (UTC, microseconds, +00:00)."""
        moment = self.now() if when is None else when
        return dt.datetime.fromtimestamp(moment, dt.UTC).isoformat()


class SnowflakeFactory:
    """Strictly increasing snowflakes whose timestamp part follows the emulator clock.

    discord.py derives ``created_at`` from ids, and some code sorts by id, so ids must both look
    real and grow monotonically even when the clock is advanced between two calls.
    """

    def __init__(self, clock: EmulatorClock) -> None:
        self._clock = clock
        self._last = 0

    def next(self) -> int:
        millis = int(self._clock.now() * 1000) - DISCORD_EPOCH_MS
        candidate = millis << 22
        self._last = max(candidate, self._last + 1)
        return self._last


def snowflake_time(snowflake: int) -> float:
    """Unix seconds encoded in a snowflake."""
    return ((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000
