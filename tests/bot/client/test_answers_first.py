"""Work that follows an answer waits until every interaction waiting has had its first answer."""

from __future__ import annotations

import asyncio
import contextlib
import gc

from bot.client.answers_first import AnswersFirst


async def _turns(count: int = 5) -> None:
    """Let every task that can run take a few turns of the event loop."""
    for _ in range(count):
        await asyncio.sleep(0)


def _start(answers: AnswersFirst, name: str, log: list[str]) -> asyncio.Task[None]:
    async def work() -> None:
        async with answers.after_answers():
            log.append(name)

    return asyncio.create_task(work())


async def test_work_waits_while_an_interaction_waits_for_its_answer() -> None:
    answers = AnswersFirst(quiet=0)
    answers.arrived(1)
    log: list[str] = []
    task = _start(answers, "work", log)
    await _turns()
    assert log == []  # not before the answer
    answers.answered(1)
    await task
    assert log == ["work"]


async def test_nothing_waits_when_every_interaction_has_been_answered() -> None:
    answers = AnswersFirst(quiet=0)
    answers.arrived(1)
    answers.answered(1)
    log: list[str] = []
    await _start(answers, "work", log)
    assert log == ["work"]


async def test_a_crowd_is_answered_before_anyones_work_starts() -> None:
    answers = AnswersFirst(quiet=0)
    log: list[str] = []
    answers.arrived(1)
    first = _start(answers, "work 1", log)  # answered already, its work held
    answers.arrived(2)
    answers.answered(1)
    await _turns()
    assert log == []  # the second member has not had an answer yet
    answers.answered(2)
    await first
    assert log == ["work 1"]


async def test_an_interaction_counts_until_its_command_ends() -> None:
    answers = AnswersFirst(quiet=0)
    release = asyncio.Event()

    async def command() -> None:  # answers without telling, as most commands do
        answers.arrived(7)
        await release.wait()

    running = asyncio.create_task(command())
    await _turns()
    assert answers.waiting == 1
    release.set()
    await running
    assert answers.waiting == 0


async def test_work_runs_a_bounded_number_at_a_time_in_arrival_order() -> None:
    answers = AnswersFirst(concurrency=2, quiet=0)
    answers.arrived(1)
    inside: list[str] = []
    finish = {name: asyncio.Event() for name in "abcd"}

    async def work(name: str) -> None:
        async with answers.after_answers():
            inside.append(name)
            await finish[name].wait()

    tasks = [asyncio.create_task(work(name)) for name in "abcd"]
    await _turns()
    answers.answered(1)
    await _turns()
    assert inside == ["a", "b"]
    finish["b"].set()
    await _turns()
    assert inside == ["a", "b", "c"]
    for event in finish.values():
        event.set()
    await asyncio.gather(*tasks)
    assert inside == ["a", "b", "c", "d"]


async def test_work_also_waits_for_a_quiet_gateway() -> None:
    # Interactions of a crowd still on their way count too: work waits for a pause after the
    # last arrival, not only for the answers so far.
    answers = AnswersFirst(quiet=3600, max_wait=3600)
    answers.arrived(1)
    answers.answered(1)
    log: list[str] = []
    task = _start(answers, "work", log)
    await _turns()
    assert log == []
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_work_is_held_no_longer_than_its_limit() -> None:
    answers = AnswersFirst(quiet=0, max_wait=0)
    answers.arrived(1)  # never answered
    log: list[str] = []
    await _start(answers, "work", log)
    assert log == ["work"]


async def test_the_cycle_collector_pauses_while_a_crowd_waits() -> None:
    answers = AnswersFirst(quiet=0, crowd=3)
    answers.arrived(1)
    answers.arrived(2)
    assert gc.isenabled()  # two members are not a crowd
    answers.arrived(3)
    assert not gc.isenabled()
    for interaction_id in (1, 2):
        answers.answered(interaction_id)
    assert not gc.isenabled()  # one still waits
    answers.answered(3)
    assert gc.isenabled()


async def test_the_cycle_collector_pauses_no_longer_than_its_limit() -> None:
    answers = AnswersFirst(quiet=0, crowd=1, max_pause=0.01)
    answers.arrived(1)  # never answered
    assert not gc.isenabled()
    await asyncio.sleep(0.05)
    assert gc.isenabled()
    assert not answers.collector_paused


async def test_a_collector_turned_off_elsewhere_stays_off() -> None:
    gc.disable()
    try:
        answers = AnswersFirst(quiet=0, crowd=1)
        answers.arrived(1)
        answers.answered(1)
        assert not gc.isenabled()
    finally:
        gc.enable()


async def test_a_crowd_that_outlasts_the_pause_gets_no_new_one_for_as_long() -> None:
    answers = AnswersFirst(quiet=0, crowd=1, max_pause=0.2)
    answers.arrived(1)  # never answered: the crowd goes on
    async with asyncio.timeout(5):
        while not gc.isenabled():  # until the pause runs out
            await asyncio.sleep(0.005)
    answers.arrived(2)
    assert gc.isenabled()  # the collector catches up before the next pause
    answers.close()
