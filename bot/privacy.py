"""`/privacy forget-me`: delete everything Cameo stores about one member, in every feature."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.characters.service import CharacterService
from bot.gallery.service import GalleryService
from bot.jobs.service import JobService
from bot.moderation.service import ModerationService
from bot.prefs.service import PrefsService
from bot.quota.service import QuotaService
from bot.stories.service import StoryService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForgottenData:
    """What was deleted, counted per kind, so the member can see it was done."""

    characters: int
    images: int
    jobs: int = 0  # scene requests, with their results

    @property
    def nothing(self) -> bool:
        return self.characters == 0 and self.images == 0 and self.jobs == 0


class PrivacyService:
    def __init__(
        self,
        characters: CharacterService,
        jobs: JobService,
        quota: QuotaService,
        gallery: GalleryService,
        stories: StoryService,
        prefs: PrefsService,
        moderation: ModerationService,
    ) -> None:
        self._characters = characters
        self._jobs = jobs
        self._quota = quota
        self._gallery = gallery
        self._stories = stories
        self._prefs = prefs
        self._moderation = moderation

    async def forget(self, user_id: int) -> ForgottenData:
        # Jobs first: they hold the characters' references until they are gone.
        jobs = await self._jobs.forget(user_id)  # refunds their holds first
        await self._quota.forget(user_id)
        characters = await self._characters.forget(user_id)
        await self._stories.forget(user_id)
        await self._prefs.forget(user_id)
        await self._moderation.forget(user_id)
        # Their pictures may be kept in memory too.
        self._jobs.runner.forget_references()
        self._gallery.forget_pictures()
        # Only the counts are logged: the point is to keep nothing about the member.
        log.info(
            "Forgot a member: %d characters, %d images, %d scene requests",
            characters.characters,
            characters.images,
            jobs,
        )
        return ForgottenData(characters=characters.characters, images=characters.images, jobs=jobs)
