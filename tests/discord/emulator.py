"""``DiscordEmulator``: the loopback Discord server plus the test-driver API.

One aiohttp app on 127.0.0.1 serves REST (``/api/v10``), the gateway (``/gateway``) and the CDN
(``/cdn``). Point discord.py at it with::

    discord.http.Route.BASE = emu.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)

Everything the bot does is checked against Discord's rules (``reference/discord.md``); each broken
rule is answered with Discord's real error and appended to ``emu.violations``.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from . import payloads
from .cdn import Cdn
from .clock import EmulatorClock
from .driver import Driver
from .gateway import GUILDS, Gateway
from .interactions import InteractionHandle, InteractionService
from .messages import MessageService
from .models import (
    CHANNEL_FLAG_REQUIRE_TAG,
    GUILD_FORUM,
    GUILD_TEXT,
    Attachment,
    Channel,
    CommandInvocationError,
    EmulatorError,
    ForumPost,
    ForumTag,
    Guild,
    Member,
    Message,
    Role,
    Upload,
    User,
)
from .permissions import bit
from .ratelimit import RateLimiter
from .rest import RestApi
from .routing import Services
from .rules import FORUM_TAG_NAME_MAX, FORUM_TAGS_MAX, THREAD_ARCHIVE_DURATIONS
from .state import EmulatorOptions, EmulatorState, InjectedError, RequestLogEntry, SyncRequest
from .wire import json_response

__all__ = [
    "Attachment",
    "Channel",
    "CommandInvocationError",
    "DiscordEmulator",
    "EmulatorError",
    "ForumPost",
    "ForumTag",
    "Guild",
    "InteractionHandle",
    "Member",
    "Message",
    "Role",
    "Upload",
    "User",
]

log = logging.getLogger(__name__)

UserRef = User | Member | str | int
ChannelRef = Channel | int | str


class DiscordEmulator:
    """A Discord-compatible server for one bot, one guild and a handful of users."""

    def __init__(self, **options: Any) -> None:
        self.options = EmulatorOptions(**options)
        self._state = EmulatorState(self.options)
        state = self._state
        self.cdn = Cdn(
            state.clock,
            url_lifetime=lambda: self.options.cdn_url_lifetime,
            report=state.violation,
        )
        self.gateway = Gateway(state)
        self.limiter = RateLimiter(self.options.rate_limits)
        self.limiter.set_global_limit(self.options.global_rate_limit)
        self._messages = MessageService(state, self.cdn, self.gateway)
        self._interactions = InteractionService(state, self._messages)
        services = Services(
            state=state,
            cdn=self.cdn,
            gateway=self.gateway,
            messages=self._messages,
            interactions=self._interactions,
            limiter=self.limiter,
        )
        self.rest = RestApi(services)
        self._driver = Driver(state, self.cdn, self.gateway, self._messages, self._interactions)
        self._runner: web.AppRunner | None = None
        self._resume_baseline: int | None = None
        self.port = 0

    # Lifecycle ------------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        # Requests up to twice Discord's 25 MiB cap are read so the emulator, not aiohttp, answers
        # oversized uploads with Discord's 413 40005.
        app = web.Application(client_max_size=2 * self.options.request_size_limit + 1024 * 1024)
        app.router.add_route("GET", "/gateway", self.gateway.handle)
        app.router.add_route("GET", "/gateway/resume", self.gateway.handle)
        app.router.add_route("*", "/api/{tail:.*}", self.rest.handle)
        app.router.add_route("GET", "/cdn/{tail:.*}", self.cdn.handle)
        app.router.add_route("HEAD", "/cdn/{tail:.*}", self.cdn.handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def _not_found(self, request: web.Request) -> web.Response:
        self._state.violation(f"{request.method} {request.path}: 404 outside /api, /gateway, /cdn")
        return json_response({"message": "404: Not Found", "code": 0}, 404)

    async def start(self) -> None:
        runner = web.AppRunner(self._app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only through the server sockets
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._runner = runner
        base = f"http://127.0.0.1:{self.port}"
        self.cdn.base_url = base
        self.gateway.url = f"ws://127.0.0.1:{self.port}/gateway"
        self.gateway.resume_url = f"ws://127.0.0.1:{self.port}/gateway/resume"
        log.info("Discord emulator listening on %s", base)

    async def stop(self) -> None:
        self._interactions.cancel_timers()
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # Addresses and identity -----------------------------------------------------------------------

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return self.gateway.url

    @property
    def bot_token(self) -> str:
        return self._state.bot_token

    @property
    def application_id(self) -> int:
        return self._state.application_id

    @property
    def bot_user(self) -> User:
        return self._state.bot_user

    @property
    def guild(self) -> Guild:
        return self._state.guild

    @property
    def clock(self) -> EmulatorClock:
        return self._state.clock

    def channel(self, ref: ChannelRef) -> Channel:
        """A text or forum channel or a thread by name or id ("general", "art", a post's name)."""
        return self._state.resolve_channel(ref)

    def user(self, name: UserRef) -> User:
        """A seeded user: alice, bob, carol (Moderator), dave (not in the guild), owner, bot."""
        return self._state.resolve_user(name)

    def member(self, user: UserRef) -> Member | None:
        return self._state.guild.member(self._state.resolve_user(user).id)

    def role(self, name: str) -> Role:
        return self._state.guild.role_named(name)

    def dm_channel(self, user: UserRef) -> Channel:
        return self._state.dm_channel(self._state.resolve_user(user))

    # Recorded state -------------------------------------------------------------------------------

    @property
    def violations(self) -> list[str]:
        return self._state.violations

    def take_violations(self) -> list[str]:
        taken = list(self._state.violations)
        self._state.violations.clear()
        return taken

    async def wait_for_violations(self, count: int = 1, timeout: float = 5) -> list[str]:
        """Wait until at least ``count`` violations are recorded, then return (not clear) them."""
        await self._state.wait_until(
            lambda: len(self._state.violations) >= count, timeout, f"{count} violation(s)"
        )
        return list(self._state.violations)

    @property
    def request_log(self) -> list[RequestLogEntry]:
        return self._state.request_log

    @property
    def stats(self) -> Counter[str]:
        return self._state.stats

    @property
    def sync_requests(self) -> list[SyncRequest]:
        return self._state.sync_requests

    def commands(self, guild_id: Guild | int | None = None) -> list[dict[str, Any]]:
        scope = guild_id.id if isinstance(guild_id, Guild) else guild_id
        return self._state.commands.get(scope, [])

    def messages(self, channel: ChannelRef, *, include_deleted: bool = False) -> list[Message]:
        """Messages in a channel or thread, oldest first; ephemeral ones are never listed."""
        return self._state.channel_history(
            self._state.resolve_channel(channel), include_deleted=include_deleted
        )

    def message(self, message_id: int | Message) -> Message:
        """Any message by id, ephemeral and deleted ones included."""
        key = message_id.id if isinstance(message_id, Message) else int(message_id)
        return self._state.messages[key]

    @property
    def threads(self) -> list[Channel]:
        """Threads that exist (forum posts included); deleted ones are gone from here."""
        return list(self._state.threads)

    def forum_posts(self, forum: ChannelRef) -> list[ForumPost]:
        """A forum's posts, oldest first, each with its applied tags and first message."""
        target = self._forum(forum)
        return [self._post(t) for t in self._state.threads if t.parent_id == target.id]

    def forum_post(self, thread: ChannelRef) -> ForumPost:
        """One forum post by its thread (object, id or name)."""
        target = self._state.resolve_channel(thread)
        parent = self._state.parent_of(target)
        if not target.is_thread or parent is None or not parent.is_forum:
            raise EmulatorError(f"{target.name or target.id} is not a forum post")
        return self._post(target)

    def forum_tag(self, forum: ChannelRef, name: str) -> ForumTag:
        """A forum's tag by name."""
        target = self._forum(forum)
        try:
            return target.tag_named(name)
        except KeyError:
            raise EmulatorError(f"forum #{target.name} has no tag {name!r}") from None

    def pins(self, channel: ChannelRef) -> list[Message]:
        """The pinned messages of a channel or thread, most recently pinned first."""
        return self._messages.pins(self._state.resolve_channel(channel))

    def is_pinned(self, message: Message | int) -> bool:
        """Whether a message is pinned now (a deleted message is not)."""
        record = self.message(message)
        return record.pinned and not record.deleted

    def _forum(self, ref: ChannelRef) -> Channel:
        target = self._state.resolve_channel(ref)
        if not target.is_forum:
            raise EmulatorError(f"{target.name or target.id} is not a forum channel")
        return target

    def _post(self, thread: Channel) -> ForumPost:
        parent = self._state.parent_of(thread)
        tags = [t for i in thread.applied_tags if parent and (t := parent.tag(i)) is not None]
        first = self._state.messages.get(thread.id)
        return ForumPost(
            thread=thread, tags=tags, message=None if first is None or first.deleted else first
        )

    def interaction(self, interaction_id: int) -> InteractionHandle:
        return InteractionHandle(self._state, self._state.interactions[interaction_id])

    # Waiting on the bot ---------------------------------------------------------------------------

    async def wait_for_ready(self, timeout: float = 10, shards: int = 1) -> None:
        """Wait for a connected session that has identified and received READY (and the
        guild's GUILD_CREATE, on its shard), for each of `shards` shards."""

        def ready() -> bool:
            sessions = [self.gateway.live_session(shard) for shard in range(shards)]
            return all(s and s.ready and s.connection is not None for s in sessions)

        await self._state.wait_until(ready, timeout, "the bot to identify on the gateway")

    async def wait_for_commands(self, timeout: float = 10, count: int = 1) -> None:
        """Wait until at least ``count`` command-sync PUTs have arrived."""
        await self._state.wait_until(
            lambda: len(self._state.sync_requests) >= count, timeout, "a command sync (PUT)"
        )

    async def wait_for_resume(self, timeout: float = 10) -> None:
        """Wait for a RESUME after the last injected gateway fault (or after now)."""
        baseline = self._resume_baseline
        if baseline is None:
            baseline = self.stats["resumes"]
        await self._state.wait_until(
            lambda: self.stats["resumes"] > baseline, timeout, "the bot to RESUME"
        )
        self._resume_baseline = None

    async def wait_for_message(
        self, channel: ChannelRef, *, count: int = 1, timeout: float = 10
    ) -> Message:
        """Wait until a channel holds at least ``count`` messages; return the newest."""
        target = self._state.resolve_channel(channel)
        history: list[Message] = await self._state.wait_until(
            lambda: (h := self._state.channel_history(target)) and len(h) >= count and h,
            timeout,
            f"{count} message(s) in {target.name or target.id}",
        )
        return history[-1]

    async def wait_for_thread(
        self, name: str | None = None, *, count: int = 1, timeout: float = 10
    ) -> Channel:
        """Wait until ``count`` threads (named ``name``, if given) exist; return the newest."""

        def found() -> list[Channel]:
            threads = [t for t in self._state.threads if name is None or t.name == name]
            return threads if len(threads) >= count else []

        threads: list[Channel] = await self._state.wait_until(
            found, timeout, f"thread {name or ''} to be created"
        )
        return threads[-1]

    async def wait_for_forum_post(
        self, forum: ChannelRef, name: str | None = None, *, count: int = 1, timeout: float = 10
    ) -> ForumPost:
        """Wait until a forum has ``count`` posts (named ``name``, if given); return the newest."""
        target = self._forum(forum)

        def found() -> list[ForumPost]:
            posts = [p for p in self.forum_posts(target) if name is None or p.name == name]
            return posts if len(posts) >= count else []

        posts: list[ForumPost] = await self._state.wait_until(
            found, timeout, f"post {name or ''} in forum #{target.name}"
        )
        return posts[-1]

    # Gateway faults -------------------------------------------------------------------------------

    def _mark_resume_baseline(self) -> None:
        self._resume_baseline = self.stats["resumes"]

    async def send_reconnect(self) -> None:
        """Send op 7 RECONNECT; discord.py reconnects to resume_gateway_url and resumes."""
        self._mark_resume_baseline()
        self.gateway.send_reconnect()

    async def invalidate_session(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; with resumable=False the bot must identify again."""
        if resumable:
            self._mark_resume_baseline()
        self.gateway.invalidate_session(resumable=resumable)

    async def drop_gateway(self) -> None:
        """Close the TCP connection without a close frame; the bot should reconnect and resume."""
        self._mark_resume_baseline()
        self.gateway.drop()

    @property
    def ack_heartbeats(self) -> bool:
        return self.gateway.ack_heartbeats

    @ack_heartbeats.setter
    def ack_heartbeats(self, value: bool) -> None:
        """False makes the gateway ignore heartbeats (a zombie connection)."""
        self.gateway.ack_heartbeats = value

    # Rate limits and permissions ------------------------------------------------------------------

    def set_rate_limit(self, route_key: str, limit: int, per_seconds: float) -> None:
        self.limiter.set_rate_limit(route_key, limit, per_seconds)

    def inject_429(
        self,
        count: int = 1,
        route_key: str | None = None,
        global_: bool = False,
        retry_after: float = 0.2,
        scope: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching REST requests with 429 (any route if None)."""
        self.limiter.inject_429(
            count, route_key, global_=global_, retry_after=retry_after, scope=scope
        )

    def inject_error(
        self, route_key: str, status: int, code: int, message: str, count: int = 1
    ) -> None:
        """Answer the next ``count`` requests to ``route_key`` ("POST /channels/{channel_id}/
        messages") with this error, as Discord does for, say, a form it will not take (400
        50035) or an upload over the limit (413 40005). Not counted as a violation."""
        self._state.injected_errors.append(InjectedError(route_key, status, code, message, count))

    def deny_bot_permission(self, channel: ChannelRef, *names: str) -> None:
        """Add a member overwrite denying the bot these permissions in a channel (and its threads).

        Routes they guard answer 403 50013, app_permissions reflect it, and a CHANNEL_UPDATE tells
        discord.py's cache.
        """
        self._set_bot_overwrite(channel, deny=names, allow=())

    def allow_bot_permission(self, channel: ChannelRef, *names: str) -> None:
        """Undo ``deny_bot_permission`` for these permissions."""
        self._set_bot_overwrite(channel, deny=(), allow=names)

    def _set_bot_overwrite(
        self, channel: ChannelRef, *, deny: tuple[str, ...], allow: tuple[str, ...]
    ) -> None:
        state = self._state
        target = state.resolve_channel(channel)
        deny_bits = sum({bit(n) for n in deny})
        allow_bits = sum({bit(n) for n in allow})
        overwrite = next(
            (
                o
                for o in target.permission_overwrites
                if o["type"] == 1 and o["id"] == state.bot_user.id
            ),
            None,
        )
        if overwrite is None:
            overwrite = {"id": state.bot_user.id, "type": 1, "allow": 0, "deny": 0}
            target.permission_overwrites.append(overwrite)
        overwrite["deny"] = (overwrite["deny"] | deny_bits) & ~allow_bits
        if not overwrite["deny"] and not overwrite["allow"]:
            target.permission_overwrites.remove(overwrite)
        if not target.is_thread and not target.is_dm:
            self.gateway.dispatch("CHANNEL_UPDATE", payloads.channel(state, target), intents=GUILDS)
        state.notify()

    # Growing the world ----------------------------------------------------------------------------

    def add_member(self, name: str, *roles: str) -> User:
        """A new guild member (with these roles, by name), known to the driver by ``name``.

        Discord sends no event for this to a bot without the members intent; interactions carry
        the member, as they do for Cameo.
        """
        state = self._state
        user = User(id=state.ids.next(), username=name, global_name=name.title())
        state.users[user.id] = user
        state.users_by_name[name] = user
        role_ids = [state.guild.role_named(role).id for role in roles]
        state.guild.members.append(
            Member(user=user, role_ids=role_ids, joined_at=state.clock.now())
        )
        return user

    def add_text_channel(self, name: str, *, nsfw: bool = False) -> Channel:
        """A new text channel (age-restricted with ``nsfw``), announced with CHANNEL_CREATE."""
        return self._add_guild_channel(
            GUILD_TEXT, name, Channel(id=0, type=GUILD_TEXT, name=name, nsfw=nsfw)
        )

    def add_forum_channel(
        self,
        name: str,
        tags: Iterable[str | ForumTag] = (),
        *,
        topic: str | None = None,
        require_tag: bool = False,
        default_reaction_emoji: str | None = None,
        default_auto_archive_duration: int = 1440,
        default_thread_rate_limit_per_user: int = 0,
    ) -> Channel:
        """A new forum channel (type 15) with these tags, announced with CHANNEL_CREATE.

        A tag is a name or a ``ForumTag`` (for ``moderated=True`` or an emoji); each gets a
        snowflake. ``require_tag`` sets the REQUIRE_TAG flag: posts without a tag are refused.
        ``default_reaction_emoji`` is a unicode emoji.
        """
        if default_auto_archive_duration not in THREAD_ARCHIVE_DURATIONS:
            raise EmulatorError(
                f"default_auto_archive_duration must be one of {THREAD_ARCHIVE_DURATIONS}"
            )
        channel = Channel(
            id=0,
            type=GUILD_FORUM,
            name=name,
            topic=topic,
            flags=CHANNEL_FLAG_REQUIRE_TAG if require_tag else 0,
            default_auto_archive_duration=default_auto_archive_duration,
            default_thread_rate_limit_per_user=default_thread_rate_limit_per_user,
            default_reaction_emoji=(
                {"emoji_id": None, "emoji_name": default_reaction_emoji}
                if default_reaction_emoji
                else None
            ),
        )
        for tag in tags:
            self._append_tag(channel, tag)
        return self._add_guild_channel(GUILD_FORUM, name, channel)

    def add_forum_tag(self, forum: ChannelRef, tag: str | ForumTag) -> ForumTag:
        """Give a forum another tag (as a moderator would); CHANNEL_UPDATE tells the bot."""
        target = self._forum(forum)
        added = self._append_tag(target, tag)
        payload = payloads.channel(self._state, target)
        self.gateway.dispatch("CHANNEL_UPDATE", payload, intents=GUILDS)
        self._state.notify()
        return added

    def _append_tag(self, forum: Channel, tag: str | ForumTag) -> ForumTag:
        made = ForumTag(name=tag) if isinstance(tag, str) else tag
        if not 1 <= len(made.name) <= FORUM_TAG_NAME_MAX:
            raise EmulatorError(f"tag name {made.name!r} must be 1-{FORUM_TAG_NAME_MAX} long")
        if any(t.name == made.name for t in forum.available_tags):
            raise EmulatorError(f"forum #{forum.name} already has a tag {made.name!r}")
        if len(forum.available_tags) >= FORUM_TAGS_MAX:
            raise EmulatorError(f"a forum has at most {FORUM_TAGS_MAX} tags")
        if made.emoji_id is not None and made.emoji_name is not None:
            raise EmulatorError("a tag has at most one of emoji_id and emoji_name")
        if not made.id:
            made.id = self._state.ids.next()
        forum.available_tags.append(made)
        return made

    def _add_guild_channel(self, kind: int, name: str, channel: Channel | None = None) -> Channel:
        state = self._state
        channel = channel or Channel(id=0, type=kind, name=name)
        channel.id = state.ids.next()
        channel.guild_id = state.guild.id
        channel.position = len(state.guild.channels)
        state.guild.channels.append(channel)
        state.add_channel(channel)
        self.gateway.dispatch("CHANNEL_CREATE", payloads.channel(state, channel), intents=GUILDS)
        state.notify()
        return channel

    # Acting as users ------------------------------------------------------------------------------

    async def slash(
        self,
        user: UserRef,
        command: str,
        /,
        *,
        channel: ChannelRef | None = None,
        options: dict[str, Any] | None = None,
        locale: str = "en-US",
        **kwargs: Any,
    ) -> InteractionHandle:
        """Invoke ``/command`` ("a b" for a subcommand) as ``user``; returns right after dispatch.

        Option values come as keyword arguments, or in ``options`` for names that clash with
        ``channel``/``options``/``locale``.
        """
        return await self._driver.slash(
            user, command, channel=channel, options=options, locale=locale, **kwargs
        )

    def at_once(self) -> contextlib.AbstractContextManager[None]:
        """Interactions dispatched inside the block (``slash``, ``click``…) reach the bot together
        when it ends: their payloads are built first, then all are sent at one instant, and each
        one's 3 seconds start then."""
        return self._driver.at_once()

    async def autocomplete(
        self,
        user: UserRef,
        command: str,
        option: str,
        value: str,
        /,
        *,
        channel: ChannelRef | None = None,
        timeout: float = 5,
        **others: Any,
    ) -> list[dict[str, Any]]:
        """Type ``value`` into an autocomplete option; returns the bot's choices."""
        return await self._driver.autocomplete(
            user, command, option, value, channel=channel, timeout=timeout, **others
        )

    async def click(
        self, user: UserRef, message: Message | int, custom_id: str
    ) -> InteractionHandle:
        return await self._driver.click(user, message, custom_id)

    async def select(
        self, user: UserRef, message: Message | int, custom_id: str, values: list[Any]
    ) -> InteractionHandle:
        return await self._driver.select(user, message, custom_id, values)

    async def submit_modal(
        self,
        user: UserRef,
        custom_id: str,
        values: dict[str, Any],
        message: Message | int | None = None,
    ) -> InteractionHandle:
        return await self._driver.submit_modal(user, custom_id, values, message=message)

    def delete_message(self, message: Message | int) -> None:
        """Delete a message as a moderator would (the bot then gets 10008 for it)."""
        self._messages.delete(self.message(message))

    def delete_thread(self, thread: ChannelRef) -> None:
        """Delete a thread as a moderator would: its messages go with it, THREAD_DELETE tells
        the bot, and the bot then gets 10003 for it."""
        target = self._state.resolve_channel(thread)
        if not target.is_thread:
            raise EmulatorError(f"{target.name or target.id} is not a thread")
        self._state.remove_channel(target)
        self._messages.dispatch_thread_delete(target)
