"""Credits: who may spend how much, holds for queued jobs, and the ledger that explains it.

Rules, in order:
- A member's daily allowance is their own override if a manager set one, else the most
  generous override among their roles, else the server's daily allowance, else the bot's
  default (`CAMEO_DAILY_CREDITS`). Exempt members (one by one, or everyone with Manage Server
  when the server says so) have no daily limit and no cooldown.
- A server's monthly budget, when set, caps what all of its members spend together; it binds
  exempt members too, since it is the owner's money.
- A job holds its credits when queued; on delivery the price of the service that made it is
  charged and the rest of the hold comes back; a failure or cancellation gives it all back.
  Each change is charged to the day and month the job was queued in, so a refund after a
  reset never hands out extra credits today.

Every check and the write that depends on it run in one `BEGIN IMMEDIATE` transaction, so no
interleaving of requests, tasks or processes can spend a credit twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial

from bot.clock import Clock, discord_time, parse_timestamp, timestamp
from bot.errors import CameoError
from bot.models import PERSONAL_SCOPE, Viewer
from bot.quota import pricing
from bot.quota.hooks import QuotaExceeded
from storage import quotas as repo
from storage.database import Database, run_sync

SQLite = sqlite3.Connection
# The largest number an admin can type for an allowance, budget, price or gift.
MAX_CREDITS = 10_000_000
MAX_COOLDOWN_SECONDS = 24 * 3600
LEDGER_PAGE = 15
REASON_MAX = 200


@dataclass(frozen=True)
class Periods:
    """The day and month that credits are counted in, and when each ends."""

    day: str  # "2026-11-21": the date on which the current day began
    month: str  # "2026-11"
    day_ends: datetime
    month_ends: datetime


def periods(now: datetime, reset_hour: int) -> Periods:
    """Days begin at `reset_hour` UTC; a month begins on the first day of it."""
    now = now.astimezone(UTC)
    start = now.replace(hour=reset_hour, minute=0, second=0, microsecond=0)
    if start > now:
        start -= timedelta(days=1)
    day_ends = start + timedelta(days=1)
    first = start.replace(day=1)
    month_ends = (first + timedelta(days=32)).replace(day=1)
    return Periods(
        day=start.date().isoformat(),
        month=start.strftime("%Y-%m"),
        day_ends=day_ends,
        month_ends=month_ends,
    )


class AllowanceSource(StrEnum):
    """What set a member's daily allowance."""

    MEMBER = "member"  # their own override
    EXEMPT = "exempt"  # exempted one by one
    MANAGER = "manager"  # exempt as a member with Manage Server
    ROLE = "role"  # the most generous of their roles' overrides
    SERVER = "server"  # the server's allowance
    DEFAULT = "default"  # CAMEO_DAILY_CREDITS


@dataclass(frozen=True)
class Allowance:
    daily: int | None  # None: no daily limit
    source: AllowanceSource
    role_id: int | None = None  # the role, when a role's override applies


@dataclass(frozen=True)
class PriceRow:
    provider: str
    speed: str
    credits: int
    custom: bool  # the server set it


@dataclass(frozen=True)
class QuotaStatus:
    allowance: Allowance
    used: int  # today, holds included
    held: int  # on hold for unfinished jobs (part of `used`)
    day_ends: datetime
    budget: int | None
    budget_used: int
    month_ends: datetime
    cooldown_seconds: int
    prices: list[PriceRow]
    recent: list[repo.LedgerEntry]

    @property
    def remaining(self) -> int | None:
        if self.allowance.daily is None:
            return None
        return max(0, self.allowance.daily - self.used)

    @property
    def budget_remaining(self) -> int | None:
        return None if self.budget is None else max(0, self.budget - self.budget_used)


@dataclass(frozen=True)
class ServerRules:
    """A server's settings as a manager sees them in `/admin quota show`."""

    settings: repo.QuotaSettings
    default_daily: int
    overrides: list[repo.Override]
    prices: list[PriceRow]
    budget_used: int
    periods: Periods


