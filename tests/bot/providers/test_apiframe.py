import hashlib
import hmac

import pytest

from bot.providers.apiframe import ApiframeCharacter, result_urls, verify_webhook_signature
from bot.providers.base import SubmittedJob
from bot.providers.errors import (
    BadCredentials,
    ContentRejected,
    FailedAfterPayment,
    InsufficientCredits,
    InvalidRequest,
    JobFailed,
    OutcomeUnknown,
    RateLimited,
    Unavailable,
    Unsupported,
)
from bot.providers.request import Speed, Style
from bot.providers.router import fails_over
from tests.bot.providers.conftest import FAST_POLL, raises_after_payment, reference, scene
from tests.fakes import FakeApiframe
from tests.imagefactory import png


@pytest.fixture
def apiframe(apiframe_fake: FakeApiframe, http) -> ApiframeCharacter:  # type: ignore[no-untyped-def]
    return ApiframeCharacter(http, apiframe_fake.base_url, apiframe_fake.api_key, FAST_POLL)


async def test_a_scene_uploads_the_reference_then_polls_the_job(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    submitted: list[str] = []

    async def remember(job: SubmittedJob) -> None:
        submitted.append(job.job_id)

    result = await apiframe.generate(
        scene(speed=Speed.QUALITY, style=Style.REALISTIC, negative_prompt="blur", seed=7),
        remember,
    )
    assert len(result.images) == 1
    assert result.service_job_id == submitted[0]
    assert str(result.cost) == "20 Apiframe credits"
    assert result.seed == 7
    assert apiframe_fake.billed == 1
    paths = [(r.method, r.path) for r in apiframe_fake.requests]
    assert paths[0] == ("POST", "/v2/uploads")
    generate = next(r for r in apiframe_fake.requests if r.path == "/v2/images/generate")
    assert generate.headers["Idempotency-Key"]
    params = generate.body["ideogramParams"]
    assert params["rendering_speed"] == "quality"  # Apiframe's lower-case spelling
    assert params["negative_prompt"] == "blur"
    assert params["character_reference_image"].startswith("http://127.0.0.1")


async def test_a_5xx_after_the_job_was_made_retries_with_the_same_key_and_pays_once(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    apiframe_fake.fail_next(503, path="/v2/images/generate", processed=True)
    result = await apiframe.generate(scene())
    assert result.images
    assert apiframe_fake.billed == 1
    keys = {
        r.headers["Idempotency-Key"]
        for r in apiframe_fake.requests
        if r.path == "/v2/images/generate"
    }
    assert len(keys) == 1


async def test_a_429_is_retried(apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe) -> None:
    apiframe_fake.fail_next(429, headers={"Retry-After": "0"}, path="/v2/images/generate")
    assert (await apiframe.generate(scene())).images
    apiframe_fake.fail_next(429, headers={"Retry-After": "0"}, count=10)
    with pytest.raises(RateLimited):
        await apiframe.generate(scene())


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, BadCredentials), (402, InsufficientCredits), (400, InvalidRequest)],
)
async def test_submission_errors_become_typed_errors(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe, status: int, error: type[Exception]
) -> None:
    apiframe_fake.fail_next(status, path="/v2/images/generate")
    with pytest.raises(error):
        await apiframe.generate(scene())
    assert apiframe_fake.billed == 0


