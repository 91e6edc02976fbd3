import pytest

from bot.providers.base import SubmittedJob
from bot.providers.errors import (
    BadCredentials,
    ContentRejected,
    InsufficientCredits,
    InvalidRequest,
    JobFailed,
    OutcomeUnknown,
    ProviderError,
    RateLimited,
    TimedOut,
    Unavailable,
    Unsupported,
)
from bot.providers.request import ImageInput, PoseRequest, Speed, Style
from bot.providers.router import fails_over
from bot.providers.segmind import SegmindCharacter, SegmindPoses
from tests.bot.providers.conftest import FAST_POLL, raises_after_payment, reference, scene
from tests.fakes import FakeSegmind
from tests.imagefactory import png


@pytest.fixture
def segmind(segmind_fake: FakeSegmind, http) -> SegmindCharacter:  # type: ignore[no-untyped-def]
    return SegmindCharacter(http, segmind_fake.base_url, segmind_fake.api_key)


@pytest.fixture
def poses(segmind_fake: FakeSegmind, http) -> SegmindPoses:  # type: ignore[no-untyped-def]
    return SegmindPoses(http, segmind_fake.base_url, segmind_fake.api_key, FAST_POLL)


async def test_a_scene_comes_back_as_a_checked_image(
    segmind: SegmindCharacter, segmind_fake: FakeSegmind
) -> None:
    result = await segmind.generate(scene(speed=Speed.TURBO, aspect_ratio="16:9", seed=4242))
    [image] = result.images
    assert image.content_type in {"image/png", "image/jpeg", "image/webp"}  # sniffed, not trusted
    assert result.seed == 4242
    assert str(result.cost) == "0.125 USD"
    assert result.balance is not None
    assert segmind_fake.billed == 1
    method, path, headers, body = segmind_fake.requests[-1]
    assert (method, path) == ("POST", "/v1/ideogram-character")
    assert headers["x-api-key"] == segmind_fake.api_key
    assert isinstance(body["character_reference_image"], bytes)  # the bytes, never a URL
    assert body["rendering_speed"] == "Turbo"
    assert body["aspect_ratio"] == "16:9"
    assert body["resolution"] == "None"  # so the aspect ratio is honoured


async def test_a_random_seed_in_segmind_range_is_chosen_and_reported(
    segmind: SegmindCharacter,
) -> None:
    result = await segmind.generate(scene())
    assert result.seed is not None
    assert 100 <= result.seed <= 999_999


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"negative_prompt": "blurry"}, "negative prompt"),
        ({"style": Style.DESIGN}, "style design"),
        ({"style": Style.GENERAL}, "style general"),  # Segmind lists Auto, Fiction, Realistic
        ({"seed": 5}, "seed 5"),
    ],
)
async def test_options_segmind_lacks_are_refused_before_any_request(
    segmind: SegmindCharacter, segmind_fake: FakeSegmind, options: dict[str, object], reason: str
) -> None:
    with pytest.raises(Unsupported, match=reason):
        await segmind.generate(scene(**options))
    assert segmind_fake.requests == []


async def test_region_edit_sends_image_and_mask_files(
    segmind: SegmindCharacter, segmind_fake: FakeSegmind
) -> None:
    await segmind.generate(scene(edit_image=reference(2), edit_mask=reference(3)))
    body = segmind_fake.requests[-1].body
    assert isinstance(body["image"], bytes)
    assert isinstance(body["mask"], bytes)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, BadCredentials),
        (403, BadCredentials),
        (406, InsufficientCredits),
        (400, InvalidRequest),
    ],
)
async def test_service_errors_become_typed_errors(
    segmind: SegmindCharacter, segmind_fake: FakeSegmind, status: int, error: type[Exception]
) -> None:
    segmind_fake.fail_next(status)
    with pytest.raises(error):
        await segmind.generate(scene())
    assert segmind_fake.billed == 0


