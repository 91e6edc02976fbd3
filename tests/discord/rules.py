"""Discord's documented limits, checked on everything the bot sends.

Each checker returns a list of :class:`~tests.discord.errors.Issue`; the REST layer turns a
non-empty list into Discord's ``400 50035 Invalid Form Body`` and records every issue as a
violation. Limits come from discord.md §3 (message, embed, component, thread, command, modal).
"""

from __future__ import annotations

import re
from typing import Any

from .errors import Issue, entity_too_large, max_length
from .models import FLAG_COMPONENTS_V2, iter_components
from .wire import UploadedFile

Path = tuple[str | int, ...]

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
FILES_MAX = 10
ACTION_ROWS_MAX = 5
ROW_WIDTH = 5
V2_COMPONENTS_MAX = 40
CUSTOM_ID_MAX = 100
BUTTON_LABEL_MAX = 80
SELECT_OPTIONS_MAX = 25
THREAD_ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)
THREAD_NAME_MAX = 100
APPLIED_TAGS_MAX = 5  # per post (channel.mdx, Modify Channel for threads)
FORUM_TAGS_MAX = 20  # per forum
FORUM_TAG_NAME_MAX = 20
FORUM_TOPIC_MAX = 4096
SLOWMODE_MAX = 21600
EMBEDDABLE_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif")
SELECT_TYPES = frozenset({3, 5, 6, 7, 8})
BUTTON = 2
ACTION_ROW = 1
TEXT_INPUT = 4
LABEL = 18

_COMMAND_NAME = re.compile(r"^[-_'\w\u0900-\u097f\u0e00-\u0e7f]{1,32}$")


def check_upload_sizes(files: list[UploadedFile], body_size: int, limits: Any) -> None:
    """Raise Discord's 413 for a file over the per-file limit or a request over the total."""
    for upload in files:
        if upload.size > limits.attachment_size_limit:
            raise entity_too_large(
                f"file {upload.filename!r} is {upload.size} bytes, over the "
                f"attachment_size_limit of {limits.attachment_size_limit}"
            )
    if body_size > limits.request_size_limit:
        raise entity_too_large(
            f"request body is {body_size} bytes, over the {limits.request_size_limit} limit"
        )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _length_issue(path: Path, value: Any, limit: int) -> list[Issue]:
    if isinstance(value, str) and len(value) > limit:
        return [max_length(path, limit, len(value))]
    return []


def message_issues(
    payload: dict[str, Any],
    *,
    attachment_count: int,
    available_filenames: set[str],
    prefix: Path = (),
) -> list[Issue]:
    """Content, embeds, components, allowed_mentions and file count of a create or edit body."""
    issues: list[Issue] = []
    content = payload.get("content")
    if content is not None and not isinstance(content, str):
        issues.append(Issue((*prefix, "content"), "BASE_TYPE_STRING", "Must be a string."))
    issues += _length_issue((*prefix, "content"), content, CONTENT_MAX)

    embeds = payload.get("embeds")
    if embeds is not None:
        issues += embed_issues(embeds, available_filenames, prefix)

    flags = payload.get("flags") or 0
    components = payload.get("components")
    if components is not None:
        issues += component_issues(components, v2=bool(flags & FLAG_COMPONENTS_V2), prefix=prefix)
    if flags & FLAG_COMPONENTS_V2:
        for key in ("content", "embeds"):
            if payload.get(key):
                issues.append(
                    Issue(
                        (*prefix, key),
                        "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                        "The 'content' and 'embeds' fields cannot be used with IS_COMPONENTS_V2.",
                    )
                )

    if payload.get("allowed_mentions") is not None:
        issues += allowed_mentions_issues(payload["allowed_mentions"], prefix)

    if attachment_count > FILES_MAX:
        issues.append(max_length((*prefix, "attachments"), FILES_MAX, attachment_count))
    return issues


