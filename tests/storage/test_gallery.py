"""Gallery pages, walked forwards and back on random servers, against what the rules say."""

from __future__ import annotations

import itertools
import random
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import gallery, images, jobs
from storage.database import Database, open_database
from tests.storage.test_jobs import new_job

GUILD, OTHER_GUILD = 10, 11
VIEWER = 1
SHA = "c" * 64


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database(tmp_path / "cameo.sqlite3") as database:
        await database.run_transaction(
            lambda conn: images.insert(conn, images.ImageRow(SHA, "png", 1, 1, 1), "now")
        )
        yield database


def add_character(
    conn: sqlite3.Connection, n: int, owner: int, guild: int, visibility: str, scenes: int
) -> int:
    name = f"Name {random.Random(n).randrange(1000):03d} {n}"
    row = conn.execute(
        "INSERT INTO characters (public_id, guild_id, owner_id, name, name_key, visibility, "
        "image_sha256, original_sha256, original_format, original_width, original_height, "
        "scene_count, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'png', 1, 1, ?, 't', 't') RETURNING id",
        (f"c{n:05d}", guild, owner, name, name.lower(), visibility, SHA, SHA, scenes),
    ).fetchone()
    return int(row[0])


@pytest.mark.parametrize("order", ["newest", "scenes", "name"])
@pytest.mark.parametrize("seed", range(3))
async def test_character_pages_show_exactly_what_the_viewer_may_see_in_order(
    db: Database, order: gallery.CharacterOrder, seed: int
) -> None:
    rng = random.Random(seed)

    def work(conn: sqlite3.Connection) -> None:
        expected = []
        for n in range(rng.randint(20, 70)):
            owner = rng.choice([VIEWER, 2, 3])
            guild = rng.choice([GUILD, GUILD, GUILD, OTHER_GUILD, 0])
            visibility = rng.choice(["server", "server", "private"])
            scenes = rng.choice([0, 1, 5, 5, 9])
            character_id = add_character(conn, n, owner, guild, visibility, scenes)
            if guild == GUILD and (visibility == "server" or owner == VIEWER):
                name = conn.execute(
                    "SELECT name_key FROM characters WHERE id = ?", (character_id,)
                ).fetchone()[0]
                expected.append((character_id, scenes, name))
        key = {
            "newest": lambda e: (-e[0],),
            "scenes": lambda e: (-e[1], -e[0]),
            "name": lambda e: (e[2], e[0]),
        }[order]
        wanted = [e[0] for e in sorted(expected, key=key)]

        def page(cursor: tuple[gallery.Direction, int] | None) -> list[int]:
            found = gallery.character_page(
                conn,
                scope=GUILD,
                viewer_id=VIEWER,
                member_id=None,
                order=order,
                cursor=cursor,
                limit=7,
            )
            return [c.id for c in found]

        pages = [page(None)]
        while len(pages[-1]) == 7:
            pages.append(page(("after", pages[-1][-1])))
        assert [i for p in pages for i in p] == wanted
        # Going back from each page gives the page before it.
        for before, after in itertools.pairwise(pages):
            assert page(("before", after[0])) == before

    await db.run_transaction(work)


async def test_picture_pages_follow_the_rules_and_the_filters(db: Database) -> None:
    rng = random.Random(4)

    def work(conn: sqlite3.Connection) -> None:
        shared = add_character(conn, 1, 2, GUILD, "server", 0)
        own_private = add_character(conn, 2, VIEWER, GUILD, "private", 0)
        other_private = add_character(conn, 3, 3, GUILD, "private", 0)
        personal = add_character(conn, 4, VIEWER, 0, "private", 0)
        elsewhere = add_character(conn, 5, 2, OTHER_GUILD, "server", 0)
        visible: list[tuple[int, int, int, bool, int]] = []  # job, position, user, fav, char
        for n in range(60):
            character = rng.choice([shared, own_private, other_private, personal, elsewhere])
            guild = OTHER_GUILD if character == elsewhere else GUILD
            user = rng.choice([VIEWER, 2, 3])
            job = jobs.insert(
                conn,
                new_job(user, guild_id=guild, character_id=character, reference_sha256=SHA),
            )
            state = rng.choice(["delivered", "delivered", "delivered", "undelivered", "failed"])
            jobs.start(conn, job.id, "t")
            if state == "failed":
                jobs.fail(conn, job.id, "no", "t")
                continue
            count = rng.randint(1, 3)
            jobs.succeed(
                conn, job.id, provider="x", seed=n, cost=None, image_hashes=[SHA] * count,
                error=None, at="t",
            )  # fmt: skip
            favorite = rng.randrange(count) if rng.random() < 0.3 else None
            if favorite is not None:
                jobs.toggle_favorite(conn, job.id, favorite)
            if state == "undelivered":
                continue
            jobs.mark_delivered(conn, job.id, "t")
            if character in (shared, own_private):
                visible += [(job.id, p, user, p == favorite, character) for p in range(count)]
        visible.sort(key=lambda v: (-v[0], v[1]))

        def walk(**filters: object) -> list[tuple[int, int]]:
            found: list[tuple[int, int]] = []
            cursor = None
            while True:
                page = gallery.picture_page(
                    conn, scope=GUILD, viewer_id=VIEWER, cursor=cursor, limit=5,
                    **{"character_id": None, "member_id": None, "favorites": False, **filters},  # type: ignore[arg-type]
                )  # fmt: skip
                found += [(p.job.id, p.position) for p in page]
                if len(page) < 5:
                    return found
                cursor = ("after", page[-1].job.id, page[-1].position)

        assert walk() == [(v[0], v[1]) for v in visible]
        assert walk(character_id=shared) == [(v[0], v[1]) for v in visible if v[4] == shared]
        assert walk(character_id=other_private) == []
        assert walk(member_id=2) == [(v[0], v[1]) for v in visible if v[2] == 2]
        assert walk(favorites=True) == [(v[0], v[1]) for v in visible if v[3]]
        for job_id, position, _, _, character in visible[:10]:
            assert gallery.picture(
                conn, scope=GUILD, viewer_id=VIEWER, job_id=job_id, position=position
            )
            seen_by_another = gallery.picture(
                conn, scope=GUILD, viewer_id=3, job_id=job_id, position=position
            )
            assert (seen_by_another is None) == (character == own_private)

    await db.run_transaction(work)
