"""Is this picture age-restricted (sexual content)? Yahoo's Open NSFW classifier, run with
onnxruntime: one session per process, shared by the vision workers (its `run` is safe to call
from several threads), each call on one core.

It scores sexual content only, not gore: gore stays with blocked terms and the services'
own content checks. Yahoo's guidance: below 0.2 is safe, above 0.8 is not safe.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import onnxruntime  # type: ignore[import-untyped]

from bot.vision.faces import Pixels

# A picture scoring at least this is age-restricted. Between Yahoo's two marks, leaning to
# holding a picture back (a member can ask again in an age-restricted channel).
FLAG_AT = 0.6
_MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)


class SafetyClassifier:
    """Loaded on first use (about 100 MB once loaded), so a bot with the check turned off
    never pays for it."""

    def __init__(self, model: Path) -> None:
        self._model = str(model)
        self._lock = threading.Lock()
        self._session: onnxruntime.InferenceSession | None = None

    def _loaded(self) -> onnxruntime.InferenceSession:
        with self._lock:
            if self._session is None:
                options = onnxruntime.SessionOptions()
                # Each worker runs one picture on one core: two workers, two cores.
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                self._session = onnxruntime.InferenceSession(
                    self._model, options, providers=["CPUExecutionProvider"]
                )
            return self._session

    def score(self, image: Pixels) -> float:
        """The probability the BGR picture is sexual content, from 0 to 1.

        Prepared as the model was trained (Yahoo's Caffe pipeline): resized to 256×256, the
        centre 224×224, the mean colour taken away, channels in BGR order, laid out NHWC.
        (Yahoo's own pipeline also re-encodes as JPEG first; scores move by under 0.01.)
        """
        resized = cv2.resize(image, (256, 256), interpolation=cv2.INTER_LINEAR)
        crop = resized[16:240, 16:240].astype(np.float32) - _MEAN_BGR
        session = self._loaded()
        (output,) = session.run(None, {session.get_inputs()[0].name: crop[np.newaxis]})
        return float(output[0][1])
