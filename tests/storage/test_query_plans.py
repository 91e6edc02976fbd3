"""No command's query plan reads the whole of a table that grows with use (issue 14).

A small history (1% of tests/history.py's year) is built; every operation of the catalogue
runs a few times through the services, with every SQL statement recorded. Each statement,
and each foreign-key look-up its deletes make, is then explained twice:
- with no statistics, as production plans it: Cameo never runs ANALYZE, so SQLite uses its
  built-in guesses, which already assume big tables;
- with a year's statistics: ANALYZE on the small database, then every row count scaled up by
  1/SCALE, so a plan that is only chosen because a table is small today shows as it would
  be after a year (and as it would be if ANALYZE or `PRAGMA optimize` is ever added).
A SCAN of a growing table fails the operation's test, naming the statement and the plan line.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storage import metrics as storage_metrics
from storage.database import open_database
from tests.history import (
    FRAGMENTS,
    OPERATIONS,
    Plan,
    build_history,
    capture_statements,
    explain,
    force_year_statistics,
    open_services,
    pick_inputs,
    year_of_use,
)

SCALE = 0.01
CALLS = len(FRAGMENTS)  # every autocomplete fragment, and a few of each other input
Recorded = tuple[Path, dict[str, list[str]]]
Plans = dict[str, dict[str, list[Plan]]]


async def _record(data: Path) -> dict[str, list[str]]:
    path = data / "cameo.sqlite3"
    await build_history(path, data / "images", year_of_use(SCALE))
    inputs = pick_inputs(path, CALLS)
    recorded: dict[str, list[str]] = {}
    async with open_database(path) as db, open_services(db, data) as services:
        for operation in OPERATIONS:
            calls = CALLS if operation.uses_up is None else len(operation.uses_up(inputs))
            async with capture_statements(db) as trace:
                for i in range(min(CALLS, calls)):
                    await operation.run(services, inputs, i)
            recorded[operation.name] = list(trace.statements.values())
    return recorded


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """The statements each operation ran on a small history (built once for the module)."""
    data = tmp_path_factory.mktemp("history") / "data"
    return data / "cameo.sqlite3", asyncio.run(_record(data))


@pytest.fixture(scope="module")
def plans(recorded: Recorded) -> Plans:
    path, statements = recorded
    plain = {name: explain(path, found) for name, found in statements.items()}
    force_year_statistics(path, SCALE)
    year = {name: explain(path, found) for name, found in statements.items()}
    return {"without statistics (as in production)": plain, "with a year's statistics": year}


@pytest.mark.parametrize("operation", [operation.name for operation in OPERATIONS])
def test_no_plan_scans_a_table_that_grows_with_use(plans: Plans, operation: str) -> None:
    problems = [
        f"{operation}, {mode}: {flag}\n  statement: {plan.sql}\n  plan:\n    "
        + "\n    ".join(plan.lines)
        for mode, by_operation in plans.items()
        for plan in by_operation[operation]
        for flag in plan.flags
    ]
    assert not problems, "\n".join(problems)


def test_every_command_operation_was_seen_running_sql(recorded: Recorded) -> None:
    _, statements = recorded
    silent = [name for name, found in statements.items() if not found]
    # Start-up opens a connection of its own, which the recorder does not watch.
    assert silent == ["start-up (open and migrate)"]


def test_the_check_flags_full_scans_but_not_searches_or_live_only_indexes(
    recorded: Recorded,
) -> None:
    path, _ = recorded
    full_scan, by_key, live_only, by_alias = explain(
        path,
        [
            "SELECT * FROM jobs WHERE options = 'x'",
            "SELECT * FROM jobs WHERE id = 1",
            "SELECT SUM(credits) FROM credit_holds INDEXED BY credit_holds_held "
            "WHERE state = 'held'",
            "SELECT c.id FROM characters c WHERE c.description = ''",
        ],
    )
    assert full_scan.flags == ["SCAN jobs"]
    assert by_key.flags == []
    assert live_only.lines == ["SCAN credit_holds USING INDEX credit_holds_held"]
    assert live_only.flags == []
    assert by_alias.flags == ["SCAN c"]
    (delete, *look_ups) = explain(path, ["DELETE FROM images WHERE sha256 = 'x'"])
    assert delete.flags == []
    assert any("character" in plan.sql and "image_sha256" in plan.sql for plan in look_ups)


def test_the_metrics_scrape_reads_only_what_is_live(recorded: Recorded) -> None:
    # /metrics reads the database on every scrape (every 15 s or so, for as long as the bot
    # runs): jobs in flight, credits held and the ledger rows since the last scrape.
    path, _ = recorded
    statements = [
        storage_metrics.ACTIVE_JOBS,
        storage_metrics.CREDITS_HELD,
        storage_metrics.LEDGER_SINCE.replace("?", "1"),
        storage_metrics.LEDGER_END,
    ]
    problems = [
        f"{flag}\n  statement: {plan.sql}"
        for plan in explain(path, statements)
        for flag in plan.flags
    ]
    assert not problems, "\n".join(problems)
