"""Interaction callback and interaction-webhook (follow-up, @original) routes."""

from __future__ import annotations

from typing import Any

from .routing import RequestContext, RouteTable
from .wire import json_response, no_content

routes = RouteTable()

_WEBHOOK = "/webhooks/{webhook_id}/{webhook_token}"


@routes(
    "POST", "/interactions/{webhook_id}/{webhook_token}/callback", auth="token", global_exempt=True
)
async def create_callback(ctx: RequestContext) -> Any:
    service = ctx.services.interactions
    record = service.record_for_callback(ctx.id("webhook_id"), ctx.params["webhook_token"])
    body = await ctx.body()
    payload = body.payload if isinstance(body.payload, dict) else {}
    result = service.callback(record, payload, body.files)
    # Discord answers 204 unless with_response is set; discord.py >= 2.5 always sets it and
    # needs the JSON (discord.md §1 "Callback response").
    if ctx.flag("with_response"):
        return json_response(result)
    return no_content()


@routes("POST", _WEBHOOK, auth="token", global_exempt=True)
async def execute_webhook(ctx: RequestContext) -> Any:
    service = ctx.services.interactions
    record = service.record_for_webhook(
        ctx.id("webhook_id"), ctx.params["webhook_token"], "follow-up"
    )
    body = await ctx.body()
    payload = body.payload if isinstance(body.payload, dict) else {}
    thread_id = ctx.query.get("thread_id")
    message = service.followup(
        record, payload, body.files, thread_id=int(thread_id) if thread_id else None
    )
    if not ctx.flag("wait"):
        return no_content()
    return ctx.services.messages.render(message)


def _target(ctx: RequestContext, action: str) -> Any:
    service = ctx.services.interactions
    record = service.record_for_webhook(ctx.id("webhook_id"), ctx.params["webhook_token"], action)
    if "message_id" in ctx.params:
        return service.owned_message(record, ctx.id("message_id"))
    return service.original(record)


@routes("GET", f"{_WEBHOOK}/messages/@original", auth="token", global_exempt=True)
async def get_original(ctx: RequestContext) -> Any:
    return ctx.services.messages.render(_target(ctx, "GET @original"))


@routes("PATCH", f"{_WEBHOOK}/messages/@original", auth="token", global_exempt=True)
async def edit_original(ctx: RequestContext) -> Any:
    message = _target(ctx, "PATCH @original")
    body = await ctx.body()
    payload = body.payload if isinstance(body.payload, dict) else {}
    edited = ctx.services.interactions.edit_owned(message, payload, body.files)
    return ctx.services.messages.render(edited)


@routes("DELETE", f"{_WEBHOOK}/messages/@original", auth="token", global_exempt=True)
async def delete_original(ctx: RequestContext) -> Any:
    ctx.services.messages.delete(_target(ctx, "DELETE @original"))
    return None


@routes("GET", f"{_WEBHOOK}/messages/{{message_id}}", auth="token", global_exempt=True)
async def get_webhook_message(ctx: RequestContext) -> Any:
    return ctx.services.messages.render(_target(ctx, "GET follow-up"))


@routes("PATCH", f"{_WEBHOOK}/messages/{{message_id}}", auth="token", global_exempt=True)
async def edit_webhook_message(ctx: RequestContext) -> Any:
    message = _target(ctx, "PATCH follow-up")
    body = await ctx.body()
    payload = body.payload if isinstance(body.payload, dict) else {}
    edited = ctx.services.interactions.edit_owned(message, payload, body.files)
    return ctx.services.messages.render(edited)


@routes("DELETE", f"{_WEBHOOK}/messages/{{message_id}}", auth="token", global_exempt=True)
async def delete_webhook_message(ctx: RequestContext) -> Any:
    ctx.services.messages.delete(_target(ctx, "DELETE follow-up"))
    return None
