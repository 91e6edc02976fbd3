"""Render the emulator's records as Discord wire objects (snowflakes as strings).

Each function emits every field discord.py reads, including the ones it hard-indexes (for example
``Member.flags``, ``Thread.thread_metadata``, ``AppCommandChannel.permissions``), so the real
client never trips over a missing key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .models import DM, PRIVATE_THREAD, Attachment, Channel, ForumTag, Member, Message, Role, User

if TYPE_CHECKING:
    from .cdn import Cdn
    from .state import EmulatorState


def user(u: User) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(u.id),
        "username": u.username,
        "global_name": u.global_name,
        "discriminator": u.discriminator,
        "avatar": u.avatar,
        "public_flags": u.public_flags,
        "flags": u.public_flags,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
        "collectibles": None,
        "primary_guild": None,
    }
    if u.bot:
        data["bot"] = True
    return data


def member(
    state: EmulatorState,
    m: Member,
    *,
    with_user: bool = True,
    permissions: int | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "roles": [str(r) for r in m.role_ids],
        "joined_at": state.clock.iso(m.joined_at),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "nick": m.nick,
        "avatar": None,
        "banner": None,
        "communication_disabled_until": None,
        "unusual_dm_activity_until": None,
    }
    if with_user:
        data["user"] = user(m.user)
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def role(r: Role) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(r.id),
        "name": r.name,
        "color": r.color,
        "colors": {"primary_color": r.color, "secondary_color": None, "tertiary_color": None},
        "hoist": r.hoist,
        "icon": None,
        "unicode_emoji": None,
        "position": r.position,
        "permissions": str(r.permissions),
        "managed": r.managed,
        "mentionable": r.mentionable,
        "flags": 0,
    }
    if r.bot_id is not None:
        data["tags"] = {"bot_id": str(r.bot_id)}
    return data


def channel(state: EmulatorState, c: Channel, *, permissions: int | None = None) -> dict[str, Any]:
    """A channel object; ``permissions`` adds the resolved permissions of the viewer."""
    if c.type == DM:
        recipient = state.users[c.recipient_id] if c.recipient_id else None
        data: dict[str, Any] = {
            "id": str(c.id),
            "type": DM,
            "last_message_id": _snowflake(c.last_message_id),
            "flags": 0,
            "recipients": [user(recipient)] if recipient else [],
        }
    elif c.is_thread:
        data = thread(state, c)
    else:
        data = {
            "id": str(c.id),
            "type": c.type,
            "guild_id": str(c.guild_id),
            "name": c.name,
            "position": c.position,
            "parent_id": _snowflake(c.parent_id),
            "topic": c.topic,
            "nsfw": c.nsfw,
            "last_message_id": _snowflake(c.last_message_id),
            "rate_limit_per_user": c.rate_limit_per_user,
            "default_auto_archive_duration": c.default_auto_archive_duration,
            "default_thread_rate_limit_per_user": c.default_thread_rate_limit_per_user,
            "flags": c.flags,
            "permission_overwrites": [
                {
                    "id": str(o["id"]),
                    "type": o["type"],
                    "allow": str(o["allow"]),
                    "deny": str(o["deny"]),
                }
                for o in c.permission_overwrites
            ],
        }
        if c.is_forum:
            # A forum holds posts, not messages: its last_message_id is its newest post's id.
            data.update(
                {
                    "available_tags": [forum_tag(t) for t in c.available_tags],
                    "default_reaction_emoji": c.default_reaction_emoji,
                    "default_sort_order": c.default_sort_order,
                    "default_forum_layout": c.default_forum_layout,
                }
            )
        else:
            data["last_pin_timestamp"] = _timestamp(state, c.last_pin_timestamp)
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def thread(state: EmulatorState, c: Channel) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "archived": c.archived,
        "auto_archive_duration": c.auto_archive_duration or 1440,
        "archive_timestamp": state.clock.iso(c.archive_timestamp or c.created_at),
        "locked": c.locked,
        "create_timestamp": state.clock.iso(c.created_at),
    }
    if c.type == PRIVATE_THREAD:
        metadata["invitable"] = c.invitable
    data: dict[str, Any] = {
        "id": str(c.id),
        "type": c.type,
        "guild_id": str(c.guild_id),
        "parent_id": str(c.parent_id),
        "owner_id": str(c.owner_id),
        "name": c.name,
        "last_message_id": _snowflake(c.last_message_id),
        "rate_limit_per_user": c.rate_limit_per_user,
        "message_count": c.message_count,
        "member_count": len(c.member_ids),
        "total_message_sent": c.total_message_sent,
        "flags": c.flags,
        "applied_tags": [str(t) for t in c.applied_tags],
        "last_pin_timestamp": _timestamp(state, c.last_pin_timestamp),
        "thread_metadata": metadata,
    }
    if state.bot_user.id in c.member_ids:
        data["member"] = {
            "id": str(c.id),
            "user_id": str(state.bot_user.id),
            "join_timestamp": state.clock.iso(c.created_at),
            "flags": 0,
        }
    return data


def forum_tag(t: ForumTag) -> dict[str, Any]:
    return {
        "id": str(t.id),
        "name": t.name,
        "moderated": t.moderated,
        "emoji_id": _snowflake(t.emoji_id),
        "emoji_name": t.emoji_name,
    }


def guild(state: EmulatorState, *, members: list[Member], for_gateway: bool) -> dict[str, Any]:
    g = state.guild
    data: dict[str, Any] = {
        "id": str(g.id),
        "name": g.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(g.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 1,
        "default_message_notifications": 1,
        "explicit_content_filter": 2,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": g.locale,
        "system_channel_id": str(g.channels[0].id) if g.channels else None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "vanity_url_code": None,
        "max_members": 500000,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "premium_progress_bar_enabled": False,
        "features": list(g.features),
        "roles": [role(r) for r in g.roles],
        "emojis": [],
        "stickers": [],
        "application_id": None,
        "incidents_data": None,
    }
    if for_gateway:
        data.update(
            {
                "joined_at": state.clock.iso(g.created_at),
                "large": False,
                "unavailable": False,
                "member_count": len(g.members),
                "voice_states": [],
                "presences": [],
                "members": [member(state, m) for m in members],
                "channels": [channel(state, c) for c in g.channels],
                # Active threads the bot can see: public ones, and private ones it belongs to.
                "threads": [
                    thread(state, t)
                    for t in state.threads
                    if not t.archived and (t.type != 12 or state.bot_user.id in t.member_ids)
                ],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "application_command_counts": {},
                "lazy": True,
            }
        )
    return data


def attachment(cdn: Cdn, a: Attachment) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(a.id),
        "filename": a.filename,
        "size": a.size,
        "url": cdn.url(a),
        "proxy_url": cdn.url(a, proxy=True),
        "content_type": a.content_type,
        "flags": 0,
    }
    if a.description is not None:
        data["description"] = a.description
    if a.title is not None:
        data["title"] = a.title
    if a.width is not None:
        data["width"] = a.width
        data["height"] = a.height
        data["placeholder_version"] = 1
    if a.ephemeral:
        data["ephemeral"] = True
    return data


def message(state: EmulatorState, cdn: Cdn, m: Message) -> dict[str, Any]:
    author = state.users[m.author_id]
    mentioned_users = [user(state.users[uid]) for uid in sorted(m.pinged_user_ids)]
    data: dict[str, Any] = {
        "id": str(m.id),
        "type": m.type,
        "channel_id": str(m.channel_id),
        "author": user(author),
        "content": m.content,
        "timestamp": state.clock.iso(m.created_at),
        "edited_timestamp": state.clock.iso(m.edited_at) if m.edited_at else None,
        "tts": m.tts,
        "mention_everyone": m.pinged_everyone,
        "mentions": mentioned_users,
        "mention_roles": [str(r) for r in sorted(m.pinged_role_ids)],
        "attachments": [attachment(cdn, a) for a in m.attachments],
        "embeds": m.embeds,
        "components": m.components,
        "pinned": m.pinned,
        "flags": m.flags,
        "reactions": [
            {
                "emoji": {"id": None, "name": emoji},
                "count": len(users),
                "count_details": {"burst": 0, "normal": len(users)},
                "me": state.bot_user.id in users,
                "me_burst": False,
                "burst_colors": [],
            }
            for emoji, users in m.reactions.items()
            if users
        ],
    }
    if m.nonce is not None:
        data["nonce"] = m.nonce
    if m.webhook_id is not None:
        data["webhook_id"] = str(m.webhook_id)
    if m.application_id is not None:
        data["application_id"] = str(m.application_id)
    if m.interaction_metadata is not None:
        data["interaction_metadata"] = m.interaction_metadata
    if m.message_reference is not None:
        data["message_reference"] = m.message_reference
    if m.thread_id is not None and m.thread_id in state.channels:
        data["thread"] = thread(state, state.channels[m.thread_id])
    return data


def _snowflake(value: int | None) -> str | None:
    return None if value is None else str(value)


def _timestamp(state: EmulatorState, value: float | None) -> str | None:
    return None if value is None else state.clock.iso(value)
