"""Reading PluralKit and Tupperbox exports: what becomes a character, what is skipped and why."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.characters.archive import SkippedEntry
from bot.characters.foreign import (
    FOREIGN_MAX_BYTES,
    MAX_IMPORTED,
    MAX_LISTED,
    NOTE_SHORTENED,
    FetchedCharacter,
    ForeignExport,
    ForeignExportRejected,
    fetch_pictures,
    parse_foreign_export,
)
from bot.characters.service import MAX_CHARACTERS_PER_SCOPE
from bot.characters.text import DESCRIPTION_MAX
from bot.images.processing import ImageWorkers
from bot.net.safe_fetch import AVATAR_HOSTS, FetchBudget, FetchPolicy, SafeImageFetcher
from tests.bot.net.loopback import HostileHost, picture
from tests.imagefactory import png

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "foreign"
AVATAR = "https://cdn.pluralkit.me/images/aa/avatar.webp"


def pluralkit(*members: object, **extra: object) -> bytes:
    """A PluralKit export's outline (see the fixture for the full shape) around `members`."""
    document: dict[str, object] = {"version": 2, "id": "exmpl", "name": "Test", "members": members}
    document.update({"groups": [], "switches": []} | extra)
    return json.dumps(document).encode()


def member(name: object = "Mira", **fields: object) -> dict[str, object]:
    return {"name": name, "avatar_url": AVATAR} | fields


def parsed(data: bytes, **options: Any) -> ForeignExport:
    result = parse_foreign_export(data, **options)
    assert result is not None
    return result


def reasons(export: ForeignExport) -> dict[str, str]:
    return {entry.label: entry.reason for entry in export.skipped}


# The two formats, as their bots write them.


def test_a_pluralkit_export_becomes_characters_with_the_rest_skipped_and_why() -> None:
    export = parsed((FIXTURES / "pluralkit_export.json").read_bytes())
    assert export.source == "PluralKit"
    mira, ash = export.entries
    assert mira.name == "Mira"
    assert mira.description == (
        "Display name: Mira ✨\nPronouns: she/her\n\n"
        "A lighthouse keeper with a red scarf and ink-stained fingers.\n"
        "Always carries a brass lantern."
    )
    assert mira.avatar_url == "https://cdn.pluralkit.me/images/9f/mira.webp"
    assert mira.notes == ()
    # No avatar of its own: the one PluralKit shows on proxied messages pictures it as well.
    assert (ash.name, ash.description) == ("Ash", "")
    assert ash.avatar_url.startswith("https://cdn.discordapp.com/attachments/")
    skipped = reasons(export)
    assert list(skipped) == ["Juniper", "Quill", "mira", "Bartholomew Archibald Fitzwilliam III"]
    assert "i.imgur.com" in skipped["Juniper"]
    assert "no avatar" in skipped["Quill"]
    assert "earlier character in this file has this name" in skipped["mira"]
    assert "at most 32 characters" in skipped["Bartholomew Archibald Fitzwilliam III"]


def test_a_tupperbox_export_becomes_characters_with_the_rest_skipped_and_why() -> None:
    export = parsed((FIXTURES / "tupperbox_export.json").read_bytes())
    assert export.source == "Tupperbox"
    grimm, nyx = export.entries
    assert grimm.description == (
        "Display name: Grimm, Troupe Master\n\n"
        "Otherworldly creature in a crimson cloak.\nSpeaks in riddles."
    )
    assert grimm.avatar_url.startswith("https://cdn.tupperbox.app/pfp/")
    assert (nyx.name, nyx.description) == ("Nyx", "")
    skipped = reasons(export)
    assert list(skipped) == ["Pip", "entry 4"]
    assert "no avatar" in skipped["Pip"]
    assert "at least one visible character" in skipped["entry 4"]


def test_tuppers_decide_the_format_when_a_file_has_both_lists() -> None:
    data = json.dumps({"tuppers": [member("Grimm")], "members": [member("Mira")]}).encode()
    export = parsed(data)
    assert export.source == "Tupperbox"
    assert [entry.name for entry in export.entries] == ["Grimm"]


def test_a_byte_order_mark_and_leading_whitespace_are_read_past() -> None:
    assert parsed(b"\xef\xbb\xbf \n" + pluralkit(member())).entries[0].name == "Mira"


# Files that are someone else's business: Cameo's own archive reader judges them.


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("cameo-characters.json", "{}")
    return out.getvalue()


@pytest.mark.parametrize(
    "data", [_zip(), png(64, 64), b"", b"   ", b"[1, 2]", b"hello", b"\xff\xfe{"]
)
def test_a_file_that_is_not_a_json_object_is_left_to_the_archive_reader(data: bytes) -> None:
    assert parse_foreign_export(data) is None


