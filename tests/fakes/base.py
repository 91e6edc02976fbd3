"""The machinery every fake image service shares.

`FakeService` runs one aiohttp app on 127.0.0.1 (port 0) and, around each service's routes,
provides what the tests steer: the auth check, the request log, injected failures
(`fail_next`), latency, the credit balance and `billed` counter, async jobs that move
queued → processing → terminal one poll at a time, and short-lived result URLs served by the
fake itself (so `expire_results()` can make them 404).

Subclasses supply the routes, the auth rule and the service's error-body shape.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, NamedTuple, Self

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from .images import RenderSpec, render

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JsonBody = dict[str, Any]

# Large enough that Apiframe's 25 MB upload limit is answered by the fake, not by aiohttp's own
# 1 MiB default (which would reply 413 with a text body no real service sends).
MAX_REQUEST_BYTES = 64 * 1024 * 1024

QUEUED, PROCESSING, COMPLETED, FAILED = "queued", "processing", "completed", "failed"
TERMINAL = (COMPLETED, FAILED)

# The parsed body, and how it was parsed, stored on the request by the middleware.
BODY = web.RequestKey("fake_body", object)
BODY_KIND = web.RequestKey("fake_body_kind", str)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with milliseconds and a "Z", as the services print timestamps."""
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RecordedRequest(NamedTuple):
    """One request as the fake received it (unpacks as method, path, headers, body).

    `headers` is case-insensitive. `body` is the parsed JSON for JSON requests, a dict of
    field -> str (or bytes for file parts) for multipart/url-encoded forms, the raw text when
    the JSON did not parse, raw bytes for any other body, and None when there was none.
    """

    method: str
    path: str
    headers: CIMultiDict[str]
    body: Any


@dataclass
class Injection:
    """A queued failure from `fail_next`."""

    status: int
    body: Any
    headers: dict[str, str]
    remaining: int
    path: str | None
    processed: bool

    def matches(self, path: str) -> bool:
        return self.remaining > 0 and (self.path is None or self.path in path)


@dataclass
class StoredFile:
    data: bytes
    content_type: str
    expired: bool = False


@dataclass
class FakeJob:
    """An async job; `state` uses neutral names, each fake prints its own vocabulary.

    `outputs` holds the result URLs once completed. `rejected` is decided at submission (the
    `reject_content` knob); `fail_jobs` is read when the job reaches its terminal state, so a
    test may set it either before submitting or while the job is running. `failure` is an
    error decided at submission that the job ends with (a value the service's own validator let
    through but the model behind it refuses).
    """

    id: str
    model: str
    params: dict[str, Any]
    cost: float
    spec: RenderSpec
    count: int = 1
    rejected: bool = False
    failure: str | None = None
    state: str = QUEUED
    polls: int = 0
    error: str | None = None
    outputs: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=utc_now)
    completed_at: datetime | None = None
    expired: bool = False
    refunded: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL


