"""`/quota`: your credits today, the server's month budget, what pictures cost, your history.

The rendering here is shared with `/admin quota`, which shows the same things for a member.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.clock import parse_timestamp
from bot.quota.service import Allowance, AllowanceSource, PriceRow, QuotaStatus
from cogs.common import NO_MENTIONS, safe, viewer_from
from cogs.rendering import BRAND_COLOUR
from storage.quotas import LedgerEntry

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot


def signed(amount: int) -> str:
    """A change to what a member has left: +15 back, −15 spent."""
    if amount == 0:
        return "±0"
    return f"+{amount}" if amount > 0 else f"−{-amount}"


_SOURCE_WORDS = {
    AllowanceSource.MEMBER: "set for you",
    AllowanceSource.EXEMPT: "you are exempt",
    AllowanceSource.MANAGER: "exempt as a server manager",
    AllowanceSource.SERVER: "this server's allowance",
    AllowanceSource.DEFAULT: "Cameo's default",
}


def allowance_words(allowance: Allowance) -> str:
    if allowance.source is AllowanceSource.ROLE:
        return f"set for <@&{allowance.role_id}>"
    return _SOURCE_WORDS[allowance.source]


def ledger_line(entry: LedgerEntry) -> str:
    """One ledger row, as the change to what the member has left."""
    when = discord.utils.format_dt(parse_timestamp(entry.at), "R")
    reason = safe(entry.reason)
    if entry.actor_id is not None:
        verb = "given by" if entry.change == "give" else "taken by"
        reason = f"{verb} <@{entry.actor_id}>: {reason}"
    return f"{when} **{signed(-entry.credits)}** {reason}"


def price_lines(prices: Sequence[PriceRow]) -> list[str]:
    lines = []
    for provider, rows in groupby(prices, key=lambda row: row.provider):
        parts = [f"{row.speed} {row.credits}{'*' if row.custom else ''}" for row in rows]
        lines.append(f"**{provider}**: " + " · ".join(parts))
    return lines


def quota_embed(status: QuotaStatus, *, whose: str = "Your") -> discord.Embed:
    embed = discord.Embed(title=f"{whose} credits", colour=BRAND_COLOUR)
    resets = (
        f"{discord.utils.format_dt(status.day_ends, 'R')} "
        f"({discord.utils.format_dt(status.day_ends, 't')})"
    )
    if status.remaining is None:
        today = f"No daily limit ({allowance_words(status.allowance)}). Used today: {status.used}."
    else:
        today = (
            f"**{status.remaining}** of {status.allowance.daily} left "
            f"({allowance_words(status.allowance)}). They come back {resets}."
        )
    if status.held:
        today += f"\n{status.held} on hold for pictures on the way; what isn't used comes back."
    if status.cooldown_seconds:
        today += f"\nThis server asks for {status.cooldown_seconds} s between requests."
    embed.add_field(name="Today", value=today, inline=False)
    if status.budget is not None:
        month = (
            f"**{status.budget_remaining}** of {status.budget} left for the whole server; "
            f"renews {discord.utils.format_dt(status.month_ends, 'R')}."
        )
        embed.add_field(name="Server budget this month", value=month, inline=False)
    prices = price_lines(status.prices)
    if prices:
        embed.add_field(name="Credits per picture", value="\n".join(prices)[:1024], inline=False)
    if status.recent:
        history = "\n".join(ledger_line(entry) for entry in status.recent)
        embed.add_field(name="Recent", value=history[:1024], inline=False)
    embed.set_footer(text="One credit is about one US cent of image-service spend.")
    return embed


class Quotas(commands.Cog):
    def __init__(self, bot: CameoBot) -> None:
        self.bot = bot

    @app_commands.command(name="quota")
    async def quota(self, interaction: discord.Interaction[CameoBot]) -> None:
        """What you have left today, when it comes back, and what each picture costs."""
        status = await self.bot.services.quota.status(viewer_from(interaction))
        await interaction.response.send_message(
            embed=quota_embed(status), ephemeral=True, allowed_mentions=NO_MENTIONS
        )


async def setup(bot: CameoBot) -> None:
    await bot.add_cog(Quotas(bot))
