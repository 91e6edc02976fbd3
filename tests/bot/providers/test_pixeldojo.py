import pytest

from bot.providers.apiframe import ApiframeCharacter
from bot.providers.base import SubmittedJob
from bot.providers.errors import (
    BadCredentials,
    ContentRejected,
    InsufficientCredits,
    InvalidRequest,
    JobFailed,
    OutcomeUnknown,
    RateLimited,
    Unsupported,
)
from bot.providers.pixeldojo import PixelDojoAccepted, PixelDojoCharacter
from bot.providers.request import Style
from bot.providers.router import fails_over
from tests.bot.providers.conftest import FAST_POLL, raises_after_payment, scene
from tests.fakes import FakeApiframe, FakePixelDojo


@pytest.fixture
def pixeldojo(  # type: ignore[no-untyped-def]
    pixeldojo_fake: FakePixelDojo, apiframe_fake: FakeApiframe, http
) -> PixelDojoCharacter:
    uploads = ApiframeCharacter(http, apiframe_fake.base_url, apiframe_fake.api_key, FAST_POLL)
    return PixelDojoCharacter(
        http, pixeldojo_fake.base_url, pixeldojo_fake.api_key, uploads.upload, FAST_POLL
    )


async def test_the_reference_is_rehosted_and_several_images_come_from_one_job(
    pixeldojo: PixelDojoCharacter, pixeldojo_fake: FakePixelDojo, apiframe_fake: FakeApiframe
) -> None:
    result = await pixeldojo.generate(scene(count=3))
    assert len(result.images) == 3
    assert pixeldojo_fake.billed == 1
    run = next(r for r in pixeldojo_fake.requests if r.method == "POST")
    assert run.body["numberOfImages"] == 3
    assert run.headers["Authorization"] == f"Bearer {pixeldojo_fake.api_key}"
    # The fake downloaded the reference from the uploaded URL, as PixelDojo would.
    assert run.body["character_reference_image"].startswith(apiframe_fake.base_url)
    assert str(result.cost).endswith("PixelDojo credits")
    assert apiframe_fake.billed == 0  # uploads are free


async def test_without_an_image_host_pixeldojo_is_skipped_before_spending(
    pixeldojo_fake: FakePixelDojo,
    http,  # type: ignore[no-untyped-def]
) -> None:
    alone = PixelDojoCharacter(http, pixeldojo_fake.base_url, pixeldojo_fake.api_key, None)
    with pytest.raises(Unsupported, match="public URL"):
        await alone.generate(scene())
    assert pixeldojo_fake.requests == []


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, BadCredentials), (402, InsufficientCredits), (400, InvalidRequest)],
)
async def test_submission_errors(
    pixeldojo: PixelDojoCharacter, pixeldojo_fake: FakePixelDojo, status: int, error: type
) -> None:
    pixeldojo_fake.fail_next(status)
    with pytest.raises(error):
        await pixeldojo.generate(scene())


async def test_insufficient_credits_in_the_legacy_403_shape(
    pixeldojo: PixelDojoCharacter, pixeldojo_fake: FakePixelDojo
) -> None:
    pixeldojo_fake.fail_next(
        403, {"error": {"code": "insufficient_credits", "message": "Top up", "status": 403}}
    )
    with pytest.raises(InsufficientCredits):
        await pixeldojo.generate(scene())


async def test_429_retried_and_5xx_never_resent(
    pixeldojo: PixelDojoCharacter, pixeldojo_fake: FakePixelDojo
) -> None:
    pixeldojo_fake.fail_next(429, headers={"Retry-After": "0"})
    assert (await pixeldojo.generate(scene())).images
    pixeldojo_fake.fail_next(429, headers={"Retry-After": "0"}, count=4)  # every attempt
    with pytest.raises(RateLimited):
        await pixeldojo.generate(scene())
    posts = len([r for r in pixeldojo_fake.requests if r.method == "POST"])
    pixeldojo_fake.fail_next(500, processed=True)
    with pytest.raises(OutcomeUnknown):
        await pixeldojo.generate(scene())
    assert len([r for r in pixeldojo_fake.requests if r.method == "POST"]) == posts + 1


async def test_failed_and_rejected_jobs(
    pixeldojo: PixelDojoCharacter, pixeldojo_fake: FakePixelDojo
) -> None:
    pixeldojo_fake.fail_jobs = True
    with raises_after_payment(JobFailed):
        await pixeldojo.generate(scene())
    pixeldojo_fake.fail_jobs = False
    pixeldojo_fake.reject_content = True
    with raises_after_payment(ContentRejected):
        await pixeldojo.generate(scene())


async def test_a_job_resumes_without_paying_again(
    pixeldojo: PixelDojoCharacter, pixeldojo_fake: FakePixelDojo
) -> None:
    pixeldojo_fake.polls_before_done = 100
    saved: list[str] = []

    async def crash(job: SubmittedJob) -> None:
        saved.append(job.job_id)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await pixeldojo.generate(scene(), crash)
    pixeldojo_fake.polls_before_done = 0
    assert (await pixeldojo.resume(saved[0], scene())).images
    assert pixeldojo_fake.billed == 1


