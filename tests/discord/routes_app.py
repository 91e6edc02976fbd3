"""Login, gateway discovery, application commands, guild look-ups and attachment URL refresh."""

from __future__ import annotations

import copy
import time
from typing import Any

from . import payloads, rules
from .errors import ApiError, Issue, invalid_form, max_length, missing_access, unknown_command
from .routing import RequestContext, RouteTable
from .state import SyncRequest
from .wire import json_response

routes = RouteTable()

_APP_COMMANDS = "/applications/{application_id}/commands"
_GUILD_COMMANDS = "/applications/{application_id}/guilds/{guild_id}/commands"


@routes("GET", "/users/@me")
async def get_me(ctx: RequestContext) -> Any:
    return {
        **payloads.user(ctx.state.bot_user),
        "verified": True,
        "mfa_enabled": False,
        "email": None,
        "locale": "en-US",
    }


@routes("GET", "/users/{user_id}")
async def get_user(ctx: RequestContext) -> Any:
    user = ctx.state.users.get(ctx.id("user_id"))
    if user is None:
        raise ApiError(404, 10013, "Unknown User")
    return payloads.user(user)


@routes("POST", "/users/@me/channels")
async def create_dm(ctx: RequestContext) -> Any:
    payload = await ctx.json_object()
    user = ctx.state.users.get(int(payload.get("recipient_id") or 0))
    if user is None:
        raise ApiError(404, 10013, "Unknown User")
    return payloads.channel(ctx.state, ctx.state.dm_channel(user))


def _application(ctx: RequestContext) -> dict[str, Any]:
    state = ctx.state
    owner = state.users_by_name["owner"]
    return {
        "id": str(state.application_id),
        "name": state.options.bot_name,
        "icon": None,
        "description": "Loopback Discord emulator application",
        "summary": "",
        "type": None,
        "hook": True,
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "owner": payloads.user(owner),
        "team": None,
        "flags": 0,
        "tags": [],
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "install_params": {
            "scopes": ["bot", "applications.commands"],
            "permissions": str(state.options.bot_permissions),
        },
        "integration_types_config": {"0": {}},
        "approximate_guild_count": 1,
        "bot": payloads.user(state.bot_user),
    }


@routes("GET", "/oauth2/applications/@me")
async def get_oauth_application(ctx: RequestContext) -> Any:
    return _application(ctx)


@routes("GET", "/applications/@me")
async def get_application(ctx: RequestContext) -> Any:
    return _application(ctx)


@routes("GET", "/gateway")
async def get_gateway(ctx: RequestContext) -> Any:
    return {"url": ctx.services.gateway.url}


@routes("GET", "/gateway/bot")
async def get_gateway_bot(ctx: RequestContext) -> Any:
    used = ctx.state.stats["identifies"]
    return {
        "url": ctx.services.gateway.url,
        "shards": ctx.state.options.recommended_shards,
        "session_start_limit": {
            "total": 1000,
            "remaining": max(1000 - used, 0),
            "reset_after": 86_400_000,
            "max_concurrency": ctx.state.options.max_concurrency,
        },
    }


# Application commands -----------------------------------------------------------------------------


def _scope(ctx: RequestContext) -> int | None:
    state = ctx.state
    if ctx.id("application_id") != state.application_id:
        raise missing_access("commands of another application")
    if "guild_id" not in ctx.params:
        return None
    guild_id = ctx.id("guild_id")
    if guild_id != state.guild.id:
        raise missing_access(f"the bot is not in guild {guild_id}")
    return guild_id


def _store_command(
    ctx: RequestContext, scope: int | None, command: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any]:
    """What Discord keeps: the payload plus id, application_id, version (and guild_id)."""
    state = ctx.state
    stored = copy.deepcopy(command)
    stored.setdefault("type", 1)
    stored.setdefault("description", "")
    stored.setdefault("default_member_permissions", None)
    stored.setdefault("nsfw", False)
    stored.setdefault("options", [])
    stored["id"] = existing["id"] if existing else str(state.ids.next())
    stored["application_id"] = str(state.application_id)
    if scope is not None:
        stored["guild_id"] = str(scope)
    comparable = {k: v for k, v in stored.items() if k != "version"}
    previous = {k: v for k, v in (existing or {}).items() if k != "version"}
    if existing and comparable == previous:
        stored["version"] = existing["version"]
    else:
        stored["version"] = str(state.ids.next())
    return stored


def _find(commands: list[dict[str, Any]], command: dict[str, Any]) -> dict[str, Any] | None:
    kind = command.get("type", 1)
    for existing in commands:
        if existing["name"] == command.get("name") and existing.get("type", 1) == kind:
            return existing
    return None


@routes("GET", _APP_COMMANDS)
@routes("GET", _GUILD_COMMANDS)
async def list_commands(ctx: RequestContext) -> Any:
    return ctx.state.commands.get(_scope(ctx), [])


