import hashlib
import hmac
import logging

import pytest

from bot.providers.apiframe import (
    RAW_RESULT_LOGGED,
    ApiframeCharacter,
    result_urls,
    verify_webhook_signature,
)
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
from tests.fakes.apiframe import RESULT_SHAPES
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


@pytest.mark.parametrize(
    "result",
    [
        {"images": [{"url": "https://x/1.png"}, {"url": "https://x/2.png"}]},
        [{"url": "https://x/1.png"}, {"url": "https://x/2.png"}],
        {"images": ["https://x/1.png"], "image": "https://x/2.png"},
        {"output": {"images": [{"image_url": "https://x/1.png"}, "https://x/2.png"]}},
        {"data": [{"imageUrl": "https://x/1.png"}, {"uri": "https://x/2.png"}]},
    ],
)
def test_result_shapes_that_carry_urls_are_read_in_order(result: object) -> None:
    assert result_urls(result) == ["https://x/1.png", "https://x/2.png"]


@pytest.mark.parametrize(
    "result",
    [{"url": "https://x/1.png"}, {"image_url": "https://x/1.png"}, {"images": "https://x/1.png"}],
)
def test_a_single_url_in_an_object_is_read(result: object) -> None:
    assert result_urls(result) == ["https://x/1.png"]


@pytest.mark.parametrize(
    "result",
    [
        5,
        "done",
        {"status": "ok"},
        {"images": [{"id": "abc"}]},
        {"url": "ftp://x/1.png"},
        {"thumbnail": "https://x/thumb.png"},  # not a key that holds the picture
        [[[[[["https://x/1.png"]]]]]],  # deeper than any shape a result has
    ],
)
def test_results_without_a_readable_url_give_none(result: object) -> None:
    assert result_urls(result) == []


def test_the_same_url_twice_is_one_picture() -> None:
    assert result_urls({"url": "https://x/1.png", "images": ["https://x/1.png"]}) == [
        "https://x/1.png"
    ]


@pytest.mark.parametrize("shape", [name for name in RESULT_SHAPES if name != "opaque"])
async def test_a_completed_job_in_any_readable_shape_gives_its_pictures(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe, shape: str
) -> None:
    apiframe_fake.result_shape = shape
    result = await apiframe.generate(scene())
    assert len(result.images) == 1
    assert apiframe_fake.billed == 1


