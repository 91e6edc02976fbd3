"""The emulator's world: users, the guild, channels, forums, threads and messages.

These are plain mutable records. The emulator hands the same objects to tests, so a ``Message``
returned early reflects later edits (``edited``, ``deleted``, new ``content``). Ids are ``int`` here
and become strings only when :mod:`tests.discord.payloads` renders them for the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Channel types (https://discord.com/developers/docs/resources/channel#channel-object-channel-types)
GUILD_TEXT = 0
DM = 1
GUILD_CATEGORY = 4
GUILD_ANNOUNCEMENT = 5
ANNOUNCEMENT_THREAD = 10
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
GUILD_FORUM = 15
GUILD_MEDIA = 16
THREAD_TYPES = frozenset({ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD})
FORUM_TYPES = frozenset({GUILD_FORUM, GUILD_MEDIA})

# Channel flags (channel.mdx "Channel Flags").
CHANNEL_FLAG_PINNED = 1 << 1  # a post pinned to the top of its forum
CHANNEL_FLAG_REQUIRE_TAG = 1 << 4  # a forum whose posts must carry a tag

# Message types the emulator creates itself.
DEFAULT_MESSAGE = 0
CHANNEL_PINNED_MESSAGE = 6  # "X pinned a message to this channel."

# Message flags the emulator cares about.
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_HAS_THREAD = 1 << 5
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_COMPONENTS_V2 = 1 << 15


class EmulatorError(Exception):
    """The test asked the emulator for something it cannot do (bad driver use, timeouts)."""


class CommandInvocationError(EmulatorError):
    """A Discord client would refuse to send this interaction (unknown option, bad value, ...)."""


@dataclass
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    avatar: str | None = None
    discriminator: str = "0"
    public_flags: int = 0

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    @property
    def name(self) -> str:
        return self.username


@dataclass
class Role:
    id: int
    name: str
    permissions: int
    position: int = 0
    color: int = 0
    hoist: bool = False
    managed: bool = False
    mentionable: bool = False
    bot_id: int | None = None  # set for the bot's managed role, rendered as tags.bot_id

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"


@dataclass
class Member:
    user: User
    role_ids: list[int]
    joined_at: float
    nick: str | None = None

    @property
    def id(self) -> int:
        return self.user.id


@dataclass
class ForumTag:
    """A tag a forum offers its posts (channel.mdx "Forum Tag Object").

    ``id`` 0 means "not created yet": ``DiscordEmulator.add_forum_channel`` gives it a snowflake.
    """

    name: str
    moderated: bool = False  # only members with MANAGE_THREADS may add or remove it
    emoji_id: int | None = None
    emoji_name: str | None = None
    id: int = 0


@dataclass
class Channel:
    """A guild text or forum channel, a thread (a forum post is one), or a DM channel."""

    id: int
    type: int
    name: str | None
    guild_id: int | None = None
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    nsfw: bool = False
    rate_limit_per_user: int = 0
    default_auto_archive_duration: int = 1440
    # Per-channel overwrites as Discord stores them: {"id","type","allow","deny"} with int bits.
    permission_overwrites: list[dict[str, Any]] = field(default_factory=list)
    last_message_id: int | None = None
    last_pin_timestamp: float | None = None
    flags: int = 0  # CHANNEL_FLAG_*: REQUIRE_TAG on a forum, PINNED on a forum post
    deleted: bool = False  # set when DELETE /channels/{id} removed it
    # Forum-only fields.
    available_tags: list[ForumTag] = field(default_factory=list)
    default_reaction_emoji: dict[str, Any] | None = None  # {"emoji_id", "emoji_name"}
    default_thread_rate_limit_per_user: int = 0
    default_sort_order: int | None = None
    default_forum_layout: int = 0
    # Thread-only fields.
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    auto_archive_duration: int | None = None
    archive_timestamp: float | None = None
    created_at: float | None = None
    starter_message_id: int | None = None
    message_count: int = 0
    total_message_sent: int = 0
    member_ids: set[int] = field(default_factory=set)
    applied_tags: list[int] = field(default_factory=list)  # tag ids, for a forum post
    # DM-only field.
    recipient_id: int | None = None

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    @property
    def is_dm(self) -> bool:
        return self.type == DM

    @property
    def is_forum(self) -> bool:
        return self.type in FORUM_TYPES

    @property
    def pinned(self) -> bool:
        """A forum post pinned to the top of its forum."""
        return bool(self.flags & CHANNEL_FLAG_PINNED)

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    def tag(self, tag_id: int) -> ForumTag | None:
        """One of this forum's available tags, by id."""
        return next((t for t in self.available_tags if t.id == tag_id), None)

    def tag_named(self, name: str) -> ForumTag:
        for tag in self.available_tags:
            if tag.name == name:
                return tag
        raise KeyError(name)


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    created_at: float
    channels: list[Channel] = field(default_factory=list)
    roles: list[Role] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    locale: str = "en-US"
    features: list[str] = field(default_factory=list)

    def member(self, user_id: int) -> Member | None:
        return next((m for m in self.members if m.user.id == user_id), None)

    def role(self, role_id: int) -> Role | None:
        return next((r for r in self.roles if r.id == role_id), None)

    def role_named(self, name: str) -> Role:
        for role in self.roles:
            if role.name == name:
                return role
        raise KeyError(name)

    @property
    def everyone_role(self) -> Role:
        role = self.role(self.id)
        assert role is not None
        return role


