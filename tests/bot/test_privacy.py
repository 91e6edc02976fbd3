"""forget-me through the production services: one transaction for a member of ordinary size,
further steps only for a member who owns more characters than a step takes."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import bot.characters.service as characters_module
from bot.models import Viewer
from bot.services import Services
from storage.database import Database, open_database
from tests.history import open_services
from tests.imagefactory import png

GUILD = 1000
CHANNEL = 5000
ALICE = Viewer(user_id=1, guild_id=GUILD)
BOB = Viewer(user_id=2, guild_id=GUILD)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database(tmp_path / "cameo.sqlite3") as database:
        yield database


@pytest.fixture
async def services(db: Database, tmp_path: Path) -> AsyncIterator[Services]:
    async with open_services(db, tmp_path) as built:
        yield built


def count_transactions(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    seen: list[object] = []
    real = db.run_transaction

    async def counted(work: Any) -> Any:
        seen.append(work)
        return await real(work)

    monkeypatch.setattr(db, "run_transaction", counted)
    return seen


async def table_counts(db: Database, user_id: int) -> dict[str, int]:
    queries = {
        "characters": "SELECT COUNT(*) FROM characters WHERE owner_id = ?",
        "jobs": "SELECT COUNT(*) FROM jobs WHERE user_id = ?",
        "holds": "SELECT COUNT(*) FROM credit_holds WHERE user_id = ?",
        "ledger": "SELECT COUNT(*) FROM credit_ledger WHERE user_id = ?",
    }
    counts = {}
    async with db.read() as conn:
        for name, sql in queries.items():
            async with conn.execute(sql, (user_id,)) as cursor:
                row = await cursor.fetchone()
            counts[name] = int(row[0]) if row else 0
    return counts


async def test_forget_me_is_one_transaction_and_leaves_nothing_of_the_member(
    services: Services, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await services.characters.create(ALICE, name="Ada", image=png(seed=1))
    await services.characters.create(ALICE, name="Brin", image=png(seed=2))
    await services.characters.create(BOB, name="Cato", image=png(seed=3))
    await services.jobs.queue_scene(ALICE, CHANNEL, "Ada", {"prompt": "a walk in the rain"})
    assert (await table_counts(db, ALICE.user_id))["holds"] == 1
    transactions = count_transactions(db, monkeypatch)

    forgotten = await services.privacy.forget(ALICE.user_id)

    assert len(transactions) == 1
    assert (forgotten.characters, forgotten.images, forgotten.jobs) == (2, 2, 1)
    assert await table_counts(db, ALICE.user_id) == {
        "characters": 0,
        "jobs": 0,
        "holds": 0,
        "ledger": 0,
    }
    assert [c.name for c in await services.characters.list_visible(BOB)] == ["Cato"]


async def test_forget_me_takes_further_steps_only_for_a_member_with_many_characters(
    services: Services, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(characters_module, "FORGET_STEP", 2)
    for i in range(5):
        await services.characters.create(ALICE, name=f"Hero {i}", image=png(seed=10 + i))
    transactions = count_transactions(db, monkeypatch)

    forgotten = await services.privacy.forget(ALICE.user_id)

    # The first two with everything else, then two and one on their own.
    assert len(transactions) == 3
    assert (forgotten.characters, forgotten.images) == (5, 5)
    assert (await table_counts(db, ALICE.user_id))["characters"] == 0
    assert list((services.characters.store.root).glob("*/*")) == []
