"""Fixtures for the job service's tests: a real database, image store and runner, with the
fake Segmind as the one image service (the runner is started by the tests that need it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.characters.service import CharacterService
from bot.clock import SystemClock
from bot.images.processing import ImageWorkers
from bot.images.store import ImageStore
from bot.jobs.runner import JobRunner
from bot.jobs.service import JobService
from bot.providers.router import ProviderRouter
from bot.providers.segmind import SegmindCharacter
from storage.database import Database, open_database
from tests.bot.jobs.test_job_runner import Listener, generous_quota
from tests.fakes import FakeSegmind


@pytest.fixture
async def db(database_target: str | Path) -> AsyncIterator[Database]:
    async with open_database(database_target) as database:
        yield database


@pytest.fixture
async def setup(  # type: ignore[no-untyped-def]
    db: Database, tmp_path: Path, segmind_fake: FakeSegmind
) -> AsyncIterator[tuple[JobService, CharacterService, Listener, JobRunner]]:
    store = ImageStore(tmp_path / "images", db)
    workers = ImageWorkers()
    characters = CharacterService(db, store, workers, SystemClock())
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        router = ProviderRouter(
            [SegmindCharacter(http, segmind_fake.base_url, segmind_fake.api_key)]
        )
        holder: list[JobRunner] = []
        listener = Listener(holder)
        quota = generous_quota(db, router)
        runner = JobRunner(db, store, workers, router, quota, listener, SystemClock())
        holder.append(runner)
        service = JobService(db, store, characters, workers, router, quota, runner, SystemClock())
        yield service, characters, listener, runner
        await runner.stop()
