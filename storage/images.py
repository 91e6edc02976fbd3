"""Repository for `images`: one row per stored file (references and results).

Plain functions on the sqlite3 connection, run on the database thread (see storage/jobs.py).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from storage.dialect import dialect, json_values, undo_alone


@dataclass(frozen=True)
class ImageRow:
    sha256: str
    format: str
    width: int
    height: int
    byte_size: int


_ROW = "SELECT sha256, format, width, height, byte_size FROM images"


def insert(conn: sqlite3.Connection, row: ImageRow, created_at: str) -> None:
    """Record a stored file; a second record of the same content is a no-op (deduplication)."""
    conn.execute(
        "INSERT INTO images (sha256, format, width, height, byte_size, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
        (row.sha256, row.format, row.width, row.height, row.byte_size, created_at),
    )


def delete_if_unused(conn: sqlite3.Connection, sha256: str) -> bool:
    """Delete the row unless something still references it; return whether it was deleted.

    Every table that points at an image does so with ON DELETE RESTRICT, so SQLite refuses the
    delete while any reference remains: new kinds of reference are covered without changes here.
    Each of those references is indexed, so the check is a few index look-ups.

    On a database several processes share (PostgreSQL), the picture is written down in
    `image_releases` in the same transaction: its file goes after a grace period (`due`), not
    right after the commit (migration 0024 says why).
    """
    try:
        with undo_alone(conn):
            # Every row read: SQLite finishes a RETURNING statement only when it is exhausted.
            gone = conn.execute(
                "DELETE FROM images WHERE sha256 = ? RETURNING format", (sha256,)
            ).fetchall()
    except sqlite3.IntegrityError:
        return False
    if gone and shared(conn):
        conn.execute(
            "INSERT INTO image_releases (sha256, format, released_at) VALUES (?, ?, ?) "
            "ON CONFLICT (sha256) DO UPDATE SET released_at = excluded.released_at",
            (sha256, gone[0][0], database_time(conn)),
        )
    return bool(gone)


def shared(conn: sqlite3.Connection) -> bool:
    """Whether several processes may share this database and its pictures (PostgreSQL); an
    SQLite file is one process's (the data directory's lock)."""
    return dialect(conn) == "postgresql"


def database_time(conn: sqlite3.Connection, seconds_ago: float = 0.0) -> str:
    """The database's time (`seconds_ago` back), in bot.clock.timestamp's form: the one clock
    every process sharing the database reads, so a grace period never depends on which host
    let a picture go and which one purges it. The time of the statement, not of the
    transaction's start: that may precede a wait for the writers' lock."""
    if dialect(conn) == "postgresql":
        sql = (
            "SELECT to_char((clock_timestamp() - make_interval(secs => ?)) AT TIME ZONE 'UTC', "
            '\'YYYY-MM-DD"T"HH24:MI:SS"Z"\')'
        )
    else:
        sql = "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now', printf('-%f seconds', ?))"
    return str(conn.execute(sql, (float(seconds_ago),)).fetchone()[0])


def is_released(conn: sqlite3.Connection, sha256: str) -> bool:
    """Whether the picture is waiting to be deleted (a look-up by primary key)."""
    found = conn.execute("SELECT 1 FROM image_releases WHERE sha256 = ?", (sha256,))
    return found.fetchone() is not None


def keep(conn: sqlite3.Connection, sha256: str) -> None:
    """Take the picture off the list of those waiting to be deleted: an upload is adding it."""
    conn.execute("DELETE FROM image_releases WHERE sha256 = ?", (sha256,))


def release_files(conn: sqlite3.Connection, files: list[tuple[str, str]]) -> None:
    """Write down files no row names (the orphan sweep's finds) to be deleted after the grace
    period, unless a row names them by now; ones written down already keep their time."""
    now = database_time(conn)
    conn.executemany(
        "INSERT INTO image_releases (sha256, format, released_at) "
        "SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM images WHERE sha256 = ?) "
        "ON CONFLICT (sha256) DO NOTHING",
        [(sha256, image_format, now, sha256) for sha256, image_format in files],
    )


@dataclass(frozen=True)
class Due:
    sha256: str
    format: str
    in_use: bool  # a row names it again: uploaded anew since it was let go of


def due(conn: sqlite3.Connection, grace_seconds: float, limit: int) -> list[Due]:
    """The oldest pictures let go of more than `grace_seconds` ago, up to `limit`, each with
    whether a row names it again (then its file stays). One index range and a look-up each."""
    rows = conn.execute(
        "SELECT r.sha256, r.format, EXISTS (SELECT 1 FROM images i WHERE i.sha256 = r.sha256) "
        "FROM image_releases r WHERE r.released_at < ? ORDER BY r.released_at LIMIT ?",
        (database_time(conn, grace_seconds), limit),
    ).fetchall()
    return [Due(row[0], row[1], bool(row[2])) for row in rows]


def forget_released(conn: sqlite3.Connection, hashes: list[str]) -> None:
    conn.execute(
        f"DELETE FROM image_releases WHERE sha256 IN ({json_values(conn)})",  # noqa: S608 (a placeholder)
        (json.dumps(hashes),),
    )


def postpone(conn: sqlite3.Connection, hashes: list[str]) -> None:
    """Start these pictures' wait again (their files could not be deleted just now), so the
    next purges get on with the others instead of meeting them first every time."""
    conn.execute(
        f"UPDATE image_releases SET released_at = ? WHERE sha256 IN ({json_values(conn)})",  # noqa: S608 (a placeholder)
        (database_time(conn), json.dumps(hashes)),
    )


def get(conn: sqlite3.Connection, sha256: str) -> ImageRow | None:
    row = conn.execute(f"{_ROW} WHERE sha256 = ?", (sha256,)).fetchone()
    return None if row is None else ImageRow(*row)


def exists(conn: sqlite3.Connection, sha256: str) -> bool:
    return conn.execute("SELECT 1 FROM images WHERE sha256 = ?", (sha256,)).fetchone() is not None


def release(conn: sqlite3.Connection, hashes: list[str]) -> list[ImageRow]:
    """Delete the rows of these images that nothing uses any more; return them, so their
    files can be removed once the transaction has committed.

    The ones still used are left out first, by one query over the referencing indexes: a
    DELETE that the foreign keys refuse costs a statement rollback and an exception, and most
    results of a busy year are shared. Each delete is still guarded by the foreign keys.
    """
    wanted = list(dict.fromkeys(hashes))
    if not wanted:
        return []
    unused = _unreferenced(_references(conn))
    candidates = {
        row[0]: ImageRow(*row)
        for row in conn.execute(
            f"{_ROW} i WHERE sha256 IN ({json_values(conn)}) {unused}",
            (json.dumps(wanted),),
        )
    }
    return [
        candidates[sha256]
        for sha256 in wanted
        if sha256 in candidates and delete_if_unused(conn, sha256)
    ]


# `references` per database file and schema version: reading the schema costs more than the
# release it serves. A database in memory has no file name to tell it apart, so it is not kept.
_REFERENCES: dict[tuple[str, int], list[tuple[str, str]]] = {}


def _references(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    if dialect(conn) == "postgresql":
        file, version = conn.execute(
            "SELECT current_database(), (SELECT max(version) FROM cameo_schema)"
        ).fetchone()
        file = f"postgresql:{file}"
    else:
        file, version = conn.execute(
            "SELECT file, (SELECT schema_version FROM pragma_schema_version) "
            "FROM pragma_database_list WHERE name = 'main'"
        ).fetchone()
    if not file:
        return references(conn)
    found = _REFERENCES.get((file, version))
    if found is None:
        found = _REFERENCES[(file, version)] = references(conn)
    return found


def references(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """Every (table, column) that keeps an image, read from the schema itself, so the sweep
    knows every kind of reference, including ones added by later migrations. A reference
    that goes with its image (ON DELETE CASCADE: facts about the picture, such as a face
    embedding) keeps nothing alive."""
    if dialect(conn) == "postgresql":
        return [
            (row[0], row[1])
            for row in conn.execute(
                "SELECT t.relname, a.attname FROM pg_constraint c "
                "JOIN pg_class t ON t.oid = c.conrelid "
                "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
                "WHERE c.contype = 'f' AND c.confrelid = 'images'::regclass "
                "AND c.confdeltype <> 'c' ORDER BY 1, 2"
            )
        ]
    rows = conn.execute(
        'SELECT m.name, f."from" FROM sqlite_schema m, pragma_foreign_key_list(m.name) f '
        "WHERE m.type = 'table' AND f.\"table\" = 'images' AND f.on_delete != 'CASCADE' "
        'ORDER BY m.name, f."from"'
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def _unreferenced(refs: list[tuple[str, str]]) -> str:
    """The condition that no row of `refs` points at image `i`: an index look-up each."""
    # Table and column names come from the schema (`references`), never from input.
    return " ".join(
        f'AND NOT EXISTS (SELECT 1 FROM "{table}" WHERE "{column}" = i.sha256)'  # noqa: S608
        for table, column in refs
    )


def delete_unreferenced_after(
    conn: sqlite3.Connection, after: str, limit: int, refs: list[tuple[str, str]]
) -> tuple[int, str | None]:
    """Delete the unreferenced rows among the next `limit` images after hash `after`.

    Return how many went and the last hash looked at (None once past the last image), so a
    sweep goes through the table in short steps and can carry on where it stopped. Finding the
    unreferenced ones is one set-based query over indexes; each delete is still guarded by the
    foreign keys, so a reference this list missed keeps its image.
    """
    window = conn.execute(
        "SELECT MAX(sha256) FROM (SELECT sha256 FROM images WHERE sha256 > ? "
        "ORDER BY sha256 LIMIT ?) AS batch",
        (after, limit),
    ).fetchone()[0]
    if window is None:
        return 0, None
    unused = _unreferenced(refs)
    candidates = conn.execute(
        f"SELECT sha256 FROM images i WHERE sha256 > ? AND sha256 <= ? {unused}",  # noqa: S608 (names from the schema)
        (after, window),
    ).fetchall()
    deleted = sum(delete_if_unused(conn, row[0]) for row in candidates)
    return deleted, window


def known_with_prefix(conn: sqlite3.Connection, prefix: str) -> set[str]:
    """The hashes recorded under one two-character prefix (one folder of the store)."""
    upper = prefix + "g"  # hashes are lowercase hex, so every one with the prefix sorts below
    rows = conn.execute(
        "SELECT sha256 FROM images WHERE sha256 >= ? AND sha256 < ?", (prefix, upper)
    ).fetchall()
    return {row[0] for row in rows}


def rows_with_prefix(conn: sqlite3.Connection, prefix: str) -> list[ImageRow]:
    """The images recorded under one two-character prefix (one folder of the store)."""
    rows = conn.execute(
        f"{_ROW} WHERE sha256 >= ? AND sha256 < ? ORDER BY sha256",
        (prefix, prefix + "g"),
    ).fetchall()
    return [ImageRow(*row) for row in rows]