class QuotaService:
    """The quota hooks the job queue calls, plus what `/quota` and `/admin quota` need."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        daily_credits: int,
        reset_hour: int,
        providers: Callable[[], Sequence[str]],
    ) -> None:
        self.db = db
        self.clock = clock
        self.default_daily = daily_credits
        self.reset_hour = reset_hour
        self._providers = providers  # the configured services, for the cost table

    def periods(self) -> Periods:
        return periods(self.clock.now(), self.reset_hour)

    # -- hooks the job queue calls, inside its own transaction -------------------------------

    def hold_for(
        self, conn: SQLite, *, guild_id: int, providers: Sequence[str], speed: str, images: int
    ) -> int:
        return pricing.hold_for(providers, speed, images, repo.prices(conn, guild_id))

    def reserve(
        self, conn: SQLite, *, job_id: int, member: Viewer, speed: str, credits: int
    ) -> None:
        """Hold `credits` for a job, or raise QuotaExceeded saying what ran out and when it
        comes back. Also enforces the server's cooldown between a member's requests."""
        guild_id, user_id = member.scope, member.user_id
        now = self.clock.now()
        period = periods(now, self.reset_hour)
        rules = repo.settings(conn, guild_id)
        allowance = self._allowance(conn, member, rules)
        if allowance.daily is not None:
            self._check_cooldown(conn, member, rules, now)
            used = repo.used(conn, guild_id, user_id, period.day)
            if used + credits > allowance.daily:
                raise QuotaExceeded(_over_daily(credits, allowance.daily - used, period.day_ends))
        if rules.monthly_budget is not None and credits:
            spent = repo.budget_used(conn, guild_id, period.month)
            if spent + credits > rules.monthly_budget:
                raise QuotaExceeded(
                    f"This server's image budget for the month is used up ({credits} credits "
                    f"needed, {max(0, rules.monthly_budget - spent)} left). It renews "
                    f"{discord_time(period.month_ends)}; a server manager can raise it."
                )
        if rules.cooldown_seconds:
            repo.record_request(conn, guild_id, user_id, timestamp(now))
        hold = repo.Hold(
            job_id, guild_id, user_id, speed, credits, None, "held", period.day, period.month
        )
        repo.insert_hold(conn, hold)
        self._record(conn, hold, "reserve", credits, f"held for job {job_id}")

    def commit(
        self,
        conn: SQLite,
        *,
        job_id: int,
        provider: str | None,
        images: int,
        retried: int = 0,
    ) -> None:
        """The job's images were delivered: charge what they cost, give back the rest. Second
        tries the member pays for come out of the same hold, as a ledger row of their own."""
        hold = repo.hold(conn, job_id)
        if hold is None or hold.state != "held":
            return
        each = (
            pricing.price(provider, hold.speed, repo.prices(conn, hold.guild_id)) if provider else 0
        )
        charged = min(hold.credits, each * images)
        retry = min(hold.credits - charged, each * retried)
        if not repo.settle_hold(conn, job_id, "charged", charged + retry):
            return
        what = f"{_pictures(images)} from {provider}"
        self._record(conn, hold, "charge", charged - hold.credits, f"charged {charged} for {what}")
        if retried:
            self._record(
                conn, hold, "retry", retry,
                f"second try for likeness: {_pictures(retried)} from {provider}, paid by you",
            )  # fmt: skip

    def covers_retry(
        self, conn: SQLite, *, job_id: int, provider: str, images: int, retried: int
    ) -> bool:
        hold = repo.hold(conn, job_id)
        if hold is None or hold.state != "held":
            return False
        each = pricing.price(provider, hold.speed, repo.prices(conn, hold.guild_id))
        return hold.credits >= each * (images + retried)

    def pay_server_retry(self, conn: SQLite, *, job_id: int, provider: str, images: int) -> bool:
        hold = repo.hold(conn, job_id)
        if hold is None:
            return False
        if repo.retry_paid(conn, job_id):
            return True  # resumed after a restart: the first attempt paid already
        cost = pricing.price(provider, hold.speed, repo.prices(conn, hold.guild_id)) * images
        budget = repo.settings(conn, hold.guild_id).monthly_budget
        if budget is not None and repo.budget_used(conn, hold.guild_id, hold.month) + cost > budget:
            return False
        self._record(
            conn, hold, "retry", 0,
            f"second try for likeness: {_pictures(images)} from {provider}, paid by the server",
            budget=cost,
        )  # fmt: skip
        return True

    def undo_server_retry(self, conn: SQLite, *, job_id: int, reason: str) -> None:
        hold = repo.hold(conn, job_id)
        paid = repo.retry_paid(conn, job_id)
        if hold is None or not paid:
            return
        self._record(
            conn, hold, "retry", 0, f"second try refunded: {reason}"[:REASON_MAX], budget=-paid
        )

    def refund(self, conn: SQLite, *, job_id: int, reason: str) -> None:
        """The job failed or was cancelled: give the whole hold back."""
        hold = repo.hold(conn, job_id)
        if hold is None or not repo.settle_hold(conn, job_id, "refunded", 0):
            return
        self._record(conn, hold, "refund", -hold.credits, f"refunded: {reason}"[:REASON_MAX])

    def _record(
        self,
        conn: SQLite,
        hold: repo.Hold,
        change: str,
        credits: int,
        reason: str,
        *,
        budget: int | None = None,
    ) -> None:
        """A ledger row for a job's credits, charged to the day and month it was queued in.
        What the member uses counts against the server's budget too, unless `budget` says
        otherwise (a second try the server pays for costs the member nothing)."""
        repo.record(
            conn,
            repo.LedgerEntry(
                0, hold.guild_id, hold.user_id, hold.job_id, change, credits,
                credits if budget is None else budget,
                hold.day, hold.month, reason, None, timestamp(self.clock.now()),
            ),
        )  # fmt: skip

    # -- what members see --------------------------------------------------------------------

    async def status(self, member: Viewer, *, recent: int = 8) -> QuotaStatus:
        """The member's credits in the server they are in (or in DMs)."""
        async with self.db.read() as conn:
            return await run_sync(conn, lambda raw: self._status(raw, member, recent))

    def _status(self, conn: SQLite, member: Viewer, recent: int) -> QuotaStatus:
        period = self.periods()
        guild_id = member.scope
        rules = repo.settings(conn, guild_id)
        allowance = self._allowance(conn, member, rules)
        used = repo.used(conn, guild_id, member.user_id, period.day)
        held = repo.held(conn, guild_id, member.user_id)
        budget_used = repo.budget_used(conn, guild_id, period.month)
        prices = self._price_rows(conn, guild_id)
        entries = repo.ledger(conn, guild_id, member.user_id, recent)
        return QuotaStatus(
            allowance=allowance,
            used=used,
            held=held,
            day_ends=period.day_ends,
            budget=rules.monthly_budget,
            budget_used=budget_used,
            month_ends=period.month_ends,
            cooldown_seconds=rules.cooldown_seconds,
            prices=prices,
            recent=entries,
        )

    def _allowance(self, conn: SQLite, member: Viewer, rules: repo.QuotaSettings) -> Allowance:
        if member.guild_id is None:
            return Allowance(self.default_daily, AllowanceSource.DEFAULT)
        found = repo.overrides_for(conn, member.scope, member.user_id, member.role_ids)
        own = next((o for o in found if o.target == "member"), None)
        if own is not None:
            exempt = own.daily_credits is None
            source = AllowanceSource.EXEMPT if exempt else AllowanceSource.MEMBER
            return Allowance(own.daily_credits, source)
        if rules.exempt_managers and member.can_manage_guild:
            return Allowance(None, AllowanceSource.MANAGER)
        roles = [o for o in found if o.target == "role" and o.daily_credits is not None]
        if roles:
            best = max(roles, key=lambda o: o.daily_credits or 0)
            return Allowance(best.daily_credits, AllowanceSource.ROLE, best.target_id)
        if rules.daily_credits is not None:
            return Allowance(rules.daily_credits, AllowanceSource.SERVER)
        return Allowance(self.default_daily, AllowanceSource.DEFAULT)

    def _check_cooldown(
        self, conn: SQLite, member: Viewer, rules: repo.QuotaSettings, now: datetime
    ) -> None:
        if not rules.cooldown_seconds:
            return
        last = repo.last_request(conn, member.scope, member.user_id)
        if last is None:
            return
        ready = parse_timestamp(last) + timedelta(seconds=rules.cooldown_seconds)
        if ready > now:
            raise QuotaExceeded(
                f"This server asks for {rules.cooldown_seconds} s between requests. "
                f"You can ask again {discord_time(ready)}."
            )

    def _price_rows(self, conn: SQLite, guild_id: int) -> list[PriceRow]:
        overrides = repo.prices(conn, guild_id)
        return [
            PriceRow(name, speed, pricing.price(name, speed, overrides), (name, speed) in overrides)
            for name in self._providers()
            for speed in pricing.speeds_for(name)
        ]

    # -- what managers do --------------------------------------------------------------------

    async def rules(self, manager: Viewer) -> ServerRules:
        guild_id = _managed_guild(manager)
        period = self.periods()

        def read(conn: SQLite) -> ServerRules:
            return ServerRules(
                settings=repo.settings(conn, guild_id),
                default_daily=self.default_daily,
                overrides=repo.overrides(conn, guild_id),
                prices=self._price_rows(conn, guild_id),
                budget_used=repo.budget_used(conn, guild_id, period.month),
                periods=period,
            )

        async with self.db.read() as conn:
            return await run_sync(conn, read)

    async def set_daily(self, manager: Viewer, credits: int | None) -> None:
        """The server's daily allowance per member; None goes back to Cameo's default."""
        guild_id = _managed_guild(manager)
        credits = _credits(credits)
        await self.db.run_transaction(
            lambda conn: repo.update_setting(conn, guild_id, "daily_credits", credits)
        )

    async def set_budget(self, manager: Viewer, credits: int | None) -> None:
        """The server's monthly budget; None removes the cap."""
        guild_id = _managed_guild(manager)
        credits = _credits(credits)
        await self.db.run_transaction(
            lambda conn: repo.update_setting(conn, guild_id, "monthly_budget", credits)
        )

    async def set_cooldown(self, manager: Viewer, seconds: int) -> None:
        guild_id = _managed_guild(manager)
        if not 0 <= seconds <= MAX_COOLDOWN_SECONDS:
            raise CameoError(f"The cooldown must be between 0 and {MAX_COOLDOWN_SECONDS} seconds.")
        await self.db.run_transaction(
            lambda conn: repo.update_setting(conn, guild_id, "cooldown_seconds", seconds)
        )

    async def set_exempt_managers(self, manager: Viewer, exempt: bool) -> None:
        guild_id = _managed_guild(manager)
        await self.db.run_transaction(
            lambda conn: repo.update_setting(conn, guild_id, "exempt_managers", int(exempt))
        )

    async def set_role_allowance(self, manager: Viewer, role_id: int, credits: int | None) -> None:
        """A role's daily allowance; None removes the override."""
        await self._set_override(manager, "role", role_id, credits, exempt=False)

    async def set_member_allowance(
        self, manager: Viewer, user_id: int, credits: int | None, *, exempt: bool = False
    ) -> None:
        """A member's own daily allowance, or exemption; neither removes the override."""
        await self._set_override(manager, "member", user_id, credits, exempt=exempt)

    async def _set_override(
        self, manager: Viewer, target: str, target_id: int, credits: int | None, *, exempt: bool
    ) -> None:
        guild_id = _managed_guild(manager)
        credits = _credits(credits)

        def write(conn: SQLite) -> None:
            if exempt:
                repo.set_override(conn, guild_id, target, target_id, None)
            elif credits is None:
                repo.remove_override(conn, guild_id, target, target_id)
            else:
                repo.set_override(conn, guild_id, target, target_id, credits)

        await self.db.run_transaction(write)

    async def set_price(
        self, manager: Viewer, provider: str, speed: str, credits: int | None
    ) -> None:
        """This server's price of one image; None goes back to the default."""
        guild_id = _managed_guild(manager)
        if provider not in self._providers():
            raise CameoError(f"The image service {provider} isn't set up on this bot.")
        if speed not in pricing.speeds_for(provider):
            speeds = ", ".join(pricing.speeds_for(provider))
            raise CameoError(f"{provider} is priced only at: {speeds}.")
        credits = _credits(credits)
        await self.db.run_transaction(
            lambda conn: repo.set_price(conn, guild_id, provider, speed, credits)
        )

    async def adjust(self, manager: Viewer, user_id: int, credits: int, reason: str) -> int:
        """Give (positive) or take (negative) credits for today; returns what the member has
        used after it. Recorded in the ledger with the manager and the reason."""
        guild_id = _managed_guild(manager)
        reason = " ".join(reason.split())
        if not reason:
            raise CameoError("Say why: the reason is kept in the member's ledger.")
        if not credits or abs(credits) > MAX_CREDITS:
            raise CameoError(f"Give or take between 1 and {MAX_CREDITS:,} credits.")
        now = self.clock.now()
        period = periods(now, self.reset_hour)
        change = "give" if credits > 0 else "take"
        entry = repo.LedgerEntry(
            0, guild_id, user_id, None, change, -credits, 0, period.day, period.month,
            reason[:REASON_MAX], manager.user_id, timestamp(now),
        )  # fmt: skip

        def write(conn: SQLite) -> int:
            repo.record(conn, entry)
            return repo.used(conn, guild_id, user_id, period.day)

        return await self.db.run_transaction(write)

    async def ledger(self, manager: Viewer, user_id: int) -> list[repo.LedgerEntry]:
        guild_id = _managed_guild(manager)
        async with self.db.read() as conn:
            return await run_sync(
                conn, lambda raw: repo.ledger(raw, guild_id, user_id, LEDGER_PAGE)
            )

    async def forget(self, user_id: int) -> None:
        """`/privacy forget-me`: drop the member's ledger, holds and overrides."""
        await self.db.run_transaction(partial(self.erase_member, user_id=user_id))

    def erase_member(self, conn: sqlite3.Connection, user_id: int) -> None:
        """forget-me's part for credits, inside the caller's transaction."""
        repo.forget(conn, user_id, self.periods().day)


def _pictures(count: int) -> str:
    return f"{count} image{'s' if count != 1 else ''}"


def _managed_guild(manager: Viewer) -> int:
    """Every admin action is checked here, whatever Discord showed the member."""
    if manager.guild_id is None or manager.guild_id == PERSONAL_SCOPE:
        raise CameoError("Quotas are set per server: use this in the server.")
    if not manager.can_manage_guild:
        raise CameoError("Only members with the Manage Server permission can change quotas.")
    return manager.guild_id


def _credits(credits: int | None) -> int | None:
    if credits is not None and not 0 <= credits <= MAX_CREDITS:
        raise CameoError(f"Credits must be between 0 and {MAX_CREDITS:,}.")
    return credits


def _over_daily(needed: int, left: int, resets: datetime) -> str:
    left = max(0, left)
    return (
        f"That needs {needed} credits and you have {left} left today. "
        f"Your credits come back {discord_time(resets)}. See /quota for what each picture costs."
    )
