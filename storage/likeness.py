"""Repository for likeness: reference embeddings, servers' settings and second tries
(migrations 0020 and 0021)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class LikenessSettings:
    mode: str  # 'off', 'show', or 'reroll' (show, and make weak pictures once more)
    strong: float
    likely: float
    reroll_payer: str = "server"  # who pays for a second try: 'server' or 'member'

    @property
    def rerolls(self) -> bool:
        return self.mode == "reroll"


DEFAULT_SETTINGS = LikenessSettings("show", 0.50, 0.36)


@dataclass(frozen=True)
class OtherTry:
    """The try of a picture that was not delivered (see migration 0021)."""

    position: int  # the delivered picture it competed with
    sha256: str
    attempt: int  # 1: the first try lost to the second; 2: the second lost to the first
    likeness: float | None
    likeness_note: str | None


def settings_of(conn: sqlite3.Connection, guild_id: int) -> LikenessSettings:
    row = conn.execute(
        "SELECT mode, strong, likely, reroll_payer FROM likeness_settings WHERE guild_id = ?",
        (guild_id,),
    ).fetchone()
    if row is None:
        return DEFAULT_SETTINGS
    return LikenessSettings(str(row[0]), float(row[1]), float(row[2]), str(row[3]))


def save_settings(conn: sqlite3.Connection, guild_id: int, settings: LikenessSettings) -> None:
    conn.execute(
        "INSERT INTO likeness_settings (guild_id, mode, strong, likely, reroll_payer) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET mode = excluded.mode, "
        "strong = excluded.strong, likely = excluded.likely, "
        "reroll_payer = excluded.reroll_payer",
        (guild_id, settings.mode, settings.strong, settings.likely, settings.reroll_payer),
    )


def save_other_tries(conn: sqlite3.Connection, job_id: int, tries: list[OtherTry]) -> None:
    """Keep the tries that were not delivered (after the job's own pictures are written)."""
    conn.executemany(
        "INSERT INTO likeness_tries (job_id, position, image_sha256, attempt, likeness, "
        "likeness_note) VALUES (?, ?, ?, ?, ?, ?)",
        [(job_id, t.position, t.sha256, t.attempt, t.likeness, t.likeness_note) for t in tries],
    )


def other_tries_of(conn: sqlite3.Connection, job_id: int) -> dict[int, OtherTry]:
    """A job's tries that were not delivered, by the position of the picture that was."""
    rows = conn.execute(
        "SELECT position, image_sha256, attempt, likeness, likeness_note FROM likeness_tries "
        "WHERE job_id = ?",
        (job_id,),
    ).fetchall()
    return {row[0]: OtherTry(*row) for row in rows}


def embedding_of(conn: sqlite3.Connection, sha256: str, models: str) -> tuple[bool, bytes | None]:
    """(known, embedding): whether the picture was embedded with these models, and the result
    (None: no photographed face)."""
    row = conn.execute(
        "SELECT embedding FROM face_embeddings WHERE image_sha256 = ? AND models = ?",
        (sha256, models),
    ).fetchone()
    return (True, row[0]) if row else (False, None)


def save_embedding(
    conn: sqlite3.Connection, sha256: str, models: str, embedding: bytes | None
) -> None:
    conn.execute(
        "INSERT INTO face_embeddings (image_sha256, models, embedding) VALUES (?, ?, ?) "
        "ON CONFLICT (image_sha256) DO UPDATE SET models = excluded.models, "
        "embedding = excluded.embedding",
        (sha256, models, embedding),
    )