async def test_expired_results(
    pixeldojo: PixelDojoCharacter, pixeldojo_fake: FakePixelDojo
) -> None:
    saved: list[str] = []

    async def remember(job: SubmittedJob) -> None:
        saved.append(job.job_id)

    await pixeldojo.generate(scene(), remember)
    pixeldojo_fake.expire_results()
    with raises_after_payment(JobFailed, match="expired"):
        await pixeldojo.resume(saved[0], scene())


async def test_check_authenticates_with_the_job_list(
    pixeldojo: PixelDojoCharacter,
    pixeldojo_fake: FakePixelDojo,
    http,  # type: ignore[no-untyped-def]
) -> None:
    assert await pixeldojo.balance() is None
    wrong = PixelDojoCharacter(http, pixeldojo_fake.base_url, "pd_wrong", None)
    with pytest.raises(BadCredentials):
        await wrong.balance()


# Malformed answers: each is one typed error naming the service's field -------------------------


async def test_a_submission_answer_with_a_numeric_job_id_is_outcome_unknown_and_never_resent(
    pixeldojo: PixelDojoCharacter, pixeldojo_fake: FakePixelDojo
) -> None:
    pixeldojo_fake.fail_next(
        202, {"jobId": 123, "status": "pending"}, path="/models/", processed=True
    )
    with raises_after_payment(OutcomeUnknown, match="submission: field `jobId`") as raised:
        await pixeldojo.generate(scene())
    assert str(raised.value).startswith("pixeldojo: ")
    assert not fails_over(raised.value)  # paid already: never bought again elsewhere
    assert pixeldojo_fake.billed == 1
    assert len([r for r in pixeldojo_fake.requests if r.method == "POST"]) == 1


async def test_a_job_whose_images_are_not_a_list_is_outcome_unknown_naming_the_field(
    pixeldojo: PixelDojoCharacter, pixeldojo_fake: FakePixelDojo
) -> None:
    saved: list[str] = []

    async def break_the_job(job: SubmittedJob) -> None:
        saved.append(job.job_id)
        answer = {"jobId": job.job_id, "status": "completed", "output": {"images": "x.png"}}
        pixeldojo_fake.fail_next(200, answer, path=f"/jobs/{job.job_id}")

    with raises_after_payment(OutcomeUnknown, match=r"job poll: field `output\.images`") as raised:
        await pixeldojo.generate(scene(), break_the_job)
    assert saved[0] in raised.value.detail
    assert not fails_over(raised.value)


async def test_a_job_without_a_status_is_outcome_unknown_naming_it(
    pixeldojo: PixelDojoCharacter, pixeldojo_fake: FakePixelDojo
) -> None:
    pixeldojo_fake.fail_next(200, {"jobId": "job_x"}, path="/jobs/")
    with raises_after_payment(OutcomeUnknown, match="job poll: field `status`: Field required"):
        await pixeldojo.generate(scene())
    assert pixeldojo_fake.billed == 1


async def test_a_failed_job_reads_the_nested_error_shape_too(
    pixeldojo: PixelDojoCharacter, pixeldojo_fake: FakePixelDojo
) -> None:
    async def nested_error(job: SubmittedJob) -> None:
        error = {"code": "moderation", "message": "Flagged by content moderation"}
        answer = {"jobId": job.job_id, "status": "failed", "error": error}
        pixeldojo_fake.fail_next(200, answer, path=f"/jobs/{job.job_id}")

    with raises_after_payment(ContentRejected, match="Flagged by content moderation"):
        await pixeldojo.generate(scene(), nested_error)


def test_an_unreadable_balance_on_the_submission_answer_counts_as_absent() -> None:
    # The job id is what matters once PixelDojo has billed; a balance it can't read must not
    # lose it (nor the picture the member paid for).
    accepted = PixelDojoAccepted.model_validate({"jobId": "job_1", "creditsRemaining": "many"})
    assert accepted.job_id == "job_1"
    assert accepted.credits_remaining is None


async def test_a_documented_resolution_is_sent_and_styles_pixeldojo_lacks_are_refused(
    pixeldojo: PixelDojoCharacter, pixeldojo_fake: FakePixelDojo
) -> None:
    # The fake takes only Ideogram's resolutions and the Title-case styles.
    assert (await pixeldojo.generate(scene(resolution="1280x800", style=Style.FICTION))).images
    run = next(r for r in pixeldojo_fake.requests if r.method == "POST")
    assert run.body["resolution"] == "1280x800"
    assert run.body["style_type"] == "Fiction"
    assert "aspect_ratio" not in run.body
    sent = len(pixeldojo_fake.requests)
    for style in (Style.GENERAL, Style.DESIGN):
        with pytest.raises(Unsupported, match=f"style {style.value}"):
            await pixeldojo.generate(scene(style=style))
    assert len(pixeldojo_fake.requests) == sent
