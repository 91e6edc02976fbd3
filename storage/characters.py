"""Repository for `characters`. Visibility and ownership rules live in the WHERE clauses."""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from functools import partial

from bot.models import PERSONAL_SCOPE, Character, Suggestion, Visibility
from bot.prefs.preset import Preset
from storage.database import Connection, Database, run_sync
from storage.dialect import dialect, json_values, undo_alone

COLUMNS = """
    c.id, c.public_id, c.guild_id, c.owner_id, c.name, c.description, c.visibility,
    c.image_sha256, i.format AS image_format, i.width AS image_width, i.height AS image_height,
    c.original_sha256, c.original_format, c.original_width, c.original_height, c.scene_count,
    c.others_scene_count, c.created_at, c.updated_at, c.listed, c.defaults, c.awaiting_approval
"""
FROM = "FROM characters c JOIN images i ON i.sha256 = c.image_sha256"

# Whether the viewer is on the character's list of approved members or co-owners.
_ON_ITS_LIST = (
    "EXISTS (SELECT 1 FROM character_members m WHERE m.character_id = c.id AND m.user_id = :user)"
)
# What a viewer may see: in a server, that server's characters that are theirs, listed for
# everyone, or shared with them; plus their personal ones; in a DM (scope 0), every character
# they own.
_VISIBLE = f"""
    (
        (CAST(:scope AS BIGINT) != 0 AND c.guild_id = :scope
            AND (c.owner_id = :user OR ((c.listed = 1 OR {_ON_ITS_LIST})
                AND c.awaiting_approval = 0)))
        OR (c.owner_id = :user AND (c.guild_id = 0 OR CAST(:scope AS BIGINT) = 0))
    )
"""
# What a viewer may use in scenes: what they see, less characters listed for everyone but
# approved only for some (the owner, co-owners and approved members use those), and less any
# waiting for a moderator's approval (nobody uses those, the owner neither: see 0019).
_USABLE = f"""
    (
        c.awaiting_approval = 0 AND (
            (CAST(:scope AS BIGINT) != 0 AND c.guild_id = :scope
                AND (c.owner_id = :user OR c.visibility = 'server' OR {_ON_ITS_LIST}))
            OR (c.owner_id = :user AND (c.guild_id = 0 OR CAST(:scope AS BIGINT) = 0))
        )
    )
"""


PUBLIC_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i look-alikes
PUBLIC_ID_LENGTH = 6


class NameConflict(Exception):
    """The owner already has a character with that name in that scope."""


def _name_conflict(error: sqlite3.IntegrityError) -> bool:
    return "characters.guild_id, characters.owner_id, characters.name_key" in str(error)


@dataclass(frozen=True)
class NewCharacter:
    guild_id: int
    owner_id: int
    name: str
    name_key: str
    description: str
    visibility: Visibility
    image_sha256: str
    original_sha256: str
    original_format: str
    original_width: int
    original_height: int
    created_at: str
    listed: bool


def character_of(row: sqlite3.Row) -> Character:
    return Character(
        id=row["id"],
        public_id=row["public_id"],
        guild_id=None if row["guild_id"] == PERSONAL_SCOPE else row["guild_id"],
        owner_id=row["owner_id"],
        name=row["name"],
        description=row["description"],
        visibility=Visibility(row["visibility"]),
        image_sha256=row["image_sha256"],
        image_format=row["image_format"],
        image_width=row["image_width"],
        image_height=row["image_height"],
        original_sha256=row["original_sha256"],
        original_format=row["original_format"],
        original_width=row["original_width"],
        original_height=row["original_height"],
        scene_count=row["scene_count"],
        others_scene_count=row["others_scene_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        listed=bool(row["listed"]),
        defaults=Preset.stored(row["defaults"]),
        awaiting_approval=bool(row["awaiting_approval"]),
    )


def _new_public_id(conn: sqlite3.Connection) -> str:
    while True:
        candidate = "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(PUBLIC_ID_LENGTH))
        if not _public_id_taken(conn, candidate):
            return candidate


# The repository's async face: each call one step on the database thread (`run_sync`), inside
# the caller's transaction.


async def insert(conn: Connection, new: NewCharacter) -> Character:
    """Insert a character with a fresh short id; raises NameConflict if the name is taken."""
    return await run_sync(conn, partial(_insert, new=new))


async def public_id_taken(conn: Connection, public_id: str) -> bool:
    return await run_sync(conn, partial(_public_id_taken, public_id=public_id))


async def count_owned(conn: Connection, owner_id: int, scope: int) -> int:
    return await run_sync(conn, partial(_count_owned, owner_id=owner_id, scope=scope))


async def get_by_id(conn: Connection, character_id: int) -> Character | None:
    return await run_sync(conn, partial(_get_by_id, character_id=character_id))


def _insert(conn: sqlite3.Connection, new: NewCharacter) -> Character:
    try:
        with undo_alone(conn):
            row = conn.execute(
                "INSERT INTO characters (public_id, guild_id, owner_id, name, name_key, "
                "description, visibility, listed_when_approved, image_sha256, original_sha256, "
                "original_format, original_width, original_height, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    _new_public_id(conn),
                    new.guild_id,
                    new.owner_id,
                    new.name,
                    new.name_key,
                    new.description,
                    new.visibility.value,
                    int(new.listed),
                    new.image_sha256,
                    new.original_sha256,
                    new.original_format,
                    new.original_width,
                    new.original_height,
                    new.created_at,
                    new.created_at,
                ),
            ).fetchone()
    except sqlite3.IntegrityError as error:
        if _name_conflict(error):
            raise NameConflict from None
        raise
    created = _get_by_id(conn, int(row[0]))
    assert created is not None
    return created


