"""A server's moderation log: short entries (characters made or changed, scenes delivered,
refused prompts, blocks, quota changes by staff) posted to the channel its staff chose,
without pinging anyone, and reports with the buttons moderators act on.

Entries are batched per server: gathered for FLUSH_AFTER_SECONDS and posted at most
ENTRIES_PER_MESSAGE to a message (one contact sheet of their pictures each), so a burst of 200
scenes is 20 messages at the channel's pace rather than 200 requests and a wall of 429s. A
backlog beyond PENDING_MAX (a log channel Cameo can't post to, say) drops the oldest entries
and says how many. The Discord layer posts (LogPublisher); nothing here imports discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from storage import reports as repo
from storage.database import Database
from storage.reports import Report

log = logging.getLogger(__name__)

FLUSH_AFTER_SECONDS = 3.0
ENTRIES_PER_MESSAGE = 10
PENDING_MAX = 500


@dataclass(frozen=True)
class LogEntry:
    text: str  # one line of Cameo's own words; may mention members (never pinged)
    quote: str | None = None  # member text (a prompt, a name), shown escaped after the line
    image: tuple[str, str] | None = None  # (sha256, format) of a stored picture to thumbnail


class LogPublisher(Protocol):
    async def publish(self, channel_id: int, entries: Sequence[LogEntry], dropped: int) -> None:
        """Post one message of entries (and how many older ones were dropped before them)."""
        ...

    async def publish_report(
        self, channel_id: int, report: Report, image: tuple[str, str] | None
    ) -> int | None:
        """Post a report with moderators' buttons; the message id, or None if it failed."""
        ...


class ModerationLog:
    def __init__(self, db: Database, *, flush_after: float = FLUSH_AFTER_SECONDS) -> None:
        self.db = db
        self.flush_after = flush_after
        # The Discord layer attaches itself when its cog loads; until then nothing is kept.
        self.publisher: LogPublisher | None = None
        self._channels: dict[int, int | None] = {}
        self._pending: dict[int, list[LogEntry]] = {}
        self._dropped: dict[int, int] = {}
        self._flushers: dict[int, asyncio.Task[None]] = {}

    async def channel(self, guild_id: int) -> int | None:
        if guild_id not in self._channels:
            self._channels[guild_id] = await self.db.run_read(
                partial(repo.log_channel, guild_id=guild_id)
            )
        return self._channels[guild_id]

    def forget_channel(self, guild_id: int) -> None:
        """Read the server's log channel again next time (another process changed it)."""
        self._channels.pop(guild_id, None)

    async def set_channel(self, guild_id: int, channel_id: int | None) -> None:
        await self.db.run_transaction(
            partial(repo.set_log_channel, guild_id=guild_id, channel_id=channel_id)
        )
        self._channels[guild_id] = channel_id

    def record(self, guild_id: int | None, entry: LogEntry) -> None:
        """Queue an entry for the server's log (nothing outside servers, or without one)."""
        if guild_id is None or self.publisher is None:
            return
        if self._channels.get(guild_id, 0) is None:
            return  # known to have no log channel
        pending = self._pending.setdefault(guild_id, [])
        pending.append(entry)
        if len(pending) > PENDING_MAX:
            del pending[0]
            self._dropped[guild_id] = self._dropped.get(guild_id, 0) + 1
        if guild_id not in self._flushers:
            self._flushers[guild_id] = asyncio.create_task(
                self._flush_later(guild_id), name=f"moderation log {guild_id}"
            )

    async def report(self, report: Report, image: tuple[str, str] | None) -> int | None:
        """Post a report now (reports are not batched: moderators act on each)."""
        channel = await self.channel(report.guild_id)
        if channel is None or self.publisher is None:
            return None
        message_id = await self.publisher.publish_report(channel, report, image)
        if message_id is not None:
            await self.db.run_transaction(
                partial(repo.set_log_message, report_id=report.id, message_id=message_id)
            )
        return message_id

    async def flush(self) -> None:
        """Post everything waiting now (at shutdown, and in tests)."""
        for guild_id in list(self._pending):
            task = self._flushers.pop(guild_id, None)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._post_pending(guild_id)

    async def _flush_later(self, guild_id: int) -> None:
        # Entries that arrive while this posts join the same run (it posts until none wait).
        try:
            await asyncio.sleep(self.flush_after)
            await self._post_pending(guild_id)
        finally:
            self._flushers.pop(guild_id, None)

    async def _post_pending(self, guild_id: int) -> None:
        channel = await self.channel(guild_id)
        while self._pending.get(guild_id):
            pending = self._pending[guild_id]
            batch = pending[:ENTRIES_PER_MESSAGE]
            del pending[:ENTRIES_PER_MESSAGE]
            dropped = self._dropped.pop(guild_id, 0)
            if channel is None or self.publisher is None:
                continue
            try:
                await self.publisher.publish(channel, batch, dropped)
            except Exception:  # the log must never break what it records
                log.warning("Couldn't post to server %s's moderation log", guild_id, exc_info=True)
        self._pending.pop(guild_id, None)
