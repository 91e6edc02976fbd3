"""The few places where SQLite's SQL and PostgreSQL's differ, rewritten once per statement.

The repositories write SQL in the subset both engines share, with SQLite's `?` and `:name`
parameters. For PostgreSQL each statement is rewritten once (and cached): parameters become
`$1…$n`, SQLite's `INSERT OR IGNORE` becomes `ON CONFLICT DO NOTHING`, and the planner
hints PostgreSQL does not take (`INDEXED BY`, `CROSS JOIN … ON` for a join order) are
dropped. Everything else a repository needs that only one engine has is a branch in that
repository, on `dialect(conn)`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_INSERT_OR_IGNORE = re.compile(r"\bINSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_INDEXED_BY = re.compile(r"\s+INDEXED\s+BY\s+\w+", re.IGNORECASE)
# SQLite reads `CROSS JOIN t ON …` as an inner join whose order the planner must keep (how the
# repositories pin a join order); PostgreSQL takes no ON after CROSS JOIN, and orders joins
# itself.
_CROSS_JOIN_ON = re.compile(r"\bCROSS\s+JOIN(\s+\w+(?:\s+(?:AS\s+)?\w+)?\s+ON)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Statement:
    sql: str
    # For `:name` parameters: the name of $1, $2, …; None when the statement uses `?`.
    names: tuple[str, ...] | None


def dialect(conn: object) -> str:
    """'sqlite' or 'postgresql': which engine a repository function was handed."""
    return "sqlite" if isinstance(conn, sqlite3.Connection) else "postgresql"


@lru_cache(maxsize=4096)
def to_postgres(sql: str) -> Statement:
    """Rewrite one SQLite statement for PostgreSQL (see the module's docstring)."""
    text, names = _number_parameters(sql)
    if _INSERT_OR_IGNORE.search(text):
        text = _INSERT_OR_IGNORE.sub("INSERT INTO", text)
        returning = _RETURNING.search(text)
        if returning:
            at = returning.start()
            text = f"{text[:at]}ON CONFLICT DO NOTHING {text[at:]}"
        else:
            text = f"{text.rstrip().rstrip(';')} ON CONFLICT DO NOTHING"
    text = _INDEXED_BY.sub("", text)
    text = _CROSS_JOIN_ON.sub(r"JOIN\1", text)
    return Statement(text, names)


def _number_parameters(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """Replace `?` (in order) or `:name` (the same number for the same name) with `$n`,
    leaving string literals, quoted names, comments and `::` casts alone."""
    out: list[str] = []
    positional = 0
    named: dict[str, int] = {}
    i, length = 0, len(sql)
    while i < length:
        char = sql[i]
        if char in "'\"":
            end = i + 1
            while end < length:
                if sql[end] == char:
                    if end + 1 < length and sql[end + 1] == char:  # '' inside a literal
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i : end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = length if end < 0 else end
            out.append(sql[i:end])
            i = end
        elif char == "?":
            positional += 1
            out.append(f"${positional}")
            i += 1
        elif char == ":" and sql.startswith("::", i):
            out.append("::")
            i += 2
        elif char == ":" and i + 1 < length and (sql[i + 1].isalpha() or sql[i + 1] == "_"):
            end = i + 1
            while end < length and (sql[end].isalnum() or sql[end] == "_"):
                end += 1
            name = sql[i + 1 : end]
            number = named.setdefault(name, len(named) + 1)
            out.append(f"${number}")
            i = end
        else:
            out.append(char)
            i += 1
    if positional and named:
        raise ValueError("a statement uses both ? and :name parameters")
    names = tuple(sorted(named, key=named.__getitem__)) if named else None
    return "".join(out), names


def json_values(conn: object, parameter: str = "?", *, integers: bool = False) -> str:
    """A subquery of the values of a JSON array passed as one parameter (`?` or `:name`):
    one statement whatever the list's length, so it is prepared once."""
    if dialect(conn) == "sqlite":
        return f"SELECT value FROM json_each({parameter})"  # noqa: S608 (a placeholder)
    cast = "::bigint" if integers else ""
    return f"SELECT value{cast} FROM jsonb_array_elements_text({parameter}::jsonb) AS list(value)"  # noqa: S608


@contextmanager
def undo_alone(conn: Any) -> Iterator[None]:
    """Let the statements in the block fail without failing the transaction around them.

    SQLite undoes a failed statement alone; PostgreSQL aborts the whole transaction, unless
    the statement ran inside a savepoint, which this gives it there (outside a transaction
    there is nothing to keep).
    """
    if dialect(conn) == "sqlite" or not conn.in_transaction:
        yield
        return
    conn.execute("SAVEPOINT undo_alone")
    try:
        yield
    except Exception:
        conn.execute("ROLLBACK TO undo_alone")
        conn.execute("RELEASE undo_alone")
        raise
    conn.execute("RELEASE undo_alone")