@routes("PUT", _APP_COMMANDS)
@routes("PUT", _GUILD_COMMANDS)
async def bulk_overwrite_commands(ctx: RequestContext) -> Any:
    state = ctx.state
    scope = _scope(ctx)
    payload = await ctx.json()
    state.sync_requests.append(SyncRequest(ctx.path, payload, time.monotonic()))
    state.stats["command_syncs"] += 1
    state.notify()
    issues = rules.command_list_issues(payload)
    if issues:
        raise invalid_form(issues)
    current = state.commands.get(scope, [])
    state.commands[scope] = [_store_command(ctx, scope, c, _find(current, c)) for c in payload]
    state.notify()
    return state.commands[scope]


@routes("POST", _APP_COMMANDS)
@routes("POST", _GUILD_COMMANDS)
async def upsert_command(ctx: RequestContext) -> Any:
    state = ctx.state
    scope = _scope(ctx)
    command = await ctx.json_object()
    issues = rules.command_issues(command)
    if issues:
        raise invalid_form(issues)
    commands = state.commands.setdefault(scope, [])
    existing = _find(commands, command)
    stored = _store_command(ctx, scope, command, existing)
    if existing is not None:
        commands[commands.index(existing)] = stored
    else:
        commands.append(stored)
    state.notify()
    return json_response(stored, status=200 if existing else 201)


def _command(ctx: RequestContext) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    commands = ctx.state.commands.get(_scope(ctx), [])
    wanted = ctx.params["command_id"]
    for command in commands:
        if command["id"] == wanted:
            return commands, command
    raise unknown_command()


@routes("GET", f"{_APP_COMMANDS}/{{command_id}}")
@routes("GET", f"{_GUILD_COMMANDS}/{{command_id}}")
async def get_command(ctx: RequestContext) -> Any:
    return _command(ctx)[1]


@routes("PATCH", f"{_APP_COMMANDS}/{{command_id}}")
@routes("PATCH", f"{_GUILD_COMMANDS}/{{command_id}}")
async def edit_command(ctx: RequestContext) -> Any:
    commands, command = _command(ctx)
    changes = await ctx.json_object()
    merged = {**command, **changes}
    issues = rules.command_issues(merged)
    if issues:
        raise invalid_form(issues)
    stored = _store_command(ctx, _scope(ctx), merged, command)
    commands[commands.index(command)] = stored
    ctx.state.notify()
    return stored


@routes("DELETE", f"{_APP_COMMANDS}/{{command_id}}")
@routes("DELETE", f"{_GUILD_COMMANDS}/{{command_id}}")
async def delete_command(ctx: RequestContext) -> Any:
    commands, command = _command(ctx)
    commands.remove(command)
    ctx.state.notify()
    return None


# Guild look-ups -----------------------------------------------------------------------------------


def _guild(ctx: RequestContext) -> None:
    if ctx.id("guild_id") != ctx.state.guild.id:
        raise ApiError(404, 10004, "Unknown Guild")


@routes("GET", "/guilds/{guild_id}")
async def get_guild(ctx: RequestContext) -> Any:
    _guild(ctx)
    data = payloads.guild(ctx.state, members=[], for_gateway=False)
    if ctx.flag("with_counts"):
        data["approximate_member_count"] = len(ctx.state.guild.members)
        data["approximate_presence_count"] = 0
    return data


@routes("GET", "/guilds/{guild_id}/roles")
async def get_roles(ctx: RequestContext) -> Any:
    _guild(ctx)
    return [payloads.role(r) for r in ctx.state.guild.roles]


@routes("GET", "/guilds/{guild_id}/channels")
async def get_channels(ctx: RequestContext) -> Any:
    _guild(ctx)
    return [payloads.channel(ctx.state, c) for c in ctx.state.guild.channels]


@routes("GET", "/guilds/{guild_id}/members/{user_id}")
async def get_member(ctx: RequestContext) -> Any:
    _guild(ctx)
    member = ctx.state.guild.member(ctx.id("user_id"))
    if member is None:
        raise ApiError(404, 10007, "Unknown Member")
    return payloads.member(ctx.state, member)


@routes("GET", "/guilds/{guild_id}/members")
async def list_members(ctx: RequestContext) -> Any:
    _guild(ctx)
    if "members" not in ctx.state.options.privileged_intents:
        raise missing_access("listing members needs the privileged GUILD_MEMBERS intent enabled")
    limit = int(ctx.query.get("limit", 1))
    after = int(ctx.query.get("after", 0))
    members = sorted(ctx.state.guild.members, key=lambda m: m.user.id)
    return [payloads.member(ctx.state, m) for m in members if m.user.id > after][:limit]


# Attachments --------------------------------------------------------------------------------------


@routes("POST", "/attachments/refresh-urls")
async def refresh_urls(ctx: RequestContext) -> Any:
    payload = await ctx.json_object()
    urls = payload.get("attachment_urls")
    if not isinstance(urls, list) or not urls:
        raise invalid_form(
            [Issue(("attachment_urls",), "BASE_TYPE_REQUIRED", "This field is required")]
        )
    if len(urls) > 50:
        raise invalid_form([max_length(("attachment_urls",), 50, len(urls))])
    refreshed = []
    for url in urls:
        new = ctx.services.cdn.refresh(str(url))
        if new is not None:
            refreshed.append({"original": url, "refreshed": new})
    return {"refreshed_urls": refreshed}
