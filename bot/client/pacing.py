"""Keep the bot's own REST calls under Discord's global limit, by construction.

discord.py waits out each route's bucket when a response says it is empty, but it learns of the
global limit (50 requests a second per bot) only from a 429. A busy server finishing many scenes
at once would hit it, so every call the job delivery makes first takes a token from here.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

# The part of a process's REST budget its pacers share out.
PACED_SHARE = 0.9
# Discord's global limit for a bot, which CAMEO_REST_BUDGET divides between processes.
GLOBAL_LIMIT = 50.0


@dataclass(frozen=True)
class RestShares:
    """How one process's REST budget (CAMEO_REST_BUDGET, requests a second) is split.

    Discord counts its global limit in fixed one-second windows, and a bucket can spend its
    burst at the end of one window and its rate in the next: so the delivery's rate and burst,
    and the moderation log's, add up to at most PACED_SHARE of the budget in any one window (the
    rest is for the calls nothing paces: threads and messages made by commands). At Discord's
    50: delivery 30.6 a second in bursts of up to 9 (card edits leave a reserve of 5 for
    posting pictures), the log 3.4 a second in bursts of 2. With several processes, give each
    a share so that together they stay within the bot's global limit.
    """

    budget: float  # at least 5 (Settings checks)

    @property
    def delivery_rate(self) -> float:
        return self._after_bursts * 0.9

    @property
    def delivery_burst(self) -> int:
        return max(1, math.floor(self.budget * 0.18))

    @property
    def delivery_reserve(self) -> int:
        return min(self.delivery_burst - 1, math.floor(self.budget * 0.1))

    @property
    def log_rate(self) -> float:
        return self._after_bursts * 0.1

    @property
    def log_burst(self) -> int:
        return max(1, math.floor(self.budget * 0.04))

    def per_channel(self, calls: int) -> int:
        """This process's part of a limit Discord keeps per channel (`calls` in a window):
        the same share as of the global limit, so that processes splitting the budget also
        split each channel's (at least one call a window each, so nothing stalls)."""
        return max(1, math.floor(calls * min(1.0, self.budget / GLOBAL_LIMIT)))

    @property
    def _after_bursts(self) -> float:
        """What the rates share: the paced part of the budget less both bursts."""
        return self.budget * PACED_SHARE - self.delivery_burst - self.log_burst


class RatePacer:
    """A token bucket: on average `rate` calls a second, at most `burst` at once.

    Calls that can wait (a card's progress) leave `reserve` tokens for urgent ones (a member's
    pictures), so a backlog of card edits never delays results.
    """

    def __init__(self, rate: float, burst: int, reserve: int = 0) -> None:
        self.rate = rate
        self.burst = burst
        self.reserve = min(reserve, burst - 1)
        self._tokens = float(burst)
        self._updated = time.monotonic()

    async def wait(self, *, urgent: bool = True) -> None:
        needed = 1.0 + (0 if urgent else self.reserve)
        while True:
            self._refill()
            if self._tokens >= needed:
                self._tokens -= 1  # no await between the check and this: no race
                return
            await asyncio.sleep((needed - self._tokens) / self.rate)

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now


class KeyedWindow:
    """At most `limit` calls in any `per` seconds for one key (say, one Discord channel).

    Discord allows 5 message edits, and 5 new threads, per 5 s in a channel, counted in windows
    we cannot see; no more than 5 in any sliding 5.5 s is within that whatever the windows.
    Calls for one key go one at a time, and each is recorded when it is sent (after `then`,
    say a wait for the global pacer), so a late one can never crowd the next window.
    """

    def __init__(self, limit: int, per: float) -> None:
        self.limit = limit
        self.per = per
        self._sent: dict[object, deque[float]] = {}
        self._locks: dict[object, asyncio.Lock] = {}

    async def wait(self, key: object, then: Callable[[], Awaitable[None]] | None = None) -> None:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            sent = self._sent.setdefault(key, deque(maxlen=self.limit))
            if len(sent) == self.limit:
                delay = sent[0] + self.per - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if then is not None:
                await then()
            sent.append(time.monotonic())
        if len(self._sent) > _KEYS_KEPT:
            self._forget_idle()

    def _forget_idle(self) -> None:
        now = time.monotonic()
        for key in [k for k, sent in self._sent.items() if not sent or sent[-1] <= now - self.per]:
            lock = self._locks.get(key)
            if lock is None or not lock.locked():
                self._sent.pop(key, None)
                self._locks.pop(key, None)


_KEYS_KEPT = 1_000
