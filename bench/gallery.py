"""Gallery pages in a big server: 5,000 characters and 50,000 delivered pictures. Prints JSON.

Run: .venv/bin/python bench/gallery.py   (or `make bench`)
     options: --pages 200

The server is built once, through SQL that matches the migrations, and cached under
build/gallery/ (made again when a migration changes): 5,000 characters from 300 members (one in
ten private), 25,000 delivered scenes of two pictures each (one picture in 25 a favourite).
Pictures are photograph-like (noise over gradients, so they compress like photographs): 120
results of 1024×1024, half JPEG and half PNG (kept as the services sent them), and 80 JPEG
references of 768×768, shared by the rows.

Each page is asked for as a member would, through the production services: characters by
newest, most scenes and name; pictures of the server, of one character, asked for by one member,
and the favourites; first pages and pages further in (after a random entry). Reported, p50/p95/
max: the query alone (the service's page call), and the whole page (the query, reading the 12
tiles and rendering the contact sheet), both cold (nothing kept in memory: every tile decoded
from its full-size file, as on a page nobody has opened since the start) and warm (a fresh
sheet from the small copies of pictures shown before); and every statement's query plan,
flagged if it scans a growing table.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.gallery.service import CharacterQuery, PageCursor, PictureQuery, SheetTile
from bot.images.store import EXTENSIONS
from bot.providers.request import SceneOptions
from bot.services import Services
from storage.database import open_database
from storage.jobs import options_json
from tests.history import capture_statements, explain, migrations_fingerprint, open_services

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "gallery"
DATABASE = "cameo.sqlite3"
GUILD = 900_000_000_000_000_001
CHANNEL = 900_000_000_000_000_100
MEMBERS = 300
CHARACTERS = 5_000
SCENES = 25_000  # two pictures each
RESULT_FILES, REFERENCE_FILES = 120, 80
TARGET_PAGE_P95_MS = 300.0
TARGET_QUERY_P95_MS = 10.0
SHEET_LIMIT = 4 * 1024 * 1024
BUILD_VERSION = "2"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def member_id(n: int) -> int:
    return 830_000_000_000_000_000 + n


# -- the server, built once -----------------------------------------------------------------------


def _photo(rng: random.Random, side: int, fmt: str = "JPEG") -> bytes:
    """A picture that compresses like a photograph: noise over a gradient and a few shapes."""
    noise = Image.effect_noise((side, side), rng.randint(30, 70)).convert("RGB")
    base = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    tint = Image.new("RGB", (side, side), tuple(rng.randrange(256) for _ in range(3)))
    image = Image.blend(Image.blend(base, tint, 0.5), noise, 0.35)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.randrange(side), rng.randrange(side)
        r = rng.randint(side // 12, side // 4)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def _store(
    images_dir: Path, data: bytes, side: int, conn: sqlite3.Connection, fmt: str = "jpeg"
) -> str:
    sha = hashlib.sha256(data).hexdigest()
    path = images_dir / sha[:2] / f"{sha}.{EXTENSIONS[fmt]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    conn.execute(
        "INSERT INTO images (sha256, format, width, height, byte_size, created_at) "
        "VALUES (?, ?, ?, ?, ?, '2026-01-01T00:00:00Z')",
        (sha, fmt, side, side, len(data)),
    )
    return sha


def _build_sync(data: Path) -> None:
    rng = random.Random(16)
    conn = sqlite3.connect(data / DATABASE, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("BEGIN")
    images = data / "images"
    # Services send JPEG or PNG, and results are kept as they came: half of each.
    results = [_store(images, _photo(rng, 1024), 1024, conn) for _ in range(RESULT_FILES // 2)]
    results += [
        _store(images, _photo(rng, 1024, "PNG"), 1024, conn, "png")
        for _ in range(RESULT_FILES // 2)
    ]
    references = [_store(images, _photo(rng, 768), 768, conn) for _ in range(REFERENCE_FILES)]
    characters = []
    for n in range(CHARACTERS):
        owner = member_id(rng.randrange(MEMBERS))
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)} {n}"
        reference = rng.choice(references)
        characters.append(
            (
                f"g{n:05d}", GUILD, owner, name, name.lower(),
                "private" if rng.random() < 0.1 else "server", reference, reference,
                rng.choice([0, 0, 1, 3, 8, 20, 60, 200]),
            )
        )  # fmt: skip
    conn.executemany(
        "INSERT INTO characters (public_id, guild_id, owner_id, name, name_key, visibility, "
        "image_sha256, original_sha256, original_format, original_width, original_height, "
        "scene_count, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'jpeg', 768, 768, ?, '2026-01-01T00:00:00Z', "
        "'2026-01-01T00:00:00Z')",
        characters,
    )
    ids = [row[0] for row in conn.execute("SELECT id FROM characters ORDER BY id")]
    names = {row[0]: row[1] for row in conn.execute("SELECT id, name FROM characters")}
    jobs, pictures = [], []
    for job_id in range(1, SCENES + 1):
        character = ids[min(len(ids) - 1, int(rng.paretovariate(1.2)) * 7 + rng.randrange(7))]
        if rng.random() < 0.5:
            character = rng.choice(ids)
        prompt = f"{names[character]} {rng.choice(_ACTIVITIES)}"
        at = "2026-06-01T12:00:00Z"
        jobs.append(
            (
                job_id, GUILD, CHANNEL, member_id(rng.randrange(MEMBERS)), character,
                names[character], options_json(SceneOptions(prompt=prompt)), rng.randrange(2**31),
                at, at, at, at,
            )
        )  # fmt: skip
        for position in range(2):
            pictures.append((job_id, position, rng.choice(results), int(rng.random() < 0.04)))
    conn.executemany(
        "INSERT INTO jobs (id, kind, state, guild_id, channel_id, user_id, character_id, "
        "character_name, options, image_count, provider, seed, credits, created_at, started_at, "
        "finished_at, delivered_at) "
        "VALUES (?, 'scene', 'succeeded', ?, ?, ?, ?, ?, ?, 2, 'segmind', ?, 0, ?, ?, ?, ?)",
        jobs,
    )
    conn.executemany(
        "INSERT INTO job_images (job_id, position, image_sha256, favorite) VALUES (?, ?, ?, ?)",
        pictures,
    )
    conn.execute("COMMIT")
    conn.close()


_FIRST = ("Mira", "Ravenna", "Kai", "Ash", "Lyra", "Dorian", "Nox", "Sable", "Orin", "Tamsin")
_LAST = ("Stone", "Vale", "Storm", "Reed", "Frost", "Black", "Hale", "Wren", "Cross", "Lark")
_ACTIVITIES = (
    "reading by a fireplace",
    "walking in the rain",
    "on a rooftop at dusk",
    "in a crowded market",
    "sailing at dawn",
)


async def cached_server() -> Path:
    digest = hashlib.sha256(f"{migrations_fingerprint()} {BUILD_VERSION}".encode()).hexdigest()
    home = CACHE / f"server-{digest[:16]}"
    if (home / "complete").exists():
        return home / "data"
    for stale in CACHE.glob("server-*"):
        shutil.rmtree(stale)
    log(f"building the gallery server in {home.relative_to(ROOT)} (once per migration change)")
    data = home / "data"
    (data / "images").mkdir(parents=True)
    async with open_database(data / DATABASE):
        pass  # the schema, by the migrations
    started = time.perf_counter()
    await asyncio.to_thread(_build_sync, data)
    (home / "complete").write_text(f"built in {time.perf_counter() - started:.1f} s\n")
    return data


# -- the pages ------------------------------------------------------------------------------------

_KINDS = (
    "characters: newest",
    "characters: most scenes",
    "characters: name",
    "scenes: the server",
    "scenes: one character",
    "scenes: one member",
    "scenes: favourites",
)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


async def one_page(
    services: Services, rng: random.Random, kind: str, ids: dict[str, list[Any]], cold: bool
) -> tuple[float, float, int]:
    """Ask for one page of `kind`; return (query seconds, whole-page seconds, tiles)."""
    from bot.models import Viewer

    gallery = services.gallery
    viewer = Viewer(member_id(rng.randrange(MEMBERS)), GUILD)
    deeper = rng.random() < 0.5
    started = time.perf_counter()
    if kind.startswith("characters"):
        order = {"newest": "newest", "most scenes": "scenes", "name": "name"}[kind.split(": ")[1]]
        cursor = PageCursor("after", (rng.choice(ids["characters"]),), 2) if deeper else None
        page: Any = await gallery.character_page(viewer, CharacterQuery(order=order), cursor)  # type: ignore[arg-type]
        tiles = [
            SheetTile(c.image_sha256, c.image_format, f"{c.name}\nby member {c.owner_id % 1000}")
            for c in page.entries
        ]
    else:
        what = kind.split(": ")[1]
        query = PictureQuery(
            character_id=rng.choice(ids["popular"]) if what == "one character" else None,
            member_id=member_id(rng.randrange(MEMBERS)) if what == "one member" else None,
            favorites=what == "favourites",
        )
        cursor = PageCursor("after", (rng.choice(ids["jobs"]), 0), 2) if deeper else None
        page = await gallery.picture_page(viewer, query, cursor)
        tiles = [
            SheetTile(p.image_sha256, p.image_format, f"{p.job.character_name}\nby a member")
            for p in page.entries
        ]
    queried = time.perf_counter()
    if cold:
        gallery.forget_pictures()  # a fresh render from full-size pictures: a first view's cost
    else:
        gallery._sheets.clear()  # a fresh render from the small copies of pictures seen before
    if tiles:
        await gallery.contact_sheet(tiles, SHEET_LIMIT)
    return queried - started, time.perf_counter() - started, len(tiles)


async def measure(data: Path, pages: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="run-") as tmp:
        copy = Path(tmp) / "data"
        copy.mkdir()
        shutil.copy2(data / DATABASE, copy / DATABASE)
        (copy / "images").symlink_to(data / "images")
        conn = sqlite3.connect(copy / DATABASE)
        ids = {
            "characters": [r[0] for r in conn.execute("SELECT id FROM characters")],
            "jobs": [r[0] for r in conn.execute("SELECT id FROM jobs")],
            "popular": [
                r[0]
                for r in conn.execute(
                    "SELECT character_id FROM jobs GROUP BY character_id ORDER BY COUNT(*) DESC "
                    "LIMIT 50"
                )
            ],
        }
        conn.close()
        rng = random.Random(3)
        figures: dict[str, Any] = {}
        async with open_database(copy / DATABASE) as db, open_services(db, copy) as services:
            for kind in _KINDS:
                timed: dict[str, tuple[list[float], list[float], list[int]]] = {}
                for mode in ("cold", "warm"):
                    queries, totals, tiles = [], [], []
                    for _ in range(pages):
                        query, total, count = await one_page(
                            services, rng, kind, ids, cold=mode == "cold"
                        )
                        queries.append(query)
                        totals.append(total)
                        tiles.append(count)
                    timed[mode] = (queries, totals, tiles)
                async with capture_statements(db) as trace:
                    for _ in range(4):
                        await one_page(services, rng, kind, ids, cold=False)
                flagged = [
                    flag
                    for plan in explain(copy / DATABASE, trace.statements.values())
                    for flag in plan.flags
                ]
                queries = timed["cold"][0] + timed["warm"][0]
                figures[kind] = {
                    "pages": len(queries),
                    "tiles_mean": round(statistics.mean(timed["cold"][2]), 1),
                    "query_p50_ms": ms(statistics.median(queries)),
                    "query_p95_ms": ms(percentile(queries, 0.95)),
                    **{
                        f"page_{mode}_{name}_ms": ms(value)
                        for mode, (_, totals, _) in timed.items()
                        for name, value in (
                            ("p50", statistics.median(totals)),
                            ("p95", percentile(totals, 0.95)),
                            ("max", max(totals)),
                        )
                    },
                    "flagged_scans": flagged,
                }
                log(f"  {kind}: {figures[kind]}")
    return figures


async def main(args: argparse.Namespace) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    data = await cached_server()
    figures = await measure(data, args.pages)
    print(
        json.dumps(
            {
                "benchmark": "gallery",
                "server": {
                    "characters": CHARACTERS,
                    "delivered_pictures": SCENES * 2,
                    "members": MEMBERS,
                },
                "targets": {
                    "page_p95_ms_under": TARGET_PAGE_P95_MS,
                    "query_p95_ms_under": TARGET_QUERY_P95_MS,
                },
                "pages": figures,
                "off_target": [
                    kind
                    for kind, f in figures.items()
                    if f["page_cold_p95_ms"] >= TARGET_PAGE_P95_MS
                    or f["query_p95_ms"] >= TARGET_QUERY_P95_MS
                    or f["flagged_scans"]
                ],
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200, help="pages of each kind")
    asyncio.run(main(parser.parse_args()))
