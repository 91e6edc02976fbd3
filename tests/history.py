"""A year of use, built in seconds, and the catalogue of what each command does to it.

Shared by bench/history.py (timings and query plans, a first day against a year) and
tests/storage/test_query_plans.py (no command's plan scans a table that grows with use).

- `build_history` writes a database and image store as a busy Cameo would have them: the
  migrations the bulk rows were written for (0001-0006) are applied, the rows go in with plain
  SQL matching those migrations (executemany, one transaction), and then `Database.open` runs
  any later migration on the filled file, exactly as an upgrade would. Image files are tiny but
  real PNGs, each named by the hash of its own bytes, under images/<aa>/<sha256>.png.
- `OPERATIONS` is what each command does, called through the services as the cogs call them.
- `capture_statements` records every SQL statement an operation runs, and `explain` gives each
  one's query plan with any full scan of a table that grows with use flagged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import random
import re
import sqlite3
import struct
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bot.characters.text import name_key
from bot.clock import timestamp
from bot.gallery.service import CharacterQuery, PageCursor, PictureQuery
from bot.jobs.runner import JobRunner
from bot.models import Viewer
from bot.providers.registry import build_router
from bot.quota.pricing import DEFAULT_PRICES, POSE_SPEED
from bot.quota.service import periods
from bot.services import Services, build_services
from bot.settings import Settings
from storage.database import Database, connect, load_migrations, open_database, run_sync

T = TypeVar("T")

# -- the shape of a year --------------------------------------------------------------------

BIG_GUILD = 810_000_000_000_000_001  # the server where most members (and characters) are
CHANNEL = 820_000_000_000_000_001  # where the benchmark's scenes are asked for
MEMBER_BASE = 830_000_000_000_000_000
MODEST_BASE = 831_000_000_000_000_000  # members with a modest history (`HistorySpec`)
HISTORY_END = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
HISTORY_START = HISTORY_END - timedelta(days=365)
# The bulk rows are written for the schema of these migrations; later ones run on the data.
BASE_SCHEMA = 6
PNG_SIDE = 8
MAX_PER_OWNER = 200  # bot.characters.service.MAX_CHARACTERS_PER_SCOPE


@dataclass(frozen=True)
class HistorySpec:
    """How much history to build. `year_of_use()` is the issue's database; `first_day()` the
    same bot before any history (only what each operation needs to act on)."""

    members: int
    guilds: int
    finished_jobs: int
    big_guild_characters: int
    other_guild_characters: int  # in each other server
    images: int  # image rows in all (references, results, region edits), roughly
    queued_jobs: int
    queued_members: int
    running_jobs: int
    # Members of the big server with a modest history: 5 to 30 finished requests and at most
    # 10 characters each (counted in `finished_jobs` and `big_guild_characters`), none waiting.
    # Forget-me erases what a member owns, so the catalogue forgets these: the same members,
    # drawn from their own seed, in every history, so a first day and a year are compared on
    # members of the same size.
    modest_members: int
    seed: int = 14


def year_of_use(scale: float = 1.0) -> HistorySpec:
    """A year of a busy bot: 100,000 finished jobs from 5,000 members over five servers (and
    250 members with a modest history), 20,000 characters in the big one, about 46,000 stored
    images and 200,000 ledger rows, with 1,000 jobs from 300 members waiting. `scale` shrinks
    it for tests."""

    def scaled(count: int, floor: int) -> int:
        return max(floor, round(count * scale))

    return HistorySpec(
        members=scaled(5_000, 40),
        guilds=5,
        finished_jobs=scaled(100_000, 200),
        big_guild_characters=scaled(20_000, 60),
        other_guild_characters=scaled(250, 5),
        images=scaled(46_000, 150),
        queued_jobs=scaled(1_000, 30),
        queued_members=scaled(300, 10),
        running_jobs=8,
        modest_members=scaled(250, 12),
    )


def first_day() -> HistorySpec:
    """The "empty" database: no history to speak of, only what each measured operation needs
    to act on (results and characters to delete, and the 250 members with a modest history
    that forget-me erases, about 2,400 of the finished jobs and 550 of the characters), and
    the same waiting queue as `year_of_use()`, so queue operations are compared on equal
    terms. A stored result is shared by about as many requests as in the year (seven)."""
    return HistorySpec(
        members=1_000,
        guilds=5,
        finished_jobs=3_200,
        big_guild_characters=1_000,
        other_guild_characters=20,
        images=1_900,
        queued_jobs=1_000,
        queued_members=300,
        running_jobs=8,
        modest_members=250,
    )


class FixedClock:
    """The services' clock: the moment the history ends, whenever the benchmark runs."""

    def __init__(self, moment: datetime = HISTORY_END) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


# -- names and words ------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST = _words(
    "Mira Aria Kael Lyra Theo Juno Nova Ezra Iris Orin Sable Rowan Wren Cass Dorian Elara Finn "
    "Gideon Hana Ilya Jasper Kira Lucan Maeve Nico Odette Piper Quill Rhea Silas Talia Ulric "
    "Vesper Willa Xander Yara Zane Aiko Bastian Celeste Darius Ember Felix Gwen Hugo Isolde "
    "Jonah Kestrel Leona Marlow Nyx Oberon Perrin Riona Soren Thalia Vale Wynn Anya Bram Cora "
    "Dax Eira Fenna Galen Hollis Ines Jett Koa Lior Mako Nadia Otto Priya Remy Saoirse Tamsin "
    "Uma Viggo Wolf Ximena Yusuf Zora Amara Beatrix Cyrus Delphine Emrys Freya Hiro Inara "
    "Zoë Anaïs Björn Seo-yeon Ömer Łucja Élodie Renée Søren Ngozi José Aiyana Kaito 美咲 Дарья "
    "Chioma Mateo Sakura Aurelio Ingrid Tariq Noor Lucía Aleksander Mei Kwame Ayla Rafael"
)
_SURNAMES = _words(
    "Voss Thorne Ashdown Blackwood Castell Drake Everhart Fairweather Grey Hale Ironwood "
    "Jarrow Kingsley Lockhart Moreau Nightingale Oakes Pendragon Quinlan Ravensworth "
    "Stormcrow Tanaka Underhill Vantablack Whitlock Yamada Zhou Okafor Haddad Novak Ferreira "
    "Lindqvist Marchetti O'Brien Sato Kowalski Abara Delacroix Mbeki Kuznetsova"
)
_TITLES = ("Captain", "Lady", "Sir", "Dr.", "Professor", "Queen", "Agent", "Detective", "Saint")
_EPITHETS = _words(
    "Bold Wanderer Quiet Unbroken Brave Red Grey Wise Lost Clever Tinkerer Storm Kind "
    "Younger Elder Fox Swift Bright"
)
_ROLES = ("knight", "witch", "courier", "pilot", "bard", "alchemist", "detective", "ranger")
_PLACES = ("the northern marches", "a floating city", "the old harbour", "Neo-Kyoto", "the moon")
_ACTIVITIES = (
    "reading by a fireplace",
    "as a chef in a busy kitchen",
    "walking through neon rain",
    "on a sailing ship at dawn",
    "in a library full of floating books",
    "riding a bicycle through autumn leaves",
    "as a tarot card",
    "portrait, soft light",
    "fighting a dragon",
    "at a night market",
)
_FAILURES = (
    "The image service rejected this prompt. You were not charged.",
    "The image service is not answering right now. You were not charged; please try again.",
    "The image service timed out. You were not charged; please try again.",
)
_SCENE_PROVIDERS = (("segmind", 0.6), ("apiframe", 0.25), ("pixeldojo", 0.15))
_SPEEDS = (("turbo", 0.5), ("default", 0.35), ("quality", 0.15))
_COUNTS = ((1, 0.6), (2, 0.2), (3, 0.05), (4, 0.15))
POSE_IMAGES = 4
FRAGMENTS = ("", "a", "mi", "ira", "hero 12", "the", "zz", "dr", "ō", "stormcrow")
PROMPTS = tuple(f"{activity}, scene {n}" for n, activity in enumerate(_ACTIVITIES))