async def test_a_wrong_key_is_bad_credentials(segmind_fake: FakeSegmind, http) -> None:  # type: ignore[no-untyped-def]
    wrong = SegmindCharacter(http, segmind_fake.base_url, "SG_" + "0" * 16)
    with pytest.raises(BadCredentials):
        await wrong.generate(scene())


async def test_a_429_is_waited_out_and_retried(
    segmind: SegmindCharacter, segmind_fake: FakeSegmind
) -> None:
    segmind_fake.fail_next(429, headers={"Retry-After": "0"})
    result = await segmind.generate(scene())
    assert result.images
    assert segmind_fake.billed == 1


async def test_persistent_429s_give_up_as_rate_limited(
    segmind: SegmindCharacter, segmind_fake: FakeSegmind
) -> None:
    segmind_fake.fail_next(429, headers={"Retry-After": "0"}, count=10)
    with pytest.raises(RateLimited):
        await segmind.generate(scene())


@pytest.mark.parametrize(
    ("status", "error", "failover"),
    [(500, OutcomeUnknown, False), (504, OutcomeUnknown, False), (502, Unavailable, True)],
)
async def test_a_5xx_on_a_paid_call_is_never_resent(
    segmind: SegmindCharacter,
    segmind_fake: FakeSegmind,
    status: int,
    error: type[ProviderError],
    failover: bool,
) -> None:
    segmind_fake.fail_next(status, processed=True)
    with pytest.raises(error) as raised:
        await segmind.generate(scene())
    assert len(segmind_fake.requests) == 1
    assert segmind_fake.billed == 1  # charged once, and not a second time
    # 500 and 504 may mean the work was done: never bought again elsewhere.
    assert fails_over(raised.value) is failover


async def test_a_timeout_on_a_paid_call_is_never_resent(
    segmind: SegmindCharacter, segmind_fake: FakeSegmind
) -> None:
    segmind_fake.latency = 1.0
    segmind.job_deadline = 0.3
    segmind.min_seconds_for_paid_call = 0
    with pytest.raises(OutcomeUnknown) as raised:
        await segmind.generate(scene())
    assert not fails_over(raised.value)
    assert len([r for r in segmind_fake.requests if r.method == "POST"]) == 1


async def test_no_paid_call_starts_without_time_to_finish(
    segmind: SegmindCharacter, segmind_fake: FakeSegmind
) -> None:
    segmind.job_deadline = 5
    with pytest.raises(TimedOut, match="not enough time"):
        await segmind.generate(scene())
    assert segmind_fake.requests == []


async def test_content_rejection(segmind: SegmindCharacter, segmind_fake: FakeSegmind) -> None:
    segmind_fake.reject_content = True
    with pytest.raises(ContentRejected):
        await segmind.generate(scene())


async def test_balance_is_read_from_the_credits_endpoint(segmind: SegmindCharacter) -> None:
    balance = await segmind.balance()
    assert balance is not None
    assert balance.unit == "USD"


def _poses(**options: object) -> PoseRequest:
    values: dict[str, object] = {"subject": reference(), "prompt": "a hero", "outputs": 3}
    values.update(options)
    return PoseRequest(**values)  # type: ignore[arg-type]


async def test_a_pose_sheet_goes_through_the_v2_queue(
    poses: SegmindPoses, segmind_fake: FakeSegmind
) -> None:
    submitted: list[str] = []

    async def remember(job: SubmittedJob) -> None:
        submitted.append(job.job_id)

    result = await poses.generate(_poses(output_format="png"), remember)
    assert len(result.images) == 3
    assert submitted == [result.service_job_id]
    assert segmind_fake.billed == 1
    post = next(r for r in segmind_fake.requests if r.method == "POST")
    assert post.path == "/v2/consistent-character"
    assert isinstance(post.body["subject"], bytes)


