"""HTTP for the service clients: retries that cannot double-charge, deadlines, capped downloads."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from bot.providers.errors import JobFailed, ProviderError, RateLimited, TimedOut, Unavailable

log = logging.getLogger(__name__)

# Generated images are re-uploaded to Discord; anything larger than this is not an image we want.
MAX_RESULT_BYTES = 25 * 1024 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """Full-jitter exponential backoff, bounded by attempts and by an overall deadline."""

    attempts: int = 4
    base: float = 0.5
    cap: float = 8.0

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2**attempt))  # noqa: S311 (jitter, not crypto)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Read Retry-After as seconds or an HTTP date; None if absent or unreadable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class Deadline:
    """An absolute point in (monotonic) time that a whole operation must finish by."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0


async def send(
    provider: str,
    call: Callable[[], Awaitable[httpx.Response]],
    *,
    idempotent: bool,
    deadline: Deadline,
    policy: RetryPolicy | None = None,
) -> httpx.Response:
    """Send a request, retrying only when a repeat cannot cost money twice.

    - 429: the service did not do the work, so waiting (Retry-After, else backoff) and retrying
      is always safe, for paid submissions too.
    - A connection that never opened: nothing was sent, so retrying is safe.
    - 5xx, timeouts, broken connections: the service may have done (and charged for) the work,
      so only idempotent requests (GETs, Apiframe submissions with an Idempotency-Key) retry.
    Returns any other response for the caller to interpret.
    """
    policy = policy or RetryPolicy()
    attempt = 0
    while True:
        wait: float | None = None
        error: ProviderError
        try:
            response = await asyncio.wait_for(call(), timeout=max(0.1, deadline.remaining()))
        except httpx.ConnectError as exc:
            error = Unavailable(provider, f"cannot connect: {exc}")
        except (TimeoutError, httpx.TimeoutException) as exc:
            if not idempotent:
                raise TimedOut(provider, f"no answer in time to a paid request ({exc!r})") from None
            error = TimedOut(provider, f"no answer in time ({exc!r})")
        except httpx.TransportError as exc:
            if not idempotent:
                raise Unavailable(provider, f"connection broke on a paid request: {exc}") from None
            error = Unavailable(provider, f"connection broke: {exc}")
        else:
            if response.status_code == 429:
                wait = retry_after_seconds(response)
                error = RateLimited(provider, "429 Too Many Requests", wait)
            elif response.status_code >= 500 and idempotent:
                error = Unavailable(provider, f"HTTP {response.status_code}")
            else:
                return response
        attempt += 1
        delay = wait if wait is not None else policy.backoff(attempt)
        if attempt >= policy.attempts or delay >= deadline.remaining():
            raise error
        log.info("%s: %s; retrying in %.1f s", provider, error.detail, delay)
        await asyncio.sleep(delay)


async def download_image(
    provider: str,
    client: httpx.AsyncClient,
    url: str,
    *,
    deadline: Deadline,
    max_bytes: int = MAX_RESULT_BYTES,
) -> bytes:
    """Fetch a result at once (service URLs expire), streaming with a size cap."""

    async def fetch() -> httpx.Response:
        request = client.build_request("GET", url)
        return await client.send(request, stream=True)

    response = await send(provider, fetch, idempotent=True, deadline=deadline)
    try:
        if response.status_code in {403, 404, 410}:
            raise JobFailed(provider, f"result {url} has expired (HTTP {response.status_code})")
        if response.status_code != 200:
            raise Unavailable(provider, f"result download failed with HTTP {response.status_code}")
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise JobFailed(provider, f"result is {declared} bytes, over the {max_bytes} cap")
        chunks = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise JobFailed(provider, f"result is over the {max_bytes} byte cap")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        await response.aclose()