@functools.cache
def _period(day: date) -> tuple[str, str]:
    """The quota day and month a moment on `day` counts in (reset hour 0, the default)."""
    found = periods(datetime(day.year, day.month, day.day, 12, tzinfo=UTC), 0)
    return found.day, found.month


def _pick(rng: random.Random, weighted: Sequence[tuple[T, float]]) -> T:
    return rng.choices([value for value, _ in weighted], [w for _, w in weighted])[0]


def _character_name(rng: random.Random) -> str:
    first = rng.choice(_FIRST)
    roll = rng.random()
    if roll < 0.35:
        return first
    if roll < 0.6:
        return f"{first} {rng.choice(_SURNAMES)}"
    if roll < 0.7:
        return f"{rng.choice(_TITLES)} {first}"
    if roll < 0.8:
        return f"{first} the {rng.choice(_EPITHETS)}"
    if roll < 0.9:
        return f"Hero {rng.randint(1, 9999)}"
    return rng.choice((f"{first} v{rng.randint(2, 5)}", f"OC #{rng.randint(1, 999)}"))


def _zipf_weights(rng: random.Random, count: int, exponent: float) -> list[float]:
    """Weights for `count` things where a few are used a lot and most rarely, shuffled."""
    weights = [1 / (rank + 1) ** exponent for rank in range(count)]
    rng.shuffle(weights)
    return weights


