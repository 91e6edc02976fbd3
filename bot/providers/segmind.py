"""Segmind: Ideogram Character (v1, synchronous) and Consistent Character (v2 queue, poses).

Auth is the `x-api-key` header. The reference goes as a multipart file part, which Segmind
documents for `character_reference_image` ("a raw file or a URI"), so no URL is ever needed.
Errors are JSON `{"error": "..."}`; 406 means out of credits; a failed v2 job is served as 422.
"""

from __future__ import annotations

import random

import httpx
from pydantic import Field

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
    checked_image,
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
from bot.providers.request import GenerationRequest, PoseRequest, SceneRequest
from bot.providers.shapes import ASPECT_RATIOS, FOLLOW_ASPECT_RATIO, SEGMIND_RESOLUTIONS
from bot.providers.transport import Deadline, read_capped, retry_after_seconds, send

SEGMIND_SEED_RANGE = (100, 999_999)
# Published prices in US dollars ("$0.125 – $0.250 per generation"; consistent-character ~$0.085).
PRICES_USD = {"turbo": 0.125, "default": 0.1875, "quality": 0.25}
POSES_PRICE_USD = 0.085


# Segmind's answers, as far as Cameo reads them (providers.md §1) -------------------------------


class SegmindErrorBody(Answer):
    """Every error: `{"error": "<message>"}`."""

    error: str


class SegmindCredits(Answer):
    """`GET /v1/get-user-credits`, in dollars."""

    credits: float
    free_credits: float | None = Field(default=None, alias="free-credits")


class SegmindQueued(Answer):
    """`POST /v2/{slug}`: the queue accepted (and billed) the submission."""

    request_id: str = Field(min_length=1)


class SegmindStatus(Answer):
    """`GET /v2/requests/{id}/status`."""

    # A free string rather than the four documented values: a status Segmind adds later keeps
    # the poll going, as an unfinished job does, instead of failing a job already paid for.
    status: str
    error: str | None = None


class SegmindFailure(Answer):
    """A FAILED job, which Segmind serves with HTTP 422 (the body may carry no `status`)."""

    error: str | None = None


class SegmindMetrics(Answer):
    cost: Incidental[Number] = None


class SegmindResult(Answer):
    """`GET /v2/requests/{id}` once COMPLETED: one URL, or a list of them."""

    output: str | Urls
    metrics: Incidental[SegmindMetrics] = None

    @property
    def urls(self) -> list[str]:
        return [self.output] if isinstance(self.output, str) else self.output


def segmind_error(provider: str, response: httpx.Response) -> ProviderError:
    """Turn a Segmind error response into the matching typed error."""
    body = read_error_body(SegmindErrorBody, response)
    given = body.error if body is not None else None
    message = (given or response.text or response.reason_phrase)[:300]
    status = response.status_code
    if status in {401, 403}:
        return BadCredentials(provider, f"HTTP {status}: {message}")
    if status == 406:
        return InsufficientCredits(provider, f"out of credits: {message}")
    if status == 429:
        return RateLimited(provider, "429 after retries", retry_after_seconds(response))
    if status == 422 or mentions_content_rules(message):
        return ContentRejected(provider, f"HTTP {status}: {message}")
    if status == 400:
        return InvalidRequest(provider, message)
    return Unavailable(provider, f"HTTP {status}: {message}")


def _random_seed() -> int:
    return random.randint(*SEGMIND_SEED_RANGE)  # noqa: S311 (a seed, not a secret)


class _Segmind(Provider):
    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self._api_key}

    def _balance_from(self, response: httpx.Response) -> Balance | None:
        value = response.headers.get("x-remaining-credits")
        try:
            return Balance(float(value), "USD") if value is not None else None
        except ValueError:
            return None

    async def balance(self) -> Balance | None:
        response = await send(
            self.name,
            lambda: self.client.get(
                f"{self.base_url}/v1/get-user-credits", headers=self._headers()
            ),
            idempotent=True,
            deadline=Deadline(30),
        )
        if response.status_code != 200:
            raise segmind_error(self.name, response)
        credits = read_answer(
            SegmindCredits,
            self.name,
            response,
            answering="the balance check",
            malformed=Unavailable,
        )
        return Balance(credits.credits + (credits.free_credits or 0.0), "USD")


