"""The loopback CDN: stored attachment bytes behind signed, expiring URLs.

Discord signs attachment URLs (``?ex=<hex expiry>&is=<hex issued>&hm=<hmac>``) and answers 404
once they expire. Serving the same here catches code that stores a URL and downloads it later
instead of keeping the bytes. Expiry follows the emulator clock, so ``clock.advance`` ages URLs.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import mimetypes
import secrets
from collections.abc import Callable
from urllib.parse import parse_qs, quote, unquote, urlsplit

from aiohttp import web

from .clock import EmulatorClock
from .models import Attachment

log = logging.getLogger(__name__)

_MAGIC: list[tuple[bytes, int, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
]


def sniff_content_type(data: bytes, filename: str) -> str:
    """Image types by magic bytes (discord.py uploads everything as octet-stream), else by name."""
    for magic, offset, mime in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return mime
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def image_size(data: bytes, content_type: str) -> tuple[int | None, int | None]:
    """Width and height for images, as Discord reports them; None when unknown."""
    if not content_type.startswith("image/"):
        return None, None
    try:
        from PIL import Image  # the project already depends on Pillow

        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:
        return None, None


class Cdn:
    """Stores attachments and signs, verifies and refreshes their URLs."""

    def __init__(
        self,
        clock: EmulatorClock,
        *,
        url_lifetime: Callable[[], float],
        report: Callable[[str], None],
    ) -> None:
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._url_lifetime = url_lifetime  # read per URL, so tests may change it at runtime
        self._report = report
        self.base_url = ""  # set once the server knows its port
        self.attachments: dict[int, Attachment] = {}
        self.requests = 0

    def store(self, attachment: Attachment) -> Attachment:
        self.attachments[attachment.id] = attachment
        return attachment

    @staticmethod
    def _path(attachment: Attachment) -> str:
        return f"/attachments/{attachment.channel_id}/{attachment.id}/{quote(attachment.filename)}"

    def _sign(self, path: str, expires: int, issued: int) -> str:
        message = f"{path}|{expires:x}|{issued:x}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def url(self, attachment: Attachment, *, proxy: bool = False) -> str:
        """A freshly signed URL, valid for ``url_lifetime`` seconds of emulator time."""
        path = self._path(attachment)
        issued = int(self._clock.now())
        expires = issued + int(self._url_lifetime())
        signature = self._sign(path, expires, issued)
        prefix = "/cdn/media" if proxy else "/cdn"
        return f"{self.base_url}{prefix}{path}?ex={expires:x}&is={issued:x}&hm={signature}&"

    def _attachment_for_path(self, path: str) -> Attachment | None:
        parts = path.strip("/").split("/")
        # attachments/{channel_id}/{attachment_id}/{filename}
        if len(parts) != 4 or parts[0] != "attachments" or not parts[2].isdigit():
            return None
        attachment = self.attachments.get(int(parts[2]))
        if attachment is None or str(attachment.channel_id) != parts[1]:
            return None
        if unquote(parts[3]) != attachment.filename:
            return None
        return attachment

    def check(self, path: str, query: dict[str, str]) -> tuple[Attachment | None, str]:
        """Return the attachment a signed URL names, or None and the reason it is refused."""
        attachment = self._attachment_for_path(path)
        if attachment is None:
            return None, "no such attachment"
        try:
            expires = int(query["ex"], 16)
            issued = int(query["is"], 16)
            signature = query["hm"]
        except (KeyError, ValueError):
            return None, "unsigned or malformed attachment URL"
        expected = self._sign(self._path(attachment), expires, issued)
        if not hmac.compare_digest(expected, signature):
            return None, "bad attachment URL signature"
        if self._clock.now() > expires:
            return None, "attachment URL expired"
        return attachment, ""

    def refresh(self, url: str) -> str | None:
        """Re-sign a URL for one of our attachments (expired or not); None if it is not ours."""
        parts = urlsplit(url)
        path = parts.path
        for prefix in ("/cdn/media", "/cdn"):
            if path.startswith(prefix + "/attachments/"):
                path = path[len(prefix) :]
                break
        else:
            return None
        attachment = self._attachment_for_path(path)
        if attachment is None:
            return None
        return self.url(attachment, proxy=parts.path.startswith("/cdn/media"))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        path = request.path
        path = path.removeprefix("/cdn/media") if path.startswith("/cdn/media/") else path
        path = path.removeprefix("/cdn")
        query = {k: v[0] for k, v in parse_qs(request.query_string).items()}
        attachment, reason = self.check(path, query)
        if attachment is None:
            self._report(f"CDN {request.method} {request.path}: 404 ({reason})")
            return web.Response(
                status=404, text="This content is no longer available.", content_type="text/plain"
            )
        # aiohttp drops the body itself for HEAD requests.
        return web.Response(body=attachment.data, headers={"Content-Type": attachment.content_type})
