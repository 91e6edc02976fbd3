"""Is there a photograph of a real person's face in this picture?

OpenCV's YuNet finds faces. Face detectors also fire on drawn faces now and then, and a drawn
character needs no one's consent, so a found face is called photographic only when its skin is
not flat colour. The face is scaled to 128×128 and each pixel's 5×5 neighbourhood measured:
a photograph's skin has grain and light everywhere (under 3 levels of brightness spread in
4–10% of the face for the astronaut and Grace Hopper photographs, 16% blurred), while a
cel-shaded drawing's fills are flat (22–31% even after JPEG compression, which adds ringing).
A flat cartoon face is not found at all. Between the two, Cameo asks: a drawing wrongly taken
for a photograph costs a member one click, the other way round a person's consent.

A picture with no face is called a photograph by the same kind of measure on the whole picture
(at most 512 px): the share of pixels whose 3×3 neighbourhood is exactly flat (under one level
of spread). Photographs have grain everywhere, even in a dark background: 2–25% (Grace Hopper,
the astronaut, crops of both without a face), while drawn fills stay flat through JPEG: 92–100%.
It only decides whether a member is warned that likeness can't be scored, so a painted picture
taken for a photograph costs one click.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from cv2.typing import MatLike

# A face is "found" at this YuNet confidence; OpenCV's samples use 0.9, photographs of faces
# here score 0.93–0.94, and a lower bar asks about more pictures rather than fewer.
FACE_CONFIDENCE = 0.8
# Faces smaller than this share of the picture's shorter side are background people.
FACE_MIN_SHARE = 0.08
# From this share of flat pixels in the face up, it is drawn, not photographed.
FLAT_SHARE_DRAWN = 0.25
_FACE_SIDE = 128
_FLAT_SPREAD = 3.0  # brightness levels (of 255): the 5×5 neighbourhood's standard deviation
# Under this share of exactly flat pixels, a whole picture is a photograph (see above).
PHOTO_FLAT_MAX = 0.6
_PICTURE_SIDE = 512
_EXACTLY_FLAT = 1.0  # brightness levels: the 3×3 neighbourhood's standard deviation
# Pictures are looked at no larger than this (YuNet is trained on such sizes; faster too).
DETECT_SIDE = 640

Pixels = MatLike  # BGR, 8 bits a channel, as OpenCV decodes pictures


@dataclass(frozen=True)
class FaceFinding:
    faces: int  # confident faces, large enough to be the subject
    best_score: float  # YuNet's confidence in the most confident one (0 without faces)
    flat_share: float  # of the most confident one (1 without faces)
    picture_flat_share: float = 1.0  # of the whole picture, exactly flat (see above)

    @property
    def photographic_face(self) -> bool:
        """A real person's face, photographed: what needs their consent."""
        return self.faces > 0 and self.flat_share < FLAT_SHARE_DRAWN

    @property
    def photograph_without_face(self) -> bool:
        """A photograph in which no face was found: its likeness can't be measured."""
        return self.faces == 0 and self.picture_flat_share < PHOTO_FLAT_MAX


NO_FACE = FaceFinding(0, 0.0, 1.0)


class FaceDetector:
    """YuNet, one instance per thread (OpenCV's detector keeps per-call state)."""

    def __init__(self, model: Path) -> None:
        self._model = str(model)
        self._local = threading.local()

    def find(self, image: Pixels) -> FaceFinding:
        """The faces in a BGR picture (as `decode` gives)."""
        found = self._subjects(image)
        if found is None:
            return FaceFinding(0, 0.0, 1.0, exactly_flat_share(image))
        scaled, subjects = found
        best = max(subjects, key=lambda row: float(row[-1]))
        x, y, w, h = (round(float(value)) for value in best[:4])
        face = scaled[max(y, 0) : max(y, 0) + h, max(x, 0) : max(x, 0) + w]
        return FaceFinding(len(subjects), float(best[-1]), flat_share(face))

    def best_face(self, image: Pixels) -> tuple[Pixels, MatLike] | None:
        """The picture as detected (scaled to DETECT_SIDE at most) and YuNet's row for its most
        confident subject face (box, five landmarks, score), for the recogniser to align."""
        found = self._subjects(image)
        if found is None:
            return None
        scaled, subjects = found
        return scaled, max(subjects, key=lambda row: float(row[-1]))

    def _subjects(self, image: Pixels) -> tuple[Pixels, list[MatLike]] | None:
        height, width = image.shape[:2]
        scale = min(1.0, DETECT_SIDE / max(height, width))
        if scale < 1.0:
            image = cv2.resize(
                image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
            )
            height, width = image.shape[:2]
        detector = self._detector()
        detector.setInputSize((width, height))
        _, found = detector.detect(image)
        # OpenCV gives None, not an empty array, when it finds nothing (its stubs say otherwise).
        if found is None or not len(found):
            return None
        subjects = [
            row for row in found if min(row[2], row[3]) >= FACE_MIN_SHARE * min(height, width)
        ]
        return (image, subjects) if subjects else None

    def _detector(self) -> cv2.FaceDetectorYN:
        detector = getattr(self._local, "detector", None)
        if detector is None:
            detector = cv2.FaceDetectorYN.create(self._model, "", (320, 320), FACE_CONFIDENCE)
            self._local.detector = detector
        return detector


def flat_share(face: Pixels) -> float:
    """The share of the face's pixels whose 5×5 neighbourhood is flat in brightness."""
    if face.size == 0 or min(face.shape[:2]) < 5:
        return 1.0
    small = cv2.resize(face, (_FACE_SIDE, _FACE_SIDE), interpolation=cv2.INTER_AREA)
    brightness = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
    mean = cv2.blur(brightness, (5, 5))
    variance = np.maximum(cv2.blur(brightness * brightness, (5, 5)) - mean * mean, 0)
    return float((np.sqrt(variance) < _FLAT_SPREAD).mean())


def exactly_flat_share(image: Pixels) -> float:
    """The share of a whole picture's pixels whose 3×3 neighbourhood is exactly flat."""
    height, width = image.shape[:2]
    scale = min(1.0, _PICTURE_SIDE / max(height, width))
    if scale < 1.0:
        image = cv2.resize(
            image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
        )
    brightness = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    mean = cv2.blur(brightness, (3, 3))
    variance = np.maximum(cv2.blur(brightness * brightness, (3, 3)) - mean * mean, 0)
    return float((np.sqrt(variance) < _EXACTLY_FLAT).mean())


def decode(data: bytes) -> Pixels | None:
    """A stored picture (PNG, JPEG or WebP) as BGR pixels; None if OpenCV can't read it."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return pixels if pixels is not None and pixels.size else None
