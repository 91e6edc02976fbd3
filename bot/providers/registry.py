"""Build the configured service clients, in the operator's order of preference."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from bot.images.processing import ImageWorkers
from bot.providers.apiframe import ApiframeCharacter
from bot.providers.base import Provider
from bot.providers.pixeldojo import PixelDojoCharacter
from bot.providers.polling import PollPolicy
from bot.providers.router import ProviderRouter
from bot.providers.segmind import SegmindCharacter, SegmindPoses
from bot.providers.signals import JobSignals
from bot.providers.webhooks import WebhookReceiver
from bot.settings import Settings


def poll_policy(settings: Settings) -> PollPolicy:
    """Poll from the configured interval, growing by half each time, to at most 5 s."""
    initial = settings.provider_poll_seconds
    return PollPolicy(initial=initial, factor=1.5, cap=max(5.0, initial))


def build_providers(
    settings: Settings,
    client: httpx.AsyncClient,
    poll: PollPolicy | None = None,
    signals: JobSignals | None = None,
    images: ImageWorkers | None = None,
) -> list[Provider]:
    """Return a client for every enabled provider (each needs its key), in preference order."""

    def key(name: str) -> str:
        secret = settings.provider_key(name)
        assert secret is not None  # enabled_providers only lists providers with a key
        return secret.get_secret_value()

    images = images or ImageWorkers()  # one pool for every service's result checks

    # PixelDojo takes references only as URLs; Apiframe's uploads host them when we can.
    apiframe_key = settings.provider_key("apiframe")
    uploader = (
        ApiframeCharacter(
            client,
            settings.apiframe_base_url,
            apiframe_key.get_secret_value(),
            poll,
            images=images,
        )
        if apiframe_key is not None
        else None
    )
    providers: list[Provider] = []
    for name in settings.enabled_providers:
        if name == "segmind":
            providers.append(
                SegmindCharacter(client, settings.segmind_base_url, key(name), images=images)
            )
        elif name == "segmind-poses":
            providers.append(
                SegmindPoses(client, settings.segmind_base_url, key(name), poll, images=images)
            )
        elif name == "apiframe":
            providers.append(
                ApiframeCharacter(
                    client,
                    settings.apiframe_base_url,
                    key(name),
                    poll,
                    webhook_url=settings.apiframe_webhook_url,
                    signals=signals,
                    images=images,
                )
            )
        elif name == "pixeldojo":
            providers.append(
                PixelDojoCharacter(
                    client,
                    settings.pixeldojo_base_url,
                    key(name),
                    uploader.upload if uploader is not None else None,
                    poll,
                    images=images,
                )
            )
    return providers


def build_router(
    settings: Settings,
    client: httpx.AsyncClient,
    poll: PollPolicy | None = None,
    images: ImageWorkers | None = None,
) -> ProviderRouter:
    return ProviderRouter(build_providers(settings, client, poll, images=images))


@contextlib.asynccontextmanager
async def open_router(
    settings: Settings,
    client: httpx.AsyncClient,
    poll: PollPolicy | None = None,
    images: ImageWorkers | None = None,
) -> AsyncIterator[ProviderRouter]:
    """Build the router and, when a webhook address is configured, run the webhook listener."""
    apiframe_key = settings.provider_key("apiframe")
    if settings.apiframe_webhook_url is None or apiframe_key is None:
        yield build_router(settings, client, poll, images)
        return
    signals = JobSignals()
    host, port = settings.webhook_host_port
    receiver = WebhookReceiver(apiframe_key.get_secret_value(), signals, host, port)
    await receiver.start()
    try:
        yield ProviderRouter(build_providers(settings, client, poll, signals, images))
    finally:
        await receiver.stop()
