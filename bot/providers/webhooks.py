"""Optional webhooks: services tell us a job finished, so we need not wait for the next poll.

Most bots have no public address, so polling is always the source of truth: a webhook only
wakes the poller early. Its payload is never trusted beyond "look at job X now": the signature
is checked on the raw body, and the job is then fetched from the service as usual.
"""

from __future__ import annotations

import logging

from aiohttp import web
from pydantic import Field, ValidationError

from bot.net.serving import serve
from bot.providers.answers import Answer
from bot.providers.apiframe import verify_webhook_signature
from bot.providers.signals import JobSignals

log = logging.getLogger(__name__)

APIFRAME_PATH = "/webhooks/apiframe"
MAX_WEBHOOK_BYTES = 64 * 1024


class ApiframeEvent(Answer):
    """A signed job event, as far as Cameo reads it: which job to look at now."""

    job_id: str | None = Field(default=None, alias="jobId")


class WebhookReceiver:
    """A small HTTP server for Apiframe's signed job events."""

    def __init__(self, apiframe_key: str, signals: JobSignals, host: str, port: int) -> None:
        self._key = apiframe_key
        self._signals = signals
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_WEBHOOK_BYTES)
        app.router.add_post(APIFRAME_PATH, self._apiframe)
        self._runner, self.port = await serve(app, self._host, self._port)
        log.info("Listening for Apiframe webhooks on %s:%s%s", self._host, self.port, APIFRAME_PATH)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _apiframe(self, request: web.Request) -> web.Response:
        body = await request.read()
        signature = request.headers.get("X-Webhook-Signature", "")
        if not signature or not verify_webhook_signature(self._key, body, signature):
            log.warning("Refused an Apiframe webhook with a bad signature")
            return web.Response(status=401)
        try:
            event = ApiframeEvent.model_validate_json(body)
        except ValidationError:
            return web.Response(status=400)
        if event.job_id is not None:
            self._signals.notify(event.job_id)
        return web.Response(status=204)
