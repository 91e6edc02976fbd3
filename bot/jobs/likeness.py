"""Likeness of each delivered picture to its character's reference (see bot/vision/likeness.py
for the measure): scored before the pictures are posted, so each carries its badge.

Photographs only: a reference with no photographed face, or a scene asked in a drawn style,
gets no score ("not scored: drawn or stylised character"), and a result with no face gets
"no face found", never a failing score. A reference's embedding is computed once and kept
with the picture (for the face models that made it).
"""

from __future__ import annotations

from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from bot.errors import CameoError
from bot.models import PERSONAL_SCOPE, Job, JobKind, Viewer
from bot.providers.request import SceneOptions, Style
from bot.vision.service import FACE_MODELS, Vision
from storage import likeness as repo
from storage.database import Database
from storage.likeness import LikenessSettings

# Reads a stored picture by its hash (None if it is gone).
ImageReader = Callable[[str], Awaitable[bytes | None]]
# Ideogram's styles that ask for a drawing rather than a photograph.
DRAWN_STYLES = frozenset({Style.FICTION, Style.DESIGN})
NOT_SCORED = "not scored: drawn or stylised character"
NO_FACE = "no face found"


@dataclass(frozen=True)
class Likeness:
    score: float | None  # cosine similarity to the reference; None when not scored
    note: str | None = None  # why there is no score


def band(score: float, settings: LikenessSettings) -> str:
    """The score in words: strong, likely or weak (the server's thresholds)."""
    if score >= settings.strong:
        return "strong"
    return "likely" if score >= settings.likely else "weak"


def similarity(reference: bytes, result: bytes) -> float:
    """Cosine similarity of two unit-length float32 embeddings."""
    return float(sum(a * b for a, b in zip(array("f", reference), array("f", result), strict=True)))


class LikenessScorer:
    def __init__(self, db: Database, vision: Vision, read_image: ImageReader) -> None:
        self.db = db
        self.vision = vision
        self.read_image = read_image

    async def configure(
        self,
        viewer: Viewer,
        *,
        mode: str | None = None,
        strong: float | None = None,
        likely: float | None = None,
        payer: str | None = None,
    ) -> LikenessSettings:
        """A server's staff switch likeness off, on, or on with second tries for weak pictures
        (and say who pays for them), and move the bands' thresholds."""
        if viewer.guild_id is None or viewer.scope == PERSONAL_SCOPE:
            raise CameoError("Likeness is set per server: use this in a server.")
        if not viewer.can_manage_guild:
            raise CameoError("Only members with the Manage Server permission can change this.")
        guild = viewer.guild_id
        current = await self.settings(guild)
        wanted = LikenessSettings(
            mode if mode is not None else current.mode,
            strong if strong is not None else current.strong,
            likely if likely is not None else current.likely,
            payer if payer is not None else current.reroll_payer,
        )
        if not 0 < wanted.likely < wanted.strong < 1:
            raise CameoError(
                f"The thresholds must rise from likely to strong, between 0 and 1 (now likely "
                f"{wanted.likely:.2f}, strong {wanted.strong:.2f})."
            )
        await self.db.run_transaction(partial(repo.save_settings, guild_id=guild, settings=wanted))
        return wanted

    async def settings(self, guild_id: int | None) -> LikenessSettings:
        if guild_id is None:
            return repo.DEFAULT_SETTINGS
        return await self.db.run_read(partial(repo.settings_of, guild_id=guild_id))

    async def score(
        self, job: Job, pictures: list[bytes], settings: LikenessSettings | None = None
    ) -> list[Likeness] | None:
        """Each picture's likeness, in order; None when the server has likeness off (or the
        job is not a scene of a character). `settings`: the server's, if already read."""
        if job.kind is not JobKind.SCENE or not pictures:
            return None
        if (settings or await self.settings(job.guild_id)).mode == "off":
            return None
        options = job.options
        drawn = isinstance(options, SceneOptions) and options.style in DRAWN_STYLES
        reference = None if drawn else await self._reference(job.reference_sha256)
        if reference is None:
            return [Likeness(None, NOT_SCORED)] * len(pictures)
        found = []
        for picture in pictures:
            face = await self.vision.face_embedding(picture)
            found.append(
                Likeness(None, NO_FACE) if face is None else Likeness(similarity(reference, face))
            )
        return found

    async def _reference(self, sha256: str | None) -> bytes | None:
        if sha256 is None:
            return None
        known, embedding = await self.db.run_read(
            partial(repo.embedding_of, sha256=sha256, models=FACE_MODELS)
        )
        if known:
            return embedding
        picture = await self.read_image(sha256)
        if picture is None:
            return None
        embedding = await self.vision.face_embedding(picture, reference=True)
        await self.db.run_transaction(
            partial(repo.save_embedding, sha256=sha256, models=FACE_MODELS, embedding=embedding)
        )
        return embedding
