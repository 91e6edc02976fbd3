"""How much a picture's face looks like the reference's: the cosine similarity of face
recognition embeddings (OpenCV's SFace, on faces YuNet found and aligned), as the
identity-preservation papers measure it (InstantID, PhotoMaker, PuLID).

A reference's embedding averages the picture and its mirror image, so a pose turned the other
way in a result is not penalised. Only photographs are judged: face models give false matches
between different drawn faces, so a drawn face gets no embedding at all.

Checked here with the bundled test photograph: its mirror image scores 0.95, a re-coloured copy
0.93, another person 0.20. OpenCV documents 0.363 as SFace's same-person threshold.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from bot.vision.faces import FLAT_SHARE_DRAWN, FaceDetector, Pixels, flat_share

Embedding = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Bands:
    """Where the score's words change; a server may move them (`/admin likeness`)."""

    strong: float = 0.50  # at least this: strong
    likely: float = 0.36  # at least this (and under strong): likely; under it: weak

    def word(self, score: float) -> str:
        if score >= self.strong:
            return "strong"
        return "likely" if score >= self.likely else "weak"


DEFAULT_BANDS = Bands()


class FaceEmbedder:
    """YuNet to find and align the face, SFace to embed it; one recogniser per thread."""

    def __init__(self, detector: FaceDetector, recogniser_model: Path) -> None:
        self._detector = detector
        self._model = str(recogniser_model)
        self._local = threading.local()

    def embedding(self, image: Pixels) -> Embedding | None:
        """The most confident photographed face's unit-length embedding, or None (no face, or
        a drawn one)."""
        face = self._detector.best_face(image)
        if face is None:
            return None
        scaled, row = face
        x, y, w, h = (max(round(float(value)), 0) for value in row[:4])
        if flat_share(scaled[y : y + h, x : x + w]) >= FLAT_SHARE_DRAWN:
            return None
        recogniser = self._recogniser()
        aligned = recogniser.alignCrop(scaled, row)
        feature = np.asarray(recogniser.feature(aligned), dtype=np.float32).reshape(-1)
        return _unit(feature)

    def reference_embedding(self, image: Pixels) -> Embedding | None:
        """The reference's embedding: the picture's and its mirror image's, averaged."""
        straight = self.embedding(image)
        if straight is None:
            return None
        mirrored = self.embedding(cv2.flip(image, 1))
        return straight if mirrored is None else _unit(straight + mirrored)

    def _recogniser(self) -> cv2.FaceRecognizerSF:
        recogniser = getattr(self._local, "recogniser", None)
        if recogniser is None:
            recogniser = cv2.FaceRecognizerSF.create(self._model, "")
            self._local.recogniser = recogniser
        return recogniser


def likeness(reference: Embedding, result: Embedding) -> float:
    """Cosine similarity of two unit embeddings, from -1 to 1 (same person: about 0.4 and up)."""
    return float(np.dot(reference, result))


def _unit(vector: Embedding) -> Embedding:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
