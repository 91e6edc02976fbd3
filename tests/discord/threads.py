"""Threads and forum posts: opening, editing, tagging and deleting them, and editing forums.

A forum post is a public thread in a forum channel (type 15) whose first message has the thread's
own id; it is created in one request, ``POST /channels/{forum_id}/threads`` with a ``message``
object (channel.mdx, "Start Thread in Forum or Media Channel"). Its ``applied_tags`` must be tags
of that forum, at most five, and moderated tags need MANAGE_THREADS to add or remove.
"""

from __future__ import annotations

from typing import Any

from . import payloads, rules
from .errors import ApiError, Issue, invalid_form, missing_permissions
from .gateway import GUILDS, Gateway
from .messages import MessageService
from .models import (
    CHANNEL_FLAG_PINNED,
    CHANNEL_FLAG_REQUIRE_TAG,
    PUBLIC_THREAD,
    Channel,
    ForumTag,
    Message,
)
from .state import EmulatorState
from .wire import UploadedFile

# What a forum post's message may carry; the rest of a channel message's fields (replies, nonces)
# are not part of "Forum and Media Thread Message Params" and are dropped.
_POST_MESSAGE_FIELDS = frozenset(
    {
        "content",
        "embeds",
        "allowed_mentions",
        "components",
        "sticker_ids",
        "attachments",
        "flags",
        "tts",
    }
)


def new_thread(
    state: EmulatorState, parent: Channel, payload: dict[str, Any], kind: int, thread_id: int
) -> Channel:
    """A thread record owned by the bot; not visible until ``open_thread``."""
    now = state.clock.now()
    slowmode = payload.get("rate_limit_per_user")
    return Channel(
        id=thread_id,
        type=kind,
        name=payload["name"],
        guild_id=parent.guild_id,
        parent_id=parent.id,
        owner_id=state.bot_user.id,
        auto_archive_duration=payload.get("auto_archive_duration")
        or parent.default_auto_archive_duration,
        archive_timestamp=now,
        created_at=now,
        invitable=bool(payload.get("invitable", True)),
        # Discord copies the parent's default slowmode onto a new thread.
        rate_limit_per_user=parent.default_thread_rate_limit_per_user
        if slowmode is None
        else slowmode,
        member_ids={state.bot_user.id},
    )


def open_thread(state: EmulatorState, messages: MessageService, thread: Channel) -> None:
    """Make a thread exist: store it and announce it with THREAD_CREATE."""
    state.add_channel(thread)
    state.threads.append(thread)
    state.stats["threads_created"] += 1
    messages.dispatch_thread("THREAD_CREATE", thread)
    state.notify()


# Forum posts --------------------------------------------------------------------------------------


def create_forum_post(
    state: EmulatorState,
    messages: MessageService,
    forum: Channel,
    payload: dict[str, Any],
    files: list[UploadedFile],
) -> tuple[Channel, Message]:
    """Validate everything, then open the thread (THREAD_CREATE) and post its first message."""
    issues = rules.forum_post_issues(payload, {t.id for t in forum.available_tags})
    if issues:
        raise invalid_form(issues)
    tags = _tag_ids(payload.get("applied_tags"))
    if forum.flags & CHANNEL_FLAG_REQUIRE_TAG and not tags:
        raise ApiError(
            400,
            40067,
            "A tag is required to create a forum post in this channel",
            detail=f"forum #{forum.name} requires a tag",
        )
    _check_moderated_tags(state, forum, forum, before=[], after=tags)
    thread = new_thread(state, forum, payload, PUBLIC_THREAD, state.ids.next())
    thread.applied_tags = tags
    thread.starter_message_id = thread.id
    body = {k: v for k, v in payload["message"].items() if k in _POST_MESSAGE_FIELDS}
    # Built before the thread exists so a bad message leaves no half-made post behind.
    message = messages.build(thread, body, files, message_id=thread.id, prefix=("message",))
    open_thread(state, messages, thread)
    messages.publish(message, thread, counted=False)
    forum.last_message_id = thread.id  # a forum's "last message" is its newest post
    return thread, message


