"""What the metrics endpoint reads from the database when it is scraped. Each statement reads
an index whose size follows what is happening now (jobs in flight, credits held, ledger rows
since the last scrape), never the history."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

# Jobs waiting or running, through the partial index of active jobs.
ACTIVE_JOBS = (
    "SELECT state, COALESCE(provider, preferred_provider, 'any') AS service, COUNT(*) "
    "FROM jobs INDEXED BY jobs_active WHERE state IN ('queued', 'running') GROUP BY 1, 2"
)
# Credits held for jobs not yet delivered, through the partial index of open holds.
CREDITS_HELD = (
    "SELECT COALESCE(SUM(credits), 0) FROM credit_holds INDEXED BY credit_holds_held "
    "WHERE state = 'held'"
)
# Ledger rows written since the last scrape: a range of the primary key.
LEDGER_SINCE = (
    "SELECT change, SUM(credits), MAX(id) FROM credit_ledger WHERE id > ? GROUP BY change"
)
LEDGER_END = "SELECT COALESCE(MAX(id), 0) FROM credit_ledger"


@dataclass
class Snapshot:
    jobs: dict[tuple[str, str], int] = field(default_factory=dict)  # (state, service): count
    credits_held: int = 0
    ledger: dict[str, int] = field(default_factory=dict)  # movement: credits moved
    ledger_cursor: int = 0  # the last ledger row counted


def snapshot(conn: sqlite3.Connection, ledger_cursor: int | None) -> Snapshot:
    """Read the figures; ledger movements after `ledger_cursor` (None: start counting now)."""
    jobs = {(state, service): count for state, service, count in conn.execute(ACTIVE_JOBS)}
    held = int(conn.execute(CREDITS_HELD).fetchone()[0])
    if ledger_cursor is None:
        return Snapshot(jobs, held, {}, int(conn.execute(LEDGER_END).fetchone()[0]))
    ledger: dict[str, int] = {}
    cursor = ledger_cursor
    for change, credits, last in conn.execute(LEDGER_SINCE, (ledger_cursor,)):
        movement = _MOVEMENTS[change]
        # A reservation counts up; a charge row gives back what the delivery did not use and
        # a refund all of it, both as negative changes to what the member used.
        moved = -int(credits) if movement == "returned" else abs(int(credits))
        ledger[movement] = ledger.get(movement, 0) + moved
        cursor = max(cursor, int(last))
    return Snapshot(jobs, held, ledger, cursor)


# Ledger changes (credit_ledger.change) by the movement the metrics name.
_MOVEMENTS = {
    "reserve": "reserved",
    "charge": "returned",
    "refund": "returned",
    "retry": "retry",
    "give": "given",
    "take": "taken",
}
