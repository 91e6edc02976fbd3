"""Keep the bot's own REST calls under Discord's global limit, by construction.

discord.py waits out each route's bucket when a response says it is empty, but it learns of the
global limit (50 requests a second per bot) only from a 429. A busy server finishing many scenes
at once would hit it, so every call the job delivery makes first takes a token from here.
"""

from __future__ import annotations

import asyncio
import time


class RatePacer:
    """A token bucket: on average `rate` calls a second, at most `burst` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()  # waiters take tokens first come, first served

    async def wait(self) -> None:
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now


class KeyedSpacing:
    """At least `interval` seconds between calls that share a key (say, one Discord channel).

    Slots are handed out in call order without a lock: each caller reserves the next free slot
    and sleeps until it. Discord limits message edits and thread creation to 5 per 5 s per
    channel; spacing them a little over a second apart stays under that in any window.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next_free: dict[object, float] = {}

    async def wait(self, key: object) -> None:
        now = time.monotonic()
        slot = max(now, self._next_free.get(key, now))
        self._next_free[key] = slot + self.interval
        if len(self._next_free) > _KEYS_KEPT:
            self._forget_idle(now)
        if slot > now:
            await asyncio.sleep(slot - now)

    def _forget_idle(self, now: float) -> None:
        for key in [key for key, free in self._next_free.items() if free <= now]:
            del self._next_free[key]


_KEYS_KEPT = 1_000