def embed_issues(embeds: Any, available_filenames: set[str], prefix: Path = ()) -> list[Issue]:
    if not isinstance(embeds, list):
        return [Issue((*prefix, "embeds"), "BASE_TYPE_ARRAY", "Must be an array.")]
    issues: list[Issue] = []
    if len(embeds) > EMBEDS_MAX:
        issues.append(max_length((*prefix, "embeds"), EMBEDS_MAX, len(embeds)))
    total = 0
    for index, embed in enumerate(embeds):
        path: Path = (*prefix, "embeds", index)
        if not isinstance(embed, dict):
            issues.append(Issue(path, "MODEL_TYPE_CONVERT", "Only dictionaries may be used."))
            continue
        title = _text(embed.get("title"))
        description = _text(embed.get("description"))
        footer = _text((embed.get("footer") or {}).get("text"))
        author = _text((embed.get("author") or {}).get("name"))
        issues += _length_issue((*path, "title"), title, EMBED_TITLE_MAX)
        issues += _length_issue((*path, "description"), description, EMBED_DESCRIPTION_MAX)
        issues += _length_issue((*path, "footer", "text"), footer, EMBED_FOOTER_MAX)
        issues += _length_issue((*path, "author", "name"), author, EMBED_AUTHOR_MAX)
        total += len(title) + len(description) + len(footer) + len(author)
        fields = embed.get("fields") or []
        if len(fields) > EMBED_FIELDS_MAX:
            issues.append(max_length((*path, "fields"), EMBED_FIELDS_MAX, len(fields)))
        for field_index, item in enumerate(fields):
            field_path: Path = (*path, "fields", field_index)
            name = _text(item.get("name"))
            value = _text(item.get("value"))
            for key, text, limit in (
                ("name", name, EMBED_FIELD_NAME_MAX),
                ("value", value, EMBED_FIELD_VALUE_MAX),
            ):
                if not text.strip():
                    issues.append(
                        Issue((*field_path, key), "BASE_TYPE_REQUIRED", "This field is required")
                    )
                issues += _length_issue((*field_path, key), text, limit)
            total += len(name) + len(value)
        issues += _attachment_reference_issues(embed, path, available_filenames)
    if total > EMBED_TOTAL_MAX:
        issues.append(
            Issue(
                (*prefix, "embeds"),
                "MAX_EMBED_SIZE_EXCEEDED",
                f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX} (got {total})",
            )
        )
    return issues


def _embed_urls(embed: dict[str, Any]) -> list[tuple[Path, str]]:
    urls: list[tuple[Path, str]] = []
    for key in ("image", "thumbnail"):
        url = (embed.get(key) or {}).get("url")
        if isinstance(url, str):
            urls.append(((key, "url"), url))
    for key in ("author", "footer"):
        url = (embed.get(key) or {}).get("icon_url")
        if isinstance(url, str):
            urls.append(((key, "icon_url"), url))
    return urls


def _attachment_reference_issues(
    embed: dict[str, Any], path: Path, available: set[str]
) -> list[Issue]:
    issues: list[Issue] = []
    for sub_path, url in _embed_urls(embed):
        if not url.startswith("attachment://"):
            continue
        name = url.removeprefix("attachment://")
        if name not in available:
            issues.append(
                Issue(
                    (*path, *sub_path),
                    "ATTACHMENT_NOT_FOUND",
                    f"{url} does not name a file uploaded with this message "
                    f"(files: {sorted(available) or 'none'})",
                )
            )
    return issues


def attachment_reference_warnings(embeds: list[dict[str, Any]]) -> list[str]:
    """``attachment://`` names Discord accepts but will not render as an image."""
    warnings = []
    for embed in embeds:
        for sub_path, url in _embed_urls(embed):
            if url.startswith("attachment://") and not url.lower().endswith(
                EMBEDDABLE_IMAGE_EXTENSIONS
            ):
                where = ".".join(str(p) for p in sub_path)
                warnings.append(
                    f"embed {where} uses {url}, which Discord only renders for "
                    f"{', '.join(EMBEDDABLE_IMAGE_EXTENSIONS)} files"
                )
    return warnings


def _custom_id_issues(path: Path, custom_id: Any) -> list[Issue]:
    if not isinstance(custom_id, str) or not custom_id:
        return [Issue((*path, "custom_id"), "BASE_TYPE_REQUIRED", "This field is required")]
    return _length_issue((*path, "custom_id"), custom_id, CUSTOM_ID_MAX)


