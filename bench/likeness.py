"""Likeness scoring on this machine: the face models' cost per picture, throughput, memory.

Prints JSON. Run: .venv/bin/python bench/likeness.py   (or `make bench`)

The picture is the bundled test photograph enlarged to 1024×1024 (as results come back) and
stored as a JPEG; each score is what the bot will do per delivered picture: decode, find the
face, align it, embed it and compare it with the reference's embedding (computed once).
- latency: `--reps` scores one after another with the models warm: p50 and p95;
- throughput: `--batch` scores on two worker threads (as the bot's vision pool has);
- memory: the process's resident size with OpenCV, NumPy and Pillow imported and a picture
  decoded (what the bot has anyway), after loading the models and scoring once (the models'
  share is the difference), and its peak over the run.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

PHOTO = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "photos" / "astronaut.jpg"


def rss_mb() -> float:
    """The current resident size, from /proc (ru_maxrss only gives the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def main(args: argparse.Namespace) -> None:
    bare = rss_mb()
    from bot.vision.faces import FaceDetector, decode
    from bot.vision.likeness import FaceEmbedder, likeness
    from bot.vision.models import FACE_DETECTOR, FACE_RECOGNISER

    big = Image.open(PHOTO).convert("RGB").resize((1024, 1024), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    big.save(out, "JPEG", quality=92)
    data = out.getvalue()
    reference_pixels = decode(PHOTO.read_bytes())
    assert reference_pixels is not None
    assert decode(data) is not None
    before = rss_mb()

    started = time.perf_counter()
    embedder = FaceEmbedder(FaceDetector(FACE_DETECTOR.locate()), FACE_RECOGNISER.locate())
    reference = embedder.reference_embedding(reference_pixels)
    assert reference is not None

    def score() -> float:
        pixels = decode(data)
        assert pixels is not None
        found = embedder.embedding(pixels)
        assert found is not None
        return likeness(reference, found)

    first = score()
    load_s = time.perf_counter() - started
    loaded = rss_mb()

    times = []
    for _ in range(args.reps):
        t = time.perf_counter()
        score()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda _: score(), range(4)))  # each worker's recogniser, warm
        t = time.perf_counter()
        list(pool.map(lambda _: score(), range(args.batch)))
        throughput = args.batch / (time.perf_counter() - t)

    print(
        json.dumps(
            {
                "benchmark": "likeness",
                "picture": "1024x1024 JPEG, one face",
                "score": round(first, 3),
                "load_and_first_score_s": round(load_s, 2),
                "latency_p50_ms": round(statistics.median(times), 1),
                "latency_p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
                "throughput_2_workers_per_s": round(throughput, 1),
                "rss_interpreter_mb": bare,
                "rss_with_libraries_mb": before,
                "rss_with_models_mb": loaded,
                "models_add_mb": round(loaded - before, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "targets": {"latency_p95_ms_under": 100, "models_add_mb_under": 150},
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=100, help="scores one after another")
    parser.add_argument("--batch", type=int, default=100, help="scores on two workers")
    main(parser.parse_args())
