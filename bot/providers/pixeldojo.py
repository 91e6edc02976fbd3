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

from bot.images.processing import ImageWorkers
from bot.providers.base import (
    Balance,
    Capabilities,
    GenerationResult,
    OnSubmitted,
    Provider,
    SubmittedJob,
    fetch_results,
    paid_phase,
    reported_cost,
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
    ASPECT_RATIOS,
    MAX_SCENE_IMAGES,
    GenerationRequest,
    ImageInput,
    SceneRequest,
)
from bot.providers.transport import (
    Deadline,
    json_object,
    retry_after_seconds,
    send,
)

ReferenceHost = Callable[[ImageInput, Deadline], Awaitable[str]]

CREDITS = {"turbo": 3, "default": 5, "quality": 7}


def _message(body: object) -> tuple[str, str]:
    """Return (code, message) from `{"error": "..."}` or `{"error": {"code", "message"}}`."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("code") or ""), str(error.get("message") or error)
        if error is not None:
            return "", str(error)
    return "", str(body)[:300]


def pixeldojo_error(provider: str, response: httpx.Response) -> ProviderError:  # noqa: PLR0911 (one return per status)
    try:
        code, message = _message(response.json())
    except ValueError:
        code, message = "", response.text[:300]
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
    capabilities = Capabilities(
        kind=SceneRequest,
        styles=frozenset(STYLES),
        aspect_ratios=frozenset(ASPECT_RATIOS),
        resolution=True,
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

    def refusal(self, request: GenerationRequest) -> str | None:
        if self.reference_host is None:
            return (
                "it needs the reference picture at a public URL, which Cameo makes through "
                "Apiframe's uploads (set CAMEO_APIFRAME_API_KEY)"
            )
        return super().refusal(request)

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
            accepted = json_object(self.name, response)
            job_id = accepted.get("jobId")
            if not isinstance(job_id, str) or not job_id:
                raise OutcomeUnknown(self.name, "the submission was accepted without a jobId")
        if on_submitted is not None:
            await on_submitted(SubmittedJob(job_id, seed))
        balance = accepted.get("creditsRemaining")
        return await self._finish(
            job_id,
            seed,
            deadline,
            balance=Balance(float(balance), "PixelDojo credits")
            if isinstance(balance, int | float)
            else None,
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
        async def check() -> dict[str, Any] | None:
            response = await send(
                self.name,
                lambda: self.client.get(f"{self.base_url}/jobs/{job_id}", headers=self._headers()),
                idempotent=True,
                deadline=deadline,
            )
            if response.status_code != 200:
                raise pixeldojo_error(self.name, response)
            job = json_object(self.name, response)
            return job if job.get("status") in {"completed", "failed"} else None

        job = await poll_until(self.name, check, policy=self.poll, deadline=deadline)
        if job["status"] == "failed":
            _, error = _message(job)
            if mentions_content_rules(error):
                raise ContentRejected(self.name, f"job {job_id} rejected: {error}")
            raise JobFailed(self.name, f"job {job_id} failed: {error}")
        output = job.get("output")
        images = output.get("images") if isinstance(output, dict) else None
        urls = [u for u in images or [] if isinstance(u, str)]
        if not urls:
            urls = [
                a["url"]
                for a in job.get("assets") or []
                if isinstance(a, dict) and isinstance(a.get("url"), str)
            ]
        images = await fetch_results(self.name, self.client, self.images, urls, deadline)
        return GenerationResult(
            provider=self.name,
            images=images,
            seed=seed,
            cost=reported_cost(job.get("creditCost"), "PixelDojo credits"),
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
