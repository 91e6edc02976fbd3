"""Permission bits and Discord's permission resolution (base roles, then channel overwrites).

Names are discord.py's ``Permissions`` attribute names (``send_messages``, ``attach_files``, ...),
so a test reads the same words the bot's code uses.
"""

from __future__ import annotations

from collections.abc import Iterable

import discord

from .models import Channel, Guild, Member

ALL_PERMISSIONS = discord.Permissions.all().value
FLAG_VALUES: dict[str, int] = dict(discord.Permissions.VALID_FLAGS)


def bit(name: str) -> int:
    """The bit for a permission name; unknown names fail loudly rather than deny nothing."""
    try:
        return FLAG_VALUES[name]
    except KeyError:
        raise ValueError(f"unknown permission name {name!r}") from None


def bits(names: Iterable[str]) -> int:
    value = 0
    for name in names:
        value |= bit(name)
    return value


def names_of(value: int) -> list[str]:
    return [name for name, flag in FLAG_VALUES.items() if value & flag == flag and flag]


ADMINISTRATOR = bit("administrator")
VIEW_CHANNEL = bit("view_channel")

# What a new server's @everyone role gets.
EVERYONE_DEFAULT = bits(
    [
        "create_instant_invite",
        "change_nickname",
        "view_channel",
        "send_messages",
        "send_messages_in_threads",
        "create_public_threads",
        "create_private_threads",
        "embed_links",
        "attach_files",
        "add_reactions",
        "use_external_emojis",
        "use_external_stickers",
        "read_message_history",
        "use_application_commands",
        "connect",
        "speak",
    ]
)

# The bot's managed role. It includes mention_everyone on purpose: with it, a bot that echoes
# "@everyone" from user input without allowed_mentions really would ping the server, so the
# emulator reports the ping instead of hiding the bug. pin_messages is what pinning needs since
# 2026-02-23 (manage_messages no longer grants it), so an invite for a bot that pins asks for it.
BOT_DEFAULT = bits(
    [
        "view_channel",
        "send_messages",
        "send_messages_in_threads",
        "create_public_threads",
        "create_private_threads",
        "manage_threads",
        "embed_links",
        "attach_files",
        "read_message_history",
        "add_reactions",
        "use_external_emojis",
        "mention_everyone",
        "pin_messages",
    ]
)

# What an app may do in a DM with a user (sent as app_permissions in DM interactions).
DM_PERMISSIONS = bits(
    [
        "view_channel",
        "send_messages",
        "embed_links",
        "attach_files",
        "read_message_history",
        "add_reactions",
        "use_external_emojis",
        "mention_everyone",
    ]
)


def base_permissions(guild: Guild, member: Member) -> int:
    if member.user.id == guild.owner_id:
        return ALL_PERMISSIONS
    value = guild.everyone_role.permissions
    for role_id in member.role_ids:
        role = guild.role(role_id)
        if role is not None:
            value |= role.permissions
    if value & ADMINISTRATOR:
        return ALL_PERMISSIONS
    return value


def channel_permissions(
    guild: Guild, member: Member, channel: Channel, parent: Channel | None = None
) -> int:
    """Resolve like Discord: base, then @everyone, role and member overwrites of the channel.

    Threads carry no overwrites of their own; they inherit their parent's, so callers pass the
    parent for a thread.
    """
    value = base_permissions(guild, member)
    if value & ADMINISTRATOR or value == ALL_PERMISSIONS:
        return ALL_PERMISSIONS
    source = parent if channel.is_thread and parent is not None else channel
    overwrites = list(source.permission_overwrites)
    if channel.is_thread:
        # Discord has no thread overwrites; the emulator allows them so a test can deny something
        # inside one thread only. Apply them after the parent's.
        overwrites += channel.permission_overwrites
    everyone = [o for o in overwrites if o["id"] == guild.id]
    roles = [o for o in overwrites if o["type"] == 0 and o["id"] in member.role_ids]
    own = [o for o in overwrites if o["type"] == 1 and o["id"] == member.user.id]
    for group in (everyone, roles, own):
        deny = 0
        allow = 0
        for overwrite in group:
            deny |= overwrite["deny"]
            allow |= overwrite["allow"]
        value = (value & ~deny) | allow
    if not value & VIEW_CHANNEL:
        return 0
    return value
