"""FakePixelDojo: bearer auth, the model's strict schema, a real reference fetch, async jobs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fakes import FakeApiframe, FakePixelDojo, ImageHost
from tests.fakes.images import decode, sniff
from tests.imagefactory import png


@pytest.fixture
def face_url(image_host: ImageHost) -> str:
    return image_host.put("face.png", png(128, 128, seed=11))


def run_body(reference: str, **extra: Any) -> dict[str, Any]:
    return {"prompt": "Mira in a cafe", "character_reference_image": reference, **extra}


async def run(
    client: httpx.AsyncClient, fake: FakePixelDojo, body: Any, model: str = "ideogram-character"
) -> httpx.Response:
    return await client.post(
        f"{fake.base_url}/models/{model}/run",
        json=body,
        headers={"Authorization": f"Bearer {fake.api_key}"},
    )


async def job(client: httpx.AsyncClient, fake: FakePixelDojo, url: str) -> httpx.Response:
    return await client.get(url, headers={"Authorization": f"Bearer {fake.api_key}"})


async def test_the_base_url_and_key_look_like_pixeldojo_s(pixeldojo_fake: FakePixelDojo) -> None:
    assert pixeldojo_fake.base_url.endswith("/api/v1")
    assert pixeldojo_fake.api_key.startswith("pd_")
    assert len(pixeldojo_fake.api_key) >= 27


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer pd_wrong"}, {"x-api-key": "{key}"}, {"Authorization": "{key}"}],
)
async def test_only_the_bearer_key_authenticates(
    pixeldojo_fake: FakePixelDojo, client: httpx.AsyncClient, face_url: str, headers: dict[str, str]
) -> None:
    headers = {k: v.format(key=pixeldojo_fake.api_key) for k, v in headers.items()}
    response = await client.post(
        pixeldojo_fake.base_url + "/models/ideogram-character/run",
        json=run_body(face_url),
        headers=headers,
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.json()["error"]["status"] == 401


@pytest.mark.parametrize(
    ("extra", "mentions"),
    [
        ({"webhookUrl": "https://hooks.test/x"}, "webhookUrl"),  # this one is snake_case
        ({"rendering_speed": "turbo"}, "rendering_speed"),
        ({"style_type": "AUTO"}, "style_type"),
        ({"style_type": "Design"}, "style_type"),
        ({"resolution": "9999x100"}, "resolution"),
        ({"aspect_ratio": "16x9"}, "aspect_ratio"),
        ({"magic_prompt_option": "on"}, "magic_prompt_option"),
        ({"numberOfImages": 5}, "numberOfImages"),
        ({"numberOfImages": 0}, "numberOfImages"),
        ({"seed": "7"}, "seed"),
        ({"webhook_url": "not a url"}, "webhook_url"),
        ({"prompt": ""}, "prompt"),
        ({"character_reference_image": "ftp://cdn.test/face.png"}, "character_reference_image"),
    ],
)
async def test_invalid_bodies_are_400_before_any_fetch(
    pixeldojo_fake: FakePixelDojo,
    client: httpx.AsyncClient,
    face_url: str,
    extra: dict[str, Any],
    mentions: str,
) -> None:
    response = await run(client, pixeldojo_fake, run_body(face_url, **extra))
    assert response.status_code == 400
    assert mentions in response.json()["error"]["message"]
    assert pixeldojo_fake.reference_fetches == []
    assert pixeldojo_fake.billed == 0


async def test_an_unknown_model_is_404(
    pixeldojo_fake: FakePixelDojo, client: httpx.AsyncClient, face_url: str
) -> None:
    response = await run(client, pixeldojo_fake, run_body(face_url), model="flux-9")
    assert response.status_code == 404


async def test_a_job_goes_pending_processing_completed(
    pixeldojo_fake: FakePixelDojo, client: httpx.AsyncClient, face_url: str
) -> None:
    body = run_body(
        face_url,
        rendering_speed="Quality",
        style_type="Realistic",
        aspect_ratio="3:2",
        magic_prompt_option="Off",
        seed=12.0,
        numberOfImages=2,
        webhook_url="https://hooks.test/pd",
    )
    accepted = await run(client, pixeldojo_fake, body)
    assert accepted.status_code == 202
    submitted = accepted.json()
    job_id = submitted["jobId"]
    assert job_id.startswith("job_")
    assert submitted["status"] == "pending"
    assert submitted["statusUrl"] == f"{pixeldojo_fake.base_url}/jobs/{job_id}"
    assert submitted["creditCost"] == 14  # 7 per Quality image, two images
    assert submitted["creditsRemaining"] == 986
    assert submitted["expiresAt"].endswith("Z")
    assert pixeldojo_fake.reference_fetches == [(face_url, 200, True)]

    statuses = [
        (await job(client, pixeldojo_fake, submitted["statusUrl"])).json() for _ in range(3)
    ]
    assert [s["status"] for s in statuses] == ["pending", "processing", "completed"]
    done = statuses[-1]
    assert len(done["output"]["images"]) == 2
    assert [a["url"] for a in done["assets"]] == done["output"]["images"]
    assert done["creditCost"] == 14
    pictures = [(await client.get(url)).content for url in done["output"]["images"]]
    assert pictures[0] != pictures[1]
    assert decode(pictures[0]).size == (512, 341)
    assert sniff(pictures[0]) == "png"
    assert pixeldojo_fake.billed == 1


async def test_the_reference_can_come_from_apiframe_uploads(
    pixeldojo_fake: FakePixelDojo, client: httpx.AsyncClient
) -> None:
    async with FakeApiframe() as apiframe:
        uploaded = await client.post(
            apiframe.base_url + "/v2/uploads",
            files={"file": ("face.png", png(64, 64), "image/png")},
            headers={"X-API-Key": apiframe.api_key},
        )
        reference = uploaded.json()["url"]
        assert (await run(client, pixeldojo_fake, run_body(reference))).status_code == 202
        apiframe.expire_results()
        expired = await run(client, pixeldojo_fake, run_body(reference))
    assert expired.status_code == 400
    assert expired.json()["error"]["code"] == "invalid_reference_image"
    assert "404" in expired.json()["error"]["message"]
    assert pixeldojo_fake.billed == 1


async def test_unreachable_or_non_image_references_are_refused(
    pixeldojo_fake: FakePixelDojo, client: httpx.AsyncClient, image_host: ImageHost
) -> None:
    text = image_host.put("notes.txt", b"hello", "text/plain")
    missing = image_host.url("gone.png")
    unreachable = "http://127.0.0.1:9/face.png"  # the discard port: nothing listens
    for url in (text, missing, unreachable):
        response = await run(client, pixeldojo_fake, run_body(url))
        assert response.status_code == 400, url
        assert response.json()["error"]["code"] == "invalid_reference_image"
    assert image_host.hits == ["notes.txt", "gone.png"]
    assert [accepted for _, _, accepted in pixeldojo_fake.reference_fetches] == [False] * 3
    assert pixeldojo_fake.billed == 0
    assert pixeldojo_fake.jobs == {}


async def test_insufficient_credits_is_402_with_the_nested_error(
    client: httpx.AsyncClient, face_url: str
) -> None:
    async with FakePixelDojo(credits=4) as fake:
        refused = await run(client, fake, run_body(face_url))
        assert refused.status_code == 402
        assert refused.json()["error"]["code"] == "insufficient_credits"
        assert refused.json()["error"]["status"] == 402
        accepted = await run(client, fake, run_body(face_url, rendering_speed="Turbo"))
        assert accepted.json()["creditsRemaining"] == 1
        assert fake.billed == 1


async def test_429_carries_retry_after_and_rate_limit_headers(
    pixeldojo_fake: FakePixelDojo, client: httpx.AsyncClient, face_url: str
) -> None:
    pixeldojo_fake.fail_next(429)
    limited = await run(client, pixeldojo_fake, run_body(face_url))
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) > 0
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert (await run(client, pixeldojo_fake, run_body(face_url))).status_code == 202


@pytest.mark.parametrize(
    ("knob", "word"), [("reject_content", "Content policy"), ("fail_jobs", "failed")]
)
async def test_rejected_and_failed_jobs_report_an_error(
    pixeldojo_fake: FakePixelDojo, client: httpx.AsyncClient, face_url: str, knob: str, word: str
) -> None:
    setattr(pixeldojo_fake, knob, True)
    pixeldojo_fake.polls_before_done = 0
    status_url = (await run(client, pixeldojo_fake, run_body(face_url))).json()["statusUrl"]
    failed = (await job(client, pixeldojo_fake, status_url)).json()
    assert failed["status"] == "failed"
    assert word in failed["error"]
    assert "output" not in failed
    assert pixeldojo_fake.billed == 1


async def test_expired_results_are_404(
    pixeldojo_fake: FakePixelDojo, client: httpx.AsyncClient, face_url: str
) -> None:
    pixeldojo_fake.polls_before_done = 0
    submitted = (await run(client, pixeldojo_fake, run_body(face_url))).json()
    done = (await job(client, pixeldojo_fake, submitted["statusUrl"])).json()
    [url] = done["output"]["images"]
    assert (await client.get(url)).status_code == 200
    pixeldojo_fake.expire_results()
    assert (await client.get(url)).status_code == 404
    after = (await job(client, pixeldojo_fake, submitted["statusUrl"])).json()
    assert after["expiresAt"] < submitted["expiresAt"]


async def test_an_unknown_job_is_404(
    pixeldojo_fake: FakePixelDojo, client: httpx.AsyncClient
) -> None:
    response = await job(client, pixeldojo_fake, pixeldojo_fake.base_url + "/jobs/job_nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
