"""Two processes on one PostgreSQL database keep copies of a server's rules: a change made
through one reaches the other's next check, not its next restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.clock import SystemClock
from bot.errors import CameoError
from bot.models import Viewer
from bot.moderation.service import BlockedMember, ModerationService
from storage.database import Database, open_database

GUILD = 10
MEMBER = Viewer(1, GUILD)
MODERATOR = Viewer(2, GUILD, can_manage_guild=True)


async def eventually(check) -> None:  # type: ignore[no-untyped-def]
    async def keep_trying() -> None:
        while not await check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(keep_trying(), 5)


async def test_a_block_and_a_term_made_elsewhere_apply_here(postgres_url: str) -> None:
    async with open_database(postgres_url) as here_db, open_database(postgres_url) as there_db:
        here = ModerationService(here_db, SystemClock())
        there = ModerationService(there_db, SystemClock())
        await here.listen_for_changes()
        await here.check_member(MEMBER)  # allowed, and now in this process's copy
        await here.check_text(MEMBER, {"prompt": "a dragon over the sea"})

        await there.block(MODERATOR, MEMBER.user_id, "spam", None)
        await there.add_term(MODERATOR, "dragon")

        async def refused() -> bool:
            try:
                await here.check_member(MEMBER)
            except BlockedMember:
                return True
            return False

        async def term_known() -> bool:
            try:
                await here.check_text(MEMBER, {"prompt": "a dragon over the sea"})
            except CameoError:
                return True
            return False

        await eventually(refused)
        await eventually(term_known)
        await there.unblock(MODERATOR, MEMBER.user_id)

        async def allowed_again() -> bool:
            return not await refused()

        await eventually(allowed_again)


class ReadsHeldBack:
    """The database, with each read's answer held back until `release` is set: a read that
    began before a change and ends after the change was announced."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.read_done = asyncio.Event()
        self.release = asyncio.Event()

    async def run_read(self, work):  # type: ignore[no-untyped-def]
        answer = await self.db.run_read(work)
        self.read_done.set()
        await self.release.wait()
        return answer

    def __getattr__(self, name: str) -> object:
        return getattr(self.db, name)


async def test_a_copy_read_while_a_change_is_announced_is_not_kept(tmp_path: Path) -> None:
    """A read of the rules that began before another process's change was announced holds the
    old rules: it answers the check it was made for, and the next check reads again."""
    async with open_database(tmp_path / "cameo.sqlite3") as db:
        slow = ReadsHeldBack(db)
        here = ModerationService(slow, SystemClock())  # type: ignore[arg-type]
        there = ModerationService(db, SystemClock())
        reading = asyncio.create_task(here.check_text(MEMBER, {"prompt": "a dragon"}))
        await slow.read_done.wait()  # read before the change
        await there.add_term(MODERATOR, "dragon")
        here._forget_copy(str(GUILD))  # the announcement arrives (as LISTEN delivers it)
        slow.release.set()
        await reading  # answered from the rules as they were when it began
        with pytest.raises(CameoError):
            await here.check_text(MEMBER, {"prompt": "a dragon"})