# Whole files refused: nothing is created from them.


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"members": [', "damaged"),
        (b"{not json}", "damaged"),
        (b'{"members": [{"name": 1' + b"0" * 5000 + b"}]}", "damaged"),
        (b'{"name": "a system"}', "lists no members or tuppers"),
        (b'{"members": {"mira": {}}}', "list of characters can't be read"),
        (b'{"tuppers": null}', "list of characters can't be read"),
        (b'{"members": ["\xff"]}', "isn't UTF-8"),
        (b'{"members": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", "nested"),
        (b'{"members": ' + b"[" * 40 + b"]" * 40 + b"}", "nested"),
        (b'{"members": [' + b"[]," * 600_000 + b"[]]}", "far more"),
        (b"{" + b" " * FOREIGN_MAX_BYTES + b"}", "at most 10.0 MiB"),
    ],
    ids=[
        "truncated",
        "not json",
        "integer too long",
        "neither format",
        "members not a list",
        "tuppers not a list",
        "not utf-8",
        "deeply nested",
        "nested past the limit",
        "too many containers",
        "too large",
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_whole(data: bytes, reason: str) -> None:
    with pytest.raises(ForeignExportRejected, match=reason):
        parse_foreign_export(data)


def test_a_file_listing_100_000_members_is_refused_whole() -> None:
    with pytest.raises(ForeignExportRejected, match="lists 100,000 members"):
        parse_foreign_export(pluralkit(*[member(f"m{i}") for i in range(100_000)]))


def test_up_to_the_hard_cap_a_file_is_read_and_the_extra_members_reported() -> None:
    export = parsed(pluralkit(*[member(f"m{i}") for i in range(MAX_LISTED)]))
    assert len(export.entries) == MAX_IMPORTED
    assert len(export.skipped) == MAX_LISTED - MAX_IMPORTED
    assert export.skipped[0] == SkippedEntry(
        f"m{MAX_IMPORTED}", "Only the first 200 characters in a file are imported."
    )
    with pytest.raises(ForeignExportRejected, match="at most 2,000"):
        parse_foreign_export(pluralkit(*[member(f"m{i}") for i in range(MAX_LISTED + 1)]))


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = "[{" * 50_000
    export = parsed(pluralkit(member(description=text[:900]), note=text))
    assert export.entries[0].description == text[:900]


def test_the_import_cap_is_the_per_member_character_cap() -> None:
    assert MAX_IMPORTED == MAX_CHARACTERS_PER_SCOPE


def test_the_caller_can_ask_for_fewer_characters() -> None:
    export = parsed(pluralkit(member("A"), member("B"), member("C")), limit=2)
    assert [entry.name for entry in export.entries] == ["A", "B"]
    assert reasons(export) == {"C": "Only the first 2 characters in a file are imported."}


# Entries skipped one by one, with the reason the member sees.


def test_names_clash_in_the_form_cameo_compares_them() -> None:
    export = parsed(
        pluralkit(member("Mira"), member("MIRA"), member("ｍｉｒａ"), member("  Mira  "))
    )
    assert [entry.name for entry in export.entries] == ["Mira"]
    assert len(export.skipped) == 3
    assert {entry.reason for entry in export.skipped} == {
        "An earlier character in this file has this name."
    }


def test_a_skipped_entry_does_not_take_its_name_from_a_later_one() -> None:
    export = parsed(pluralkit(member("Mira", avatar_url=None), member("mira")))
    assert [entry.name for entry in export.entries] == ["mira"]


@pytest.mark.parametrize(
    ("name", "label", "reason"),
    [
        ("", "entry 1", "at least one visible character"),
        ("   ", "entry 1", "at least one visible character"),
        ("\u200bMira", "Mira", "invisible or control characters"),
        ("M" * 33, "M" * 33, "at most 32 characters"),
        (42, "entry 1", "It has no name."),
        (None, "entry 1", "It has no name."),
    ],
)
def test_an_unusable_name_skips_the_entry(name: object, label: str, reason: str) -> None:
    export = parsed(pluralkit(member(name)))
    assert export.entries == ()
    [skipped] = export.skipped
    assert skipped.label == label
    assert reason in skipped.reason


@pytest.mark.parametrize("value", [1, "Mira", None, ["Mira"]])
def test_an_entry_that_is_not_an_object_is_skipped(value: object) -> None:
    assert parsed(pluralkit(value)).skipped == (
        SkippedEntry("entry 1", "This entry isn't a character."),
    )


@pytest.mark.parametrize(
    ("avatar", "reason"),
    [
        (None, "no avatar"),
        ("", "no avatar"),
        (42, "no avatar"),
        ("http://cdn.discordapp.com/a.png", "isn't secure"),
        ("https://127.0.0.1/a.png", "Cameo only downloads pictures kept by Discord"),
        ("https://cdn.discordapp.com.evil.example/a.png", "Cameo only downloads pictures"),
        ("javascript:alert(1)", "isn't a web address"),
    ],
)
def test_an_entry_without_a_picture_cameo_may_download_is_skipped(
    avatar: object, reason: str
) -> None:
    export = parsed(pluralkit(member(avatar_url=avatar)))
    assert export.entries == ()
    assert reason in export.skipped[0].reason


# Descriptions.


def test_a_description_too_long_with_its_header_is_shortened_and_says_so() -> None:
    export = parsed(pluralkit(member(pronouns="she/her", description="x" * DESCRIPTION_MAX)))
    [entry] = export.entries
    assert len(entry.description) == DESCRIPTION_MAX
    assert entry.description.startswith("Pronouns: she/her\n\nxxx")
    assert entry.description.endswith("x…")
    assert entry.notes == (NOTE_SHORTENED,)


def test_control_characters_are_dropped_and_header_fields_kept_to_one_line() -> None:
    export = parsed(
        pluralkit(
            member(display_name="Mira\n\u0000the Bold", description="one\x00 two\x1b\r\nthree\r")
        )
    )
    assert export.entries[0].description == "Display name: Mira the Bold\n\none two\nthree"


def test_a_display_name_that_is_the_name_is_not_repeated() -> None:
    assert parsed(pluralkit(member(display_name="Mira"))).entries[0].description == ""


def test_a_tuppers_nick_is_its_display_name() -> None:
    data = json.dumps({"tuppers": [member("Grimm", nick="Grimm the Great")], "groups": []})
    assert parsed(data.encode()).entries[0].description == "Display name: Grimm the Great"


# Whatever the bytes, the answer is an export, None, or a refusal, never a crash.


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_an_export_none_or_a_refusal(data: bytes) -> None:
    try:
        parse_foreign_export(b"{" + data)
        parse_foreign_export(data)
    except ForeignExportRejected:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(json_values, max_size=8), st.sampled_from(["members", "tuppers"]))
def test_any_entries_give_an_export_or_a_refusal(entries: list[object], key: str) -> None:
    try:
        export = parse_foreign_export(json.dumps({key: entries}).encode())
    except ForeignExportRejected:
        return
    assert export is not None
    assert len(export.entries) + len(export.skipped) == len(entries)


# Fetching the pictures: an avatar that can't be downloaded skips its character.


@pytest.fixture
async def host() -> AsyncIterator[HostileHost]:
    async with HostileHost() as server:
        yield server


def loopback_fetcher(policy: FetchPolicy) -> SafeImageFetcher:
    async def resolve(_host: str) -> list[str]:
        return ["127.0.0.1"]

    return SafeImageFetcher(
        images=ImageWorkers(), policy=policy, resolver=resolve, allow_loopback_for_tests=True
    )


async def test_each_picture_is_fetched_and_one_that_cannot_be_skips_its_character(
    host: HostileHost,
) -> None:
    image = png(300, 300, seed=3)
    host.routes["/mira.png"] = picture(image)
    policy = FetchPolicy(hosts=AVATAR_HOSTS, require_https=False, ports=frozenset({host.port}))
    data = pluralkit(
        member("Mira", avatar_url=host.url("cdn.discordapp.com", "/mira.png")),
        member("Ash", avatar_url=host.url("cdn.discordapp.com", "/expired.png")),
    )
    export = parsed(data, policy=policy)
    async with loopback_fetcher(policy) as fetcher:
        results = [item async for item in fetch_pictures(export.entries, fetcher, FetchBudget())]
    assert results[0] == FetchedCharacter(export.entries[0], image)
    assert results[1] == SkippedEntry(
        "Ash", "Its picture is no longer available (the link may have expired)."
    )


async def test_once_the_budget_is_spent_the_remaining_characters_are_skipped(
    host: HostileHost,
) -> None:
    image = png(300, 300, seed=4)
    host.routes["/a.png"] = picture(image)
    policy = FetchPolicy(require_https=False, ports=frozenset({host.port}))
    url = host.url("cdn.pluralkit.me", "/a.png")
    export = parsed(pluralkit(*[member(name, avatar_url=url) for name in "ABC"]), policy=policy)
    async with loopback_fetcher(policy) as fetcher:
        budget = FetchBudget(max_bytes=len(image) + 1)
        results = [item async for item in fetch_pictures(export.entries, fetcher, budget)]
    assert isinstance(results[0], FetchedCharacter)
    assert all(isinstance(item, SkippedEntry) for item in results[1:])
    assert "the most one import may" in results[2].reason  # type: ignore[union-attr]
