"""Apiframe v2: Ideogram Character as an asynchronous job.

Auth is `X-API-Key`. The reference is uploaded to `/v2/uploads` first (files live an hour or
two, long enough for one job), then `POST /v2/images/generate` with an `Idempotency-Key`: a
replay within 24 h returns the original job, so this is the one paid submission that may be
retried after a timeout or 5xx. The job is polled at `GET /v2/jobs/{id}`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import re
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from pydantic import Field, JsonValue

from bot.images.processing import ImageWorkers
from bot.providers.answers import Answer, Incidental, Number, read_answer, read_error_body
from bot.providers.base import (
    Balance,
    Capabilities,
    Cost,
    GenerationResult,
    OnSubmitted,
    Provider,
    SubmittedJob,
    fetch_results,
    paid_phase,
)
from bot.providers.errors import (
    BadCredentials,
    ContentRejected,
    InsufficientCredits,
    InvalidRequest,
    JobFailed,
    OutcomeUnknown,
    ProviderError,
    RateLimited,
    Unavailable,
    mentions_content_rules,
)
from bot.providers.ideogram import MAGIC_PROMPT
from bot.providers.polling import PollPolicy, poll_until
from bot.providers.request import GenerationRequest, ImageInput, SceneRequest
from bot.providers.shapes import IDEOGRAM_RESOLUTIONS
from bot.providers.transport import Deadline, RetryPolicy, retry_after_seconds, send

if TYPE_CHECKING:
    from bot.providers.signals import JobSignals

log = logging.getLogger(__name__)

# The aspect ratios Apiframe's Ideogram Character page lists.
APIFRAME_RATIOS = frozenset(
    {"1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "16:10", "10:16", "3:1", "1:3"}
)
# `style_type` as Apiframe's Ideogram Character model page spells it (seed page 002: "AUTO",
# "GENERAL", "REALISTIC", "DESIGN", upper case; the schema takes a free string). Fiction is not
# on that page; its older docs page listed it, and Ideogram, which Apiframe passes the value
# to, spells it FICTION, in the page's upper case.
STYLES = {
    "auto": "AUTO",
    "general": "GENERAL",
    "realistic": "REALISTIC",
    "design": "DESIGN",
    "fiction": "FICTION",
}
# `prompt` has maxLength 2000 in the OpenAPI, checked by Zod, which counts UTF-16 code units.
PROMPT_MAX_UTF16 = 2000
# How much of a result Cameo can't read goes into the log for the operator.
RAW_RESULT_LOGGED = 1000
CREDITS = {"turbo": 10, "default": 15, "quality": 20}
_TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


# Apiframe's answers, as far as Cameo reads them (providers.md §2, apiframe-openapi.json) ------


class ApiframeErrorBody(Answer):
    """Every error: `{"error"}`, plus `details` on a 400 and the credit counts on a 402.

    The extras are incidental: an odd one must not cost the operator the error's own words.
    """

    error: str | None = None
    details: Incidental[dict[str, list[str]]] = None
    credits_required: Incidental[int] = Field(default=None, alias="creditsRequired")
    credits_available: Incidental[int] = Field(default=None, alias="creditsAvailable")


class ApiframeUpload(Answer):
    """`POST /v2/uploads` (201)."""

    url: str


class ApiframeAccepted(Answer):
    """`POST /v2/images/generate` (202), also for an idempotent replay."""

    job_id: str = Field(alias="jobId", min_length=1)


class ApiframeJob(Answer):
    """`GET /v2/jobs/{id}`."""

    # A free string rather than the documented five: a status Apiframe adds later keeps the
    # poll going, as an unfinished job does, instead of failing a job already paid for.
    status: str
    # Typed "anything" in the schema: read by `result_urls`, whatever its shape.
    result: JsonValue = None
    error: str | None = None
    credit_cost: Incidental[Number] = Field(default=None, alias="creditCost")
    expired: bool | None = None

    @property
    def urls(self) -> list[str]:
        return result_urls(self.result)


class ApiframeTeam(Answer):
    credits: float


class ApiframeAccount(Answer):
    """`GET /v2/me`: only the team's credits are read."""

    team: ApiframeTeam


