"""Which shards a process runs, and how their IDENTIFYs are paced."""

from __future__ import annotations

import pytest

from bot.client.sharding import IdentifyBuckets, ShardPlan


def test_no_shard_options_mean_one_unsharded_connection() -> None:
    assert ShardPlan.parse(None, None) is None


def test_a_count_alone_runs_every_shard_here() -> None:
    assert ShardPlan.parse(None, 3) == ShardPlan((0, 1, 2), 3)


def test_listed_shards_are_sorted_and_deduplicated() -> None:
    assert ShardPlan.parse("3, 1,1", 4) == ShardPlan((1, 3), 4)


@pytest.mark.parametrize(
    ("shards", "count", "problem"),
    [
        ("0,1", None, "needs --shard-count"),
        ("0,4", 4, "from 0 to 3"),
        ("-1", 2, "from 0 to 1"),
        ("a,b", 2, "must list shard numbers"),
        (",", 2, "at least one"),
        (None, 0, "1 or more"),
    ],
)
def test_impossible_shards_are_refused_with_a_sentence(
    shards: str | None, count: int | None, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        ShardPlan.parse(shards, count)


class FakeTime:
    """A clock that moves only when something sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_shards_in_one_bucket_identify_five_seconds_apart() -> None:
    fake = FakeTime()

    async def one() -> int:
        return 1

    buckets = IdentifyBuckets(one, clock=fake.clock, sleep=fake.sleep)
    for shard in (0, 1, 2):
        await buckets.wait_turn(shard)
    assert fake.slept == [5.0, 5.0]


async def test_shards_in_different_buckets_identify_at_once() -> None:
    fake = FakeTime()

    async def two() -> int:
        return 2

    buckets = IdentifyBuckets(two, clock=fake.clock, sleep=fake.sleep)
    await buckets.wait_turn(0)
    await buckets.wait_turn(1)  # bucket 1: no wait
    assert fake.slept == []
    fake.now += 2.0
    await buckets.wait_turn(2)  # bucket 0 again, 2 s after shard 0
    assert fake.slept == [3.0]


async def test_a_shard_identifying_again_waits_one_to_five_seconds_first() -> None:
    fake = FakeTime()

    async def two() -> int:
        return 2

    buckets = IdentifyBuckets(two, clock=fake.clock, sleep=fake.sleep)
    await buckets.wait_turn(0)
    await buckets.wait_turn(1)
    assert fake.slept == []
    fake.now += 60.0
    await buckets.wait_turn(1)  # its session was invalidated
    assert len(fake.slept) == 1
    assert 1.0 <= fake.slept[0] <= 5.0