async def test_a_pose_job_resumes_by_polling_without_paying_again(
    segmind_fake: FakeSegmind,
    http,  # type: ignore[no-untyped-def]
) -> None:
    first = SegmindPoses(http, segmind_fake.base_url, segmind_fake.api_key, FAST_POLL)
    segmind_fake.polls_before_done = 50
    submitted: list[str] = []

    async def crash_after_submit(job: SubmittedJob) -> None:
        submitted.append(job.job_id)
        raise KeyboardInterrupt  # the process dies right after the job id was saved

    with pytest.raises(KeyboardInterrupt):
        await first.generate(_poses(), crash_after_submit)
    segmind_fake.polls_before_done = 1
    restarted = SegmindPoses(http, segmind_fake.base_url, segmind_fake.api_key, FAST_POLL)
    result = await restarted.resume(submitted[0], _poses())
    assert len(result.images) == 3
    assert segmind_fake.billed == 1


async def test_pose_failures(poses: SegmindPoses, segmind_fake: FakeSegmind) -> None:
    segmind_fake.fail_jobs = True
    with raises_after_payment(JobFailed):
        await poses.generate(_poses())
    segmind_fake.fail_jobs = False
    segmind_fake.reject_content = True
    with raises_after_payment(ContentRejected):
        await poses.generate(_poses())


async def test_an_expired_pose_result_is_a_failed_job(
    poses: SegmindPoses, segmind_fake: FakeSegmind
) -> None:
    submitted: list[str] = []

    async def remember(job: SubmittedJob) -> None:
        submitted.append(job.job_id)

    await poses.generate(_poses(), remember)
    segmind_fake.expire_results()
    with raises_after_payment(JobFailed, match="expired"):
        await poses.resume(submitted[0], _poses())


async def test_poses_refuse_scenes_and_scenes_refuse_poses(
    poses: SegmindPoses, segmind: SegmindCharacter
) -> None:
    with pytest.raises(Unsupported):
        await poses.generate(scene())
    with pytest.raises(Unsupported):
        await segmind.generate(_poses())


def test_keys_never_show_in_reprs(segmind: SegmindCharacter, segmind_fake: FakeSegmind) -> None:
    assert segmind_fake.api_key not in repr(segmind)
    assert ImageInput(b"x").filename.endswith(".png")


# Malformed answers: each is one typed error naming the service's field -------------------------


async def test_a_malformed_pose_submission_answer_is_outcome_unknown_and_never_resent(
    poses: SegmindPoses, segmind_fake: FakeSegmind
) -> None:
    # Segmind took (and billed) the job, but its answer carries no usable request id.
    segmind_fake.fail_next(
        200, {"request_id": 42, "status": "QUEUED"}, path="/v2/consistent-character", processed=True
    )
    submitted: list[SubmittedJob] = []

    async def remember(job: SubmittedJob) -> None:
        submitted.append(job)

    with raises_after_payment(OutcomeUnknown, match="`request_id`") as raised:
        await poses.generate(_poses(), remember)
    assert str(raised.value).startswith("segmind-poses: ")
    assert not fails_over(raised.value)  # paid already: never bought again elsewhere
    assert segmind_fake.billed == 1
    assert len([r for r in segmind_fake.requests if r.method == "POST"]) == 1
    assert submitted == []


async def test_a_pose_submission_answer_that_is_not_json_is_outcome_unknown(
    poses: SegmindPoses, segmind_fake: FakeSegmind
) -> None:
    segmind_fake.fail_next(200, "<html>queued</html>", path="/v2/", processed=True)
    with raises_after_payment(OutcomeUnknown, match="not JSON") as raised:
        await poses.generate(_poses())
    assert not fails_over(raised.value)
    assert segmind_fake.billed == 1


async def test_a_status_poll_without_a_status_is_outcome_unknown_naming_it(
    poses: SegmindPoses, segmind_fake: FakeSegmind
) -> None:
    submitted: list[str] = []

    async def remember(job: SubmittedJob) -> None:
        submitted.append(job.job_id)

    segmind_fake.fail_next(200, {"request_id": "x", "metrics": {}}, path="/status")
    with raises_after_payment(
        OutcomeUnknown, match="status poll: field `status`: Field required"
    ) as raised:
        await poses.generate(_poses(), remember)
    assert submitted[0] in raised.value.detail  # so an operator can look the paid job up
    assert not fails_over(raised.value)


