"""FakeSegmind speaks Segmind's documented API: sync v1, the v2 queue, credits and failures."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fakes import FakeSegmind
from tests.fakes.images import decode, sniff
from tests.imagefactory import png

REFERENCE = "https://cdn.example.test/characters/mira.png"


def ideogram(**extra: Any) -> dict[str, Any]:
    return {"prompt": "Mira reading in a library", "character_reference_image": REFERENCE, **extra}


def poses(**extra: Any) -> dict[str, Any]:
    return {"prompt": "Mira at the beach", "subject": REFERENCE, **extra}


async def post(
    client: httpx.AsyncClient, fake: FakeSegmind, path: str, **kwargs: Any
) -> httpx.Response:
    return await client.post(fake.base_url + path, headers={"x-api-key": fake.api_key}, **kwargs)


async def get(client: httpx.AsyncClient, fake: FakeSegmind, url: str) -> httpx.Response:
    return await client.get(url, headers={"x-api-key": fake.api_key})


# Auth -------------------------------------------------------------------------------------------


async def test_the_key_looks_like_segmind_s(segmind_fake: FakeSegmind) -> None:
    key = segmind_fake.api_key
    assert key.startswith("SG_")
    assert len(key) == 19
    int(key[3:], 16)
    assert segmind_fake.base_url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": "SG_" + "0" * 16},
        {"Authorization": "Bearer {key}"},  # the gateway does not take the key as a bearer token
    ],
)
async def test_only_the_x_api_key_header_authenticates(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    headers = {k: v.format(key=segmind_fake.api_key) for k, v in headers.items()}
    response = await client.post(
        segmind_fake.base_url + "/v1/ideogram-character", json=ideogram(), headers=headers
    )
    assert response.status_code == 401
    assert "error" in response.json()
    assert segmind_fake.billed == 0


# Validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        (ideogram(base64=True), "base64"),  # not a parameter of this model
        (ideogram(rendering_speed="turbo"), "rendering_speed"),  # enums are case-sensitive
        (ideogram(aspect_ratio="7:5"), "aspect_ratio"),
        (ideogram(resolution="1000x1000"), "resolution"),
        (ideogram(resolution="9999x100"), "resolution"),
        (ideogram(style_type="Anime"), "style_type"),
        (ideogram(style_type="REALISTIC"), "style_type"),  # the page spells it "Realistic"
        (ideogram(style_type="General"), "style_type"),  # not on Segmind's list
        (ideogram(magic_prompt_option="Sometimes"), "magic_prompt_option"),
        (ideogram(seed=99), "seed"),
        (ideogram(seed=1_000_000), "seed"),
        (ideogram(seed="123"), "seed"),  # JSON must carry an integer
        ({"character_reference_image": REFERENCE}, "prompt"),
        ({"prompt": "no reference"}, "character_reference_image"),
        (ideogram(character_reference_image="mira.png"), "character_reference_image"),
        (ideogram(mask=REFERENCE), "mask"),  # a mask needs an image to inpaint
    ],
)
async def test_invalid_ideogram_requests_are_400_and_free(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient, body: dict[str, Any], mentions: str
) -> None:
    response = await post(client, segmind_fake, "/v1/ideogram-character", json=body)
    assert response.status_code == 400
    assert mentions in response.json()["error"]
    assert segmind_fake.billed == 0
    assert segmind_fake.credits == 10.0


async def test_every_documented_option_is_accepted(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    body = ideogram(
        aspect_ratio="4:5",
        resolution="None",
        style_type="Fiction",
        rendering_speed="Turbo",
        magic_prompt_option="Off",
        seed=100,
        image=REFERENCE,
        mask=REFERENCE,
    )
    response = await post(client, segmind_fake, "/v1/ideogram-character", json=body)
    assert response.status_code == 200
    assert decode(response.content).size == (410, 512)  # 4:5, long side 512


async def test_an_unknown_model_is_404(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    response = await post(client, segmind_fake, "/v1/ideogram-v9", json=ideogram())
    assert response.status_code == 404
    assert "error" in response.json()


# Sync v1 ----------------------------------------------------------------------------------------


async def test_v1_answers_with_a_real_image_labelled_jpeg(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    response = await post(client, segmind_fake, "/v1/ideogram-character", json=ideogram(seed=4242))
    assert response.status_code == 200
    # Labelled JPEG like the real page template, but really a PNG: clients must sniff.
    assert response.headers["content-type"] == "image/jpeg"
    assert sniff(response.content) == "png"
    assert decode(response.content).size == (512, 288)  # the 16:9 default
    assert response.headers["x-remaining-credits"] == "9.8125"
    assert segmind_fake.billed == 1
    assert segmind_fake.credits == pytest.approx(10 - 0.1875)


async def test_seeds_and_prompts_change_the_bytes_and_repeat_exactly(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    path = "/v1/ideogram-character"
    first = (await post(client, segmind_fake, path, json=ideogram(seed=100))).content
    again = (await post(client, segmind_fake, path, json=ideogram(seed=100))).content
    other = (await post(client, segmind_fake, path, json=ideogram(seed=101))).content
    assert first == again
    assert first != other


@pytest.mark.parametrize(
    ("speed", "cost"), [("Turbo", 0.125), ("Default", 0.1875), ("Quality", 0.25)]
)
async def test_the_price_follows_the_rendering_speed(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient, speed: str, cost: float
) -> None:
    body = ideogram(rendering_speed=speed)
    await post(client, segmind_fake, "/v1/ideogram-character", json=body)
    assert segmind_fake.credits == pytest.approx(10 - cost)


async def test_resolution_overrides_the_aspect_ratio(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    body = ideogram(aspect_ratio="1:1", resolution="512x1536")
    response = await post(client, segmind_fake, "/v1/ideogram-character", json=body)
    assert decode(response.content).size == (171, 512)


async def test_multipart_takes_the_reference_as_a_file(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    face = png(128, 128, seed=3)
    response = await post(
        client,
        segmind_fake,
        "/v1/ideogram-character",
        data={"prompt": "Mira", "seed": "500", "rendering_speed": "Turbo"},
        files={"character_reference_image": ("face.png", face, "image/png")},
    )
    assert response.status_code == 200
    decode(response.content)
    method, path, headers, body = segmind_fake.requests[-1]
    assert (method, path) == ("POST", "/v1/ideogram-character")
    assert headers["Content-Type"].startswith("multipart/form-data")
    assert body == {
        "prompt": "Mira",
        "seed": "500",
        "rendering_speed": "Turbo",
        "character_reference_image": face,
    }
    assert segmind_fake.credits == pytest.approx(10 - 0.125)


async def test_multipart_takes_the_reference_as_a_url_too(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    response = await post(
        client,
        segmind_fake,
        "/v1/ideogram-character",
        data={"prompt": "Mira", "character_reference_image": REFERENCE},
        files={"image": ("scene.png", png(64, 64), "image/png")},
    )
    assert response.status_code == 200


async def test_a_multipart_reference_that_is_not_an_image_is_refused(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    response = await post(
        client,
        segmind_fake,
        "/v1/ideogram-character",
        data={"prompt": "Mira"},
        files={"character_reference_image": ("face.png", b"not an image", "image/png")},
    )
    assert response.status_code == 400
    assert segmind_fake.billed == 0


async def test_consistent_character_v1_returns_one_image_in_the_output_format(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    response = await post(
        client,
        segmind_fake,
        "/v1/consistent-character",
        json=poses(
            output_format="png", number_of_outputs=3, randomise_poses=False, negative_prompt=""
        ),
    )
    assert response.status_code == 200
    assert sniff(response.content) == "png"
    default = await post(client, segmind_fake, "/v1/consistent-character", json=poses())
    assert sniff(default.content) == "webp"
    assert default.headers["content-type"] == "image/jpeg"
    assert segmind_fake.billed == 2
    assert segmind_fake.credits == pytest.approx(10 - 2 * 0.085)


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "no subject"},
        poses(number_of_outputs=21),
        poses(number_of_images_per_pose=5),
        poses(output_format="gif"),
        poses(output_quality=101),
        poses(randomise_poses="yes"),
        poses(character_reference_image=REFERENCE),  # the other model's field
    ],
)
async def test_invalid_consistent_character_requests_are_400(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await post(client, segmind_fake, "/v1/consistent-character", json=body)
    assert response.status_code == 400
    assert segmind_fake.billed == 0


async def test_content_rejection_on_v1_is_a_free_400(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    segmind_fake.reject_content = True
    response = await post(client, segmind_fake, "/v1/ideogram-character", json=ideogram())
    assert response.status_code == 400
    assert "content_policy_violation" in response.json()["error"]
    assert segmind_fake.billed == 0
    # The knob covers the next paid submission only.
    again = await post(client, segmind_fake, "/v1/ideogram-character", json=ideogram())
    assert again.status_code == 200


# Credits ----------------------------------------------------------------------------------------


async def test_too_few_credits_is_406_mentioning_credits(client: httpx.AsyncClient) -> None:
    async with FakeSegmind(credits=0.15) as fake:
        quality = await post(
            client, fake, "/v1/ideogram-character", json=ideogram(rendering_speed="Quality")
        )
        assert quality.status_code == 406
        assert "credits" in quality.json()["error"].lower()
        queued = await post(client, fake, "/v2/ideogram-character", json=ideogram())
        assert queued.status_code == 406
        assert fake.billed == 0
        turbo = await post(
            client, fake, "/v1/ideogram-character", json=ideogram(rendering_speed="Turbo")
        )
        assert turbo.status_code == 200
        balance = await get(client, fake, fake.base_url + "/v1/get-user-credits")
        assert balance.json() == {"credits": pytest.approx(0.025), "free-credits": 0.0}


# Async v2 ---------------------------------------------------------------------------------------


async def submit(client: httpx.AsyncClient, fake: FakeSegmind, **kwargs: Any) -> dict[str, Any]:
    response = await post(client, fake, "/v2/ideogram-character", **kwargs)
    assert response.status_code == 200
    submitted: dict[str, Any] = response.json()
    return submitted


async def test_v2_goes_queued_processing_completed_across_polls(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    job = await submit(client, segmind_fake, json=ideogram())
    request_id = job["request_id"]
    root = segmind_fake.base_url
    assert job == {
        "request_id": request_id,
        "status": "QUEUED",
        "poll_url": f"{root}/v1/requests/{request_id}",
        "status_url": f"{root}/v2/requests/{request_id}/status",
        "response_url": f"{root}/v2/requests/{request_id}",
    }
    assert segmind_fake.billed == 1  # billed once, at submission
    seen = []
    for _ in range(3):
        status = await get(client, segmind_fake, job["status_url"])
        assert status.status_code == 200
        seen.append(status.json()["status"])
    assert seen == ["QUEUED", "PROCESSING", "COMPLETED"]
    assert status.json()["metrics"]["inference_time"] >= 0
    result = (await get(client, segmind_fake, job["response_url"])).json()
    assert result["status"] == "COMPLETED"
    assert result["metrics"]["cost"] == 0.1875
    image = await client.get(result["output"])
    assert image.status_code == 200
    assert decode(image.content).size == (512, 288)
    assert segmind_fake.billed == 1
    assert segmind_fake.jobs[request_id].state == "completed"


async def test_the_poll_url_and_an_early_result_fetch_report_progress(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    job = await submit(client, segmind_fake, json=ideogram())
    early = (await get(client, segmind_fake, job["response_url"])).json()
    assert early["status"] == "QUEUED"
    assert "output" not in early
    assert (await get(client, segmind_fake, job["poll_url"])).json()["status"] == "PROCESSING"


async def test_v2_accepts_multipart_too(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    segmind_fake.polls_before_done = 0
    job = await submit(
        client,
        segmind_fake,
        data={"prompt": "Mira"},
        files={"character_reference_image": ("face.png", png(64, 64), "image/png")},
    )
    result = (await get(client, segmind_fake, job["response_url"])).json()
    assert result["status"] == "COMPLETED"


async def test_consistent_character_v2_returns_every_output(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    segmind_fake.polls_before_done = 0
    response = await post(
        client,
        segmind_fake,
        "/v2/consistent-character",
        json=poses(number_of_outputs=2, number_of_images_per_pose=2, output_format="jpg"),
    )
    result = (await get(client, segmind_fake, response.json()["response_url"])).json()
    assert len(result["output"]) == 4
    bodies = {(await client.get(url)).content for url in result["output"]}
    assert len(bodies) == 4
    assert {sniff(body) for body in bodies} == {"jpeg"}
    assert segmind_fake.billed == 1


async def test_a_rejected_v2_job_fails_with_422_and_stays_billed(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    segmind_fake.reject_content = True
    segmind_fake.polls_before_done = 1
    job = await submit(client, segmind_fake, json=ideogram())
    assert (await get(client, segmind_fake, job["status_url"])).json()["status"] == "PROCESSING"
    for url in (job["status_url"], job["response_url"]):
        failed = await get(client, segmind_fake, url)
        assert failed.status_code == 422
        assert failed.json()["status"] == "FAILED"
        assert failed.json()["error"] == "content_policy_violation"
    assert segmind_fake.billed == 1


async def test_fail_jobs_fails_v2_jobs_with_an_error(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    job = await submit(client, segmind_fake, json=ideogram())
    segmind_fake.fail_jobs = True  # read when the job finishes
    segmind_fake.polls_before_done = 0
    failed = await get(client, segmind_fake, job["status_url"])
    assert failed.status_code == 422
    assert failed.json()["status"] == "FAILED"
    assert "content_policy" not in failed.json()["error"]


async def test_expired_results_and_requests_are_404(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    segmind_fake.polls_before_done = 0
    job = await submit(client, segmind_fake, json=ideogram())
    output = (await get(client, segmind_fake, job["response_url"])).json()["output"]
    segmind_fake.expire_results()
    assert (await client.get(output)).status_code == 404
    assert (await get(client, segmind_fake, job["response_url"])).status_code == 404
    assert (await get(client, segmind_fake, job["status_url"])).status_code == 404
    unknown = await get(client, segmind_fake, segmind_fake.base_url + "/v2/requests/nope/status")
    assert unknown.status_code == 404


# Injected failures ------------------------------------------------------------------------------


async def test_429_carries_retry_after_then_the_call_succeeds(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    segmind_fake.fail_next(429, headers={"Retry-After": "1"})
    limited = await post(client, segmind_fake, "/v1/ideogram-character", json=ideogram())
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert "error" in limited.json()
    assert segmind_fake.billed == 0
    ok = await post(client, segmind_fake, "/v1/ideogram-character", json=ideogram())
    assert ok.status_code == 200
    assert segmind_fake.billed == 1


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_server_errors_once_then_success(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient, status: int
) -> None:
    segmind_fake.fail_next(status, path="/status")
    job = await submit(client, segmind_fake, json=ideogram())  # not matched by the path filter
    assert (await get(client, segmind_fake, job["status_url"])).status_code == status
    assert (await get(client, segmind_fake, job["status_url"])).status_code == 200


async def test_the_user_credits_endpoint(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    response = await get(client, segmind_fake, segmind_fake.base_url + "/v1/get-user-credits")
    assert response.json() == {"credits": 10.0, "free-credits": 0.0}


async def test_upload_asset_returns_urls_under_both_documented_keys(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    import base64

    face = png(32, 32)
    data_url = "data:image/png;base64," + base64.b64encode(face).decode()
    response = await post(client, segmind_fake, "/upload-asset", json={"data_urls": [data_url]})
    assert response.status_code == 200
    body = response.json()
    assert body["urls"] == body["file_urls"]
    assert (await client.get(body["urls"][0])).content == face
    assert segmind_fake.billed == 0
