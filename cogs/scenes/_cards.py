"""Post scene cards, then edit them through the bot's channel routes, no more than once every
few seconds each.

The interaction token that posted a card dies after 15 minutes, and a long queue outlives it,
so cards are edited as ordinary channel messages. Each card keeps only its newest wanted look:
states that pass within one interval are never sent, so a job that finishes quickly costs one
edit, and a busy server cannot trip Discord's per-channel limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import discord

from bot.client.pacing import KeyedWindow, RatePacer
from cogs.common import NO_MENTIONS

log = logging.getLogger(__name__)

_FINISHED_REMEMBERED = 10_000


async def send_card(
    interaction: discord.Interaction[Any], embed: discord.Embed, view: discord.ui.View
) -> discord.InteractionMessage:
    """Answer the interaction with the card (or fill in its public deferral) and return it."""
    if interaction.response.is_done():
        return await interaction.edit_original_response(
            embed=embed, view=view, allowed_mentions=NO_MENTIONS
        )
    response = await interaction.response.send_message(
        embed=embed, view=view, allowed_mentions=NO_MENTIONS
    )
    if not isinstance(response.resource, discord.InteractionMessage):
        raise TypeError("Discord did not return the card it posted")
    return response.resource


@dataclass(frozen=True)
class CardLook:
    embed: discord.Embed
    view: discord.ui.View | None
    final: bool  # done, failed or cancelled: later looks are stale and ignored


class CardEditor:
    def __init__(
        self,
        client: discord.Client,
        pacer: RatePacer,
        per_channel: KeyedWindow,
        interval: float,
    ) -> None:
        self.client = client
        self.pacer = pacer
        self.per_channel = per_channel
        self.interval = interval
        self._wanted: dict[int, tuple[int, CardLook]] = {}  # message id -> (channel id, look)
        self._last_edit: dict[int, float] = {}
        # Cards that reached a final look, oldest first (bounded: only recent ones can race).
        self._finished: dict[int, None] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def posted(self, message_id: int) -> None:
        """A card was just sent: its first edit waits a full interval."""
        now = asyncio.get_running_loop().time()
        self._last_edit[message_id] = now
        if len(self._last_edit) > _FINISHED_REMEMBERED:
            # Cards not edited for a whole interval have nothing to wait for: forget them.
            for stale in [m for m, at in self._last_edit.items() if at < now - self.interval]:
                del self._last_edit[stale]

    def show(self, channel_id: int, message_id: int, look: CardLook) -> None:
        if message_id in self._finished:
            return
        if look.final:
            self._finished[message_id] = None
            while len(self._finished) > _FINISHED_REMEMBERED:
                del self._finished[next(iter(self._finished))]
        self._wanted[message_id] = (channel_id, look)
        if message_id not in self._tasks:
            self._tasks[message_id] = asyncio.create_task(
                self._apply(message_id), name=f"card-{message_id}"
            )

    async def _apply(self, message_id: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            while message_id in self._wanted:
                wait = self._last_edit.get(message_id, -self.interval) + self.interval - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                channel_id, _ = self._wanted[message_id]
                await self.per_channel.wait(
                    ("edit", channel_id), then=lambda: self.pacer.wait(urgent=False)
                )
                # Whatever the card should show by now: looks that came while waiting are
                # folded into this one edit.
                channel_id, look = self._wanted.pop(message_id)
                await self._edit(channel_id, message_id, look)
                self._last_edit[message_id] = loop.time()
                if look.final:
                    break
        finally:
            self._tasks.pop(message_id, None)
            if message_id in self._finished:
                self._last_edit.pop(message_id, None)

    async def _edit(self, channel_id: int, message_id: int, look: CardLook) -> None:
        message = self.client.get_partial_messageable(channel_id).get_partial_message(message_id)
        kwargs: dict[str, Any] = {"embed": look.embed, "view": look.view}
        try:
            await message.edit(allowed_mentions=NO_MENTIONS, **kwargs)
        except discord.NotFound:
            log.debug("Card %s is gone (deleted by someone); not updating it", message_id)
        except discord.HTTPException as error:
            log.warning("Could not update card %s: %s", message_id, error)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
