import pytest

from bot.providers.apiframe import ApiframeCharacter
from bot.providers.base import Capabilities, SubmittedJob
from bot.providers.errors import (
    ContentRejected,
    InsufficientCredits,
    InvalidRequest,
    NoProviderAvailable,
    OutcomeUnknown,
    Unavailable,
)
from bot.providers.request import Needs, PoseRequest, SceneRequest, Style
from bot.providers.router import CircuitBreaker, CircuitState, ProviderRouter, fails_over
from bot.providers.segmind import SegmindCharacter, SegmindPoses
from tests.bot.providers.conftest import (
    FAST_POLL,
    assert_after_payment,
    raises_after_payment,
    reference,
    scene,
)
from tests.fakes import FakeApiframe, FakeSegmind


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def router(  # type: ignore[no-untyped-def]
    segmind_fake: FakeSegmind, apiframe_fake: FakeApiframe, http, clock: Clock
) -> ProviderRouter:
    return ProviderRouter(
        [
            SegmindCharacter(http, segmind_fake.base_url, segmind_fake.api_key),
            ApiframeCharacter(http, apiframe_fake.base_url, apiframe_fake.api_key, FAST_POLL),
            SegmindPoses(http, segmind_fake.base_url, segmind_fake.api_key, FAST_POLL),
        ],
        CircuitBreaker(threshold=3, cooldown=60, now=clock),
    )


async def test_the_first_service_in_order_is_used(
    router: ProviderRouter, segmind_fake: FakeSegmind, apiframe_fake: FakeApiframe
) -> None:
    result = await router.generate(scene())
    assert result.provider == "segmind"
    assert (segmind_fake.billed, apiframe_fake.billed) == (1, 0)


async def test_services_that_cannot_honour_a_request_are_skipped_for_free(
    router: ProviderRouter, segmind_fake: FakeSegmind
) -> None:
    result = await router.generate(scene(negative_prompt="blurry"))
    assert result.provider == "apiframe"
    assert segmind_fake.requests == []


async def test_poses_go_to_the_pose_service(router: ProviderRouter) -> None:
    result = await router.generate(PoseRequest(subject=reference(), prompt="hero", outputs=2))
    assert result.provider == "segmind-poses"
    assert len(result.images) == 2


@pytest.mark.parametrize("status", [503, 401, 406])
async def test_unavailability_bad_keys_and_empty_accounts_fail_over(
    router: ProviderRouter, segmind_fake: FakeSegmind, apiframe_fake: FakeApiframe, status: int
) -> None:
    segmind_fake.fail_next(status)
    result = await router.generate(scene())
    assert result.provider == "apiframe"
    assert router.health["segmind"].recent_errors


async def test_content_rejection_never_fails_over(
    router: ProviderRouter, segmind_fake: FakeSegmind, apiframe_fake: FakeApiframe
) -> None:
    segmind_fake.reject_content = True
    with pytest.raises(ContentRejected):
        await router.generate(scene())
    assert apiframe_fake.billed == 0


async def test_an_invalid_request_never_fails_over(
    router: ProviderRouter, segmind_fake: FakeSegmind, apiframe_fake: FakeApiframe
) -> None:
    segmind_fake.fail_next(400, {"error": "prompt too spicy for the parser"})
    with pytest.raises(InvalidRequest, match="too spicy"):
        await router.generate(scene())
    assert apiframe_fake.requests == []


async def test_a_failing_service_opens_its_circuit_then_gets_a_trial_after_cooling_down(
    router: ProviderRouter, segmind_fake: FakeSegmind, apiframe_fake: FakeApiframe, clock: Clock
) -> None:
    segmind_fake.fail_next(503, count=3)
    for _ in range(3):
        assert (await router.generate(scene())).provider == "apiframe"
    assert router.health["segmind"].state is CircuitState.OPEN
    calls = len(segmind_fake.requests)
    assert (await router.generate(scene())).provider == "apiframe"
    assert len(segmind_fake.requests) == calls  # skipped while open
    clock.now += 61
    assert (await router.generate(scene())).provider == "segmind"  # the trial succeeds
    assert router.health["segmind"].state is CircuitState.CLOSED


