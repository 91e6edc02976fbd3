"""Reading request bodies and writing JSON responses the way Discord does.

The Content-Type must be exactly ``application/json``: discord.py compares the header string
verbatim (http.py ``json_or_text``), and aiohttp's ``json_response`` would append a charset.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from .errors import ApiError

JSON_TYPE = "application/json"
_FILE_FIELD = re.compile(r"^files?\[(\d+)\]$")


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    all_headers = {"Content-Type": JSON_TYPE}
    if headers:
        all_headers.update(headers)
    return web.Response(status=status, body=json.dumps(data).encode(), headers=all_headers)


def no_content(headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=204, headers=headers or {})


@dataclass
class UploadedFile:
    """One ``files[n]`` part of a multipart request."""

    index: int
    filename: str
    data: bytes
    content_type: str | None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class RequestBody:
    payload: Any
    files: list[UploadedFile]
    size: int


async def read_body(request: web.Request) -> RequestBody:
    """Parse JSON or multipart (``payload_json`` plus ``files[n]``) into a payload and files."""
    content_type = request.content_type
    if content_type.startswith("multipart/"):
        return await _read_multipart(request)
    raw = await request.read()
    if not raw:
        return RequestBody(payload={}, files=[], size=0)
    return RequestBody(payload=_parse_json(raw), files=[], size=len(raw))


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, 50109, "The request body contains invalid JSON.") from None


async def _read_multipart(request: web.Request) -> RequestBody:
    reader = await request.multipart()
    payload: Any = {}
    files: list[UploadedFile] = []
    total = 0
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            continue  # nested multipart bodies are not something Discord accepts either
        name = part.name or ""
        data = await part.read(decode=False)
        total += len(data)
        if name == "payload_json":
            payload = _parse_json(bytes(data))
            continue
        filename = part.filename
        if filename is None:
            continue
        match = _FILE_FIELD.match(name)
        index = int(match.group(1)) if match else len(files)
        files.append(
            UploadedFile(
                index=index,
                filename=filename,
                data=bytes(data),
                content_type=part.headers.get("Content-Type"),
            )
        )
    return RequestBody(payload=payload, files=files, size=total)
