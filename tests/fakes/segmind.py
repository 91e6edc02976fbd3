"""`FakeSegmind`: Segmind's serverless API for ideogram-character and consistent-character.

Contract: reference/providers.md §1 and the seed pages 000, 001 and 004.

- `POST /v1/{slug}`: synchronous; the answer is the image itself, always labelled
  `image/jpeg` (as Segmind's page template says) whatever the real format is, so a client must
  sniff the bytes. `x-remaining-credits` carries the balance.
- `POST /v2/{slug}`: the async queue; `GET /v2/requests/{id}/status` and `GET /v2/requests/{id}`
  (and the `poll_url`, `/v1/requests/{id}`) advance the job one step per poll. A FAILED job is
  answered with HTTP 422 on both, as Segmind's SDK documents.
- `GET /v1/get-user-credits`, and `POST /upload-asset` (Segmind Storage lives on another host
  in production; the fake serves it here for convenience; uploads are free).

Auth is the `x-api-key` header only; `Authorization: Bearer` is refused, as the gateway does.
Credits are dollars (a float). Content rejection on the synchronous route is a 400 with
`{"error": "content_policy_violation: ..."}` (v1's documented list has no 422; the error text
matches the v2 FAILED body), and nothing is charged for it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from typing import Any, ClassVar

from aiohttp import web

from .base import COMPLETED, FAILED, FakeJob, FakeService, iso, utc_now
from .images import RenderSpec, is_image, render, size_for_ratio, sniff
from .validation import ASPECT_RATIOS, RESOLUTIONS, Field, FieldError, check_fields

IDEOGRAM = "ideogram-character"
POSES = "consistent-character"

IDEOGRAM_FIELDS: dict[str, Field] = {
    "prompt": Field("str", required=True),
    "character_reference_image": Field("image", required=True),
    "aspect_ratio": Field("str", choices=ASPECT_RATIOS),
    "resolution": Field("str", choices=RESOLUTIONS),
    "style_type": Field("str", choices=("Auto", "Fiction", "Realistic")),
    "rendering_speed": Field("str", choices=("Default", "Turbo", "Quality")),
    "magic_prompt_option": Field("str", choices=("Auto", "On", "Off")),
    "seed": Field("int", minimum=100, maximum=999_999),
    "image": Field("image"),
    "mask": Field("image"),
}

POSES_FIELDS: dict[str, Field] = {
    # The page marks `subject` optional with a sample default, but a call without a face to
    # copy is useless; the fake insists, so a client that forgets it is caught.
    "subject": Field("image", required=True),
    "prompt": Field("str", required=True),  # providers.md §1: required (the seed page disagrees)
    "negative_prompt": Field("str"),
    "number_of_outputs": Field("int", minimum=1, maximum=20),
    "number_of_images_per_pose": Field("int", minimum=1, maximum=4),
    "randomise_poses": Field("bool"),
    "output_format": Field("str", choices=("webp", "jpg", "png")),
    "output_quality": Field("int", minimum=0, maximum=100),
    "seed": Field("int"),
}

# Dollars per call (seed page 000: "$0.125 – $0.250 per generation"; 004: about $0.085).
IDEOGRAM_COST = {"Turbo": 0.125, "Default": 0.1875, "Quality": 0.25}
POSES_COST = 0.085

REJECTION = "content_policy_violation"


class FakeSegmind(FakeService):
    """Loopback Segmind. `fake.base_url` is where `/v1/...` and `/v2/...` start."""

    FILES_PREFIX = "/outputs"
    DEFAULT_CREDITS = 10.0
    DEFAULT_API_KEY = "SG_" + hashlib.sha256(b"cameo fake segmind").hexdigest()[:16]
    #: the status the synchronous route answers a content rejection with
    SYNC_REJECTION_STATUS = 400
    MODELS: ClassVar[dict[str, dict[str, Field]]] = {IDEOGRAM: IDEOGRAM_FIELDS, POSES: POSES_FIELDS}

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/v1/get-user-credits", self._credits)
        router.add_get("/v1/requests/{id}", self._status)  # the submit answer's `poll_url`
        router.add_post("/v1/{slug}", self._run_sync)
        router.add_post("/v2/{slug}", self._submit)
        router.add_get("/v2/requests/{id}/status", self._status)
        router.add_get("/v2/requests/{id}", self._result)
        router.add_post("/upload-asset", self._upload_asset)

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("x-api-key") == self.api_key

    def injected_body(self, status: int) -> Any:
        if status == 406:
            return {"error": "Insufficient credits. Please add credits to your account."}
        return super().injected_body(status)

    def rejection_error(self) -> str:
        return REJECTION

    # Routes ---------------------------------------------------------------------------------------

    async def _credits(self, request: web.Request) -> web.Response:
        return self.json({"credits": self.credits, "free-credits": 0.0})

    async def _run_sync(self, request: web.Request) -> web.Response:
        parsed = self._parse(request)
        if isinstance(parsed, web.Response):
            return parsed
        slug, params, cost = parsed
        if self.take_rejection():
            return self.error(
                self.SYNC_REJECTION_STATUS,
                f"{REJECTION}: the prompt or reference image was flagged by the safety checker",
            )
        self.charge(cost)
        spec, _count = self._render_spec(slug, params, seed_source=str(uuid.uuid4()))
        # Like the real page template: always labelled JPEG, whatever the bytes are.
        return web.Response(
            body=self.next_pictures.pop(0) if self.next_pictures else render(spec),
            headers={
                "Content-Type": "image/jpeg",
                "x-remaining-credits": _credit_text(self.credits),
            },
        )

    async def _submit(self, request: web.Request) -> web.Response:
        parsed = self._parse(request)
        if isinstance(parsed, web.Response):
            return parsed
        slug, params, cost = parsed
        request_id = str(uuid.uuid4())
        spec, count = self._render_spec(slug, params, seed_source=request_id)
        self.charge(cost)  # Segmind bills an accepted v2 submission, whatever its outcome
        self.add_job(
            FakeJob(request_id, slug, params, cost, spec, count, rejected=self.take_rejection())
        )
        root = self.root_url
        return self.json(
            {
                "request_id": request_id,
                "status": "QUEUED",
                "poll_url": f"{root}/v1/requests/{request_id}",
                "status_url": f"{root}/v2/requests/{request_id}/status",
                "response_url": f"{root}/v2/requests/{request_id}",
            },
            headers={"x-remaining-credits": _credit_text(self.credits)},
        )

    async def _status(self, request: web.Request) -> web.Response:
        job = self._polled_job(request)
        if isinstance(job, web.Response):
            return job
        body: dict[str, Any] = {
            "status": job.state.upper(),
            "request_id": job.id,
            "created_at": iso(job.created_at),
            "metrics": _metrics(job) if job.state == COMPLETED else {},
        }
        if job.state == FAILED:
            body["error"] = job.error
            return self.json(body, 422)
        return self.json(body)

    async def _result(self, request: web.Request) -> web.Response:
        job = self._polled_job(request)
        if isinstance(job, web.Response):
            return job
        if job.state == FAILED:
            return self.json({"status": "FAILED", "request_id": job.id, "error": job.error}, 422)
        if job.state != COMPLETED:
            # Asked too early: the queue answers with the current status and no output yet.
            return self.json({"status": job.state.upper(), "request_id": job.id, "metrics": {}})
        output: str | list[str] = job.outputs if len(job.outputs) > 1 else job.outputs[0]
        return self.json(
            {
                "status": "COMPLETED",
                "request_id": job.id,
                "output": output,
                "metrics": _metrics(job),
            }
        )

    async def _upload_asset(self, request: web.Request) -> web.Response:
        body = self.body_of(request)
        urls = body.get("data_urls") if isinstance(body, dict) else None
        if not isinstance(urls, list) or not urls:
            return self.error(400, "data_urls: a non-empty list of data: URLs is required")
        issued = []
        for data_url in urls:
            data = _decode_data_url(data_url)
            kind = sniff(data) if data is not None else None
            if data is None or kind is None or not is_image(data):
                return self.error(400, "data_urls: each entry must be a base64 data: URL image")
            issued.append(self.publish(data, f"image/{kind}", kind))
        # The docs say `urls`, the SDK reads `file_urls`: answer with both (providers.md §1a).
        return self.json({"urls": issued, "file_urls": issued})

    # Helpers --------------------------------------------------------------------------------------

    def _parse(self, request: web.Request) -> tuple[str, dict[str, Any], float] | web.Response:
        """Validate a v1/v2 submission; return (slug, params, cost) or the error response."""
        slug = request.match_info["slug"]
        if slug not in self.MODELS:
            return self.error(404, f"Model not found: {slug}")
        kind = self.body_kind(request)
        body = self.body_of(request)
        if kind not in ("json", "form") or not isinstance(body, dict):
            return self.error(400, "Send a JSON object or multipart/form-data body")
        try:
            params = check_fields(body, self.MODELS[slug], form=kind == "form")
        except FieldError as exc:
            return self.error(400, str(exc))
        if slug == IDEOGRAM and "mask" in params and "image" not in params:
            return self.error(400, "mask: an inpainting mask needs an image")
        cost = (
            IDEOGRAM_COST[params.get("rendering_speed", "Default")]
            if slug == IDEOGRAM
            else POSES_COST
        )
        if not self.can_afford(cost):
            return self.error(
                406,
                f"Insufficient credits: this request needs {cost} credits, "
                f"{self.credits} remaining",
            )
        return slug, params, cost

    def _render_spec(
        self, slug: str, params: dict[str, Any], seed_source: str
    ) -> tuple[RenderSpec, int]:
        seed = params.get("seed", int(hashlib.sha256(seed_source.encode()).hexdigest()[:8], 16))
        if slug == IDEOGRAM:
            resolution = params.get("resolution", "None")
            shape = resolution if resolution != "None" else params.get("aspect_ratio", "16:9")
            width, height = size_for_ratio(shape)
            return RenderSpec(params["prompt"], seed, width, height, "png"), 1
        count = params.get("number_of_outputs", 1) * params.get("number_of_images_per_pose", 1)
        spec = RenderSpec(
            params.get("prompt", ""),
            seed,
            fmt=params.get("output_format", "webp"),
            quality=params.get("output_quality", 80),
        )
        return spec, count

    def _polled_job(self, request: web.Request) -> FakeJob | web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return self.error(404, "Request not found")
        if job.expired:
            # Segmind keeps status and results for an hour; after that polling fails.
            return self.error(404, "Request not found or expired")
        self.advance(job)
        return job


def _metrics(job: FakeJob) -> dict[str, float]:
    elapsed = ((job.completed_at or utc_now()) - job.created_at).total_seconds()
    return {"inference_time": round(elapsed, 3), "cost": job.cost}


def _credit_text(credits: float) -> str:
    return f"{credits:.6g}"


def _decode_data_url(value: object) -> bytes | None:
    if not isinstance(value, str) or not value.startswith("data:") or "," not in value:
        return None
    header, payload = value.split(",", 1)
    if not header.endswith(";base64"):
        return None
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None
