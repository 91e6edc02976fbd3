"""Repository for likeness: reference embeddings and servers' settings (migration 0020)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class LikenessSettings:
    mode: str  # 'off' or 'show'
    strong: float
    likely: float


DEFAULT_SETTINGS = LikenessSettings("show", 0.50, 0.36)


def settings_of(conn: sqlite3.Connection, guild_id: int) -> LikenessSettings:
    row = conn.execute(
        "SELECT mode, strong, likely FROM likeness_settings WHERE guild_id = ?", (guild_id,)
    ).fetchone()
    return LikenessSettings(str(row[0]), float(row[1]), float(row[2])) if row else DEFAULT_SETTINGS


def save_settings(conn: sqlite3.Connection, guild_id: int, settings: LikenessSettings) -> None:
    conn.execute(
        "INSERT INTO likeness_settings (guild_id, mode, strong, likely) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (guild_id) DO UPDATE SET mode = excluded.mode, strong = excluded.strong, "
        "likely = excluded.likely",
        (guild_id, settings.mode, settings.strong, settings.likely),
    )


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
