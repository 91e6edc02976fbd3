"""What every service client offers, and what it hands back."""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace

import httpx

from bot.images.processing import ImageWorkers, NotAnImage
from bot.providers.errors import (
    FailedAfterPayment,
    JobFailed,
    OutcomeUnknown,
    ProviderError,
    TimedOut,
    Unsupported,
    after_payment,
)
from bot.providers.request import GenerationRequest, Needs, PoseRequest, SceneRequest
from bot.providers.transport import Deadline, download_image

# The SDKs give up on a job after ten minutes; so do we.
JOB_DEADLINE_SECONDS = 600.0
# One request's results together (a pose sheet can hold 80 images) may not exceed this.
MAX_RESULTS_BYTES = 200 * 1024 * 1024
# A paid call is not started with less time than this left: it could not finish anyway.
MIN_SECONDS_FOR_PAID_CALL = 15.0


@dataclass(frozen=True)
class SubmittedJob:
    """A paid asynchronous submission the service accepted: enough to resume it later."""

    job_id: str
    seed: int | None


# Awaited as soon as a paid asynchronous submission is accepted, so the caller can persist the
# job id (and the seed we chose) and resume polling after a restart instead of paying again.
OnSubmitted = Callable[[SubmittedJob], Awaitable[None]]


@contextlib.contextmanager
def paid_phase(provider: str, job_id: str | None = None) -> Iterator[None]:
    """Wrap everything after a paid call was accepted: every error from here is raised as a
    FailedAfterPayment (which the router never fails over) `from` the original.

    Unexpected shapes (a missing key, a body that isn't JSON) become OutcomeUnknown rather than
    tracebacks, with the job id so an operator can look it up.
    """
    where = f" (job {job_id})" if job_id else ""
    try:
        yield
    except ProviderError as error:
        detail = error.detail + where if job_id and job_id not in error.detail else None
        paid = after_payment(error, detail=detail)
        # From the original even when an inner paid phase already made `error` one of these.
        raise paid from paid.original
    except (ValueError, TypeError, KeyError, AttributeError, httpx.HTTPError) as exc:
        unknown = OutcomeUnknown(provider, f"unexpected answer after payment{where}: {exc!r}")
        raise after_payment(unknown) from unknown


@dataclass(frozen=True)
class Cost:
    """What the service reported (or published) for a call, in its own unit."""

    amount: float
    unit: str

    def __str__(self) -> str:
        return f"{self.amount:g} {self.unit}"


@dataclass(frozen=True)
class Balance:
    amount: float
    unit: str

    def __str__(self) -> str:
        return f"{self.amount:g} {self.unit}"


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes
    content_type: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return {"image/jpeg": "jpg", "image/webp": "webp"}.get(self.content_type, "png")


@dataclass(frozen=True)
class GenerationResult:
    provider: str
    images: list[GeneratedImage]
    seed: int | None
    cost: Cost | None
    balance: Balance | None
    service_job_id: str | None
    elapsed: float
    # When only some of the requested images could be made: why the rest are missing (always
    # after payment, since the images returned were paid for).
    shortfall: FailedAfterPayment | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a service can honour; the router never sends a request that breaks these."""

    kind: type[SceneRequest] | type[PoseRequest]
    styles: frozenset[str] = frozenset()
    aspect_ratios: frozenset[str] = frozenset()
    seed_range: tuple[int, int] = (0, 2_147_483_647)
    negative_prompt: bool = False
    region_edit: bool = False
    # The exact resolutions the service documents (empty: it takes none).
    resolutions: frozenset[str] = frozenset()
    # The longest prompt the service takes, in UTF-16 code units as its validator counts them
    # (None: no limit of its own beyond Cameo's).
    prompt_max_utf16: int | None = None
    images_per_submission: int = 1
    asynchronous: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    def refusal(self, needs: Needs) -> str | None:  # noqa: PLR0911 (one check a line)
        """Return why a request with these needs can't be honoured here, or None if it can."""
        makes_poses = self.kind is PoseRequest
        if needs.poses != makes_poses:
            return (
                "it makes pose sheets, not scenes"
                if makes_poses
                else "it makes scenes, not pose sheets"
            )
        if needs.poses:
            return None
        if needs.style.value not in self.styles:
            return f"style {needs.style.value} (it knows {', '.join(sorted(self.styles))})"
        if needs.aspect_ratio and needs.aspect_ratio not in self.aspect_ratios:
            return f"aspect ratio {needs.aspect_ratio}"
        if needs.resolution and needs.resolution not in self.resolutions:
            return f"resolution {needs.resolution}" if self.resolutions else "an exact resolution"
        if self.prompt_max_utf16 is not None and needs.prompt_utf16 > self.prompt_max_utf16:
            return (
                f"a prompt of {needs.prompt_utf16} characters as it counts them (at most "
                f"{self.prompt_max_utf16}; emoji and some symbols count as two)"
            )
        low, high = self.seed_range
        if needs.seed is not None and not low <= needs.seed <= high:
            return f"seed {needs.seed} (its seeds go from {low} to {high})"
        if needs.negative_prompt and not self.negative_prompt:
            return "a negative prompt"
        if needs.edit and not self.region_edit:
            return "editing a region with an image and a mask"
        return None