# Where a job's `result` keeps image URLs. The schema types it "anything": the current docs show
# `{"images": [url]}`, the older page and the SDK's tests a bare URL, and answers have also come
# as `{"images": [{"url"}]}`, `[{"url"}]`, `{"url"}` and `{"image_url"}`. Keys holding one URL,
# then keys holding more of the result (read in turn, to a small depth).
_URL_KEYS = ("url", "image_url", "imageUrl", "uri", "src")
_NESTED_KEYS = ("images", "image", "urls", "output", "outputs", "data", "results", "result")
_MAX_DEPTH = 4


def result_urls(result: object) -> list[str]:
    """Every image URL in a job's raw `result`, in order and once each ([] when it has none)."""
    found: list[str] = []
    _collect_urls(result, found, 0)
    return list(dict.fromkeys(found))


def _collect_urls(value: object, found: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, str):
        if _is_web_url(value):
            found.append(value)
    elif isinstance(value, list):
        for item in value:
            _collect_urls(item, found, depth + 1)
    elif isinstance(value, dict):
        for key in _URL_KEYS:
            if isinstance(value.get(key), str) and _is_web_url(value[key]):
                found.append(value[key])
        for key in _NESTED_KEYS:
            if key in value:
                _collect_urls(value[key], found, depth + 1)


def _is_web_url(text: str) -> bool:
    """Only http(s) addresses are results; other text in a result is a caption or an id."""
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def _field_name(path: str) -> str:
    """A validator's JSON path as words: `ideogramParams.style_type` is "style type"."""
    if path in {"", "(root)"}:
        return "request"
    last = path.rsplit(".", 1)[-1]
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", last).replace("_", " ").lower()


def details_sentence(details: dict[str, list[str]]) -> str:
    """Apiframe's per-field validation errors as one sentence for the member.

    `{"prompt": ["Required"]}` reads "the prompt is missing", not `prompt ['Required']`.
    """
    parts = []
    for path, messages in details.items():
        field = _field_name(path)
        said = [message.strip().rstrip(".") for message in messages if message.strip()]
        if said == ["Required"]:
            parts.append(f"the {field} is missing")
        elif said:
            parts.append(f"the {field} was refused ({'; '.join(said)})")
        else:
            parts.append(f"the {field} was refused")
    return "; ".join(parts) + "."


def apiframe_error(provider: str, response: httpx.Response) -> ProviderError:  # noqa: PLR0911 (one return per status)
    body = read_error_body(ApiframeErrorBody, response) or ApiframeErrorBody()
    message = body.error or response.reason_phrase
    status = response.status_code
    if status in {401, 403}:
        return BadCredentials(provider, f"HTTP {status}: {message}")
    if status == 402:
        return InsufficientCredits(
            provider, f"needs {body.credits_required} credits, has {body.credits_available}"
        )
    if status == 429:
        return RateLimited(provider, "429 after retries", retry_after_seconds(response))
    if status == 400:
        return InvalidRequest(provider, details_sentence(body.details) if body.details else message)
    if status == 409:
        return JobFailed(provider, f"idempotency key reused with a different body: {message}")
    if status == 404:
        return JobFailed(provider, f"job not found: {message}")
    return Unavailable(provider, f"HTTP {status}: {message}")


def verify_webhook_signature(api_key: str, body: bytes, signature: str) -> bool:
    """Check `X-Webhook-Signature` (HMAC-SHA256 keyed by the SHA-256 of the API key)."""
    key = hashlib.sha256(api_key.encode()).digest()
    expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
    given = signature.removeprefix("sha256=").strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(expected, given)


