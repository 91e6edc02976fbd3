"""Gallery pages: a server's characters and delivered pictures, as one member may see them.

Who may see what is decided here, in the query: a server's shared characters and the
viewer's own private ones, never another member's private ones, never a personal (DM)
character; pictures only of characters the viewer may see, and only once delivered.

Pages are read by keyset, not by offset: each page starts after the last entry of the one
before (or ends before the first entry of the one after, going back), reads an index in order
and stops at the page's end. Page 100 costs what page 1 costs, in a server with 5,000
characters and 50,000 pictures as in a new one (`storage/migrations/0009_galleries.sql`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Literal

from bot.models import Character, Picture
from storage.characters import COLUMNS, character_of
from storage.jobs import _job

CharacterOrder = Literal["newest", "scenes", "name"]
Direction = Literal["after", "before"]


@dataclass(frozen=True)
class _Order:
    keys: tuple[str, ...]  # the sort columns, the row id last
    descending: bool
    index: str  # holds a server's shared characters in this order

    def sql(self, reverse: bool) -> str:
        descending = self.descending != reverse
        return ", ".join(f"{key} {'DESC' if descending else 'ASC'}" for key in self.keys)

    def past(self, direction: Direction, cursor_key: str | None) -> list[str]:
        """The conditions for rows beyond the cursor row, going `direction` in this order: one
        per index range, nearest first (rows tied with the cursor on the sort key, then those
        past its key). SQLite seeks a row value like (key, id) < (…) on its first column only,
        so one condition would walk every row tied with the cursor's key (thousands of
        characters with no scenes yet) before the page's first row."""
        forward = direction == "after"
        op = "<" if forward == self.descending else ">"
        *sort, row_id = self.keys
        if not sort:
            return [f"AND {row_id} {op} :cursor"]
        (key,) = sort
        return [
            f"AND {key} = ({cursor_key}) AND {row_id} {op} :cursor",
            f"AND {key} {op} ({cursor_key})",
        ]


_CHARACTER_ORDERS: dict[CharacterOrder, _Order] = {
    "newest": _Order(("c.id",), descending=True, index="characters_shared_newest"),
    "scenes": _Order(("c.scene_count", "c.id"), descending=True, index="characters_by_scenes"),
    "name": _Order(("c.name_key", "c.id"), descending=False, index="characters_by_guild"),
}
# The cursor row's own keys, read by id (it may have changed since the page was shown).
# A deleted cursor row has none: every comparison with NULL is false, so the page is empty.
_CHARACTER_CURSOR: dict[CharacterOrder, str | None] = {
    "newest": None,
    "scenes": "SELECT scene_count FROM characters WHERE id = :cursor",
    "name": "SELECT name_key FROM characters WHERE id = :cursor",
}


def character_page(
    conn: sqlite3.Connection,
    *,
    scope: int,
    viewer_id: int,
    member_id: int | None,
    order: CharacterOrder,
    cursor: tuple[Direction, int] | None,
    limit: int,
) -> list[Character]:
    """Up to `limit` characters `viewer_id` may see in server `scope` (only `member_id`'s, if
    given) in `order`, after or before the character `cursor` names (from the start if None).

    Shared characters and the viewer's own private ones are two index-ordered reads, each
    stopping at `limit`, merged here: one query with an OR between them would read and sort
    every character of the server for each page.
    """
    spec = _CHARACTER_ORDERS[order]
    reverse = cursor is not None and cursor[0] == "before"
    pasts = [""] if cursor is None else spec.past(cursor[0], _CHARACTER_CURSOR[order])
    params = {
        "scope": scope,
        "user": viewer_id,
        "member": member_id,
        "cursor": None if cursor is None else cursor[1],
        "limit": limit,
    }
    select = f"SELECT {COLUMNS}, c.name_key AS name_key, c.scene_count AS scenes FROM"
    joined = "JOIN images i ON i.sha256 = c.image_sha256"
    if member_id is None:
        shared = f"characters c INDEXED BY {spec.index} {joined} WHERE c.guild_id = :scope"
    else:
        shared = (
            f"characters c INDEXED BY characters_by_owner {joined} "
            "WHERE c.owner_id = :member AND c.guild_id = :scope"
        )

    def read(where: str) -> list[sqlite3.Row]:
        """The first `limit` rows of `where` past the cursor, one index range after another."""
        found: list[sqlite3.Row] = []
        for past in pasts:
            found += conn.execute(
                f"{where} {past} ORDER BY {spec.sql(reverse)} LIMIT :limit", params
            ).fetchall()
            if len(found) >= limit:
                break
        return found[:limit]

    # A character waiting for a moderator's approval is its owner's alone until then.
    rows = read(f"{select} {shared} AND c.listed = 1 AND c.awaiting_approval = 0")
    if member_id is None or member_id == viewer_id:
        # The viewer's own unlisted characters here: at most a few hundred, by owner.
        rows += read(
            f"{select} characters c INDEXED BY characters_by_owner {joined} "
            "WHERE c.owner_id = :user AND c.guild_id = :scope "
            "AND (c.listed = 0 OR c.awaiting_approval = 1)"
        )
        rows.sort(key=lambda row: _character_key(order, row), reverse=reverse)
        rows = rows[:limit]
    if reverse:
        rows.reverse()
    return [character_of(row) for row in rows]


