"""Download a picture named by an untrusted link without letting the link reach anything private.

PluralKit and Tupperbox exports name avatars by URL, and the member controls the file, so every
link is hostile until checked (server-side request forgery). The checks, in order:

1. The link: https, a host on the allowlist (exactly: no subdomains), the default port, no user
   name or password, at most 2,048 characters.
2. The address: the host is resolved here, once, and every address it resolves to must be public
   unicast: no private, loopback, link-local, CGNAT, multicast or reserved address, nor an IPv6
   form that embeds one (IPv4-mapped, IPv4-compatible, 6to4, NAT64). The connection then goes to
   that checked address (the URL is rewritten to it) while TLS SNI and the Host header carry the
   host name, so the certificate is still verified for the name and DNS gets no second chance to
   answer differently (rebinding).
3. Redirects: followed only on the same host, each hop checked as above, at most three.
4. The answer: status 200, an image content type, no content encoding, a declared size within the
   limit, then the body streamed and cut off at the limit; its first bytes must be PNG, JPEG or
   WebP and its header's dimensions within the pixel limit, as for an attachment.
5. Time and volume: a timeout per fetch (DNS included) and a FetchBudget per import, shared by
   all its fetches, for the total bytes and an overall deadline.

The bytes returned still go through `clean_reference` like any upload: this module keeps the
download safe and bounded, it does not vouch for the picture.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Self

import httpx

from bot.errors import CameoError
from bot.images.processing import (
    MAX_PIXELS,
    MAX_REFERENCE_BYTES,
    ImageRejected,
    ImageWorkers,
    sniff_format,
)

log = logging.getLogger(__name__)

# Where PluralKit and Tupperbox keep avatars; tests/fixtures/foreign/README.md gives the sources.
# Discord's CDN and media proxy hold avatars uploaded as attachments (both bots), PluralKit
# rehosts avatars on its own CDN, and Tupperbox on its own. Any other host (a member's image
# site, a link shortener) is refused rather than trusted.
AVATAR_HOSTS = frozenset(
    {"cdn.discordapp.com", "media.discordapp.net", "cdn.pluralkit.me", "cdn.tupperbox.app"}
)
MAX_URL_LENGTH = 2048
FETCH_TIMEOUT_SECONDS = 15.0
MAX_REDIRECTS = 3
# One import creates at most 200 characters; avatars are rarely above 1 MiB (PluralKit's own
# limit), so this leaves room for large pictures while bounding what one file can make us pull.
IMPORT_BYTE_BUDGET = 100 * 1024 * 1024
# Well inside the 15 minutes an interaction token lasts, so the reply can still be sent.
IMPORT_SECONDS = 300.0

RefusalKind = Literal[
    "link",
    "address",
    "redirect",
    "status",
    "type",
    "size",
    "pixels",
    "timeout",
    "budget",
    "network",
]

_DEFAULT_PORTS = {"https": 443, "http": 80}
_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})  # what sniff_format accepts
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# How Discord's CDN answers a signed attachment link that has expired, or a deleted file.
_GONE = frozenset({403, 404, 410})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_SHOWN_HOST = re.compile(r"[^a-z0-9.:-]")

_NOT_A_LINK = "Its picture link isn't a web address Cameo can download from."
_NOT_PUBLIC = "Its picture link leads to a private network address, so Cameo won't download it."
_NOT_AN_IMAGE = "Its picture isn't a PNG, JPEG or WebP image."
_GIF = "Its picture is a GIF; Cameo needs a still PNG, JPEG or WebP picture."
_TOO_SLOW = "Its picture took too long to download."


class FetchRefused(CameoError):
    """The picture was not downloaded. The message tells the member why; `kind` is for code."""

    def __init__(self, kind: RefusalKind, message: str) -> None:
        super().__init__(message)
        self.kind: RefusalKind = kind


Resolver = Callable[[str], Awaitable[list[str]]]


async def system_resolver(host: str) -> list[str]:
    """Return the addresses `host` resolves to, through the event loop (never blocking it)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Return whether a connection to `address` can only reach the public internet."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
        if address.teredo is not None or address.is_site_local:
            return False  # a tunnel to an address we cannot see, or deprecated private space
    # `is_global` alone lets multicast through, so every other category is refused explicitly.
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 form routes to, if it is one of those forms."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


