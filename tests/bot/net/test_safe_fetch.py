"""The avatar fetcher against real servers on loopback, and its refusals under the real policy."""

from __future__ import annotations

import ipaddress
import socket
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.images.processing import MAX_REFERENCE_BYTES, ImageWorkers
from bot.net.safe_fetch import (
    AVATAR_HOSTS,
    FetchBudget,
    FetchPolicy,
    FetchRefused,
    Resolver,
    SafeImageFetcher,
    check_link,
    is_public_address,
    system_resolver,
)
from tests.bot.net.loopback import (
    HostileHost,
    answer,
    endless,
    picture,
    redirect,
    self_signed,
    stall,
    trickle,
)
from tests.imagefactory import make_image, png

PICTURE = png(300, 300, seed=1)
DISCORD = "cdn.discordapp.com"


def safe_fetcher(**options: Any) -> SafeImageFetcher:
    """A fetcher with its own image pool (a pool is bound to the test's event loop)."""
    return SafeImageFetcher(images=ImageWorkers(), **options)


def resolving(answers: dict[str, list[str]]) -> Resolver:
    """A resolver that knows only `answers`, like DNS under an attacker's (or a test's) control."""

    async def resolve(host: str) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    return resolve


async def never_resolve(host: str) -> list[str]:
    raise AssertionError(f"{host} should have been refused before any lookup")


def to_loopback() -> Resolver:
    return resolving({host: ["127.0.0.1"] for host in AVATAR_HOSTS | {"evil.example"}})


@pytest.fixture
async def host() -> AsyncIterator[HostileHost]:
    async with HostileHost() as server:
        yield server


def fetcher_for(server: HostileHost, **policy: object) -> SafeImageFetcher:
    """The fetcher as production builds it, except: plain HTTP on the test port, to loopback."""
    values: dict[str, object] = {
        "require_https": False,
        "ports": frozenset({server.port}),
        "timeout": 10.0,
    }
    values.update(policy)
    return safe_fetcher(
        policy=FetchPolicy(**values),  # type: ignore[arg-type]
        resolver=to_loopback(),
        allow_loopback_for_tests=True,
    )


async def refusal(fetcher: SafeImageFetcher, url: str, budget: FetchBudget | None = None) -> str:
    """Fetch `url`, expecting a refusal; return its kind (and check its message is for people)."""
    async with fetcher:
        with pytest.raises(FetchRefused) as refused:
            await fetcher.fetch(url, budget or FetchBudget())
    assert refused.value.message.startswith(("Its picture", "This import"))
    return refused.value.kind