def _button_issues(path: Path, button: dict[str, Any]) -> list[Issue]:
    issues: list[Issue] = []
    style = button.get("style")
    if style not in (1, 2, 3, 4, 5, 6):
        issues.append(Issue((*path, "style"), "BASE_TYPE_CHOICES", "Value must be one of (1..6)."))
    if style == 5:
        if not button.get("url"):
            issues.append(Issue((*path, "url"), "BASE_TYPE_REQUIRED", "Link buttons need a url"))
        if button.get("custom_id"):
            issues.append(
                Issue((*path, "custom_id"), "BUTTON_LINK_CUSTOM_ID", "Links cannot have custom_id")
            )
    elif style == 6:
        if not button.get("sku_id"):
            issues.append(Issue((*path, "sku_id"), "BASE_TYPE_REQUIRED", "Premium needs sku_id"))
    else:
        issues += _custom_id_issues(path, button.get("custom_id"))
    if style != 6 and not button.get("label") and not button.get("emoji"):
        issues.append(
            Issue((*path, "label"), "BUTTON_LABEL_OR_EMOJI", "A button needs a label or an emoji")
        )
    issues += _length_issue((*path, "label"), button.get("label"), BUTTON_LABEL_MAX)
    return issues


def _select_issues(path: Path, select: dict[str, Any]) -> list[Issue]:
    issues = _custom_id_issues(path, select.get("custom_id"))
    issues += _length_issue((*path, "placeholder"), select.get("placeholder"), 150)
    min_values = select.get("min_values", 1)
    max_values = select.get("max_values", 1)
    if not isinstance(min_values, int) or not 0 <= min_values <= 25:
        issues.append(Issue((*path, "min_values"), "NUMBER_TYPE_MAX", "Must be between 0 and 25"))
    if not isinstance(max_values, int) or not 1 <= max_values <= 25:
        issues.append(Issue((*path, "max_values"), "NUMBER_TYPE_MAX", "Must be between 1 and 25"))
    if select.get("type") == 3:
        options = select.get("options") or []
        if not options:
            issues.append(Issue((*path, "options"), "BASE_TYPE_REQUIRED", "Must have options"))
        if len(options) > SELECT_OPTIONS_MAX:
            issues.append(max_length((*path, "options"), SELECT_OPTIONS_MAX, len(options)))
        if isinstance(max_values, int) and options and max_values > len(options):
            issues.append(
                Issue(
                    (*path, "max_values"),
                    "SELECT_COMPONENT_MAX_VALUES",
                    "max_values exceeds the number of options",
                )
            )
        seen: set[str] = set()
        for index, option in enumerate(options):
            option_path: Path = (*path, "options", index)
            for key in ("label", "value"):
                value = option.get(key)
                if not isinstance(value, str) or not value:
                    issues.append(
                        Issue((*option_path, key), "BASE_TYPE_REQUIRED", "This field is required")
                    )
                issues += _length_issue((*option_path, key), value, 100)
            issues += _length_issue((*option_path, "description"), option.get("description"), 100)
            value = option.get("value")
            if isinstance(value, str):
                if value in seen:
                    issues.append(
                        Issue(
                            (*option_path, "value"),
                            "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED",
                            "Option values must be unique",
                        )
                    )
                seen.add(value)
    return issues


def component_issues(components: Any, *, v2: bool, prefix: Path = ()) -> list[Issue]:
    """Action-row layout (≤5 rows × 5 buttons, 1 select per row) or the V2 component budget."""
    base: Path = (*prefix, "components")
    if not isinstance(components, list):
        return [Issue(base, "BASE_TYPE_ARRAY", "Must be an array.")]
    issues: list[Issue] = []
    if v2:
        total = len(iter_components(components))
        if total > V2_COMPONENTS_MAX:
            issues.append(
                Issue(
                    base,
                    "COMPONENT_LAYOUT_TOO_MANY",
                    f"Must be {V2_COMPONENTS_MAX} or fewer components in total (got {total})",
                )
            )
    elif len(components) > ACTION_ROWS_MAX:
        issues.append(max_length(base, ACTION_ROWS_MAX, len(components)))

    for index, component in enumerate(components):
        path: Path = (*base, index)
        if not isinstance(component, dict):
            issues.append(Issue(path, "MODEL_TYPE_CONVERT", "Only dictionaries may be used."))
            continue
        if not v2 and component.get("type") != ACTION_ROW:
            issues.append(
                Issue(
                    (*path, "type"),
                    "UNION_TYPE_CHOICES",
                    "Top-level components must be action rows unless the message sets "
                    "IS_COMPONENTS_V2",
                )
            )
    for path, component in _walk_with_paths(components, base):
        kind = component.get("type")
        if kind == ACTION_ROW:
            children = component.get("components") or []
            if not children:
                issues.append(
                    Issue((*path, "components"), "BASE_TYPE_REQUIRED", "Action rows need items")
                )
            if len(children) > ROW_WIDTH:
                issues.append(max_length((*path, "components"), ROW_WIDTH, len(children)))
            if any(c.get("type") in SELECT_TYPES for c in children) and len(children) > 1:
                issues.append(
                    Issue(
                        (*path, "components"),
                        "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                        "A select menu must be alone in its action row",
                    )
                )
        elif kind == BUTTON:
            issues += _button_issues(path, component)
        elif kind in SELECT_TYPES:
            issues += _select_issues(path, component)
        elif kind == TEXT_INPUT:
            issues.append(
                Issue((*path, "type"), "COMPONENT_TYPE_INVALID", "Text inputs only go in modals")
            )

    seen: dict[str, int] = {}
    for component in iter_components(components):
        custom_id = component.get("custom_id")
        if isinstance(custom_id, str):
            seen[custom_id] = seen.get(custom_id, 0) + 1
    for custom_id, count in seen.items():
        if count > 1:
            issues.append(
                Issue(
                    base,
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    f"Component custom id cannot be duplicated ({custom_id!r} x{count})",
                )
            )
    return issues