def _cumulative(weights: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def _png(serial: int) -> bytes:
    """A tiny valid PNG whose bytes differ for every `serial` (a text chunk carries it)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", PNG_SIDE, PNG_SIDE, 8, 2, 0, 0, 0)
    pixels = zlib.compress(
        b"".join(b"\x00" + bytes([serial % 251, 90, 160]) * PNG_SIDE for _ in range(PNG_SIDE))
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", b"cameo\x00" + str(serial).encode())
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


# -- generating the rows --------------------------------------------------------------------


@dataclass
class _Rows:
    """Everything the builder inserts, as tuples in the column order of its INSERT."""

    files: dict[str, bytes] = field(default_factory=dict)  # sha256 -> bytes, rows or not
    images: list[tuple[object, ...]] = field(default_factory=list)
    # Lists, not tuples: scene counts and settled holds are filled in as jobs are made.
    characters: list[list[Any]] = field(default_factory=list)
    jobs: list[tuple[object, ...]] = field(default_factory=list)
    job_images: list[tuple[object, ...]] = field(default_factory=list)
    holds: list[list[Any]] = field(default_factory=list)
    ledger: list[tuple[object, ...]] = field(default_factory=list)
    usage: Counter[tuple[int, int, str]] = field(default_factory=Counter)
    budget: Counter[tuple[int, str]] = field(default_factory=Counter)
    # What the sweep should clear up: rows nothing references, files no row records, and
    # half-written temporary files.
    unreferenced: list[str] = field(default_factory=list)
    stray_files: list[str] = field(default_factory=list)
    partial_files: list[str] = field(default_factory=list)


class _Generator:
    """Makes a year of rows from a seed, the way the services would have written them."""

    def __init__(self, spec: HistorySpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.rows = _Rows()
        self._serial = 0
        self.guilds = [BIG_GUILD + n for n in range(spec.guilds)]
        # 60% of members are in the big server; the rest are spread over the others.
        self.members: list[tuple[int, int]] = []
        for n in range(spec.members):
            in_big = n < spec.members * 0.6 or spec.guilds == 1
            guild = BIG_GUILD if in_big else self.guilds[1 + n % (spec.guilds - 1)]
            self.members.append((MEMBER_BASE + n, guild))
        self.activity = _cumulative(_zipf_weights(self.rng, spec.members, 0.9))
        self.public_ids: set[str] = set()
        # (member, requests, characters) of the modest members: from a seed of their own, so
        # every history has the same ones. About as many requests and characters as members
        # of a year with 5 to 30 requests have (means 10 and 2.3).
        modest = random.Random(f"modest {spec.seed}")
        self.modest = [
            (
                (MODEST_BASE + n, BIG_GUILD),
                5 + min(25, int(modest.expovariate(1 / 5.2))),
                min(10, int(modest.expovariate(1 / 2.8))),
            )
            for n in range(spec.modest_members)
        ]

    def new_image(self, created_at: str) -> str:
        data = _png(self._serial)
        self._serial += 1
        sha256 = hashlib.sha256(data).hexdigest()
        self.rows.files[sha256] = data
        self.rows.images.append((sha256, "png", PNG_SIDE, PNG_SIDE, len(data), created_at))
        return sha256

    def stray_image(self) -> str:
        """Bytes on disk that no row records: what a crash between file and row leaves."""
        data = _png(self._serial)
        self._serial += 1
        sha256 = hashlib.sha256(data).hexdigest()
        self.rows.files[sha256] = data
        return sha256

    def moment(self, fraction: float) -> datetime:
        return HISTORY_START + (HISTORY_END - HISTORY_START) * fraction

    def public_id(self) -> str:
        alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
        while True:
            candidate = "".join(self.rng.choice(alphabet) for _ in range(6))
            if candidate not in self.public_ids:
                self.public_ids.add(candidate)
                return candidate

    # The characters, and which ones each server's scenes use (a few are everyone's favourites).
    def characters(self) -> dict[int, tuple[list[int], list[float]]]:
        rng, spec = self.rng, self.spec
        by_guild: dict[int, list[int]] = defaultdict(list)
        modest_characters = sum(characters for _, _, characters in self.modest)
        if modest_characters > spec.big_guild_characters:
            raise ValueError("the modest members' characters do not fit in big_guild_characters")
        for guild in self.guilds:
            count = spec.big_guild_characters if guild == BIG_GUILD else spec.other_guild_characters
            if guild == BIG_GUILD:
                count -= modest_characters
            here = [m for m in self.members if m[1] == guild]
            weights = _cumulative(_zipf_weights(rng, len(here), 0.8))
            owned: Counter[int] = Counter()
            names: set[tuple[int, str]] = set()
            for _ in range(count):
                owner = rng.choices(here, cum_weights=weights)[0][0]
                while owned[owner] >= MAX_PER_OWNER:
                    owner = rng.choice(here)[0]
                owned[owner] += 1
                index = self._character(guild, owner, names)
                by_guild[guild].append(index)
        # A few personal characters, made in DMs (scope 0), so the visibility rule is exercised.
        personal: set[tuple[int, str]] = set()
        for _ in range(max(1, len(self.rows.characters) // 100)):
            self._character(0, rng.choice(self.members)[0], personal)
        # The modest members' own: their scenes, like everyone's, use the server's favourites,
        # and nobody else's use these, so what forgetting them costs is theirs alone.
        for (user, guild), _, characters in self.modest:
            own: set[tuple[int, str]] = set()
            for _ in range(characters):
                self._character(guild, user, own)
        return {
            guild: (indexes, _cumulative(_zipf_weights(rng, len(indexes), 1.0)))
            for guild, indexes in by_guild.items()
        }

    def _character(self, guild: int, owner: int, names: set[tuple[int, str]]) -> int:
        rng = self.rng
        name = _character_name(rng)
        key = name_key(name)
        suffix = 2
        while (owner, key) in names:
            name = f"{name.rsplit(' #', 1)[0]} #{suffix}"
            key, suffix = name_key(name), suffix + 1
        names.add((owner, key))
        created = timestamp(self.moment(rng.random() * 0.9))
        sha256 = self.new_image(created)
        description = (
            f"A {rng.choice(_EPITHETS).lower()} {rng.choice(_ROLES)} from {rng.choice(_PLACES)}."
            if rng.random() < 0.6
            else ""
        )
        visibility = "private" if rng.random() < 0.15 else "server"
        index = len(self.rows.characters)
        self.rows.characters.append(
            [
                index + 1, self.public_id(), guild, owner, name, key, description, visibility,
                sha256, hashlib.sha256(sha256.encode()).hexdigest(), "png", 1024, 1024, 0,
                created, created,
            ]
        )  # fmt: skip
        return index

    def jobs(self, usable: dict[int, tuple[list[int], list[float]]]) -> None:
        rng, spec, rows = self.rng, self.spec, self.rows
        # Who asked: the modest members their set number of times, anyone else by activity.
        askers: list[tuple[int, int] | None] = [
            member for member, requests, _ in self.modest for _ in range(requests)
        ]
        if len(askers) > spec.finished_jobs:
            raise ValueError("the modest members' requests do not fit in finished_jobs")
        askers += [None] * (spec.finished_jobs - len(askers))
        finished = sorted(((rng.random(), asker) for asker in askers), key=lambda job: job[0])
        # Results are stored images; a busy year shares some (rerolls of the same request,
        # members re-posting), which keeps the store at about the size the issue measured.
        references = len(rows.characters)
        edits = round(spec.finished_jobs * 0.01) * 2
        pool_size = max(1, spec.images - references - edits)
        pool: list[str] = []
        slot = 0
        last_job: dict[int, int] = {}
        for job_id, (fraction, asker) in enumerate(finished, start=1):
            user, guild = asker or rng.choices(self.members, cum_weights=self.activity)[0]
            indexes, weights = usable[guild]
            character = rows.characters[rng.choices(indexes, cum_weights=weights)[0]]
            created = self.moment(fraction)
            roll = rng.random()
            state = "succeeded" if roll < 0.8 else "failed" if roll < 0.92 else "cancelled"
            poses = rng.random() < 0.08
            speed = POSE_SPEED if poses else _pick(rng, _SPEEDS)
            count = POSE_IMAGES if poses else _pick(rng, _COUNTS)
            provider = "segmind-poses" if poses else _pick(rng, _SCENE_PROVIDERS)
            started = created + timedelta(seconds=rng.expovariate(1 / 20))
            ended = started + timedelta(seconds=rng.uniform(8, 45))
            delivered = ended + timedelta(seconds=rng.uniform(0.5, 3))
            waited_only = state == "cancelled" and rng.random() < 0.5  # cancelled in the queue
            started_at = None if waited_only else timestamp(started)
            edit = not poses and rng.random() < 0.01
            edit_image = self.new_image(timestamp(created)) if edit else None
            edit_mask = self.new_image(timestamp(created)) if edit else None
            held = DEFAULT_PRICES["segmind" if not poses else "segmind-poses"][speed] * count
            charged = DEFAULT_PRICES[provider][speed] * count
            prompt = f"{character[4]} {rng.choice(_ACTIVITIES)}"
            options: dict[str, object] = {"prompt": prompt, "count": count}
            if not poses:
                options["speed"] = speed
            rerolled = last_job.get(user) if rng.random() < 0.06 else None
            last_job[user] = job_id
            asynchronous = provider in {"apiframe", "pixeldojo"}
            error = rng.choice(_FAILURES) if state == "failed" else None
            rows.jobs.append(
                (
                    job_id, "poses" if poses else "scene", state, guild, CHANNEL + guild % 7,
                    user, character[0] if rng.random() > 0.03 else None, character[4],
                    None, edit_image, edit_mask, json.dumps(options, sort_keys=True), count,
                    None, provider if started_at else None,
                    f"svc-{job_id:08x}" if asynchronous and started_at else None,
                    rng.randrange(2**31), held,
                    f"${charged / 100:.2f}" if state == "succeeded" else None,
                    error,
                    CHANNEL + guild % 7, 840_000_000_000_000_000 + job_id,
                    850_000_000_000_000_000 + job_id if state == "succeeded" else None,
                    timestamp(created), started_at,
                    timestamp(ended), timestamp(delivered) if state == "succeeded" else None,
                    10 * 1024 * 1024, rerolled,
                )
            )  # fmt: skip
            if state == "succeeded":
                character[13] += 1  # scene_count
                for position in range(count):
                    if slot < pool_size:
                        pool.append(self.new_image(timestamp(ended)))
                    image = pool[slot % pool_size]
                    slot += 1
                    rows.job_images.append((job_id, position, image, int(rng.random() < 0.04)))
            self._credits(job_id, guild, user, speed, held, created)
            if state == "succeeded":
                what = f"{count} image{'s' if count != 1 else ''} from {provider}"
                self._settle(
                    job_id, "charged", charged, charged - held, f"charged {charged} for {what}",
                    delivered,
                )  # fmt: skip
            else:
                reason = error or "cancelled"
                self._settle(job_id, "refunded", 0, -held, f"refunded: {reason}"[:200], ended)
        self._live(usable, len(finished) + 1)

    def _live(self, usable: dict[int, tuple[list[int], list[float]]], next_id: int) -> None:
        """Jobs running now (from a previous process) and the queue waiting behind them."""
        rng, spec, rows = self.rng, self.spec, self.rows
        big = [m for m in self.members if m[1] == BIG_GUILD]
        waiting = rng.sample(self.members, min(spec.queued_members, len(self.members)))
        queued = set(waiting)
        others = [m for m in big if m not in queued] or big
        now = HISTORY_END
        plan: list[tuple[tuple[int, int], str]] = [
            (rng.choice(others), "running") for _ in range(spec.running_jobs)
        ]
        per_member = [1] * len(waiting)
        for _ in range(spec.queued_jobs - len(waiting)):
            per_member[rng.randrange(len(waiting))] += 1
        for member, jobs in zip(waiting, per_member, strict=True):
            plan += [(member, "queued")] * min(jobs, 19)
        rng.shuffle(plan)
        for offset, ((user, guild), state) in enumerate(plan):
            job_id = next_id + offset
            indexes, weights = usable[guild]
            character = rows.characters[rng.choices(indexes, cum_weights=weights)[0]]
            created = now - timedelta(seconds=1800 - offset * 1800 / len(plan))
            speed = _pick(rng, _SPEEDS)
            count = _pick(rng, _COUNTS)
            held = DEFAULT_PRICES["segmind"][speed] * count
            running = state == "running"
            options = {"prompt": f"{character[4]} {rng.choice(_ACTIVITIES)}", "count": count}
            rows.jobs.append(
                (
                    job_id, "scene", state, guild, CHANNEL + guild % 7, user, character[0],
                    character[4], character[8], None, None,
                    json.dumps({**options, "speed": speed}, sort_keys=True), count, None,
                    "segmind" if running else None, None, None, held, None, None,
                    CHANNEL + guild % 7, 840_000_000_000_000_000 + job_id, None,
                    timestamp(created), timestamp(now - timedelta(seconds=10)) if running else None,
                    None, None, 10 * 1024 * 1024, None,
                )
            )  # fmt: skip
            self._credits(job_id, guild, user, speed, held, created)

    def _credits(
        self, job_id: int, guild: int, user: int, speed: str, held: int, at: datetime
    ) -> None:
        """The hold a queued job takes, and its ledger row, as QuotaService.reserve writes."""
        day, month = _period(at.date())
        self.rows.holds.append([job_id, guild, user, speed, held, None, "held", day, month])
        self._ledger(job_id, guild, user, "reserve", held, held, f"held for job {job_id}", at)

    def _settle(
        self, job_id: int, state: str, charged: int, change: int, reason: str, at: datetime
    ) -> None:
        hold = self.rows.holds[-1]
        assert hold[0] == job_id
        hold[5], hold[6] = charged, state
        kind = "charge" if state == "charged" else "refund"
        self._ledger(job_id, hold[1], hold[2], kind, change, change, reason, at, hold)

    def _ledger(
        self,
        job_id: int | None,
        guild: int,
        user: int,
        change: str,
        credits: int,
        budget: int,
        reason: str,
        at: datetime,
        hold: list[Any] | None = None,
        actor: int | None = None,
    ) -> None:
        # A job's credits count against the day and month it was queued in (QuotaService._record).
        day, month = (hold[7], hold[8]) if hold else _period(at.date())
        self.rows.ledger.append(
            (guild, user, job_id, change, credits, budget, day, month, reason, actor, timestamp(at))
        )
        if credits:
            self.rows.usage[(guild, user, day)] += credits
        if budget:
            self.rows.budget[(guild, month)] += budget

    def gifts(self) -> None:
        """Credits given and taken by server managers: about one ledger row in two hundred."""
        rng = self.rng
        for _ in range(self.spec.finished_jobs // 200):
            user, guild = rng.choice(self.members)
            give = rng.random() < 0.8
            at = self.moment(rng.random())
            credits = -rng.choice((20, 50, 100)) if give else rng.choice((10, 30))
            reason = "event prize" if give else "abuse of the queue"
            change = "give" if give else "take"
            self._ledger(None, guild, user, change, credits, 0, reason, at, actor=MEMBER_BASE)

    def strays(self) -> None:
        """What a crash leaves for the sweep: rows nothing references, files no row records,
        and half-written temporary files."""
        count = max(2, self.spec.images // 2000)
        for _ in range(count):
            self.rows.unreferenced.append(self.new_image(timestamp(HISTORY_START)))
        for _ in range(count):
            self.rows.stray_files.append(self.stray_image())
        for n in range(3):
            sha256 = self.stray_image()
            self.rows.partial_files.append(f".{sha256}.png.{n:08x}.partial")
            self.rows.files[self.rows.partial_files[-1]] = self.rows.files.pop(sha256)

    def generate(self) -> _Rows:
        usable = self.characters()
        self.jobs(usable)
        self.gifts()
        self.strays()
        # Ledger ids follow time, as rows appended by the bot would.
        self.rows.ledger.sort(key=lambda row: str(row[10]))
        return self.rows


# -- writing it -----------------------------------------------------------------------------

_INSERTS = {
    "images": "INSERT INTO images (sha256, format, width, height, byte_size, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?)",
    "characters": "INSERT INTO characters (id, public_id, guild_id, owner_id, name, name_key, "
    "description, visibility, image_sha256, original_sha256, original_format, original_width, "
    "original_height, scene_count, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "jobs": "INSERT INTO jobs (id, kind, state, guild_id, channel_id, user_id, character_id, "
    "character_name, reference_sha256, edit_image_sha256, edit_mask_sha256, options, "
    "image_count, preferred_provider, provider, service_job_id, seed, credits, cost, error, "
    "status_channel_id, status_message_id, thread_id, created_at, started_at, finished_at, "
    "delivered_at, upload_limit, rerolled_from) "
    f"VALUES ({', '.join('?' * 29)})",
    "job_images": "INSERT INTO job_images (job_id, position, image_sha256, favorite) "
    "VALUES (?, ?, ?, ?)",
    "credit_holds": "INSERT INTO credit_holds (job_id, guild_id, user_id, speed, credits, "
    "charged, state, day, month) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "credit_ledger": "INSERT INTO credit_ledger (guild_id, user_id, job_id, change, credits, "
    "budget, day, month, reason, actor_id, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "credit_usage": "INSERT INTO credit_usage (guild_id, user_id, day, used) VALUES (?, ?, ?, ?)",
    "budget_usage": "INSERT INTO budget_usage (guild_id, month, used) VALUES (?, ?, ?)",
}


def _apply_base_schema(conn: sqlite3.Connection) -> None:
    """Apply migrations up to BASE_SCHEMA the way Database._migrate does (one script each)."""
    for migration in load_migrations():
        if migration.version > BASE_SCHEMA:
            break
        conn.executescript(
            f"BEGIN;\n{migration.sql}\nPRAGMA user_version = {migration.version};\nCOMMIT;"
        )


def _insert_rows(conn: sqlite3.Connection, rows: _Rows) -> None:
    conn.execute("BEGIN")
    conn.executemany(_INSERTS["images"], rows.images)
    conn.executemany(_INSERTS["characters"], rows.characters)
    conn.executemany(_INSERTS["jobs"], rows.jobs)
    conn.executemany(_INSERTS["job_images"], rows.job_images)
    conn.executemany(_INSERTS["credit_holds"], rows.holds)
    conn.executemany(_INSERTS["credit_ledger"], rows.ledger)
    conn.executemany(
        _INSERTS["credit_usage"], [(*key, used) for key, used in sorted(rows.usage.items())]
    )
    conn.executemany(
        _INSERTS["budget_usage"], [(*key, used) for key, used in sorted(rows.budget.items())]
    )
    # The big server has its own rules: a generous day, a month budget that is checked on
    # every request but never runs out here, role allowances and a few member overrides.
    conn.execute(
        "INSERT INTO quota_settings (guild_id, daily_credits, monthly_budget, cooldown_seconds, "
        "exempt_managers) VALUES (?, 500, 50000000, 0, 1)",
        (BIG_GUILD,),
    )
    conn.executemany(
        "INSERT INTO quota_overrides (guild_id, target, target_id, daily_credits) "
        "VALUES (?, ?, ?, ?)",
        [(BIG_GUILD, "role", 860_000_000_000_000_000 + n, 200 + 100 * n) for n in range(3)]
        + [(BIG_GUILD, "member", MEMBER_BASE + n * 37, 1000) for n in range(20)],
    )
    conn.execute(
        "INSERT INTO credit_prices (guild_id, provider, speed, credits) "
        "VALUES (?, 'segmind', 'quality', 22)",
        (BIG_GUILD,),
    )
    # Inserted without enforcement (much faster), then checked in one pass.
    problems = conn.execute("PRAGMA foreign_key_check").fetchmany(5)
    if problems:
        raise AssertionError(f"the history builder wrote dangling references: {problems}")
    conn.execute("COMMIT")


def _file_path(images_dir: Path, name: str) -> Path:
    """Where the store keeps a hash's file (or a temporary file named after it)."""
    sha256 = name.lstrip(".")
    return images_dir / sha256[:2] / (name if name.startswith(".") else f"{sha256}.png")


def _write_files(images_dir: Path, rows: _Rows) -> None:
    for prefix in range(256):
        (images_dir / f"{prefix:02x}").mkdir(parents=True, exist_ok=True)
    by_folder: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    for name, data in rows.files.items():
        by_folder[name.lstrip(".")[:2]].append((name, data))

    def write(files: list[tuple[str, bytes]]) -> None:
        for name, data in files:
            _file_path(images_dir, name).write_bytes(data)

    # Tens of thousands of small files: the file system, not Python, is the bottleneck.
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, by_folder.values()))
    # Leftovers are old, so the sweep takes them whatever grace period it is given.
    old = HISTORY_START.timestamp()
    for name in [*rows.unreferenced, *rows.stray_files, *rows.partial_files]:
        os.utime(_file_path(images_dir, name), (old, old))