async def test_running_out_of_credits(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    apiframe_fake.credits = 5
    with pytest.raises(InsufficientCredits, match="needs 15"):
        await apiframe.generate(scene())


async def test_a_service_outage_is_unavailable(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    apiframe_fake.fail_next(503, count=10)
    with pytest.raises(Unavailable):
        await apiframe.generate(scene())


async def test_failed_and_rejected_jobs(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    apiframe_fake.fail_jobs = True
    with raises_after_payment(JobFailed):
        await apiframe.generate(scene())
    apiframe_fake.fail_jobs = False
    apiframe_fake.reject_content = True
    with raises_after_payment(ContentRejected):
        await apiframe.generate(scene())


async def test_a_job_resumes_after_a_restart_without_a_second_submission(
    apiframe_fake: FakeApiframe,
    http,  # type: ignore[no-untyped-def]
) -> None:
    before = ApiframeCharacter(http, apiframe_fake.base_url, apiframe_fake.api_key, FAST_POLL)
    apiframe_fake.polls_before_done = 100
    saved: list[str] = []

    async def crash(job: SubmittedJob) -> None:
        saved.append(job.job_id)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await before.generate(scene(), crash)
    apiframe_fake.polls_before_done = 1
    after = ApiframeCharacter(http, apiframe_fake.base_url, apiframe_fake.api_key, FAST_POLL)
    result = await after.resume(saved[0], scene())
    assert result.images
    assert apiframe_fake.billed == 1
    assert len([r for r in apiframe_fake.requests if r.path == "/v2/images/generate"]) == 1


async def test_expired_results_are_a_failed_job(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    saved: list[str] = []

    async def remember(job: SubmittedJob) -> None:
        saved.append(job.job_id)

    await apiframe.generate(scene(), remember)
    apiframe_fake.expire_results()
    with raises_after_payment(JobFailed, match="expired"):
        await apiframe.resume(saved[0], scene())


async def test_region_edit_uploads_image_and_mask(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    await apiframe.generate(scene(edit_image=reference(2), edit_mask=reference(3)))
    params = next(r for r in apiframe_fake.requests if r.path == "/v2/images/generate").body[
        "ideogramParams"
    ]
    assert params["image"].startswith("http")
    assert params["mask"].startswith("http")
    assert len([r for r in apiframe_fake.requests if r.path == "/v2/uploads"]) == 3


async def test_unsupported_ratio_is_refused_first(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    with pytest.raises(Unsupported):
        await apiframe.generate(scene(aspect_ratio="4:5"))
    assert apiframe_fake.requests == []


async def test_balance_comes_from_the_account(apiframe: ApiframeCharacter) -> None:
    balance = await apiframe.balance()
    assert balance is not None
    assert balance.unit == "Apiframe credits"


def test_webhook_signatures_are_verified_in_constant_time() -> None:
    body = b'{"event":"completed"}'
    key = hashlib.sha256(b"afk_key").digest()
    good = hmac.new(key, body, hashlib.sha256).hexdigest()
    assert verify_webhook_signature("afk_key", body, f"sha256={good}")
    assert verify_webhook_signature("afk_key", body, good)
    assert not verify_webhook_signature("afk_key", body + b" ", f"sha256={good}")
    assert not verify_webhook_signature("other", body, f"sha256={good}")


def test_every_documented_result_shape_is_read() -> None:
    assert result_urls("https://x/1.png") == ["https://x/1.png"]
    assert result_urls(["https://x/1.png"]) == ["https://x/1.png"]
    assert result_urls({"images": ["https://x/1.png", 3]}) == ["https://x/1.png"]
    assert result_urls(None) == []


# Malformed answers: each is one typed error naming the service's field -------------------------


async def test_a_submission_answer_without_a_job_id_is_outcome_unknown_and_never_resent(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    apiframe_fake.fail_next(202, {"status": "QUEUED"}, path="/v2/images/generate", processed=True)
    with raises_after_payment(
        OutcomeUnknown, match="submission: field `jobId`: Field required"
    ) as raised:
        await apiframe.generate(scene())
    assert str(raised.value).startswith("apiframe: ")
    assert not fails_over(raised.value)  # paid already: never bought again elsewhere
    assert apiframe_fake.billed == 1
    assert len([r for r in apiframe_fake.requests if r.path == "/v2/images/generate"]) == 1


async def test_a_job_whose_result_has_no_documented_shape_is_outcome_unknown_naming_it(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    saved: list[str] = []

    async def break_the_job(job: SubmittedJob) -> None:
        saved.append(job.job_id)
        answer = {"id": job.job_id, "status": "COMPLETED", "result": 5, "creditCost": 15}
        apiframe_fake.fail_next(200, answer, path=f"/v2/jobs/{job.job_id}")

    with raises_after_payment(OutcomeUnknown, match="field `result`: it has none of") as raised:
        await apiframe.generate(scene(), break_the_job)
    assert saved[0] in raised.value.detail
    assert not fails_over(raised.value)


async def test_a_job_without_a_status_is_outcome_unknown_naming_it(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    apiframe_fake.fail_next(200, {"id": "x", "progress": 10}, path="/v2/jobs/")
    with raises_after_payment(OutcomeUnknown, match="job poll: field `status`: Field required"):
        await apiframe.generate(scene())
    assert apiframe_fake.billed == 1


async def test_an_unreadable_credit_cost_keeps_the_pictures(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    url = apiframe_fake.publish(png(64, 64, seed=6), "image/png", "png")

    async def odd_cost(job: SubmittedJob) -> None:
        answer = {"status": "COMPLETED", "result": {"images": [url]}, "creditCost": "fifteen"}
        apiframe_fake.fail_next(200, answer, path=f"/v2/jobs/{job.job_id}")

    result = await apiframe.generate(scene(), odd_cost)
    assert len(result.images) == 1
    assert result.cost is None


async def test_an_upload_answer_without_a_url_is_unavailable_before_any_payment(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    apiframe_fake.fail_next(201, {"id": "u1", "kind": "image"}, path="/v2/uploads")
    with pytest.raises(Unavailable, match="upload: field `url`: Field required") as raised:
        await apiframe.generate(scene())
    assert not isinstance(raised.value, FailedAfterPayment)
    assert fails_over(raised.value)  # nothing was paid: another service may take it
    assert apiframe_fake.billed == 0


async def test_a_malformed_balance_is_unavailable_naming_the_field(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    apiframe_fake.fail_next(200, {"team": {"credits": "plenty"}}, path="/v2/me")
    with pytest.raises(Unavailable, match=r"balance check: field `team\.credits`"):
        await apiframe.balance()