def _tag_ids(raw: Any) -> list[int]:
    """Tag ids from an already validated ``applied_tags`` list."""
    ids = [rules.snowflake_or_none(t) for t in raw or []]
    return [t for t in ids if t is not None]


def _check_moderated_tags(
    state: EmulatorState, forum: Channel, where: Channel, *, before: list[int], after: list[int]
) -> None:
    changed = set(before) ^ set(after)
    moderated = [t.name for t in forum.available_tags if t.id in changed and t.moderated]
    if moderated and not state.bot_can(where, "manage_threads"):
        raise missing_permissions(
            f"adding or removing moderated tag(s) {moderated} in forum #{forum.name} needs "
            "manage_threads"
        )


# Editing a thread ---------------------------------------------------------------------------------


def edit_thread(
    state: EmulatorState, messages: MessageService, thread: Channel, payload: dict[str, Any]
) -> None:
    """PATCH /channels/{thread_id}: check everything first, then apply and send THREAD_UPDATE."""
    issues = rules.thread_edit_issues(payload)
    parent = state.parent_of(thread)
    in_forum = parent is not None and parent.is_forum
    if payload.get("applied_tags") is not None:
        if parent is None or not in_forum:
            issues.append(
                Issue(
                    ("applied_tags",),
                    "THREAD_NOT_IN_FORUM",
                    "Tags can only be applied to threads in forum or media channels",
                )
            )
        else:
            issues += rules.applied_tags_issues(
                payload["applied_tags"], {t.id for t in parent.available_tags}
            )
    wanted_flags = payload.get("flags")
    if wanted_flags is not None and int(wanted_flags) & CHANNEL_FLAG_PINNED and not in_forum:
        issues.append(
            Issue(
                ("flags",),
                "CHANNEL_FLAG_PINNED",
                "PINNED can only be set for threads in forum and media channels",
            )
        )
    if issues:
        raise invalid_form(issues)
    if thread.archived and payload.get("archived") is not False:
        # "Requires the thread to have archived set to false or be set to false in the request."
        raise ApiError(
            400, 50083, "Thread is archived", detail=f"editing archived thread {thread.name!r}"
        )
    own = thread.owner_id == state.bot_user.id
    if ("locked" in payload or not own) and not state.bot_can(thread, "manage_threads"):
        raise missing_permissions(f"editing thread {thread.name!r} needs manage_threads")
    tags: list[int] | None = None
    if payload.get("applied_tags") is not None and parent is not None:
        tags = _tag_ids(payload["applied_tags"])
        _check_moderated_tags(state, parent, thread, before=thread.applied_tags, after=tags)
    pin_post: bool | None = None
    if wanted_flags is not None and parent is not None:
        pin_post = bool(int(wanted_flags) & CHANNEL_FLAG_PINNED)
        if pin_post != thread.pinned:
            if not state.bot_can(thread, "manage_threads"):
                raise missing_permissions(
                    f"pinning or unpinning post {thread.name!r} needs manage_threads"
                )
            if pin_post and any(t.pinned for t in forum_posts(state, parent)):
                raise ApiError(
                    400,
                    30047,
                    "Maximum number of pinned threads in a forum channel has been reached",
                    detail=f"forum #{parent.name} already has a pinned post",
                )

    for key in ("name", "archived", "locked", "invitable", "rate_limit_per_user"):
        if key in payload and payload[key] is not None:
            setattr(thread, key, payload[key])
    if payload.get("auto_archive_duration") is not None:
        thread.auto_archive_duration = payload["auto_archive_duration"]
    if "archived" in payload:
        thread.archive_timestamp = state.clock.now()
    if tags is not None:
        thread.applied_tags = tags
    if pin_post is not None:
        thread.flags = (thread.flags & ~CHANNEL_FLAG_PINNED) | (
            CHANNEL_FLAG_PINNED if pin_post else 0
        )
    messages.dispatch_thread("THREAD_UPDATE", thread)
    state.notify()


