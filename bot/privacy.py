"""`/privacy forget-me`: delete everything Cameo stores about one member, in every feature."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.characters import CharacterService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForgottenData:
    """What was deleted, counted per kind, so the member can see it was done."""

    characters: int
    images: int

    @property
    def nothing(self) -> bool:
        return self.characters == 0 and self.images == 0


class PrivacyService:
    def __init__(self, characters: CharacterService) -> None:
        self._characters = characters

    async def forget(self, user_id: int) -> ForgottenData:
        characters = await self._characters.forget(user_id)
        # Only the counts are logged: the point is to keep nothing about the member.
        log.info(
            "Forgot a member: %d characters, %d images", characters.characters, characters.images
        )
        return ForgottenData(characters=characters.characters, images=characters.images)
