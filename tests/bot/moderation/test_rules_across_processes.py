"""Two processes on one PostgreSQL database keep copies of a server's rules: a change made
through one reaches the other's next check, not its next restart."""

from __future__ import annotations

import asyncio

from bot.clock import SystemClock
from bot.errors import CameoError
from bot.models import Viewer
from bot.moderation.service import BlockedMember, ModerationService
from storage.database import open_database

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
