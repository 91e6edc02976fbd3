"""The interaction state machine: deadline, single acknowledgement, token lifetime, follow-ups.

Server side, :class:`InteractionService` answers the callback and webhook routes the way Discord
does (receiving-and-responding.mdx): the first callback must arrive within ``ack_deadline``
seconds of real time or the interaction is gone (404 10062); a second one is 400 40060; the token
works for 15 minutes of emulator time (then 401 50027); and the first follow-up after a deferred
"thinking" response edits that loading message instead of posting a new one.

Test side, :class:`InteractionHandle` lets a test wait for what the user would see.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from . import payloads, rules
from .errors import (
    Issue,
    already_acknowledged,
    invalid_form,
    invalid_webhook_token,
    unknown_interaction,
    unknown_message,
    unknown_webhook,
)
from .messages import MessageService
from .models import FLAG_EPHEMERAL, FLAG_LOADING, EmulatorError, Message
from .state import EmulatorState
from .wire import UploadedFile

APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

KIND_NAMES = {
    APPLICATION_COMMAND: "application command",
    MESSAGE_COMPONENT: "component",
    AUTOCOMPLETE: "autocomplete",
    MODAL_SUBMIT: "modal submit",
}

# Callback types each interaction type accepts (interaction-response-object docs).
ALLOWED_CALLBACKS = {
    APPLICATION_COMMAND: {4, 5, 9},
    MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
    AUTOCOMPLETE: {8},
    MODAL_SUBMIT: {4, 5, 6, 7},
}
CALLBACK_NAMES = {
    4: "CHANNEL_MESSAGE_WITH_SOURCE",
    5: "DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE",
    6: "DEFERRED_UPDATE_MESSAGE",
    7: "UPDATE_MESSAGE",
    8: "APPLICATION_COMMAND_AUTOCOMPLETE_RESULT",
    9: "MODAL",
}


@dataclass
class InteractionRecord:
    id: int
    token: str
    type: int
    user_id: int
    channel_id: int
    guild_id: int | None
    label: str  # how violations name it: "/character create", "button 'reroll:1'"
    payload: dict[str, Any]
    dispatched_at: float  # time.monotonic()
    created_at: float  # emulator clock, for the 15-minute token
    source_message_id: int | None = None  # the message a component (or its modal) came from
    focused_type: int | None = None  # the option type of an autocomplete's focused option
    ack_type: int | None = None
    acked_at: float | None = None
    original_message_id: int | None = None
    source_edits_at_ack: int = 0
    followup_ids: list[int] = field(default_factory=list)
    choices: list[dict[str, Any]] | None = None
    modal: dict[str, Any] | None = None
    timed_out: bool = False
    timer: asyncio.TimerHandle | None = None

    @property
    def kind(self) -> str:
        return KIND_NAMES.get(self.type, str(self.type))


class InteractionService:
    def __init__(self, state: EmulatorState, messages: MessageService) -> None:
        self._state = state
        self._messages = messages
        self._by_token: dict[str, InteractionRecord] = {}

    def register(self, record: InteractionRecord) -> None:
        state = self._state
        state.interactions[record.id] = record
        self._by_token[record.token] = record
        state.stats["interactions"] += 1
        loop = asyncio.get_running_loop()
        record.timer = loop.call_later(state.options.ack_deadline, self._deadline_passed, record)

    def _deadline_passed(self, record: InteractionRecord) -> None:
        if record.ack_type is None:
            record.timed_out = True
            self._state.violation(
                f"{record.label}: not acknowledged within {self._state.options.ack_deadline}s "
                "(the user sees 'The application did not respond')"
            )

    def cancel_timers(self) -> None:
        for record in self._state.interactions.values():
            if record.timer is not None:
                record.timer.cancel()

    # Callback -------------------------------------------------------------------------------------

    def record_for_callback(self, interaction_id: int, token: str) -> InteractionRecord:
        record = self._state.interactions.get(interaction_id)
        if record is None or record.token != token:
            raise unknown_interaction(detail=f"no interaction {interaction_id} with that token")
        return record

    def callback(
        self, record: InteractionRecord, payload: dict[str, Any], files: list[UploadedFile]
    ) -> dict[str, Any]:
        state = self._state
        callback_type = payload.get("type")
        state.stats["callbacks"] += 1
        if record.ack_type is not None:
            raise already_acknowledged(
                detail=f"{record.label}: second callback (type {callback_type}) after type "
                f"{record.ack_type} {CALLBACK_NAMES.get(record.ack_type, '')}"
            )
        elapsed = time.monotonic() - record.dispatched_at
        if elapsed > state.options.ack_deadline:
            raise unknown_interaction(
                detail=f"{record.label}: first callback after {elapsed:.2f}s, past the "
                f"{state.options.ack_deadline}s deadline"
            )
        allowed = set(ALLOWED_CALLBACKS[record.type])
        if record.type == MODAL_SUBMIT and record.source_message_id is None:
            allowed -= {6, 7}  # only a modal opened from a message component can update it
        if callback_type not in allowed:
            raise invalid_form(
                [
                    Issue(
                        ("type",),
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        f"{record.label}: callback type {callback_type} is not valid for a "
                        f"{record.kind} interaction (allowed: {sorted(allowed)})",
                    )
                ]
            )
        data = payload.get("data") or {}
        message = self._apply_callback(record, callback_type, data, files)
        record.ack_type = callback_type
        record.acked_at = time.monotonic()
        if record.timer is not None:
            record.timer.cancel()
        state.notify()

        interaction: dict[str, Any] = {"id": str(record.id), "type": record.type}
        resource: dict[str, Any] = {"type": callback_type}
        if message is not None and callback_type in (4, 5, 7):
            interaction["response_message_id"] = str(message.id)
            interaction["response_message_loading"] = message.loading
            interaction["response_message_ephemeral"] = message.ephemeral
            resource["message"] = self._messages.render(message)
        return {"interaction": interaction, "resource": resource}

    def _channel_of(self, record: InteractionRecord) -> Any:
        return self._state.channel(record.channel_id)

    def _metadata(self, record: InteractionRecord, **extra: Any) -> dict[str, Any]:
        state = self._state
        owners = {"0": str(record.guild_id)} if record.guild_id else {"0": "0"}
        data: dict[str, Any] = {
            "id": str(record.id),
            "type": record.type,
            "user": payloads.user(state.users[record.user_id]),
            "authorizing_integration_owners": owners,
        }
        if record.type == APPLICATION_COMMAND:
            data["name"] = record.payload["data"]["name"]
            data["command_type"] = 1
        if record.source_message_id is not None:
            data["interacted_message_id"] = str(record.source_message_id)
        data.update(extra)
        return data

    def _apply_callback(
        self,
        record: InteractionRecord,
        callback_type: int,
        data: dict[str, Any],
        files: list[UploadedFile],
    ) -> Message | None:
        messages = self._messages
        if callback_type in (4, 5):
            command = record.type == APPLICATION_COMMAND
            common: dict[str, Any] = {
                "interaction_flags": True,
                "message_type": 20 if command else 0,
                "webhook_id": self._state.application_id,
                "interaction_id": record.id,
                "interaction_metadata": self._metadata(record),
                "prefix": ("data",),
            }
            if callback_type == 4:
                message = messages.create(self._channel_of(record), data, files, **common)
            else:
                ephemeral = int(data.get("flags") or 0) & FLAG_EPHEMERAL
                message = messages.create(
                    self._channel_of(record),
                    {},
                    [],
                    extra_flags=FLAG_LOADING | ephemeral,
                    allow_empty=True,
                    **common,
                )
            record.original_message_id = message.id
            return message
        if callback_type in (6, 7):
            source = self._source_message(record)
            record.original_message_id = source.id
            record.source_edits_at_ack = source.edit_count
            if callback_type == 7:
                return messages.edit(source, data, files, prefix=("data",))
            return None
        if callback_type == 8:
            issues = rules.autocomplete_issues(data, record.focused_type or 3)
            if issues:
                raise invalid_form(issues)
            record.choices = list(data["choices"])
            return None
        issues = rules.modal_issues(data)
        if issues:
            raise invalid_form(issues)
        record.modal = data
        return None

    def _source_message(self, record: InteractionRecord) -> Message:
        message = self._state.messages.get(record.source_message_id or 0)
        if message is None or message.deleted:
            raise unknown_message()
        return message

    # Webhook (interaction token) routes -----------------------------------------------------------

    def record_for_webhook(self, webhook_id: int, token: str, action: str) -> InteractionRecord:
        state = self._state
        if webhook_id != state.application_id:
            raise unknown_webhook(detail=f"{action}: webhook id {webhook_id} is not the app id")
        record = self._by_token.get(token)
        if record is None:
            raise unknown_webhook(detail=f"{action}: no interaction has this token")
        age = state.clock.now() - record.created_at
        if age > state.options.token_lifetime:
            raise invalid_webhook_token(
                detail=f"{record.label}: {action} {age / 60:.1f} min after the interaction; "
                f"tokens last {state.options.token_lifetime / 60:.0f} min (use the bot's "
                "channel routes for long jobs)"
            )
        if record.ack_type is None:
            raise unknown_webhook(detail=f"{record.label}: {action} before any callback")
        if record.ack_type in (8, 9):
            raise unknown_webhook(
                detail=f"{record.label}: {action} after a {CALLBACK_NAMES[record.ack_type]} "
                "response, which has no message"
            )
        return record

    def followup(
        self,
        record: InteractionRecord,
        payload: dict[str, Any],
        files: list[UploadedFile],
        *,
        thread_id: int | None,
    ) -> Message:
        original = self._state.messages.get(record.original_message_id or 0)
        if (
            record.ack_type == 5
            and original is not None
            and original.loading
            and not original.deleted
        ):
            # Discord: the first follow-up after a deferred response edits the loading message
            # (its ephemeral flag cannot change any more). Once that message has been deleted,
            # a follow-up is a new message again.
            message = self._messages.edit(original, payload, files, finish_loading=True)
        else:
            channel = self._state.channel(thread_id) if thread_id else self._channel_of(record)
            message = self._messages.create(
                channel,
                payload,
                files,
                interaction_flags=True,
                webhook_id=self._state.application_id,
                interaction_id=record.id,
                interaction_metadata=self._metadata(
                    record, original_response_message_id=str(record.original_message_id or 0)
                ),
            )
        record.followup_ids.append(message.id)
        self._state.stats["followups"] += 1
        self._state.notify()
        return message

    def original(self, record: InteractionRecord) -> Message:
        message = self._state.messages.get(record.original_message_id or 0)
        if message is None or message.deleted:
            raise unknown_message()
        return message

    def owned_message(self, record: InteractionRecord, message_id: int) -> Message:
        """A message this interaction's token may touch: its original or one of its follow-ups."""
        if message_id == record.original_message_id or message_id in record.followup_ids:
            message = self._state.messages.get(message_id)
            if message is not None and not message.deleted:
                return message
        raise unknown_message()

    def edit_owned(
        self, message: Message, payload: dict[str, Any], files: list[UploadedFile]
    ) -> Message:
        return self._messages.edit(message, payload, files, finish_loading=message.loading)