def _build_sync(db_path: Path, images_dir: Path, spec: HistorySpec) -> None:
    rows = _Generator(spec).generate()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        # A throwaway file being filled: durability would only slow the build down.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        _apply_base_schema(conn)
        _insert_rows(conn, rows)
    finally:
        conn.close()
    _write_files(images_dir, rows)


async def build_history(db_path: Path, images_dir: Path, spec: HistorySpec) -> None:
    """Write a database and image store holding `spec`'s history (both must not exist yet).

    Migrations up to BASE_SCHEMA make the schema the rows are written for; `Database.open` then
    applies every later migration to the filled database, as an upgrade in production would.
    """
    if db_path.exists():
        raise FileExistsError(db_path)
    await asyncio.to_thread(_build_sync, db_path, images_dir, spec)
    async with open_database(db_path):
        pass


def migrations_fingerprint() -> str:
    """A hash of every migration and of this module (the builder): a cached build is stale
    once either changes."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for migration in load_migrations():
        digest.update(migration.name.encode() + b"\0" + migration.sql.encode() + b"\0")
    return digest.hexdigest()[:16]


# -- what each operation acts on ------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    user_id: int
    guild_id: int

    def viewer(self) -> Viewer:
        return Viewer(self.user_id, self.guild_id)


@dataclass(frozen=True)
class Inputs:
    """Varied arguments for the operations, read from a built database. The lists that
    operations use up (deletions) hold distinct targets; the others are used round-robin."""

    members: list[Member]  # members of the big server with history, for reads and queueing
    scene_characters: list[str]  # public ids of shared characters there (autocomplete's values)
    typed_names: list[tuple[Member, str]]  # a name as a member types it, and who types it
    results: list[tuple[Member, int, int]]  # requester, finished job, how many images
    characters: list[tuple[Member, int]]  # owner and id of a character to delete
    busiest_characters: list[int]  # ids of the big server's most used shared characters
    forgettable: list[int]  # members with a modest history (HistorySpec) and nothing waiting


def pick_inputs(db_path: Path, count: int, seed: int = 7) -> Inputs:
    """Choose up to `count` of each input from the database (slow queries are fine here)."""
    rng = random.Random(seed)

    def sample(rows: Sequence[T], k: int = count) -> list[T]:
        return rng.sample(list(rows), min(k, len(rows)))

    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        # What forget-me erases is the member's own, so it forgets the modest members (see
        # HistorySpec): every history has the same ones, and the same of them are drawn here
        # (first, from the same seed), so a first day and a year are compared on members of
        # the same size. bench/history.py times the member who owns the most apart.
        modest = conn.execute(
            "SELECT DISTINCT user_id FROM jobs WHERE user_id >= ? ORDER BY user_id",
            (MODEST_BASE,),
        ).fetchall()
        forgettable = [user for (user,) in sample(modest)]
        excluded = set(forgettable)
        # Members with ten or more jobs waiting would soon hit the per-member cap when queueing.
        excluded |= {
            user
            for (user,) in conn.execute(
                "SELECT user_id FROM jobs WHERE state IN ('queued', 'running') "
                "GROUP BY user_id HAVING COUNT(*) >= 10"
            )
        }
        members = [
            Member(user, BIG_GUILD)
            for (user,) in conn.execute(
                "SELECT DISTINCT user_id FROM jobs WHERE guild_id = ? ORDER BY user_id",
                (BIG_GUILD,),
            )
            if user not in excluded
        ]
        shared = conn.execute(
            "SELECT public_id FROM characters WHERE guild_id = ? AND visibility = 'server'",
            (BIG_GUILD,),
        ).fetchall()
        unique_names = conn.execute(
            "SELECT MIN(name) FROM characters WHERE guild_id = ? AND visibility = 'server' "
            "GROUP BY name_key HAVING COUNT(*) = 1",
            (BIG_GUILD,),
        ).fetchall()
        results = conn.execute(
            "SELECT user_id, guild_id, id, image_count FROM jobs j WHERE state = 'succeeded' "
            "AND EXISTS (SELECT 1 FROM job_images WHERE job_id = j.id)"
        ).fetchall()
        characters = conn.execute(
            "SELECT owner_id, guild_id, id FROM characters WHERE guild_id != 0"
        ).fetchall()
        busiest = conn.execute(
            "SELECT id FROM characters WHERE guild_id = ? AND visibility = 'server' "
            "ORDER BY scene_count DESC, id LIMIT ?",
            (BIG_GUILD, count),
        ).fetchall()
    finally:
        conn.close()
    typed = [
        (rng.choice(members), name.lower() if rng.random() < 0.5 else name)
        for (name,) in sample(unique_names)
    ]
    return Inputs(
        members=sample(members),
        scene_characters=[public_id for (public_id,) in sample(shared)],
        typed_names=typed,
        results=[
            (Member(user, guild), job_id, images)
            for user, guild, job_id, images in sample(
                [row for row in results if row[0] not in excluded]
            )
        ],
        characters=[
            (Member(owner, guild), character_id)
            for owner, guild, character_id in sample(
                [row for row in characters if row[0] not in excluded]
            )
        ],
        forgettable=forgettable,
        busiest_characters=[character_id for (character_id,) in sample(busiest)],
    )


# -- the services, as the bot builds them ---------------------------------------------------


@contextlib.asynccontextmanager
async def open_services(db: Database, data_dir: Path) -> AsyncIterator[Services]:
    """The production services on `db`, with a Segmind key that is never used: queueing only
    checks that some configured service could honour a request, and no job is ever run."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        providers=("segmind",),
        segmind_api_key="history-benchmark",  # type: ignore[arg-type]
        segmind_base_url="http://127.0.0.1:9",
    )
    async with httpx.AsyncClient(trust_env=False) as http:
        services = build_services(settings, db, build_router(settings, http), clock=FixedClock())
        # The jobs the calls start stay running (each is stopped before it runs): bounds high
        # enough that they never refuse the next start (what is timed is choosing and starting).
        services.runner.limits = dataclasses.replace(
            services.runner.limits, running=10**6, per_member=10**6
        )
        try:
            yield services
        finally:
            await services.runner.stop()


