"""The gateway reader gives the tasks each event started a turn before the next event."""

from __future__ import annotations

import asyncio
import json

from discord.gateway import DiscordWebSocket

from bot.client.gateway_fairness import fair_gateway


def _reader(started: list[int]) -> DiscordWebSocket:
    """A gateway reader whose INTERACTION_CREATE parser starts a handler task, as discord.py's
    command tree does; nothing is connected, events are handed to it directly."""
    ws = DiscordWebSocket(socket=None, loop=asyncio.get_running_loop())  # type: ignore[arg-type]
    ws.shard_id = None
    ws.log_receive = lambda *args: None  # type: ignore[attr-defined]

    async def handler(number: int) -> None:
        started.append(number)

    def parse_interaction(data: dict[str, int]) -> None:
        asyncio.get_running_loop().create_task(handler(data["n"]))

    ws._discord_parsers = {"INTERACTION_CREATE": parse_interaction}
    return ws


def _event(n: int) -> str:
    return json.dumps({"op": 0, "t": "INTERACTION_CREATE", "s": n, "d": {"n": n}})


async def test_each_events_handler_starts_before_the_next_event_is_read() -> None:
    started: list[int] = []
    with fair_gateway():
        ws = _reader(started)
        for n in range(1, 4):
            await ws.received_message(_event(n))
            assert started == list(range(1, n + 1))


async def test_without_it_handlers_wait_for_every_buffered_event() -> None:
    # What discord.py does on its own, and why the bot installs the reader above.
    started: list[int] = []
    ws = _reader(started)
    for n in range(1, 4):
        await ws.received_message(_event(n))
    assert started == []
    await asyncio.sleep(0)
    assert started == [1, 2, 3]


async def test_the_original_reader_is_restored_afterwards() -> None:
    original = DiscordWebSocket.received_message
    with fair_gateway():
        assert DiscordWebSocket.received_message is not original
    assert DiscordWebSocket.received_message is original
