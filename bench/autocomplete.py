"""Autocomplete latency on a busy server: 5,000 characters from 500 members in one guild.

Prints JSON. Run: .venv/bin/python bench/autocomplete.py   (or `make bench`)
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.characters.service import CharacterService
from bot.clock import SystemClock
from bot.images.processing import ImageWorkers
from bot.images.store import ImageStore
from bot.models import Viewer
from storage.database import open_database
from tests.imagefactory import png

GUILD = 1
CHARACTERS = 5000
QUERIES = ["", "a", "mi", "hero 12", "zz", "ra", "hero 4999", "e"]


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with open_database(Path(tmp) / "bench.sqlite3") as db:
            service = CharacterService(
                db, ImageStore(Path(tmp) / "images", db), ImageWorkers(), SystemClock()
            )
            seed = await service.create(Viewer(1, GUILD), name="Seed", image=png())
            async with db.transaction() as conn:
                await conn.executemany(
                    "INSERT INTO characters (public_id, guild_id, owner_id, name, name_key, "
                    "visibility, image_sha256, original_sha256, original_format, original_width, "
                    "original_height, created_at, updated_at) VALUES "
                    "(?, ?, ?, ?, ?, 'server', ?, ?, 'png', 1, 1, '', '')",
                    [
                        (
                            f"b{i:05d}",
                            GUILD,
                            100 + i % 500,
                            f"Hero {i}",
                            f"hero {i}",
                            seed.image_sha256,
                            seed.original_sha256,
                        )
                        for i in range(CHARACTERS)
                    ],
                )
            timings = []
            for round_ in range(50):
                for query in QUERIES:
                    viewer = Viewer(100 + round_ % 500, GUILD)
                    started = time.perf_counter()
                    found = await service.suggest(viewer, query)
                    timings.append((time.perf_counter() - started) * 1000)
                    assert len(found) <= 25
    timings.sort()
    print(
        json.dumps(
            {
                "benchmark": "autocomplete",
                "characters_in_guild": CHARACTERS,
                "queries": len(timings),
                "p50_ms": round(statistics.median(timings), 2),
                "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 2),
                "max_ms": round(timings[-1], 2),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