@dataclass(frozen=True)
class FetchPolicy:
    """Where fetches may go and how much one may take; the defaults are production's."""

    hosts: frozenset[str] = AVATAR_HOSTS
    require_https: bool = True
    ports: frozenset[int] = frozenset({443})
    max_redirects: int = MAX_REDIRECTS
    timeout: float = FETCH_TIMEOUT_SECONDS
    max_bytes: int = MAX_REFERENCE_BYTES


DEFAULT_POLICY = FetchPolicy()


def check_link(url: str, policy: FetchPolicy = DEFAULT_POLICY) -> httpx.URL:
    """Return the parsed link if the policy allows fetching it, else raise FetchRefused.

    Judges the link alone, without DNS, so a parser can sort entries before anything is fetched.
    The same parser (httpx's) reads the link here and for the request, so they cannot disagree.
    """
    if len(url) > MAX_URL_LENGTH:
        raise FetchRefused("link", "Its picture link is too long.")
    try:
        link = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise FetchRefused("link", _NOT_A_LINK) from None
    allowed_schemes = {"https"} if policy.require_https else {"https", "http"}
    if link.scheme not in allowed_schemes:
        if link.scheme == "http":
            raise FetchRefused("link", "Its picture link isn't secure (it must start https://).")
        raise FetchRefused("link", _NOT_A_LINK)
    host = host_of(link)
    if not host or link.userinfo:
        raise FetchRefused("link", _NOT_A_LINK)
    if host not in policy.hosts:
        shown = _SHOWN_HOST.sub("", host)[:60]
        raise FetchRefused(
            "link",
            f"Its picture is on {shown}; Cameo only downloads pictures kept by Discord, "
            "PluralKit or Tupperbox.",
        )
    if (link.port or _DEFAULT_PORTS[link.scheme]) not in policy.ports:
        raise FetchRefused("link", _NOT_A_LINK)
    return link


def host_of(link: httpx.URL) -> str:
    """Return the link's host as compared with the allowlist: IDNA, lower case, no final dot."""
    return link.raw_host.decode("ascii", "replace").lower().rstrip(".")


class FetchBudget:
    """What one import may download in all, bytes and time, shared by every fetch it makes.

    Bytes are counted as they arrive, so fetches running at the same time cannot overshoot it.
    """

    def __init__(
        self, max_bytes: int = IMPORT_BYTE_BUDGET, seconds: float = IMPORT_SECONDS
    ) -> None:
        self._max_bytes = max_bytes
        self._bytes_left = max_bytes
        self._deadline = time.monotonic() + seconds

    @property
    def bytes_left(self) -> int:
        return max(0, self._bytes_left)

    def seconds_left(self) -> float:
        return self._deadline - time.monotonic()

    def check(self) -> None:
        """Raise FetchRefused if nothing more may be downloaded."""
        if self._bytes_left <= 0:
            raise self._out_of_bytes()
        if self.seconds_left() <= 0:
            raise _out_of_time()

    def spend(self, count: int) -> None:
        self._bytes_left -= count
        if self._bytes_left < 0:
            raise self._out_of_bytes()

    def _out_of_bytes(self) -> FetchRefused:
        return FetchRefused(
            "budget",
            f"This import had already downloaded {_mib(self._max_bytes)} of pictures, the most "
            "one import may; import the rest from another file.",
        )


def _out_of_time() -> FetchRefused:
    return FetchRefused(
        "budget", "This import ran out of time before reaching it; import it again separately."
    )


