"""The vision checks, run off the event loop a bounded number at a time, models loaded once per
process. `load_vision()` is None where the `vision` extra is not installed or a model file
fails its check; callers then say the check is unavailable."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from bot.vision.models import (
    FACE_DETECTOR,
    FACE_RECOGNISER,
    SAFETY_CLASSIFIER,
    ModelUnavailable,
)

if TYPE_CHECKING:
    from bot.vision.faces import FaceDetector, FaceFinding
    from bot.vision.likeness import FaceEmbedder
    from bot.vision.safety import SafetyClassifier

# Which face models made an embedding: a stored reference embedding is used only with these.
FACE_MODELS = f"{FACE_DETECTOR.sha256[:16]}:{FACE_RECOGNISER.sha256[:16]}"

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class SafetyVerdict:
    score: float  # 0 to 1: how likely the picture is sexual content
    age_restricted: bool


# The vision work runs on threads of its own, two of them on this two-core machine: the
# models' per-thread state (OpenCV's detector) then exists twice at most, and a burst of
# pictures waits its turn here instead of crowding the default pool the rest of the bot uses.
VISION_WORKERS = 2


@functools.cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=VISION_WORKERS, thread_name_prefix="vision")


class Vision:
    def __init__(
        self, faces: FaceDetector, safety: SafetyClassifier, embedder: FaceEmbedder
    ) -> None:
        self._faces = faces
        self._safety = safety
        self._embedder = embedder

    async def face_embedding(self, data: bytes, *, reference: bool = False) -> bytes | None:
        """A picture's photographed face as an embedding (float32 bytes), or None: no face,
        a drawn one, or a picture that can't be decoded. A reference's averages its mirror."""
        from bot.vision.faces import decode

        def work() -> bytes | None:
            pixels = decode(data)
            if pixels is None:
                return None
            embed = self._embedder.reference_embedding if reference else self._embedder.embedding
            found = embed(pixels)
            return None if found is None else found.tobytes()

        return await self._run(work)

    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(_executor(), work)

    async def find_faces(self, data: bytes) -> FaceFinding:
        """The faces in a stored picture (no face if it can't be decoded)."""
        from bot.vision.faces import NO_FACE, decode

        def work() -> FaceFinding:
            pixels = decode(data)
            return NO_FACE if pixels is None else self._faces.find(pixels)

        return await self._run(work)

    async def check_safety(self, data: bytes) -> SafetyVerdict:
        """Whether a picture is age-restricted; one that can't be decoded is held back."""
        from bot.vision.faces import decode
        from bot.vision.safety import FLAG_AT

        def work() -> float:
            pixels = decode(data)
            return 1.0 if pixels is None else self._safety.score(pixels)

        score = await self._run(work)
        return SafetyVerdict(score, score >= FLAG_AT)


def load_vision() -> Vision | None:
    """The checks, or None (logged once) when they can't run here. The models are loaded
    once per process; each caller gets its own bound on work (bound to its event loop)."""
    models = _load_models()
    return Vision(*models) if models is not None else None


@functools.cache
def _load_models() -> tuple[FaceDetector, SafetyClassifier, FaceEmbedder] | None:
    try:
        import cv2

        from bot.vision.faces import FaceDetector
        from bot.vision.likeness import FaceEmbedder
        from bot.vision.safety import SafetyClassifier
    except ImportError:
        log.warning(
            "The vision extra is not installed: faces are not checked (every reference picture "
            "asks for consent) and results get no age-restricted check. Install cameo[vision]."
        )
        return None
    try:
        faces = FaceDetector(FACE_DETECTOR.locate())
        safety = SafetyClassifier(SAFETY_CLASSIFIER.locate())
        embedder = FaceEmbedder(faces, FACE_RECOGNISER.locate())
    except ModelUnavailable as exc:
        log.error("Vision checks are off: %s", exc)  # noqa: TRY400 (the reason is the message)
        return None
    # Two workers on two cores: OpenCV's own threads would only fight them.
    cv2.setNumThreads(1)
    return faces, safety, embedder
