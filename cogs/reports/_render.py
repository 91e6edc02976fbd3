"""How the moderation log reads: entry lines, report embeds, what moderators decided."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.clock import parse_timestamp
from bot.moderation.log import LogEntry
from cogs.common import safe
from storage.reports import Report

QUOTE_MAX = 160
LINE_MAX = 190  # ten lines and the header stay under Discord's 2,000 characters
KIND_TITLES = {
    "result": "🚩 Report {id}: a scene's pictures",
    "character": "🚩 Report {id}: a character",
    # The person pictured asking for removal comes first: red, and said in the title.
    "likeness": "🔴 Report {id}: the person pictured asks for removal",
    "approval": "🪪 Approval {id}: a character from a photograph of a real person",
}
KIND_COLOURS = {
    "result": 0xE67E22,
    "character": 0xE67E22,
    "likeness": 0xE74C3C,
    "approval": 0x3498DB,
}


def entry_line(number: int, entry: LogEntry) -> str:
    line = f"`{number}` {entry.text}"
    if entry.quote:
        quote = " ".join(entry.quote.split())
        if len(quote) > QUOTE_MAX:
            quote = quote[: QUOTE_MAX - 1] + "…"
        line += f" “{safe(quote)}”"
    return line if len(line) <= LINE_MAX else line[: LINE_MAX - 1] + "…"


def log_message(entries: Sequence[LogEntry], dropped: int, first_number: int = 1) -> str:
    lines = [entry_line(first_number + index, entry) for index, entry in enumerate(entries)]
    if dropped:
        lines.insert(0, f"(⚠️ {dropped} older entries were dropped: the log fell behind.)")
    return "\n".join(lines)


def report_embed(report: Report, *, where: str | None) -> discord.Embed:
    embed = discord.Embed(
        title=KIND_TITLES[report.kind].format(id=report.id),
        description=safe(report.reason),
        colour=KIND_COLOURS[report.kind],
    )
    if report.reported_by is not None:
        embed.add_field(name="From", value=f"<@{report.reported_by}>")
    if report.about_user is not None:
        whose = "Asked by" if report.kind == "result" else "Owner"
        embed.add_field(name=whose, value=f"<@{report.about_user}>")
    if report.job_id is not None:
        embed.add_field(name="Scene", value=f"job {report.job_id}")
    if where:
        embed.add_field(name="Where", value=where, inline=False)
    embed.set_footer(text="Only members with Manage Server can act on it.")
    return embed


def settled_embed(shown: discord.Embed | None, report: Report) -> discord.Embed:
    """The report's message once a moderator has acted: who, when, what and why."""
    embed = shown.copy() if shown is not None else discord.Embed(title=f"Report {report.id}")
    when = (
        f"<t:{int(parse_timestamp(report.handled_at).timestamp())}:f>" if report.handled_at else ""
    )
    by = f"<@{report.handled_by}>" if report.handled_by is not None else "a moderator"
    embed.add_field(
        name=f"✅ {str(report.outcome).capitalize()}",
        value=f"by {by} {when}\nWhy: {safe(report.handled_why or '')}"[:1024],
        inline=False,
    )
    embed.colour = discord.Colour.dark_grey()
    embed.set_footer(text=None)
    return embed
