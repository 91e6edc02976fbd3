"""The Discord side's record of where each job shows: its card, its results' thread, and the
largest file its channel accepts (`storage.scene_cards`). The domain's job knows none of this.

Every step of a job (started, failed, finished) updates its card, so the places of jobs in
flight are kept in memory too: the card's place is known when it is posted, and a database read
is only needed for a job whose card was posted before a restart.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial

from storage import scene_cards as repo
from storage.database import Database
from storage.scene_cards import CardPlace

# Discord's per-file upload limit in a server without boosts: assumed for a job whose channel's
# limit was never recorded (a job from before cards were recorded here).
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
# Places kept in memory; far more than the jobs in flight at once, each a few dozen bytes.
REMEMBERED_PLACES = 4096


class SceneCards:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._recent: OrderedDict[int, CardPlace] = OrderedDict()

    async def place(self, job_id: int) -> CardPlace:
        """Where the job shows; a place with no card if none was recorded."""
        place = self._recent.get(job_id)
        if place is None:
            place = await self.db.run_read(partial(repo.get, job_id=job_id))
            if place is None:
                return CardPlace(job_id, None, None, None, DEFAULT_UPLOAD_LIMIT)
            self._remember(place)
        return place

    async def record_card(
        self, job_id: int, channel_id: int, message_id: int, upload_limit: int
    ) -> None:
        place = await self.db.run_transaction(
            partial(
                repo.record_card,
                job_id=job_id,
                channel_id=channel_id,
                message_id=message_id,
                upload_limit=upload_limit,
            )
        )
        self._remember(place, job_id)

    async def record_thread(self, job_id: int, thread_id: int | None) -> None:
        """Record the thread its results went into (None: that thread is gone)."""
        place = await self.db.run_transaction(
            partial(
                repo.record_thread,
                job_id=job_id,
                thread_id=thread_id,
                upload_limit=(await self.place(job_id)).upload_limit,
            )
        )
        self._remember(place, job_id)

    def _remember(self, place: CardPlace | None, job_id: int | None = None) -> None:
        if place is None:  # the job was deleted meanwhile
            if job_id is not None:
                self._recent.pop(job_id, None)
            return
        self._recent[place.job_id] = place
        self._recent.move_to_end(place.job_id)
        while len(self._recent) > REMEMBERED_PLACES:
            self._recent.popitem(last=False)
