"""Pins: ``/channels/{id}/messages/pins`` (what discord.py 2.7 calls) and the deprecated
``/channels/{id}/pins`` routes, which Discord still answers.

Pinning needs PIN_MESSAGES (split from MANAGE_MESSAGES; since 2026-02-23 MANAGE_MESSAGES alone no
longer grants it), a channel holds at most 250 pins (30003), and each pin posts Discord's
"pinned a message" system message (type 6) and fires CHANNEL_PINS_UPDATE (message.mdx).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .access import message_in, not_archived, require, visible_channel
from .errors import ApiError, Issue, invalid_form
from .models import Channel, Message
from .routing import RequestContext, RouteTable

routes = RouteTable()

PINS_PAGE_MAX = 50
# Message types that are ordinary messages (default, reply, slash command, context menu); every
# other type is a system message, which cannot be pinned.
_PINNABLE_TYPES = frozenset({0, 19, 20, 23})


def _pinnable(ctx: RequestContext, action: str) -> tuple[Channel, Message]:
    channel = visible_channel(ctx)
    require(ctx.state, channel, "pin_messages", action)
    message = message_in(ctx, channel)
    not_archived(channel, action)
    return channel, message


async def _pin(ctx: RequestContext) -> Any:
    channel, message = _pinnable(ctx, "pinning a message")
    if message.type not in _PINNABLE_TYPES:
        raise ApiError(
            400,
            50021,
            "Cannot execute action on a system message",
            detail=f"message {message.id} is of type {message.type}",
        )
    ctx.services.messages.pin(message, channel)
    return None


async def _unpin(ctx: RequestContext) -> Any:
    channel, message = _pinnable(ctx, "unpinning a message")
    ctx.services.messages.unpin(message, channel)
    return None


@routes("PUT", "/channels/{channel_id}/messages/pins/{message_id}")
async def pin_message(ctx: RequestContext) -> Any:
    return await _pin(ctx)


@routes("DELETE", "/channels/{channel_id}/messages/pins/{message_id}")
async def unpin_message(ctx: RequestContext) -> Any:
    return await _unpin(ctx)


@routes("GET", "/channels/{channel_id}/messages/pins")
async def list_pins(ctx: RequestContext) -> Any:
    """``{items: [{pinned_at, message}], has_more}``, most recently pinned first."""
    state = ctx.state
    channel = visible_channel(ctx)
    limit = _int_query(ctx, "limit", PINS_PAGE_MAX)
    if not 1 <= limit <= PINS_PAGE_MAX:
        raise invalid_form([Issue(("limit",), "NUMBER_TYPE_MAX", "Must be between 1 and 50.")])
    before = _before(ctx)
    if not channel.is_dm and not state.bot_can(channel, "read_message_history"):
        return {"items": [], "has_more": False}  # "no pins will be returned"
    pins = ctx.services.messages.pins(channel)
    if before is not None:
        pins = [m for m in pins if _micros(m.pinned_at) < before]
    page = pins[:limit]
    return {
        "items": [
            {
                "pinned_at": state.clock.iso(m.pinned_at),
                "message": ctx.services.messages.render(m),
            }
            for m in page
        ],
        "has_more": len(pins) > limit,
    }


# Deprecated routes (message.mdx "Pin Message (deprecated)" and friends) -----------------------


@routes("PUT", "/channels/{channel_id}/pins/{message_id}")
async def pin_message_deprecated(ctx: RequestContext) -> Any:
    return await _pin(ctx)


@routes("DELETE", "/channels/{channel_id}/pins/{message_id}")
async def unpin_message_deprecated(ctx: RequestContext) -> Any:
    return await _unpin(ctx)


@routes("GET", "/channels/{channel_id}/pins")
async def list_pins_deprecated(ctx: RequestContext) -> Any:
    """The first 50 pinned messages, as plain message objects."""
    channel = visible_channel(ctx)
    if not channel.is_dm and not ctx.state.bot_can(channel, "read_message_history"):
        return []
    pins = ctx.services.messages.pins(channel)[:PINS_PAGE_MAX]
    return [ctx.services.messages.render(m) for m in pins]


def _int_query(ctx: RequestContext, name: str, default: int) -> int:
    raw = ctx.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid_form(
            [Issue((name,), "NUMBER_TYPE_COERCE", f"Value {raw!r} is not int.")]
        ) from None


def _before(ctx: RequestContext) -> int | None:
    """``before`` as microseconds since the epoch (an ISO-8601 timestamp on the wire)."""
    raw = ctx.query.get("before")
    if raw is None:
        return None
    # A "+00:00" offset arrives as " 00:00" when the client did not percent-encode the plus.
    text = raw.replace(" ", "+")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise invalid_form(
            [Issue(("before",), "DATE_TIME_TYPE_PARSE", f"Could not parse {raw!r}.")]
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return _exact_micros(moment)


def _micros(seconds: float | None) -> int:
    """A stored moment in microseconds, exactly as the ISO-8601 rendering of it shows them.

    Computed through the same datetime the wire format is made from: rounding the float
    separately can differ by a microsecond, and then a pin's own `pinned_at`, passed back as
    `before`, would not exclude it.
    """
    return _exact_micros(dt.datetime.fromtimestamp(seconds or 0, dt.UTC))


def _exact_micros(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
