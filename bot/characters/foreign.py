"""Read PluralKit and Tupperbox exports as characters to create, and fetch their pictures.

The formats (sources in tests/fixtures/foreign/README.md):

- PluralKit (`pk;export`): one JSON object holding `version`, the system's own fields (`id`,
  `uuid`, `name`, ...), `config`, `accounts`, `members`, `groups` and `switches`. A member has
  `name`, `display_name`, `pronouns`, `description`, `avatar_url`, `webhook_avatar_url`, `color`,
  `birthday`, `proxy_tags` and more.
- Tupperbox (`tul!export`): one JSON object holding `tuppers` and `groups`. A tupper has `name`,
  `nick`, `description`, `avatar_url`, `brackets`, `tag`, `birthday`, `group_id` and more.

A file with `tuppers` is Tupperbox's, else one with `members` is PluralKit's: the order
PluralKit's own importer checks them in. Each member or tupper becomes a character: its name,
and its description headed by its display name (`display_name`, Tupperbox's `nick`) and pronouns
when it has them. Proxy tags, colours, birthdays, groups and switches mean nothing to Cameo.

The avatar is not optional. Every Cameo character has a reference picture, so an entry whose
avatar is missing, is kept anywhere but Discord, PluralKit or Tupperbox, or cannot be downloaded
(an expired link, not a picture, too large, too slow) is skipped and reported with the reason;
it is never created without a picture. `parse_foreign_export` skips what the file itself shows;
`fetch_pictures` skips what fails to download.

The file is untrusted: it is refused whole, before anything is created, when it is too large,
nested too deeply, damaged, or lists absurdly many members. Within a good file one bad entry
costs only itself, and only the first MAX_IMPORTED usable entries are kept, the rest reported.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from bot.characters.archive import SkippedEntry, entry_label
from bot.characters.text import DESCRIPTION_MAX, clean_description, clean_name, name_key
from bot.errors import CameoError
from bot.net.safe_fetch import (
    DEFAULT_POLICY,
    FetchBudget,
    FetchPolicy,
    FetchRefused,
    SafeImageFetcher,
    check_link,
)

Source = Literal["PluralKit", "Tupperbox"]

# Both bots hand the export over as one Discord attachment (PluralKit uploads `system.json` to a
# DM), and a bot's uploads are at most 10 MiB, so a genuine export is never larger.
FOREIGN_MAX_BYTES = 10 * 1024 * 1024
# The most characters one member may have (MAX_CHARACTERS_PER_SCOPE in service.py, which this
# module cannot import: the service will import this one). More could never be created.
MAX_IMPORTED = 200
# Refuse the whole file beyond this: twice PluralKit's default member limit (1,000), so any real
# system fits, while a file listing 100,000 members is not read entry by entry.
MAX_LISTED = 2000
# PluralKit's export nests five deep (system, members, member, proxy_tags, tag). Python's parser
# recurses once per level: refusing deep files first keeps it far from the recursion limit.
MAX_NESTING = 32
# Switch history is the bulk of a large PluralKit export (two containers per switch); this
# allows hundreds of thousands of switches but not a file of nothing but empty brackets.
MAX_CONTAINERS = 500_000
NOTE_SHORTENED = f"Its description was shortened to {DESCRIPTION_MAX:,} characters."

_JSON_WHITESPACE = b" \t\r\n"
_UTF8_BOM = b"\xef\xbb\xbf"
# A JSON string, possessive so it never backtracks: an unterminated one runs to the end of the
# text, which keeps the pre-scan linear whatever the file holds.
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\[\s\S])*+(?:"|\\?\Z)')
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]++")
_SPACES = re.compile(r"\s+")
_HEADER_FIELD_MAX = 100  # PluralKit's limit for display names and pronouns

_WANTED = "Attach the file from pk;export or tul!export, or a .zip made by /character export."


class ForeignExportRejected(CameoError):
    """The file as a whole can't be imported; nothing was created. The message says why."""


class _Unusable(CameoError):
    """One entry can't become a character; the message is the reason the report gives."""


@dataclass(frozen=True)
class ForeignCharacter:
    """A member or tupper that can become a character once its avatar is downloaded."""

    label: str  # how the import report names it: see entry_label
    name: str  # already cleaned by clean_name
    description: str  # already cleaned by clean_description
    avatar_url: str  # allowed by the fetch policy's link check; not yet fetched
    notes: tuple[str, ...] = ()  # what changed on the way in, for the report


