"""The failover policy as types: failures after a paid call, and what the router does with each."""

from __future__ import annotations

import time

import httpx
import pytest

from bot.providers.apiframe import ApiframeCharacter
from bot.providers.base import (
    Capabilities,
    GeneratedImage,
    GenerationResult,
    OnSubmitted,
    Provider,
    paid_phase,
)
from bot.providers.errors import (
    BadCredentials,
    ContentRejected,
    FailedAfterPayment,
    InsufficientCredits,
    InvalidRequest,
    JobFailed,
    NoProviderAvailable,
    OutcomeUnknown,
    ProviderError,
    RateLimited,
    TimedOut,
    Unavailable,
    Unsupported,
    after_payment,
)
from bot.providers.request import GenerationRequest, SceneRequest, Style
from bot.providers.router import ProviderRouter, fails_over
from bot.providers.segmind import SegmindCharacter
from bot.providers.transport import Deadline
from tests.bot.providers.conftest import (
    FAST_POLL,
    assert_after_payment,
    raises_after_payment,
    scene,
)
from tests.fakes import FakeApiframe, FakeSegmind


def one_of_each(provider: str) -> list[ProviderError]:
    """One of each kind a service can raise, as it would be raised before any money was spent."""
    return [
        Unsupported(provider, "a negative prompt"),
        BadCredentials(provider, "HTTP 401"),
        InsufficientCredits(provider, "out of credits"),
        RateLimited(provider, "429 after retries", 5.0),
        Unavailable(provider, "HTTP 503"),
        OutcomeUnknown(provider, "HTTP 500 answering a paid request"),
        ContentRejected(provider, "nsfw"),
        InvalidRequest(provider, "prompt too long"),
        TimedOut(provider, "no answer in time"),
        JobFailed(provider, "job failed"),
        ProviderError(provider, "something else"),
    ]


BEFORE_PAYMENT = one_of_each("scripted")
FAILS_OVER = (Unsupported, BadCredentials, InsufficientCredits, RateLimited, Unavailable)


def _name(error: ProviderError) -> str:
    return type(error).__name__


# The policy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("error", BEFORE_PAYMENT, ids=_name)
def test_only_refusals_before_payment_fail_over(error: ProviderError) -> None:
    assert fails_over(error) is isinstance(error, FAILS_OVER)


@pytest.mark.parametrize("error", BEFORE_PAYMENT, ids=_name)
def test_nothing_after_payment_fails_over(error: ProviderError) -> None:
    paid = after_payment(error)
    assert isinstance(paid, FailedAfterPayment)
    assert not fails_over(paid)
    assert fails_over(error) is isinstance(error, FAILS_OVER)  # the original's answer is its own


@pytest.mark.parametrize("error", BEFORE_PAYMENT, ids=_name)
def test_the_answer_comes_from_the_type_alone(error: ProviderError) -> None:
    # The same kind from another service, in other words and in other health, gets the same
    # answer; and there is no flag on an error to flip, or to read instead of the policy.
    [other] = [e for e in one_of_each("other") if type(e) is type(error)]
    other.detail = "other words"
    other.unhealthy = not error.unhealthy
    assert fails_over(other) is fails_over(error)
    assert not hasattr(error, "fail_over")


# A failure after payment ---------------------------------------------------------------------


@pytest.mark.parametrize("error", BEFORE_PAYMENT, ids=_name)
def test_a_failure_after_payment_wraps_the_original_and_tells_everyone_the_same(
    error: ProviderError,
) -> None:
    paid = after_payment(error)
    assert type(paid) is FailedAfterPayment
    assert paid.original is error
    assert paid.__cause__ is error
    assert (paid.message, paid.provider, paid.detail, str(paid)) == (
        error.message,
        error.provider,
        error.detail,
        str(error),
    )
    assert paid.unhealthy is error.unhealthy  # the circuit breaker counts it the same
    assert error.__cause__ is None  # the original is left as it was


@pytest.mark.parametrize("error", BEFORE_PAYMENT[:-1], ids=_name)  # all but ProviderError
def test_a_failure_after_payment_is_not_caught_as_its_original_kind(error: ProviderError) -> None:
    # `except JobFailed` must not swallow a paid failure by accident: ask for `.original`.
    assert type(error) is not ProviderError
    assert not isinstance(after_payment(error), type(error))


def test_the_kinds_own_fields_are_read_from_the_original() -> None:
    limited = after_payment(RateLimited("scripted", "429", 7.5))
    assert isinstance(limited.original, RateLimited)
    assert limited.original.retry_after == 7.5
    refused = after_payment(Unsupported("scripted", "a negative prompt"))
    assert isinstance(refused.original, Unsupported)
    assert refused.original.reason == "a negative prompt"
    assert refused.message == "scripted can't do that: a negative prompt."  # the original's


def test_marking_twice_changes_nothing_and_a_new_detail_keeps_the_original_cause() -> None:
    error = JobFailed("scripted", "job failed")
    paid = after_payment(error)
    assert after_payment(paid) is paid
    assert after_payment(paid, detail="job failed") is paid  # the same detail is no change
    again = after_payment(paid, detail="job failed (job j-1)")
    assert type(again) is FailedAfterPayment
    assert again.detail == "job failed (job j-1)"
    assert again.original is error  # wrapped once, never a failure after a failure
    assert again.__cause__ is error
    assert again.message == error.message
    assert paid.detail == error.detail == "job failed"  # neither is changed
    assert after_payment(again) is again


def test_a_paid_phase_raises_a_failure_after_payment_from_the_original() -> None:
    original = JobFailed("scripted", "job failed")
    with raises_after_payment(JobFailed) as raised, paid_phase("scripted", "j-1"):
        raise original
    assert raised.value.original is original
    assert raised.value.__cause__ is original
    assert raised.value.detail == "job failed (job j-1)"  # so an operator can look it up
    assert original.detail == "job failed"  # the original is left as it was