class FakeService:
    """Base class: one fake image service on loopback. Use `async with Fake() as fake:`."""

    #: where result and upload URLs live; served without auth, like a CDN
    FILES_PREFIX = "/files"
    #: the default balance, in the service's own unit
    DEFAULT_CREDITS: float = 1000
    #: the only key the fake accepts, unless the constructor is given another
    DEFAULT_API_KEY = ""
    #: how long result URLs are said to live (`expires_at` style fields)
    RESULT_LIFETIME = timedelta(hours=24)

    def __init__(self, *, api_key: str | None = None, credits: float | None = None) -> None:
        self.api_key = api_key or self.DEFAULT_API_KEY
        self.credits: float = self.DEFAULT_CREDITS if credits is None else credits
        self.billed = 0  # paid submissions accepted
        self.refunds = 0  # submissions whose credits were given back (Apiframe's failed jobs)
        self.requests: list[RecordedRequest] = []
        self.jobs: dict[str, FakeJob] = {}
        self.latency = 0.0
        self.reject_content = False
        # Pictures to answer with instead of rendering one, first in first out (a test's own
        # photograph, say, where the bot looks at what is in the picture).
        self.next_pictures: list[bytes] = []
        self.fail_jobs = False
        self.polls_before_done = 2
        self.port = 0
        self._injections: list[Injection] = []
        self._files: dict[str, StoredFile] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # Lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=MAX_REQUEST_BYTES)
        self.add_routes(app.router)
        app.router.add_get(self.FILES_PREFIX + "/{name}", self._serve_file)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def root_url(self) -> str:
        """Scheme, host and port; the services' paths hang off this."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What the bot's `*_base_url` setting is given."""
        return self.root_url

    # What subclasses provide ----------------------------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    def authorized(self, request: web.Request) -> bool:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> Any:
        """The service's error envelope."""
        return {"error": message}

    def injected_body(self, status: int) -> Any:
        """The body `fail_next` sends when the test gives none."""
        return self.error_body(status, _reason(status))

    def rate_limit_headers(self) -> dict[str, str]:
        """Headers added to an injected 429 unless the test gives its own."""
        return {"Retry-After": "1"}

    def decorate(self, response: web.StreamResponse) -> None:
        """Last look at every response (Apiframe stamps `x-request-id` here)."""

    def on_state_change(self, job: FakeJob, previous: str) -> None:
        """Called after a job moves; Apiframe refunds failures and sends webhooks here."""

    # Test knobs -----------------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        count: int = 1,
        path: str | None = None,
        *,
        processed: bool = False,
    ) -> None:
        """Answer the next `count` requests (only those whose path contains `path`, if given)
        with `status`. `body` may be a dict (sent as JSON), or str/bytes (sent as is, like a
        gateway's HTML error page); by default it is the service's own error shape. A 429 gets
        `Retry-After: 1` unless `headers` says otherwise.

        With `processed=True` the request is handled first (a job is created and billed) and
        only the answer is replaced: the "server did the work, the reply was lost" case that
        makes blind retries of a paid submission charge twice.
        """
        all_headers = self.rate_limit_headers() if status == 429 else {}
        all_headers.update(headers or {})
        self._injections.append(
            Injection(
                status,
                self.injected_body(status) if body is None else body,
                all_headers,
                count,
                path,
                processed,
            )
        )

    def expire_results(self) -> None:
        """Every result/upload URL issued so far answers 404 from now on; completed jobs are
        marked expired."""
        for stored in self._files.values():
            stored.expired = True
        for job in self.jobs.values():
            if job.state == COMPLETED:
                job.expired = True

    # Helpers for subclasses -----------------------------------------------------------------------

    def json(
        self, data: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> web.Response:
        return web.json_response(data, status=status, headers=headers)

    def error(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        return self.json(self.error_body(status, message), status, headers)

    @staticmethod
    def body_of(request: web.Request) -> Any:
        return request[BODY]

    @staticmethod
    def body_kind(request: web.Request) -> str | None:
        """How the body was parsed: json, form, invalid-json, other; None for no body."""
        return request.get(BODY_KIND)

    def can_afford(self, cost: float) -> bool:
        return self.credits + 1e-9 >= cost

    def charge(self, cost: float) -> None:
        """Take a paid submission's cost; `billed` counts each one."""
        self.credits = _money(self.credits - cost)
        self.billed += 1

    def refund(self, job: FakeJob) -> None:
        if not job.refunded:
            job.refunded = True
            self.credits = _money(self.credits + job.cost)
            self.refunds += 1

    def publish(self, data: bytes, content_type: str, extension: str) -> str:
        """Serve `data` at a fresh public URL (until `expire_results`) and return the URL."""
        name = f"{uuid.uuid4().hex}.{extension}"
        self._files[name] = StoredFile(data, content_type)
        return f"{self.root_url}{self.FILES_PREFIX}/{name}"

    def publish_render(self, spec: RenderSpec) -> str:
        return self.publish(render(spec), spec.content_type, spec.extension)

    def add_job(self, job: FakeJob) -> FakeJob:
        self.jobs[job.id] = job
        return job

    def advance(self, job: FakeJob) -> None:
        """One poll's worth of progress: `polls_before_done` polls answer queued/processing
        (the first of several is queued, the rest processing), the next one is terminal."""
        if job.done:
            return
        job.polls += 1
        waiting = self.polls_before_done
        if job.polls <= waiting:
            self._move(job, QUEUED if job.polls == 1 and waiting >= 2 else PROCESSING)
            return
        self.finish(job)

    def finish(self, job: FakeJob) -> None:
        """Take the job to its terminal state now."""
        if job.done:
            return
        if job.rejected:
            job.error = self.rejection_error()
        elif job.failure is not None:
            job.error = job.failure
        elif self.fail_jobs:
            job.error = self.failure_error()
        else:
            job.outputs = [self.publish_render(job.spec.variant(i)) for i in range(job.count)]
        job.completed_at = utc_now()
        self._move(job, FAILED if job.error else COMPLETED)

    def rejection_error(self) -> str:
        return "content_policy_violation"

    def failure_error(self) -> str:
        return "Inference failed: the model server returned an internal error"

    def take_rejection(self) -> bool:
        """Consume the `reject_content` knob: it applies to the next paid submission only."""
        rejected, self.reject_content = self.reject_content, False
        return rejected

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a background task that `stop()` cancels."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def http(self) -> aiohttp.ClientSession:
        """An outgoing client (reference fetches, webhooks), closed by `stop()`."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._session

    def file_for(self, url: str) -> StoredFile | None:
        """The stored file behind one of this fake's own URLs, if it is one."""
        prefix = f"{self.root_url}{self.FILES_PREFIX}/"
        if not url.startswith(prefix):
            return None
        return self._files.get(url.removeprefix(prefix).split("?", 1)[0])

    # Internals ------------------------------------------------------------------------------------

    def _move(self, job: FakeJob, state: str) -> None:
        previous, job.state = job.state, state
        if previous != state:
            self.on_state_change(job, previous)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            body, kind = await _read_body(request)
        except web.HTTPException as exc:  # e.g. 413 past MAX_REQUEST_BYTES
            return self.error(exc.status, exc.reason)
        request[BODY] = body
        if kind is not None:
            request[BODY_KIND] = kind
        self.requests.append(
            RecordedRequest(request.method, request.path, CIMultiDict(request.headers), body)
        )
        injection = next((i for i in self._injections if i.matches(request.path)), None)
        if injection is not None:
            injection.remaining -= 1
            self._injections = [i for i in self._injections if i.remaining > 0]
        response: web.StreamResponse
        if injection is not None and not injection.processed:
            response = _injected_response(injection)
        elif not request.path.startswith(self.FILES_PREFIX + "/") and not self.authorized(request):
            response = self.error(401, "Unauthorized: missing or invalid API key")
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                # The router's own 404/405 (and any other aiohttp error), in the service's shape.
                response = self.error(exc.status, f"{exc.reason}: {request.method} {request.path}")
            if injection is not None:
                response = _injected_response(injection)
        # Handled first, answered late: a client that gives up during the wait was still served
        # (and charged), which is what a slow real service does.
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        self.decorate(response)
        return response

    async def _serve_file(self, request: web.Request) -> web.StreamResponse:
        stored = self._files.get(request.match_info["name"])
        if stored is None or stored.expired:
            return self.error(404, "Not found (the file has expired or never existed)")
        return web.Response(body=stored.data, content_type=stored.content_type)


async def _read_body(request: web.Request) -> tuple[Any, str | None]:
    """Parse the body once, for the log and the handler (aiohttp's stream can be read once)."""
    if not request.body_exists:
        return None, None
    content_type = request.content_type
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            form = await request.post()
        except ValueError:
            return await request.read(), "other"
        parsed: dict[str, str | bytes] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                parsed[key] = value.file.read()
            else:
                parsed[key] = value if isinstance(value, str) else bytes(value)
        return parsed, "form"
    raw = await request.read()
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return json.loads(raw), "json"
        except ValueError:
            return raw.decode("utf-8", "replace"), "invalid-json"
    return raw, "other"


def _injected_response(injection: Injection) -> web.Response:
    if isinstance(injection.body, str | bytes):
        return web.Response(
            status=injection.status,
            body=injection.body,
            headers={"Content-Type": "text/html", **injection.headers},
        )
    return web.json_response(injection.body, status=injection.status, headers=injection.headers)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _money(amount: float) -> float:
    """Keep float credit balances free of binary noise (0.1 + 0.2 style)."""
    return round(amount, 6) if isinstance(amount, float) else amount
