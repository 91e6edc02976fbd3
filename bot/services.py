"""The domain services, built once from the shared resources by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from bot.characters import CharacterService
from bot.clock import Clock, SystemClock
from bot.image_store import ImageStore
from bot.images import ImageWorkers
from bot.job_runner import JobRunner
from bot.jobs import JobService
from bot.privacy import PrivacyService
from bot.providers.router import ProviderRouter
from bot.quota_hooks import QuotaHooks, UnlimitedQuota
from bot.results import ResultService
from bot.settings import Settings
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


def build_services(
    settings: Settings,
    db: Database,
    router: ProviderRouter,
    *,
    quota: QuotaHooks | None = None,
    clock: Clock | None = None,
) -> Services:
    clock = clock or SystemClock()
    quota = quota or UnlimitedQuota()
    images = ImageStore(settings.images_dir, db)
    workers = ImageWorkers()
    characters = CharacterService(db, images, workers, clock)
    # The Discord layer attaches the runner's listener when its cog loads.
    runner = JobRunner(db, images, router, quota, None, clock)
    jobs = JobService(db, images, characters, workers, router, quota, runner, clock)
    return Services(
        characters=characters,
        images=images,
        privacy=PrivacyService(characters, jobs),
        router=router,
        runner=runner,
        jobs=jobs,
        results=ResultService(db, images, characters),
    )
