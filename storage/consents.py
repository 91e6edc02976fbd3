"""Repository for confirmations that a photographed face may be used (see migration 0016)."""

from __future__ import annotations

import sqlite3


def record(
    conn: sqlite3.Connection,
    *,
    character_id: int,
    image_sha256: str,
    confirmed_by: int,
    basis: str,
    at: str,
) -> None:
    conn.execute(
        "INSERT INTO face_consents (character_id, image_sha256, confirmed_by, basis, confirmed_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (character_id, image_sha256, confirmed_by, basis, at),
    )


def of_character(conn: sqlite3.Connection, character_id: int) -> list[tuple[str, str, str]]:
    """(image, basis, when) for each confirmed picture of the character, oldest first."""
    rows = conn.execute(
        "SELECT image_sha256, basis, confirmed_at FROM face_consents WHERE character_id = ? "
        "ORDER BY id",
        (character_id,),
    ).fetchall()
    return [(str(sha), str(basis), str(at)) for sha, basis, at in rows]


def forget_member(conn: sqlite3.Connection, user_id: int) -> None:
    """A forgotten member's confirmations stay, no longer saying who made them."""
    conn.execute("UPDATE face_consents SET confirmed_by = NULL WHERE confirmed_by = ?", (user_id,))