def _character_key(order: CharacterOrder, row: sqlite3.Row) -> tuple[object, ...]:
    if order == "newest":
        return (-row["id"],)
    if order == "scenes":
        return (-row["scenes"], -row["id"])
    return (row["name_key"], row["id"])


# Which index drives each kind of picture page: each holds the candidates in job order.
_PICTURE_SOURCES = {
    "server": "jobs j INDEXED BY jobs_pictures_by_guild "
    "CROSS JOIN job_images ji ON ji.job_id = j.id",
    "character": "jobs j INDEXED BY jobs_by_character CROSS JOIN job_images ji ON ji.job_id = j.id",
    "member": "jobs j INDEXED BY jobs_by_user CROSS JOIN job_images ji ON ji.job_id = j.id",
    "favorites": "favorite_pictures f CROSS JOIN job_images ji "
    "ON ji.job_id = f.job_id AND ji.position = f.position CROSS JOIN jobs j ON j.id = f.job_id",
}
_PICTURE_COLUMNS = (
    "j.*, ji.position AS picture_position, ji.image_sha256 AS picture_sha256, "
    "img.format AS picture_format"
)
_PICTURE_VISIBLE = (
    "JOIN characters c ON c.id = j.character_id "
    "JOIN images img ON img.sha256 = ji.image_sha256 "
    "WHERE j.guild_id = :scope AND j.state = 'succeeded' AND j.delivered_at IS NOT NULL "
    # Age-restricted pictures stay in the channel they were made for (migration 0017).
    "AND ji.age_restricted = 0 "
    "AND c.guild_id = :scope AND (c.listed = 1 OR c.owner_id = :user OR EXISTS "
    "(SELECT 1 FROM character_members m WHERE m.character_id = c.id AND m.user_id = :user))"
)


def picture_page(
    conn: sqlite3.Connection,
    *,
    scope: int,
    viewer_id: int,
    character_id: int | None,
    member_id: int | None,
    favorites: bool,
    cursor: tuple[Direction, int, int] | None,
    limit: int,
    likeness: tuple[float, float] | None = None,
) -> list[Picture]:
    """Up to `limit` delivered pictures in server `scope` of characters `viewer_id` may see,
    newest job first (then in the job's order): only of `character_id`, or asked for by
    `member_id`, or favourited, if given; after or before the picture `cursor` names
    (direction, job id, position), from the newest if None. `likeness` (lowest, highest
    excluded) keeps pictures scored in that range: a filter on the rows the page walks, so
    its cost grows with the pictures it passes over (those of one character, typically)."""
    filters = []
    # The job id and position as the driving index holds them, so their order needs no sort.
    job, position = "j.id", "ji.position"
    if character_id is not None:
        filters.append("AND j.character_id = :character")
        source = _PICTURE_SOURCES["character"]
    elif member_id is not None:
        source = _PICTURE_SOURCES["member"]
    elif favorites:
        source = _PICTURE_SOURCES["favorites"]
        job, position = "f.job_id", "f.position"
        filters.append("AND f.guild_id = :scope")
    else:
        source = _PICTURE_SOURCES["server"]
    if member_id is not None:
        filters.append("AND j.user_id = :member")
    if favorites:
        filters.append("AND ji.favorite = 1")
    if likeness is not None:
        filters.append("AND ji.likeness >= :low AND ji.likeness < :high")
    reverse = cursor is not None and cursor[0] == "before"
    if cursor is not None:
        # Newest job first, a job's pictures in order: "after" is an older job, or a later
        # picture of the same job. The job id bound alone is what the index can range over.
        filters.append(
            f"AND {job} >= :job AND NOT ({job} = :job AND {position} >= :position)"
            if reverse
            else f"AND {job} <= :job AND NOT ({job} = :job AND {position} <= :position)"
        )
    ordering = f"{job} ASC, {position} DESC" if reverse else f"{job} DESC, {position} ASC"
    rows = conn.execute(
        f"SELECT {_PICTURE_COLUMNS} FROM {source} {_PICTURE_VISIBLE} "  # noqa: S608
        f"{' '.join(filters)} ORDER BY {ordering} LIMIT :limit",
        {
            "scope": scope,
            "user": viewer_id,
            "character": character_id,
            "member": member_id,
            "job": None if cursor is None else cursor[1],
            "position": None if cursor is None else cursor[2],
            "limit": limit,
            "low": likeness[0] if likeness else None,
            "high": likeness[1] if likeness else None,
        },
    ).fetchall()
    if reverse:
        rows.reverse()
    return [_picture(row) for row in rows]


def picture(
    conn: sqlite3.Connection, *, scope: int, viewer_id: int, job_id: int, position: int
) -> Picture | None:
    """One delivered picture, if the viewer may see it in this server."""
    row = conn.execute(
        f"SELECT {_PICTURE_COLUMNS} FROM jobs j "  # noqa: S608
        f"JOIN job_images ji ON ji.job_id = j.id {_PICTURE_VISIBLE} "
        "AND j.id = :job AND ji.position = :position",
        {"job": job_id, "position": position, "scope": scope, "user": viewer_id},
    ).fetchone()
    return None if row is None else _picture(row)


def _picture(row: sqlite3.Row) -> Picture:
    return Picture(
        job=_job(row),
        position=row["picture_position"],
        image_sha256=row["picture_sha256"],
        image_format=row["picture_format"],
    )
