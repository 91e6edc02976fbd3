"""`/admin moderation …`: the rules a server's staff set for Cameo. Thin adapters to the
moderation service, which checks Manage Server again for every change."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.moderation.service import REASON_MAX
from bot.moderation.terms import PATTERN_MAX, is_pattern, shown
from cogs.common import NO_MENTIONS, safe, viewer_from

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot

Interaction = discord.Interaction["CameoBot"]
TermAction = Literal["add", "remove", "list", "defaults-on", "defaults-off"]
DURATIONS = {
    "1 hour": timedelta(hours=1),
    "1 day": timedelta(days=1),
    "1 week": timedelta(weeks=1),
    "30 days": timedelta(days=30),
    "until unblocked": None,
}
LIST_SHOWN = 60


class ModerationCommands(commands.Cog):
    """Mixed into the `/admin` cog as its `moderation` subgroup."""

    bot: CameoBot

    moderation = app_commands.Group(
        name="moderation", description="What Cameo may make here, and who may use it"
    )

    @moderation.command(name="terms")
    @app_commands.describe(
        action="Add or remove a term, list them, or switch Cameo's default list on or off",
        term="A word or a few (whole words, whatever their case or spacing), or a /pattern/",
    )
    async def terms(
        self,
        interaction: Interaction,
        action: TermAction,
        term: app_commands.Range[str, 1, PATTERN_MAX] | None = None,
    ) -> None:
        """Blocked terms: refused in prompts, names, descriptions and story titles."""
        service = self.bot.services.moderation
        viewer = viewer_from(interaction)
        if action in ("add", "remove"):
            if term is None:
                await self._say(interaction, f"Give the `term` to {action}.")
                return
            if action == "add":
                key = await service.add_term(viewer, term)
                text = (
                    f"Blocked {_term(key)}: prompts, names, descriptions and story titles "
                    f"{'it matches' if is_pattern(key) else 'with it'} are refused here."
                )
            else:
                key = await service.remove_term(viewer, term)
                text = f"{_term(key)} is no longer blocked here."
        elif action in ("defaults-on", "defaults-off"):
            on = action == "defaults-on"
            await service.use_default_terms(viewer, on)
            text = (
                "Cameo's default list of terms (sexual content and gore) now applies here too."
                if on
                else "Cameo's default list of terms no longer applies here."
            )
        else:
            listed = await service.terms(viewer)
            shown_terms = ", ".join(_term(t) for t in listed.own[:LIST_SHOWN]) or "none"
            more = len(listed.own) - LIST_SHOWN
            text = (
                f"Blocked here: {shown_terms}{f' and {more} more' if more > 0 else ''}.\n"
                f"Cameo's default list: {'on' if listed.defaults_on else 'off'}."
            )
        await self._say(interaction, text)

    @moderation.command(name="log")
    @app_commands.describe(
        channel="Where Cameo notes what it made and refused, and sends reports (leave out: off)"
    )
    async def log_channel(
        self, interaction: Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        """The moderation log: characters, scenes, refusals, blocks, quota changes and reports."""
        service = self.bot.services.moderation
        viewer = viewer_from(interaction)
        if channel is not None:
            me = channel.permissions_for(channel.guild.me)
            if not (me.view_channel and me.send_messages and me.attach_files and me.embed_links):
                await self._say(
                    interaction,
                    f"I need to see {channel.mention} and send messages, files and embeds there "
                    "before it can be the log.",
                )
                return
        await service.set_log_channel(viewer, channel.id if channel else None)
        text = (
            f"Cameo's moderation log now goes to {channel.mention}: characters made or changed, "
            "scenes delivered, refused prompts, blocks, quota changes by staff and reports, "
            "batched, with pictures, pinging nobody."
            if channel
            else "The moderation log is off. Members can't send reports until a channel is set."
        )
        await self._say(interaction, text)

    @moderation.command(name="real-people")
    @app_commands.describe(
        approve="Characters from photographs of real people wait for a moderator's approval"
    )
    async def real_people(self, interaction: Interaction, approve: bool) -> None:
        """Whether characters made from photographs of real people need a moderator's approval."""
        await self.bot.services.moderation.set_real_people_approval(
            viewer_from(interaction), approve
        )
        text = (
            "Characters made from photographs of real people now wait, usable by nobody, until "
            "a moderator approves them in the moderation log."
            if approve
            else "Characters made from photographs of real people no longer need approval "
            "(members still confirm they may use the photograph)."
        )
        await self._say(interaction, text)

    @moderation.command(name="safety")
    @app_commands.describe(
        held_pictures="Whether pictures held back as age-restricted are charged (default: no)"
    )
    async def safety(
        self,
        interaction: Interaction,
        held_pictures: Literal["refund", "charge"] | None = None,
    ) -> None:
        """The age-restricted check on results: whether it runs, and who pays for held pictures."""
        service = self.bot.services.moderation
        viewer = viewer_from(interaction)
        if held_pictures is not None:
            await service.charge_held_pictures(viewer, held_pictures == "charge")
        charged = await service.held_pictures_charged(viewer)
        if self.bot.services.runner.safety is None:
            check = (
                "The age-restricted check is not installed on this bot (or its operator turned "
                "it off), so results are not checked: blocked terms and the image services' own "
                "rules are what keep pictures suitable."
            )
        else:
            check = (
                "Every result is checked. Outside age-restricted channels a flagged picture is "
                "held back (the member is told); inside one it is posted behind a spoiler."
            )
        paid = "charged" if charged else "refunded (not charged)"
        await self._say(interaction, f"{check}\nPictures held back are {paid}.")

    @moderation.command(name="access")
    @app_commands.describe(
        action="Keep Cameo to a role or channel, stop doing so, list the limits, or clear them",
        role="Only members with one of the listed roles may use Cameo (staff always may)",
        channel="Cameo works only in the listed channels and their threads",
    )
    async def access(
        self,
        interaction: Interaction,
        action: Literal["add", "remove", "list", "clear"],
        role: discord.Role | None = None,
        channel: discord.TextChannel | discord.ForumChannel | None = None,
    ) -> None:
        """Who may use Cameo here, and where."""
        service = self.bot.services.moderation
        viewer = viewer_from(interaction)
        if action == "list":
            limits = await service.access_limits(viewer)
        else:
            limits = await service.change_access(
                viewer,
                action,
                role_id=role.id if role else None,
                channel_id=channel.id if channel else None,
            )
        roles = ", ".join(f"<@&{r}>" for r in sorted(limits.roles)) or "every member"
        channels = ", ".join(f"<#{c}>" for c in sorted(limits.channels)) or "every channel"
        await self._say(interaction, f"Cameo here: {roles}, in {channels}. Staff always may.")

    @moderation.command(name="block")
    @app_commands.describe(
        member="The member to block from Cameo here",
        reason="Told to them whenever they try (up to 300 characters)",
        duration="How long (default: until unblocked)",
    )
    async def block(
        self,
        interaction: Interaction,
        member: discord.User,
        reason: app_commands.Range[str, 1, REASON_MAX] | None = None,
        duration: Literal["1 hour", "1 day", "1 week", "30 days", "until unblocked"] = (
            "until unblocked"
        ),
    ) -> None:
        """Block a member from Cameo here; their queued scenes stop, refunded."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        blocked = await self.bot.services.blocks.block(
            viewer_from(interaction), member.id, reason, DURATIONS[duration]
        )
        reason_text = safe(blocked.block.reason)
        text = f"Blocked {member.mention} from Cameo here ({duration}). Reason: {reason_text}"
        if blocked.stopped:
            text += f"\n{len(blocked.stopped)} of their queued scenes stopped, refunded."
            scenes = self.bot.get_cog("Scenes")
            for job in blocked.stopped:
                if scenes is not None:  # their cards say why
                    await scenes.delivery.show(job)  # type: ignore[attr-defined]
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @moderation.command(name="unblock")
    @app_commands.describe(member="The member to let use Cameo here again")
    async def unblock(self, interaction: Interaction, member: discord.User) -> None:
        """Let a blocked member use Cameo here again."""
        removed = await self.bot.services.blocks.unblock(viewer_from(interaction), member.id)
        await self._say(
            interaction,
            f"{member.mention} can use Cameo here again."
            if removed
            else f"{member.mention} wasn't blocked here.",
        )

    async def _say(self, interaction: Interaction, text: str) -> None:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


def _term(key: str) -> str:
    """A term as a message shows it: a pattern as code, a plain term quoted and escaped."""
    return shown(key) if is_pattern(key) else f"“{safe(key)}”"