def _public_id_taken(conn: sqlite3.Connection, public_id: str) -> bool:
    found = conn.execute("SELECT 1 FROM characters WHERE public_id = ?", (public_id,))
    return found.fetchone() is not None


def _count_owned(conn: sqlite3.Connection, owner_id: int, scope: int) -> int:
    row = conn.execute(
        "SELECT COUNT(*) FROM characters WHERE owner_id = ? AND guild_id = ?", (owner_id, scope)
    ).fetchone()
    return int(row[0]) if row else 0


def _get_by_id(conn: sqlite3.Connection, character_id: int) -> Character | None:
    row = conn.execute(f"SELECT {COLUMNS} {FROM} WHERE c.id = ?", (character_id,)).fetchone()
    return None if row is None else character_of(row)


async def find_visible(
    db: Database,
    *,
    user_id: int,
    scope: int,
    public_id: str | None,
    name_key: str | None,
    usable_only: bool = False,
) -> list[Character]:
    """Return visible (or, `usable_only`, usable) characters with this public id, or else
    with this name (owner's first)."""
    rule = _USABLE if usable_only else _VISIBLE

    def read(conn: sqlite3.Connection) -> list[Character]:
        if public_id is not None:
            rows = _rows_now(
                conn,
                f"SELECT {COLUMNS} {FROM} WHERE c.public_id = :public_id AND {rule}",
                {"public_id": public_id, "user": user_id, "scope": scope},
            )
            if rows:
                return rows
        if name_key is None:
            return []
        return _rows_now(
            conn,
            f"SELECT {COLUMNS} {FROM} WHERE c.name_key = :name_key AND {rule} "
            "ORDER BY (c.owner_id = :user) DESC, (c.guild_id = 0) ASC, c.id",
            {"name_key": name_key, "user": user_id, "scope": scope},
        )

    return await db.run_read(read)


async def list_visible(
    db: Database, *, user_id: int, scope: int, owner_id: int | None = None
) -> list[Character]:
    """Return every character the viewer may see (optionally only one owner's), by name."""
    owner_clause = "AND c.owner_id = :owner" if owner_id is not None else ""
    sql = (
        f"SELECT {COLUMNS} {FROM} WHERE {_VISIBLE} {owner_clause} "
        "ORDER BY (c.owner_id = :user) DESC, c.name_key, c.id"
    )
    params: dict[str, object] = {"user": user_id, "scope": scope, "owner": owner_id}
    return await db.run_read(partial(_rows_now, sql=sql, params=params))


