"""Wake-up events for jobs on asynchronous services, shared by the webhook receiver and the
service clients' pollers (its own module, so neither has to import the other)."""

from __future__ import annotations

import asyncio


class JobSignals:
    """Per-job wake-up events shared by the webhook receiver and the pollers."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        # Whether a genuine webhook has ever arrived: proof the public address works.
        self.received_any = False

    def watch(self, job_id: str) -> asyncio.Event:
        return self._events.setdefault(job_id, asyncio.Event())

    def forget(self, job_id: str) -> None:
        self._events.pop(job_id, None)

    def notify(self, job_id: str) -> bool:
        self.received_any = True
        event = self._events.get(job_id)
        if event is None:
            return False
        event.set()
        return True