def png_header(width: int, height: int, *, data: bool = True) -> bytes:
    """A PNG that claims `width` × `height` pixels and holds almost none (only its header is
    read); without `data`, not even the chunk that would hold them."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = chunk(b"IDAT", zlib.compress(b"\x00" * 64)) if data else b""
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixels + chunk(b"IEND", b"")


# What a member's file may legitimately point at, and what it may not.


async def test_fetches_a_picture_from_an_allowlisted_host_through_its_checked_address(
    host: HostileHost,
) -> None:
    host.routes["/avatars/1/a.png"] = picture(PICTURE)
    async with fetcher_for(host) as fetcher:
        data = await fetcher.fetch(host.url(DISCORD, "/avatars/1/a.png?size=512"), FetchBudget())
    assert data == PICTURE
    [seen] = host.seen
    assert seen.target == "/avatars/1/a.png?size=512"
    # Connected to 127.0.0.1, yet the request names the host the link named.
    assert seen.headers["host"] == f"{DISCORD}:{host.port}"
    assert seen.headers["accept-encoding"] == "identity"


async def test_https_verifies_the_certificate_for_the_host_name_while_connecting_to_the_address(
    tmp_path: Path,
) -> None:
    certificate = self_signed(tmp_path, DISCORD)
    async with HostileHost(ssl_context=certificate.server_context()) as server:
        server.routes["/a.png"] = picture(PICTURE)
        fetcher = safe_fetcher(
            policy=FetchPolicy(ports=frozenset({server.port})),
            resolver=to_loopback(),
            ssl_context=certificate.client_context(),
            allow_loopback_for_tests=True,
        )
        async with fetcher:
            data = await fetcher.fetch(server.url(DISCORD, "/a.png", "https"), FetchBudget())
    assert data == PICTURE
    assert server.server_names == [DISCORD]  # SNI carried the name, not the address


async def test_https_refuses_a_certificate_made_for_another_host(tmp_path: Path) -> None:
    certificate = self_signed(tmp_path, DISCORD)
    async with HostileHost(ssl_context=certificate.server_context()) as server:
        server.routes["/a.png"] = picture(PICTURE)
        fetcher = safe_fetcher(
            policy=FetchPolicy(ports=frozenset({server.port})),
            resolver=to_loopback(),
            ssl_context=certificate.client_context(),
            allow_loopback_for_tests=True,
        )
        kind = await refusal(fetcher, server.url("cdn.pluralkit.me", "/a.png", "https"))
    assert kind == "network"
    assert server.seen == []


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",  # the cloud metadata service
        "127.0.0.1",
        "0.0.0.0",
        "100.64.0.1",  # carrier-grade NAT
        "224.0.0.1",  # multicast
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "::1",
        "::",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "::127.0.0.1",  # IPv4-compatible
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "fe80::1",
        "fe80::1%1",
        "fc00::1",
        "fec0::1",
        "ff02::1",
        "not an address",
    ],
)
async def test_the_default_policy_refuses_every_address_that_is_not_public(address: str) -> None:
    fetcher = safe_fetcher(resolver=resolving({DISCORD: [address]}))
    assert await refusal(fetcher, f"https://{DISCORD}/avatars/1/a.png") == "address"


async def test_one_private_answer_among_public_ones_refuses_the_host() -> None:
    fetcher = safe_fetcher(resolver=resolving({DISCORD: ["162.159.130.233", "10.0.0.1"]}))
    assert await refusal(fetcher, f"https://{DISCORD}/avatars/1/a.png") == "address"


async def test_loopback_is_refused_unless_a_test_allows_it(host: HostileHost) -> None:
    host.routes["/a.png"] = picture(PICTURE)
    fetcher = safe_fetcher(
        policy=FetchPolicy(require_https=False, ports=frozenset({host.port})),
        resolver=to_loopback(),
    )
    assert await refusal(fetcher, host.url(DISCORD, "/a.png")) == "address"
    assert host.seen == []  # refused before connecting


@pytest.mark.parametrize("address", ["10.0.0.1", "::ffff:127.0.0.1", "169.254.169.254"])
async def test_the_test_flag_allows_loopback_and_nothing_else_private(address: str) -> None:
    fetcher = safe_fetcher(resolver=resolving({DISCORD: [address]}), allow_loopback_for_tests=True)
    assert await refusal(fetcher, f"https://{DISCORD}/a.png") == "address"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("162.159.130.233", True),
        ("2606:4700::6810:84e5", True),
        ("64:ff9b::a29f:82e9", True),  # NAT64 of a public address
        ("::ffff:162.159.130.233", True),
        ("192.0.2.1", False),  # documentation range
        ("198.18.0.1", False),  # benchmarking range
    ],
)
def test_public_addresses_are_told_apart_from_the_rest(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    "url",
    [
        f"http://{DISCORD}/a.png",
        "https://evil.example/a.png",
        f"https://{DISCORD}.evil.example/a.png",
        f"https://evil.{DISCORD}/a.png",
        f"https://user:secret@{DISCORD}/a.png",
        f"https://{DISCORD}:8443/a.png",
        "https://127.0.0.1/a.png",
        "https://[::1]/a.png",
        "https://2130706433/a.png",
        "file:///etc/passwd",
        f"ftp://{DISCORD}/a.png",
        f"https://{DISCORD}\\@evil.example/a.png",
        "//cdn.discordapp.com/a.png",
        "not a link",
        "",
        f"https://{DISCORD}/{'a' * 3000}.png",
    ],
)
async def test_links_that_are_not_https_to_an_allowlisted_host_are_refused_unresolved(
    url: str,
) -> None:
    assert await refusal(safe_fetcher(resolver=never_resolve), url) == "link"


def test_host_names_compare_without_case_or_final_dot() -> None:
    assert check_link("https://CDN.DiscordApp.com./a.png").path == "/a.png"


def test_the_refusal_names_the_foreign_host_without_markup() -> None:
    with pytest.raises(FetchRefused, match=r"on i\.imgur\.com; Cameo only downloads"):
        check_link("https://i.imgur.com/abc.png")


# Redirects.


async def test_a_redirect_on_the_same_host_is_followed(host: HostileHost) -> None:
    host.routes["/old.png"] = redirect("/new.png")
    host.routes["/new.png"] = picture(PICTURE)
    async with fetcher_for(host) as fetcher:
        assert await fetcher.fetch(host.url(DISCORD, "/old.png"), FetchBudget()) == PICTURE
    assert [seen.target for seen in host.seen] == ["/old.png", "/new.png"]


@pytest.mark.parametrize("target", ["evil.example", "cdn.pluralkit.me"])
async def test_a_redirect_to_another_host_is_refused(host: HostileHost, target: str) -> None:
    host.routes["/a.png"] = redirect(host.url(target, "/a.png"))
    assert await refusal(fetcher_for(host), host.url(DISCORD, "/a.png")) == "redirect"
    assert len(host.seen) == 1  # never followed


async def test_a_redirect_loop_is_cut_off(host: HostileHost) -> None:
    host.routes["/a.png"] = redirect("/a.png")
    assert await refusal(fetcher_for(host), host.url(DISCORD, "/a.png")) == "redirect"
    assert len(host.seen) == 4  # the first request and three redirects


# What comes back.


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html>hello</html>", "text/html"),
        (b"<html>a picture, honest</html>", "image/png"),  # the magic bytes decide
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
        (PICTURE, "application/octet-stream"),
        (PICTURE, ""),
    ],
)
async def test_something_other_than_a_picture_is_refused(
    host: HostileHost, body: bytes, content_type: str
) -> None:
    host.routes["/a.png"] = answer(200, body, {"Content-Type": content_type})
    assert await refusal(fetcher_for(host), host.url(DISCORD, "/a.png")) == "type"


async def test_a_gif_is_refused_with_its_own_reason(host: HostileHost) -> None:
    host.routes["/a.gif"] = picture(make_image(300, 300, "GIF"), "image/gif")
    async with fetcher_for(host) as fetcher:
        with pytest.raises(FetchRefused, match="GIF"):
            await fetcher.fetch(host.url(DISCORD, "/a.gif"), FetchBudget())


async def test_a_compressed_body_is_refused_unread(host: HostileHost) -> None:
    body = zlib.compress(bytes(1_000_000))
    host.routes["/a.png"] = answer(
        200, body, {"Content-Type": "image/png", "Content-Encoding": "deflate"}
    )
    assert await refusal(fetcher_for(host), host.url(DISCORD, "/a.png")) == "type"


async def test_a_declared_size_over_the_limit_is_refused_before_the_body(host: HostileHost) -> None:
    # The body never comes: had the fetcher waited for it, this would end as a timeout.
    size = str(MAX_REFERENCE_BYTES + 1)
    host.routes["/a.png"] = stall({"Content-Type": "image/png", "Content-Length": size})
    assert await refusal(fetcher_for(host), host.url(DISCORD, "/a.png")) == "size"


async def test_an_endless_body_is_cut_off_at_the_limit(host: HostileHost) -> None:
    host.routes["/a.png"] = endless(PICTURE[:64])
    fetcher = fetcher_for(host, max_bytes=1024 * 1024)
    assert await refusal(fetcher, host.url(DISCORD, "/a.png")) == "size"
    await host.cut_off.wait()  # the server saw the connection dropped mid-body


async def test_a_server_that_never_answers_is_cut_off_by_the_timeout(host: HostileHost) -> None:
    host.routes["/a.png"] = stall()
    fetcher = fetcher_for(host, timeout=0.2)
    assert await refusal(fetcher, host.url(DISCORD, "/a.png")) == "timeout"


async def test_a_server_that_stalls_after_its_headers_is_cut_off(host: HostileHost) -> None:
    host.routes["/a.png"] = stall({"Content-Type": "image/png", "Content-Length": "5000"})
    fetcher = fetcher_for(host, timeout=0.2)
    assert await refusal(fetcher, host.url(DISCORD, "/a.png")) == "timeout"


async def test_a_trickling_server_is_cut_off_by_the_overall_timeout(host: HostileHost) -> None:
    # Each byte arrives well within any one read's timeout; only the overall deadline ends it.
    host.routes["/a.png"] = trickle(PICTURE[:64], every=0.02)
    fetcher = fetcher_for(host, timeout=0.3)
    assert await refusal(fetcher, host.url(DISCORD, "/a.png")) == "timeout"


@pytest.mark.parametrize(("width", "height"), [(8000, 8000), (20000, 20000), (70000, 10)])
async def test_a_picture_with_too_many_pixels_is_refused(
    host: HostileHost, width: int, height: int
) -> None:
    host.routes["/a.png"] = picture(png_header(width, height))
    assert await refusal(fetcher_for(host), host.url(DISCORD, "/a.png")) == "pixels"


async def test_a_picture_pillow_chokes_on_is_refused_not_raised(host: HostileHost) -> None:
    host.routes["/a.png"] = picture(png_header(300, 300, data=False))
    assert await refusal(fetcher_for(host), host.url(DISCORD, "/a.png")) == "pixels"


async def test_a_gone_link_is_reported_as_expired(host: HostileHost) -> None:
    async with fetcher_for(host) as fetcher:
        with pytest.raises(FetchRefused, match="no longer available") as refused:
            await fetcher.fetch(host.url(DISCORD, "/expired.png"), FetchBudget())
    assert refused.value.kind == "status"


async def test_a_server_error_is_reported_with_its_status(host: HostileHost) -> None:
    host.routes["/a.png"] = answer(503, b"busy")
    async with fetcher_for(host) as fetcher:
        with pytest.raises(FetchRefused, match="answered 503"):
            await fetcher.fetch(host.url(DISCORD, "/a.png"), FetchBudget())


async def test_a_host_that_does_not_resolve_is_reported() -> None:
    fetcher = safe_fetcher(resolver=resolving({}))
    assert await refusal(fetcher, f"https://{DISCORD}/a.png") == "network"


# The budget one import shares.


async def test_the_import_budget_bounds_the_bytes_of_all_fetches(host: HostileHost) -> None:
    host.routes["/a.png"] = picture(PICTURE)
    budget = FetchBudget(max_bytes=len(PICTURE) + 10)
    async with fetcher_for(host) as fetcher:
        assert await fetcher.fetch(host.url(DISCORD, "/a.png"), budget) == PICTURE
        with pytest.raises(FetchRefused) as refused:
            await fetcher.fetch(host.url(DISCORD, "/a.png"), budget)
    assert refused.value.kind == "budget"


async def test_a_spent_import_deadline_refuses_without_connecting(host: HostileHost) -> None:
    host.routes["/a.png"] = picture(PICTURE)
    budget = FetchBudget(seconds=0)
    assert await refusal(fetcher_for(host), host.url(DISCORD, "/a.png"), budget) == "budget"
    assert host.seen == []


async def test_the_import_deadline_ends_a_slow_fetch_as_out_of_time(host: HostileHost) -> None:
    host.routes["/a.png"] = stall()
    budget = FetchBudget(seconds=0.2)
    assert await refusal(fetcher_for(host), host.url(DISCORD, "/a.png"), budget) == "budget"


async def test_the_system_resolver_uses_the_event_loops_lookup() -> None:
    addresses = await system_resolver("localhost")
    assert addresses
    assert all(ipaddress.ip_address(address).is_loopback for address in addresses)