async def suggest(
    db: Database,
    *,
    user_id: int,
    scope: int,
    fragment_key: str,
    limit: int = 25,
    usable_only: bool = False,
) -> list[Suggestion]:
    """Return up to `limit` visible (or, `usable_only`, usable) characters whose name contains
    the fragment, as autocomplete shows them.

    The caller's own come first, then those shared with them, then prefix matches before
    other substring matches, each by name. Every part reads an index in name order and stops
    at `limit`, so a server with tens of thousands of characters answers as fast as a new
    one: the caller's own (at most a few hundred) by the owner index; those shared with them
    by their list; the server's listed ones by prefix through the name index, and, for three
    characters or more, by substring through the trigram index (when more than `limit`
    contain it, the newest of them). Shorter
    fragments match shared names by prefix only: a trigram index cannot search for them, and
    one or two letters anywhere in a name match nearly everything anyway.
    """
    params = {"user": user_id, "scope": scope, "limit": limit}
    rule = _USABLE if usable_only else _VISIBLE
    shared_by_name = _SHARED_BY_NAME + (" AND c.visibility = 'server'" if usable_only else "")

    def read(conn: sqlite3.Connection) -> list[Suggestion]:
        found = _suggestions_now(
            conn,
            f"SELECT {SUGGESTED} FROM characters c WHERE c.public_id = :exact AND {rule}",  # noqa: S608
            {**params, "exact": fragment_key},
        )
        # The caller's own: few enough to match anywhere in the name, whatever its length.
        found += _suggestions_now(
            conn,
            f"SELECT {SUGGESTED} FROM characters c WHERE c.owner_id = :user AND {rule} "  # noqa: S608
            "AND instr(c.name_key, :fragment) > 0 "
            "ORDER BY instr(c.name_key, :fragment) != 1, c.name_key, c.id LIMIT :limit",
            {**params, "fragment": fragment_key},
        )
        if scope != PERSONAL_SCOPE:
            # Shared with the caller by name (few: one member's list), listed or not.
            found += _suggestions_now(
                conn,
                f"SELECT {SUGGESTED} FROM character_members m "  # noqa: S608
                "CROSS JOIN characters c ON c.id = m.character_id "
                "WHERE m.user_id = :user AND c.guild_id = :scope AND c.awaiting_approval = 0 "
                "AND instr(c.name_key, :fragment) > 0 "
                "ORDER BY instr(c.name_key, :fragment) != 1, c.name_key, c.id LIMIT :limit",
                {**params, "fragment": fragment_key},
            )
            # The server's listed ones fill what is left, skipping those already found: a
            # big server has enough matches to fill every place, and building only the
            # characters shown keeps its answer as cheap as a small server's.
            wanted, seen = _still_wanted(found, limit)
            if wanted > 0:
                found += _suggestions_now(
                    conn,
                    f"SELECT {SUGGESTED} FROM characters c {shared_by_name} {_not_seen(conn)} "  # noqa: S608
                    "AND c.name_key >= :fragment AND c.name_key < :past_prefix "
                    "ORDER BY c.name_key, c.id LIMIT :wanted",
                    {
                        **params,
                        "fragment": fragment_key,
                        "past_prefix": fragment_key + _LAST_CHARACTER,
                        "seen": seen,
                        "wanted": wanted,
                    },
                )
            wanted, seen = _still_wanted(found, limit)
            if len(fragment_key) >= 3 and wanted > 0:
                found += _suggestions_now(
                    conn, _containing(conn, shared_by_name), {
                        **params,
                        "phrase": _fts_phrase(fragment_key),
                        "pattern": f"%{_like_escaped(fragment_key)}%",
                        "seen": seen,
                        "wanted": wanted,
                    },
                )  # fmt: skip
        return found

    found = await db.run_read(read)
    unique = {character.id: character for character in found}
    return list(unique.values())[:limit]


# Characters others list for everyone in the server, in the name index's order.
# Other members' listed characters (none awaiting a moderator's approval: only their owner
# sees those).
_SHARED_BY_NAME = (
    "WHERE c.guild_id = :scope AND c.listed = 1 AND c.owner_id != :user AND c.awaiting_approval = 0"
)


def _not_seen(conn: sqlite3.Connection) -> str:
    """Leaves out the characters an earlier part of the answer already holds (`seen`: a JSON
    list)."""
    return f"AND c.id NOT IN ({json_values(conn, ':seen', integers=True)})"


# Sorts after every character a name can hold: a prefix's matches are >= it and < this after it.
_LAST_CHARACTER = chr(0x10FFFF)


def _containing(conn: sqlite3.Connection, shared_by_name: str) -> str:
    """Other members' listed characters whose names contain a fragment of three characters or
    more, newest first, through the trigram index (SQLite's FTS5 table; PostgreSQL's pg_trgm
    index on the name itself)."""
    not_seen = _not_seen(conn)
    if dialect(conn) == "postgresql":
        return (
            f"SELECT * FROM (SELECT {SUGGESTED}, c.name_key AS name_order "  # noqa: S608
            f"FROM characters c {shared_by_name} {not_seen} "
            "AND c.name_key LIKE :pattern ORDER BY c.id DESC LIMIT :wanted) AS newest "
            "ORDER BY name_order, id"
        )
    # CROSS JOIN keeps SQLite from starting at the server's characters and probing the
    # matches: the trigram index's matches come first, newest first, and reading stops at
    # `wanted`. Ordering every match by name instead would sort hundreds in a big server
    # ("ira" is in 546 of 20,000 names) for the 25 shown; the newest are then put in name order.
    return (
        f"SELECT * FROM (SELECT {SUGGESTED}, c.name_key AS name_order "  # noqa: S608
        "FROM character_names f CROSS JOIN characters c ON c.id = f.rowid "
        f"{shared_by_name} {not_seen} "
        "AND character_names MATCH :phrase ORDER BY f.rowid DESC LIMIT :wanted) "
        "ORDER BY name_order, id"
    )


