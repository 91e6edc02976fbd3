"""Every interaction's first answer before the work that follows answers already given."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

# Work that follows an interaction's first answer (`AnswersFirst`): how many run at once (the
# rest wait in line), and how long the gateway must have brought no new interaction first. A
# crowd's interactions arrive well under a millisecond apart.
AFTER_ANSWER_CONCURRENCY = 16
ANSWERS_QUIET_SECONDS = 0.02
# However busy the bot stays, work that follows an answer waits no longer than this.
AFTER_ANSWER_MAX_WAIT_SECONDS = 5.0
# A crowd: this many interactions waiting for their first answer at once. While one waits the
# cycle collector is paused (`AnswersFirst`), for at most the given time.
CROWD = 8
COLLECTOR_PAUSE_MAX_SECONDS = 10.0


class AnswersFirst:
    """Every interaction's first answer before the work that follows answers already given.

    One event loop carries every answer. When a crowd asks at once, the work of those already
    answered (their database writes, the card's rendering and edit) would otherwise run between
    the later arrivals, so each answer would wait longer than the one before it, and Discord
    allows 3 seconds. Work entered through `after_answers` waits until no interaction is waiting
    for its first answer and none has arrived for `quiet` seconds, then runs `concurrency` at a
    time, in the order it came.

    While a crowd waits, the cycle collector is paused. Its full passes walk every live object,
    and each interaction waiting is a few hundred of them: with thousands waiting, every pass
    costs more than the last, and the passes come more often as objects pile up, so each answer
    waited longer than the one before (5,000 at once: about 3,600 answered in time with the
    collector, 4,700 without). Reference counting still frees nearly everything; the few cycles
    a crowd leaves are collected once it has been answered, or after `max_pause` at most.
    """

    def __init__(
        self,
        *,
        concurrency: int = AFTER_ANSWER_CONCURRENCY,
        quiet: float = ANSWERS_QUIET_SECONDS,
        max_wait: float = AFTER_ANSWER_MAX_WAIT_SECONDS,
        crowd: int = CROWD,
        max_pause: float = COLLECTOR_PAUSE_MAX_SECONDS,
    ) -> None:
        self.quiet = quiet
        self.max_wait = max_wait
        self.crowd = crowd
        self.max_pause = max_pause
        self._collector_paused: asyncio.TimerHandle | None = None
        # When a pause last ran out its time: a crowd that lasts that long gets no new pause
        # for as long again, so the collector keeps up with a load that never lets go.
        self._pause_ran_out = float("-inf")
        self._unanswered: set[int] = set()
        self._last_arrival = float("-inf")
        self._clear = asyncio.Event()
        self._clear.set()
        self._timer: asyncio.TimerHandle | None = None
        self._slots = asyncio.Semaphore(concurrency)

    @property
    def waiting(self) -> int:
        """Interactions waiting for their first answer."""
        return len(self._unanswered)

    def arrived(self, interaction_id: int) -> None:
        """An interaction reached a command: it needs its first answer within 3 seconds.

        It waits until `answered`, or until the task that received it ends, whichever is first.
        """
        self._unanswered.add(interaction_id)
        self._last_arrival = asyncio.get_running_loop().time()
        self._clear.clear()
        if len(self._unanswered) >= self.crowd:
            self._pause_collector()
        task = asyncio.current_task()
        if task is not None:
            task.add_done_callback(lambda _: self.answered(interaction_id))

    def answered(self, interaction_id: int) -> None:
        """The interaction has had its first answer (or will have none)."""
        self._unanswered.discard(interaction_id)
        self._check()

    def _check(self) -> None:
        if self._unanswered or self._timer is not None or self._clear.is_set():
            return
        loop = asyncio.get_running_loop()
        remaining = self._last_arrival + self.quiet - loop.time()
        if remaining > 0:
            self._timer = loop.call_later(remaining, self._quiet_passed)
        else:
            self._clear.set()
            self._resume_collector()

    def _quiet_passed(self) -> None:
        self._timer = None
        self._check()

    @property
    def collector_paused(self) -> bool:
        return self._collector_paused is not None

    def _pause_collector(self) -> None:
        # Only a collector that is running is paused (and later resumed): if something else
        # turned it off, it stays as that left it.
        loop = asyncio.get_running_loop()
        if loop.time() - self._pause_ran_out < self.max_pause:
            return
        if self._collector_paused is None and gc.isenabled():
            gc.disable()
            self._collector_paused = loop.call_later(self.max_pause, self._pause_over)

    def _pause_over(self) -> None:
        self._pause_ran_out = asyncio.get_running_loop().time()
        self._resume_collector()

    def close(self) -> None:
        """Leave the collector running: nothing will answer the crowd any more."""
        self._resume_collector()

    def _resume_collector(self) -> None:
        if self._collector_paused is not None:
            self._collector_paused.cancel()
            self._collector_paused = None
            gc.enable()

    @contextlib.asynccontextmanager
    async def after_answers(self) -> AsyncIterator[None]:
        """Hold the block until every interaction waiting has had its first answer."""
        async with self._slots:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.max_wait):
                    while not self._clear.is_set():
                        await self._clear.wait()
            yield
