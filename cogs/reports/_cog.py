"""The moderation log's Discord side: posts batched entries (with one contact sheet of their
pictures) and reports (with moderators' buttons) to the channel a server chose, paced under
Discord's limits, pinging nobody."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.client.pacing import KeyedWindow, RatePacer, RestShares
from bot.errors import CameoError
from bot.images.contact_sheet import Tile, render_contact_sheet
from bot.moderation.log import LogEntry
from cogs.common import NO_MENTIONS
from cogs.reports._buttons import actions_for, report_view
from cogs.reports._render import log_message, report_embed
from storage.reports import Report

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot

log = logging.getLogger(__name__)

SHEET_TILE = 128
SHEET_COLUMNS = 5
SHEET_LIMIT = 4 * 1024 * 1024
THUMBNAIL_SIDE = 256


class ModerationLogPoster(commands.Cog, name="ModerationLog"):
    def __init__(self, bot: CameoBot) -> None:
        self.bot = bot
        # The log's own share of this process's REST budget (see RestShares).
        shares = RestShares(bot.settings.rest_budget)
        self.pacer = RatePacer(shares.log_rate, shares.log_burst)
        self.per_channel = KeyedWindow(shares.per_channel(5), 5.5)

    async def cog_load(self) -> None:
        self.bot.services.moderation.log.publisher = self

    async def cog_unload(self) -> None:
        moderation_log = self.bot.services.moderation.log
        await moderation_log.flush()
        moderation_log.publisher = None

    async def publish(self, channel_id: int, entries: Sequence[LogEntry], dropped: int) -> None:
        channel = self.bot.get_partial_messageable(channel_id)
        sheet = await self._sheet(entries)
        await self.per_channel.wait(channel_id, then=self.pacer.wait)
        await channel.send(
            log_message(entries, dropped),
            file=discord.File(io.BytesIO(sheet[0]), f"log.{sheet[1]}")
            if sheet
            else discord.utils.MISSING,
            allowed_mentions=NO_MENTIONS,
        )

    async def publish_report(
        self, channel_id: int, report: Report, image: tuple[str, str] | None
    ) -> int | None:
        channel = self.bot.get_partial_messageable(channel_id)
        embed = report_embed(report, where=None)
        file = discord.utils.MISSING
        picture = await self._picture(image)
        if picture is not None:
            small = await self.bot.services.jobs.workers.thumbnail(picture, THUMBNAIL_SIDE)
            file = discord.File(io.BytesIO(small), "reported.jpg")
            embed.set_thumbnail(url="attachment://reported.jpg")
        try:
            await self.per_channel.wait(channel_id, then=self.pacer.wait)
            message = await channel.send(
                embed=embed,
                file=file,
                view=report_view(report.id, actions_for(report)),
                allowed_mentions=NO_MENTIONS,
            )
        except discord.HTTPException:
            log.warning("Couldn't post report %s to channel %s", report.id, channel_id)
            return None
        return message.id

    async def _picture(self, image: tuple[str, str] | None) -> bytes | None:
        if image is None:
            return None
        try:
            return await self.bot.services.images.read(*image)
        except CameoError:  # deleted meanwhile
            return None

    async def _sheet(self, entries: Sequence[LogEntry]) -> tuple[bytes, str] | None:
        tiles = [
            Tile(await self._picture(entry.image), number, "")
            for number, entry in enumerate(entries, start=1)
            if entry.image is not None
        ]
        if not tiles:
            return None
        return await self.bot.services.jobs.workers.run(
            render_contact_sheet,
            tiles,
            columns=SHEET_COLUMNS,
            tile_size=SHEET_TILE,
            limit=SHEET_LIMIT,
            photographs=True,
        )