def _like_escaped(fragment: str) -> str:
    return fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _still_wanted(found: list[Suggestion], limit: int) -> tuple[int, str]:
    """How many more characters an answer of `limit` has room for, and the ids it holds (as
    JSON, for _not_seen)."""
    ids = sorted({character.id for character in found})
    return limit - len(ids), json.dumps(ids)


def _fts_phrase(fragment: str) -> str:
    """The fragment as one FTS5 phrase: quoted, so its characters are never query syntax."""
    return '"' + fragment.replace('"', '""') + '"'


# What autocomplete reads of each character (Suggestion's fields).
SUGGESTED = "c.id, c.public_id, c.guild_id, c.owner_id, c.name, c.visibility"


def _suggestions_now(
    conn: sqlite3.Connection, sql: str, params: dict[str, object]
) -> list[Suggestion]:
    return [
        Suggestion(
            id=row[0],
            public_id=row[1],
            guild_id=None if row[2] == PERSONAL_SCOPE else row[2],
            owner_id=row[3],
            name=row[4],
            visibility=Visibility(row[5]),
        )
        for row in conn.execute(sql, params).fetchall()
    ]


def _rows_now(conn: sqlite3.Connection, sql: str, params: dict[str, object]) -> list[Character]:
    return [character_of(row) for row in conn.execute(sql, params).fetchall()]


async def update(
    conn: Connection,
    character_id: int,
    *,
    fields: dict[str, object],
    updated_at: str,
) -> None:
    """Update the given columns; raises NameConflict on a name clash."""
    allowed = {
        "name",
        "name_key",
        "description",
        "visibility",
        "listed_when_approved",
        "defaults",
        "owner_id",
        "image_sha256",
        "original_sha256",
        "original_format",
        "original_width",
        "original_height",
    }
    unknown = set(fields) - allowed
    assert not unknown, f"not updatable: {unknown}"
    assignments = ", ".join(f"{column} = :{column}" for column in fields)
    sql = f"UPDATE characters SET {assignments}, updated_at = :updated_at WHERE id = :id"  # noqa: S608 (columns from the allow-list above)
    params = {**fields, "updated_at": updated_at, "id": character_id}

    def change(raw: sqlite3.Connection) -> None:
        with undo_alone(raw):
            raw.execute(sql, params)

    try:
        await run_sync(conn, change)
    except sqlite3.IntegrityError as error:
        if _name_conflict(error):
            raise NameConflict from None
        raise


async def delete(conn: Connection, character_id: int) -> None:
    await run_sync(
        conn, lambda raw: raw.execute("DELETE FROM characters WHERE id = ?", (character_id,))
    )


def delete_owned_by(conn: sqlite3.Connection, owner_id: int, limit: int) -> tuple[int, list[str]]:
    """Delete up to `limit` of the characters the member owns (their looks go with them);
    return how many, and their pictures' hashes (which the caller releases in the same
    transaction). None once none are left."""
    ids = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM characters WHERE owner_id = ? LIMIT ?", (owner_id, limit)
        )
    ]
    if not ids:
        return 0, []
    marks = ", ".join("?" * len(ids))
    hashes = [
        row[0]
        for row in conn.execute(
            f"SELECT image_sha256 FROM looks WHERE character_id IN ({marks})",  # noqa: S608
            ids,
        )
    ]
    conn.execute(f"DELETE FROM characters WHERE id IN ({marks})", ids)  # noqa: S608
    return len(ids), hashes


async def owned_by(conn: Connection, owner_id: int) -> list[Character]:
    sql = f"SELECT {COLUMNS} {FROM} WHERE c.owner_id = :owner ORDER BY c.guild_id, c.name_key"
    return await run_sync(conn, partial(_rows_now, sql=sql, params={"owner": owner_id}))


def count_scene(conn: sqlite3.Connection, character_id: int, made_by: int) -> None:
    """One more finished scene of this character, made by member `made_by` (shown on its
    card; the owner also sees how many were other members').

    Plain (not async): it runs inside the job runner's one-step transaction on the database
    thread, with the rest of a finished job's writes.
    """
    conn.execute(
        "UPDATE characters SET scene_count = scene_count + 1, "
        "others_scene_count = others_scene_count "
        "+ CASE WHEN owner_id != :member THEN 1 ELSE 0 END WHERE id = :id",
        {"id": character_id, "member": made_by},
    )


def set_awaiting_approval(conn: sqlite3.Connection, character_id: int, waiting: bool) -> None:
    conn.execute(
        "UPDATE characters SET awaiting_approval = ? WHERE id = ?", (int(waiting), character_id)
    )