class SegmindCharacter(_Segmind):
    """`segmind`: Ideogram Character, one image per synchronous call."""

    name = "segmind"
    capabilities = Capabilities(
        kind=SceneRequest,
        styles=frozenset(STYLES),
        aspect_ratios=frozenset(ASPECT_RATIOS),
        seed_range=SEGMIND_SEED_RANGE,
        region_edit=True,
        # The 69 sizes of the 70 values Segmind's page lists ("None" is how Cameo asks for the
        # aspect ratio instead, never a member's choice).
        resolutions=frozenset(SEGMIND_RESOLUTIONS) - {FOLLOW_ASPECT_RATIO},
    )

    def fields(self, request: SceneRequest, seed: int) -> dict[str, str]:
        fields = {
            "prompt": request.prompt,
            "style_type": STYLES[request.style.value],
            "rendering_speed": SPEEDS[request.speed.value],
            "magic_prompt_option": MAGIC_PROMPT[request.magic_prompt.value],
            "seed": str(seed),
        }
        if request.resolution:
            fields["resolution"] = request.resolution
        else:
            # Segmind's default resolution (512x1536) would override the aspect ratio; "None"
            # tells it to follow the ratio, as the upstream model documents.
            fields["resolution"] = FOLLOW_ASPECT_RATIO
            fields["aspect_ratio"] = request.aspect_ratio or "1:1"
        return fields

    def files(self, request: SceneRequest) -> dict[str, tuple[str, bytes, str]]:
        files = {
            "character_reference_image": (
                request.reference.filename,
                request.reference.data,
                request.reference.content_type,
            )
        }
        if request.edit_image is not None and request.edit_mask is not None:
            files["image"] = (
                request.edit_image.filename,
                request.edit_image.data,
                request.edit_image.content_type,
            )
            files["mask"] = (
                request.edit_mask.filename,
                request.edit_mask.data,
                request.edit_mask.content_type,
            )
        return files

    async def _generate(
        self, request: GenerationRequest, on_submitted: OnSubmitted | None, deadline: Deadline
    ) -> GenerationResult:
        assert isinstance(request, SceneRequest)
        seed = request.seed if request.seed is not None else _random_seed()

        async def submit() -> httpx.Response:
            outgoing = self.client.build_request(
                "POST",
                f"{self.base_url}/v1/ideogram-character",
                headers=self._headers(),
                data=self.fields(request, seed),
                files=self.files(request),
                timeout=httpx.Timeout(180.0, connect=5.0),
            )
            return await self.client.send(outgoing, stream=True)

        # A synchronous paid call: never resent after a timeout or an ambiguous 5xx.
        response = await send(self.name, submit, idempotent=False, paid=True, deadline=deadline)
        try:
            if response.status_code != 200:
                await response.aread()
                raise segmind_error(self.name, response)
            with paid_phase(self.name):
                image = await checked_image(
                    self.name, self.images, await read_capped(self.name, response, deadline)
                )
        finally:
            await response.aclose()
        consumed = response.headers.get("x-credits-consumed")
        try:
            cost = Cost(float(consumed), "USD") if consumed else None
        except ValueError:
            cost = None
        return GenerationResult(
            provider=self.name,
            images=[image],
            seed=seed,
            cost=cost or Cost(PRICES_USD[request.speed.value], "USD"),
            balance=self._balance_from(response),
            service_job_id=None,
            elapsed=0.0,
        )


