"""Polling asynchronous jobs: start at about 2 s, grow by half each time, cap at 5 s."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.providers.errors import TimedOut
from bot.providers.transport import Deadline

T = TypeVar("T")


@dataclass(frozen=True)
class PollPolicy:
    initial: float = 2.0
    factor: float = 1.5
    cap: float = 5.0


async def poll_until(
    provider: str,
    check: Callable[[], Awaitable[T | None]],
    *,
    policy: PollPolicy,
    deadline: Deadline,
    wake: asyncio.Event | None = None,
) -> T:
    """Call `check` until it returns a value (the job's terminal state), within the deadline.

    `wake` (set by a webhook) cuts the current wait short; polling stays the source of truth.
    """
    delay = policy.initial
    while True:
        outcome = await check()
        if outcome is not None:
            return outcome
        if delay >= deadline.remaining():
            raise TimedOut(provider, "the job did not finish before the deadline")
        if wake is None:
            await asyncio.sleep(delay)
        else:
            with contextlib.suppress(TimeoutError):  # (not wait_for: see transport.send)
                async with asyncio.timeout(delay):
                    await wake.wait()
            wake.clear()
        delay = min(policy.cap, delay * policy.factor)
