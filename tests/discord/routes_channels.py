"""Channel routes: messages, threads and forum posts, reactions, typing, channel edits, deletes.

Permission checks follow what each Discord route needs from the bot in that channel (or, for a
thread, its parent): VIEW_CHANNEL to see it at all (403 50001), then SEND_MESSAGES or
SEND_MESSAGES_IN_THREADS, ATTACH_FILES, EMBED_LINKS, CREATE_PUBLIC/PRIVATE_THREADS (403 50013).
A forum post needs SEND_MESSAGES in the forum; CREATE_PUBLIC_THREADS is ignored there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from . import payloads, rules, threads
from .access import message_in, not_archived, require, visible_channel
from .errors import ApiError, Issue, cannot_edit_others, invalid_form, missing_access
from .gateway import GUILDS
from .models import (
    ANNOUNCEMENT_THREAD,
    FLAG_HAS_THREAD,
    GUILD_ANNOUNCEMENT,
    GUILD_TEXT,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    Channel,
)
from .routing import RequestContext, RouteTable

routes = RouteTable()

_MESSAGE = "/channels/{channel_id}/messages/{message_id}"


@routes("GET", "/channels/{channel_id}")
async def get_channel(ctx: RequestContext) -> Any:
    channel = visible_channel(ctx)
    return payloads.channel(ctx.state, channel)


@routes("PATCH", "/channels/{channel_id}")
async def edit_channel(ctx: RequestContext) -> Any:
    state = ctx.state
    channel = visible_channel(ctx)
    payload = await ctx.json_object()
    if channel.is_thread:
        threads.edit_thread(state, ctx.services.messages, channel, payload)
    else:
        require(state, channel, "manage_channels", "editing a channel")
        if channel.is_forum:
            threads.edit_forum(state, channel, payload)
        else:
            for key in ("name", "topic", "nsfw", "rate_limit_per_user", "position"):
                if key in payload:
                    setattr(channel, key, payload[key])
        ctx.services.gateway.dispatch(
            "CHANNEL_UPDATE", payloads.channel(state, channel), intents=GUILDS
        )
    state.notify()
    return payloads.channel(state, channel)


@routes("DELETE", "/channels/{channel_id}")
async def delete_channel(ctx: RequestContext) -> Any:
    services = ctx.services
    return threads.delete_channel(
        ctx.state, services.messages, services.gateway, visible_channel(ctx)
    )


@routes("GET", "/channels/{channel_id}/messages")
async def list_messages(ctx: RequestContext) -> Any:
    state = ctx.state
    channel = visible_channel(ctx)
    if not channel.is_dm and not state.bot_can(channel, "read_message_history"):
        return []  # Discord answers an empty list without READ_MESSAGE_HISTORY
    limit = int(ctx.query.get("limit", 50))
    if not 1 <= limit <= 100:
        raise invalid_form([Issue(("limit",), "NUMBER_TYPE_MAX", "Must be 1-100")])
    history = state.channel_history(channel)
    before, after, around = (ctx.query.get(k) for k in ("before", "after", "around"))
    if before:
        history = [m for m in history if m.id < int(before)]
    if after:
        history = [m for m in history if m.id > int(after)]
        history = history[:limit]
    if around:
        pivot = int(around)
        older = [m for m in history if m.id <= pivot][-((limit + 1) // 2) :]
        newer = [m for m in history if m.id > pivot][: limit - len(older)]
        history = older + newer
    history = history[-limit:]
    return [ctx.services.messages.render(m) for m in reversed(history)]


@routes("POST", "/channels/{channel_id}/messages")
async def create_message(ctx: RequestContext) -> Any:
    state = ctx.state
    channel = visible_channel(ctx)
    if channel.is_forum:
        raise ApiError(
            400,
            50008,
            "Cannot send messages in a non-text channel",
            detail=f"forum #{channel.name} takes posts (POST /channels/{{id}}/threads with a "
            "message, ForumChannel.create_thread), not messages",
        )
    if channel.is_thread:
        require(state, channel, "send_messages_in_threads", "sending a message")
        _reopen_thread(ctx, channel)
    else:
        require(state, channel, "send_messages", "sending a message")
    body = await ctx.body()
    payload = body.payload if isinstance(body.payload, dict) else {}
    ctx.services.messages.check_files_allowed(channel, body.files)
    if payload.get("embeds"):
        require(state, channel, "embed_links", "sending embeds")
    reference = payload.get("message_reference")
    if isinstance(reference, dict) and reference.get("message_id"):
        target = state.messages.get(int(reference["message_id"]))
        if target is None or target.deleted or target.ephemeral:
            if reference.get("fail_if_not_exists", True):
                raise invalid_form(
                    [
                        Issue(
                            ("message_reference",),
                            "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                            "Unknown message",
                        )
                    ]
                )
            payload = {k: v for k, v in payload.items() if k != "message_reference"}
    if payload.get("enforce_nonce") and payload.get("nonce") is not None:
        nonce = str(payload["nonce"])
        for existing in reversed(state.channel_history(channel)):
            if existing.nonce == nonce and state.clock.now() - existing.created_at < 120:
                return ctx.services.messages.render(existing)  # Discord deduplicates
    message = ctx.services.messages.create(channel, payload, body.files)
    return ctx.services.messages.render(message)


def _reopen_thread(ctx: RequestContext, thread: Channel) -> None:
    """Sending in an archived thread unarchives it, unless it is locked."""
    if not thread.archived:
        return
    if thread.locked and not ctx.state.bot_can(thread, "manage_threads"):
        raise ApiError(400, 160005, "Thread is locked", detail=f"thread {thread.name!r}")
    thread.archived = False
    thread.archive_timestamp = ctx.state.clock.now()
    ctx.services.messages.dispatch_thread("THREAD_UPDATE", thread)


@routes("GET", _MESSAGE)
async def get_message(ctx: RequestContext) -> Any:
    channel = visible_channel(ctx)
    if not channel.is_dm and not ctx.state.bot_can(channel, "read_message_history"):
        raise missing_access("get message needs read_message_history")
    return ctx.services.messages.render(message_in(ctx, channel))


@routes("PATCH", _MESSAGE)
async def edit_message(ctx: RequestContext) -> Any:
    state = ctx.state
    channel = visible_channel(ctx)
    message = message_in(ctx, channel)
    if message.author_id != state.bot_user.id:
        raise cannot_edit_others()
    not_archived(channel, "editing a message")
    body = await ctx.body()
    payload = body.payload if isinstance(body.payload, dict) else {}
    ctx.services.messages.check_files_allowed(channel, body.files)
    if payload.get("embeds"):
        require(state, channel, "embed_links", "editing embeds")
    edited = ctx.services.messages.edit(message, payload, body.files)
    return ctx.services.messages.render(edited)


@routes("DELETE", _MESSAGE)
async def delete_message(ctx: RequestContext) -> Any:
    state = ctx.state
    channel = visible_channel(ctx)
    message = message_in(ctx, channel)
    if message.author_id != state.bot_user.id:
        require(state, channel, "manage_messages", "deleting another user's message")
    ctx.services.messages.delete(message)
    return None


# Threads ------------------------------------------------------------------------------------------


def _new_thread(
    ctx: RequestContext, parent: Channel, payload: dict[str, Any], kind: int, thread_id: int
) -> Channel:
    thread = threads.new_thread(ctx.state, parent, payload, kind, thread_id)
    threads.open_thread(ctx.state, ctx.services.messages, thread)
    return thread


def _thread_parent(ctx: RequestContext) -> Channel:
    parent = visible_channel(ctx)
    if parent.type not in (GUILD_TEXT, GUILD_ANNOUNCEMENT):
        raise ApiError(
            400, 50024, "Cannot execute action on this channel type", detail="thread parent"
        )
    return parent


@routes("POST", "/channels/{channel_id}/threads")
async def start_thread(ctx: RequestContext) -> Any:
    if visible_channel(ctx).is_forum:
        return await _start_forum_post(ctx)
    parent = _thread_parent(ctx)
    payload = await ctx.json_object()
    issues = rules.thread_issues(payload, from_message=False)
    if issues:
        raise invalid_form(issues)
    # Like Discord (and discord.py's create_thread default), no type means a PRIVATE thread.
    kind = payload.get("type") or PRIVATE_THREAD
    permission = "create_private_threads" if kind == PRIVATE_THREAD else "create_public_threads"
    require(ctx.state, parent, permission, "creating a thread")
    thread = _new_thread(ctx, parent, payload, kind, ctx.state.ids.next())
    return payloads.channel(ctx.state, thread)


async def _start_forum_post(ctx: RequestContext) -> Any:
    """A forum post: a public thread plus its first message, answered with both nested."""
    state = ctx.state
    messages = ctx.services.messages
    forum = visible_channel(ctx)
    body = await ctx.body()
    payload = body.payload if isinstance(body.payload, dict) else {}
    require(state, forum, "send_messages", "creating a forum post")
    messages.check_files_allowed(forum, body.files)
    message = payload.get("message")
    if isinstance(message, dict) and message.get("embeds"):
        require(state, forum, "embed_links", "sending embeds")
    thread, first = threads.create_forum_post(state, messages, forum, payload, body.files)
    data = payloads.channel(state, thread)
    data["message"] = messages.render(first)
    return data


@routes("POST", f"{_MESSAGE}/threads")
async def start_thread_from_message(ctx: RequestContext) -> Any:
    state = ctx.state
    parent = _thread_parent(ctx)
    message = message_in(ctx, parent)
    payload = await ctx.json_object()
    issues = rules.thread_issues(payload, from_message=True)
    if issues:
        raise invalid_form(issues)
    require(state, parent, "create_public_threads", "creating a thread from a message")
    if message.thread_id is not None:
        raise ApiError(400, 160004, "A thread has already been created for this message")
    kind = ANNOUNCEMENT_THREAD if parent.type == GUILD_ANNOUNCEMENT else PUBLIC_THREAD
    # A thread started from a message shares the message's id, as on Discord.
    thread = _new_thread(ctx, parent, payload, kind, message.id)
    thread.starter_message_id = message.id
    message.thread_id = thread.id
    message.flags |= FLAG_HAS_THREAD
    return payloads.channel(state, thread)


def _thread(ctx: RequestContext) -> Channel:
    thread = visible_channel(ctx)
    if not thread.is_thread:
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    return thread


@routes("PUT", "/channels/{channel_id}/thread-members/@me")
async def join_thread(ctx: RequestContext) -> Any:
    _thread(ctx).member_ids.add(ctx.state.bot_user.id)
    return None


@routes("DELETE", "/channels/{channel_id}/thread-members/@me")
async def leave_thread(ctx: RequestContext) -> Any:
    _thread(ctx).member_ids.discard(ctx.state.bot_user.id)
    return None


@routes("PUT", "/channels/{channel_id}/thread-members/{user_id}")
async def add_thread_member(ctx: RequestContext) -> Any:
    thread = _thread(ctx)
    user_id = ctx.id("user_id")
    if ctx.state.guild.member(user_id) is None:
        raise ApiError(404, 10013, "Unknown User")
    not_archived(thread, "adding a member")
    if thread.type == PRIVATE_THREAD and ctx.state.bot_user.id not in thread.member_ids:
        require(ctx.state, thread, "manage_threads", "adding members to a private thread")
    thread.member_ids.add(user_id)
    return None


# Small conveniences bots commonly call ------------------------------------------------------------


@routes("POST", "/channels/{channel_id}/typing")
async def trigger_typing(ctx: RequestContext) -> Any:
    channel = visible_channel(ctx)
    permission = "send_messages_in_threads" if channel.is_thread else "send_messages"
    require(ctx.state, channel, permission, "typing")
    return None


@routes("PUT", f"{_MESSAGE}/reactions/{{emoji}}/@me")
async def add_reaction(ctx: RequestContext) -> Any:
    channel = visible_channel(ctx)
    require(ctx.state, channel, "add_reactions", "reacting")
    message = message_in(ctx, channel)
    not_archived(channel, "reacting")
    message.reactions.setdefault(unquote(ctx.params["emoji"]), set()).add(ctx.state.bot_user.id)
    ctx.state.notify()
    return None


@routes("DELETE", f"{_MESSAGE}/reactions/{{emoji}}/@me")
async def remove_reaction(ctx: RequestContext) -> Any:
    channel = visible_channel(ctx)
    message = message_in(ctx, channel)
    not_archived(channel, "removing a reaction")
    message.reactions.get(unquote(ctx.params["emoji"]), set()).discard(ctx.state.bot_user.id)
    ctx.state.notify()
    return None
