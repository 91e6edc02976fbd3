"""Segmind: Ideogram Character (v1, synchronous) and Consistent Character (v2 queue, poses).

Auth is the `x-api-key` header. The reference goes as a multipart file part, which Segmind
documents for `character_reference_image` ("a raw file or a URI"), so no URL is ever needed.
Errors are JSON `{"error": "..."}`; 406 means out of credits; a failed v2 job is served as 422.
"""

from __future__ import annotations

import random
from typing import Any

import httpx

from bot.images.processing import ImageWorkers
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
from bot.providers.request import ASPECT_RATIOS, GenerationRequest, PoseRequest, SceneRequest
from bot.providers.transport import (
    Deadline,
    json_object,
    read_capped,
    retry_after_seconds,
    send,
)

SEGMIND_SEED_RANGE = (100, 999_999)
# Published prices in US dollars ("$0.125 – $0.250 per generation"; consistent-character ~$0.085).
PRICES_USD = {"turbo": 0.125, "default": 0.1875, "quality": 0.25}
POSES_PRICE_USD = 0.085


def segmind_error(provider: str, response: httpx.Response) -> ProviderError:
    """Turn a Segmind error response into the matching typed error."""
    try:
        body = response.json()
        message = str(body.get("error") or body) if isinstance(body, dict) else str(body)
    except ValueError:
        message = response.text[:300] or response.reason_phrase
    message = message[:300]
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
        body = json_object(self.name, response)
        try:
            return Balance(float(body["credits"]) + float(body.get("free-credits") or 0), "USD")
        except (KeyError, TypeError, ValueError):
            return None


class SegmindCharacter(_Segmind):
    """`segmind`: Ideogram Character, one image per synchronous call."""

    name = "segmind"
    capabilities = Capabilities(
        kind=SceneRequest,
        styles=frozenset(STYLES),
        aspect_ratios=frozenset(ASPECT_RATIOS),
        seed_range=SEGMIND_SEED_RANGE,
        region_edit=True,
        resolution=True,
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
            fields["resolution"] = "None"
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
            request_id = json_object(self.name, response).get("request_id")
            if not isinstance(request_id, str) or not request_id:
                raise OutcomeUnknown(self.name, "the submission was accepted without a request_id")
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

        async def check() -> dict[str, Any] | None:
            response = await send(
                self.name,
                lambda: self.client.get(status_url, headers=self._headers()),
                idempotent=True,
                deadline=deadline,
            )
            if response.status_code == 422:
                raise self._failure(response)
            if response.status_code in {404, 410}:
                # Segmind keeps requests for an hour; after that the job is gone.
                raise JobFailed(self.name, f"request {request_id} has expired or is unknown")
            if response.status_code != 200:
                raise segmind_error(self.name, response)
            status = json_object(self.name, response)
            if status.get("status") == "FAILED":
                raise self._failure(response)
            return status if status.get("status") == "COMPLETED" else None

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
        body = json_object(self.name, response)
        output = body.get("output")
        urls = (
            [output] if isinstance(output, str) else [u for u in output or [] if isinstance(u, str)]
        )
        images = await fetch_results(self.name, self.client, self.images, urls, deadline)
        metrics = body.get("metrics")
        cost = reported_cost(metrics.get("cost") if isinstance(metrics, dict) else None, "USD")
        return GenerationResult(
            provider=self.name,
            images=images,
            seed=seed,
            cost=cost or Cost(POSES_PRICE_USD, "USD"),
            balance=None,
            service_job_id=request_id,
            elapsed=0.0,
        )

    def _failure(self, response: httpx.Response) -> ProviderError:
        try:
            error = str(response.json().get("error") or "failed")
        except ValueError:
            error = "failed"
        if mentions_content_rules(error):
            return ContentRejected(self.name, f"job failed: {error}")
        return JobFailed(self.name, f"job failed: {error}")