class Provider(abc.ABC):
    """One image service. Subclasses map the request onto the service's documented fields."""

    name: str
    capabilities: Capabilities

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        api_key: str,
        *,
        images: ImageWorkers | None = None,
    ) -> None:
        self.client = client
        # The bot's one bounded pool for Pillow work (results are checked through it).
        self.images = images or ImageWorkers()
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.job_deadline = JOB_DEADLINE_SECONDS
        self.min_seconds_for_paid_call = MIN_SECONDS_FOR_PAID_CALL

    def __repr__(self) -> str:  # never show the key
        return f"<{type(self).__name__} {self.base_url}>"

    def check(self, request: GenerationRequest) -> None:
        """Raise Unsupported, before any money is spent, if this service can't honour it."""
        reason = self.refusal(Needs.of(request))
        if reason is not None:
            raise Unsupported(self.name, reason)

    def refusal(self, needs: Needs) -> str | None:
        return self.capabilities.refusal(needs)

    @property
    def asynchronous(self) -> bool:
        return self.capabilities.asynchronous

    async def generate(
        self,
        request: GenerationRequest,
        on_submitted: OnSubmitted | None = None,
        deadline: Deadline | None = None,
    ) -> GenerationResult:
        """Make one submission's worth of images (see `images_per_submission`)."""
        self.check(request)
        deadline = deadline or Deadline(self.job_deadline)
        if deadline.remaining() < self.min_seconds_for_paid_call:
            raise TimedOut(self.name, "not enough time left to start another paid call")
        started = time.monotonic()
        result = await self._generate(request, on_submitted, deadline)
        return replace(result, elapsed=time.monotonic() - started)

    @abc.abstractmethod
    async def _generate(
        self, request: GenerationRequest, on_submitted: OnSubmitted | None, deadline: Deadline
    ) -> GenerationResult: ...

    async def resume(self, service_job_id: str, request: GenerationRequest) -> GenerationResult:
        """Finish a job submitted before a restart, by polling (never by submitting again)."""
        raise JobFailed(self.name, "this service has no jobs to resume (it answers synchronously)")

    @abc.abstractmethod
    async def balance(self) -> Balance | None:
        """Make one cheap authenticated call; return the balance where the service reports one."""


async def fetch_results(
    provider: str,
    client: httpx.AsyncClient,
    images: ImageWorkers,
    urls: list[str],
    deadline: Deadline,
    max_total: int = MAX_RESULTS_BYTES,
) -> list[GeneratedImage]:
    """Download every result URL at once (they expire), checking each is a real image."""
    if not urls:
        raise JobFailed(provider, "the job completed without images")
    results: list[GeneratedImage] = []
    total = 0
    for url in urls:
        data = await download_image(provider, client, url, deadline=deadline)
        total += len(data)
        if total > max_total:
            raise JobFailed(provider, "the results are larger than Cameo accepts")
        results.append(await checked_image(provider, images, data))
    return results


async def checked_image(provider: str, images: ImageWorkers, data: bytes) -> GeneratedImage:
    """Check downloaded bytes really are an image (by content, whatever the headers said)."""
    try:
        content_type, width, height = await images.inspect(data)
    except NotAnImage as exc:
        raise JobFailed(
            provider, f"the service returned something that is not an image: {exc}"
        ) from None
    if content_type not in {"image/png", "image/jpeg", "image/webp"}:
        raise JobFailed(provider, f"the service returned an unexpected image type {content_type!r}")
    return GeneratedImage(data=data, content_type=content_type, width=width, height=height)
