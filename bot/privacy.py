"""`/privacy forget-me`: delete everything Cameo stores about one member, in every feature."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from bot.characters.service import CharacterService, ErasedCharacters, ForgetReport
from bot.gallery.service import GalleryService
from bot.jobs.service import ErasedJobs, JobService
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
        # One mutation of the one image store covers the files of both.
        assert jobs.store is characters.store, "jobs and characters share one image store"

    async def forget(self, user_id: int) -> ForgottenData:
        """Erase the member from every feature in one transaction, so forget-me is all or
        nothing and waits for the database once (a member who owns more than a step's worth of
        characters gets the rest in further steps, so nobody else waits long)."""

        def erase(conn: sqlite3.Connection) -> tuple[ErasedJobs, ErasedCharacters]:
            # Jobs first: they hold the characters' references until they are gone, and their
            # holds are refunded before the ledger goes.
            jobs = self._jobs.erase_member(conn, user_id)
            self._quota.erase_member(conn, user_id)
            characters = self._characters.erase_member(conn, user_id)
            self._stories.erase_member(conn, user_id)
            self._prefs.erase_member(conn, user_id)
            self._moderation.erase_member(conn, user_id)
            return jobs, characters

        async with self._characters.store.mutation():
            jobs, first = await self._characters.db.run_transaction(erase)
            await self._jobs.discard(jobs)
            await self._characters.discard(first)
        await self._jobs.stop_running(jobs)
        rest = await self._characters.forget(user_id) if first.more else ForgetReport(0, 0)
        characters, images = first.characters + rest.characters, first.images + rest.images
        # Their pictures may be kept in memory too.
        self._jobs.runner.forget_references()
        self._gallery.forget_pictures()
        # Only the counts are logged: the point is to keep nothing about the member.
        log.info(
            "Forgot a member: %d characters, %d images, %d scene requests",
            characters,
            images,
            jobs.jobs,
        )
        return ForgottenData(characters=characters, images=images, jobs=jobs.jobs)
