"""`/prefs`: a member's own defaults for `/scene`, per server (DMs count as one place)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from functools import partial

from bot.clock import Clock, timestamp
from bot.errors import CameoError
from bot.models import Viewer
from bot.prefs.preset import Preset
from storage import prefs as repo
from storage.database import Database


class PrefsService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def of(self, viewer: Viewer) -> Preset:
        stored = await self.db.run_read(
            partial(repo.member_preset, guild_id=viewer.scope, user_id=viewer.user_id)
        )
        return Preset() if stored is None else Preset.stored(stored)

    async def change(self, viewer: Viewer, changes: Mapping[str, object]) -> Preset:
        """Set the given settings (the others stay as they were); return the whole preset."""
        wanted = Preset.checked({k: v for k, v in changes.items() if v is not None})
        if wanted.is_empty:
            raise CameoError(
                "Tell me what to remember: a style, aspect ratio, speed, magic prompt or "
                "negative prompt. `/prefs clear` forgets them all."
            )
        now = timestamp(self.clock.now())

        def save(conn: sqlite3.Connection) -> Preset:
            stored = repo.member_preset(conn, viewer.scope, viewer.user_id)
            current = Preset() if stored is None else Preset.stored(stored)
            updated = current.merged_with(wanted)
            repo.save_member_preset(conn, viewer.scope, viewer.user_id, updated.to_json(), now)
            return updated

        return await self.db.run_transaction(save)

    async def clear(self, viewer: Viewer) -> bool:
        return await self.db.run_transaction(
            partial(repo.clear_member_preset, guild_id=viewer.scope, user_id=viewer.user_id)
        )

    async def forget(self, user_id: int) -> int:
        return await self.db.run_transaction(partial(self.erase_member, user_id=user_id))

    @staticmethod
    def erase_member(conn: sqlite3.Connection, user_id: int) -> int:
        """forget-me's part for presets, inside the caller's transaction; how many there were."""
        return repo.forget_member(conn, user_id)
