"""A server's moderation rules: blocked terms and blocked members.

Staff (Manage Server) set them; every check is made here, before any credit is held or any
service is called. Terms and blocks are kept in memory per server once read (one process owns
the database; see README), so checking them costs no trip to the database.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from bot.clock import Clock, parse_timestamp, timestamp
from bot.errors import CameoError
from bot.models import PERSONAL_SCOPE, Viewer
from bot.moderation.log import LogEntry, ModerationLog
from bot.moderation.terms import DEFAULT_TERMS, TERMS_MAX, TermList, shown, term_key
from storage import moderation as repo
from storage import reports as report_rows
from storage.database import Database

log = logging.getLogger(__name__)

REASON_MAX = 300
DEFAULT_REASON = "no reason given"


class NotStaff(CameoError):
    def __init__(self) -> None:
        super().__init__("Only members with the Manage Server permission can change this.")


class BlockedTerm(CameoError):
    """Text that contains a term the server blocks; the message names the term and the list."""


class BlockedMember(CameoError):
    """A member blocked from Cameo in this server; the message gives the reason."""


class NoAccess(CameoError):
    """Cameo is limited to some roles or channels here, and this is neither."""


@dataclass(frozen=True)
class Access:
    roles: frozenset[int]  # empty: every member
    channels: frozenset[int]  # empty: every channel


@dataclass(frozen=True)
class ServerTerms:
    own: list[str]  # as typed, in the order added
    defaults_on: bool


@dataclass(frozen=True)
class _Rules:
    own: TermList
    defaults: TermList | None  # None when the server has not switched the default list on


_DEFAULTS = TermList.of(term_key(term) for term in DEFAULT_TERMS)
# Processes sharing a database tell each other which server's rules changed (its id) here.
RULES_CHANNEL = "cameo_rules"


class ModerationService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._rules: dict[int, _Rules] = {}
        self._blocks: dict[int, dict[int, repo.Block]] = {}
        self._access: dict[int, Access] = {}
        # Per server, how many times its copy was dropped: a read that began before a drop
        # (another process changed the rules meanwhile) is used once, not kept.
        self._generation: dict[int, int] = {}
        # The server's moderation log (entries batched; the Discord layer posts them).
        self.log = ModerationLog(db)

    # -- blocked terms ----------------------------------------------------------------------

    async def check_text(self, viewer: Viewer, fields: Mapping[str, str | None]) -> None:
        """Refuse if any of the texts (by what members call them: "prompt", "name"…) holds a
        blocked term of this server. Nothing is checked outside servers."""
        if viewer.guild_id is None:
            return
        rules = await self._rules_of(viewer.guild_id)
        for what, text in fields.items():
            if not text:
                continue
            for terms, whose in ((rules.own, "this server's"), (rules.defaults, "Cameo's default")):
                found = terms.first_match(text) if terms is not None else None
                if found is not None:
                    self.log.record(
                        viewer.guild_id,
                        LogEntry(
                            f"🚫 Refused <@{viewer.user_id}>'s {what}: it contains {shown(found)}.",
                            quote=text,
                        ),
                    )
                    raise BlockedTerm(
                        f"Your {what} contains {shown(found)}, a term on {whose} list of blocked "
                        "terms here, so nothing was made and nothing was charged. Change it and "
                        "try again."
                    )

    async def terms(self, viewer: Viewer) -> ServerTerms:
        guild = self._staff_server(viewer)

        def read(conn: sqlite3.Connection) -> ServerTerms:
            own = [term for term, _ in repo.terms_of(conn, guild)]
            return ServerTerms(own, repo.default_terms_on(conn, guild))

        return await self.db.run_read(read)

    async def add_term(self, viewer: Viewer, term: str) -> str:
        guild = self._staff_server(viewer)
        key = term_key(term)
        now = timestamp(self.clock.now())

        def add(conn: sqlite3.Connection) -> bool:
            if repo.count_terms(conn, guild) >= TERMS_MAX:
                raise CameoError(f"A server can block at most {TERMS_MAX} terms.")
            return repo.add_term(conn, guild, term.strip(), key, viewer.user_id, now)

        if not await self.db.run_transaction(add):
            raise CameoError(f"{shown(key)} is already on this server's list.")
        await self._changed(guild)
        log.info("Blocked term added in %s by %s", guild, viewer.user_id)
        return key

    async def remove_term(self, viewer: Viewer, term: str) -> str:
        guild = self._staff_server(viewer)
        key = term_key(term)
        removed = await self.db.run_transaction(partial(repo.remove_term, guild_id=guild, key=key))
        if not removed:
            raise CameoError(f"{shown(key)} isn't on this server's list.")
        await self._changed(guild)
        return key

    async def use_default_terms(self, viewer: Viewer, on: bool) -> None:
        guild = self._staff_server(viewer)
        await self.db.run_transaction(partial(repo.set_default_terms, guild_id=guild, on=on))
        await self._changed(guild)

    # -- age-restricted results --------------------------------------------------------------

    async def held_pictures_charged(self, viewer: Viewer) -> bool:
        """Whether pictures held back as age-restricted are charged here (staff only)."""
        guild = self._staff_server(viewer)
        return await self.db.run_read(partial(repo.charges_held_back, guild_id=guild))

    async def charge_held_pictures(self, viewer: Viewer, charge: bool) -> None:
        guild = self._staff_server(viewer)
        await self.db.run_transaction(
            partial(repo.set_charges_held_back, guild_id=guild, charge=charge)
        )

    async def _rules_of(self, guild: int) -> _Rules:
        cached = self._rules.get(guild)
        if cached is not None:
            return cached

        def read(conn: sqlite3.Connection) -> _Rules:
            own = TermList.of(key for _, key in repo.terms_of(conn, guild))
            return _Rules(own, _DEFAULTS if repo.default_terms_on(conn, guild) else None)

        generation = self._generation.get(guild, 0)
        rules = await self.db.run_read(read)
        if self._generation.get(guild, 0) == generation:
            self._rules[guild] = rules
        return rules

    # -- blocked members --------------------------------------------------------------------

    async def check_member(self, viewer: Viewer) -> None:
        """Refuse a member blocked from Cameo in this server, telling them why and until when."""
        if viewer.guild_id is None:
            return
        found = (await self._blocks_of(viewer.guild_id)).get(viewer.user_id)
        if found is None:
            return
        if found.until is not None and parse_timestamp(found.until) <= self.clock.now():
            return  # expired; the row goes when a moderator next changes it
        until = (
            f" until <t:{int(parse_timestamp(found.until).timestamp())}:f>" if found.until else ""
        )
        raise BlockedMember(
            f"This server's moderators have blocked you from using Cameo here{until}. "
            f"Reason: {found.reason}"
        )

    async def block(
        self, viewer: Viewer, member_id: int, reason: str | None, duration: timedelta | None
    ) -> repo.Block:
        guild = self._staff_server(viewer)
        if member_id == viewer.user_id:
            raise CameoError("You can't block yourself.")
        now = self.clock.now()
        text = " ".join((reason or DEFAULT_REASON).split())[:REASON_MAX]
        new = repo.Block(
            guild_id=guild,
            user_id=member_id,
            reason=text,
            blocked_by=viewer.user_id,
            blocked_at=timestamp(now),
            until=timestamp(now + duration) if duration is not None else None,
        )
        await self.db.run_transaction(partial(repo.block, new=new))
        (await self._blocks_of(guild))[member_id] = new
        await self._changed(guild, here=False)
        log.info("A member was blocked in %s by %s", guild, viewer.user_id)
        until = f" until <t:{int(parse_timestamp(new.until).timestamp())}:f>" if new.until else ""
        self.log.record(
            guild,
            LogEntry(
                f"⛔ <@{viewer.user_id}> blocked <@{member_id}>{until}.", quote=f"Reason: {text}"
            ),
        )
        return new

    async def unblock(self, viewer: Viewer, member_id: int) -> bool:
        guild = self._staff_server(viewer)
        removed = await self.db.run_transaction(
            partial(repo.unblock, guild_id=guild, user_id=member_id)
        )
        (await self._blocks_of(guild)).pop(member_id, None)
        await self._changed(guild, here=False)
        if removed:
            self.log.record(guild, LogEntry(f"✅ <@{viewer.user_id}> unblocked <@{member_id}>."))
        return removed

    async def forget(self, user_id: int) -> None:
        """`/privacy forget-me`: reports by, about or handled by the member stay, without
        their id. (Blocks stay whole: they are the server's record, not the member's data.)"""
        await self.db.run_transaction(partial(self.erase_member, user_id=user_id))

    @staticmethod
    def erase_member(conn: sqlite3.Connection, user_id: int) -> None:
        """forget-me's part for moderation, inside the caller's transaction."""
        report_rows.forget_member(conn, user_id)

    # -- real people -------------------------------------------------------------------------

    async def set_real_people_approval(self, viewer: Viewer, on: bool) -> None:
        guild = self._staff_server(viewer)
        if on and await self.log.channel(guild) is None:
            raise CameoError(
                "Choose a moderation log channel first (`/admin moderation log`): that is where "
                "moderators approve these characters."
            )
        await self.db.run_transaction(partial(repo.set_approves_real_people, guild_id=guild, on=on))

    async def request_approval(
        self, guild_id: int, character_id: int, owner_id: int, image: tuple[str, str], why: str
    ) -> None:
        """Ask the server's moderators, in the log, to approve a character from a photograph
        of a real person (a report of kind 'approval', with Approve and Reject buttons)."""
        request = await self.db.run_transaction(
            partial(
                report_rows.add,
                guild_id=guild_id,
                kind="approval",
                job_id=None,
                character_id=character_id,
                reported_by=None,
                about_user=owner_id,
                reason=why,
                at=timestamp(self.clock.now()),
            )
        )
        await self.log.report(request, image)

    # -- the log channel --------------------------------------------------------------------

    async def log_channel(self, viewer: Viewer) -> int | None:
        return await self.log.channel(self._staff_server(viewer))

    async def set_log_channel(self, viewer: Viewer, channel_id: int | None) -> None:
        guild = self._staff_server(viewer)
        await self.log.set_channel(guild, channel_id)
        await self._changed(guild, here=False)

    async def _blocks_of(self, guild: int) -> dict[int, repo.Block]:
        cached = self._blocks.get(guild)
        if cached is not None:
            return cached

        def read(conn: sqlite3.Connection) -> dict[int, repo.Block]:
            rows = conn.execute(
                "SELECT guild_id, user_id, reason, blocked_by, blocked_at, until "
                "FROM blocked_members WHERE guild_id = ?",
                (guild,),
            ).fetchall()
            return {row[1]: repo.Block(*row) for row in rows}

        generation = self._generation.get(guild, 0)
        blocks = await self.db.run_read(read)
        if self._generation.get(guild, 0) == generation:
            self._blocks[guild] = blocks
        return blocks

    # -- who and where ----------------------------------------------------------------------

    async def check_access(self, viewer: Viewer, places: tuple[int, ...] | None) -> None:
        """Refuse a member without one of the roles Cameo is limited to here, or (with
        `places`: the channel and, in a thread, its parent) a channel outside those it is
        limited to. Staff (Manage Server) always may."""
        if viewer.guild_id is None or viewer.can_manage_guild:
            return
        access = await self.access(viewer.guild_id)
        if access.roles and not access.roles & viewer.role_ids:
            raise NoAccess(
                "This server keeps Cameo to some roles, and you have none of them. Ask its "
                "moderators if you'd like to use it."
            )
        if places is not None and access.channels and not access.channels & set(places):
            shown = ", ".join(f"<#{channel}>" for channel in sorted(access.channels)[:10])
            raise NoAccess(f"This server keeps Cameo to some channels: use it in {shown}.")

    async def access(self, guild: int) -> Access:
        cached = self._access.get(guild)
        if cached is None:
            generation = self._generation.get(guild, 0)
            roles, channels = await self.db.run_read(partial(repo.access_of, guild_id=guild))
            cached = Access(frozenset(roles), frozenset(channels))
            if self._generation.get(guild, 0) == generation:
                self._access[guild] = cached
        return cached

    async def access_limits(self, viewer: Viewer) -> Access:
        """The server's limits, for its staff."""
        return await self.access(self._staff_server(viewer))

    async def change_access(
        self, viewer: Viewer, action: str, *, role_id: int | None, channel_id: int | None
    ) -> Access:
        """Add or remove a role or channel Cameo is limited to, or clear every limit."""
        guild = self._staff_server(viewer)
        targets = [("role", role_id), ("channel", channel_id)]
        chosen = [(kind, target) for kind, target in targets if target is not None]
        if action != "clear" and not chosen:
            raise CameoError("Give a `role`, a `channel`, or both.")

        def change(conn: sqlite3.Connection) -> None:
            if action == "clear":
                repo.clear_access(conn, guild)
                return
            for kind, target in chosen:
                assert target is not None
                if action == "add":
                    repo.add_access(conn, guild, kind, target)
                else:
                    repo.remove_access(conn, guild, kind, target)

        await self.db.run_transaction(change)
        await self._changed(guild)
        return await self.access(guild)

    # -- the other processes' copies ---------------------------------------------------------

    async def listen_for_changes(self) -> None:
        """Drop this process's copy of a server's rules whenever another process changes them
        (several processes on one PostgreSQL database; never on SQLite)."""
        await self.db.listen(RULES_CHANNEL, self._forget_copy)

    def _forget_copy(self, payload: str) -> None:
        if payload.isdigit():
            guild = int(payload)
            self._generation[guild] = self._generation.get(guild, 0) + 1
            self._rules.pop(guild, None)
            self._blocks.pop(guild, None)
            self._access.pop(guild, None)
            self.log.forget_channel(guild)

    async def _changed(self, guild: int, *, here: bool = True) -> None:
        """A server's rules changed: forget this process's copy (`here`; a block updates it in
        place instead) and tell the other processes to forget theirs."""
        if here:
            self._forget_copy(str(guild))
        try:
            await self.db.notify(RULES_CHANNEL, str(guild))
        except Exception:
            log.exception("Could not tell the other processes of a rule change in %s", guild)

    def _staff_server(self, viewer: Viewer) -> int:
        """The server a staff command is about; refused unless the member manages it."""
        if viewer.guild_id is None or viewer.scope == PERSONAL_SCOPE:
            raise CameoError("Moderation rules are per server: use this in a server.")
        if not viewer.can_manage_guild:
            raise NotStaff()
        return viewer.guild_id
