"""The REST pacers and the shared computation, on the real event loop with short times."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.client.pacing import KeyedWindow, RatePacer, RestShares
from bot.jobs.shared_result import SharedResult


async def test_the_pacer_allows_its_burst_then_its_rate() -> None:
    pacer = RatePacer(rate=100, burst=5)
    started = time.monotonic()
    for _ in range(10):
        await pacer.wait()
    # Five at once, then five more at 100 a second: about 50 ms.
    assert 0.035 <= time.monotonic() - started < 0.5


async def test_waiting_calls_leave_the_reserve_to_urgent_ones() -> None:
    pacer = RatePacer(rate=20, burst=4, reserve=2)
    for _ in range(2):
        await pacer.wait(urgent=False)  # spends down to the reserve
    card_edit = asyncio.create_task(pacer.wait(urgent=False))
    await asyncio.sleep(0)
    assert not card_edit.done()  # it must not take the last two tokens
    await asyncio.wait_for(pacer.wait(), 0.01)  # an urgent call still goes at once
    await asyncio.wait_for(card_edit, 1)


async def test_a_window_never_lets_more_than_its_limit_through_per_key() -> None:
    window = KeyedWindow(limit=3, per=0.2)
    sent: list[float] = []

    async def call(key: str) -> None:
        await window.wait(key, then=lambda: asyncio.sleep(0.01))
        if key == "a":
            sent.append(time.monotonic())

    await asyncio.gather(*(call("a") for _ in range(7)), *(call("b") for _ in range(3)))
    assert len(sent) == 7
    for first, fourth in zip(sent, sent[3:], strict=False):
        assert fourth - first >= 0.2 - 0.005


async def test_callers_share_one_computation_and_a_changer_gets_a_fresh_one() -> None:
    runs = 0

    async def compute() -> int:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.01)
        return runs

    shared = SharedResult(compute, fresh_for=60)
    assert await asyncio.gather(*(shared.get() for _ in range(20))) == [1] * 20
    assert await shared.get() == 1
    changed_at = time.monotonic()
    assert await shared.get(since=changed_at) == 2


def test_rest_shares_at_discords_limit() -> None:
    shares = RestShares(50)
    assert shares.delivery_rate == pytest.approx(30.6)
    assert (shares.delivery_burst, shares.delivery_reserve) == (9, 5)
    assert shares.log_rate == pytest.approx(3.4)
    assert shares.log_burst == 2


@given(st.floats(min_value=5, max_value=10_000))
def test_rest_shares_never_spend_more_than_the_budget_in_one_window(budget: float) -> None:
    # In one of Discord's one-second windows each pacer can spend its burst and a second of
    # its rate.
    shares = RestShares(budget)
    worst = shares.delivery_rate + shares.delivery_burst + shares.log_rate + shares.log_burst
    assert worst <= budget * 0.9 + 1e-9
    assert shares.delivery_rate > 0
    assert shares.log_rate > 0
    assert shares.delivery_burst >= 1
    assert shares.log_burst >= 1
    assert 0 <= shares.delivery_reserve < shares.delivery_burst