async def test_a_failed_trial_reopens_the_circuit(
    router: ProviderRouter, segmind_fake: FakeSegmind, clock: Clock
) -> None:
    segmind_fake.fail_next(503, count=4)
    for _ in range(3):
        await router.generate(scene())
    clock.now += 61
    await router.generate(scene())
    assert router.health["segmind"].state is CircuitState.OPEN


async def test_when_everything_fails_the_reasons_are_kept(
    router: ProviderRouter, segmind_fake: FakeSegmind, apiframe_fake: FakeApiframe
) -> None:
    segmind_fake.fail_next(503)
    apiframe_fake.fail_next(503, count=10)
    with pytest.raises(NoProviderAvailable) as raised:
        await router.generate(scene())
    assert "segmind" in str(raised.value)
    assert "apiframe" in str(raised.value)


async def test_nothing_supports_the_request(router: ProviderRouter) -> None:
    with pytest.raises(NoProviderAvailable) as raised:
        await router.generate(scene(negative_prompt="x", aspect_ratio="4:5"))
    assert raised.value.message.startswith("No image service here can do that")
    assert "negative prompt" in raised.value.message


async def test_a_named_provider_is_used_alone(
    router: ProviderRouter, segmind_fake: FakeSegmind
) -> None:
    assert (await router.generate(scene(), preferred="apiframe")).provider == "apiframe"
    with pytest.raises(NoProviderAvailable) as raised:
        await router.generate(scene(), preferred="pixeldojo")
    assert "isn't set up" in raised.value.message
    segmind_fake.fail_next(503)
    with pytest.raises(NoProviderAvailable):
        await router.generate(scene(), preferred="segmind")  # no failover away from a choice


async def test_a_count_makes_one_submission_per_image_where_needed(
    router: ProviderRouter, segmind_fake: FakeSegmind
) -> None:
    submitted: list[tuple[str, str]] = []

    async def remember(provider: str, job: SubmittedJob) -> None:
        submitted.append((provider, job.job_id))

    result = await router.generate(scene(count=3, seed=500), on_submitted=remember)
    assert len(result.images) == 3
    assert segmind_fake.billed == 3
    assert result.seed == 500
    assert result.cost is not None
    assert result.cost.amount == pytest.approx(3 * 0.1875)
    assert submitted == []  # Segmind answers synchronously: nothing to resume
    await router.generate(scene(negative_prompt="x"), on_submitted=remember)
    assert [p for p, _ in submitted] == ["apiframe"]


async def test_check_records_the_balance(router: ProviderRouter) -> None:
    segmind = router.providers[0]
    balance = await router.check(segmind)
    assert router.health["segmind"].last_balance == balance


@pytest.fixture
def apiframe_first(  # type: ignore[no-untyped-def]
    segmind_fake: FakeSegmind, apiframe_fake: FakeApiframe, http, clock: Clock
) -> ProviderRouter:
    return ProviderRouter(
        [
            ApiframeCharacter(http, apiframe_fake.base_url, apiframe_fake.api_key, FAST_POLL),
            SegmindCharacter(http, segmind_fake.base_url, segmind_fake.api_key),
        ],
        CircuitBreaker(threshold=3, cooldown=60, now=clock),
    )


async def test_a_paid_job_whose_result_cannot_be_fetched_is_not_bought_again_elsewhere(
    apiframe_first: ProviderRouter, apiframe_fake: FakeApiframe, segmind_fake: FakeSegmind
) -> None:
    apiframe_fake.fail_next(503, path=apiframe_fake.FILES_PREFIX, count=10)
    # Unavailable, which fails over before payment; after it, the job stands.
    with raises_after_payment(Unavailable) as raised:
        await apiframe_first.generate(scene())
    assert not fails_over(raised.value)
    assert apiframe_fake.billed == 1
    assert segmind_fake.requests == []


async def test_a_garbled_answer_after_payment_is_not_bought_again_elsewhere(
    apiframe_first: ProviderRouter, apiframe_fake: FakeApiframe, segmind_fake: FakeSegmind
) -> None:
    apiframe_fake.fail_next(200, "<html>maintenance</html>", path="/v2/jobs/", count=10)
    with raises_after_payment(OutcomeUnknown) as raised:
        await apiframe_first.generate(scene())
    assert not fails_over(raised.value)
    assert "job" in raised.value.detail  # the operator can look the paid job up
    assert segmind_fake.requests == []


