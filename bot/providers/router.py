"""Choosing a service: preference order, capability checks, failover and circuit breakers."""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from bot.observability.metrics import SERVICE_FAILURES, SERVICE_SECONDS
from bot.providers.base import (
    JOB_DEADLINE_SECONDS,
    Balance,
    Cost,
    GenerationResult,
    Provider,
    SubmittedJob,
)
from bot.providers.errors import (
    BadCredentials,
    FailedAfterPayment,
    InsufficientCredits,
    NoProviderAvailable,
    ProviderError,
    RateLimited,
    Unavailable,
    Unsupported,
    after_payment,
)
from bot.providers.request import GenerationRequest, Needs, PoseRequest, SceneRequest
from bot.providers.transport import Deadline

log = logging.getLogger(__name__)

Monotonic = Callable[[], float]
# Awaited with (provider name, job) when an asynchronous service accepts a paid submission.
OnJobSubmitted = Callable[[str, SubmittedJob], Awaitable[None]]


# The failover policy: whether the router tries the next service after a failure, decided by
# the failure's type alone.
#
#   failure                                 next service?
#   FailedAfterPayment (any cause)          never: the work may be done and charged already,
#                                           and buying it elsewhere could pay twice
#   Unsupported, BadCredentials,            yes: this service refused before any money was
#   InsufficientCredits, RateLimited,       spent, for reasons of its own (its options, key,
#   Unavailable                             account or load) that another service may not share
#   OutcomeUnknown                          never: the paid request may have been carried out
#   ContentRejected, InvalidRequest         no: the prompt or settings are the problem, so the
#                                           member hears the refusal rather than a second try
#   TimedOut                                no: the request's one deadline is spent
#   JobFailed, any other ProviderError      no: the service took the job; its answer stands
_FAILS_OVER: tuple[type[ProviderError], ...] = (
    Unsupported,
    BadCredentials,
    InsufficientCredits,
    RateLimited,
    Unavailable,
)


def fails_over(error: ProviderError) -> bool:
    """Whether the next service may be tried after `error` (see the policy table above)."""
    return not isinstance(error, FailedAfterPayment) and isinstance(error, _FAILS_OVER)


class CircuitState(StrEnum):
    CLOSED = "closed"  # healthy: requests flow
    OPEN = "open"  # failing: skipped until the cool-down ends
    HALF_OPEN = "half-open"  # cooled down: the next request is a trial


@dataclass
class ProviderHealth:
    """What operators see in `/admin providers`: circuit, recent latency and errors, balance."""

    state: CircuitState = CircuitState.CLOSED
    consecutive_failures: int = 0
    opened_at: float | None = None
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=20))
    recent_errors: deque[str] = field(default_factory=lambda: deque(maxlen=5))
    successes: int = 0
    failures: int = 0
    last_balance: Balance | None = None
    trial_in_flight: bool = False


class CircuitBreaker:
    """Open after `threshold` consecutive unhealthy failures; one trial after `cooldown`."""

    def __init__(self, threshold: int = 3, cooldown: float = 60.0, now: Monotonic = time.monotonic):
        self.threshold = threshold
        self.cooldown = cooldown
        self._now = now

    def would_allow(self, health: ProviderHealth) -> bool:
        """Whether a request may be tried now, without claiming the half-open trial."""
        if health.state is CircuitState.CLOSED:
            return True
        if health.state is CircuitState.HALF_OPEN:
            return not health.trial_in_flight
        assert health.opened_at is not None
        return self._now() - health.opened_at >= self.cooldown

    def begin(self, health: ProviderHealth) -> bool:
        """Claim the right to send a request; a half-open circuit admits one trial at a time."""
        if not self.would_allow(health):
            return False
        if health.state is not CircuitState.CLOSED:
            health.state = CircuitState.HALF_OPEN
            health.trial_in_flight = True
        return True

    def record_success(self, health: ProviderHealth) -> None:
        health.state = CircuitState.CLOSED
        health.consecutive_failures = 0
        health.opened_at = None
        health.trial_in_flight = False

    def record_failure(self, health: ProviderHealth, *, unhealthy: bool) -> None:
        was_trial = health.trial_in_flight
        health.trial_in_flight = False
        if not unhealthy:
            if was_trial:  # the service answered properly; the trial shows it is back
                self.record_success(health)
            return
        health.consecutive_failures += 1
        if was_trial or health.consecutive_failures >= self.threshold:
            health.state = CircuitState.OPEN
            health.opened_at = self._now()


