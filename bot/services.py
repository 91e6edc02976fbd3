"""The domain services, built once from the shared resources by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from bot.characters import CharacterService
from bot.clock import Clock, SystemClock
from bot.image_store import ImageStore
from bot.images import ImageWorkers
from bot.privacy import PrivacyService
from bot.settings import Settings
from storage.database import Database


@dataclass(frozen=True)
class Services:
    characters: CharacterService
    images: ImageStore
    privacy: PrivacyService


def build_services(settings: Settings, db: Database, clock: Clock | None = None) -> Services:
    clock = clock or SystemClock()
    images = ImageStore(settings.images_dir, db)
    characters = CharacterService(db, images, ImageWorkers(), clock)
    return Services(
        characters=characters,
        images=images,
        privacy=PrivacyService(characters),
    )
