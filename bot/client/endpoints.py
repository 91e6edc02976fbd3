"""Point discord.py at the Discord REST base and gateway from the settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route


@contextmanager
def discord_endpoints(api_base: str, gateway: str) -> Iterator[None]:
    """Route every REST call and the gateway connection to the given URLs for the block.

    discord.py keeps both as class attributes (`Route.BASE` is read when each route is built,
    interaction webhooks included; `DEFAULT_GATEWAY` when connecting), so they are process-wide:
    they are restored afterwards so one process can run the bot more than once (the tests do).
    """
    saved_base, saved_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = api_base.rstrip("/")
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved_base, saved_gateway
