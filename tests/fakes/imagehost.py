"""`ImageHost`: a plain public file server on loopback, standing in for any CDN.

PixelDojo fetches `character_reference_image` itself, so a test needs somewhere real to put a
reference picture (or a broken one). `host.put("face.png", data)` returns the URL.
"""

from __future__ import annotations

from typing import Self

from aiohttp import web


class ImageHost:
    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}  # name -> (body, content type)
        self.hits: list[str] = []  # every path requested, in order
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{name}", self._serve)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def put(self, name: str, data: bytes, content_type: str = "image/png") -> str:
        """Serve `data` at /name (replacing what was there) and return its URL."""
        self.files[name] = (data, content_type)
        return self.url(name)

    def remove(self, name: str) -> None:
        """From now on /name answers 404, like an expired signed URL."""
        self.files.pop(name, None)

    async def _serve(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.hits.append(name)
        if name not in self.files:
            return web.Response(status=404, text="not found")
        data, content_type = self.files[name]
        return web.Response(body=data, content_type=content_type)
