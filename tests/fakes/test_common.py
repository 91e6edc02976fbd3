"""The machinery the three fakes share: knobs, the request log, latency, injected failures."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes import FakeApiframe, FakePixelDojo, FakeSegmind, FakeService

# Built in code so no committed line looks like a real key.
FAKE_SEGMIND_KEY = "SG_" + "0123456789abcdef"

REFERENCE = "https://cdn.example.test/mira.png"
SEGMIND_BODY = {"prompt": "Mira", "character_reference_image": REFERENCE}


async def segmind_v1(
    client: httpx.AsyncClient, fake: FakeSegmind, **kwargs: object
) -> httpx.Response:
    return await client.post(
        fake.base_url + "/v1/ideogram-character",
        json=SEGMIND_BODY,
        headers={"x-api-key": fake.api_key},
        **kwargs,  # type: ignore[arg-type]
    )


async def test_the_fixtures_yield_started_fakes_on_loopback(
    segmind_fake: FakeSegmind, apiframe_fake: FakeApiframe, pixeldojo_fake: FakePixelDojo
) -> None:
    fakes: list[FakeService] = [segmind_fake, apiframe_fake, pixeldojo_fake]
    assert len({fake.port for fake in fakes}) == 3
    for fake in fakes:
        assert fake.base_url.startswith(f"http://127.0.0.1:{fake.port}")
        assert fake.billed == 0
        assert fake.requests == []
        assert fake.jobs == {}


async def test_a_fake_can_be_started_and_stopped_by_hand(client: httpx.AsyncClient) -> None:
    fake = FakeSegmind(api_key=FAKE_SEGMIND_KEY)
    await fake.start()
    try:
        assert (await segmind_v1(client, fake)).status_code == 200
    finally:
        await fake.stop()
    with pytest.raises(httpx.ConnectError):
        await segmind_v1(client, fake)


async def test_the_request_log_keeps_method_path_headers_and_body(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    await segmind_v1(client, segmind_fake)
    await client.get(segmind_fake.base_url + "/v1/get-user-credits")
    first, second = segmind_fake.requests
    method, path, headers, body = first
    assert (method, path, body) == ("POST", "/v1/ideogram-character", SEGMIND_BODY)
    assert headers["X-Api-Key"] == headers["x-api-key"] == segmind_fake.api_key  # any case
    assert (second.method, second.path, second.body) == ("GET", "/v1/get-user-credits", None)


async def test_unparseable_json_is_a_400_and_is_logged_as_text(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        segmind_fake.base_url + "/v1/ideogram-character",
        content=b"{not json",
        headers={"x-api-key": segmind_fake.api_key, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert segmind_fake.requests[-1].body == "{not json"


async def test_fail_next_counts_and_filters_by_path(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    segmind_fake.fail_next(500, count=2, path="/v1/ideogram-character")
    credits = await client.get(
        segmind_fake.base_url + "/v1/get-user-credits", headers={"x-api-key": segmind_fake.api_key}
    )
    assert credits.status_code == 200  # other paths are untouched
    statuses = [(await segmind_v1(client, segmind_fake)).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert segmind_fake.billed == 1
    assert len(segmind_fake.requests) == 4  # failed requests are logged too


async def test_fail_next_can_send_a_gateway_s_html_page(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient
) -> None:
    apiframe_fake.fail_next(502, body="<html><body>502 Bad Gateway</body></html>")
    response = await client.get(
        apiframe_fake.base_url + "/v2/me", headers={"X-API-Key": apiframe_fake.api_key}
    )
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "Bad Gateway" in response.text


async def test_latency_delays_the_answer_but_the_work_is_done(
    segmind_fake: FakeSegmind, client: httpx.AsyncClient
) -> None:
    segmind_fake.latency = 0.5
    with pytest.raises(httpx.ReadTimeout):
        await segmind_v1(client, segmind_fake, timeout=0.1)
    # Like a slow real service: the client gave up, but the generation was charged.
    assert segmind_fake.billed == 1


@pytest.mark.parametrize(
    ("polls", "expected"),
    [
        (0, ["COMPLETED"]),
        (1, ["PROCESSING", "COMPLETED"]),
        (3, ["QUEUED", "PROCESSING", "PROCESSING", "COMPLETED"]),
    ],
)
async def test_polls_before_done_shapes_the_sequence(
    apiframe_fake: FakeApiframe, client: httpx.AsyncClient, polls: int, expected: list[str]
) -> None:
    apiframe_fake.polls_before_done = polls
    headers = {"X-API-Key": apiframe_fake.api_key}
    body = {
        "prompt": "Mira",
        "model": "ideogram-character",
        "ideogramParams": {"character_reference_image": REFERENCE},
    }
    submitted = await client.post(
        apiframe_fake.base_url + "/v2/images/generate", json=body, headers=headers
    )
    job_url = f"{apiframe_fake.base_url}/v2/jobs/{submitted.json()['jobId']}"
    seen = [(await client.get(job_url, headers=headers)).json()["status"] for _ in expected]
    assert seen == expected


async def test_unknown_routes_and_methods_answer_in_the_service_s_shape(
    pixeldojo_fake: FakePixelDojo, client: httpx.AsyncClient
) -> None:
    headers = {"Authorization": f"Bearer {pixeldojo_fake.api_key}"}
    missing = await client.get(pixeldojo_fake.base_url + "/nowhere", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["status"] == 404
    wrong_method = await client.get(
        pixeldojo_fake.base_url + "/models/ideogram-character/run", headers=headers
    )
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["status"] == 405
