"""Several gateway shards in one process (`cameo run --shards 0,1 --shard-count 4`).

Discord requires sharding past 2,500 servers: each shard's connection carries the servers with
(server id >> 22) % shard count == its id (and shard 0 the direct messages). Shards may
IDENTIFY one per rate-limit bucket (shard id % max_concurrency, which GET /gateway/bot gives)
every 5 seconds; discord.py's default waits 5 seconds before every shard but the first, which
is right only when max_concurrency is 1.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

# Discord allows one IDENTIFY per bucket in this many seconds.
IDENTIFY_INTERVAL_SECONDS = 5.0


# What a process does (`cameo run --role`): everything (the default); only gateway shards
# (answers interactions, queues jobs); or only jobs, delivered over REST with no gateway
# connection. Any mix shares one PostgreSQL database.
ROLES = ("all", "gateway", "worker")


@dataclass(frozen=True)
class ShardPlan:
    """Which shards this process runs, of how many."""

    shard_ids: tuple[int, ...]
    shard_count: int

    @classmethod
    def parse(cls, shards: str | None, shard_count: int | None) -> ShardPlan | None:
        """From `--shards 0,1` and `--shard-count 4`; None when neither is given (one
        unsharded connection). Raises ValueError with a sentence for the operator."""
        if shards is None and shard_count is None:
            return None
        if shard_count is None:
            raise ValueError("--shards needs --shard-count (how many shards the bot has in all)")
        if shard_count < 1:
            raise ValueError("--shard-count must be 1 or more")
        if shards is None:
            return cls(tuple(range(shard_count)), shard_count)
        try:
            ids = tuple(sorted({int(part) for part in shards.split(",") if part.strip()}))
        except ValueError:
            raise ValueError(
                f"--shards must list shard numbers, like 0,1 (got {shards!r})"
            ) from None
        if not ids:
            raise ValueError("--shards must name at least one shard")
        outside = [shard for shard in ids if not 0 <= shard < shard_count]
        if outside:
            raise ValueError(
                f"--shards {','.join(map(str, outside))}: shard numbers go from 0 to "
                f"{shard_count - 1} when --shard-count is {shard_count}"
            )
        return cls(ids, shard_count)


class IdentifyBuckets:
    """Paces IDENTIFYs: one per bucket (shard id % max_concurrency) per interval."""

    def __init__(
        self,
        max_concurrency: Callable[[], Awaitable[int]],
        interval: float = IDENTIFY_INTERVAL_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        elsewhere: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        # Waits for a bucket's turn among every process of the bot (through the database),
        # after this process's own pacing: shards in other processes share the buckets.
        self._elsewhere = elsewhere
        self._max_concurrency = max_concurrency
        self._known: int | None = None
        self._interval = interval
        self._clock = clock
        self._sleep = sleep
        self._last: dict[int, float] = {}
        self._identified: set[int] = set()
        self._locks: dict[int, asyncio.Lock] = {}

    async def wait_turn(self, shard_id: int) -> None:
        """Return when `shard_id` may IDENTIFY now (and count it as having done so). A shard
        identifying again (its session was invalidated) first waits 1-5 s, as Discord asks, so
        shards invalidated together do not all come back at once."""
        if self._known is None:
            self._known = max(1, await self._max_concurrency())
        if shard_id in self._identified:
            await self._sleep(random.uniform(1.0, 5.0))  # noqa: S311 (spreading, not secrecy)
        self._identified.add(shard_id)
        bucket = shard_id % self._known
        async with self._locks.setdefault(bucket, asyncio.Lock()):
            last = self._last.get(bucket)
            if last is not None:
                wait = last + self._interval - self._clock()
                if wait > 0:
                    await self._sleep(wait)
            if self._elsewhere is not None:
                await self._elsewhere(bucket)
            self._last[bucket] = self._clock()


def describe(shard_ids: Sequence[int], shard_count: int) -> str:
    return f"shards {', '.join(map(str, shard_ids))} of {shard_count}"
