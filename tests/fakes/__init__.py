"""Loopback fakes of the image services Cameo drives, for the tests.

Each fake is an aiohttp server on 127.0.0.1 that speaks one service's documented API
(reference/providers.md): its auth header, validation, error shapes, credits, async job
lifecycle and short-lived result URLs, with knobs for the failures a client must survive.

    async with FakeSegmind() as fake:
        settings = ...(segmind_base_url=fake.base_url, segmind_api_key=fake.api_key)
        fake.fail_next(429, headers={"Retry-After": "1"})
        ...
        assert fake.billed == 1

The pytest fixtures `segmind_fake`, `apiframe_fake`, `pixeldojo_fake` and `image_host` live in
`tests.fakes.fixtures` (load it with `pytest_plugins`).
"""

from .apiframe import FakeApiframe, WebhookDelivery, webhook_signature
from .base import FakeJob, FakeService, RecordedRequest
from .imagehost import ImageHost
from .pixeldojo import FakePixelDojo
from .segmind import FakeSegmind

__all__ = [
    "FakeApiframe",
    "FakeJob",
    "FakePixelDojo",
    "FakeSegmind",
    "FakeService",
    "ImageHost",
    "RecordedRequest",
    "WebhookDelivery",
    "webhook_signature",
]
