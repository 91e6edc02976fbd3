"""Discord-style rate limits: per-route buckets, the global limit, and scripted 429s.

Discord buckets behave like fixed windows: ``limit`` requests, then all tokens come back at
``reset``. Buckets are keyed by (bucket, major parameter): channel_id, guild_id or
webhook_id+webhook_token, exactly like discord.py's ``Route.major_parameters``, so one busy channel
does not slow another. Windows run on real monotonic time because discord.py sleeps in real time.

A 429 carries everything discord.py needs to retry instead of raising (discord.md §1 pitfalls):
a ``Via`` header and a JSON body with ``retry_after``.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RouteLimit:
    bucket: str
    limit: int
    per: float


# Discord does not publish per-route numbers; these follow commonly observed values and are
# configurable with ``DiscordEmulator.set_rate_limit`` or the ``rate_limits`` option.
_WEBHOOK_MESSAGE = RouteLimit("webhook_message", 5, 2.0)
DEFAULT_ROUTE_LIMITS: dict[str, RouteLimit] = {
    "POST /channels/{channel_id}/messages": RouteLimit("message_create", 5, 5.0),
    "PATCH /channels/{channel_id}/messages/{message_id}": RouteLimit("message_edit", 5, 5.0),
    "DELETE /channels/{channel_id}/messages/{message_id}": RouteLimit("message_delete", 5, 1.0),
    "POST /channels/{channel_id}/threads": RouteLimit("thread_create", 5, 5.0),
    "POST /channels/{channel_id}/messages/{message_id}/threads": RouteLimit(
        "thread_create", 5, 5.0
    ),
    "PATCH /channels/{channel_id}": RouteLimit("channel_edit", 5, 5.0),
    "POST /webhooks/{webhook_id}/{webhook_token}": RouteLimit("webhook_execute", 5, 2.0),
    "GET /webhooks/{webhook_id}/{webhook_token}/messages/@original": _WEBHOOK_MESSAGE,
    "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original": _WEBHOOK_MESSAGE,
    "DELETE /webhooks/{webhook_id}/{webhook_token}/messages/@original": _WEBHOOK_MESSAGE,
    "GET /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}": _WEBHOOK_MESSAGE,
    "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}": _WEBHOOK_MESSAGE,
    "DELETE /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}": _WEBHOOK_MESSAGE,
    "POST /interactions/{webhook_id}/{webhook_token}/callback": RouteLimit(
        "interaction_callback", 5, 1.0
    ),
    "PUT /applications/{application_id}/commands": RouteLimit("command_sync", 5, 20.0),
    "PUT /applications/{application_id}/guilds/{guild_id}/commands": RouteLimit(
        "command_sync", 5, 20.0
    ),
    "POST /attachments/refresh-urls": RouteLimit("refresh_urls", 5, 1.0),
}
DEFAULT_LIMIT = 10
DEFAULT_PER = 1.0
GLOBAL_LIMIT = 50
GLOBAL_PER = 1.0


@dataclass
class _Window:
    limit: int
    per: float
    start: float = 0.0
    count: int = 0

    def roll(self, now: float) -> None:
        if self.count == 0 or now >= self.start + self.per:
            self.start = now
            self.count = 0

    def reset_after(self, now: float) -> float:
        return max(self.start + self.per - now, 0.0)


@dataclass
class _Injection:
    remaining: int
    route_key: str | None
    global_: bool
    retry_after: float
    scope: str


@dataclass
class Decision:
    """What the limiter says about one request: headers always, plus a 429 body if refused."""

    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    @property
    def limited(self) -> bool:
        return self.body is not None


def bucket_hash(bucket: str) -> str:
    return hashlib.sha256(bucket.encode()).hexdigest()[:32]


def _seconds(value: float) -> str:
    return f"{value:.3f}"


class RateLimiter:
    def __init__(
        self,
        overrides: dict[str, tuple[int, float]] | None = None,
        *,
        global_limit: int = GLOBAL_LIMIT,
        global_per: float = GLOBAL_PER,
    ) -> None:
        self._limits = dict(DEFAULT_ROUTE_LIMITS)
        self._windows: dict[tuple[str, str], _Window] = {}
        self._global = _Window(global_limit, global_per)
        self._injections: list[_Injection] = []
        for route_key, (limit, per) in (overrides or {}).items():
            self.set_rate_limit(route_key, limit, per)

    def limit_for(self, route_key: str) -> RouteLimit:
        return self._limits.get(route_key) or RouteLimit(route_key, DEFAULT_LIMIT, DEFAULT_PER)

    def set_rate_limit(self, route_key: str, limit: int, per_seconds: float) -> None:
        """Give a route its own bucket of ``limit`` requests per ``per_seconds``.

        ``route_key`` is discord.py's ``Route.key``, e.g. ``POST /channels/{channel_id}/messages``.
        """
        if limit < 1 or per_seconds <= 0:
            raise ValueError("limit must be >= 1 and per_seconds > 0")
        if " /" not in route_key:
            raise ValueError(f"route_key must look like 'METHOD /path', got {route_key!r}")
        bucket = f"{route_key} ({limit}/{per_seconds}s)"
        self._limits[route_key] = RouteLimit(bucket, limit, per_seconds)
        self._windows = {k: w for k, w in self._windows.items() if k[0] != bucket}

    def set_global_limit(self, limit: int, per_seconds: float = 1.0) -> None:
        self._global = _Window(limit, per_seconds)

    def inject_429(
        self,
        count: int = 1,
        route_key: str | None = None,
        *,
        global_: bool = False,
        retry_after: float = 0.2,
        scope: str | None = None,
    ) -> None:
        self._injections.append(
            _Injection(
                remaining=count,
                route_key=route_key,
                global_=global_,
                retry_after=retry_after,
                scope=scope or ("global" if global_ else "user"),
            )
        )

    def _take_injection(self, route_key: str) -> _Injection | None:
        for injection in self._injections:
            if injection.remaining > 0 and injection.route_key in (None, route_key):
                injection.remaining -= 1
                if injection.remaining == 0:
                    self._injections.remove(injection)
                return injection
        return None

    def check(self, route_key: str, major: str, *, global_exempt: bool) -> Decision:
        now = time.monotonic()
        route_limit = self.limit_for(route_key)
        window = self._windows.setdefault(
            (route_limit.bucket, major), _Window(route_limit.limit, route_limit.per)
        )
        window.roll(now)

        injection = self._take_injection(route_key)
        if injection is not None:
            return self._refusal(
                injection.retry_after,
                global_=injection.global_,
                scope=injection.scope,
                bucket=None if injection.global_ else (route_limit, window, now),
            )

        if not global_exempt:
            self._global.roll(now)
            if self._global.count >= self._global.limit:
                return self._refusal(
                    self._global.reset_after(now), global_=True, scope="global", bucket=None
                )
            self._global.count += 1

        if window.count >= window.limit:
            return self._refusal(
                window.reset_after(now),
                global_=False,
                scope="user",
                bucket=(route_limit, window, now),
            )
        window.count += 1
        return Decision(headers=self._bucket_headers(route_limit, window, now))

    @staticmethod
    def _bucket_headers(route_limit: RouteLimit, window: _Window, now: float) -> dict[str, str]:
        reset_after = window.reset_after(now)
        return {
            "X-RateLimit-Limit": str(window.limit),
            "X-RateLimit-Remaining": str(max(window.limit - window.count, 0)),
            "X-RateLimit-Reset": _seconds(time.time() + reset_after),
            "X-RateLimit-Reset-After": _seconds(reset_after),
            "X-RateLimit-Bucket": bucket_hash(route_limit.bucket),
        }

    def _refusal(
        self,
        retry_after: float,
        *,
        global_: bool,
        scope: str,
        bucket: tuple[RouteLimit, _Window, float] | None,
    ) -> Decision:
        retry_after = max(round(retry_after, 3), 0.001)
        headers = {
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Scope": scope,
            # discord.py treats a 429 without Via as a Cloudflare ban and gives up.
            "Via": "1.1 google",
        }
        if global_:
            headers["X-RateLimit-Global"] = "true"
        if bucket is not None:
            route_limit, window, now = bucket
            headers.update(self._bucket_headers(route_limit, window, now))
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Reset-After"] = _seconds(retry_after)
            headers["X-RateLimit-Reset"] = _seconds(time.time() + retry_after)
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": global_,
        }
        return Decision(headers=headers, body=body)