class SegmindPoses(_Segmind):
    """`segmind-poses`: Consistent Character through Segmind's v2 queue (several outputs)."""

    name = "segmind-poses"
    capabilities = Capabilities(kind=PoseRequest, images_per_submission=80, asynchronous=True)
    slug = "consistent-character"

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        api_key: str,
        poll: PollPolicy | None = None,
        *,
        images: ImageWorkers | None = None,
    ) -> None:
        super().__init__(client, base_url, api_key, images=images)
        self.poll = poll or PollPolicy()

    def fields(self, request: PoseRequest, seed: int) -> dict[str, str]:
        return {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "number_of_outputs": str(request.outputs),
            "number_of_images_per_pose": str(request.images_per_pose),
            "randomise_poses": "true" if request.randomise_poses else "false",
            "output_format": request.output_format,
            "output_quality": str(request.output_quality),
            "seed": str(seed),
        }

    async def _generate(
        self, request: GenerationRequest, on_submitted: OnSubmitted | None, deadline: Deadline
    ) -> GenerationResult:
        assert isinstance(request, PoseRequest)
        seed = request.seed if request.seed is not None else _random_seed()
        subject = request.subject
        response = await send(
            self.name,
            lambda: self.client.post(
                f"{self.base_url}/v2/{self.slug}",
                headers=self._headers(),
                data=self.fields(request, seed),
                files={"subject": (subject.filename, subject.data, subject.content_type)},
            ),
            idempotent=False,
            paid=True,
            deadline=deadline,
        )
        if response.status_code not in {200, 201, 202}:
            raise segmind_error(self.name, response)
        with paid_phase(self.name):
            # Billed already: an answer without a usable request id must never fail over.
            request_id = read_answer(
                SegmindQueued,
                self.name,
                response,
                answering="the submission",
                malformed=OutcomeUnknown,
            ).request_id
        if on_submitted is not None:
            await on_submitted(SubmittedJob(request_id, seed))
        return await self._finish(request_id, seed, request, deadline)

    async def resume(self, service_job_id: str, request: GenerationRequest) -> GenerationResult:
        assert isinstance(request, PoseRequest)
        return await self._finish(
            service_job_id, request.seed, request, Deadline(self.job_deadline)
        )

    async def _finish(
        self, request_id: str, seed: int | None, request: PoseRequest, deadline: Deadline
    ) -> GenerationResult:
        with paid_phase(self.name, request_id):
            return await self._collect(request_id, seed, deadline)

    async def _collect(
        self, request_id: str, seed: int | None, deadline: Deadline
    ) -> GenerationResult:
        status_url = f"{self.base_url}/v2/requests/{request_id}/status"
        result_url = f"{self.base_url}/v2/requests/{request_id}"

        async def check() -> SegmindStatus | None:
            response = await send(
                self.name,
                lambda: self.client.get(status_url, headers=self._headers()),
                idempotent=True,
                deadline=deadline,
            )
            if response.status_code == 422:
                raise self._failed_answer(response)
            if response.status_code in {404, 410}:
                # Segmind keeps requests for an hour; after that the job is gone.
                raise JobFailed(self.name, f"request {request_id} has expired or is unknown")
            if response.status_code != 200:
                raise segmind_error(self.name, response)
            status = read_answer(
                SegmindStatus,
                self.name,
                response,
                answering="the status poll",
                malformed=OutcomeUnknown,
            )
            if status.status == "FAILED":
                raise self._failure(status.error)
            return status if status.status == "COMPLETED" else None

        await poll_until(self.name, check, policy=self.poll, deadline=deadline)
        response = await send(
            self.name,
            lambda: self.client.get(result_url, headers=self._headers()),
            idempotent=True,
            deadline=deadline,
        )
        if response.status_code in {404, 410}:
            raise JobFailed(self.name, "the result expired before it was fetched")
        if response.status_code != 200:
            raise segmind_error(self.name, response)
        result = read_answer(
            SegmindResult,
            self.name,
            response,
            answering="the result request",
            malformed=OutcomeUnknown,
        )
        images = await fetch_results(self.name, self.client, self.images, result.urls, deadline)
        reported = result.metrics.cost if result.metrics is not None else None
        return GenerationResult(
            provider=self.name,
            images=images,
            seed=seed,
            cost=Cost(reported if reported is not None else POSES_PRICE_USD, "USD"),
            balance=None,
            service_job_id=request_id,
            elapsed=0.0,
        )

    def _failed_answer(self, response: httpx.Response) -> ProviderError:
        """The error for a FAILED job, which Segmind serves as HTTP 422 (its body is an error
        envelope: unreadable, it only loses the reason)."""
        failure = read_error_body(SegmindFailure, response)
        return self._failure(failure.error if failure is not None else None)

    def _failure(self, reason: str | None) -> ProviderError:
        error = reason or "failed"
        if mentions_content_rules(error):
            return ContentRejected(self.name, f"job failed: {error}")
        return JobFailed(self.name, f"job failed: {error}")
