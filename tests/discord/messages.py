"""Creating, editing and deleting messages: validation, attachments, mentions, gateway events.

Channel routes, interaction callbacks and webhook follow-ups all end up here, so one set of rules
applies to every way the bot can put a message on screen.
"""

from __future__ import annotations

from typing import Any

from . import payloads, rules
from .cdn import Cdn, image_size, sniff_content_type
from .errors import ApiError, Issue, empty_message, invalid_form
from .gateway import DIRECT_MESSAGES, GUILD_MESSAGES, GUILDS, Gateway
from .mentions import compute_pings
from .models import (
    CHANNEL_PINNED_MESSAGE,
    FLAG_COMPONENTS_V2,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    FLAG_SUPPRESS_EMBEDS,
    FLAG_SUPPRESS_NOTIFICATIONS,
    Attachment,
    Channel,
    Message,
)
from .state import EmulatorState
from .wire import UploadedFile

# Flags a sender may set; Discord ignores the rest.
SETTABLE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2
INTERACTION_SETTABLE_FLAGS = SETTABLE_FLAGS | FLAG_EPHEMERAL


class MessageService:
    def __init__(self, state: EmulatorState, cdn: Cdn, gateway: Gateway) -> None:
        self._state = state
        self._cdn = cdn
        self._gateway = gateway

    def render(self, message: Message) -> dict[str, Any]:
        return payloads.message(self._state, self._cdn, message)

    # Attachments ----------------------------------------------------------------------------------

    def _attachments(
        self,
        channel_id: int,
        payload: dict[str, Any],
        files: list[UploadedFile],
        existing: list[Attachment],
        prefix: rules.Path,
    ) -> tuple[list[Attachment], list[Issue]]:
        """Match ``attachments`` entries to uploads (by index) and kept attachments (by id)."""
        uploads = {f.index: f for f in files}
        kept: list[Attachment] = []
        issues: list[Issue] = []
        described: dict[int, dict[str, Any]] = {}
        entries = payload.get("attachments")
        by_id = {a.id: a for a in existing}
        for position, entry in enumerate(entries or []):
            raw_id = entry.get("id") if isinstance(entry, dict) else None
            try:
                entry_id = int(raw_id)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                issues.append(
                    Issue((*prefix, "attachments", position, "id"), "BASE_TYPE_REQUIRED", "Bad id")
                )
                continue
            if entry_id in uploads:
                described[entry_id] = entry
            elif entry_id in by_id:
                kept.append(by_id[entry_id])
            else:
                issues.append(
                    Issue(
                        (*prefix, "attachments", position, "id"),
                        "ATTACHMENT_NOT_FOUND",
                        f"Unknown attachment {raw_id!r}: no files[{raw_id}] part was uploaded",
                    )
                )
        if entries is None:
            kept = list(existing)
        new: list[Attachment] = []
        for upload in sorted(files, key=lambda f: f.index):
            entry = described.get(upload.index, {})
            filename = entry.get("filename") or upload.filename
            content_type = sniff_content_type(upload.data, filename)
            width, height = image_size(upload.data, content_type)
            new.append(
                Attachment(
                    id=self._state.ids.next(),
                    channel_id=channel_id,
                    filename=filename,
                    content_type=content_type,
                    data=upload.data,
                    description=entry.get("description"),
                    title=entry.get("title"),
                    width=width,
                    height=height,
                )
            )
        return kept + new, issues

    def _rewrite_attachment_urls(
        self, embeds: list[dict[str, Any]], attachments: list[Attachment]
    ) -> list[dict[str, Any]]:
        """Replace ``attachment://name`` with the stored file's CDN URL, as Discord does."""
        by_name = {a.filename: a for a in attachments}
        for embed in embeds:
            for key, url_key in (
                ("image", "url"),
                ("thumbnail", "url"),
                ("author", "icon_url"),
                ("footer", "icon_url"),
            ):
                part = embed.get(key)
                if not isinstance(part, dict):
                    continue
                url = part.get(url_key)
                if isinstance(url, str) and url.startswith("attachment://"):
                    stored = by_name.get(url.removeprefix("attachment://"))
                    if stored is not None:
                        part[url_key] = self._cdn.url(stored)
                        if url_key == "url":
                            part["proxy_url"] = self._cdn.url(stored, proxy=True)
                            if stored.width is not None:
                                part["width"], part["height"] = stored.width, stored.height
        return embeds

    # Create / edit / delete -----------------------------------------------------------------------

    def _validate(
        self,
        payload: dict[str, Any],
        files: list[UploadedFile],
        attachments: list[Attachment],
        extra_issues: list[Issue],
        prefix: rules.Path,
    ) -> None:
        if not isinstance(payload, dict):
            raise invalid_form([Issue(prefix, "MODEL_TYPE_CONVERT", "Must be an object.")])
        names = {a.filename for a in attachments}
        issues = extra_issues + rules.message_issues(
            payload, attachment_count=len(attachments), available_filenames=names, prefix=prefix
        )
        if issues:
            raise invalid_form(issues)
        for warning in rules.attachment_reference_warnings(payload.get("embeds") or []):
            self._state.violation(warning)

    def _apply_mentions(self, message: Message, channel: Channel) -> None:
        state = self._state
        reply_to = None
        if message.message_reference:
            referenced = state.messages.get(int(message.message_reference.get("message_id", 0)))
            reply_to = referenced.author_id if referenced else None
        pings = compute_pings(
            message.content,
            message.allowed_mentions,
            guild=None if channel.is_dm else state.guild,
            known_user_ids=set(state.users),
            can_mention_everyone=state.bot_can(channel, "mention_everyone"),
            replied_user_id=reply_to,
        )
        message.pinged_user_ids = pings.users
        message.pinged_role_ids = pings.roles
        message.pinged_everyone = pings.everyone

    def create(
        self,
        channel: Channel,
        payload: dict[str, Any],
        files: list[UploadedFile],
        *,
        interaction_flags: bool = False,
        extra_flags: int = 0,
        message_type: int = 0,
        webhook_id: int | None = None,
        interaction_id: int | None = None,
        interaction_metadata: dict[str, Any] | None = None,
        allow_empty: bool = False,
        prefix: rules.Path = (),
    ) -> Message:
        message = self.build(
            channel,
            payload,
            files,
            interaction_flags=interaction_flags,
            extra_flags=extra_flags,
            message_type=message_type,
            webhook_id=webhook_id,
            interaction_id=interaction_id,
            interaction_metadata=interaction_metadata,
            allow_empty=allow_empty,
            prefix=prefix,
        )
        self.publish(message, channel)
        return message

    def build(
        self,
        channel: Channel,
        payload: dict[str, Any],
        files: list[UploadedFile],
        *,
        message_id: int | None = None,
        interaction_flags: bool = False,
        extra_flags: int = 0,
        message_type: int = 0,
        webhook_id: int | None = None,
        interaction_id: int | None = None,
        interaction_metadata: dict[str, Any] | None = None,
        allow_empty: bool = False,
        prefix: rules.Path = (),
    ) -> Message:
        """Validate a new message and build it, without storing or announcing it yet.

        Raises Discord's error for a bad body before anything changes, so a caller that creates
        something else first (a forum post's thread) can check the message before it does.
        """
        state = self._state
        attachments, issues = self._attachments(channel.id, payload, files, [], prefix)
        self._validate(payload, files, attachments, issues, prefix)
        content = payload.get("content") or ""
        embeds = list(payload.get("embeds") or [])
        components = list(payload.get("components") or [])
        if not allow_empty and not (
            content.strip() or embeds or attachments or components or payload.get("sticker_ids")
        ):
            raise empty_message()
        settable = INTERACTION_SETTABLE_FLAGS if interaction_flags else SETTABLE_FLAGS
        flags = (int(payload.get("flags") or 0) & settable) | extra_flags
        message = Message(
            id=state.ids.next() if message_id is None else message_id,
            channel_id=channel.id,
            author_id=state.bot_user.id,
            content=content,
            created_at=state.clock.now(),
            type=message_type,
            embeds=self._rewrite_attachment_urls(embeds, attachments),
            components=components,
            flags=flags,
            attachments=attachments,
            interaction_id=interaction_id,
            webhook_id=webhook_id,
            application_id=state.application_id if webhook_id else None,
            guild_id=channel.guild_id,
            tts=bool(payload.get("tts")),
            nonce=str(payload["nonce"]) if payload.get("nonce") is not None else None,
            allowed_mentions=payload.get("allowed_mentions"),
            message_reference=payload.get("message_reference"),
            interaction_metadata=interaction_metadata,
        )
        if message.message_reference is not None:
            message.type = 19
        self._apply_mentions(message, channel)
        return message

    def publish(self, message: Message, channel: Channel, *, counted: bool = True) -> None:
        """Store a built message and announce it with MESSAGE_CREATE.

        ``counted=False`` leaves a thread's ``message_count`` alone: Discord does not count a
        forum post's first message there (channel.mdx, ``message_count``).
        """
        state = self._state
        for attachment in message.attachments:
            self._cdn.store(attachment)
        state.messages[message.id] = message
        state.channel_messages.setdefault(channel.id, []).append(message.id)
        state.stats["messages_created"] += 1
        if not message.ephemeral:
            channel.last_message_id = message.id
            if channel.is_thread:
                channel.message_count += counted
                channel.total_message_sent += 1
            self._dispatch("MESSAGE_CREATE", message, channel)
        state.notify()

    def edit(
        self,
        message: Message,
        payload: dict[str, Any],
        files: list[UploadedFile],
        *,
        prefix: rules.Path = (),
        finish_loading: bool = False,
    ) -> Message:
        state = self._state
        channel = state.channel(message.channel_id)
        if not isinstance(payload, dict):
            raise invalid_form([Issue(prefix, "MODEL_TYPE_CONVERT", "Must be an object.")])
        attachments, issues = self._attachments(
            channel.id, payload, files, message.attachments, prefix
        )
        self._validate(payload, files, attachments, issues, prefix)
        content = (payload["content"] or "") if "content" in payload else message.content
        embeds = list(payload["embeds"] or []) if "embeds" in payload else message.embeds
        components = (
            list(payload["components"] or []) if "components" in payload else message.components
        )
        if not (content.strip() or embeds or attachments or components):
            raise empty_message()
        for attachment in attachments:
            self._cdn.store(attachment)
        message.content = content
        message.embeds = self._rewrite_attachment_urls(embeds, attachments)
        message.components = components
        message.attachments = attachments
        if "flags" in payload and payload["flags"] is not None:
            # Only SUPPRESS_EMBEDS can be toggled on an existing message.
            wanted = int(payload["flags"])
            message.flags = (message.flags & ~FLAG_SUPPRESS_EMBEDS) | (
                wanted & FLAG_SUPPRESS_EMBEDS
            )
        if "allowed_mentions" in payload:
            message.allowed_mentions = payload["allowed_mentions"]
        was_loading = message.loading
        if finish_loading:
            message.flags &= ~FLAG_LOADING
        if was_loading and finish_loading:
            # Completing a deferred response is the first real content, not an edit.
            message.created_at = state.clock.now()
        else:
            message.edit_count += 1
            message.edited_at = state.clock.now()
        self._apply_mentions(message, channel)
        state.stats["messages_edited"] += 1
        if not message.ephemeral:
            self._dispatch("MESSAGE_UPDATE", message, channel)
        state.notify()
        return message

    def delete(self, message: Message) -> None:
        state = self._state
        message.deleted = True
        state.stats["messages_deleted"] += 1
        channel = state.channels.get(message.channel_id)
        if channel is not None and not message.ephemeral:
            data = {"id": str(message.id), "channel_id": str(channel.id)}
            if channel.guild_id:
                data["guild_id"] = str(channel.guild_id)
            self._gateway.dispatch(
                "MESSAGE_DELETE", data, intents=DIRECT_MESSAGES if channel.is_dm else GUILD_MESSAGES
            )
        state.notify()

    # Pins -----------------------------------------------------------------------------------------

    def pins(self, channel: Channel) -> list[Message]:
        """The channel's pinned messages, most recently pinned first."""
        pinned = [m for m in self._state.channel_history(channel) if m.pinned]
        return sorted(pinned, key=lambda m: (m.pinned_at or 0, m.id), reverse=True)

    def pin(self, message: Message, channel: Channel) -> None:
        """Pin a message: CHANNEL_PINS_UPDATE plus Discord's "pinned a message" system message.

        Pinning an already pinned message changes nothing.
        """
        state = self._state
        if message.pinned:
            return
        limit = state.options.pins_per_channel
        if len(self.pins(channel)) >= limit:
            raise ApiError(
                400,
                30003,
                f"Maximum number of pins reached for the channel ({limit})",
                detail=f"{channel.name or channel.id} already has {limit} pins",
            )
        now = state.clock.now()
        message.pinned = True
        message.pinned_at = now
        channel.last_pin_timestamp = now
        state.stats["messages_pinned"] += 1
        self._dispatch("MESSAGE_UPDATE", message, channel)
        notice = Message(
            id=state.ids.next(),
            channel_id=channel.id,
            author_id=state.bot_user.id,
            content="",
            created_at=now,
            type=CHANNEL_PINNED_MESSAGE,
            guild_id=channel.guild_id,
            message_reference=_reference(message, channel),
        )
        self.publish(notice, channel)
        self._dispatch_pins_update(channel)

    def unpin(self, message: Message, channel: Channel) -> None:
        """Unpin a message (no system message); unpinning one that is not pinned changes nothing."""
        if not message.pinned:
            return
        message.pinned = False
        message.pinned_at = None
        remaining = self.pins(channel)
        channel.last_pin_timestamp = remaining[0].pinned_at if remaining else None
        self._dispatch("MESSAGE_UPDATE", message, channel)
        self._dispatch_pins_update(channel)
        self._state.notify()

    def _dispatch_pins_update(self, channel: Channel) -> None:
        data: dict[str, Any] = {
            "channel_id": str(channel.id),
            "last_pin_timestamp": (
                self._state.clock.iso(channel.last_pin_timestamp)
                if channel.last_pin_timestamp is not None
                else None
            ),
        }
        if channel.guild_id:
            data["guild_id"] = str(channel.guild_id)
        self._gateway.dispatch(
            "CHANNEL_PINS_UPDATE", data, intents=DIRECT_MESSAGES if channel.is_dm else GUILDS
        )

    def _dispatch(self, event: str, message: Message, channel: Channel) -> None:
        data = self.render(message)
        if channel.guild_id:
            data["guild_id"] = str(channel.guild_id)
            member = self._state.guild.member(message.author_id)
            if member is not None:
                data["member"] = payloads.member(self._state, member, with_user=False)
        self._gateway.dispatch(
            event, data, intents=DIRECT_MESSAGES if channel.is_dm else GUILD_MESSAGES
        )

    # Threads --------------------------------------------------------------------------------------

    def dispatch_thread(self, event: str, thread: Channel) -> None:
        data = payloads.thread(self._state, thread)
        if event == "THREAD_CREATE":
            data["newly_created"] = True
        self._gateway.dispatch(event, data, intents=GUILDS)

    def dispatch_thread_delete(self, thread: Channel) -> None:
        data = {
            "id": str(thread.id),
            "type": thread.type,
            "guild_id": str(thread.guild_id),
            "parent_id": str(thread.parent_id),
        }
        self._gateway.dispatch("THREAD_DELETE", data, intents=GUILDS)

    def check_files_allowed(self, channel: Channel, files: list[UploadedFile]) -> None:
        """ATTACH_FILES guards uploads in guild channels."""
        if files and not channel.is_dm and not self._state.bot_can(channel, "attach_files"):
            raise ApiError(
                403, 50013, "Missing Permissions", detail=f"attach_files denied in #{channel.name}"
            )


def _reference(message: Message, channel: Channel) -> dict[str, Any]:
    """The message_reference a pin notice carries to the pinned message."""
    reference: dict[str, Any] = {
        "type": 0,
        "message_id": str(message.id),
        "channel_id": str(channel.id),
    }
    if channel.guild_id:
        reference["guild_id"] = str(channel.guild_id)
    return reference
