"""The checks every channel route starts with: can the bot see the channel, may it act there.

Threads carry no permissions of their own; ``EmulatorState.bot_can`` resolves a thread's through
its parent (a forum post's through its forum).
"""

from __future__ import annotations

from .errors import ApiError, missing_access, missing_permissions, unknown_message
from .models import Channel, Message
from .routing import RequestContext
from .state import EmulatorState


def visible_channel(ctx: RequestContext) -> Channel:
    """The ``{channel_id}`` of the request; 404 10003 if unknown, 403 50001 if not viewable."""
    channel = ctx.state.channel(ctx.id("channel_id"))
    if not channel.is_dm and not ctx.state.bot_can(channel, "view_channel"):
        raise missing_access(f"the bot cannot view #{channel.name}")
    return channel


def require(state: EmulatorState, channel: Channel, permission: str, action: str) -> None:
    """403 50013 unless the bot has ``permission`` (a discord.py name) in the channel."""
    if channel.is_dm:
        return
    if not state.bot_can(channel, permission):
        raise missing_permissions(f"{action} in {where(channel)} needs {permission}")


def message_in(ctx: RequestContext, channel: Channel) -> Message:
    """The ``{message_id}`` of the request, which must be a live message of this channel."""
    message = ctx.state.messages.get(ctx.id("message_id"))
    if message is None or message.deleted or message.ephemeral or message.channel_id != channel.id:
        raise unknown_message()
    return message


def not_archived(channel: Channel, action: str) -> None:
    """Archived threads are read-only until unarchived (channel.mdx, "Example Thread Channel")."""
    if channel.is_thread and channel.archived:
        raise ApiError(400, 50083, "Thread is archived", detail=f"{action} in {where(channel)}")


def where(channel: Channel) -> str:
    if channel.is_thread:
        return f"thread {channel.name!r}"
    if channel.is_forum:
        return f"forum #{channel.name}"
    return f"#{channel.name}" if channel.name else f"channel {channel.id}"
