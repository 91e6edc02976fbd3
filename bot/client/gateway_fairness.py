"""Let each gateway event's handlers start before discord.py parses the next buffered event."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from discord.gateway import DiscordWebSocket


@contextmanager
def fair_gateway() -> Iterator[None]:
    """Yield to the event loop after every gateway event, for the block.

    discord.py reads every event already buffered on the gateway before the tasks those events
    started get a turn. When a whole server uses a command at once, the first member's
    acknowledgement then waits until every other member's event has been parsed, and Discord
    allows 3 seconds in all. One turn of the loop after each event lets the command it started
    send its acknowledgement first (an idle kept-alive connection writes it at once).

    Like the endpoints, the reader is a class attribute, so this is process-wide and restored
    afterwards.
    """
    original = DiscordWebSocket.received_message

    async def received_then_yield(self: DiscordWebSocket, msg: Any, /) -> None:
        await original(self, msg)
        await asyncio.sleep(0)

    DiscordWebSocket.received_message = received_then_yield  # type: ignore[method-assign]
    try:
        yield
    finally:
        DiscordWebSocket.received_message = original  # type: ignore[method-assign]
