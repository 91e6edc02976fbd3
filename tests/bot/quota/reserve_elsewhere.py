"""Another bot process asking for credits: `python -m tests.bot.quota.reserve_elsewhere`.

Opens the database it is given, waits for the agreed moment, asks for one credit for each of
`count` jobs at once (half grouped into shared transactions, half each in its own, as the
queue does), and prints how many were granted. The quota tests start two of these to show that
two processes on one database never grant more than there is.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from functools import partial

from bot.models import Viewer
from bot.quota.hooks import QuotaExceeded
from bot.quota.service import QuotaService
from storage.database import open_database, run_sync

MEMBER = Viewer(1, 10)
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return NOW


async def main(target: str, first_job: int, count: int, start_at: float) -> int:
    async with open_database(target) as db:
        quota = QuotaService(db, FixedClock(), daily_credits=100, reset_hour=6, providers=list)

        async def ask(job_id: int) -> bool:
            reserve = partial(
                quota.reserve, job_id=job_id, member=MEMBER, speed="default", credits=1
            )
            try:
                if job_id % 2:
                    async with db.transaction() as conn:
                        await run_sync(conn, reserve)
                else:
                    await db.run_transaction(reserve)
            except QuotaExceeded:
                return False
            return True

        await asyncio.sleep(max(0.0, start_at - time.time()))
        granted = await asyncio.gather(*(ask(first_job + n) for n in range(count)))
    return sum(granted)


if __name__ == "__main__":
    target, first, count, start = (
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        float(sys.argv[4]),
    )
    print(json.dumps({"granted": asyncio.run(main(target, first, count, start))}))
