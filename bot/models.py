"""The domain's data: frozen, Discord-free, named for what they mean."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.prefs.preset import Preset
from bot.providers.request import GenerationOptions

# Characters created in a DM belong to their owner alone; they are stored under this scope.
PERSONAL_SCOPE = 0


class Visibility(StrEnum):
    PRIVATE = "private"  # only the owner (and co-owners) see and use it
    APPROVED = "approved"  # also the members the owner approves; listed or not for the others
    SERVER = "server"  # everyone in the server sees and uses it; only the owner edits


class Role(StrEnum):
    """What the owner lets another member do with a character."""

    APPROVED = "approved"  # use it in scenes
    CO_OWNER = "co_owner"  # use it and edit it (never delete or hand it over)


@dataclass(frozen=True)
class Viewer:
    """Who is asking, where, and with which server permission (checked by Discord, per member)."""

    user_id: int
    guild_id: int | None
    can_manage_guild: bool = False
    can_manage_messages: bool = False  # a moderator of the channel the request came from
    role_ids: frozenset[int] = frozenset()  # the member's roles, for quota overrides

    @property
    def scope(self) -> int:
        return self.guild_id if self.guild_id is not None else PERSONAL_SCOPE


@dataclass(frozen=True)
class Character:
    id: int
    public_id: str
    guild_id: int | None
    owner_id: int
    name: str
    description: str
    visibility: Visibility
    image_sha256: str
    image_format: str
    image_width: int
    image_height: int
    original_sha256: str
    original_format: str
    original_width: int
    original_height: int
    scene_count: int
    created_at: str
    updated_at: str
    others_scene_count: int = 0  # of scene_count, those other members made
    listed: bool = False  # everyone in the server sees it (always for server, never private)
    # Made from a photograph of a real person in a server that approves those first: usable by
    # nobody and seen only by its owner until a moderator approves it.
    awaiting_approval: bool = False
    defaults: Preset = field(default_factory=Preset)  # the owner's scene settings for it

    @property
    def is_personal(self) -> bool:
        return self.guild_id is None


@dataclass(frozen=True)
class Suggestion:
    """What autocomplete shows of a character: read many times a second as members type, so
    only these columns, without the picture's."""

    id: int
    public_id: str
    guild_id: int | None
    owner_id: int
    name: str
    visibility: Visibility

    @property
    def is_personal(self) -> bool:
        return self.guild_id is None


@dataclass(frozen=True)
class Look:
    """One of a character's looks: a name and its own reference picture."""

    id: int
    character_id: int
    name: str
    is_default: bool
    image_sha256: str
    image_format: str
    original_sha256: str
    original_format: str
    original_width: int
    original_height: int
    created_at: str


class JobKind(StrEnum):
    SCENE = "scene"
    POSES = "poses"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in {JobState.QUEUED, JobState.RUNNING}


@dataclass(frozen=True)
class Job:
    """One request for images, from queue to delivery."""

    id: int
    kind: JobKind
    state: JobState
    guild_id: int | None
    channel_id: int
    user_id: int
    character_id: int | None
    character_name: str
    reference_sha256: str | None
    edit_image_sha256: str | None
    edit_mask_sha256: str | None
    options: GenerationOptions  # SceneOptions for a scene, PoseOptions for a pose sheet
    image_count: int
    preferred_provider: str | None
    provider: str | None
    service_job_id: str | None
    seed: int | None
    credits: int
    cost: str | None
    error: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    delivered_at: str | None
    rerolled_from: int | None
    look_id: int | None = None  # the look used (None: made before looks, the default)
    look_name: str | None = None
    character_owner_id: int | None = None  # whose character it was when asked
    option_sources: Mapping[str, str] = field(default_factory=dict)  # setting -> Source
    held_back: int = 0  # results the age-restricted check kept out of a channel not marked so
    member_retries: int = 0  # pictures of second tries (likeness) the member pays for

    @property
    def is_edit(self) -> bool:
        return self.edit_image_sha256 is not None


@dataclass(frozen=True)
class Picture:
    """One delivered picture: the job that made it and its place among the job's results."""

    job: Job
    position: int  # 0-based, as stored; members see position + 1
    image_sha256: str
    image_format: str
