import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.providers.apiframe import ApiframeCharacter
from bot.providers.polling import PollPolicy
from bot.providers.signals import JobSignals
from bot.providers.webhooks import APIFRAME_PATH, WebhookReceiver
from tests.bot.providers.conftest import FAST_POLL, scene
from tests.fakes import FakeApiframe, webhook_signature


@pytest.fixture
async def receiver(apiframe_fake: FakeApiframe) -> AsyncIterator[WebhookReceiver]:
    listener = WebhookReceiver(apiframe_fake.api_key, JobSignals(), "127.0.0.1", 0)
    await listener.start()
    yield listener
    await listener.stop()


def webhook_url(receiver: WebhookReceiver) -> str:
    return f"http://127.0.0.1:{receiver.port}{APIFRAME_PATH}"


async def test_a_signed_event_wakes_the_poller_early(
    apiframe_fake: FakeApiframe, receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    slow_polls = PollPolicy(initial=20.0, factor=1.5, cap=20.0)
    client = ApiframeCharacter(
        http,
        apiframe_fake.base_url,
        apiframe_fake.api_key,
        slow_polls,
        webhook_url=webhook_url(receiver),
        signals=receiver._signals,
    )
    result = await asyncio.wait_for(client.generate(scene()), timeout=10)
    assert result.images
    body = next(r for r in apiframe_fake.requests if r.path == "/v2/images/generate").body
    assert body["webhookUrl"] == webhook_url(receiver)
    assert any(d.status == 204 for d in apiframe_fake.webhook_deliveries)


async def test_a_forged_event_is_refused(
    receiver: WebhookReceiver, apiframe_fake: FakeApiframe, http: httpx.AsyncClient
) -> None:
    event = receiver._signals.watch("job-1")
    body = b'{"event": "completed", "jobId": "job-1"}'
    forged = await http.post(
        webhook_url(receiver), content=body, headers={"X-Webhook-Signature": "sha256=00"}
    )
    assert forged.status_code == 401
    assert not event.is_set()
    genuine = await http.post(
        webhook_url(receiver),
        content=body,
        headers={"X-Webhook-Signature": webhook_signature(apiframe_fake.api_key, body)},
    )
    assert genuine.status_code == 204
    assert event.is_set()


async def test_polling_still_finishes_the_job_when_webhooks_never_arrive(
    apiframe_fake: FakeApiframe, http: httpx.AsyncClient
) -> None:
    client = ApiframeCharacter(
        http,
        apiframe_fake.base_url,
        apiframe_fake.api_key,
        FAST_POLL,
        webhook_url="http://127.0.0.1:9/webhooks/apiframe",  # nobody listens there
        signals=JobSignals(),
    )
    assert (await asyncio.wait_for(client.generate(scene()), timeout=10)).images
