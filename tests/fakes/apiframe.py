"""`FakeApiframe`: Apiframe v2 for ideogram-character, checked against the official OpenAPI.

Contract: reference/providers.md §2, reference/apiframe-openapi.json and seed page 002 (whose
`webhook_url` providers.md corrects to `webhookUrl`).

- `POST /v2/uploads` (multipart `file`, images only, ≤ 25 MB) → 201; the URL is served here.
- `POST /v2/images/generate` → 202 `{jobId, status}`; the body is validated against the
  schema below (additionalProperties:false at every level), counting string lengths in UTF-16
  code units as Zod does. `Idempotency-Key` replays return the original job unbilled; the same
  key with another body is a 409.
- The schema takes `style_type` and `resolution` as free strings, but Apiframe passes them on to
  Ideogram: a style its page (seed 002) does not list, or a resolution outside Ideogram's
  ResolutionV3, is accepted, charged and then FAILS (and is refunded, as failed jobs are). How
  the real service answers such a value is undocumented; this is the behaviour its schema and
  its "you only pay for successful generations" allow, and it lets a test see a wrong spelling.
- `GET /v2/jobs/{id}` advances the job one step per poll; `GET /v2/jobs` lists jobs. `result`
  is typed "anything" in the schema: `result_shape` picks which of the shapes seen in
  Apiframe's documents and answers it takes (`RESULT_SHAPES`).
- `GET /v2/me`.

Credits are integers, taken at submission and given back when a job FAILS (its `creditCost`
becomes 0). Every response carries `x-request-id`. A job with `webhookUrl` also moves on its
own (every `webhook_interval` seconds) and its events are POSTed, signed as Apiframe signs
them; deliveries are recorded in `fake.webhook_deliveries`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from .base import COMPLETED, FAILED, PROCESSING, QUEUED, FakeJob, FakeService, iso, utc_now
from .images import MIME_BY_KIND, RenderSpec, is_image, size_for_ratio, sniff
from .validation import RESOLUTIONS, schema_errors

MODEL = "ideogram-character"

_URI = {"format": "uri", "type": "string"}

# The `model: "ideogram-character"` branch of GenerateImageRequest, copied verbatim from
# reference/apiframe-openapi.json (components.schemas.GenerateImageRequest.oneOf).
GENERATE_SCHEMA: dict[str, Any] = {
    "additionalProperties": False,
    "properties": {
        "ideogramParams": {
            "additionalProperties": False,
            "properties": {
                "aspect_ratio": {"type": "string"},
                "character_reference_image": _URI,
                "image": _URI,
                "magic_prompt_option": {"enum": ["Auto", "On", "Off"], "type": "string"},
                "mask": _URI,
                "negative_prompt": {"type": "string"},
                "rendering_speed": {"enum": ["default", "turbo", "quality"], "type": "string"},
                "resolution": {"type": "string"},
                "seed": {"type": "integer"},
                "style_preset": {"type": "string"},
                "style_reference_images": {"items": _URI, "maxItems": 3, "type": "array"},
                "style_type": {"type": "string"},
            },
            "required": ["character_reference_image"],
            "type": "object",
        },
        "model": {"enum": [MODEL], "type": "string"},
        "prompt": {"maxLength": 2000, "minLength": 1, "type": "string"},
        "webhookEvents": {
            "items": {"enum": ["progress", "completed", "failed"], "type": "string"},
            "minItems": 1,
            "type": "array",
        },
        "webhookUrl": _URI,
    },
    "required": ["prompt", "model", "ideogramParams"],
    "type": "object",
}

# `style_type` as the model page (seed 002) lists it, plus FICTION: the older docs page listed
# Fiction, and Ideogram, which Apiframe forwards it to, spells it in upper case.
STYLE_TYPES = ("AUTO", "GENERAL", "REALISTIC", "DESIGN", "FICTION")


def _first(urls: list[str]) -> str | None:
    return urls[0] if urls else None


# Shapes a completed job's `result` takes, by name: the current docs' `{"images": [url]}`, the
# older page's and the SDK tests' bare URL, and the object shapes issue 17 reports.
RESULT_SHAPES: dict[str, Any] = {
    "images": lambda urls: {"images": urls},
    "url": _first,
    "urls": lambda urls: urls,
    "image_objects": lambda urls: {"images": [{"url": url} for url in urls]},
    "objects": lambda urls: [{"url": url} for url in urls],
    "object": lambda urls: {"url": _first(urls)},
    "image_url": lambda urls: {"image_url": _first(urls)},
    # Nothing a client could read: the charged job's pictures are out of reach.
    "opaque": lambda urls: {"status": "done", "count": len(urls)},
}

CREDIT_COST = {"turbo": 10, "default": 15, "quality": 20}  # providers.md §2 [A4]
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
MAX_IDEMPOTENCY_KEY = 255
IDEMPOTENCY_WINDOW = timedelta(hours=24)
UPLOAD_LIFETIME = timedelta(hours=1)
# Events sent when the submission names a webhook but no `webhookEvents` (undocumented; the
# terminal events are what a client needs).
DEFAULT_WEBHOOK_EVENTS = ("completed", "failed")


@dataclass
class IdempotentSubmission:
    fingerprint: str
    job_id: str
    at: datetime


@dataclass
class WebhookDelivery:
    """One webhook POST the fake made: what was sent and how the receiver answered."""

    url: str
    event: str
    body: bytes
    headers: dict[str, str]
    status: int | None  # None when the receiver could not be reached
    error: str | None = None


def webhook_signature(api_key: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256 keyed with the raw SHA-256 digest of the API key."""
    key = hashlib.sha256(api_key.encode()).digest()
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


