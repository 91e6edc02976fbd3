"""Everything the emulator knows, in one place: options, the seeded guild, messages, violations.

The REST handlers, the gateway and the test driver all read and change this one object; its
``notify``/``wait_until`` pair lets the driver wait for the bot to do something without polling.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from . import permissions as perms
from .clock import EmulatorClock, SnowflakeFactory
from .errors import unknown_channel
from .models import (
    DM,
    GUILD_TEXT,
    Channel,
    EmulatorError,
    Guild,
    Member,
    Message,
    Role,
    User,
)

if TYPE_CHECKING:
    from .interactions import InteractionRecord

log = logging.getLogger(__name__)

MIB = 1024 * 1024


@dataclass
class EmulatorOptions:
    """Knobs for one emulator; pass them as keyword arguments to ``DiscordEmulator``."""

    ack_deadline: float = 3.0  # seconds of real time for the first interaction callback
    token_lifetime: float = 15 * 60  # seconds of emulator time an interaction token lives
    attachment_size_limit: int = 10 * MIB  # per file; sent in every interaction payload
    request_size_limit: int = 25 * MIB  # per request
    user_upload_limit: int = 500 * MIB  # what a (Nitro) user may attach to an option
    heartbeat_interval_ms: int = 41_250
    cdn_url_lifetime: float = 24 * 3600  # seconds of emulator time a signed CDN URL lives
    # Read once at construction; change limits later with DiscordEmulator.set_rate_limit.
    rate_limits: dict[str, tuple[int, float]] = field(default_factory=dict)
    global_rate_limit: int = 50  # requests per second, interaction endpoints exempt
    bot_permissions: int = perms.BOT_DEFAULT  # the bot's managed role (read when seeding)
    # Privileged intents the application has switched on in the developer portal. IDENTIFY with
    # any other privileged intent is closed with 4014, as Discord does.
    privileged_intents: frozenset[str] = frozenset()
    compress: bool = False  # honour ?compress=zlib-stream (text frames otherwise)
    guild_name: str = "Cameo Test Server"
    bot_name: str = "Cameo"
    invalid_request_limit: int = 10_000  # 401/403/429 responses per 10 minutes before a ban
    # Discord's cap (error 30003); lower it to test the limit without pinning 250 messages.
    pins_per_channel: int = 250
    # What GET /gateway/bot recommends: how many shards, and how many may IDENTIFY per 5 s.
    recommended_shards: int = 1
    max_concurrency: int = 1


class RequestLogEntry(NamedTuple):
    method: str
    path: str
    status: int
    time: float  # time.monotonic()


@dataclass
class InjectedError:
    """Answer the next `remaining` requests to a route with this error, as Discord might."""

    route_key: str  # "METHOD /template", e.g. "POST /channels/{channel_id}/messages"
    status: int
    code: int
    message: str
    remaining: int = 1


class SyncRequest(NamedTuple):
    route: str  # the request path, e.g. /applications/1/guilds/2/commands
    payload: Any
    time: float  # time.monotonic()

    @property
    def guild_id(self) -> int | None:
        parts = self.route.strip("/").split("/")
        return int(parts[3]) if len(parts) > 3 and parts[2] == "guilds" else None


class EmulatorState:
    def __init__(self, options: EmulatorOptions) -> None:
        self.options = options
        self.clock = EmulatorClock()
        self.ids = SnowflakeFactory(self.clock)
        self.violations: list[str] = []
        self.stats: Counter[str] = Counter()
        self.request_log: list[RequestLogEntry] = []
        # Error answers a test asked for (`DiscordEmulator.inject_error`), taken in order.
        self.injected_errors: list[InjectedError] = []
        self.sync_requests: list[SyncRequest] = []
        # Registered commands by scope: None for global, a guild id for guild commands.
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self.messages: dict[int, Message] = {}
        self.channel_messages: dict[int, list[int]] = {}
        self.channels: dict[int, Channel] = {}
        self.threads: list[Channel] = []
        self.users: dict[int, User] = {}
        self.users_by_name: dict[str, User] = {}
        self._changed = asyncio.Event()
        self._seed()

    # Seeding --------------------------------------------------------------------------------------

    def _new_user(self, key: str, username: str, *, bot: bool = False) -> User:
        user = User(id=self.ids.next(), username=username, global_name=username.title(), bot=bot)
        self.users[user.id] = user
        self.users_by_name[key] = user
        return user

    def _seed(self) -> None:
        options = self.options
        self.bot_user = self._new_user("bot", options.bot_name.lower(), bot=True)
        self.bot_user.global_name = None
        self.application_id = self.bot_user.id  # Discord gives a bot user its application's id
        token_head = base64.b64encode(str(self.bot_user.id).encode()).decode().rstrip("=")
        self.bot_token = f"{token_head}.{secrets.token_urlsafe(4)}.{secrets.token_urlsafe(27)}"
        owner = self._new_user("owner", "owner")
        alice = self._new_user("alice", "alice")
        bob = self._new_user("bob", "bob")
        carol = self._new_user("carol", "carol")
        self._new_user("dave", "dave")  # not a member: for DMs from outside the guild

        guild_id = self.ids.next()
        now = self.clock.now()
        guild = Guild(
            id=guild_id,
            name=options.guild_name,
            owner_id=owner.id,
            created_at=now,
            features=["COMMUNITY", "NEWS"],
        )
        everyone = Role(id=guild_id, name="@everyone", permissions=perms.EVERYONE_DEFAULT)
        artist = Role(id=self.ids.next(), name="Artist", permissions=0, position=1)
        moderator = Role(
            id=self.ids.next(),
            name="Moderator",
            permissions=perms.bit("manage_guild"),
            position=2,
            color=0x3498DB,
            hoist=True,
        )
        bot_role = Role(
            id=self.ids.next(),
            name=options.bot_name,
            permissions=options.bot_permissions,
            position=3,
            managed=True,
            bot_id=self.bot_user.id,
        )
        guild.roles = [everyone, artist, moderator, bot_role]
        guild.members = [
            Member(user=self.bot_user, role_ids=[bot_role.id], joined_at=now),
            Member(user=owner, role_ids=[], joined_at=now),
            Member(user=alice, role_ids=[], joined_at=now),
            Member(user=bob, role_ids=[artist.id], joined_at=now),
            Member(user=carol, role_ids=[moderator.id], joined_at=now),
        ]
        for position, name in enumerate(("general", "art")):
            channel = Channel(
                id=self.ids.next(),
                type=GUILD_TEXT,
                name=name,
                guild_id=guild_id,
                position=position,
                topic=f"The {name} channel",
            )
            guild.channels.append(channel)
            self.add_channel(channel)
        self.guild = guild

    # Change notification --------------------------------------------------------------------------

    def notify(self) -> None:
        """Wake every ``wait_until``; they re-check their condition."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        """Wait until ``predicate()`` is truthy and return its value, or fail after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                continue

    # Violations -----------------------------------------------------------------------------------

    def violation(self, text: str) -> None:
        log.warning("Discord rule broken: %s", text)
        self.violations.append(text)
        self.stats["violations"] += 1
        self.notify()

    # Lookups --------------------------------------------------------------------------------------

    def add_channel(self, channel: Channel) -> None:
        self.channels[channel.id] = channel
        self.channel_messages.setdefault(channel.id, [])

    def remove_channel(self, channel: Channel) -> list[Channel]:
        """Forget a deleted channel and, for a guild channel, the threads under it.

        Their messages stay in ``messages`` (marked deleted) so tests can still look them up by
        id. Returns the threads removed with it.
        """
        gone = [t for t in self.threads if t.parent_id == channel.id]
        for target in [channel, *gone]:
            target.deleted = True
            self.channels.pop(target.id, None)
            if target in self.threads:
                self.threads.remove(target)
            if target in self.guild.channels:
                self.guild.channels.remove(target)
            for message_id in self.channel_messages.get(target.id, []):
                self.messages[message_id].deleted = True
        self.notify()
        return gone

    def channel(self, channel_id: int) -> Channel:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise unknown_channel()
        return channel

    def resolve_channel(self, ref: Channel | int | str) -> Channel:
        """A channel by object, id or name (text channels first, then threads)."""
        if isinstance(ref, Channel):
            return ref
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            channel = self.channels.get(int(ref))
            if channel is None:
                raise EmulatorError(f"no channel with id {ref}")
            return channel
        for channel in [*self.guild.channels, *self.threads]:
            if channel.name == ref:
                return channel
        raise EmulatorError(f"no channel named {ref!r}")

    def resolve_user(self, ref: User | Member | int | str) -> User:
        if isinstance(ref, User):
            return ref
        if isinstance(ref, Member):
            return ref.user
        if isinstance(ref, str) and not ref.isdigit():
            try:
                return self.users_by_name[ref]
            except KeyError:
                raise EmulatorError(f"no user named {ref!r}") from None
        user = self.users.get(int(ref))
        if user is None:
            raise EmulatorError(f"no user with id {ref}")
        return user

    def parent_of(self, channel: Channel) -> Channel | None:
        return self.channels.get(channel.parent_id) if channel.parent_id else None

    def dm_channel(self, user: User) -> Channel:
        for channel in self.channels.values():
            if channel.type == DM and channel.recipient_id == user.id:
                return channel
        channel = Channel(id=self.ids.next(), type=DM, name=None, recipient_id=user.id)
        self.add_channel(channel)
        return channel

    # Permissions ----------------------------------------------------------------------------------

    def permissions_for(self, user: User, channel: Channel) -> int:
        if channel.type == DM:
            return perms.DM_PERMISSIONS
        member = self.guild.member(user.id)
        if member is None:
            return 0
        return perms.channel_permissions(self.guild, member, channel, self.parent_of(channel))

    def bot_permissions(self, channel: Channel) -> int:
        return self.permissions_for(self.bot_user, channel)

    def bot_can(self, channel: Channel, name: str) -> bool:
        flag = perms.bit(name)
        return self.bot_permissions(channel) & flag == flag

    # Messages -------------------------------------------------------------------------------------

    def channel_history(self, channel: Channel, *, include_deleted: bool = False) -> list[Message]:
        """Messages visible in a channel, oldest first (ephemeral ones never are)."""
        found = []
        for message_id in self.channel_messages.get(channel.id, []):
            message = self.messages[message_id]
            if message.ephemeral or (message.deleted and not include_deleted):
                continue
            found.append(message)
        return found
