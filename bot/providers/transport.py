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

from bot.providers.errors import (
    JobFailed,
    OutcomeUnknown,
    ProviderError,
    RateLimited,
    TimedOut,
    Unavailable,
)

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
    paid: bool = False,
    policy: RetryPolicy | None = None,
) -> httpx.Response:
    """Send a request, retrying only when a repeat cannot cost money twice.

    - 429, and a connection that never opened: the service did no work, so waiting and
      retrying is always safe (for paid submissions too), and so is failing over afterwards.
    - 502 and 503 come from gateways in front of the service: treated as "not processed".
    - 500, 504, timeouts and broken connections: the service may have done (and charged for)
      the work. Only idempotent requests (GETs, keyed Apiframe submissions) retry; for a `paid`
      request the final error is OutcomeUnknown, which the router never fails over.
    Returns any response below 500 other than 429 for the caller to interpret.
    """
    policy = policy or RetryPolicy()
    attempt = 0
    while True:
        wait: float | None = None
        retry_safe = idempotent
        error: ProviderError
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the result when
            # the call finishes just as the task is cancelled, so a member's cancel was lost
            # and the job polled on. A timeout block never swallows a cancellation.
            async with asyncio.timeout(max(0.1, deadline.remaining())):
                response = await call()
        except httpx.ConnectError as exc:
            error, retry_safe = Unavailable(provider, f"cannot connect: {exc}"), True
        except (TimeoutError, httpx.TimeoutException) as exc:
            error = (
                OutcomeUnknown(provider, f"no answer in time to a paid request ({exc!r})")
                if paid
                else TimedOut(provider, f"no answer in time ({exc!r})")
            )
        except httpx.TransportError as exc:
            error = (
                OutcomeUnknown(provider, f"connection broke during a paid request: {exc!r}")
                if paid
                else Unavailable(provider, f"connection broke: {exc!r}")
            )
        else:
            status = response.status_code
            if status < 500 and status != 429:
                return response
            await response.aclose()  # a streamed response must give its connection back
            if status == 429:
                wait = retry_after_seconds(response)
                error, retry_safe = RateLimited(provider, "429 Too Many Requests", wait), True
            elif status in {502, 503}:
                error = Unavailable(provider, f"HTTP {status} from the service's gateway")
            elif paid:
                error = OutcomeUnknown(provider, f"HTTP {status} answering a paid request")
            else:
                error = Unavailable(provider, f"HTTP {status}")
        attempt += 1
        delay = wait if wait is not None else policy.backoff(attempt)
        if not retry_safe or attempt >= policy.attempts or delay >= deadline.remaining():
            raise error
        log.info("%s: %s; retrying in %.1f s", provider, error.detail, delay)
        await asyncio.sleep(delay)


async def read_capped(
    provider: str, response: httpx.Response, deadline: Deadline, max_bytes: int = MAX_RESULT_BYTES
) -> bytes:
    """Read a streamed body with a size cap, within the deadline."""
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise JobFailed(provider, f"result is {declared} bytes, over the {max_bytes} cap")
    chunks = []
    size = 0
    try:
        async with asyncio.timeout(max(0.1, deadline.remaining())):
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise JobFailed(provider, f"result is over the {max_bytes} byte cap")
                chunks.append(chunk)
    except TimeoutError:
        raise TimedOut(provider, "the result download did not finish in time") from None
    except httpx.TransportError as exc:
        raise Unavailable(provider, f"the result download broke: {exc!r}") from None
    return b"".join(chunks)


async def download_image(
    provider: str,
    client: httpx.AsyncClient,
    url: str,
    *,
    deadline: Deadline,
    max_bytes: int = MAX_RESULT_BYTES,
) -> bytes:
    """Fetch a result at once (service URLs expire), following CDN redirects, with a size cap."""

    async def fetch() -> httpx.Response:
        request = client.build_request("GET", url)
        return await client.send(request, stream=True, follow_redirects=True)

    try:
        response = await send(provider, fetch, idempotent=True, deadline=deadline)
    except httpx.InvalidURL:
        raise JobFailed(provider, "the service gave a result URL that is not valid") from None
    try:
        if response.status_code in {403, 404, 410}:
            raise JobFailed(provider, f"result has expired (HTTP {response.status_code})")
        if response.status_code != 200:
            raise Unavailable(provider, f"result download failed with HTTP {response.status_code}")
        return await read_capped(provider, response, deadline, max_bytes)
    finally:
        await response.aclose()
