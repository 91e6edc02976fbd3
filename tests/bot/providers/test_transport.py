"""Sending a request to a service: a member's cancel is never lost."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bot.providers.transport import Deadline, send


async def test_a_cancel_arriving_as_the_answer_does_is_not_lost() -> None:
    # The answer and the cancel land in the same turn of the event loop. On Python 3.11,
    # asyncio.wait_for then returned the answer and dropped the cancel, so a cancelled job
    # went on polling its service for as long as the job's deadline allowed.
    task: asyncio.Task[httpx.Response]

    async def answer_then_cancel() -> httpx.Response:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[httpx.Response] = loop.create_future()
        loop.call_soon(answer.set_result, httpx.Response(200))
        loop.call_soon(task.cancel)
        return await answer

    async def request() -> httpx.Response:
        return await send("fake", answer_then_cancel, idempotent=True, deadline=Deadline(60))

    task = asyncio.create_task(request())
    with pytest.raises(asyncio.CancelledError):
        await task