class InteractionHandle:
    """What a test holds after dispatching an interaction as a user."""

    def __init__(self, state: EmulatorState, record: InteractionRecord) -> None:
        self._state = state
        self._record = record

    def __repr__(self) -> str:
        return f"<InteractionHandle {self._record.label} id={self.id} ack={self.ack_type}>"

    @property
    def id(self) -> int:
        return self._record.id

    @property
    def token(self) -> str:
        return self._record.token

    @property
    def payload(self) -> dict[str, Any]:
        """The INTERACTION_CREATE payload as dispatched."""
        return self._record.payload

    @property
    def record(self) -> InteractionRecord:
        return self._record

    @property
    def ack_type(self) -> int | None:
        return self._record.ack_type

    @property
    def ack_latency(self) -> float | None:
        """Seconds from dispatch to the first successful callback."""
        record = self._record
        return None if record.acked_at is None else record.acked_at - record.dispatched_at

    @property
    def original(self) -> Message | None:
        return self._state.messages.get(self._record.original_message_id or 0)

    @property
    def ephemeral(self) -> bool:
        original = self.original
        return bool(original is not None and original.ephemeral)

    @property
    def followups(self) -> list[Message]:
        """Messages sent through follow-up requests, in order. The first follow-up after a
        deferred response is the original message, which it completed."""
        return [self._state.messages[i] for i in self._record.followup_ids]

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        return self._record.choices

    @property
    def modal(self) -> dict[str, Any] | None:
        return self._record.modal

    async def wait_ack(self, timeout: float = 5) -> int:
        """The first callback's type; fails as soon as the ack deadline passes without one."""
        record = self._record
        await self._state.wait_until(
            lambda: record.ack_type is not None or record.timed_out,
            timeout,
            f"{record.label} to be acknowledged",
        )
        if record.ack_type is None:
            raise EmulatorError(
                f"{record.label} was not acknowledged within {self._state.options.ack_deadline}s"
            )
        return record.ack_type

    async def response(self, timeout: float = 10) -> Message:
        """The message the user ends up seeing (waits through a deferral)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        ack = await self.wait_ack(timeout)
        record = self._record
        remaining = max(deadline - loop.time(), 0)
        if ack in (4, 7):
            return self._message(record.original_message_id)
        if ack == 5:

            def finished() -> Message | None:
                original = self.original
                done = original is not None and (not original.loading or original.deleted)
                return original if done else None

            result: Message = await self._state.wait_until(
                finished, remaining, f"{record.label}'s deferred response to be completed"
            )
            return result
        if ack == 6:

            def updated() -> Message | None:
                if record.followup_ids:
                    return self._state.messages[record.followup_ids[0]]
                source = self.original
                if source is not None and source.edit_count > record.source_edits_at_ack:
                    return source
                return None

            updated_message: Message = await self._state.wait_until(
                updated, remaining, f"{record.label}'s deferred update"
            )
            return updated_message
        raise EmulatorError(f"{record.label} was answered with {CALLBACK_NAMES[ack]}, no message")

    def _message(self, message_id: int | None) -> Message:
        message = self._state.messages.get(message_id or 0)
        if message is None:
            raise EmulatorError(f"{self._record.label} has no response message")
        return message

    async def wait_followup(self, n: int = 0, timeout: float = 10) -> Message:
        """The ``n``-th follow-up (0-based) once it exists."""
        record = self._record
        await self._state.wait_until(
            lambda: len(record.followup_ids) > n,
            timeout,
            f"follow-up #{n} of {record.label}",
        )
        return self._state.messages[record.followup_ids[n]]
