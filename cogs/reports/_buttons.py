"""Report buttons (on results and character cards), the modal that asks why, and the buttons
moderators act with in the log. All outlive a restart; the domain checks every click again
(a moderator's action needs Manage Server, whatever Discord showed)."""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.moderation.reports import REASON_MAX, WHY_MAX
from cogs.common import NO_MENTIONS, custom_id_number, safe, viewer_from
from cogs.guarded import Guarded
from cogs.reports._render import settled_embed
from storage.reports import Report as FiledReport

Interaction = discord.Interaction[Any]
Button = discord.ui.Button[Any]
KINDS = {"r": "result", "c": "character"}
ACTION_LABELS = {
    "delete-result": "Delete the result",
    "delete-character": "Delete the character",
    "block": "Block the member",
    "dismiss": "Dismiss",
    "approve": "Approve",
    "reject": "Reject and delete",
}


class Report(
    Guarded,
    discord.ui.DynamicItem[Button],
    template=r"cameo:report:(?P<kind>[rc]):(?P<id>-?[0-9]+)",
):
    """Any member may report a result ("r", by job) or a character ("c") to the moderators."""

    def __init__(self, kind: str, target_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Report",
                emoji="🚩",
                style=discord.ButtonStyle.secondary,
                custom_id=f"cameo:report:{kind}:{target_id}",
            )
        )
        self.kind = kind
        self.target_id = target_id

    @classmethod
    def parse(cls, match: re.Match[str], /) -> Report:
        return cls(match["kind"], custom_id_number(match["id"]))

    async def run(self, interaction: Interaction) -> None:
        await interaction.response.send_modal(ReasonModal(self.kind, self.target_id))


class ReasonModal(discord.ui.Modal, title="Report to the moderators"):
    reason: discord.ui.TextInput[ReasonModal] = discord.ui.TextInput(
        label="What is wrong?",
        style=discord.TextStyle.paragraph,
        placeholder="It shows a real person without their consent / it breaks the rules because…",
        min_length=3,
        max_length=REASON_MAX,
    )

    def __init__(self, kind: str, target_id: int) -> None:
        super().__init__(timeout=600)
        self.kind = kind
        self.target_id = target_id

    async def on_submit(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        reports = interaction.client.services.reports
        viewer = viewer_from(interaction)
        if self.kind == "r":
            filed = await reports.report_result(viewer, self.target_id, self.reason.value)
        else:
            filed = await reports.report_character(viewer, self.target_id, self.reason.value)
        await interaction.followup.send(
            f"Thank you: report {filed.id} is with this server's moderators. Only they see it.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def on_error(self, interaction: Interaction, error: Exception, /) -> None:  # type: ignore[override]
        from bot.client.interaction_errors import report_error

        await report_error(interaction, error)


class Act(
    Guarded,
    discord.ui.DynamicItem[Button],
    template=r"cameo:modact:(?P<report>[0-9]+):(?P<action>[a-z-]+)",
):
    """A moderator's decision on a report: asks why (recorded), then carries it out."""

    def __init__(self, report_id: int, action: str) -> None:
        style = discord.ButtonStyle.secondary if action == "dismiss" else discord.ButtonStyle.danger
        super().__init__(
            discord.ui.Button(
                label=ACTION_LABELS.get(action, action),
                style=style,
                custom_id=f"cameo:modact:{report_id}:{action}",
            )
        )
        self.report_id = report_id
        self.action = action

    @classmethod
    def parse(cls, match: re.Match[str], /) -> Act:
        return cls(custom_id_number(match["report"]), match["action"])

    async def run(self, interaction: Interaction) -> None:
        # Checked here too, so a member who isn't staff gets no modal to fill in for nothing.
        if not viewer_from(interaction).can_manage_guild:
            await interaction.response.send_message(
                "Only members with the Manage Server permission can act on reports.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        await interaction.response.send_modal(WhyModal(self.report_id, self.action))


class WhyModal(discord.ui.Modal, title="Act on the report"):
    why: discord.ui.TextInput[WhyModal] = discord.ui.TextInput(
        label="Why (kept with the report)",
        style=discord.TextStyle.short,
        min_length=1,
        max_length=WHY_MAX,
    )

    def __init__(self, report_id: int, action: str) -> None:
        super().__init__(timeout=600)
        self.report_id = report_id
        self.action = action
        self.title = f"{ACTION_LABELS.get(action, action)}: report {report_id}"[:45]
        self.why.default = {
            "dismiss": "No problem",
            "approve": "Consent confirmed",
        }.get(action, "Against this server's rules")

    async def on_submit(self, interaction: Interaction) -> None:
        reports = interaction.client.services.reports
        decision = await reports.act(
            viewer_from(interaction), self.report_id, self.action, self.why.value
        )
        settled = decision.report
        message = interaction.message
        embed = settled_embed(message.embeds[0] if message and message.embeds else None, settled)
        await interaction.response.edit_message(
            embed=embed, view=None, allowed_mentions=NO_MENTIONS
        )
        scenes = interaction.client.get_cog("Scenes")
        for job in decision.stopped:  # their cards say why
            if scenes is not None:
                await scenes.delivery.show(job)
        why = safe(settled.handled_why or "")
        await interaction.followup.send(
            f"Done: report {settled.id} is {settled.outcome}. Why: {why}",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def on_error(self, interaction: Interaction, error: Exception, /) -> None:  # type: ignore[override]
        from bot.client.interaction_errors import report_error

        await report_error(interaction, error)


def actions_for(report: FiledReport) -> list[str]:
    """What a moderator may do about a report, by what it is about."""
    if report.kind == "approval":
        return ["approve", "reject"]
    actions = []
    if report.kind == "result" and report.job_id is not None:
        actions.append("delete-result")
    if report.kind in ("character", "likeness") and report.character_id is not None:
        actions.append("delete-character")
    if report.about_user is not None:
        actions.append("block")
    return [*actions, "dismiss"]


def report_view(report_id: int, actions: list[str]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(Act(report_id, action))
    return view


DYNAMIC_ITEMS = (Report, Act)
