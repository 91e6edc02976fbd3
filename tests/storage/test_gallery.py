"""Gallery pages, walked forwards and back on random servers, against what the rules say."""

from __future__ import annotations

import itertools
import random
import secrets
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
async def db(database_target: str | Path) -> AsyncIterator[Database]:
    async with open_database(database_target) as database:
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


def add_named(
    conn: sqlite3.Connection, owner: int, guild: int, name: str, visibility: str, scenes: int
) -> int:
    """A character named `name` (other owners' may share it), with `scenes` scenes."""
    row = conn.execute(
        "INSERT INTO characters (public_id, guild_id, owner_id, name, name_key, visibility, "
        "image_sha256, original_sha256, original_format, original_width, original_height, "
        "scene_count, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'png', 1, 1, ?, 't', 't') "
        "RETURNING id",
        (secrets.token_hex(6), guild, owner, name, name.lower(), visibility, SHA, SHA, scenes),
    ).fetchone()
    return int(row[0])


def character_ids(
    conn: sqlite3.Connection,
    order: gallery.CharacterOrder,
    cursor: tuple[gallery.Direction, int] | None,
    *,
    scope: int = GUILD,
    member_id: int | None = None,
    limit: int = 7,
) -> list[int]:
    found = gallery.character_page(
        conn, scope=scope, viewer_id=VIEWER, member_id=member_id, order=order, cursor=cursor,
        limit=limit,
    )  # fmt: skip
    return [c.id for c in found]


@pytest.mark.parametrize("order", ["scenes", "name"])
async def test_character_pages_walk_through_ties_on_the_sort_key(
    db: Database, order: gallery.CharacterOrder
) -> None:
    # Most characters share a scene count (none yet) or a name with many others: a page that
    # starts or ends among them must go on with the rest of them, in id order, then past them.
    rng = random.Random(8)
    owner_of_many = 50

    def work(conn: sqlite3.Connection) -> None:
        expected: list[tuple[int, int, str, int]] = []  # id, scenes, name key, owner
        taken: set[tuple[int, str]] = set()
        for n in range(150):
            owner = rng.choice([VIEWER, owner_of_many, owner_of_many, 100 + n])
            name = rng.choice(["Mira", "Mira", "Kael", "Zoë", "Orin"])
            if (owner, name) in taken:
                name = f"{name} {n}"
            taken.add((owner, name))
            visibility = "private" if rng.random() < 0.2 else "server"
            scenes = rng.choice([0, 0, 0, 0, 2, 2, 7])
            character_id = add_named(conn, owner, GUILD, name, visibility, scenes)
            expected.append((character_id, scenes, name.lower(), owner))
        key = {
            "scenes": lambda e: (-e[1], -e[0]),
            "name": lambda e: (e[2], e[0]),
        }[order]

        def walk(member_id: int | None) -> None:
            wanted = [
                e[0]
                for e in sorted(expected, key=key)
                if (member_id is None or e[3] == member_id)
                and (e[3] == VIEWER or conn.execute(
                    "SELECT listed FROM characters WHERE id = ?", (e[0],)
                ).fetchone()[0])
            ]  # fmt: skip
            pages = [character_ids(conn, order, None, member_id=member_id)]
            while len(pages[-1]) == 7:
                pages.append(
                    character_ids(conn, order, ("after", pages[-1][-1]), member_id=member_id)
                )
            assert [i for p in pages for i in p] == wanted
            for before, after in itertools.pairwise(pages):
                assert (
                    character_ids(conn, order, ("before", after[0]), member_id=member_id) == before
                )
            # A page of one from every character, both ways, walks the same ties one at a time.
            for earlier, later in itertools.pairwise(wanted):
                assert character_ids(
                    conn, order, ("after", earlier), member_id=member_id, limit=1
                ) == [later]
                assert character_ids(
                    conn, order, ("before", later), member_id=member_id, limit=1
                ) == [earlier]

        walk(None)
        walk(owner_of_many)
        walk(VIEWER)
        # A cursor whose character has since been deleted has no place in the order: no page.
        gone = sorted(expected, key=key)[len(expected) // 2][0]
        conn.execute("DELETE FROM characters WHERE id = ?", (gone,))
        assert character_ids(conn, order, ("after", gone)) == []
        assert character_ids(conn, order, ("before", gone)) == []

    await db.run_transaction(work)


@pytest.mark.parametrize("order", ["newest", "scenes", "name"])
async def test_a_page_among_many_ties_reads_no_more_than_among_a_few(
    db: Database, order: gallery.CharacterOrder
) -> None:
    # SQLite seeks a row value such as (scene_count, id) < (0, 41) on its first column only,
    # so a page that started among a server's 2,000 characters with no scenes would first walk
    # past every one of them. Counted in virtual-machine instructions, not time.
    if db.backend != "sqlite":
        pytest.skip("counts SQLite's virtual-machine instructions")

    def work(conn: sqlite3.Connection) -> None:
        ties = {GUILD: 2000, OTHER_GUILD: 20}
        cursors = {}
        for guild, count in ties.items():
            made = [add_named(conn, 100 + n, guild, "Mira", "server", 0) for n in range(count)]
            add_named(conn, 99, guild, "Zed", "server", 0)  # past the ties, by name
            # Near the end of the ties in this order (ids descend for newest and scenes).
            cursors[guild] = made[1] if order != "name" else made[-2]
        steps = 0

        def count() -> int:
            nonlocal steps
            steps += 1
            return 0

        costs = {}
        for guild, cursor in cursors.items():
            steps = 0
            conn.set_progress_handler(count, 10)
            try:
                found = character_ids(conn, order, ("after", cursor), scope=guild, limit=3)
            finally:
                conn.set_progress_handler(None, 0)
            assert len(found) == (1 if order != "name" else 2)
            costs[guild] = steps
        assert costs[GUILD] <= 2 * costs[OTHER_GUILD]

    await db.run_transaction(work)
