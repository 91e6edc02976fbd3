"""Who may use a character besides its owner: approved members, co-owners, and handing a
character over to another member.

The owner alone decides: approving or removing members, naming co-owners (who may edit, never
delete or hand over), and offering the character to someone else, who must accept. Every
rule is checked again inside the transaction that changes anything.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from functools import partial

from bot.characters.service import (
    MAX_CHARACTERS_PER_SCOPE,
    CharacterNotFound,
    CharacterService,
    NameTaken,
    NotAllowed,
    TooManyCharacters,
)
from bot.clock import timestamp
from bot.errors import CameoError
from bot.jobs.service import JobService
from bot.models import Character, Job, Role, Viewer, Visibility
from storage import characters as character_rows
from storage import sharing as repo
from storage.dialect import undo_alone

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shared:
    character: Character
    note: str  # what the owner should know (e.g. "everyone here can use them already")


@dataclass(frozen=True)
class Unshared:
    character: Character
    had: Role | None
    stopped: list[Job]  # the member's queued scenes of it, stopped and refunded


@dataclass(frozen=True)
class TransferOffer:
    character: Character
    from_id: int
    to_id: int


class SharingService:
    def __init__(self, characters: CharacterService, jobs: JobService) -> None:
        self.characters = characters
        self.jobs = jobs
        self.db = characters.db

    async def members(self, viewer: Viewer, character: Character) -> list[tuple[int, Role]]:
        """Who is on the character's list; its owner and co-owners may look."""
        if not await self.characters.can_edit(viewer, character):
            raise NotAllowed(
                "Only the character's owner or a co-owner can see who it is shared with."
            )
        return await self.db.run_read(partial(repo.members_of, character_id=character.id))

    async def share(self, viewer: Viewer, query: str, member_id: int, role: Role) -> Shared:
        """Approve a member (or make them a co-owner). A private character becomes `approved`
        and stays unlisted, so sharing it never shows it to the whole server."""
        character = await self._owned(viewer, query, member_id)
        now = timestamp(self.characters.clock.now())

        def record(conn: sqlite3.Connection) -> tuple[Character, str]:
            current = _still_owned(conn, viewer, character.id)
            note = ""
            if role is Role.APPROVED and repo.role_of(conn, current.id, member_id) is Role.CO_OWNER:
                return current, "They are a co-owner, so they can already use it."
            repo.set_role(conn, current.id, member_id, role, now)
            if current.visibility is Visibility.PRIVATE:
                conn.execute(
                    "UPDATE characters SET visibility = 'approved', listed_when_approved = 0, "
                    "updated_at = ? "
                    "WHERE id = ?",
                    (now, current.id),
                )
                note = (
                    "It was private; it is now approved-only and still hidden from everyone else."
                )
            elif current.visibility is Visibility.SERVER and role is Role.APPROVED:
                note = (
                    "Everyone here can use it already; the approval counts if you limit it with "
                    "`/character edit visibility:approved`."
                )
            updated = _character_now(conn, current.id)
            return updated, note

        updated, note = await self.db.run_transaction(record)
        log.info("Character %s: %s given to a member", updated.public_id, role.value)
        return Shared(updated, note)

    async def unshare(
        self, viewer: Viewer, query: str, member_id: int, role: Role | None = None
    ) -> Unshared:
        """Take a member off the list (only a co-owner's editing, with `role` CO_OWNER: they
        stay approved). Their queued scenes of it stop, refunded, unless they may still use it."""
        character = await self._owned(viewer, query, member_id)
        now = timestamp(self.characters.clock.now())

        def record(conn: sqlite3.Connection) -> Role | None:
            current = _still_owned(conn, viewer, character.id)
            had = repo.role_of(conn, current.id, member_id)
            if role is Role.CO_OWNER:
                if had is Role.CO_OWNER:
                    repo.set_role(conn, current.id, member_id, Role.APPROVED, now)
                return had
            repo.remove(conn, current.id, member_id)
            return had

        had = await self.db.run_transaction(record)
        stopped: list[Job] = []
        still_usable = role is Role.CO_OWNER or character.visibility is Visibility.SERVER
        if had is not None and not still_usable:
            stopped = await self.jobs.stop_queued_of(
                member_id,
                character,
                f"{character.name}'s owner stopped sharing them with you, so this scene was "
                "stopped before it started. Nothing was charged.",
            )
        return Unshared(character, had, stopped)

    async def offer_transfer(self, viewer: Viewer, query: str, member_id: int) -> TransferOffer:
        character = await self._owned(viewer, query, member_id)
        return TransferOffer(character, viewer.user_id, member_id)

    async def accept_transfer(self, viewer: Viewer, character_id: int, from_id: int) -> Character:
        """The receiver accepts: the character becomes theirs if it is still the giver's."""
        now = timestamp(self.characters.clock.now())

        def record(conn: sqlite3.Connection) -> Character:
            current = _character_now(conn, character_id)
            if current.owner_id != from_id:
                raise CameoError(
                    f"{current.name} no longer belongs to the member who offered them, so "
                    "nothing changed."
                )
            count = conn.execute(
                "SELECT count(*) FROM characters WHERE owner_id = ? AND guild_id = ?",
                (viewer.user_id, current.guild_id or 0),
            ).fetchone()[0]
            if count >= MAX_CHARACTERS_PER_SCOPE:
                raise TooManyCharacters()
            try:
                with undo_alone(conn):
                    conn.execute(
                        "UPDATE characters SET owner_id = ?, updated_at = ? WHERE id = ?",
                        (viewer.user_id, now, current.id),
                    )
            except sqlite3.IntegrityError:
                raise NameTaken() from None
            repo.remove(conn, current.id, viewer.user_id)  # the owner needs no place on it
            return _character_now(conn, current.id)

        updated = await self.db.run_transaction(record)
        log.info("Character %s handed over to a member", updated.public_id)
        return updated

    async def _owned(self, viewer: Viewer, query: str, member_id: int) -> Character:
        character = await self.characters.resolve(viewer, query)
        if character.owner_id != viewer.user_id:
            raise NotAllowed(f"Only {character.name}'s owner can decide who else may use them.")
        if character.guild_id is None:
            raise CameoError(
                f"{character.name} is a personal character (made in a DM), so only you can use "
                "them. Characters registered in a server can be shared there."
            )
        if member_id == viewer.user_id:
            raise CameoError("That's you: you own this character already.")
        return character


def _character_now(conn: sqlite3.Connection, character_id: int) -> Character:
    row = conn.execute(
        f"SELECT {character_rows.COLUMNS} {character_rows.FROM} WHERE c.id = ?",
        (character_id,),
    ).fetchone()
    if row is None:
        raise CharacterNotFound()
    return character_rows.character_of(row)


def _still_owned(conn: sqlite3.Connection, viewer: Viewer, character_id: int) -> Character:
    current = _character_now(conn, character_id)
    if current.owner_id != viewer.user_id:
        raise NotAllowed(f"Only {current.name}'s owner can decide who else may use them.")
    return current