def _walk_with_paths(components: list[Any], base: Path) -> list[tuple[Path, dict[str, Any]]]:
    found: list[tuple[Path, dict[str, Any]]] = []
    for index, component in enumerate(components):
        if not isinstance(component, dict):
            continue
        path: Path = (*base, index)
        found.append((path, component))
        children = component.get("components")
        if isinstance(children, list):
            found += _walk_with_paths(children, (*path, "components"))
        for key in ("accessory", "component"):
            child = component.get(key)
            if isinstance(child, dict):
                found.append(((*path, key), child))
    return found


def allowed_mentions_issues(allowed: Any, prefix: Path = ()) -> list[Issue]:
    path: Path = (*prefix, "allowed_mentions")
    if not isinstance(allowed, dict):
        return [Issue(path, "MODEL_TYPE_CONVERT", "Only dictionaries may be used.")]
    issues: list[Issue] = []
    parse = allowed.get("parse") or []
    for value in parse:
        if value not in ("users", "roles", "everyone"):
            issues.append(Issue((*path, "parse"), "BASE_TYPE_CHOICES", f"Unknown {value!r}"))
    for key in ("users", "roles"):
        listed = allowed.get(key) or []
        if key in parse and listed:
            issues.append(
                Issue(
                    (*path, key),
                    "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                    f'parse:["{key}"] and {key}: [ids] are mutually exclusive.',
                )
            )
        if len(listed) > 100:
            issues.append(max_length((*path, key), 100, len(listed)))
    return issues


def thread_issues(payload: dict[str, Any], *, from_message: bool) -> list[Issue]:
    issues: list[Issue] = []
    name = payload.get("name")
    if not isinstance(name, str) or not name.strip():
        issues.append(Issue(("name",), "BASE_TYPE_REQUIRED", "This field is required"))
    else:
        issues += _length_issue(("name",), name, THREAD_NAME_MAX)
    duration = payload.get("auto_archive_duration")
    if duration is not None and duration not in THREAD_ARCHIVE_DURATIONS:
        issues.append(
            Issue(
                ("auto_archive_duration",),
                "BASE_TYPE_CHOICES",
                f"Value must be one of {THREAD_ARCHIVE_DURATIONS}. (got {duration!r})",
            )
        )
    kind = payload.get("type")
    if not from_message and kind is not None and kind not in (10, 11, 12):
        issues.append(Issue(("type",), "BASE_TYPE_CHOICES", "Value must be one of (10, 11, 12)."))
    slowmode = payload.get("rate_limit_per_user")
    if slowmode is not None and (not isinstance(slowmode, int) or not 0 <= slowmode <= 21600):
        issues.append(
            Issue(("rate_limit_per_user",), "NUMBER_TYPE_MAX", "Must be between 0 and 21600.")
        )
    return issues


def _thread_name_issues(payload: dict[str, Any]) -> list[Issue]:
    """A thread's (or forum's) new name, when an edit gives one: present, at most 100."""
    if "name" not in payload:
        return []
    name = payload["name"]
    if not isinstance(name, str) or not name.strip():
        return [Issue(("name",), "BASE_TYPE_REQUIRED", "This field is required")]
    return _length_issue(("name",), name, THREAD_NAME_MAX)


