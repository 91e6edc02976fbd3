"""What Cameo counts for Prometheus, defined once for the process.

Counters and histograms here are this process's own (each process of a deployment serves its
own, and Prometheus adds them up). The gauges read from the database when scraped (jobs by state
and service, credits held) and the ledger movements are the whole deployment's: every process
reports the same value, so aggregate them with max(), not sum().
"""

from __future__ import annotations

import re
import time
from types import SimpleNamespace

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# Discord answers within 3 s or the member sees "The application did not respond".
_ACK_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0)
_SERVICE_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
_WAIT_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
_LOCK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

INTERACTIONS = Counter(
    "cameo_interactions",
    "Interactions received from Discord, by kind.",
    ["kind"],
    registry=REGISTRY,
)
ACKNOWLEDGED = Histogram(
    "cameo_interaction_ack_seconds",
    "From an interaction's creation (its id's timestamp, so this host's clock counts) to "
    "Discord's answer to Cameo's first response.",
    buckets=_ACK_BUCKETS,
    registry=REGISTRY,
)
REST_CALLS = Counter(
    "cameo_discord_rest_calls",
    "Discord REST calls made by this process, by HTTP method and status class ('error': no "
    "answer, such as a timeout).",
    ["method", "status"],
    registry=REGISTRY,
)
REST_RATE_LIMITED = Counter(
    "cameo_discord_rest_429",
    "Discord REST calls answered 429 Too Many Requests, by scope (user, global, shared).",
    ["scope"],
    registry=REGISTRY,
)
JOBS_FINISHED = Counter(
    "cameo_jobs_finished",
    "Jobs this process finished, by outcome and the service that made them.",
    ["state", "service"],
    registry=REGISTRY,
)
JOBS = Gauge(
    "cameo_jobs",
    "Jobs waiting or running now (the whole deployment), by state and preferred service.",
    ["state", "service"],
    registry=REGISTRY,
)
QUEUE_WAIT = Histogram(
    "cameo_queue_wait_seconds",
    "How long a job waited in the queue before it started.",
    buckets=_WAIT_BUCKETS,
    registry=REGISTRY,
)
SERVICE_SECONDS = Histogram(
    "cameo_service_seconds",
    "Time an image service took for a request it answered, by service.",
    ["service"],
    buckets=_SERVICE_BUCKETS,
    registry=REGISTRY,
)
SERVICE_FAILURES = Counter(
    "cameo_service_failures",
    "Requests an image service failed, by service and kind of failure.",
    ["service", "error"],
    registry=REGISTRY,
)
CREDITS_HELD = Gauge(
    "cameo_credits_held",
    "Credits held now for jobs not yet delivered (the whole deployment).",
    registry=REGISTRY,
)
CREDITS = Counter(
    "cameo_credits",
    "Credits moved in the ledger since this process started (the whole deployment): reserved "
    "for queued jobs, returned (what a delivery did not use, failed and cancelled jobs), "
    "paid by members for second tries, given and taken by server staff. Charged is reserved "
    "minus returned.",
    ["movement"],
    registry=REGISTRY,
)
DATABASE_LOCK_WAIT = Histogram(
    "cameo_database_lock_wait_seconds",
    "How long a database step waited for this process's connection.",
    buckets=_LOCK_BUCKETS,
    registry=REGISTRY,
)

for _kind in ("command", "component", "autocomplete", "modal", "other"):
    INTERACTIONS.labels(kind=_kind)
for _movement in ("reserved", "returned", "retry", "given", "taken"):
    CREDITS.labels(movement=_movement)

_DISCORD_EPOCH_MS = 1_420_070_400_000
_CALLBACK = re.compile(r"/interactions/(\d+)/[^/]+/callback$")


def created_at(snowflake: int) -> float:
    """When Discord made the object with this id (Unix seconds)."""
    return ((snowflake >> 22) + _DISCORD_EPOCH_MS) / 1000


def discord_http_trace() -> aiohttp.TraceConfig:
    """An aiohttp trace for discord.py's session (`http_trace`): counts every REST call and
    429, and times each interaction's first answer from the interaction's creation."""
    trace = aiohttp.TraceConfig()

    async def on_request_end(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        status = params.response.status
        if status == 101:
            return  # the gateway's websocket upgrade, not a REST call
        REST_CALLS.labels(method=params.method, status=f"{status // 100}xx").inc()
        if status == 429:
            scope = params.response.headers.get("X-RateLimit-Scope", "user")
            REST_RATE_LIMITED.labels(scope=scope).inc()
        answered = _CALLBACK.search(params.url.path)
        if answered is not None and status < 300:
            ACKNOWLEDGED.observe(max(0.0, time.time() - created_at(int(answered.group(1)))))

    async def on_request_exception(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestExceptionParams,
    ) -> None:
        REST_CALLS.labels(method=params.method, status="error").inc()  # no answer at all

    trace.on_request_end.append(on_request_end)
    trace.on_request_exception.append(on_request_exception)
    return trace