async def start_next_job(runner: JobRunner) -> None:
    """What the runner does when a slot frees: choose the next job fairly and mark it running.

    The job it spawns is stopped before it runs, so nothing is sent to a service and the job
    stays "running".
    """
    await runner.start_next()
    await runner.stop()


# -- the catalogue --------------------------------------------------------------------------

Run = Callable[[Services, Inputs, int], Awaitable[object]]


@dataclass(frozen=True)
class Operation:
    """One command's work. `run(services, inputs, i)` does it for the i-th input; `uses_up`
    names the inputs it consumes (one distinct target per call), if any."""

    name: str
    run: Run
    uses_up: Callable[[Inputs], Sequence[object]] | None = None


def _nth(items: Sequence[T], i: int) -> T:
    if not items:
        raise LookupError("the database holds nothing for this operation to act on")
    return items[i % len(items)]


async def _start_up(services: Services, inputs: Inputs, i: int) -> None:
    opened = await connect(services.jobs.db.target)
    await opened.close()


async def _quota(services: Services, inputs: Inputs, i: int) -> object:
    return await services.quota.status(_nth(inputs.members, i).viewer())


async def _jobs(services: Services, inputs: Inputs, i: int) -> object:
    return await services.jobs.active(_nth(inputs.members, i).viewer())