def forum_posts(state: EmulatorState, forum: Channel) -> list[Channel]:
    """The forum's posts that still exist, oldest first."""
    return [t for t in state.threads if t.parent_id == forum.id]


# Editing a forum ----------------------------------------------------------------------------------

_FORUM_FIELDS = (
    "name",
    "topic",
    "nsfw",
    "rate_limit_per_user",
    "position",
    "default_auto_archive_duration",
    "default_thread_rate_limit_per_user",
    "default_sort_order",
    "default_forum_layout",
)


def edit_forum(state: EmulatorState, forum: Channel, payload: dict[str, Any]) -> None:
    """The forum-only fields of PATCH /channels/{forum_id}; the route checks MANAGE_CHANNELS."""
    issues = rules.forum_edit_issues(payload)
    if issues:
        raise invalid_form(issues)
    new_tags: list[ForumTag] | None = None
    if payload.get("available_tags") is not None:
        names = [t["name"] for t in payload["available_tags"]]
        if len(set(names)) != len(names):
            raise ApiError(400, 40061, "Tag names must be unique", detail=f"tags {names}")
        new_tags = [_tag_from_payload(state, forum, t) for t in payload["available_tags"]]
    for key in _FORUM_FIELDS:
        if key in payload and (payload[key] is not None or key in ("topic", "default_sort_order")):
            setattr(forum, key, payload[key])
    if "default_reaction_emoji" in payload:
        emoji = payload["default_reaction_emoji"]
        forum.default_reaction_emoji = (
            None
            if emoji is None
            else {
                "emoji_id": str(emoji["emoji_id"]) if emoji.get("emoji_id") else None,
                "emoji_name": emoji.get("emoji_name") or None,
            }
        )
    if payload.get("flags") is not None:
        # REQUIRE_TAG is the only flag a forum takes here.
        wanted = int(payload["flags"]) & CHANNEL_FLAG_REQUIRE_TAG
        forum.flags = (forum.flags & ~CHANNEL_FLAG_REQUIRE_TAG) | wanted
    if new_tags is not None:
        forum.available_tags = new_tags


def _tag_from_payload(state: EmulatorState, forum: Channel, data: dict[str, Any]) -> ForumTag:
    """Keep the id of a tag the forum already has; any other id is ignored, as Discord does."""
    known = rules.snowflake_or_none(data.get("id"))
    existing = forum.tag(known) if known is not None else None
    return ForumTag(
        id=existing.id if existing is not None else state.ids.next(),
        name=data["name"],
        moderated=bool(data.get("moderated", False)),
        emoji_id=rules.snowflake_or_none(data.get("emoji_id")) or None,
        emoji_name=data.get("emoji_name") or None,
    )


# Deleting -----------------------------------------------------------------------------------------


def delete_channel(
    state: EmulatorState, messages: MessageService, gateway: Gateway, channel: Channel
) -> dict[str, Any]:
    """DELETE /channels/{id}: a thread needs MANAGE_THREADS, a guild channel MANAGE_CHANNELS.

    Returns the channel as it was. A thread's messages go with it (no MESSAGE_DELETE for each,
    only THREAD_DELETE); a guild channel takes its threads with it (CHANNEL_DELETE only).
    """
    rendered = payloads.channel(state, channel)
    if channel.is_dm:
        return rendered  # "closing" a DM: it reopens with the next message
    if channel.is_thread:
        if not state.bot_can(channel, "manage_threads"):
            raise missing_permissions(f"deleting thread {channel.name!r} needs manage_threads")
        state.remove_channel(channel)
        messages.dispatch_thread_delete(channel)
        return rendered
    if not state.bot_can(channel, "manage_channels"):
        raise missing_permissions(f"deleting #{channel.name} needs manage_channels")
    state.remove_channel(channel)
    gateway.dispatch("CHANNEL_DELETE", rendered, intents=GUILDS)
    return rendered
