"""The domain services, built once from the shared resources by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bot.characters.looks import LookService
from bot.characters.service import CharacterService
from bot.characters.sharing import SharingService
from bot.clock import Clock, SystemClock
from bot.gallery.service import GalleryService
from bot.images.blobs import Blobs, BucketBlobs, LocalBlobs
from bot.images.processing import ImageWorkers
from bot.images.store import ImageStore
from bot.jobs.likeness import LikenessScorer
from bot.jobs.results import ResultService
from bot.jobs.runner import JobRunner, RunnerLimits
from bot.jobs.service import JobService
from bot.moderation.blocks import MemberBlocks
from bot.moderation.reports import ReportService
from bot.moderation.service import ModerationService
from bot.net.safe_fetch import SafeImageFetcher
from bot.prefs.service import PrefsService
from bot.privacy import PrivacyService
from bot.providers.router import ProviderRouter
from bot.providers.status import ProviderStatusService
from bot.quota.service import QuotaService
from bot.settings import Settings, SettingsError
from bot.stories.service import StoryService
from bot.vision.service import load_vision
from storage.database import Database


@dataclass(frozen=True)
class Services:
    characters: CharacterService
    images: ImageStore
    privacy: PrivacyService
    router: ProviderRouter
    runner: JobRunner
    jobs: JobService
    results: ResultService
    quota: QuotaService
    provider_status: ProviderStatusService
    gallery: GalleryService
    stories: StoryService
    looks: LookService
    sharing: SharingService
    prefs: PrefsService
    moderation: ModerationService
    blocks: MemberBlocks
    reports: ReportService


@dataclass(frozen=True)
class Resources:
    """What the bot's services share for the life of the process (opened by the composition
    root, `bot.app`, and handed to the Discord client)."""

    settings: Settings
    db: Database
    http: httpx.AsyncClient
    services: Services


def image_blobs(settings: Settings) -> Blobs:
    """Where stored images live: CAMEO_IMAGE_STORE's bucket, or the local folder."""
    bucket = settings.image_bucket
    if bucket is None:
        return LocalBlobs(settings.images_dir)
    secret = settings.s3_secret_access_key
    try:
        return BucketBlobs.open(
            bucket,
            endpoint=settings.s3_endpoint,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
        )
    except ImportError:
        raise SettingsError(
            "CAMEO_IMAGE_STORE names a bucket, but this installation has no S3 support: install "
            "Cameo with its s3 extra (pip install 'cameo[s3]'; make run and the Docker image "
            "include it)."
        ) from None
    except Exception as error:  # obstore's configuration errors; their text may hold values
        raise SettingsError(
            f"CAMEO_IMAGE_STORE: {bucket} cannot be used with the CAMEO_S3_* settings given "
            f"({type(error).__name__})."
        ) from None


def build_services(
    settings: Settings,
    db: Database,
    router: ProviderRouter,
    *,
    clock: Clock | None = None,
    workers: ImageWorkers | None = None,
    fetcher: SafeImageFetcher | None = None,
) -> Services:
    clock = clock or SystemClock()
    # The one bounded pool for Pillow work; the composition root shares it with the services'
    # clients, which check results through it.
    workers = workers or ImageWorkers()
    quota = QuotaService(
        db,
        clock,
        daily_credits=settings.daily_credits,
        reset_hour=settings.quota_reset_hour,
        providers=router.names,
    )
    images = ImageStore(image_blobs(settings), db)
    moderation = ModerationService(db, clock)
    # Faces (consent) and the age-restricted check, where the vision extra is installed.
    vision = load_vision()
    characters = CharacterService(
        db, images, workers, clock, fetcher=fetcher, moderation=moderation, vision=vision
    )
    # The Discord layer attaches the runner's listener when its cog loads.
    runner = JobRunner(
        db,
        images,
        workers,
        router,
        quota,
        None,
        clock,
        RunnerLimits(lease_seconds=settings.job_lease_seconds),
        safety=vision if settings.safety_check else None,
    )
    if vision is not None:
        runner.likeness = LikenessScorer(db, vision, runner.read_stored)
    looks = LookService(characters)
    prefs = PrefsService(db, clock)
    jobs = JobService(
        db,
        images,
        characters,
        workers,
        router,
        quota,
        runner,
        clock,
        looks=looks,
        prefs=prefs,
        moderation=moderation,
    )
    gallery = GalleryService(db, images, characters, workers)
    stories = StoryService(db, images, characters, clock, moderation=moderation)
    results = ResultService(db, images, characters, looks)
    blocks = MemberBlocks(moderation, jobs)
    return Services(
        characters=characters,
        images=images,
        privacy=PrivacyService(characters, jobs, quota, gallery, stories, prefs, moderation),
        router=router,
        runner=runner,
        jobs=jobs,
        results=results,
        quota=quota,
        provider_status=ProviderStatusService(router),
        gallery=gallery,
        stories=stories,
        looks=looks,
        sharing=SharingService(characters, jobs),
        prefs=prefs,
        moderation=moderation,
        blocks=blocks,
        reports=ReportService(
            db, clock, jobs=jobs, results=results, characters=characters, blocks=blocks
        ),
    )