class ApiframeCharacter(Provider):
    """`apiframe`: Ideogram Character, one image per job."""

    name = "apiframe"
    capabilities = Capabilities(
        kind=SceneRequest,
        styles=frozenset(STYLES),
        aspect_ratios=APIFRAME_RATIOS,
        negative_prompt=True,
        region_edit=True,
        # The schema's `resolution` is a free string, passed to Ideogram: Ideogram's 69 values.
        resolutions=frozenset(IDEOGRAM_RESOLUTIONS),
        prompt_max_utf16=PROMPT_MAX_UTF16,
        asynchronous=True,
    )

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        api_key: str,
        poll: PollPolicy | None = None,
        *,
        webhook_url: str | None = None,
        signals: JobSignals | None = None,
        images: ImageWorkers | None = None,
    ) -> None:
        super().__init__(client, base_url, api_key, images=images)
        self.poll = poll or PollPolicy()
        self.webhook_url = webhook_url if signals is not None else None
        self.signals = signals

    def _headers(self) -> dict[str, str]:
        return {"X-API-Key": self._api_key}

    async def upload(self, image: ImageInput, deadline: Deadline) -> str:
        """Upload an image to Apiframe's short-lived storage; return its URL (free to retry)."""
        response = await send(
            self.name,
            lambda: self.client.post(
                f"{self.base_url}/v2/uploads",
                headers=self._headers(),
                files={"file": (image.filename, image.data, image.content_type)},
            ),
            idempotent=True,
            deadline=deadline,
        )
        if response.status_code not in {200, 201}:
            raise apiframe_error(self.name, response)
        # Nothing is paid yet: a malformed answer lets the router try another service.
        return read_answer(
            ApiframeUpload, self.name, response, answering="the upload", malformed=Unavailable
        ).url

    async def body(self, request: SceneRequest, seed: int, deadline: Deadline) -> dict[str, Any]:
        params: dict[str, Any] = {
            "character_reference_image": await self.upload(request.reference, deadline),
            "style_type": STYLES[request.style.value],
            "magic_prompt_option": MAGIC_PROMPT[request.magic_prompt.value],
            "rendering_speed": request.speed.value,  # Apiframe spells speeds in lower case
            "seed": seed,
        }
        if request.resolution:
            params["resolution"] = request.resolution
        else:
            params["aspect_ratio"] = request.aspect_ratio or "1:1"
        if request.negative_prompt:
            params["negative_prompt"] = request.negative_prompt
        if request.edit_image is not None and request.edit_mask is not None:
            params["image"] = await self.upload(request.edit_image, deadline)
            params["mask"] = await self.upload(request.edit_mask, deadline)
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "model": "ideogram-character",
            "ideogramParams": params,
        }
        if self.webhook_url:
            body["webhookUrl"] = self.webhook_url
            body["webhookEvents"] = ["completed", "failed"]
        return body

    async def _generate(
        self, request: GenerationRequest, on_submitted: OnSubmitted | None, deadline: Deadline
    ) -> GenerationResult:
        assert isinstance(request, SceneRequest)
        seed = request.seed if request.seed is not None else random.randint(1, 2_147_483_647)  # noqa: S311
        body = await self.body(request, seed, deadline)
        # One key per submission, reused across retries: Apiframe returns the original job for a
        # replay, so a retry after a timeout or 5xx can never pay twice.
        key = str(uuid.uuid4())
        response = await send(
            self.name,
            lambda: self.client.post(
                f"{self.base_url}/v2/images/generate",
                headers={**self._headers(), "Idempotency-Key": key},
                json=body,
            ),
            idempotent=True,
            paid=True,
            deadline=deadline,
            policy=RetryPolicy(attempts=6),
        )
        if response.status_code not in {200, 202}:
            raise apiframe_error(self.name, response)
        with paid_phase(self.name):
            # Billed already: an answer without a usable job id must never fail over.
            job_id = read_answer(
                ApiframeAccepted,
                self.name,
                response,
                answering="the submission",
                malformed=OutcomeUnknown,
            ).job_id
        if on_submitted is not None:
            await on_submitted(SubmittedJob(job_id, seed))
        return await self._finish(job_id, seed, deadline)

    async def resume(self, service_job_id: str, request: GenerationRequest) -> GenerationResult:
        assert isinstance(request, SceneRequest)
        return await self._finish(service_job_id, request.seed, Deadline(self.job_deadline))

    async def fetch_job(self, job_id: str, deadline: Deadline) -> ApiframeJob:
        """Poll a paid job once (so a malformed answer is OutcomeUnknown: never failed over)."""
        response = await send(
            self.name,
            lambda: self.client.get(f"{self.base_url}/v2/jobs/{job_id}", headers=self._headers()),
            idempotent=True,
            deadline=deadline,
        )
        if response.status_code != 200:
            raise apiframe_error(self.name, response)
        return read_answer(
            ApiframeJob, self.name, response, answering="the job poll", malformed=OutcomeUnknown
        )

    async def _finish(self, job_id: str, seed: int | None, deadline: Deadline) -> GenerationResult:
        with paid_phase(self.name, job_id):
            return await self._collect(job_id, seed, deadline)

    def _policy(self) -> PollPolicy:
        # Once webhooks are seen to arrive, polls are only a safety net and can be rare.
        if self.signals is not None and self.signals.received_any:
            return PollPolicy(self.poll.initial, self.poll.factor, max(self.poll.cap, 30.0))
        return self.poll

    async def _collect(self, job_id: str, seed: int | None, deadline: Deadline) -> GenerationResult:
        async def check() -> ApiframeJob | None:
            job = await self.fetch_job(job_id, deadline)
            return job if job.status in _TERMINAL else None

        wake = self.signals.watch(job_id) if self.signals is not None else None
        try:
            job = await poll_until(
                self.name, check, policy=self._policy(), deadline=deadline, wake=wake
            )
        finally:
            if self.signals is not None:
                self.signals.forget(job_id)
        if job.status != "COMPLETED":
            error = job.error or job.status.lower()
            if mentions_content_rules(error):
                raise ContentRejected(self.name, f"job {job_id} rejected: {error}")
            raise JobFailed(self.name, f"job {job_id} {job.status}: {error}")
        if job.expired:
            raise JobFailed(self.name, f"job {job_id} finished but its images have expired")
        urls = job.urls
        if not urls:
            raise self._unreadable(job_id, job)
        images = await fetch_results(self.name, self.client, self.images, urls, deadline)
        return GenerationResult(
            provider=self.name,
            images=images,
            seed=seed,
            cost=Cost(job.credit_cost, "Apiframe credits") if job.credit_cost is not None else None,
            balance=None,
            service_job_id=job_id,
            elapsed=0.0,
        )

    def _unreadable(self, job_id: str, job: ApiframeJob) -> OutcomeUnknown:
        """The error for a completed (charged) job whose result holds no URL Cameo can read.

        Its raw result goes into the log for the operator, who can fetch the pictures by hand
        or report the shape; the member is told plainly that there is nothing to show.
        """
        raw = json.dumps(job.result, ensure_ascii=False)
        # The result is the service's, but never let a key it might echo reach the log.
        raw = raw.replace(self._api_key, "[api key]")[:RAW_RESULT_LOGGED]
        log.warning(
            "%s job %s completed (credit cost %s) but its result holds no image URL Cameo "
            "can read; raw result (truncated to %d characters): %s",
            self.name,
            job_id,
            job.credit_cost,
            RAW_RESULT_LOGGED,
            raw,
        )
        return OutcomeUnknown(
            self.name,
            f"job {job_id} completed but its result holds no image URL Cameo can read "
            "(the raw result is in the log)",
            user_text=(
                "The image service finished your picture but sent it back in a form Cameo "
                "can't read, so there is nothing to show. Cameo won't buy it again elsewhere; "
                f"the server staff can find the service's answer in the log (job {job_id})."
            ),
        )

    async def balance(self) -> Balance | None:
        response = await send(
            self.name,
            lambda: self.client.get(f"{self.base_url}/v2/me", headers=self._headers()),
            idempotent=True,
            deadline=Deadline(30),
        )
        if response.status_code != 200:
            raise apiframe_error(self.name, response)
        account = read_answer(
            ApiframeAccount,
            self.name,
            response,
            answering="the balance check",
            malformed=Unavailable,
        )
        return Balance(account.team.credits, "Apiframe credits")