class ProviderRouter:
    """Tries services in the configured order and fails over only when that is safe."""

    def __init__(
        self,
        providers: Sequence[Provider],
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.providers = list(providers)
        self.breaker = breaker or CircuitBreaker()
        self.health: dict[str, ProviderHealth] = {p.name: ProviderHealth() for p in providers}

    def get(self, name: str) -> Provider | None:
        return next((p for p in self.providers if p.name == name), None)

    def names(self) -> list[str]:
        """Every configured service, in the operator's order."""
        return [p.name for p in self.providers]

    def scene_provider_names(self) -> list[str]:
        """The configured services that make scenes, in the operator's order."""
        return [p.name for p in self.providers if p.capabilities.kind is SceneRequest]

    def scene_resolutions(self, preferred: str | None = None) -> frozenset[str]:
        """The exact resolutions some configured scene service documents (only `preferred`'s,
        when one is named), for suggestions; the capability check still decides."""
        pool = [p for p in self.providers if preferred is None or p.name == preferred]
        return frozenset().union(
            *(p.capabilities.resolutions for p in pool if p.capabilities.kind is SceneRequest)
        )

    def supporting(self, request: GenerationRequest) -> list[Provider]:
        needs = Needs.of(request)
        return [p for p in self.providers if p.refusal(needs) is None]

    def candidates(
        self, request: GenerationRequest | Needs, preferred: str | None = None
    ) -> tuple[list[Provider], list[str]]:
        """Return the services to try in order, and why each other one was skipped."""
        needs = request if isinstance(request, Needs) else Needs.of(request)
        skipped: list[str] = []
        chosen: list[Provider] = []
        pool = self.providers
        if preferred is not None:
            named = self.get(preferred)
            if named is None:
                raise NoProviderAvailable(
                    [f"{preferred}: not configured"],
                    user_text=f"The image service {preferred} isn't set up on this bot.",
                )
            pool = [named]
        for provider in pool:
            reason = provider.refusal(needs)
            if reason is not None:
                skipped.append(f"{provider.name}: can't do {reason}")
            elif not self.breaker.would_allow(self.health[provider.name]):
                skipped.append(f"{provider.name}: circuit open after repeated failures")
            else:
                chosen.append(provider)
        return chosen, skipped

    def ensure_possible(self, needs: Needs, preferred: str | None = None) -> list[Provider]:
        """Return the services that could take a request with these needs now, in order;
        raise NoProviderAvailable (with member text) if there is none."""
        chosen, reasons = self.candidates(needs, preferred)
        if not chosen:
            raise _nothing_can(needs, reasons)
        return chosen

    async def generate(
        self,
        request: GenerationRequest,
        *,
        preferred: str | None = None,
        on_submitted: OnJobSubmitted | None = None,
        deadline: Deadline | None = None,
        only_preferred: bool = False,
    ) -> GenerationResult:
        """Make every image the request asks for, failing over between services when safe.

        `on_submitted(provider, job)` is awaited when an asynchronous service accepts a paid
        submission. Failover follows the policy table at the top of this module: only refusals
        made before any money was spent move on. Once a service accepted a paid call its errors
        are FailedAfterPayment and are the answer, and images already made are returned with a
        `shortfall` rather than bought again elsewhere. `only_preferred` asks the preferred
        service or none (a second try is paid at that service's price before it is made).
        """
        deadline = deadline or Deadline(JOB_DEADLINE_SECONDS)
        chosen, reasons = self.candidates(request, preferred)
        if only_preferred:
            chosen = [provider for provider in chosen if provider.name == preferred]
        if not chosen:
            raise _nothing_can(Needs.of(request), reasons)
        for provider in chosen:
            health = self.health[provider.name]
            if not self.breaker.begin(health):
                reasons.append(f"{provider.name}: circuit open after repeated failures")
                continue
            try:
                result = await self._run(provider, request, on_submitted, deadline)
            except ProviderError as error:
                SERVICE_FAILURES.labels(service=provider.name, error=type(error).__name__).inc()
                health.failures += 1
                health.recent_errors.append(error.detail[:200])
                self.breaker.record_failure(health, unhealthy=error.unhealthy)
                log.warning("%s failed: %s", provider.name, error.detail)
                if not fails_over(error):
                    raise
                reasons.append(f"{provider.name}: {error.detail}")
                continue
            self.breaker.record_success(health)
            SERVICE_SECONDS.labels(service=provider.name).observe(result.elapsed)
            health.successes += 1
            health.latencies.append(result.elapsed)
            if result.balance is not None:
                health.last_balance = result.balance
            if result.shortfall is not None:
                health.recent_errors.append(result.shortfall.detail[:200])
            return result
        raise NoProviderAvailable(reasons)

    async def _run(
        self,
        provider: Provider,
        request: GenerationRequest,
        on_submitted: OnJobSubmitted | None,
        deadline: Deadline,
    ) -> GenerationResult:
        """Run as many submissions as the request's count needs on one service."""

        async def submitted(job: SubmittedJob) -> None:
            if on_submitted is not None:
                await on_submitted(provider.name, job)

        if isinstance(request, PoseRequest):
            return await provider.generate(request, submitted, deadline)
        per_submission = provider.capabilities.images_per_submission
        submissions = math.ceil(request.count / per_submission)
        results: list[GenerationResult] = []
        shortfall: FailedAfterPayment | None = None
        for index in range(submissions):
            count = min(per_submission, request.count - index * per_submission)
            # Later submissions get their own seed so the images differ; the first keeps the
            # member's seed so a given seed reproduces the first image.
            seed = request.seed if index == 0 else None
            part = request.model_copy(update={"count": count, "seed": seed})
            try:
                results.append(await provider.generate(part, submitted, deadline))
            except ProviderError as error:
                if not results:
                    raise
                # Some images are paid for already: keep them, never buy the rest elsewhere. A
                # refusal of a later part counts as after payment too, for this request has paid.
                shortfall = after_payment(error)
                break
        first = results[0]
        return replace(
            first,
            images=[image for result in results for image in result.images],
            cost=_sum_costs(results),
            balance=results[-1].balance or first.balance,
            elapsed=sum(result.elapsed for result in results),
            shortfall=shortfall,
        )

    async def check(self, provider: Provider) -> Balance | None:
        """Make the service's cheapest authenticated call and remember the balance."""
        balance = await provider.balance()
        if balance is not None:
            self.health[provider.name].last_balance = balance
        return balance


def _sum_costs(results: list[GenerationResult]) -> Cost | None:
    costs = [r.cost for r in results if r.cost is not None]
    if not costs:
        return None
    return replace(costs[0], amount=sum(c.amount for c in costs))


def _nothing_can(needs: Needs, reasons: list[str]) -> NoProviderAvailable:
    unsupported = [r for r in reasons if ": can't do " in r]
    if unsupported and len(unsupported) == len(reasons):
        kind = "pose sheets" if needs.poses else "that"
        detail = "; ".join(r.replace(": can't do ", " can't do ") for r in unsupported)
        return NoProviderAvailable(
            reasons, user_text=f"No image service here can do {kind}: {detail}."
        )
    if not reasons:
        return NoProviderAvailable([], user_text="No image service is set up on this bot yet.")
    return NoProviderAvailable(reasons)
