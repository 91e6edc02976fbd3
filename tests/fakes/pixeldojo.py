"""`FakePixelDojo`: PixelDojo's async v1 API for ideogram-character.

Contract: reference/providers.md §3 and seed page 003.

- `POST /api/v1/models/ideogram-character/run` → 202 `{jobId, status: "pending", statusUrl, ...}`.
  The body is checked against the model's parameters (its requestSchema has
  additionalProperties:false). The fake really FETCHES `character_reference_image` and answers
  400 unless it gets an image back: a bot that passes an expired or private URL (a Discord
  attachment link past its expiry, say) is caught here, as the real service would fail it.
- `GET /api/v1/jobs/{jobId}` advances the job one step per poll:
  pending → processing → completed | failed.

Auth is `Authorization: Bearer <key>`. Errors use the nested shape
`{"error": {"code", "message", "status"}}`; insufficient credits is a 402 (the async API's code;
the legacy docs said 403). Credits are integers, taken at submission; a failed job is not
refunded (PixelDojo documents no refunds).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

import aiohttp
from aiohttp import web

from .base import COMPLETED, FAILED, FakeJob, FakeService, iso, utc_now
from .images import RenderSpec, is_image, size_for_ratio
from .validation import ASPECT_RATIOS, RESOLUTIONS, Field, FieldError, check_fields

MODEL = "ideogram-character"
API_PREFIX = "/api/v1"

FIELDS: dict[str, Field] = {
    "prompt": Field("str", required=True),
    "character_reference_image": Field("url", required=True),
    "rendering_speed": Field("str", choices=("Turbo", "Default", "Quality")),
    "style_type": Field("str", choices=("Auto", "Fiction", "Realistic")),
    "aspect_ratio": Field("str", choices=ASPECT_RATIOS),
    "resolution": Field("str", choices=RESOLUTIONS),
    "magic_prompt_option": Field("str", choices=("Auto", "On", "Off")),
    "seed": Field("number", minimum=0, maximum=2_147_483_647),
    "numberOfImages": Field("int", minimum=1, maximum=4),
    "webhook_url": Field("url"),
}

# Credits per image (seed page 003: 5 credits, examples at 3 and 7 for the other speeds).
CREDIT_COST = {"Turbo": 3, "Default": 5, "Quality": 7}
MAX_REFERENCE_BYTES = 20 * 1024 * 1024
REFERENCE_TIMEOUT = aiohttp.ClientTimeout(total=5)

ERROR_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    402: "insufficient_credits",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    429: "rate_limit_exceeded",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


class FakePixelDojo(FakeService):
    """Loopback PixelDojo. `fake.base_url` ends in `/api/v1`, as the real base URL does."""

    FILES_PREFIX = "/pixeldojotemp"
    DEFAULT_CREDITS = 1000
    DEFAULT_API_KEY = "pd_fake_" + hashlib.sha256(b"cameo fake pixeldojo").hexdigest()[:24]

    def __init__(self, *, api_key: str | None = None, credits: float | None = None) -> None:
        super().__init__(api_key=api_key, credits=credits)
        # Every reference fetch: (url, HTTP status or None when unreachable, accepted?).
        self.reference_fetches: list[tuple[str, int | None, bool]] = []

    @property
    def base_url(self) -> str:
        return self.root_url + API_PREFIX

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(API_PREFIX + "/models/{model}/run", self._run)
        router.add_get(API_PREFIX + "/jobs", self._list_jobs)
        router.add_get(API_PREFIX + "/jobs/{id}", self._get_job)

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    def error_body(self, status: int, message: str) -> Any:
        return self.coded_error_body(status, ERROR_CODES.get(status, "error"), message)

    @staticmethod
    def coded_error_body(status: int, code: str, message: str) -> dict[str, Any]:
        return {"error": {"code": code, "message": message, "status": status}}

    def injected_body(self, status: int) -> Any:
        if status == 402:
            return self.coded_error_body(
                402, "insufficient_credits", "Insufficient credits to run this model"
            )
        return super().injected_body(status)

    def rate_limit_headers(self) -> dict[str, str]:
        return {
            "Retry-After": "1",
            "X-RateLimit-Limit": "60",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time()) + 1),
        }

    def rejection_error(self) -> str:
        return "Content policy violation: the prompt or reference image was flagged by moderation"

    def failure_error(self) -> str:
        return "Generation failed: the model provider returned an error"

    def expire_results(self) -> None:
        super().expire_results()
        now = utc_now()
        for job in self.jobs.values():
            job.extra["expires_at"] = min(job.extra["expires_at"], now)

    # Routes ---------------------------------------------------------------------------------------

    async def _run(self, request: web.Request) -> web.Response:
        model = request.match_info["model"]
        if model != MODEL:
            return self.error(404, f"Model not found: {model}")
        body = self.body_of(request)
        if self.body_kind(request) != "json" or not isinstance(body, dict):
            return self.error(400, "Expected a JSON object body")
        try:
            params = check_fields(body, FIELDS, form=False)
        except FieldError as exc:
            return self.error(400, str(exc))
        count = params.get("numberOfImages", 1)
        cost = CREDIT_COST[params.get("rendering_speed", "Default")] * count
        if not self.can_afford(cost):
            return self.json(
                self.coded_error_body(
                    402,
                    "insufficient_credits",
                    f"Insufficient credits: this job costs {cost}, you have {self.credits}",
                ),
                402,
            )
        problem = await self._fetch_reference(params["character_reference_image"])
        if problem is not None:
            return self.json(self.coded_error_body(400, "invalid_reference_image", problem), 400)

        job_id = "job_" + uuid.uuid4().hex[:24]
        width, height = size_for_ratio(
            params.get("resolution")
            if params.get("resolution", "None") != "None"
            else params.get("aspect_ratio", "1:1")
        )
        seed = int(params.get("seed", int(job_id[4:12], 16)))
        spec = RenderSpec(params["prompt"], seed, width, height, "png")
        job = FakeJob(job_id, MODEL, params, cost, spec, count, rejected=self.take_rejection())
        job.extra["expires_at"] = utc_now() + self.RESULT_LIFETIME
        self.charge(cost)
        self.add_job(job)
        return self.json(
            {
                "jobId": job_id,
                "status": "pending",
                "statusUrl": f"{self.base_url}/jobs/{job_id}",
                "creditCost": cost,
                "creditsRemaining": self.credits,
                "expiresAt": iso(job.extra["expires_at"]),
            },
            202,
        )

    async def _list_jobs(self, request: web.Request) -> web.Response:
        # Documented as `GET /jobs` (list); the shape of the list is ours: newest first.
        jobs = sorted(self.jobs.values(), key=lambda job: job.created_at, reverse=True)
        return self.json({"jobs": [self.job_body(job) for job in jobs[:20]]})

    async def _get_job(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return self.error(404, "Job not found")
        self.advance(job)
        return self.json(self.job_body(job))

    # Helpers --------------------------------------------------------------------------------------

    def job_body(self, job: FakeJob) -> dict[str, Any]:
        status = {COMPLETED: "completed", FAILED: "failed"}.get(job.state, job.state)
        status = "pending" if status == "queued" else status
        body: dict[str, Any] = {"jobId": job.id, "status": status}
        if job.state == FAILED:
            body["error"] = job.error
        if job.state == COMPLETED:
            body["output"] = {"images": list(job.outputs)}
            # The SDK reads `assets[0].url`; newer responses may carry both (providers.md §3).
            body["assets"] = [{"url": url, "type": "image"} for url in job.outputs]
        body["creditCost"] = job.cost
        body["createdAt"] = iso(job.created_at)
        body["expiresAt"] = iso(job.extra["expires_at"])
        return body

    async def _fetch_reference(self, url: str) -> str | None:
        """Fetch the reference as the real service must; the problem, or None when it is fine."""
        status: int | None = None
        ok = False
        try:
            session = await self.http()
            async with session.get(url, timeout=REFERENCE_TIMEOUT) as response:
                status = response.status
                if status != 200:
                    return f"character_reference_image could not be fetched (HTTP {status})"
                data = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > MAX_REFERENCE_BYTES:
                        break
                if len(data) > MAX_REFERENCE_BYTES or not is_image(bytes(data)):
                    return "character_reference_image is not a PNG, JPEG, WebP or GIF image"
                ok = True
                return None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"character_reference_image could not be fetched ({type(exc).__name__})"
        finally:
            self.reference_fetches.append((url, status, ok))
