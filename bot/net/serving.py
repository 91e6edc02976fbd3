"""Serving a small aiohttp application on HOST:PORT (the webhook listener, /healthz and
/metrics): set up, bound, and cleaned up if the address cannot be had."""

from __future__ import annotations

from aiohttp import web


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving `app`; return its runner (to `cleanup()` when done) and the bound port
    (port 0 picks a free one). Raises OSError when the address cannot be bound."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    # aiohttp exposes the bound sockets only on the private server; needed for port 0.
    sockets = getattr(site._server, "sockets", None) or []
    return runner, sockets[0].getsockname()[1] if sockets else port
