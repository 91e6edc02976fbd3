"""The composition root: builds every resource once, hands them to the bot, closes them after."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

import httpx

from bot import __version__
from bot.client.cameo_bot import CameoBot, ShardedCameoBot
from bot.client.endpoints import discord_endpoints
from bot.client.gateway_fairness import fair_gateway
from bot.client.sharding import ShardPlan, describe
from bot.images.blobs import OWNER_MARKER, BucketBlobs
from bot.images.processing import ImageWorkers
from bot.net.safe_fetch import SafeImageFetcher
from bot.observability.metrics import DATABASE_LOCK_WAIT
from bot.observability.server import Health, OperatorEndpoints
from bot.providers.registry import open_router, poll_policy
from bot.services import Resources, Services, build_services
from bot.settings import Settings, SettingsError
from storage import meta
from storage.database import exclusive_data_dir, open_database

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    """Open the database and the one HTTP client, and close both when the block ends."""
    with contextlib.ExitStack() as owned:
        if settings.postgres_url is None:
            # SQLite is one host's: a second process on the same files would race on them. With
            # PostgreSQL, processes share the database by design and the lock is not used.
            owned.enter_context(exclusive_data_dir(settings.data_dir))
        images = settings.images_dir
        if (
            settings.postgres_url is None
            and settings.image_bucket is None
            and not images.resolve().is_relative_to(settings.data_dir.resolve())
        ):
            # Pictures outside the data directory are this process's alone too: another bot
            # with its own database would sweep them away as unknown.
            owned.enter_context(
                exclusive_data_dir(images, what="image folder", setting="CAMEO_IMAGE_STORE")
            )
        async with _open_resources(settings) as resources:
            yield resources


@contextlib.asynccontextmanager
async def _open_resources(settings: Settings) -> AsyncIterator[Resources]:
    workers = ImageWorkers()
    async with (
        open_database(settings.database_target) as db,
        httpx.AsyncClient(
            timeout=httpx.Timeout(60.0, connect=5.0),
            headers={"User-Agent": f"Cameo/{__version__}"},
            follow_redirects=False,
        ) as http,
        open_router(settings, http, poll_policy(settings), workers) as router,
        # Its own client: avatar downloads go only to checked addresses, never via a proxy.
        SafeImageFetcher(images=workers) as fetcher,
    ):
        db.report_lock_waits(DATABASE_LOCK_WAIT.observe)
        services = build_services(settings, db, router, workers=workers, fetcher=fetcher)
        await _check_image_store(settings, services)
        yield Resources(settings=settings, db=db, http=http, services=services)


async def _check_image_store(settings: Settings, services: Services) -> None:
    """A bucket that cannot be used is found at start, not at the first member's upload; and
    a bucket prefix belongs to one Cameo database, as a data directory does (blobs.py)."""
    bucket = settings.image_bucket
    blobs = services.images.blobs
    if bucket is None or not isinstance(blobs, BucketBlobs):
        return
    ours = await meta.database_id(services.images.db)
    try:
        await blobs.listing("00")
        owner = await blobs.claim(ours)
    except Exception as error:  # whatever the bucket's client raised; never its settings
        raise SettingsError(
            f"Cameo could not use {bucket} ({type(error).__name__}: {_first_line(error)}). Check "
            "CAMEO_S3_ENDPOINT, CAMEO_S3_REGION, the credentials and that the bucket exists."
        ) from None
    if owner != ours:
        raise SettingsError(
            f"{bucket} holds another Cameo's pictures (its {OWNER_MARKER} object names another "
            "database). Give this bot a prefix of its own, for example "
            f"{bucket.rstrip('/')}-2; two databases sharing pictures would delete each "
            "other's."
        )


def _first_line(error: Exception) -> str:
    """The start of an error's message, which for a bucket names what went wrong (never the
    credentials: obstore does not put them in messages)."""
    return str(error).strip().splitlines()[0][:200] if str(error).strip() else "no detail"


@contextlib.asynccontextmanager
async def running_bot(
    settings: Settings, *, role: str = "all", **bot_options: object
) -> AsyncIterator[CameoBot]:
    """Start the bot in the background for the block; shut it down cleanly afterwards.

    `serve()` uses this in production and the end-to-end tests use it against the loopback
    Discord, so both exercise the same wiring. If the bot stops on its own (bad token, fatal
    gateway close), the error is raised when the block exits.
    """
    assert settings.discord_token is not None
    token = settings.discord_token.get_secret_value()
    with discord_endpoints(settings.discord_api_base, settings.discord_gateway), fair_gateway():
        async with open_resources(settings) as resources:
            sharded = "shard_ids" in bot_options
            bot = (ShardedCameoBot if sharded else CameoBot)(resources, role=role, **bot_options)
            async with bot, operator_endpoints(settings, resources, bot):
                life = bot.work(token) if role == "worker" else bot.start(token)
                runner = asyncio.create_task(life, name="cameo-discord-client")
                bot.runner = runner
                try:
                    yield bot
                finally:
                    await bot.shutdown()
                    await _finish(runner)


@contextlib.asynccontextmanager
async def operator_endpoints(
    settings: Settings, resources: Resources, bot: CameoBot
) -> AsyncIterator[None]:
    """Serve /healthz and /metrics for the block, unless CAMEO_METRICS_LISTEN is "off"."""
    address = settings.metrics_host_port
    if address is None:
        yield
        return
    if bot.role == "worker":
        health = Health(ready=bot.is_working, gateway_connected=None)
    else:
        health = Health(ready=bot.is_ready, gateway_connected=bot.gateway_connected)
    endpoints = OperatorEndpoints(resources.db, health, *address)
    try:
        await endpoints.start()
    except OSError as error:
        raise SettingsError(
            f"Cameo could not serve /healthz and /metrics on {settings.metrics_listen} ({error}). "
            'Set CAMEO_METRICS_LISTEN to a free HOST:PORT, or to "off".'
        ) from None
    bot.operator_endpoints = endpoints
    try:
        yield
    finally:
        await endpoints.stop()


async def _finish(runner: asyncio.Task[None]) -> None:
    if not runner.done():
        try:
            await asyncio.wait_for(runner, timeout=10)
        except TimeoutError:
            log.warning("The Discord client did not stop within 10 s; cancelling it")
            runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        runner.result()


async def serve(settings: Settings, shards: ShardPlan | None = None, role: str = "all") -> None:
    """Run the bot until SIGTERM or SIGINT, then shut down gracefully; with `shards`, those
    gateway shards in this process; `role` gateway or worker for only half the work."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        options: dict[str, object] = {}
        if shards is not None:
            options = {"shard_ids": list(shards.shard_ids), "shard_count": shards.shard_count}
            log.info("Running %s", describe(shards.shard_ids, shards.shard_count))
        if role != "all":
            log.info("Running as a %s", role)
        async with running_bot(settings, role=role, **options) as bot:
            assert bot.runner is not None
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait([bot.runner, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if stop.is_set():
                log.info("Received a stop signal; shutting down")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("Cameo stopped cleanly")
