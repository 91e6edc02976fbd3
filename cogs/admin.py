"""`/admin quota …`, `/admin gallery channel` and `/admin providers`: server settings for
members with Manage Server.

Discord hides `/admin` from other members (default permissions), but a server can change who
sees a command, so every action is checked again in the domain with the member's permissions
as Discord resolved them for this interaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.characters.service import NotAllowed
from bot.errors import CameoError
from bot.models import Viewer
from bot.moderation.log import LogEntry
from bot.providers.status import ProviderStatus
from bot.quota.service import (
    MAX_COOLDOWN_SECONDS,
    MAX_CREDITS,
    REASON_MAX,
    QuotaService,
    ServerRules,
)
from cogs.choices import SpeedChoice
from cogs.common import NO_MENTIONS, role_ids_of, safe, viewer_from
from cogs.moderation import ModerationCommands
from cogs.quotas import ledger_line, price_lines, quota_embed
from cogs.rendering import BRAND_COLOUR
from cogs.showcase import Showcase, ShowcasePoster

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot

Interaction = discord.Interaction["CameoBot"]
Credits = app_commands.Range[int, 0, MAX_CREDITS]
Amount = app_commands.Range[int, 1, MAX_CREDITS]


def rules_embed(rules: ServerRules) -> discord.Embed:
    settings = rules.settings
    daily = (
        f"{settings.daily_credits} credits"
        if settings.daily_credits is not None
        else f"{rules.default_daily} credits (Cameo's default)"
    )
    budget = (
        f"{settings.monthly_budget} credits, {rules.budget_used} spent so far"
        if settings.monthly_budget is not None
        else f"no cap ({rules.budget_used} spent so far)"
    )
    lines = [
        f"Daily allowance per member: {daily}",
        f"Credits come back {discord.utils.format_dt(rules.periods.day_ends, 'R')}",
        f"Monthly budget: {budget}; renews "
        f"{discord.utils.format_dt(rules.periods.month_ends, 'R')}",
        f"Cooldown between requests: {settings.cooldown_seconds} s"
        if settings.cooldown_seconds
        else "Cooldown between requests: none",
        "Members with Manage Server: "
        + ("exempt from the daily allowance" if settings.exempt_managers else "not exempt"),
    ]
    embed = discord.Embed(
        title="Quotas on this server", description="\n".join(lines), colour=BRAND_COLOUR
    )
    overrides = [
        (f"<@&{o.target_id}>" if o.target == "role" else f"<@{o.target_id}>")
        + (": exempt" if o.daily_credits is None else f": {o.daily_credits} a day")
        for o in rules.overrides
    ]
    if overrides:
        embed.add_field(name="Overrides", value="\n".join(overrides)[:1024], inline=False)
    prices = price_lines(rules.prices)
    if prices:
        embed.add_field(
            name="Credits per picture (* set here)", value="\n".join(prices)[:1024], inline=False
        )
    return embed


def provider_lines(status: ProviderStatus) -> str:
    latency = (
        f"{status.latency_p50:.1f} s typical" if status.latency_p50 is not None else "no jobs yet"
    )
    lines = [
        f"Circuit: {status.circuit}"
        + (f" ({status.failures_in_a_row} failures in a row)" if status.failures_in_a_row else ""),
        f"Jobs: {status.successes} made, {status.failures} failed · {latency}",
        f"Balance: {status.balance or 'not reported yet'}",
    ]
    if status.check_error:
        lines.append(f"Balance check just now: {safe(status.check_error)}")
    if status.recent_errors:
        lines.append(f"Last error: {safe(status.recent_errors[-1])}")
    return "\n".join(lines)[:1024]


def _member_viewer(member: discord.Member | discord.User, guild_id: int | None) -> Viewer:
    """The member an admin asks about, described as the quota rules see them."""
    manages = isinstance(member, discord.Member) and member.guild_permissions.manage_guild
    return Viewer(
        user_id=member.id, guild_id=guild_id, can_manage_guild=manages, role_ids=role_ids_of(member)
    )


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Admin(
    ModerationCommands,
    commands.GroupCog,
    group_name="admin",
    group_description="Server settings for Cameo",
):
    quota = app_commands.Group(name="quota", description="Credits and allowances on this server")
    gallery = app_commands.Group(name="gallery", description="This server's showcase channel")

    def __init__(self, bot: CameoBot) -> None:
        self.bot = bot
        super().__init__()

    @property
    def quotas(self) -> QuotaService:
        return self.bot.services.quota

    async def _done(self, interaction: Interaction, text: str) -> None:
        command = interaction.command
        parent = getattr(command, "parent", None)
        if parent is not None and parent.name == "quota":
            # Staff changing credits is for the moderation log (every change here is one).
            self.bot.services.moderation.log.record(
                interaction.guild_id,
                LogEntry(f"💳 <@{interaction.user.id}> changed quotas: {text}"),
            )
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @quota.command(name="show")
    async def show(self, interaction: Interaction) -> None:
        """This server's allowance, budget, cooldown, overrides and prices."""
        rules = await self.quotas.rules(viewer_from(interaction))
        await interaction.response.send_message(
            embed=rules_embed(rules), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @quota.command(name="allowance")
    @app_commands.describe(credits="Credits per member per day (leave out for Cameo's default)")
    async def allowance(self, interaction: Interaction, credits: Credits | None = None) -> None:
        """Set the daily allowance of every member."""
        await self.quotas.set_daily(viewer_from(interaction), credits)
        what = f"{credits} credits a day" if credits is not None else "Cameo's default"
        await self._done(interaction, f"Members now get {what}.")

    @quota.command(name="role")
    @app_commands.describe(
        role="The role", credits="Its daily allowance (leave out to remove the override)"
    )
    async def role(
        self, interaction: Interaction, role: discord.Role, credits: Credits | None = None
    ) -> None:
        """Give a role its own daily allowance; a member's most generous role wins."""
        await self.quotas.set_role_allowance(viewer_from(interaction), role.id, credits)
        text = (
            f"{role.mention} now gets {credits} credits a day."
            if credits is not None
            else f"{role.mention} has no override any more."
        )
        await self._done(interaction, text)

    @quota.command(name="member")
    @app_commands.describe(
        member="The member", credits="Their daily allowance (leave out to remove the override)"
    )
    async def member(
        self, interaction: Interaction, member: discord.Member, credits: Credits | None = None
    ) -> None:
        """Give one member their own daily allowance (it wins over roles)."""
        await self.quotas.set_member_allowance(viewer_from(interaction), member.id, credits)
        text = (
            f"{member.mention} now gets {credits} credits a day."
            if credits is not None
            else f"{member.mention} has no override any more."
        )
        await self._done(interaction, text)

    @quota.command(name="exempt")
    @app_commands.describe(member="The member", exempt="No daily limit for them (True) or not")
    async def exempt(self, interaction: Interaction, member: discord.Member, exempt: bool) -> None:
        """Exempt one member from the daily allowance (the monthly budget still applies)."""
        manager = viewer_from(interaction)
        await self.quotas.set_member_allowance(manager, member.id, None, exempt=exempt)
        text = (
            f"{member.mention} has no daily limit now (the server budget still applies)."
            if exempt
            else f"{member.mention} has the usual allowance again."
        )
        await self._done(interaction, text)

    @quota.command(name="exempt-managers")
    @app_commands.describe(enabled="Members with Manage Server have no daily limit")
    async def exempt_managers(self, interaction: Interaction, enabled: bool) -> None:
        """Exempt everyone with Manage Server from the daily allowance and the cooldown."""
        await self.quotas.set_exempt_managers(viewer_from(interaction), enabled)
        text = "are now exempt" if enabled else "now have the usual allowance"
        await self._done(interaction, f"Members with Manage Server {text}.")

    @quota.command(name="budget")
    @app_commands.describe(credits="Credits the whole server may spend a month (leave out: no cap)")
    async def budget(self, interaction: Interaction, credits: Credits | None = None) -> None:
        """Cap what the whole server spends in a month."""
        await self.quotas.set_budget(viewer_from(interaction), credits)
        text = f"a budget of {credits} credits a month" if credits is not None else "no monthly cap"
        await self._done(interaction, f"This server now has {text}.")

    @quota.command(name="cooldown")
    @app_commands.describe(seconds="Minimum gap between a member's requests (0: none)")
    async def cooldown(
        self, interaction: Interaction, seconds: app_commands.Range[int, 0, MAX_COOLDOWN_SECONDS]
    ) -> None:
        """Ask members to wait between requests."""
        await self.quotas.set_cooldown(viewer_from(interaction), seconds)
        text = f"{seconds} s between requests" if seconds else "no cooldown"
        await self._done(interaction, f"This server now has {text}.")

    @quota.command(name="price")
    @app_commands.describe(
        service="The image service",
        speed="Its speed (pose sheets: default)",
        credits="Credits per picture (leave out for the default)",
    )
    async def price(
        self,
        interaction: Interaction,
        service: str,
        speed: SpeedChoice,
        credits: Credits | None = None,
    ) -> None:
        """Set what one picture from a service costs members here."""
        await self.quotas.set_price(viewer_from(interaction), service, speed, credits)
        what = f"{credits} credits" if credits is not None else "the default price"
        await self._done(interaction, f"A {speed} picture from {safe(service)} now costs {what}.")

    @price.autocomplete("service")
    async def service_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=name, value=name)
            for name in self.bot.services.router.names()
            if current.lower() in name.lower()
        ][:25]

    @quota.command(name="give")
    @app_commands.describe(
        member="Who gets them", credits="How many, for today", reason="Why (kept in the ledger)"
    )
    async def give(
        self,
        interaction: Interaction,
        member: discord.Member,
        credits: Amount,
        reason: app_commands.Range[str, 1, REASON_MAX],
    ) -> None:
        """Give a member extra credits for today, with a reason."""
        await self._adjust(interaction, member, credits, reason)

    @quota.command(name="take")
    @app_commands.describe(
        member="From whom", credits="How many, for today", reason="Why (kept in the ledger)"
    )
    async def take(
        self,
        interaction: Interaction,
        member: discord.Member,
        credits: Amount,
        reason: app_commands.Range[str, 1, REASON_MAX],
    ) -> None:
        """Take credits from a member for today, with a reason."""
        await self._adjust(interaction, member, -credits, reason)

    async def _adjust(
        self, interaction: Interaction, member: discord.Member, credits: int, reason: str
    ) -> None:
        await self.quotas.adjust(viewer_from(interaction), member.id, credits, reason)
        status = await self.quotas.status(_member_viewer(member, interaction.guild_id))
        verb = (
            f"Gave {member.mention} {credits}"
            if credits > 0
            else f"Took {-credits} from {member.mention}"
        )
        left = (
            f"{status.remaining} left today" if status.remaining is not None else "no daily limit"
        )
        await self._done(interaction, f"{verb} credits ({left}). Recorded in their ledger.")

    @quota.command(name="ledger")
    @app_commands.describe(member="Whose credits to show")
    async def ledger(self, interaction: Interaction, member: discord.Member) -> None:
        """A member's credits today and their latest ledger rows."""
        entries = await self.quotas.ledger(viewer_from(interaction), member.id)
        status = await self.quotas.status(_member_viewer(member, interaction.guild_id), recent=0)
        embed = quota_embed(status, whose=f"{member.display_name}'s"[:200])
        history = "\n".join(ledger_line(entry) for entry in entries) or "No changes yet."
        embed.add_field(name="Ledger (newest first)", value=history[:1024], inline=False)
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @app_commands.command(name="likeness")
    @app_commands.describe(
        mode="Show each picture's likeness to its character's reference, and make weak ones again",
        strong="From this score up, a picture is a strong likeness (default 0.50)",
        likely="From this score up (and under strong), a likely one (default 0.36)",
        payer="Who pays for a second try: the server's budget (default) or the member",
    )
    @app_commands.choices(
        mode=[
            app_commands.Choice(name="off", value="off"),
            app_commands.Choice(name="show", value="show"),
            app_commands.Choice(
                name="reroll (show, and make weak pictures once more)", value="reroll"
            ),
        ]
    )
    async def likeness(
        self,
        interaction: Interaction,
        mode: app_commands.Choice[str] | None = None,
        strong: app_commands.Range[float, 0.05, 0.95] | None = None,
        likely: app_commands.Range[float, 0.05, 0.95] | None = None,
        payer: Literal["server", "member"] | None = None,
    ) -> None:
        """Likeness badges on pictures of photographic characters: off, shown, or rerolled."""
        scorer = self.bot.services.runner.likeness
        if scorer is None:
            await self._done(
                interaction,
                "Likeness isn't available on this bot: its operator hasn't installed the vision "
                "extra. Everything else works as usual.",
            )
            return
        settings = await scorer.configure(
            viewer_from(interaction),
            mode=mode.value if mode is not None else None,
            strong=strong,
            likely=likely,
            payer=payer,
        )
        state = {
            "off": "off",
            "show": "shown on every picture of a photographic character",
            "reroll": "shown on every picture of a photographic character, and a weak picture "
            "is made once more with a new seed; the better of the two is delivered. The second "
            f"try is paid by {'the member' if settings.reroll_payer == 'member' else 'the server'}",
        }[settings.mode]
        await self._done(
            interaction,
            f"Likeness is {state}. Bands: strong from {settings.strong:.2f}, likely from "
            f"{settings.likely:.2f}, weak below.",
        )

    @app_commands.command(name="providers")
    @app_commands.describe(check="Ask each service for its balance now (a free call)")
    async def providers(self, interaction: Interaction, check: bool = False) -> None:
        """Which image services are set up, how they are doing, and their balance."""
        manager = viewer_from(interaction)
        if check:
            await interaction.response.defer(ephemeral=True, thinking=True)
        statuses = await self.bot.services.provider_status.report(manager, check=check)
        embed = discord.Embed(title="Image services", colour=BRAND_COLOUR)
        for status in statuses[:25]:
            embed.add_field(name=status.name, value=provider_lines(status), inline=False)
        if not statuses:
            embed.description = "No image service is configured: set a service's API key."
        if check:
            await interaction.followup.send(
                embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
        else:
            await interaction.response.send_message(
                embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
            )

    @gallery.command(name="channel")
    @app_commands.describe(
        channel="A forum (one post per character) or a text channel; leave out to turn it off"
    )
    async def gallery_channel(
        self,
        interaction: Interaction,
        channel: discord.ForumChannel | discord.TextChannel | None = None,
    ) -> None:
        """Choose where members share their pictures: one post per character."""
        # Discord hides /admin from other members, but a server can change that: checked here
        # with the permissions Discord resolved for this member.
        if not viewer_from(interaction).can_manage_guild:
            raise NotAllowed("Only members with Manage Server can choose the showcase.")
        poster = showcase_poster(self.bot)
        assert interaction.guild_id is not None
        if channel is None:
            await poster.set_channel(interaction.guild_id, None)
            await self._done(interaction, "The showcase is off. Posts already made stay.")
            return
        missing = showcase_permissions_missing(channel)
        if missing:
            raise CameoError(f"I need {missing} in {channel.mention} to keep the showcase there.")
        await poster.set_channel(interaction.guild_id, channel.id)
        what = "a post" if isinstance(channel, discord.ForumChannel) else "a card and a thread"
        await self._done(
            interaction,
            f"The showcase is {channel.mention}: each shared character gets {what} there, and "
            "members share pictures into it with the Share button on their results.",
        )


def showcase_poster(bot: CameoBot) -> ShowcasePoster:
    cog = bot.get_cog("Showcase")
    if not isinstance(cog, Showcase):
        raise CameoError("The showcase is not available right now.")
    return cog.poster


def showcase_permissions_missing(channel: discord.ForumChannel | discord.TextChannel) -> str:
    permissions = channel.permissions_for(channel.guild.me)
    needed = {
        "View Channel": permissions.view_channel,
        "Send Messages": permissions.send_messages,
        "Attach Files": permissions.attach_files,
        "Embed Links": permissions.embed_links,
        "Send Messages in Threads": permissions.send_messages_in_threads,
    }
    if isinstance(channel, discord.TextChannel):
        needed["Create Public Threads"] = permissions.create_public_threads
    return " and ".join(name for name, granted in needed.items() if not granted)


async def setup(bot: CameoBot) -> None:
    await bot.add_cog(Admin(bot))
