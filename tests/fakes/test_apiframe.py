"""FakeApiframe follows Apiframe's OpenAPI: uploads, validated jobs, idempotency, refunds."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import uuid
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.fakes import FakeApiframe, webhook_signature
from tests.fakes.images import decode
from tests.imagefactory import png

REFERENCE = "https://cdn.example.test/characters/mira.png"
REF_PATH = "ideogramParams.character_reference_image"


def generate_body(**params: Any) -> dict[str, Any]:
    return {
        "prompt": "Mira reading in a library",
        "model": "ideogram-character",
        "ideogramParams": {"character_reference_image": REFERENCE, **params},
    }


def auth(fake: FakeApiframe, **extra: str) -> dict[str, str]:
    return {"X-API-Key": fake.api_key, **extra}


async def generate(
    client: httpx.AsyncClient, fake: FakeApiframe, body: Any, **headers: str
) -> httpx.Response:
    return await client.post(
        fake.base_url + "/v2/images/generate", json=body, headers=auth(fake, **headers)
    )


async def poll(client: httpx.AsyncClient, fake: FakeApiframe, job_id: str) -> httpx.Response:
    return await client.get(f"{fake.base_url}/v2/jobs/{job_id}", headers=auth(fake))


async def upload(client: httpx.AsyncClient, fake: FakeApiframe, data: bytes) -> httpx.Response:
    return await client.post(
        fake.base_url + "/v2/uploads",
        files={"file": ("face.png", data, "image/png")},
        headers=auth(fake),
    )


# Auth -------------------------------------------------------------------------------------------


async def test_the_key_looks_like_apiframe_s(apiframe_fake: FakeApiframe) -> None:
    assert apiframe_fake.api_key.startswith("afk_")
    assert len(apiframe_fake.api_key) >= 28


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "afk_wrong"}, {"Authorization": "Bearer"}])
async def test_the_x_api_key_header_is_required(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    if "Authorization" in headers:
        headers = {"Authorization": f"Bearer {apiframe_fake.api_key}"}
    response = await client.post(
        apiframe_fake.base_url + "/v2/images/generate", json=generate_body(), headers=headers
    )
    assert response.status_code == 401
    assert set(response.json()) == {"error"}
    assert response.headers["x-request-id"]


async def test_every_response_has_a_request_id(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient
) -> None:
    apiframe_fake.fail_next(503)
    failed = await client.get(apiframe_fake.base_url + "/v2/me", headers=auth(apiframe_fake))
    ok = await client.get(apiframe_fake.base_url + "/v2/me", headers=auth(apiframe_fake))
    assert failed.status_code == 503
    assert ok.status_code == 200
    assert failed.headers["x-request-id"] != ok.headers["x-request-id"]


# Validation -------------------------------------------------------------------------------------


def without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    trimmed = copy.deepcopy(body)
    target = trimmed
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return trimmed


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({**generate_body(), "webhook_url": "https://hooks.test/x"}, "webhook_url"),  # camelCase!
        (generate_body(foo=1), "ideogramParams.foo"),
        (generate_body(rendering_speed="Turbo"), "ideogramParams.rendering_speed"),
        (generate_body(magic_prompt_option="auto"), "ideogramParams.magic_prompt_option"),
        (generate_body(seed=1.5), "ideogramParams.seed"),
        (generate_body(seed="42"), "ideogramParams.seed"),
        (generate_body(character_reference_image="not a url"), REF_PATH),
        (generate_body(style_reference_images=[REFERENCE] * 4), "ideogramParams.style_reference_images"),  # noqa: E501
        (without(generate_body(), "ideogramParams", "character_reference_image"), REF_PATH),
        (without(generate_body(), "ideogramParams"), "ideogramParams"),
        (without(generate_body(), "prompt"), "prompt"),
        ({**generate_body(), "prompt": ""}, "prompt"),
        ({**generate_body(), "prompt": "x" * 2001}, "prompt"),
        ({**generate_body(), "model": "flux-pro"}, "model"),
        ({**generate_body(), "webhookEvents": []}, "webhookEvents"),
        ({**generate_body(), "webhookEvents": ["done"]}, "webhookEvents.0"),
    ],
)  # fmt: skip
async def test_schema_violations_are_400_keyed_by_json_path(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient, body: dict[str, Any], path: str
) -> None:
    response = await generate(client, apiframe_fake, body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["error"] == "Validation failed"
    assert path in answer["details"]
    assert all(isinstance(m, str) for m in answer["details"][path])
    assert apiframe_fake.billed == 0


async def test_every_schema_field_is_accepted(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient
) -> None:
    body = generate_body(
        aspect_ratio="3:4",
        resolution="None",
        seed=7,
        style_type="AUTO",  # a free string in the schema; the model page lists upper case
        magic_prompt_option="Off",
        rendering_speed="turbo",
        negative_prompt="blur",
        image=REFERENCE,
        mask=REFERENCE,
        style_preset="WATERCOLOR",
        style_reference_images=[REFERENCE],
    )
    response = await generate(client, apiframe_fake, body)
    assert response.status_code == 202


async def test_prompt_length_is_counted_in_utf16_code_units_as_zod_does(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient
) -> None:
    # 2,000 code points, but each fox is two UTF-16 code units: 2,001 as JavaScript counts.
    body = generate_body()
    too_long = await generate(client, apiframe_fake, {**body, "prompt": "x" * 1999 + "🦊"})
    assert too_long.status_code == 400
    assert too_long.json()["details"]["prompt"] == ["String must contain at most 2000 character(s)"]
    just_fits = await generate(client, apiframe_fake, {**body, "prompt": "x" * 1998 + "🦊"})
    assert just_fits.status_code == 202


async def finished(client: httpx.AsyncClient, fake: FakeApiframe, body: Any) -> dict[str, Any]:
    """Submit and poll the job to its end; return the final job object."""
    accepted = await generate(client, fake, body)
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["jobId"]
    while True:
        job: dict[str, Any] = (await poll(client, fake, job_id)).json()
        if job["status"] in {"COMPLETED", "FAILED"}:
            return job


@pytest.mark.parametrize("style", ["AUTO", "GENERAL", "REALISTIC", "DESIGN", "FICTION"])
async def test_the_documented_style_spellings_complete(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient, style: str
) -> None:
    job = await finished(client, apiframe_fake, generate_body(style_type=style))
    assert job["status"] == "COMPLETED"


@pytest.mark.parametrize(
    "params",
    [
        {"style_type": "Auto"},  # the older docs page's Title case
        {"style_type": "Realistic"},
        {"style_type": "ANIME"},
        {"resolution": "1000x1000"},
        {"resolution": "9999x100"},
        {"resolution": "big"},
    ],
)
async def test_values_the_schema_lets_through_but_ideogram_lacks_fail_and_are_refunded(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    job = await finished(client, apiframe_fake, generate_body(**params))
    assert job["status"] == "FAILED"
    assert repr(next(iter(params.values()))) in job["error"]
    assert job["creditCost"] == 0
    assert (apiframe_fake.billed, apiframe_fake.refunds) == (1, 1)
    assert apiframe_fake.credits == 1000


@pytest.mark.parametrize("resolution", ["None", "1024x1024", "512x1536", "1536x640"])
async def test_ideograms_resolutions_complete(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient, resolution: str
) -> None:
    job = await finished(client, apiframe_fake, generate_body(resolution=resolution))
    assert job["status"] == "COMPLETED"


@pytest.mark.parametrize(
    ("shape", "read"),
    [
        ("images", lambda r: r["images"]),
        ("url", lambda r: [r]),
        ("urls", lambda r: r),
        ("image_objects", lambda r: [i["url"] for i in r["images"]]),
        ("objects", lambda r: [i["url"] for i in r]),
        ("object", lambda r: [r["url"]]),
        ("image_url", lambda r: [r["image_url"]]),
    ],
)
async def test_results_come_in_the_shape_asked_for_and_link_to_the_picture(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient, shape: str, read: Any
) -> None:
    apiframe_fake.result_shape = shape
    job = await finished(client, apiframe_fake, generate_body())
    [url] = read(job["result"])
    served = await client.get(url)
    assert served.status_code == 200
    assert decode(served.content).size[0] > 0


async def test_an_opaque_result_holds_no_url_but_is_still_charged(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient
) -> None:
    apiframe_fake.result_shape = "opaque"
    job = await finished(client, apiframe_fake, generate_body())
    assert job["status"] == "COMPLETED"
    assert "http" not in str(job["result"])
    assert job["creditCost"] == 15
    assert apiframe_fake.refunds == 0


# Uploads ----------------------------------------------------------------------------------------


async def test_an_upload_is_served_back_and_free(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient
) -> None:
    face = png(200, 100, seed=1)
    response = await upload(client, apiframe_fake, face)
    assert response.status_code == 201
    info = response.json()
    assert set(info) == {"id", "url", "kind", "contentType", "byteSize", "expiresAt"}
    assert info["kind"] == "image"
    assert info["contentType"] == "image/png"
    assert info["byteSize"] == len(face)
    uuid.UUID(info["id"])
    served = await client.get(info["url"])  # a CDN URL: no key needed
    assert served.content == face
    assert served.headers["content-type"] == "image/png"
    assert apiframe_fake.billed == 0
    assert apiframe_fake.credits == 1000


@pytest.mark.parametrize(
    "data", [b"just some text", b"\x89PNG\r\n\x1a\nbroken", b"\x89PNG\r\n\x1a\n" + bytes(25 << 20)]
)
async def test_uploads_that_are_not_images_or_too_big_are_400(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient, data: bytes
) -> None:
    response = await upload(client, apiframe_fake, data)
    assert response.status_code == 400
    assert "file" in response.json()["details"]


async def test_an_upload_needs_the_file_field(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        apiframe_fake.base_url + "/v2/uploads",
        files={"image": ("face.png", png(10, 10), "image/png")},
        headers=auth(apiframe_fake),
    )
    assert response.status_code == 400


# Jobs -------------------------------------------------------------------------------------------


async def test_a_job_runs_queued_processing_completed_with_a_real_image(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient
) -> None:
    reference = (await upload(client, apiframe_fake, png(64, 64))).json()["url"]
    body = generate_body(character_reference_image=reference, aspect_ratio="9:16")
    accepted = await generate(client, apiframe_fake, body)
    assert accepted.status_code == 202
    job_id = accepted.json()["jobId"]
    assert accepted.json() == {"jobId": job_id, "status": "QUEUED"}
    assert apiframe_fake.billed == 1
    assert apiframe_fake.credits == 985

    states = []
    for _ in range(3):
        job = (await poll(client, apiframe_fake, job_id)).json()
        states.append((job["status"], job["progress"], job["result"], job["completedAt"]))
    assert [s[:2] for s in states[:2]] == [("QUEUED", 0), ("PROCESSING", 50)]
    assert states[0][2:] == (None, None)
    assert job["status"] == "COMPLETED"
    assert job["progress"] == 100
    assert job["error"] is None
    assert job["creditCost"] == 15
    assert job["webhookStatus"] is None
    assert job["expired"] is False
    assert job["model"] == "ideogram-character"
    assert job["completedAt"].endswith("Z")
    assert job["input"] == body
    [url] = job["result"]["images"]
    image = await client.get(url)
    assert decode(image.content).size == (288, 512)
    assert apiframe_fake.billed == 1


@pytest.mark.parametrize(("speed", "cost"), [("turbo", 10), ("default", 15), ("quality", 20)])
async def test_credits_follow_the_rendering_speed(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient, speed: str, cost: int
) -> None:
    await generate(client, apiframe_fake, generate_body(rendering_speed=speed))
    me = (await client.get(apiframe_fake.base_url + "/v2/me", headers=auth(apiframe_fake))).json()
    assert me["team"]["credits"] == 1000 - cost
    assert me["team"]["plan"] == "pro"
    assert set(me) == {"user", "team", "apiKey"}


async def test_bad_and_unknown_job_ids(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient
) -> None:
    assert (await poll(client, apiframe_fake, "not-a-uuid")).status_code == 400
    assert (await poll(client, apiframe_fake, str(uuid.uuid4()))).status_code == 404


async def test_the_job_list(apiframe_fake: FakeApiframe, client: httpx.AsyncClient) -> None:
    await generate(client, apiframe_fake, generate_body())
    listed = await client.get(
        apiframe_fake.base_url + "/v2/jobs",
        params={"status": "QUEUED"},
        headers=auth(apiframe_fake),
    )
    assert listed.json()["hasMore"] is False
    assert len(listed.json()["jobs"]) == 1


# Idempotency ------------------------------------------------------------------------------------


async def test_a_replay_returns_the_original_job_unbilled(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient
) -> None:
    apiframe_fake.polls_before_done = 0
    first = await generate(client, apiframe_fake, generate_body(), **{"Idempotency-Key": "k-1"})
    job_id = first.json()["jobId"]
    await poll(client, apiframe_fake, job_id)  # now COMPLETED
    again = await generate(client, apiframe_fake, generate_body(), **{"Idempotency-Key": "k-1"})
    assert again.status_code == 202
    assert again.json() == {"jobId": job_id, "status": "COMPLETED"}
    assert apiframe_fake.billed == 1
    assert apiframe_fake.credits == 985
    assert len(apiframe_fake.jobs) == 1


async def test_the_same_key_with_another_body_is_409(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient
) -> None:
    await generate(client, apiframe_fake, generate_body(), **{"Idempotency-Key": "k-2"})
    other = await generate(
        client, apiframe_fake, generate_body(seed=5), **{"Idempotency-Key": "k-2"}
    )
    assert other.status_code == 409
    assert "error" in other.json()
    assert apiframe_fake.billed == 1


async def test_an_overlong_idempotency_key_is_400(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient
) -> None:
    response = await generate(
        client, apiframe_fake, generate_body(), **{"Idempotency-Key": "k" * 256}
    )
    assert response.status_code == 400


async def test_a_lost_answer_retried_with_the_key_is_charged_once(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient
) -> None:
    apiframe_fake.fail_next(502, path="/v2/images/generate", processed=True)
    lost = await generate(client, apiframe_fake, generate_body(), **{"Idempotency-Key": "k-3"})
    assert lost.status_code == 502
    assert apiframe_fake.billed == 1  # the work was done, only the answer was lost
    retried = await generate(client, apiframe_fake, generate_body(), **{"Idempotency-Key": "k-3"})
    assert retried.status_code == 202
    assert retried.json()["jobId"] in apiframe_fake.jobs
    assert apiframe_fake.billed == 1


# Credits and failures ---------------------------------------------------------------------------


async def test_insufficient_credits_is_402_with_the_numbers(client: httpx.AsyncClient) -> None:
    async with FakeApiframe(credits=12) as fake:
        refused = await generate(client, fake, generate_body(rendering_speed="quality"))
        assert refused.status_code == 402
        assert refused.json() == {
            "error": "Insufficient credits",
            "creditsRequired": 20,
            "creditsAvailable": 12,
        }
        assert fake.billed == 0
        assert (
            await generate(client, fake, generate_body(rendering_speed="turbo"))
        ).status_code == 202
        assert fake.credits == 2


async def test_a_content_rejection_fails_the_job_and_refunds_it(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient
) -> None:
    apiframe_fake.reject_content = True
    apiframe_fake.polls_before_done = 0
    job_id = (await generate(client, apiframe_fake, generate_body())).json()["jobId"]
    assert apiframe_fake.credits == 985
    job = (await poll(client, apiframe_fake, job_id)).json()
    assert job["status"] == "FAILED"
    assert "content policy" in job["error"]
    assert job["creditCost"] == 0
    assert job["result"] is None
    assert apiframe_fake.credits == 1000
    assert (apiframe_fake.billed, apiframe_fake.refunds) == (1, 1)


async def test_failed_jobs_are_refunded(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient
) -> None:
    apiframe_fake.fail_jobs = True
    job_id = (await generate(client, apiframe_fake, generate_body())).json()["jobId"]
    for _ in range(3):
        job = (await poll(client, apiframe_fake, job_id)).json()
    assert job["status"] == "FAILED"
    assert "content policy" not in job["error"]
    assert job["creditCost"] == 0
    assert apiframe_fake.credits == 1000


async def test_429_then_success(apiframe_fake: FakeApiframe, client: httpx.AsyncClient) -> None:
    apiframe_fake.fail_next(429, headers={"Retry-After": "2"})
    limited = await generate(client, apiframe_fake, generate_body())
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert (await generate(client, apiframe_fake, generate_body())).status_code == 202
    assert apiframe_fake.billed == 1


async def test_expired_results_and_uploads(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient
) -> None:
    apiframe_fake.polls_before_done = 0
    reference = (await upload(client, apiframe_fake, png(64, 64))).json()["url"]
    body = generate_body(character_reference_image=reference)
    job_id = (await generate(client, apiframe_fake, body)).json()["jobId"]
    [url] = (await poll(client, apiframe_fake, job_id)).json()["result"]["images"]
    apiframe_fake.expire_results()
    job = (await poll(client, apiframe_fake, job_id)).json()
    assert job["expired"] is True
    assert (await client.get(url)).status_code == 404
    assert (await client.get(reference)).status_code == 404
    stale = await generate(client, apiframe_fake, body)
    assert stale.status_code == 400
    assert REF_PATH in stale.json()["details"]


# Webhooks ---------------------------------------------------------------------------------------


async def test_webhooks_are_signed_with_the_hashed_key(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient
) -> None:
    received: list[tuple[str, bytes, str]] = []
    arrived = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (
                request.headers["X-Webhook-Event"],
                await request.read(),
                request.headers["X-Webhook-Signature"],
            )
        )
        if request.headers["X-Webhook-Event"] == "completed":
            arrived.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
        body = {**generate_body(), "webhookUrl": url, "webhookEvents": ["progress", "completed"]}
        job_id = (await generate(client, apiframe_fake, body)).json()["jobId"]
        await asyncio.wait_for(arrived.wait(), timeout=5)  # nobody polls: it finishes by itself
        async with asyncio.timeout(5):
            while len(apiframe_fake.webhook_deliveries) < 2:  # the fake notes the answer after
                await asyncio.sleep(0.01)
    finally:
        await runner.cleanup()
    assert [event for event, _, _ in received] == ["progress", "completed"]
    key = hashlib.sha256(apiframe_fake.api_key.encode()).digest()
    for _, raw, signature in received:
        assert signature == "sha256=" + hmac.new(key, raw, hashlib.sha256).hexdigest()
        assert signature == webhook_signature(apiframe_fake.api_key, raw)
    job = (await poll(client, apiframe_fake, job_id)).json()
    assert job["webhookStatus"] == "delivered"
    assert job["status"] == "COMPLETED"
    assert [d.event for d in apiframe_fake.webhook_deliveries] == ["progress", "completed"]