async def test_a_later_part_failing_returns_the_paid_images_with_a_shortfall(
    router: ProviderRouter, segmind_fake: FakeSegmind, apiframe_fake: FakeApiframe
) -> None:
    first = await router.generate(scene())  # warm up: one call billed
    assert first.shortfall is None
    original = segmind_fake.billed

    calls = 0
    real_generate = router.providers[0].generate

    async def second_call_runs_out(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            segmind_fake.credits = 0
        return await real_generate(*args, **kwargs)

    router.providers[0].generate = second_call_runs_out  # type: ignore[method-assign]
    result = await router.generate(scene(count=3))
    assert len(result.images) == 1
    assert_after_payment(result.shortfall, InsufficientCredits)
    assert not fails_over(result.shortfall)
    assert segmind_fake.billed == original + 1
    assert apiframe_fake.billed == 0  # the rest were not bought elsewhere


def test_a_half_open_circuit_admits_one_trial_at_a_time(clock: Clock) -> None:
    from bot.providers.router import ProviderHealth

    breaker = CircuitBreaker(threshold=1, cooldown=10, now=clock)
    health = ProviderHealth()
    breaker.record_failure(health, unhealthy=True)
    assert not breaker.would_allow(health)
    clock.now += 11
    assert breaker.begin(health)
    assert not breaker.begin(health)  # the trial is still running
    breaker.record_success(health)
    assert breaker.begin(health)


async def test_general_and_design_go_to_the_one_service_that_documents_them(
    router: ProviderRouter, segmind_fake: FakeSegmind, apiframe_fake: FakeApiframe
) -> None:
    for style in (Style.GENERAL, Style.DESIGN):
        result = await router.generate(scene(style=style))
        assert result.provider == "apiframe"
    assert segmind_fake.requests == []
    assert apiframe_fake.billed == 2


async def test_a_prompt_too_long_for_apiframe_goes_elsewhere_and_alone_is_refused(
    segmind_fake: FakeSegmind,
    apiframe_fake: FakeApiframe,
    http,  # type: ignore[no-untyped-def]
) -> None:
    apiframe = ApiframeCharacter(http, apiframe_fake.base_url, apiframe_fake.api_key, FAST_POLL)
    segmind = SegmindCharacter(http, segmind_fake.base_url, segmind_fake.api_key)
    long_prompt = "a fox " + "🦊" * 1000  # 1,006 characters, 2,006 UTF-16 units
    result = await ProviderRouter([apiframe, segmind]).generate(scene(prompt=long_prompt))
    assert result.provider == "segmind"
    with pytest.raises(NoProviderAvailable) as refused:
        await ProviderRouter([apiframe]).generate(scene(prompt=long_prompt))
    assert refused.value.message == (
        "No image service here can do that: apiframe can't do a prompt of 2006 characters as "
        "it counts them (at most 2000; emoji and some symbols count as two)."
    )
    assert apiframe_fake.requests == []


def test_a_resolution_a_service_does_not_list_is_refused_by_its_capabilities() -> None:
    listed = Capabilities(
        kind=SceneRequest, styles=frozenset({"auto"}), resolutions=frozenset({"1024x1024"})
    )
    assert listed.refusal(Needs(poses=False, count=1, resolution="1024x1024")) is None
    assert listed.refusal(Needs(poses=False, count=1, resolution="1312x736")) == (
        "resolution 1312x736"
    )
    none = Capabilities(kind=SceneRequest, styles=frozenset({"auto"}))
    assert none.refusal(Needs(poses=False, count=1, resolution="1024x1024")) == (
        "an exact resolution"
    )


def test_resolutions_are_suggested_from_the_scene_services_configured(
    router: ProviderRouter,
) -> None:
    offered = router.scene_resolutions()
    assert len(offered) == 69
    assert router.scene_resolutions("segmind") == offered
    assert router.scene_resolutions("segmind-poses") == frozenset()  # poses take no size
    assert router.scene_resolutions("nowhere") == frozenset()