async def test_a_result_whose_output_has_the_wrong_type_is_outcome_unknown_naming_it(
    poses: SegmindPoses, segmind_fake: FakeSegmind
) -> None:
    async def break_the_result(job: SubmittedJob) -> None:
        # The status says done; the result answer then has a number where its URLs belong.
        # (Listed first, the status answer keeps the result's shorter path from matching polls.)
        done = {"status": "COMPLETED", "request_id": job.job_id}
        segmind_fake.fail_next(200, done, path=f"/v2/requests/{job.job_id}/status")
        broken = {"status": "COMPLETED", "output": 7, "metrics": {"cost": 0.085}}
        segmind_fake.fail_next(200, broken, path=f"/v2/requests/{job.job_id}")

    with raises_after_payment(OutcomeUnknown, match="result request: field `output`") as raised:
        await poses.generate(_poses(), break_the_result)
    assert not fails_over(raised.value)
    assert segmind_fake.billed == 1


async def test_an_unreadable_price_keeps_the_pictures_and_uses_the_published_one(
    poses: SegmindPoses, segmind_fake: FakeSegmind
) -> None:
    url = segmind_fake.publish(png(64, 64, seed=5), "image/png", "png")

    async def odd_price(job: SubmittedJob) -> None:
        done = {"status": "COMPLETED", "request_id": job.job_id}
        segmind_fake.fail_next(200, done, path=f"/v2/requests/{job.job_id}/status")
        answer = {"status": "COMPLETED", "output": [url], "metrics": {"cost": "cheap"}}
        segmind_fake.fail_next(200, answer, path=f"/v2/requests/{job.job_id}")

    result = await poses.generate(_poses(), odd_price)
    assert len(result.images) == 1
    assert str(result.cost) == "0.085 USD"


@pytest.mark.parametrize(
    ("answer", "field"),
    [({"credits": "lots", "free-credits": 0}, "`credits`"), ({"free-credits": 0.5}, "`credits`")],
)
async def test_a_malformed_balance_is_unavailable_naming_the_field(
    segmind: SegmindCharacter, segmind_fake: FakeSegmind, answer: dict[str, object], field: str
) -> None:
    segmind_fake.fail_next(200, answer, path="/v1/get-user-credits")
    with pytest.raises(Unavailable, match=f"balance check: field {field}"):
        await segmind.balance()


@pytest.mark.parametrize(
    ("style", "sent"),
    [(Style.AUTO, "Auto"), (Style.REALISTIC, "Realistic"), (Style.FICTION, "Fiction")],
)
async def test_styles_are_sent_as_segminds_page_spells_them(
    segmind: SegmindCharacter, segmind_fake: FakeSegmind, style: Style, sent: str
) -> None:
    # The fake answers 400 to any spelling its page does not list.
    assert (await segmind.generate(scene(style=style))).images
    assert segmind_fake.requests[-1].body["style_type"] == sent


async def test_a_documented_resolution_replaces_the_aspect_ratio(
    segmind: SegmindCharacter, segmind_fake: FakeSegmind
) -> None:
    result = await segmind.generate(scene(aspect_ratio="9:16", resolution="736x1312"))
    [image] = result.images
    assert image.width < image.height
    body = segmind_fake.requests[-1].body
    assert body["resolution"] == "736x1312"
    assert "aspect_ratio" not in body


async def test_pose_options_reach_segmind_as_its_page_names_them(
    poses: SegmindPoses, segmind_fake: FakeSegmind
) -> None:
    request = PoseRequest(
        subject=reference(),
        prompt="hero",
        negative_prompt="hats",
        randomise_poses=False,
        output_quality=55,
        seed=77,
    )
    result = await poses.generate(request)
    assert result.seed == 77
    submit = next(r for r in segmind_fake.requests if r.path == "/v2/consistent-character")
    assert submit.body["negative_prompt"] == "hats"
    assert submit.body["randomise_poses"] == "false"
    assert submit.body["output_quality"] == "55"
    assert submit.body["seed"] == "77"
