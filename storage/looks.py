"""Repository for `looks`: a character's named reference pictures, one of them the default.

The default look's picture is also the character's own (`characters.image_sha256` and the
original's facts), so every reader of a character's picture needs no join; `make_default`
and `replace_picture` keep the two in step, in the caller's transaction.

Plain functions on the sqlite3 connection, run on the database thread (see storage/jobs.py).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from bot.models import Look
from storage.dialect import undo_alone

# More would make the card's contact sheet unreadable and the autocomplete a scroll.
MAX_LOOKS = 10

_COLUMNS = (
    "l.id, l.character_id, l.name, l.is_default, l.image_sha256, i.format AS image_format, "
    "l.original_sha256, l.original_format, l.original_width, l.original_height, l.created_at"
)
_FROM = "FROM looks l JOIN images i ON i.sha256 = l.image_sha256"


class LookNameTaken(Exception):
    """The character already has a look by that name."""


@dataclass(frozen=True)
class Picture:
    """A look's reference picture and what the member first uploaded."""

    image_sha256: str
    original_sha256: str
    original_format: str
    original_width: int
    original_height: int


def _look(row: sqlite3.Row) -> Look:
    return Look(
        id=row["id"],
        character_id=row["character_id"],
        name=row["name"],
        is_default=bool(row["is_default"]),
        image_sha256=row["image_sha256"],
        image_format=row["image_format"],
        original_sha256=row["original_sha256"],
        original_format=row["original_format"],
        original_width=row["original_width"],
        original_height=row["original_height"],
        created_at=row["created_at"],
    )


def looks_of(conn: sqlite3.Connection, character_id: int) -> list[Look]:
    """The character's looks: the default first, then the others in the order they came."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} {_FROM} WHERE l.character_id = ? ORDER BY l.is_default DESC, l.id",
        (character_id,),
    ).fetchall()
    return [_look(row) for row in rows]


def by_name(conn: sqlite3.Connection, character_id: int, name_key: str) -> Look | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} {_FROM} WHERE l.character_id = ? AND l.name_key = ?",
        (character_id, name_key),
    ).fetchone()
    return None if row is None else _look(row)


def by_id(conn: sqlite3.Connection, look_id: int) -> Look | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} {_FROM} WHERE l.id = ?",
        (look_id,),
    ).fetchone()
    return None if row is None else _look(row)


def count(conn: sqlite3.Connection, character_id: int) -> int:
    row = conn.execute("SELECT count(*) FROM looks WHERE character_id = ?", (character_id,))
    return int(row.fetchone()[0])


def add(
    conn: sqlite3.Connection,
    character_id: int,
    name: str,
    name_key: str,
    picture: Picture,
    at: str,
    *,
    is_default: bool = False,
) -> Look:
    """Add a look; raises LookNameTaken if the character has one by that name."""
    try:
        with undo_alone(conn):
            row = conn.execute(
                "INSERT INTO looks (character_id, name, name_key, is_default, image_sha256, "
                "original_sha256, original_format, original_width, original_height, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    character_id,
                    name,
                    name_key,
                    int(is_default),
                    picture.image_sha256,
                    picture.original_sha256,
                    picture.original_format,
                    picture.original_width,
                    picture.original_height,
                    at,
                ),
            ).fetchone()
    except sqlite3.IntegrityError as error:
        if "looks.character_id, looks.name_key" in str(error):
            raise LookNameTaken from None
        raise
    look = by_id(conn, int(row[0]))
    assert look is not None
    return look


def remove(conn: sqlite3.Connection, look_id: int) -> None:
    conn.execute("DELETE FROM looks WHERE id = ?", (look_id,))


def rename(conn: sqlite3.Connection, look_id: int, name: str, name_key: str) -> None:
    try:
        with undo_alone(conn):
            conn.execute(
                "UPDATE looks SET name = ?, name_key = ? WHERE id = ?", (name, name_key, look_id)
            )
    except sqlite3.IntegrityError as error:
        if "looks.character_id, looks.name_key" in str(error):
            raise LookNameTaken from None
        raise


def replace_picture(conn: sqlite3.Connection, look: Look, picture: Picture, at: str) -> None:
    """Give a look a new picture (and the character too, if it is the default look)."""
    conn.execute(
        "UPDATE looks SET image_sha256 = ?, original_sha256 = ?, original_format = ?, "
        "original_width = ?, original_height = ? WHERE id = ?",
        (
            picture.image_sha256,
            picture.original_sha256,
            picture.original_format,
            picture.original_width,
            picture.original_height,
            look.id,
        ),
    )
    if look.is_default:
        _mirror(conn, look.character_id, picture, at)


def make_default(conn: sqlite3.Connection, look: Look, at: str) -> None:
    """Make `look` its character's default: its picture becomes the character's."""
    # Two statements, the old default cleared first: the one-default index checks each.
    conn.execute(
        "UPDATE looks SET is_default = 0 WHERE character_id = ? AND is_default = 1",
        (look.character_id,),
    )
    conn.execute("UPDATE looks SET is_default = 1 WHERE id = ?", (look.id,))
    _mirror(
        conn,
        look.character_id,
        Picture(
            look.image_sha256,
            look.original_sha256,
            look.original_format,
            look.original_width,
            look.original_height,
        ),
        at,
    )


def _mirror(conn: sqlite3.Connection, character_id: int, picture: Picture, at: str) -> None:
    conn.execute(
        "UPDATE characters SET image_sha256 = ?, original_sha256 = ?, original_format = ?, "
        "original_width = ?, original_height = ?, updated_at = ? WHERE id = ?",
        (
            picture.image_sha256,
            picture.original_sha256,
            picture.original_format,
            picture.original_width,
            picture.original_height,
            at,
            character_id,
        ),
    )
