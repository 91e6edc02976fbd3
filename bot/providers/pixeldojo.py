"""PixelDojo v1: Ideogram Character as an asynchronous job.

Auth is `Authorization: Bearer`. PixelDojo only takes the reference as a URL, and Discord's
attachment URLs expire mid-job, so the stored bytes are first re-hosted through an upload
service we hold a key for (Apiframe's `/v2/uploads`); without one, PixelDojo is skipped.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from pydantic import Field, OnErrorOmit

from bot.images.processing import ImageWorkers
from bot.providers.answers import Answer, Incidental, Number, Urls, read_answer, read_error_body
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
from bot.providers.ideogram import MAGIC_PROMPT, SPEEDS, STYLES
from bot.providers.polling import PollPolicy, poll_until
from bot.providers.request import (
    MAX_SCENE_IMAGES,
    GenerationRequest,
    ImageInput,
    Needs,
    SceneRequest,
)
from bot.providers.shapes import ASPECT_RATIOS, IDEOGRAM_RESOLUTIONS
from bot.providers.transport import Deadline, retry_after_seconds, send

ReferenceHost = Callable[[ImageInput, Deadline], Awaitable[str]]

CREDITS = {"turbo": 3, "default": 5, "quality": 7}


# PixelDojo's answers, as far as Cameo reads them (providers.md §3, seed page 003) -------------


class PixelDojoErrorDetail(Answer):
    """The nested error: `{"code", "message", "status"}`."""

    code: str | None = None
    message: str | None = None


# Errors come as a plain string or nested (the legacy docs); a failed job's `error` as either.
PixelDojoError = str | PixelDojoErrorDetail


class PixelDojoErrorBody(Answer):
    error: PixelDojoError


class PixelDojoAccepted(Answer):
    """`POST /models/{apiId}/run` (202)."""

    job_id: str = Field(alias="jobId", min_length=1)
    credits_remaining: Incidental[Number] = Field(default=None, alias="creditsRemaining")


class PixelDojoOutput(Answer):
    images: Urls | None = None


class PixelDojoAsset(Answer):
    url: str


class PixelDojoJob(Answer):
    """`GET /jobs/{jobId}`."""

    # A free string: besides the documented pending, completed and failed there is (at least)
    # processing, and a status PixelDojo adds later keeps the poll going.
    status: str
    error: PixelDojoError | None = None
    output: PixelDojoOutput | None = None
    # What the SDK reads (`assets[0].url`); an entry without a URL is skipped, like a result
    # URL that is not a string.
    assets: list[OnErrorOmit[PixelDojoAsset]] | None = None
    credit_cost: Incidental[Number] = Field(default=None, alias="creditCost")

    @property
    def urls(self) -> list[str]:
        images = self.output.images if self.output is not None else None
        return images or [asset.url for asset in self.assets or []]


def _explain(error: PixelDojoError | None) -> tuple[str, str]:
    """Return (code, message) for either shape of error."""
    if isinstance(error, str):
        return "", error
    if error is None:
        return "", "no reason given"
    return error.code or "", error.message or error.code or "no reason given"


def pixeldojo_error(provider: str, response: httpx.Response) -> ProviderError:  # noqa: PLR0911 (one return per status)
    body = read_error_body(PixelDojoErrorBody, response)
    code, message = _explain(body.error) if body is not None else ("", response.text[:300])
    status = response.status_code
    if code == "insufficient_credits" or status == 402:
        return InsufficientCredits(provider, f"out of credits: {message}")
    if status in {401, 403}:
        return BadCredentials(provider, f"HTTP {status}: {message}")
    if status == 429:
        return RateLimited(provider, "429 after retries", retry_after_seconds(response))
    if status == 400:
        if mentions_content_rules(message):
            return ContentRejected(provider, message)
        return InvalidRequest(provider, message)
    if status == 404:
        return JobFailed(provider, f"job not found: {message}")
    return Unavailable(provider, f"HTTP {status}: {message}")


class PixelDojoCharacter(Provider):
    """`pixeldojo`: Ideogram Character; up to four images per job."""

    name = "pixeldojo"
    # PixelDojo's page lists `resolution` as an enum without its values; it passes it on to
    # Ideogram Character, whose values are Ideogram's 69.
    capabilities = Capabilities(
        kind=SceneRequest,
        styles=frozenset(STYLES),
        aspect_ratios=frozenset(ASPECT_RATIOS),
        resolutions=frozenset(IDEOGRAM_RESOLUTIONS),
        images_per_submission=MAX_SCENE_IMAGES,
        asynchronous=True,
    )

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        api_key: str,
        reference_host: ReferenceHost | None,
        poll: PollPolicy | None = None,
        *,
        images: ImageWorkers | None = None,
    ) -> None:
        super().__init__(client, base_url, api_key, images=images)
        self.reference_host = reference_host
        self.poll = poll or PollPolicy(initial=3.0)

    def refusal(self, needs: Needs) -> str | None:
        if self.reference_host is None:
            return (
                "it needs the reference picture at a public URL, which Cameo makes through "
                "Apiframe's uploads (set CAMEO_APIFRAME_API_KEY)"
            )
        return super().refusal(needs)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"}

    async def _generate(
        self, request: GenerationRequest, on_submitted: OnSubmitted | None, deadline: Deadline
    ) -> GenerationResult:
        assert isinstance(request, SceneRequest)
        assert self.reference_host is not None
        seed = request.seed if request.seed is not None else random.randint(1, 2_147_483_647)  # noqa: S311
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "character_reference_image": await self.reference_host(request.reference, deadline),
            "rendering_speed": SPEEDS[request.speed.value],
            "style_type": STYLES[request.style.value],
            "magic_prompt_option": MAGIC_PROMPT[request.magic_prompt.value],
            "seed": seed,
            "numberOfImages": request.count,
        }
        if request.resolution:
            body["resolution"] = request.resolution
        else:
            body["aspect_ratio"] = request.aspect_ratio or "1:1"
        response = await send(
            self.name,
            lambda: self.client.post(
                f"{self.base_url}/models/ideogram-character/run",
                headers=self._headers(),
                json=body,
            ),
            idempotent=False,  # no idempotency key exists: never resend a paid submission
            paid=True,
            deadline=deadline,
        )
        if response.status_code not in {200, 201, 202}:
            raise pixeldojo_error(self.name, response)
        with paid_phase(self.name):
            # Billed already: an answer without a usable job id must never fail over.
            accepted = read_answer(
                PixelDojoAccepted,
                self.name,
                response,
                answering="the submission",
                malformed=OutcomeUnknown,
            )
        if on_submitted is not None:
            await on_submitted(SubmittedJob(accepted.job_id, seed))
        remaining = accepted.credits_remaining
        return await self._finish(
            accepted.job_id,
            seed,
            deadline,
            balance=Balance(remaining, "PixelDojo credits") if remaining is not None else None,
        )

    async def resume(self, service_job_id: str, request: GenerationRequest) -> GenerationResult:
        assert isinstance(request, SceneRequest)
        return await self._finish(
            service_job_id, request.seed, Deadline(self.job_deadline), balance=None
        )

    async def _finish(
        self, job_id: str, seed: int | None, deadline: Deadline, *, balance: Balance | None
    ) -> GenerationResult:
        with paid_phase(self.name, job_id):
            return await self._collect(job_id, seed, deadline, balance)

    async def _collect(
        self, job_id: str, seed: int | None, deadline: Deadline, balance: Balance | None
    ) -> GenerationResult:
        async def check() -> PixelDojoJob | None:
            response = await send(
                self.name,
                lambda: self.client.get(f"{self.base_url}/jobs/{job_id}", headers=self._headers()),
                idempotent=True,
                deadline=deadline,
            )
            if response.status_code != 200:
                raise pixeldojo_error(self.name, response)
            job = read_answer(
                PixelDojoJob,
                self.name,
                response,
                answering="the job poll",
                malformed=OutcomeUnknown,  # the job is paid for: never fail over
            )
            return job if job.status in {"completed", "failed"} else None

        job = await poll_until(self.name, check, policy=self.poll, deadline=deadline)
        if job.status == "failed":
            _, error = _explain(job.error)
            if mentions_content_rules(error):
                raise ContentRejected(self.name, f"job {job_id} rejected: {error}")
            raise JobFailed(self.name, f"job {job_id} failed: {error}")
        images = await fetch_results(self.name, self.client, self.images, job.urls, deadline)
        cost = job.credit_cost
        return GenerationResult(
            provider=self.name,
            images=images,
            seed=seed,
            cost=Cost(cost, "PixelDojo credits") if cost is not None else None,
            balance=balance,
            service_job_id=job_id,
            elapsed=0.0,
        )

    async def balance(self) -> Balance | None:
        """Authenticate cheaply (the job list); PixelDojo reports balances only on submissions."""
        response = await send(
            self.name,
            lambda: self.client.get(f"{self.base_url}/jobs", headers=self._headers()),
            idempotent=True,
            deadline=Deadline(30),
        )
        if response.status_code != 200:
            raise pixeldojo_error(self.name, response)
        return None