def test_a_paid_phase_without_a_job_id_keeps_the_detail() -> None:
    original = ContentRejected("scripted", "nsfw")
    with raises_after_payment(ContentRejected) as raised, paid_phase("scripted"):
        raise original
    assert raised.value.original is original
    assert raised.value.detail == "nsfw"


def test_nested_paid_phases_wrap_once_and_name_the_job_once() -> None:
    original = TimedOut("scripted", "no answer in time")
    with (
        raises_after_payment(TimedOut) as raised,
        paid_phase("scripted", "j-3"),
        paid_phase("scripted", "j-3"),
    ):
        raise original
    assert raised.value.original is original
    assert raised.value.__cause__ is original  # from the original, not from the inner wrapper
    assert raised.value.detail == "no answer in time (job j-3)"


def test_an_unexpected_answer_in_a_paid_phase_is_an_outcome_unknown_after_payment() -> None:
    with raises_after_payment(OutcomeUnknown) as raised, paid_phase("scripted", "j-2"):
        raise KeyError("images")
    assert "(job j-2)" in raised.value.detail
    assert "KeyError('images')" in raised.value.original.detail
    assert raised.value.provider == "scripted"


async def test_a_job_that_fails_after_payment_says_so_in_its_type(
    apiframe_fake: FakeApiframe, http: httpx.AsyncClient
) -> None:
    apiframe = ApiframeCharacter(http, apiframe_fake.base_url, apiframe_fake.api_key, FAST_POLL)
    apiframe_fake.fail_jobs = True
    with raises_after_payment(JobFailed) as raised:
        await apiframe.generate(scene())
    cause = raised.value.original
    assert not isinstance(cause, FailedAfterPayment)
    assert not isinstance(raised.value, JobFailed)
    assert raised.value.message == cause.message == JobFailed.user_text
    assert apiframe_fake.billed == 1


# The router ----------------------------------------------------------------------------------


class Scripted(Provider):
    """A scene service that fails with a given error, or makes one image, without any HTTP."""

    capabilities = Capabilities(kind=SceneRequest, styles=frozenset(s.value for s in Style))

    def __init__(self, name: str, client: httpx.AsyncClient, failure: ProviderError | None) -> None:
        super().__init__(client, "http://scripted.invalid", "key")
        self.name = name
        self.failure = failure
        self.calls = 0

    async def _generate(
        self, request: GenerationRequest, on_submitted: OnSubmitted | None, deadline: Deadline
    ) -> GenerationResult:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        image = GeneratedImage(b"png", "image/png", 1, 1)
        return GenerationResult(self.name, [image], None, None, None, None, time.monotonic())

    async def balance(self) -> None:
        return None


def _router(http: httpx.AsyncClient, failure: ProviderError) -> tuple[ProviderRouter, Scripted]:
    second = Scripted("second", http, None)
    return ProviderRouter([Scripted("first", http, failure), second]), second


@pytest.mark.parametrize("error", BEFORE_PAYMENT, ids=_name)
async def test_the_router_fails_over_only_on_refusals_before_payment(
    http: httpx.AsyncClient, error: ProviderError
) -> None:
    router, second = _router(http, error)
    if isinstance(error, FAILS_OVER):
        assert (await router.generate(scene())).provider == "second"
        assert second.calls == 1
    else:
        with pytest.raises(type(error)) as raised:
            await router.generate(scene())
        assert raised.value is error  # raised as it came, not as a failure after payment
        assert second.calls == 0


@pytest.mark.parametrize("error", BEFORE_PAYMENT, ids=_name)
async def test_the_router_never_fails_over_after_payment(
    http: httpx.AsyncClient, error: ProviderError
) -> None:
    router, second = _router(http, after_payment(error))
    with raises_after_payment(type(error)) as raised:
        await router.generate(scene())
    assert raised.value.original is error
    assert second.calls == 0
    # The circuit breaker counts it as it would count the original.
    assert router.health["first"].consecutive_failures == int(error.unhealthy)


async def test_when_every_service_refuses_before_payment_each_reason_is_kept(
    http: httpx.AsyncClient,
) -> None:
    router = ProviderRouter(
        [
            Scripted("first", http, Unavailable("first", "HTTP 503")),
            Scripted("second", http, RateLimited("second", "429 after retries", None)),
        ]
    )
    with pytest.raises(NoProviderAvailable) as raised:
        await router.generate(scene())
    assert raised.value.reasons == ["first: HTTP 503", "second: 429 after retries"]


async def test_a_later_part_refused_before_its_payment_is_a_shortfall_after_payment(
    segmind_fake: FakeSegmind, apiframe_fake: FakeApiframe, http: httpx.AsyncClient
) -> None:
    segmind = SegmindCharacter(http, segmind_fake.base_url, segmind_fake.api_key)
    apiframe = ApiframeCharacter(http, apiframe_fake.base_url, apiframe_fake.api_key, FAST_POLL)
    router = ProviderRouter([segmind, apiframe])
    real_generate = segmind.generate
    calls = 0

    async def second_call_is_refused(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            segmind_fake.credits = 0  # answered 406 before the second call is paid
        return await real_generate(*args, **kwargs)

    segmind.generate = second_call_is_refused  # type: ignore[method-assign]
    result = await router.generate(scene(count=2))
    assert len(result.images) == 1
    assert_after_payment(result.shortfall, InsufficientCredits)
    assert result.shortfall is not None
    assert result.shortfall.message == InsufficientCredits.user_text  # what the member reads
    assert apiframe_fake.billed == 0