async def _autocomplete(services: Services, inputs: Inputs, i: int) -> object:
    viewer = _nth(inputs.members, i).viewer()
    return await services.characters.suggest(viewer, FRAGMENTS[i % len(FRAGMENTS)])


async def _find_by_name(services: Services, inputs: Inputs, i: int) -> object:
    member, typed = _nth(inputs.typed_names, i)
    return await services.characters.resolve(member.viewer(), typed)


async def _positions(services: Services, inputs: Inputs, i: int) -> object:
    # A ranking made now, as a member who just queued gets it (JobService shares a ranking
    # for half a second; `since` asks for a fresh one).
    return await services.jobs._positions.get(since=time.monotonic())


async def _queue_scene(services: Services, inputs: Inputs, i: int) -> object:
    member = _nth(inputs.members, i)
    options: dict[str, object] = {"prompt": PROMPTS[i % len(PROMPTS)], "speed": "turbo"}
    character = _nth(inputs.scene_characters, i)
    return await services.jobs.queue_scene(member.viewer(), CHANNEL, character, options)


async def _start_next(services: Services, inputs: Inputs, i: int) -> None:
    await start_next_job(services.runner)


async def _delete_result(services: Services, inputs: Inputs, i: int) -> None:
    member, job_id, images = inputs.results[i]
    await services.results.delete(member.viewer(), job_id, list(range(images)))