async def test_a_charged_job_whose_result_cannot_be_read_is_logged_and_explained(
    apiframe: ApiframeCharacter,
    apiframe_fake: FakeApiframe,
    caplog: pytest.LogCaptureFixture,
) -> None:
    apiframe_fake.result_shape = "opaque"
    saved: list[str] = []

    async def remember(job: SubmittedJob) -> None:
        saved.append(job.job_id)

    with caplog.at_level(logging.WARNING, logger="bot.providers.apiframe"):
        with raises_after_payment(OutcomeUnknown, match="no image URL") as raised:
            await apiframe.generate(scene(), remember)
    assert apiframe_fake.billed == 1
    assert not fails_over(raised.value)  # charged already: never bought again elsewhere
    assert raised.value.message == (
        "The image service finished your picture but sent it back in a form Cameo can't read, "
        "so there is nothing to show. Cameo won't buy it again elsewhere; the server staff can "
        f"find the service's answer in the log (job {saved[0]})."
    )
    [record] = [r for r in caplog.records if "no image URL" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert saved[0] in record.getMessage()
    assert '{"status": "done", "count": 1}' in record.getMessage()  # the raw answer, for staff


async def test_the_logged_raw_result_is_truncated_and_never_shows_the_key(
    apiframe: ApiframeCharacter,
    apiframe_fake: FakeApiframe,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def odd_result(job: SubmittedJob) -> None:
        # A result echoing the key it was called with, and far too long to log whole.
        result = {"note": f"key {apiframe_fake.api_key}", "log": "x" * 50_000}
        answer = {"status": "COMPLETED", "result": result, "creditCost": 15}
        apiframe_fake.fail_next(200, answer, path=f"/v2/jobs/{job.job_id}")

    with caplog.at_level(logging.WARNING, logger="bot.providers.apiframe"):
        with raises_after_payment(OutcomeUnknown):
            await apiframe.generate(scene(), odd_result)
    [record] = [r for r in caplog.records if "no image URL" in r.getMessage()]
    logged = record.getMessage()
    assert apiframe_fake.api_key not in logged
    assert "[api key]" in logged
    assert len(logged) < RAW_RESULT_LOGGED + 400


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


# Each option as Apiframe's own documents spell it, checked before anything is spent ----------


@pytest.mark.parametrize(
    ("style", "sent"),
    [
        (Style.AUTO, "AUTO"),
        (Style.GENERAL, "GENERAL"),
        (Style.REALISTIC, "REALISTIC"),
        (Style.DESIGN, "DESIGN"),
        (Style.FICTION, "FICTION"),
    ],
)
async def test_styles_are_sent_in_the_upper_case_apiframes_page_gives(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe, style: Style, sent: str
) -> None:
    # The fake fails (and refunds) a job whose style its page does not list, as Ideogram would.
    result = await apiframe.generate(scene(style=style))
    assert result.images
    generate = next(r for r in apiframe_fake.requests if r.path == "/v2/images/generate")
    assert generate.body["ideogramParams"]["style_type"] == sent
    assert apiframe_fake.refunds == 0


async def test_a_documented_resolution_is_sent_instead_of_the_aspect_ratio(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    result = await apiframe.generate(scene(aspect_ratio="16:9", resolution="1344x768"))
    assert result.images
    params = next(r for r in apiframe_fake.requests if r.path == "/v2/images/generate").body[
        "ideogramParams"
    ]
    assert params["resolution"] == "1344x768"
    assert "aspect_ratio" not in params  # Ideogram takes one or the other, never both


async def test_a_prompt_over_2000_utf16_units_is_refused_before_anything_is_sent(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    # 2,000 characters as Python counts them, 2,001 as Apiframe's validator does.
    prompt = "x" * 1999 + "🦊"
    with pytest.raises(Unsupported, match="a prompt of 2001 characters as it counts them") as e:
        await apiframe.generate(scene(prompt=prompt))
    assert "emoji" in e.value.message
    assert apiframe_fake.requests == []  # not even the upload


async def test_a_prompt_of_exactly_2000_utf16_units_is_accepted(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    # The fake counts as Zod does, so a miscount either way fails here or above.
    result = await apiframe.generate(scene(prompt="x" * 1998 + "🦊"))
    assert result.images
    assert apiframe_fake.billed == 1


async def test_validation_details_reach_members_as_a_sentence(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    apiframe_fake.fail_next(
        400,
        {
            "error": "Validation failed",
            "details": {
                "prompt": ["Required"],
                "ideogramParams.rendering_speed": [
                    "Invalid enum value. Expected 'default' | 'turbo' | 'quality', received 'x'"
                ],
                "webhookUrl": ["Invalid url", "Required"],
            },
        },
        path="/v2/images/generate",
    )
    with pytest.raises(InvalidRequest) as raised:
        await apiframe.generate(scene())
    assert raised.value.message == (
        "The image service didn't accept those settings: the prompt is missing; the rendering "
        "speed was refused (Invalid enum value. Expected 'default' | 'turbo' | 'quality', "
        "received 'x'); the webhook url was refused (Invalid url; Required)."
    )
    assert "['" not in raised.value.message
    assert apiframe_fake.billed == 0


async def test_a_400_without_details_keeps_the_services_words(
    apiframe: ApiframeCharacter, apiframe_fake: FakeApiframe
) -> None:
    apiframe_fake.fail_next(400, {"error": "Prompt is empty"}, path="/v2/images/generate")
    with pytest.raises(InvalidRequest) as raised:
        await apiframe.generate(scene())
    assert raised.value.message.endswith(": Prompt is empty")