class SafeImageFetcher:
    """Fetch pictures from allowlisted hosts on public addresses only (see the module docstring).

    `images` is the shared pool that reads picture headers (Pillow stays in bot/images, within
    its bound). `resolver` maps a host name to its addresses; `ssl_context` replaces the default
    certificate store. `allow_loopback_for_tests` lets loopback addresses (and no other private
    ones) through, so tests can serve pictures from 127.0.0.1; production never sets it.
    """

    def __init__(
        self,
        *,
        images: ImageWorkers,
        policy: FetchPolicy = DEFAULT_POLICY,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
        allow_loopback_for_tests: bool = False,
    ) -> None:
        self._images = images
        self._policy = policy
        self._resolver = resolver
        self._allow_loopback = allow_loopback_for_tests
        self._client = httpx.AsyncClient(
            verify=ssl_context if ssl_context is not None else True,
            # A proxy from the environment would make the connection for us, to an address we
            # never checked.
            trust_env=False,
            follow_redirects=False,  # every hop is checked here instead
            # No connection is reused: a pooled connection is keyed by address, and reusing one
            # opened (and verified) for one host name for a request to another is not our check.
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    @property
    def policy(self) -> FetchPolicy:
        return self._policy

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str, budget: FetchBudget) -> bytes:
        """Return the picture at `url`, or raise FetchRefused saying why it was not downloaded."""
        try:
            link = check_link(url, self._policy)
            budget.check()
            data = await self._fetch_in_time(link, budget)
            await self._check_pixels(data)
        except FetchRefused as refused:
            level = logging.WARNING if refused.kind == "address" else logging.INFO
            log.log(level, "picture fetch refused (%s): %s", refused.kind, _host_for_log(url))
            raise
        return data

    async def _fetch_in_time(self, link: httpx.URL, budget: FetchBudget) -> bytes:
        # One deadline around everything (DNS, connect, every read): httpx's own timeouts are
        # per operation, so a server sending a byte just before each one expires would never
        # trip them.
        import_limited = budget.seconds_left() < self._policy.timeout
        try:
            async with asyncio.timeout(min(self._policy.timeout, budget.seconds_left())):
                return await self._follow(link, budget)
        except TimeoutError:
            refused = _out_of_time() if import_limited else FetchRefused("timeout", _TOO_SLOW)
            raise refused from None

    async def _follow(self, link: httpx.URL, budget: FetchBudget) -> bytes:
        for _ in range(self._policy.max_redirects + 1):
            answer = await self._get(link, budget)
            if isinstance(answer, bytes):
                return answer
            if host_of(answer) != host_of(link):
                raise FetchRefused(
                    "redirect",
                    "Its picture link sends Cameo to another site, which it won't follow.",
                )
            link = check_link(str(answer), self._policy)
        raise FetchRefused("redirect", "Its picture link redirects too many times.")

    async def _get(self, link: httpx.URL, budget: FetchBudget) -> bytes | httpx.URL:
        """Return the body, or where a redirect points; try each checked address in turn."""
        for address in await self._addresses(host_of(link)):
            try:
                return await self._get_from(address, link, budget)
            except httpx.ConnectError:
                continue  # nothing was sent; the next address may answer
        raise FetchRefused(
            "network", "Its picture couldn't be downloaded: Cameo couldn't connect to its host."
        )

    async def _addresses(self, host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        try:
            answers = await self._resolver(host)
        except OSError:  # socket.gaierror and friends
            answers = []
        if not answers:
            raise FetchRefused("network", "Its picture's host can't be found.")
        addresses = []
        for answer in answers:
            try:
                address = ipaddress.ip_address(answer)
            except ValueError:
                raise FetchRefused("address", _NOT_PUBLIC) from None
            # One private answer refuses the host, rather than picking the public ones: a CDN
            # never mixes them, and an attacker's DNS would.
            if not (is_public_address(address) or (self._allow_loopback and address.is_loopback)):
                raise FetchRefused("address", _NOT_PUBLIC)
            addresses.append(address)
        return addresses

    async def _get_from(
        self,
        address: ipaddress.IPv4Address | ipaddress.IPv6Address,
        link: httpx.URL,
        budget: FetchBudget,
    ) -> bytes | httpx.URL:
        host = host_of(link)
        request = httpx.Request(
            "GET",
            link.copy_with(host=str(address)),
            headers={
                "Host": host if link.port is None else f"{host}:{link.port}",
                "Accept": "image/png, image/jpeg, image/webp",
                # A compressed body could inflate past every limit before it was counted.
                "Accept-Encoding": "identity",
                "User-Agent": "Cameo (character import)",
            },
            extensions={
                "sni_hostname": host,
                "timeout": httpx.Timeout(self._policy.timeout).as_dict(),
            },
        )
        try:
            response = await self._client.send(request, stream=True)
            try:
                return await self._read(response, link, budget)
            finally:
                await response.aclose()
        except httpx.ConnectError:
            raise
        except httpx.TimeoutException:
            raise FetchRefused("timeout", _TOO_SLOW) from None
        except httpx.HTTPError:
            raise FetchRefused(
                "network", "Its picture couldn't be downloaded: the connection failed."
            ) from None

    async def _read(
        self, response: httpx.Response, link: httpx.URL, budget: FetchBudget
    ) -> bytes | httpx.URL:
        status = response.status_code
        if status in _REDIRECTS:
            try:
                return link.join(response.headers.get("location", ""))
            except (httpx.InvalidURL, TypeError, ValueError):
                raise FetchRefused("redirect", _NOT_A_LINK) from None
        if status in _GONE:
            raise FetchRefused(
                "status", "Its picture is no longer available (the link may have expired)."
            )
        if status != 200:
            raise FetchRefused(
                "status", f"Its picture couldn't be downloaded (the server answered {status})."
            )
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "image/gif":
            raise FetchRefused("type", _GIF)
        if content_type not in _IMAGE_TYPES:
            raise FetchRefused("type", _NOT_AN_IMAGE)
        if response.headers.get("content-encoding", "identity").strip().lower() != "identity":
            raise FetchRefused("type", _NOT_AN_IMAGE)
        limit = self._policy.max_bytes
        if _declared_size(response) > limit:
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        # Raw bytes, counted as they arrive: the body is never held beyond the limit.
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > limit:
                raise self._too_large()
            budget.spend(len(chunk))
            chunks.append(chunk)
        data = b"".join(chunks)
        try:
            sniff_format(data)
        except ImageRejected:
            raise FetchRefused(
                "type", _GIF if data.startswith(b"GIF8") else _NOT_AN_IMAGE
            ) from None
        return data

    async def _check_pixels(self, data: bytes) -> None:
        """Refuse a picture whose header claims more pixels than an attachment may have."""
        try:
            # Reads the header and checks the structure; decoding is clean_reference's job.
            _, width, height = await self._images.inspect(data)
        except Exception:
            # NotAnImage covers what `inspect` expects, Pillow's own bomb check included; a
            # hostile header can make Pillow raise others (IndexError for a PNG with no image
            # data), and each of them means the same here: not a picture Cameo will read.
            raise FetchRefused(
                "pixels", "Its picture can't be read: it is damaged or far too large."
            ) from None
        # The same bounds clean_reference applies (65,535 is the most a WebP or JPEG side can be).
        if width * height > MAX_PIXELS or max(width, height) > 65535:
            raise FetchRefused(
                "pixels",
                f"Its picture has too many pixels (the limit is {MAX_PIXELS // 1_000_000} "
                "megapixels).",
            )

    def _too_large(self) -> FetchRefused:
        return FetchRefused(
            "size",
            f"Its picture is larger than {_mib(self._policy.max_bytes)}, the most Cameo accepts.",
        )


def _declared_size(response: httpx.Response) -> int:
    try:
        return int(response.headers.get("content-length", "0"))
    except ValueError:
        return 0  # unreadable: the streamed count decides


def _host_for_log(url: str) -> str:
    # Never the whole link: Discord's signed attachment links carry tokens in their query.
    try:
        return host_of(httpx.URL(url)) or "(no host)"
    except (httpx.InvalidURL, TypeError, ValueError):
        return "(unreadable link)"


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MiB"