async def _delete_character(services: Services, inputs: Inputs, i: int) -> object:
    owner, character_id = inputs.characters[i]
    return await services.characters.delete(owner.viewer(), character_id)


async def _forget(services: Services, inputs: Inputs, i: int) -> object:
    return await services.privacy.forget(inputs.forgettable[i])


_ORDERS = ("newest", "scenes", "name")


async def _gallery_characters(services: Services, inputs: Inputs, i: int) -> object:
    """A page of the server's characters: the first page, or the one after a character: any
    one (most have few scenes, and share their count with many), or one of the most used (few
    share theirs, so by scenes the page goes on past the ones that do)."""
    viewer = _nth(inputs.members, i).viewer()
    cursor = None
    if i % 2:
        after = _nth(inputs.characters, i)[1] if i % 4 == 1 else _nth(inputs.busiest_characters, i)
        cursor = PageCursor("after", (after,), 2)
    query = CharacterQuery(order=_ORDERS[i % 3])  # type: ignore[arg-type]
    return await services.gallery.character_page(viewer, query, cursor)


async def _gallery_scenes(services: Services, inputs: Inputs, i: int) -> object:
    """A page of pictures: the server's, a character's (found as the command finds it), a
    member's, or the favourites; the first page, or the one after a picture."""
    member = _nth(inputs.members, i)
    viewer = member.viewer()
    kind = i % 4
    query = PictureQuery(favorites=kind == 3)
    if kind == 1:
        character = await services.gallery.character(viewer, _nth(inputs.scene_characters, i))
        query = PictureQuery(character_id=character.id)
    elif kind == 2:
        query = PictureQuery(member_id=member.user_id)
    cursor = None
    if i % 2:
        _, job_id, _ = _nth(inputs.results, i)
        cursor = PageCursor("after", (job_id, 0), 2)
    return await services.gallery.picture_page(viewer, query, cursor)


async def _show_suggestions(services: Services, inputs: Inputs, i: int) -> object:
    """/show's autocomplete: a member's recent jobs (a moderator's: the server's)."""
    member = _nth(inputs.members, i)
    viewer = Viewer(member.user_id, member.guild_id, can_manage_messages=i % 4 == 0)
    return await services.results.recent(viewer, FRAGMENTS[i % len(FRAGMENTS)])


# Reads first, then what changes the queue, then deletions, so each sees the history intact.
OPERATIONS: tuple[Operation, ...] = (
    Operation("start-up (open and migrate)", _start_up),
    Operation("/quota", _quota),
    Operation("/jobs", _jobs),
    Operation("autocomplete", _autocomplete),
    Operation("find by name", _find_by_name),
    Operation("queue positions", _positions),
    Operation("gallery: characters page", _gallery_characters),
    Operation("gallery: scenes page", _gallery_scenes),
    Operation("/show suggestions", _show_suggestions),
    Operation("queue a scene", _queue_scene),
    Operation("start the next job", _start_next),
    Operation("delete a result", _delete_result, lambda inputs: inputs.results),
    Operation("delete a character", _delete_character, lambda inputs: inputs.characters),
    Operation("forget-me", _forget, lambda inputs: inputs.forgettable),
)


# -- what the database runs, and how ----------------------------------------------------------