class FakeApiframe(FakeService):
    """Loopback Apiframe. `fake.base_url` is where `/v2/...` starts."""

    FILES_PREFIX = "/cdn"
    DEFAULT_CREDITS = 1000
    DEFAULT_API_KEY = "afk_fake_" + hashlib.sha256(b"cameo fake apiframe").hexdigest()[:24]

    def __init__(self, *, api_key: str | None = None, credits: float | None = None) -> None:
        super().__init__(api_key=api_key, credits=credits)
        self.uploads: dict[str, dict[str, Any]] = {}  # upload id -> the 201 body
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.webhook_interval = 0.02  # seconds between steps of a job that has a webhook
        self.result_shape = "images"  # a key of RESULT_SHAPES: how completed results are shaped
        self._idempotency: dict[str, IdempotentSubmission] = {}
        self._team_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "cameo-fake-apiframe-team"))

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v2/uploads", self._upload)
        router.add_post("/v2/images/generate", self._generate)
        router.add_get("/v2/jobs", self._list_jobs)
        router.add_get("/v2/jobs/{id}", self._get_job)
        router.add_get("/v2/me", self._me)

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("X-API-Key") == self.api_key

    def decorate(self, response: web.StreamResponse) -> None:
        response.headers.setdefault("x-request-id", str(uuid.uuid4()))

    def injected_body(self, status: int) -> Any:
        if status == 402:
            return self._insufficient(CREDIT_COST["default"])
        if status == 400:
            return {"error": "Validation failed", "details": {}}
        return super().injected_body(status)

    def rejection_error(self) -> str:
        return (
            "Generation rejected by the content policy: the prompt or reference image was "
            "flagged by the provider's safety system (content_policy_violation)"
        )

    def failure_error(self) -> str:
        return "Provider error: the generation failed upstream"

    def on_state_change(self, job: FakeJob, previous: str) -> None:
        if job.state == FAILED:
            self.refund(job)  # "Credits are refunded" and the job's creditCost reads 0
        url = job.extra.get("webhook_url")
        if url:
            event = {PROCESSING: "progress", COMPLETED: "completed", FAILED: "failed"}.get(
                job.state
            )
            if event is not None and event in job.extra["webhook_events"]:
                job.extra["webhook_status"] = "pending"
                self.spawn(self._deliver(job, url, event, self._webhook_payload(job, event)))

    # Routes ---------------------------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        body = self.body_of(request)
        data = body.get("file") if self.body_kind(request) == "form" else None
        if not isinstance(data, bytes):
            return self._invalid({"file": ["Required: send the image as multipart field `file`"]})
        if len(data) > MAX_UPLOAD_BYTES:
            return self._invalid({"file": ["File too large (max 25 MB for images)"]})
        kind = sniff(data)
        if kind is None or not is_image(data):
            return self._invalid({"file": ["Unsupported file type"]})
        url = self.publish(data, MIME_BY_KIND[kind], kind)
        upload_id = str(uuid.uuid4())
        upload = {
            "id": upload_id,
            "url": url,
            "kind": "image",
            "contentType": MIME_BY_KIND[kind],
            "byteSize": len(data),
            "expiresAt": iso(utc_now() + UPLOAD_LIFETIME),
        }
        self.uploads[upload_id] = upload
        return self.json(upload, 201)

    def _checked_submission(self, request: web.Request) -> tuple[str | None, Any] | web.Response:
        """The Idempotency-Key and a schema-valid body, or the 400 answer."""
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
            return self._invalid({"Idempotency-Key": ["Must be 1 to 255 characters"]})
        if self.body_kind(request) != "json":
            return self._invalid({"(root)": ["Expected a JSON body"]})
        body = self.body_of(request)
        errors = schema_errors(body, GENERATE_SCHEMA)
        if errors:
            return self._invalid(errors)
        return key, body

    async def _generate(self, request: web.Request) -> web.Response:
        checked = self._checked_submission(request)
        if isinstance(checked, web.Response):
            return checked
        key, body = checked
        # A replay answers with the original job before anything else is looked at: its upload
        # may have expired since, and it must not need (or take) credits again.
        fingerprint = json.dumps(body, sort_keys=True, separators=(",", ":"))
        if key is not None:
            replay = self._replay(key, fingerprint)
            if replay is not None:
                return replay
        params: dict[str, Any] = body["ideogramParams"]
        for name in ("character_reference_image", "image", "mask"):
            own = self.file_for(params[name]) if name in params else None
            if own is not None and own.expired:
                return self._invalid({f"ideogramParams.{name}": ["The URL has expired"]})

        cost = CREDIT_COST[params.get("rendering_speed", "default")]
        if not self.can_afford(cost):
            return self.json(self._insufficient(cost), 402)
        job_id = str(uuid.uuid4())
        try:
            width, height = size_for_ratio(params.get("resolution") or params.get("aspect_ratio"))
        except ValueError:  # free strings in the schema; such a job fails upstream anyway
            width, height = size_for_ratio(None)
        seed = params.get("seed", int(job_id[:8], 16))
        spec = RenderSpec(body["prompt"], seed, width, height, "png")
        job = FakeJob(
            job_id,
            MODEL,
            body,
            cost,
            spec,
            rejected=self.take_rejection(),
            failure=_upstream_refusal(params),
        )
        self.charge(cost)
        self.add_job(job)
        if "webhookUrl" in body:
            job.extra["webhook_url"] = body["webhookUrl"]
            job.extra["webhook_events"] = tuple(body.get("webhookEvents", DEFAULT_WEBHOOK_EVENTS))
            self.spawn(self._run_by_itself(job))
        if key is not None:
            self._idempotency[key] = IdempotentSubmission(fingerprint, job_id, utc_now())
        return self.json({"jobId": job_id, "status": "QUEUED"}, 202)

    async def _get_job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["id"]
        try:
            uuid.UUID(job_id)
        except ValueError:
            return self.error(400, "Invalid job id: expected a UUID")
        job = self.jobs.get(job_id)
        if job is None:
            return self.error(404, "Job not found")
        self.advance(job)
        return self.json(self.job_body(job))

    async def _list_jobs(self, request: web.Request) -> web.Response:
        status = request.query.get("status")
        model = request.query.get("model")
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            return self._invalid({"limit": ["Number must be between 1 and 100"]})
        jobs = [
            self.job_body(job)
            for job in reversed(self.jobs.values())
            if (status is None or _status(job) == status) and (model is None or job.model == model)
        ]
        return self.json({"jobs": jobs[:limit], "nextCursor": None, "hasMore": len(jobs) > limit})

    async def _me(self, request: web.Request) -> web.Response:
        return self.json(
            {
                "user": {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "cameo-fake-apiframe-user")),
                    "email": "fake-owner@cameo.invalid",
                    "role": "OWNER",
                },
                "team": {
                    "id": self._team_id,
                    "name": "Cameo fake team",
                    "credits": self.credits,
                    "plan": "pro",
                    "customerId": None,
                },
                "apiKey": {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "cameo-fake-apiframe-key")),
                    "name": "cameo tests",
                    "prefix": self.api_key[:8],
                },
            }
        )

    # Helpers --------------------------------------------------------------------------------------

    def job_body(self, job: FakeJob) -> dict[str, Any]:
        """The Job object of the OpenAPI, as `GET /v2/jobs/{id}` prints it."""
        progress = {QUEUED: 0, PROCESSING: 50, COMPLETED: 100}.get(job.state)
        return {
            "id": job.id,
            "status": _status(job),
            "model": job.model,
            "progress": progress,
            "result": self.result_of(job) if job.state == COMPLETED else None,
            "error": job.error,
            "creditCost": 0 if job.refunded else job.cost,
            "webhookStatus": job.extra.get("webhook_status"),
            "createdAt": iso(job.created_at),
            "completedAt": iso(job.completed_at),
            "input": job.params,
            "expired": job.expired,
        }

    def result_of(self, job: FakeJob) -> Any:
        """A completed job's `result`, in the shape `result_shape` names."""
        return RESULT_SHAPES[self.result_shape](list(job.outputs))

    def _replay(self, key: str, fingerprint: str) -> web.Response | None:
        earlier = self._idempotency.get(key)
        if earlier is None or utc_now() - earlier.at > IDEMPOTENCY_WINDOW:
            return None
        if earlier.fingerprint != fingerprint:
            return self.error(409, "Idempotency-Key was already used with a different request body")
        job = self.jobs[earlier.job_id]
        return self.json({"jobId": job.id, "status": _status(job)}, 202)

    def _invalid(self, details: dict[str, list[str]]) -> web.Response:
        return self.json({"error": "Validation failed", "details": details}, 400)

    def _insufficient(self, cost: int) -> dict[str, Any]:
        return {
            "error": "Insufficient credits",
            "creditsRequired": cost,
            "creditsAvailable": int(self.credits),
        }

    def _webhook_payload(self, job: FakeJob, event: str) -> dict[str, Any]:
        if event == "completed":
            return {
                "event": "completed",
                "jobId": job.id,
                "status": "COMPLETED",
                "progress": 100,
                "result": self.result_of(job),
                "model": job.model,
                "creditCost": job.cost,
                "completedAt": iso(job.completed_at),
            }
        if event == "failed":
            return {
                "event": "failed",
                "jobId": job.id,
                "status": "FAILED",
                "error": job.error,
                "model": job.model,
            }
        return {
            "event": "progress",
            "jobId": job.id,
            "status": "PROCESSING",
            "progress": 50,
            "model": job.model,
        }

    async def _run_by_itself(self, job: FakeJob) -> None:
        """A job with a webhook must finish even if nobody polls it."""
        while not job.done:
            await asyncio.sleep(self.webhook_interval)
            self.advance(job)

    async def _deliver(self, job: FakeJob, url: str, event: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Event": event,
            "X-Webhook-Signature": webhook_signature(self.api_key, body),
        }
        delivery = WebhookDelivery(url, event, body, headers, None)
        try:
            session = await self.http()
            async with session.post(url, data=body, headers=headers) as response:
                delivery.status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            delivery.error = repr(exc)
        self.webhook_deliveries.append(delivery)
        ok = delivery.status is not None and 200 <= delivery.status < 300
        job.extra["webhook_status"] = "delivered" if ok else "failed"


def _status(job: FakeJob) -> str:
    return job.state.upper()


def _upstream_refusal(params: dict[str, Any]) -> str | None:
    """Why Ideogram would refuse values Apiframe's schema lets through, or None."""
    style = params.get("style_type")
    if style is not None and style not in STYLE_TYPES:
        return f"Provider error: invalid style_type {style!r}, expected one of {STYLE_TYPES}"
    resolution = params.get("resolution")
    # "None" = follow the aspect ratio (providers.md §2: "e.g. '1024x1024' or 'None'").
    if resolution is not None and resolution not in RESOLUTIONS:
        return f"Provider error: invalid resolution {resolution!r} for Ideogram Character"
    return None