@dataclass
class Upload:
    """A file a test user attaches to a slash command option."""

    filename: str
    data: bytes
    content_type: str | None = None


@dataclass
class Attachment:
    """A stored file, served by the loopback CDN."""

    id: int
    channel_id: int
    filename: str
    content_type: str
    data: bytes
    description: str | None = None
    width: int | None = None
    height: int | None = None
    ephemeral: bool = False
    title: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Message:
    id: int
    channel_id: int
    author_id: int
    content: str
    created_at: float
    type: int = 0
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    attachments: list[Attachment] = field(default_factory=list)
    deleted: bool = False
    edited_at: float | None = None
    edit_count: int = 0
    interaction_id: int | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    guild_id: int | None = None
    tts: bool = False
    nonce: str | None = None
    allowed_mentions: dict[str, Any] | None = None
    pinged_user_ids: set[int] = field(default_factory=set)
    pinged_role_ids: set[int] = field(default_factory=set)
    pinged_everyone: bool = False
    message_reference: dict[str, Any] | None = None
    thread_id: int | None = None  # the thread started from this message
    interaction_metadata: dict[str, Any] | None = None
    reactions: dict[str, set[int]] = field(default_factory=dict)
    pinned: bool = False
    pinned_at: float | None = None

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        """True while a deferred response still shows "thinking"."""
        return bool(self.flags & FLAG_LOADING)

    @property
    def edited(self) -> bool:
        return self.edit_count > 0

    def buttons(self) -> list[dict[str, Any]]:
        """Every button, in order, as ``{custom_id, label, style, disabled, url}``."""
        return [
            {
                "custom_id": c.get("custom_id"),
                "label": c.get("label"),
                "style": c.get("style"),
                "disabled": bool(c.get("disabled", False)),
                "url": c.get("url"),
            }
            for c in iter_components(self.components)
            if c.get("type") == 2
        ]

    def component(self, custom_id: str) -> dict[str, Any] | None:
        """The interactive component with this custom_id, wherever it is nested."""
        return next(
            (c for c in iter_components(self.components) if c.get("custom_id") == custom_id),
            None,
        )

    def embed_attachment(self, index: int = 0, part: str = "image") -> Attachment | None:
        """The uploaded file an embed's image/thumbnail shows.

        Discord replaces ``attachment://name`` with the file's CDN URL in the stored message, so
        ``embeds[i]["image"]["url"]`` is a URL; this maps it back to the attachment.
        """
        url = str((self.embeds[index].get(part) or {}).get("url") or "")
        return next((a for a in self.attachments if f"/{a.id}/" in url), None)

    def attachment_named(self, filename: str) -> Attachment:
        for attachment in self.attachments:
            if attachment.filename == filename:
                return attachment
        raise KeyError(filename)


@dataclass(frozen=True)
class ForumPost:
    """A forum post as tests see it: its thread, its tags and its first message, right now.

    ``thread`` is the live record (it reflects later edits); ``tags`` is taken when the post is
    looked up. ``message`` is None once the first message has been deleted.
    """

    thread: Channel
    tags: list[ForumTag]
    message: Message | None

    @property
    def id(self) -> int:
        return self.thread.id

    @property
    def name(self) -> str:
        return self.thread.name or ""

    @property
    def tag_names(self) -> list[str]:
        return [t.name for t in self.tags]


def iter_components(components: list[Any]) -> list[dict[str, Any]]:
    """Flatten action rows and Components-V2 containers into a list of every component."""
    found: list[dict[str, Any]] = []
    for component in components:
        if not isinstance(component, dict):
            continue
        found.append(component)
        children = component.get("components")
        if isinstance(children, list):
            found.extend(iter_components(children))
        for key in ("accessory", "component"):
            child = component.get(key)
            if isinstance(child, dict):
                found.extend(iter_components([child]))
    return found