@dataclass(frozen=True)
class ForeignExport:
    source: Source
    entries: tuple[ForeignCharacter, ...]
    skipped: tuple[SkippedEntry, ...]


@dataclass(frozen=True)
class FetchedCharacter:
    character: ForeignCharacter
    image: bytes  # downloaded within limits; still to be checked by clean_reference


@dataclass(frozen=True)
class _Member:
    """The fields the two formats share, under one set of names; values are still untrusted."""

    name: object
    display_name: object
    pronouns: object
    description: object
    avatar_url: object


def parse_foreign_export(
    data: bytes, *, limit: int = MAX_IMPORTED, policy: FetchPolicy = DEFAULT_POLICY
) -> ForeignExport | None:
    """Read a PluralKit or Tupperbox export; None if `data` is no JSON object (try the zip reader).

    Raises ForeignExportRejected when the file is JSON but can't be imported at all. `limit` is
    how many characters to keep; `policy` should be the fetcher's, so avatar links it would
    refuse are reported now. CPU-bound for large files: run it through `asyncio.to_thread`.
    """
    body = data.removeprefix(_UTF8_BOM).lstrip(_JSON_WHITESPACE)
    if not body.startswith(b"{"):
        return None  # not a JSON object: a zip, a picture, anything else is the archive's call
    if len(data) > FOREIGN_MAX_BYTES:
        raise ForeignExportRejected(
            f"That file is {_mib(len(data))}; PluralKit and Tupperbox exports are at most "
            f"{_mib(FOREIGN_MAX_BYTES)}. {_WANTED}"
        )
    document = _load(body)
    source, listed = _members(document)
    if len(listed) > MAX_LISTED:
        noun = "tuppers" if source == "Tupperbox" else "members"
        raise ForeignExportRejected(
            f"That file lists {len(listed):,} {noun}; Cameo reads at most {MAX_LISTED:,} "
            "from one file."
        )
    read = _pluralkit_member if source == "PluralKit" else _tupper
    return _plan(source, (read(value) for value in listed), limit, policy)


async def fetch_pictures(
    entries: Iterable[ForeignCharacter], fetcher: SafeImageFetcher, budget: FetchBudget
) -> AsyncIterator[FetchedCharacter | SkippedEntry]:
    """Download each entry's avatar in turn: yield it with its picture, or skipped with why.

    One at a time, so the caller checks and stores each picture before the next is held, and
    the image hosts see a polite client. Once the budget is spent, the rest are skipped.
    """
    for entry in entries:
        try:
            image = await fetcher.fetch(entry.avatar_url, budget)
        except FetchRefused as refused:
            yield SkippedEntry(entry.label, refused.message)
            continue
        yield FetchedCharacter(entry, image)


