"""One computation shared by every caller that asks within a short time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedResult(Generic[T]):
    """Run `compute` at most once per `fresh_for` seconds; callers meanwhile share its result.

    Callers that arrive while it runs wait for that run instead of starting their own. A caller
    that changed what is computed passes `since` (a `time.monotonic()` after its change), and
    gets a result computed after that moment.
    """

    def __init__(self, compute: Callable[[], Awaitable[T]], fresh_for: float) -> None:
        self._compute = compute
        self._fresh_for = fresh_for
        self._value: tuple[float, T] | None = None  # (when its computation started, value)
        self._running: tuple[float, asyncio.Future[T]] | None = None

    async def get(self, since: float = float("-inf")) -> T:
        while True:
            now = time.monotonic()
            if self._value is not None:
                started, value = self._value
                if started >= since and now - started < self._fresh_for:
                    return value
            if self._running is None:
                future = asyncio.ensure_future(self._refresh(now))
                self._running = (now, future)
            started, running = self._running
            value = await asyncio.shield(running)
            if started >= since:
                return value
            # That run began before the caller's change: wait for one that began after it.

    async def _refresh(self, started: float) -> T:
        try:
            value = await self._compute()
            self._value = (started, value)
            return value
        finally:
            self._running = None