def thread_edit_issues(payload: dict[str, Any]) -> list[Issue]:
    issues: list[Issue] = []
    issues += _thread_name_issues(payload)
    duration = payload.get("auto_archive_duration")
    if duration is not None and duration not in THREAD_ARCHIVE_DURATIONS:
        issues.append(
            Issue(
                ("auto_archive_duration",),
                "BASE_TYPE_CHOICES",
                f"Value must be one of {THREAD_ARCHIVE_DURATIONS}. (got {duration!r})",
            )
        )
    return issues


# Forums -----------------------------------------------------------------------------------------


def applied_tags_issues(applied: Any, available: set[int]) -> list[Issue]:
    """At most five tags, each one of the forum's own (Discord keeps duplicates, so may we)."""
    if not isinstance(applied, list):
        return [Issue(("applied_tags",), "BASE_TYPE_ARRAY", "Must be an array.")]
    issues: list[Issue] = []
    if len(applied) > APPLIED_TAGS_MAX:
        issues.append(max_length(("applied_tags",), APPLIED_TAGS_MAX, len(applied)))
    for index, raw in enumerate(applied):
        tag_id = snowflake_or_none(raw)
        if tag_id is None:
            issues.append(
                Issue(("applied_tags", index), "NUMBER_TYPE_COERCE", f"{raw!r} is not snowflake.")
            )
        elif tag_id not in available:
            issues.append(
                Issue(
                    ("applied_tags", index),
                    "FORUM_TAG_UNKNOWN",
                    f"Tag {raw} is not one of this forum's tags ({sorted(available) or 'none'})",
                )
            )
    return issues


def forum_post_issues(payload: dict[str, Any], available_tags: set[int]) -> list[Issue]:
    """The thread half of a forum post; the ``message`` half goes through ``message_issues``."""
    # Discord makes every forum post a public thread whatever ``type`` says, so it is not checked.
    issues = thread_issues(payload, from_message=True)
    message = payload.get("message")
    if message is None:
        issues.append(Issue(("message",), "BASE_TYPE_REQUIRED", "This field is required"))
    elif not isinstance(message, dict):
        issues.append(Issue(("message",), "MODEL_TYPE_CONVERT", "Only dictionaries may be used."))
    if payload.get("applied_tags") is not None:
        issues += applied_tags_issues(payload["applied_tags"], available_tags)
    return issues


def forum_edit_issues(payload: dict[str, Any]) -> list[Issue]:
    """Fields of Modify Channel that only forums take, plus the forum's longer topic."""
    issues: list[Issue] = []
    issues += _thread_name_issues(payload)
    issues += _length_issue(("topic",), payload.get("topic"), FORUM_TOPIC_MAX)
    tags = payload.get("available_tags")
    if tags is not None:
        if not isinstance(tags, list):
            issues.append(Issue(("available_tags",), "BASE_TYPE_ARRAY", "Must be an array."))
            tags = []
        if len(tags) > FORUM_TAGS_MAX:
            issues.append(max_length(("available_tags",), FORUM_TAGS_MAX, len(tags)))
        for index, tag in enumerate(tags):
            path: Path = ("available_tags", index)
            if not isinstance(tag, dict):
                issues.append(Issue(path, "MODEL_TYPE_CONVERT", "Only dictionaries may be used."))
                continue
            name = tag.get("name")
            if not isinstance(name, str) or not name:
                issues.append(
                    Issue((*path, "name"), "BASE_TYPE_REQUIRED", "This field is required")
                )
            issues += _length_issue((*path, "name"), name, FORUM_TAG_NAME_MAX)
            if tag.get("emoji_id") and tag.get("emoji_name"):
                issues.append(
                    Issue(path, "FORUM_TAG_EMOJI", "At most one of emoji_id and emoji_name")
                )
    emoji = payload.get("default_reaction_emoji")
    if emoji is not None and (
        not isinstance(emoji, dict) or bool(emoji.get("emoji_id")) == bool(emoji.get("emoji_name"))
    ):
        issues.append(
            Issue(
                ("default_reaction_emoji",),
                "DEFAULT_REACTION_EMOJI",
                "Exactly one of emoji_id and emoji_name must be set",
            )
        )
    duration = payload.get("default_auto_archive_duration")
    if duration is not None and duration not in THREAD_ARCHIVE_DURATIONS:
        issues.append(
            Issue(
                ("default_auto_archive_duration",),
                "BASE_TYPE_CHOICES",
                f"Value must be one of {THREAD_ARCHIVE_DURATIONS}. (got {duration!r})",
            )
        )
    for key in ("rate_limit_per_user", "default_thread_rate_limit_per_user"):
        value = payload.get(key)
        if value is not None and (not isinstance(value, int) or not 0 <= value <= SLOWMODE_MAX):
            issues.append(
                Issue((key,), "NUMBER_TYPE_MAX", f"Must be between 0 and {SLOWMODE_MAX}.")
            )
    if payload.get("default_sort_order") not in (None, 0, 1):
        issues.append(Issue(("default_sort_order",), "BASE_TYPE_CHOICES", "Must be 0 or 1."))
    if payload.get("default_forum_layout", 0) not in (0, 1, 2):
        issues.append(Issue(("default_forum_layout",), "BASE_TYPE_CHOICES", "Must be 0, 1 or 2."))
    return issues