async def on_database_thread(db: Database, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run `work` with the sqlite3 connection under `db`, on the thread that owns it.

    sqlite3 objects refuse calls from other threads, and the Database keeps its aiosqlite
    connection private (`db._conn`, whose own `_conn` is the sqlite3 one): only the benchmark
    and the plan test reach under it, to install a trace callback or a progress handler.
    """
    return await run_sync(db._conn, work)


_SKIPPED = ("BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA", "--")
_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
_SPACE = re.compile(r"\s+")


def normalise(sql: str) -> str:
    """The statement with its literal values replaced by ?, for telling statements apart."""
    return _SPACE.sub(" ", _LITERAL.sub("?", sql)).strip()


@dataclass
class Trace:
    """Statements one operation ran (with their values, one example of each), and how many
    thousand SQLite virtual-machine instructions it took: a cost that follows rows read."""

    statements: dict[str, str] = field(default_factory=dict)  # normalised -> example
    kilo_instructions: int = 0

    def statement(self, sql: str) -> None:
        if not sql.lstrip().upper().startswith(_SKIPPED):
            self.statements.setdefault(normalise(sql), sql)

    def progress(self) -> int:
        self.kilo_instructions += 1
        return 0  # carry on


@contextlib.asynccontextmanager
async def capture_statements(db: Database) -> AsyncIterator[Trace]:
    """Record what `db`'s connection runs inside the block. The trace callback receives each
    statement with its parameters already expanded, so it can be explained afterwards."""
    trace = Trace()

    def install(raw: sqlite3.Connection) -> None:
        raw.set_trace_callback(trace.statement)
        raw.set_progress_handler(trace.progress, 1000)

    def remove(raw: sqlite3.Connection) -> None:
        raw.set_trace_callback(None)
        raw.set_progress_handler(None, 0)

    await on_database_thread(db, install)
    try:
        yield trace
    finally:
        await on_database_thread(db, remove)


# Tables whose rows accumulate with use (history, or one row per member); a command must find
# its rows in them through an index, never by reading the whole table.
GROWING_TABLES = frozenset(
    {
        "jobs",
        "job_images",
        "images",
        "characters",
        "looks",
        "character_members",
        "member_prefs",
        "credit_ledger",
        "credit_holds",
        "credit_usage",
        "member_requests",
        "queue_turns",
        "scene_cards",
        "favorite_pictures",
        "shared_pictures",
        "showcase_posts",
        "stories",
        "story_cast",
        "story_scenes",
    }
)
# A partial index whose WHERE clause keeps only live work (waiting or running jobs, credits on
# hold, results not yet delivered) stays small however long the bot runs, so reading all of it
# is fine. Any other index is as big as its table (or grows with it), so a SCAN of it, covering
# or not, is still a full read and is flagged.
_LIVE_MARKERS = ("'QUEUED'", "'RUNNING'", "'HELD'", "DELIVERED_AT IS NULL")
_SCAN = re.compile(r"^SCAN (\S+)(?: USING (?:COVERING )?INDEX (\S+))?")
_WHERE = re.compile(r"\sWHERE\s", re.IGNORECASE)


def _where_clause(index_sql: str) -> str:
    """A partial index's WHERE clause, upper-cased ("" for a whole index); WHERE may start a
    line of its own."""
    parts = _WHERE.split(index_sql, maxsplit=1)
    return parts[1].upper() if len(parts) == 2 else ""


# An automatic index is built by reading the whole table, on every run of the statement.
_AUTOMATIC = re.compile(r"^SEARCH (\S+) USING AUTOMATIC (?:PARTIAL )?(?:COVERING )?INDEX()")
_NOT_ALIASES = _words(
    "WHERE ON USING JOIN LEFT RIGHT FULL INNER CROSS NATURAL ORDER GROUP LIMIT SET VALUES "
    "WINDOW UNION EXCEPT INTERSECT RETURNING INDEXED NOT HAVING AS"
)
_TABLE_REF = re.compile(
    r"\b(?:FROM|JOIN|UPDATE|INTO)\s+\"?(\w+)\"?(?:\s+(?:AS\s+)?(?!(?:"
    + "|".join(_NOT_ALIASES)
    + r")\b)(\w+))?",
    re.IGNORECASE,
)
_DELETE = re.compile(r"^\s*DELETE\s+FROM\s+\"?(\w+)\"?", re.IGNORECASE)


@dataclass(frozen=True)
class Plan:
    """One statement's query plan, and the lines that read a growing table in full."""

    sql: str  # normalised (values as ?)
    lines: list[str]
    flags: list[str]


def _aliases(sql: str) -> dict[str, set[str]]:
    """Which table each name in a plan may stand for (plans name tables by their alias)."""
    names: dict[str, set[str]] = defaultdict(set)
    for match in _TABLE_REF.finditer(sql):
        table, alias = match.group(1).lower(), match.group(2)
        names[table].add(table)
        if alias:
            names[alias.lower()].add(table)
    return names


class Explainer:
    """Query plans on a database file, read through a connection of its own."""

    def __init__(self, db_path: Path) -> None:
        self.conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        self.live_indexes = {
            name
            for name, sql in self.conn.execute(
                "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL"
            )
            if any(marker in _where_clause(sql) for marker in _LIVE_MARKERS)
        }
        # Deleting a row makes SQLite look up every row that refers to it (to restrict, cascade
        # or set null). EXPLAIN QUERY PLAN leaves those look-ups out, so they are explained as
        # the equivalent SELECT (they go through the same planner).
        # Per parent table: each child table's foreign key, as its (column, type) pairs (a key
        # of several columns is looked up by all of them together, as SQLite does).
        self.children: dict[str, list[tuple[str, list[tuple[str, str]]]]] = defaultdict(list)
        for (table,) in self.conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'"):
            types = {row[1]: row[2] for row in self.conn.execute(f'PRAGMA table_info("{table}")')}
            keys: dict[tuple[int, str], list[tuple[str, str]]] = defaultdict(list)
            for row in self.conn.execute(f'PRAGMA foreign_key_list("{table}")'):
                key_id, parent, column = row[0], row[2], row[3]
                keys[(key_id, parent)].append((column, types.get(column, "")))
            for (_, parent), columns in keys.items():
                self.children[parent].append((table, columns))

    def close(self) -> None:
        self.conn.close()

    def plans(self, statements: Iterable[str]) -> list[Plan]:
        out: list[Plan] = []
        for sql in statements:
            out.append(self.plan(sql))
            deleted = _DELETE.match(sql)
            for child, columns in self.children.get(deleted.group(1) if deleted else "", []):
                check = f'SELECT 1 FROM "{child}" WHERE ' + " AND ".join(
                    f'"{column}" = ' + ("0" if "INT" in kind.upper() else "''")
                    for column, kind in columns
                )
                plan = self.plan(check)
                out.append(
                    Plan(f"(foreign key check of {normalise(sql)[:60]}…) {normalise(check)}",
                         plan.lines, plan.flags)
                )  # fmt: skip
        return out

    def plan(self, sql: str) -> Plan:
        try:
            rows = self.conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
        except sqlite3.Error as exc:
            return Plan(normalise(sql), [f"(cannot explain: {exc})"], [])
        depth: dict[int, int] = {}
        lines, flags = [], []
        aliases = _aliases(sql)
        for node, parent, _, detail in rows:
            depth[node] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node] + detail)
            scan = _SCAN.match(detail) or _AUTOMATIC.match(detail)
            if scan is None or "VIRTUAL TABLE" in detail:
                continue
            name, index = scan.group(1).lower(), scan.group(2)
            tables = aliases.get(name, {name})
            if tables & GROWING_TABLES and index not in self.live_indexes:
                flags.append(detail)
        return Plan(normalise(sql), lines, flags)


def explain(db_path: Path, statements: Iterable[str]) -> list[Plan]:
    """Query plans for these statements (and the foreign-key look-ups their deletes make)."""
    explainer = Explainer(db_path)
    try:
        return explainer.plans(statements)
    finally:
        explainer.close()


def force_year_statistics(db_path: Path, scale: float) -> None:
    """Give the planner statistics as if the database held a full year (ANALYZE on the small
    one, with every table's row count scaled up by 1/scale): a plan that is only right
    because a table is small today is then shown as it will be."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("ANALYZE")
        factor = 1 / scale
        rows = conn.execute("SELECT tbl, idx, stat FROM sqlite_stat1").fetchall()
        conn.execute("BEGIN")
        for table, index, stat in rows:
            numbers = stat.split(" ")
            numbers[0] = str(max(1, round(int(numbers[0]) * factor)))
            conn.execute(
                "UPDATE sqlite_stat1 SET stat = ? WHERE tbl = ? AND idx IS ?",
                (" ".join(numbers), table, index),
            )
        conn.execute("COMMIT")
    finally:
        conn.close()