def _load(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ForeignExportRejected(
            f"That file isn't a PluralKit or Tupperbox export: it isn't UTF-8 text. {_WANTED}"
        ) from None
    _check_shape(text)
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        # ValueError also covers integers too long to convert; RecursionError cannot happen
        # after _check_shape, but a refusal is the right answer if it ever does.
        raise ForeignExportRejected(
            "That file looks like JSON but is damaged, so it can't be read. Export it again "
            "with pk;export or tul!export and attach the new file."
        ) from None
    if not isinstance(document, dict):
        raise _not_an_export()
    return document


def _check_shape(text: str) -> None:
    """Refuse text nested too deeply or holding too many objects and lists, before parsing it."""
    skeleton = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    if skeleton.count("[") + skeleton.count("{") > MAX_CONTAINERS:
        raise ForeignExportRejected(
            "That file holds far more than a PluralKit or Tupperbox export does, so Cameo "
            "won't read it."
        )
    depth = 0
    for bracket in skeleton:
        if bracket in "[{":
            depth += 1
            if depth > MAX_NESTING:
                raise ForeignExportRejected(
                    "That file is nested far more deeply than a PluralKit or Tupperbox export, "
                    "so Cameo won't read it."
                )
        else:
            depth -= 1


def _members(document: dict[str, Any]) -> tuple[Source, list[Any]]:
    source: Source
    if "tuppers" in document:
        source, listed = "Tupperbox", document["tuppers"]
    elif "members" in document:
        source, listed = "PluralKit", document["members"]
    else:
        raise _not_an_export()
    if not isinstance(listed, list):
        raise ForeignExportRejected(
            f"That {source} export is damaged: its list of characters can't be read."
        )
    return source, listed


def _pluralkit_member(value: object) -> _Member | None:
    if not isinstance(value, dict):
        return None
    # `avatar_url` is the member's own avatar; `webhook_avatar_url` the one shown on proxied
    # messages, set only when it differs. Either pictures the character.
    avatar = value.get("avatar_url") or value.get("webhook_avatar_url")
    return _Member(
        name=value.get("name"),
        display_name=value.get("display_name"),
        pronouns=value.get("pronouns"),
        description=value.get("description"),
        avatar_url=avatar,
    )


def _tupper(value: object) -> _Member | None:
    if not isinstance(value, dict):
        return None
    return _Member(
        name=value.get("name"),
        display_name=value.get("nick"),
        pronouns=None,  # Tupperbox has no pronouns field
        description=value.get("description"),
        avatar_url=value.get("avatar_url"),
    )


def _plan(
    source: Source, members: Iterable[_Member | None], limit: int, policy: FetchPolicy
) -> ForeignExport:
    entries: list[ForeignCharacter] = []
    skipped: list[SkippedEntry] = []
    taken: set[str] = set()
    for position, member in enumerate(members, 1):
        if member is None:
            skipped.append(
                SkippedEntry(entry_label(position, None), "This entry isn't a character.")
            )
            continue
        label = entry_label(position, member.name)
        try:
            character = _character(label, member, policy)
        except CameoError as problem:
            skipped.append(SkippedEntry(label, problem.message))
            continue
        key = name_key(character.name)
        if key in taken:
            # Only names that will be created count: a skipped entry never blocks a later one.
            skipped.append(SkippedEntry(label, "An earlier character in this file has this name."))
        elif len(entries) >= limit:
            skipped.append(
                SkippedEntry(label, f"Only the first {limit} characters in a file are imported.")
            )
        else:
            taken.add(key)
            entries.append(character)
    return ForeignExport(source, tuple(entries), tuple(skipped))


def _character(label: str, member: _Member, policy: FetchPolicy) -> ForeignCharacter:
    """Return the entry as a character to create; raise CameoError saying why it can't be."""
    if not isinstance(member.name, str):
        raise _Unusable("It has no name.")
    name = clean_name(member.name)
    if not isinstance(member.avatar_url, str) or not member.avatar_url.strip():
        raise _Unusable(
            "It has no avatar, and every Cameo character needs a reference picture. "
            "Create it with /character create instead."
        )
    check_link(member.avatar_url.strip(), policy)
    description, notes = _description(member, name)
    return ForeignCharacter(
        label=label,
        name=name,
        description=clean_description(description),
        avatar_url=member.avatar_url.strip(),
        notes=notes,
    )


def _description(member: _Member, name: str) -> tuple[str, tuple[str, ...]]:
    """Return the display name and pronouns as a header over the description, within the limit.

    Too long is shortened rather than refused: the text came from another bot, whose limits
    differ, and losing its tail is better than losing the character.
    """
    header = []
    display_name = _one_line(member.display_name)
    if display_name and display_name != name:
        header.append(f"Display name: {display_name}")
    pronouns = _one_line(member.pronouns)
    if pronouns:
        header.append(f"Pronouns: {pronouns}")
    # Sliced first: a hostile description may be megabytes long, and only 1,000 characters stay.
    raw = member.description[: DESCRIPTION_MAX * 4] if isinstance(member.description, str) else ""
    body = _tidy(raw)
    text = "\n\n".join(part for part in ("\n".join(header), body) if part)
    if len(text) <= DESCRIPTION_MAX:
        return text, ()
    return text[: DESCRIPTION_MAX - 1].rstrip() + "…", (NOTE_SHORTENED,)


def _one_line(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return _SPACES.sub(" ", _tidy(value[: _HEADER_FIELD_MAX * 4])).strip()[:_HEADER_FIELD_MAX]


def _tidy(text: str) -> str:
    """Return text NFC, with line breaks unified and control characters dropped.

    Dropped rather than refused (as typed text would be): they came from another bot's file,
    and the member could not fix them in Cameo anyway.
    """
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in {"Cc", "Cs"}
    ).strip()


def _not_an_export() -> ForeignExportRejected:
    return ForeignExportRejected(
        "That file isn't a PluralKit or Tupperbox export: it lists no members or tuppers. "
        + _WANTED
    )


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"