def snowflake_or_none(raw: Any) -> int | None:
    """A snowflake sent as a string or a number; None for anything else."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if raw >= 0 else None
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    return None


# Application commands ---------------------------------------------------------------------------


def command_list_issues(commands: Any) -> list[Issue]:
    if not isinstance(commands, list):
        return [Issue((), "BASE_TYPE_ARRAY", "Must be an array.")]
    issues: list[Issue] = []
    seen: set[tuple[int, str]] = set()
    chat_input = 0
    for index, command in enumerate(commands):
        if not isinstance(command, dict):
            issues.append(Issue((index,), "MODEL_TYPE_CONVERT", "Only dictionaries may be used."))
            continue
        kind = command.get("type", 1)
        chat_input += kind == 1
        key = (kind, str(command.get("name")))
        if key in seen:
            issues.append(
                Issue((index, "name"), "APPLICATION_COMMAND_NAME_ALREADY_EXISTS", "Duplicate name")
            )
        seen.add(key)
        issues += command_issues(command, (index,))
    if chat_input > 100:
        issues.append(max_length((), 100, chat_input))
    return issues


def command_issues(command: dict[str, Any], path: Path = ()) -> list[Issue]:
    issues: list[Issue] = []
    kind = command.get("type", 1)
    issues += _name_issues(path, command.get("name"), lowercase=kind == 1)
    description = command.get("description", "")
    if kind == 1:
        issues += _description_issues(path, description)
        issues += _options_issues((*path, "options"), command.get("options") or [], depth=0)
    elif description:
        issues.append(
            Issue((*path, "description"), "BASE_TYPE_MAX_LENGTH", "Context menus have none")
        )
    size = _command_size(command)
    if size > 8000:
        issues.append(
            Issue(
                path, "APPLICATION_COMMAND_TOO_LARGE", f"Command exceeds 8000 characters ({size})"
            )
        )
    return issues


def _name_issues(path: Path, name: Any, *, lowercase: bool) -> list[Issue]:
    if not isinstance(name, str) or not _COMMAND_NAME.match(name):
        return [Issue((*path, "name"), "APPLICATION_COMMAND_INVALID_NAME", f"Invalid {name!r}")]
    if lowercase and name != name.lower():
        return [
            Issue((*path, "name"), "APPLICATION_COMMAND_INVALID_NAME", f"Not lowercase {name!r}")
        ]
    return []


def _description_issues(path: Path, description: Any) -> list[Issue]:
    if not isinstance(description, str) or not 1 <= len(description) <= 100:
        got = len(description) if isinstance(description, str) else description
        return [Issue((*path, "description"), "BASE_TYPE_BAD_LENGTH", f"Must be 1-100 ({got})")]
    return []


def _options_issues(path: Path, options: list[dict[str, Any]], *, depth: int) -> list[Issue]:
    issues: list[Issue] = []
    if len(options) > 25:
        issues.append(max_length(path, 25, len(options)))
    kinds = [o.get("type") for o in options]
    subcommands = [k for k in kinds if k in (1, 2)]
    if subcommands and len(subcommands) != len(kinds):
        issues.append(
            Issue(path, "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Mixes subcommands and options")
        )
    names: set[str] = set()
    seen_optional = False
    for index, option in enumerate(options):
        option_path: Path = (*path, index)
        kind = option.get("type")
        issues += _name_issues(option_path, option.get("name"), lowercase=True)
        issues += _description_issues(option_path, option.get("description"))
        name = str(option.get("name"))
        if name in names:
            issues.append(
                Issue(
                    (*option_path, "name"), "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", name
                )
            )
        names.add(name)
        if (kind == 2 and depth > 0) or (kind == 1 and depth > 1):
            issues.append(Issue(option_path, "APPLICATION_COMMAND_OPTION_TYPE_INVALID", "Too deep"))
        if kind in (1, 2):
            child_kinds = {o.get("type") for o in option.get("options") or []}
            if kind == 2 and child_kinds - {1}:
                issues.append(Issue(option_path, "GROUP_CHILDREN", "Groups hold only subcommands"))
            issues += _options_issues(
                (*option_path, "options"), option.get("options") or [], depth=depth + 1
            )
            continue
        if option.get("required"):
            if seen_optional:
                issues.append(
                    Issue(
                        (*option_path, "required"),
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
                )
        else:
            seen_optional = True
        choices = option.get("choices") or []
        if len(choices) > 25:
            issues.append(max_length((*option_path, "choices"), 25, len(choices)))
        if choices and option.get("autocomplete"):
            issues.append(
                Issue((*option_path, "autocomplete"), "AUTOCOMPLETE_AND_CHOICES", "Exclusive")
            )
    return issues


def _command_size(node: dict[str, Any]) -> int:
    size = len(str(node.get("name", ""))) + len(str(node.get("description", "")))
    for choice in node.get("choices") or []:
        size += len(str(choice.get("name", ""))) + len(str(choice.get("value", "")))
    for option in node.get("options") or []:
        size += _command_size(option)
    return size


# Interaction callbacks --------------------------------------------------------------------------


def autocomplete_issues(data: Any, option_type: int) -> list[Issue]:
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        return [Issue(("data", "choices"), "BASE_TYPE_REQUIRED", "This field is required")]
    choices = data["choices"]
    issues: list[Issue] = []
    if len(choices) > 25:
        issues.append(max_length(("data", "choices"), 25, len(choices)))
    for index, choice in enumerate(choices):
        path: Path = ("data", "choices", index)
        name = choice.get("name") if isinstance(choice, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            issues.append(Issue((*path, "name"), "BASE_TYPE_BAD_LENGTH", "Must be 1-100 long"))
        value = choice.get("value") if isinstance(choice, dict) else None
        if option_type == 3:
            if not isinstance(value, str):
                issues.append(Issue((*path, "value"), "BASE_TYPE_STRING", "Must be a string"))
            else:
                issues += _length_issue((*path, "value"), value, 100)
        elif option_type == 4 and (not isinstance(value, int) or isinstance(value, bool)):
            issues.append(Issue((*path, "value"), "NUMBER_TYPE_COERCE", "Must be an integer"))
        elif option_type == 10 and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            issues.append(Issue((*path, "value"), "NUMBER_TYPE_COERCE", "Must be a number"))
    return issues


def modal_issues(data: Any) -> list[Issue]:
    if not isinstance(data, dict):
        return [Issue(("data",), "BASE_TYPE_REQUIRED", "This field is required")]
    issues = _custom_id_issues(("data",), data.get("custom_id"))
    title = data.get("title")
    if not isinstance(title, str) or not 1 <= len(title) <= 45:
        issues.append(Issue(("data", "title"), "BASE_TYPE_BAD_LENGTH", "Must be 1-45 long"))
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        issues.append(
            Issue(("data", "components"), "BASE_TYPE_BAD_LENGTH", "Must have 1-5 components")
        )
    for path, component in _walk_with_paths(components, ("data", "components")):
        if component.get("type") == TEXT_INPUT:
            issues += _custom_id_issues(path, component.get("custom_id"))
            issues += _length_issue((*path, "label"), component.get("label"), 45)
            issues += _length_issue((*path, "placeholder"), component.get("placeholder"), 100)
            issues += _length_issue((*path, "value"), component.get("value"), 4000)
            if component.get("style") not in (1, 2):
                issues.append(Issue((*path, "style"), "BASE_TYPE_CHOICES", "Must be 1 or 2"))
        elif component.get("type") == LABEL:
            issues += _length_issue((*path, "label"), component.get("label"), 45)
            issues += _length_issue((*path, "description"), component.get("description"), 100)
    return issues
