"""Acting as Discord users: build INTERACTION_CREATE payloads the way the Discord client would.

Options are typed against the schema the bot actually synced, and anything a real client would
refuse to send (unknown option, missing required option, wrong type, a value outside choices or
min/max/length, a command the user cannot see) raises :class:`CommandInvocationError` in the test.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import time
from collections.abc import Iterator
from typing import Any

from . import payloads, permissions
from .cdn import Cdn, image_size, sniff_content_type
from .gateway import Gateway
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InteractionHandle,
    InteractionRecord,
    InteractionService,
)
from .messages import MessageService
from .models import (
    Attachment,
    Channel,
    CommandInvocationError,
    EmulatorError,
    Member,
    Message,
    Role,
    Upload,
    User,
)
from .state import EmulatorState

OPTION_TYPE_NAMES = {
    1: "subcommand",
    2: "subcommand group",
    3: "string",
    4: "integer",
    5: "boolean",
    6: "user",
    7: "channel",
    8: "role",
    9: "mentionable",
    10: "number",
    11: "attachment",
}
MAX_SAFE_INTEGER = 2**53


class Driver:
    def __init__(
        self,
        state: EmulatorState,
        cdn: Cdn,
        gateway: Gateway,
        messages: MessageService,
        interactions: InteractionService,
    ) -> None:
        self._state = state
        self._cdn = cdn
        self._gateway = gateway
        self._messages = messages
        self._interactions = interactions
        # Interactions built inside ``at_once`` and not yet sent.
        self._held: list[InteractionRecord] | None = None

    # Common payload -------------------------------------------------------------------------------

    def _dispatch(
        self,
        kind: int,
        user: User,
        channel: Channel,
        data: dict[str, Any],
        label: str,
        *,
        locale: str = "en-US",
        message: Message | None = None,
        focused_type: int | None = None,
        source_message_id: int | None = None,
    ) -> InteractionHandle:
        state = self._state
        guild_id = None if channel.is_dm else state.guild.id
        if self._gateway.session_for_guild(guild_id) is None:
            raise EmulatorError(
                "the bot has no gateway session, so Discord could not deliver this interaction"
            )
        guild = None if channel.is_dm else state.guild
        member = guild.member(user.id) if guild else None
        if guild is not None and member is None:
            raise CommandInvocationError(
                f"{user.username} is not a member of the guild; use emu.dm_channel(user)"
            )
        interaction_id = state.ids.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96)
        user_permissions = state.permissions_for(user, channel)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(state.application_id),
            "type": kind,
            "data": data,
            "token": token,
            "version": 1,
            "channel": payloads.channel(state, channel, permissions=user_permissions),
            "channel_id": str(channel.id),
            "app_permissions": str(state.bot_permissions(channel)),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "locale": locale,
            "attachment_size_limit": state.options.attachment_size_limit,
            "context": 1 if channel.is_dm else 0,
        }
        if guild is not None and member is not None:
            payload["guild_id"] = str(guild.id)
            payload["guild"] = {
                "id": str(guild.id),
                "locale": guild.locale,
                "features": guild.features,
            }
            payload["guild_locale"] = guild.locale
            payload["member"] = payloads.member(state, member, permissions=user_permissions)
            payload["authorizing_integration_owners"] = {"0": str(guild.id)}
        else:
            payload["user"] = payloads.user(user)
            payload["authorizing_integration_owners"] = {"0": "0"}
        if message is not None:
            payload["message"] = self._messages.render(message)
        record = InteractionRecord(
            id=interaction_id,
            token=token,
            type=kind,
            user_id=user.id,
            channel_id=channel.id,
            guild_id=guild.id if guild else None,
            label=label,
            payload=payload,
            dispatched_at=time.monotonic(),
            created_at=state.clock.now(),
            source_message_id=source_message_id,
            focused_type=focused_type,
        )
        if self._held is not None:
            self._held.append(record)
        else:
            self._send(record)
        return InteractionHandle(state, record)

    def _send(self, record: InteractionRecord) -> None:
        self._interactions.register(record)
        self._gateway.dispatch("INTERACTION_CREATE", record.payload)

    @contextlib.contextmanager
    def at_once(self) -> Iterator[None]:
        """Hold the interactions dispatched in the block, then send them all at one instant.

        Building many payloads takes the emulator a while; without this the first would wait
        for the last to be built, and their 3 seconds would start at different times.
        """
        if self._held is not None:
            raise EmulatorError("at_once() blocks do not nest")
        held: list[InteractionRecord] = []
        self._held = held
        try:
            yield
        finally:
            self._held = None
        now = time.monotonic()
        for record in held:
            record.dispatched_at = now
            self._send(record)

    def _channel(self, channel: Channel | int | str | None) -> Channel:
        if channel is None:
            return self._state.resolve_channel("general")
        return self._state.resolve_channel(channel)

    # Slash commands -------------------------------------------------------------------------------

    def _find_command(
        self, path: str, user: User, channel: Channel
    ) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
        """The synced command, the subcommand names below it, and the leaf's option schemas."""
        state = self._state
        parts = path.strip().lstrip("/").split()
        if not parts:
            raise CommandInvocationError("empty command path")
        scopes: list[int | None] = [None] if channel.is_dm else [state.guild.id, None]
        command = None
        for scope in scopes:
            for candidate in state.commands.get(scope, []):
                if candidate["name"] == parts[0] and candidate.get("type", 1) == 1:
                    command = candidate
                    break
            if command is not None:
                break
        if command is None:
            synced = sorted({c["name"] for scope in scopes for c in state.commands.get(scope, [])})
            raise CommandInvocationError(f"no slash command /{parts[0]} is synced (have {synced})")
        self._check_visible(command, user, channel)
        schemas: list[dict[str, Any]] = command.get("options") or []
        for part in parts[1:]:
            sub = next((o for o in schemas if o["name"] == part and o["type"] in (1, 2)), None)
            if sub is None:
                names = [o["name"] for o in schemas if o["type"] in (1, 2)]
                raise CommandInvocationError(f"/{path}: no subcommand {part!r} (have {names})")
            schemas = sub.get("options") or []
        if any(o["type"] in (1, 2) for o in schemas):
            names = [o["name"] for o in schemas]
            raise CommandInvocationError(f"/{path} is a group; name a subcommand from {names}")
        return command, parts[1:], schemas

    def _check_visible(self, command: dict[str, Any], user: User, channel: Channel) -> None:
        contexts = command.get("contexts")
        context = 1 if channel.is_dm else 0
        if contexts is not None and context not in contexts:
            where = "DMs" if channel.is_dm else "servers"
            raise CommandInvocationError(f"/{command['name']} is not available in {where}")
        if channel.is_dm and contexts is None and command.get("dm_permission") is False:
            raise CommandInvocationError(f"/{command['name']} is not available in DMs")
        required = command.get("default_member_permissions")
        if required is not None and not channel.is_dm:
            needed = int(required)
            have = self._state.permissions_for(user, channel)
            hidden = needed == 0 or have & needed != needed
            if hidden and have != permissions.ALL_PERMISSIONS:
                raise CommandInvocationError(
                    f"{user.username} cannot see /{command['name']}: it needs "
                    f"{permissions.names_of(needed) or 'administrator'}"
                )

    @staticmethod
    def _nest(command: dict[str, Any], subpath: list[str], options: list[dict[str, Any]]) -> Any:
        """Wrap leaf options in their subcommand (and group) layers."""
        schemas = command.get("options") or []
        layers = []
        for name in subpath:
            sub = next(o for o in schemas if o["name"] == name)
            layers.append(sub)
            schemas = sub.get("options") or []
        for layer in reversed(layers):
            options = [{"name": layer["name"], "type": layer["type"], "options": options}]
        return options

    async def slash(
        self,
        user: User | Member | str | int,
        command: str,
        *,
        channel: Channel | int | str | None = None,
        options: dict[str, Any] | None = None,
        locale: str = "en-US",
        **kwargs: Any,
    ) -> InteractionHandle:
        invoker = self._state.resolve_user(user)
        where = self._channel(channel)
        values = {**(options or {}), **kwargs}
        found, subpath, schemas = self._find_command(command, invoker, where)
        resolved: dict[str, dict[str, Any]] = {}
        typed = self._typed_options(
            schemas, values, resolved=resolved, user=invoker, channel=where, path=command
        )
        data: dict[str, Any] = {
            "id": found["id"],
            "name": found["name"],
            "type": 1,
            "options": self._nest(found, subpath, typed),
        }
        if found.get("guild_id"):
            data["guild_id"] = found["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return self._dispatch(
            APPLICATION_COMMAND, invoker, where, data, f"/{command.strip()}", locale=locale
        )

    async def autocomplete(
        self,
        user: User | Member | str | int,
        command: str,
        option: str,
        value: str,
        *,
        channel: Channel | int | str | None = None,
        timeout: float = 5,
        locale: str = "en-US",
        **others: Any,
    ) -> list[dict[str, Any]]:
        if self._held is not None:
            raise EmulatorError("autocomplete waits for its answer, so not inside at_once()")
        invoker = self._state.resolve_user(user)
        where = self._channel(channel)
        found, subpath, schemas = self._find_command(command, invoker, where)
        focused = next((s for s in schemas if s["name"] == option), None)
        if focused is None:
            raise CommandInvocationError(f"/{command} has no option {option!r}")
        if not focused.get("autocomplete"):
            raise CommandInvocationError(f"/{command} option {option!r} has no autocomplete")
        partial = self._typed_options(
            [s for s in schemas if s["name"] != option and s["type"] != 11],
            others,
            resolved=None,
            user=invoker,
            channel=where,
            path=command,
            partial=True,
        )
        by_name = {o["name"]: o for o in partial}
        by_name[option] = {"name": option, "type": focused["type"], "value": value, "focused": True}
        ordered = [by_name[s["name"]] for s in schemas if s["name"] in by_name]
        data: dict[str, Any] = {
            "id": found["id"],
            "name": found["name"],
            "type": 1,
            "options": self._nest(found, subpath, ordered),
        }
        if found.get("guild_id"):
            data["guild_id"] = found["guild_id"]
        handle = self._dispatch(
            AUTOCOMPLETE,
            invoker,
            where,
            data,
            f"autocomplete /{command.strip()} {option}={value!r}",
            locale=locale,
            focused_type=focused["type"],
        )
        ack = await handle.wait_ack(timeout)
        if ack != 8 or handle.choices is None:
            raise EmulatorError(f"autocomplete was answered with callback type {ack}")
        return handle.choices

    def _typed_options(
        self,
        schemas: list[dict[str, Any]],
        values: dict[str, Any],
        *,
        resolved: dict[str, dict[str, Any]] | None,
        user: User,
        channel: Channel,
        path: str,
        partial: bool = False,
    ) -> list[dict[str, Any]]:
        names = {s["name"] for s in schemas}
        unknown = sorted(set(values) - names)
        if unknown:
            raise CommandInvocationError(
                f"/{path}: unknown option(s) {unknown} (have {sorted(names)})"
            )
        typed = []
        for schema in schemas:
            name = schema["name"]
            raw = values.get(name)
            if raw is None:
                if schema.get("required") and not partial:
                    raise CommandInvocationError(f"/{path}: missing required option {name!r}")
                continue
            value = self._convert(schema, raw, resolved, user, channel, f"/{path} {name}")
            typed.append({"name": name, "type": schema["type"], "value": value})
        return typed

    def _convert(
        self,
        schema: dict[str, Any],
        raw: Any,
        resolved: dict[str, dict[str, Any]] | None,
        user: User,
        channel: Channel,
        where: str,
    ) -> Any:
        kind = schema["type"]
        kind_name = OPTION_TYPE_NAMES.get(kind, str(kind))

        def wrong() -> CommandInvocationError:
            return CommandInvocationError(f"{where}: {raw!r} is not a valid {kind_name}")

        if kind == 3:
            if not isinstance(raw, str) or not raw:
                raise wrong()
            lo, hi = schema.get("min_length"), schema.get("max_length")
            if (lo is not None and len(raw) < lo) or len(raw) > (hi if hi is not None else 6000):
                raise CommandInvocationError(f"{where}: length {len(raw)} outside [{lo}, {hi}]")
            self._check_choice(schema, raw, where)
            return raw
        if kind in (4, 10):
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                raise wrong()
            if kind == 4 and (not float(raw).is_integer() or abs(raw) > MAX_SAFE_INTEGER):
                raise wrong()
            if kind == 10 and not math.isfinite(raw):
                raise wrong()
            lo, hi = schema.get("min_value"), schema.get("max_value")
            if (lo is not None and raw < lo) or (hi is not None and raw > hi):
                raise CommandInvocationError(f"{where}: {raw} outside [{lo}, {hi}]")
            self._check_choice(schema, raw, where)
            return int(raw) if kind == 4 else raw
        if kind == 5:
            if not isinstance(raw, bool):
                raise wrong()
            return raw
        if kind == 11:
            if resolved is None:
                raise wrong()
            return self._upload(raw, resolved, channel, where)
        return self._snowflake_option(kind, raw, resolved, user, channel, schema, where)

    @staticmethod
    def _check_choice(schema: dict[str, Any], value: Any, where: str) -> None:
        choices = schema.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            allowed = [c["value"] for c in choices]
            raise CommandInvocationError(f"{where}: {value!r} is not one of the choices {allowed}")

    def _snowflake_option(
        self,
        kind: int,
        raw: Any,
        resolved: dict[str, dict[str, Any]] | None,
        user: User,
        channel: Channel,
        schema: dict[str, Any],
        where: str,
    ) -> str:
        """User, role, mentionable and channel options: an id value plus ``resolved`` data."""
        state = self._state
        wrong = CommandInvocationError(
            f"{where}: {raw!r} is not a valid {OPTION_TYPE_NAMES.get(kind, kind)}"
        )
        if kind in (6, 9) and not isinstance(raw, Role):
            target = self._user_or_none(raw)
            if target is not None:
                if resolved is not None:
                    self._resolve_user(resolved, target, channel)
                return str(target.id)
            if kind == 6:
                raise wrong
        if kind in (8, 9):
            role = self._role(raw)
            if role is None:
                raise wrong
            if resolved is not None:
                resolved.setdefault("roles", {})[str(role.id)] = payloads.role(role)
            return str(role.id)
        if kind == 7:
            try:
                target_channel = state.resolve_channel(raw)
            except EmulatorError:
                raise wrong from None
            allowed_types = schema.get("channel_types")
            if allowed_types and target_channel.type not in allowed_types:
                raise CommandInvocationError(
                    f"{where}: channel type {target_channel.type} not in {allowed_types}"
                )
            if resolved is not None:
                resolved.setdefault("channels", {})[str(target_channel.id)] = payloads.channel(
                    state, target_channel, permissions=state.permissions_for(user, target_channel)
                )
            return str(target_channel.id)
        raise wrong

    def _user_or_none(self, raw: Any) -> User | None:
        if isinstance(raw, Channel):
            return None
        try:
            return self._state.resolve_user(raw)
        except (EmulatorError, TypeError, ValueError):
            return None

    def _resolve_user(
        self, resolved: dict[str, dict[str, Any]], target: User, channel: Channel
    ) -> None:
        state = self._state
        resolved.setdefault("users", {})[str(target.id)] = payloads.user(target)
        member = None if channel.is_dm else state.guild.member(target.id)
        if member is not None:
            resolved.setdefault("members", {})[str(target.id)] = payloads.member(
                state, member, with_user=False, permissions=state.permissions_for(target, channel)
            )

    def _role(self, raw: Any) -> Role | None:
        guild = self._state.guild
        if isinstance(raw, Role):
            return raw
        if isinstance(raw, str) and not raw.isdigit():
            return next((r for r in guild.roles if r.name == raw), None)
        try:
            return guild.role(int(raw))
        except (TypeError, ValueError):
            return None

    def _upload(
        self, raw: Any, resolved: dict[str, dict[str, Any]], channel: Channel, where: str
    ) -> str:
        if isinstance(raw, (bytes, bytearray, memoryview)):
            upload = Upload("image.png", bytes(raw))
        elif isinstance(raw, Upload):
            upload = raw
        else:
            raise CommandInvocationError(f"{where}: attachments are bytes or Upload, not {raw!r}")
        # attachment_size_limit bounds what the *app* may upload; a user's own limit is set by
        # their plan (up to 500 MiB with Nitro), so big files do reach the bot.
        limit = self._state.options.user_upload_limit
        if len(upload.data) > limit:
            raise CommandInvocationError(
                f"{where}: {len(upload.data)} bytes is over the user's {limit}-byte upload "
                "limit; the Discord client refuses such files"
            )
        content_type = upload.content_type or sniff_content_type(upload.data, upload.filename)
        width, height = image_size(upload.data, content_type)
        attachment = self._cdn.store(
            Attachment(
                id=self._state.ids.next(),
                channel_id=channel.id,
                filename=upload.filename,
                content_type=content_type,
                data=upload.data,
                width=width,
                height=height,
                ephemeral=True,
            )
        )
        resolved.setdefault("attachments", {})[str(attachment.id)] = payloads.attachment(
            self._cdn, attachment
        )
        return str(attachment.id)

    # Components and modals ------------------------------------------------------------------------

    def _message(self, message: Message | int) -> Message:
        found = self._state.messages.get(message.id if isinstance(message, Message) else message)
        if found is None or found.deleted:
            raise CommandInvocationError(f"message {message!r} does not exist (or was deleted)")
        return found

    def _check_can_see(self, user: User, message: Message) -> Channel:
        channel = self._state.channel(message.channel_id)
        if message.ephemeral:
            record = self._state.interactions.get(message.interaction_id or 0)
            if record is None or record.user_id != user.id:
                raise CommandInvocationError(
                    f"{user.username} cannot see ephemeral message {message.id}"
                )
        return channel

    async def click(
        self, user: User | Member | str | int, message: Message | int, custom_id: str
    ) -> InteractionHandle:
        invoker = self._state.resolve_user(user)
        target = self._message(message)
        channel = self._check_can_see(invoker, target)
        component = self._component(target, custom_id)
        if component.get("type") != 2:
            raise CommandInvocationError(f"{custom_id!r} is not a button; use emu.select()")
        if component.get("style") in (5, 6):
            raise CommandInvocationError(f"{custom_id!r} is a link/premium button: no interaction")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": 2}
        if "id" in component:
            data["id"] = component["id"]
        return self._dispatch(
            MESSAGE_COMPONENT,
            invoker,
            channel,
            data,
            f"button {custom_id!r}",
            message=target,
            source_message_id=target.id,
        )

    async def select(
        self,
        user: User | Member | str | int,
        message: Message | int,
        custom_id: str,
        values: list[Any],
    ) -> InteractionHandle:
        invoker = self._state.resolve_user(user)
        target = self._message(message)
        channel = self._check_can_see(invoker, target)
        component = self._component(target, custom_id)
        kind = component.get("type")
        if kind not in (3, 5, 6, 7, 8):
            raise CommandInvocationError(f"{custom_id!r} is not a select menu")
        values = list(values)
        low, high = component.get("min_values", 1), component.get("max_values", 1)
        if not low <= len(values) <= high:
            raise CommandInvocationError(f"select {custom_id!r} takes {low}-{high} values")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": kind}
        if kind == 3:
            allowed = [o["value"] for o in component.get("options") or []]
            bad = [v for v in values if v not in allowed]
            if bad:
                raise CommandInvocationError(f"select {custom_id!r}: {bad} not in {allowed}")
            data["values"] = values
        else:
            resolved: dict[str, dict[str, Any]] = {}
            option_kind = {5: 6, 6: 8, 7: 9, 8: 7}[kind]
            schema = {"type": option_kind, "channel_types": component.get("channel_types")}
            data["values"] = [
                self._convert(schema, v, resolved, invoker, channel, f"select {custom_id}")
                for v in values
            ]
            data["resolved"] = resolved
        return self._dispatch(
            MESSAGE_COMPONENT,
            invoker,
            channel,
            data,
            f"select {custom_id!r}",
            message=target,
            source_message_id=target.id,
        )

    @staticmethod
    def _component(message: Message, custom_id: str) -> dict[str, Any]:
        component = message.component(custom_id)
        if component is None:
            have = [b["custom_id"] for b in message.buttons()]
            raise CommandInvocationError(
                f"message {message.id} has no component {custom_id!r} (buttons: {have})"
            )
        if component.get("disabled"):
            raise CommandInvocationError(f"component {custom_id!r} is disabled")
        return component

    async def submit_modal(
        self,
        user: User | Member | str | int,
        custom_id: str,
        values: dict[str, Any],
        *,
        message: Message | int | None = None,
    ) -> InteractionHandle:
        invoker = self._state.resolve_user(user)
        shown = [
            r
            for r in self._state.interactions.values()
            if r.modal is not None
            and r.modal.get("custom_id") == custom_id
            and r.user_id == invoker.id
        ]
        if not shown:
            raise CommandInvocationError(f"no modal {custom_id!r} was shown to {invoker.username}")
        record = shown[-1]
        assert record.modal is not None
        remaining = dict(values)
        components = [
            self._modal_component(c, remaining, custom_id) for c in record.modal["components"]
        ]
        if remaining:
            raise CommandInvocationError(f"modal {custom_id!r} has no fields {sorted(remaining)}")
        data = {"custom_id": custom_id, "components": [c for c in components if c is not None]}
        source_id = record.source_message_id
        target = self._message(message) if message is not None else None
        if target is None and source_id is not None:
            target = self._state.messages.get(source_id)
        return self._dispatch(
            MODAL_SUBMIT,
            invoker,
            self._state.channel(record.channel_id),
            data,
            f"modal {custom_id!r}",
            message=target,
            source_message_id=target.id if target else None,
        )

    def _modal_component(
        self, component: dict[str, Any], values: dict[str, Any], modal_id: str
    ) -> dict[str, Any] | None:
        kind = component.get("type")
        if kind == 1:
            return {
                "type": 1,
                "components": [
                    self._modal_field(c, values, modal_id) for c in component.get("components", [])
                ],
            }
        if kind == 18:
            inner = self._modal_field(component["component"], values, modal_id)
            result = {"type": 18, "component": inner}
            if "id" in component:
                result["id"] = component["id"]
            return result
        return None  # text displays and the like carry no input

    @staticmethod
    def _modal_field(
        field: dict[str, Any], values: dict[str, Any], modal_id: str
    ) -> dict[str, Any]:
        custom_id = field.get("custom_id", "")
        value = values.pop(custom_id, None)
        result: dict[str, Any] = {"type": field.get("type"), "custom_id": custom_id}
        if "id" in field:
            result["id"] = field["id"]
        if field.get("type") == 4:
            text = "" if value is None else str(value)
            if field.get("required", True) and not text:
                raise CommandInvocationError(f"modal {modal_id!r}: {custom_id!r} is required")
            low, high = field.get("min_length"), field.get("max_length")
            if text and ((low and len(text) < low) or (high and len(text) > high)):
                raise CommandInvocationError(
                    f"modal {modal_id!r}: {custom_id!r} length {len(text)} outside [{low}, {high}]"
                )
            result["value"] = text
        else:
            result["values"] = list(value or [])
        return result
