"""`HostileHost`: a real HTTP(S) server on 127.0.0.1 whose answers each test writes byte by byte.

A well-behaved file server (tests/fakes/imagehost.py) cannot stall after its headers, send an
endless body or lie about its content; this one does whatever the route says, so the fetcher's
defences meet the real bytes an attacker's server would send.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import pytest

Route = Callable[["Seen", asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    target: str
    headers: dict[str, str]


@dataclass
class HostileHost:
    ssl_context: ssl.SSLContext | None = None
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)  # TLS SNI, per handshake
    cut_off: asyncio.Event = field(default_factory=asyncio.Event)  # a client hung up mid-body
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def __aenter__(self) -> Self:
        if self.ssl_context is not None:
            self.ssl_context.sni_callback = self._record_server_name
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", 0, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()  # routes that stall forever end with the test
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def url(self, host: str, path: str, scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def _record_server_name(
        self, _socket: ssl.SSLObject, name: str | None, _context: ssl.SSLContext
    ) -> None:
        self.server_names.append(name)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            request_line = (await reader.readline()).decode("latin-1").split()
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if len(request_line) < 2:
                return
            seen = Seen(request_line[0], request_line[1], headers)
            self.seen.append(seen)
            route = self.routes.get(seen.target.split("?")[0], answer(404, b"gone"))
            await route(seen, writer)
        except (ConnectionError, ssl.SSLError):
            self.cut_off.set()
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
                await writer.wait_closed()


def head(status: int = 200, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} Whatever"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> Route:
    """Answer with `body`, a Content-Length, and `headers` (which may override it)."""

    async def route(_seen: Seen, writer: asyncio.StreamWriter) -> None:
        all_headers = {"Content-Length": str(len(body)), "Connection": "close"}
        all_headers.update(headers or {})
        writer.write(head(status, all_headers) + body)
        await writer.drain()

    return route


def picture(data: bytes, content_type: str = "image/png") -> Route:
    return answer(200, data, {"Content-Type": content_type})


def redirect(location: str) -> Route:
    return answer(302, b"", {"Location": location})


def stall(headers: dict[str, str] | None = None) -> Route:
    """Send the headers (if any), then nothing more, ever."""

    async def route(_seen: Seen, writer: asyncio.StreamWriter) -> None:
        if headers is not None:
            writer.write(head(200, headers))
            await writer.drain()
        await asyncio.Event().wait()

    return route


def trickle(prefix: bytes, every: float) -> Route:
    """Send a picture's first bytes, then one more byte every `every` seconds, for ever."""

    async def route(_seen: Seen, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, {"Content-Type": "image/png", "Content-Length": "1000000"}))
        writer.write(prefix)
        while True:
            await writer.drain()
            await asyncio.sleep(every)
            writer.write(b"\x00")

    return route


def endless(prefix: bytes) -> Route:
    """A picture with no declared size whose body never ends (chunked, 64 KiB at a time)."""

    async def route(_seen: Seen, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, {"Content-Type": "image/png", "Transfer-Encoding": "chunked"}))
        chunk = prefix + bytes(65536 - len(prefix))
        while True:
            writer.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            await writer.drain()
            chunk = bytes(65536)

    return route


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate and nothing else."""
        return ssl.create_default_context(cafile=str(self.cert))


def self_signed(directory: Path, host: str) -> Certificate:
    """Make a self-signed certificate for `host` with the openssl command line tool."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = directory / f"{host}.crt", directory / f"{host}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-nodes", "-days", "1",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", str(key), "-out", str(cert),
            "-subj", f"/CN={host}", "-addext", f"subjectAltName=DNS:{host}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Certificate(cert, key)
