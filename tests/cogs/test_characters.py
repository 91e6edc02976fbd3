"""End to end: members use /character and /privacy through real discord.py and loopback Discord."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from pathlib import Path

import pytest

from bot.app import running_bot
from bot.client.cameo_bot import CameoBot
from bot.settings import Settings
from tests.conftest import make_settings
from tests.discord.emulator import DiscordEmulator
from tests.imagefactory import (
    animated_webp,
    jpeg_with_gps_and_orientation,
    make_image,
    png,
    png_declaring,
)


def label(choice: dict[str, str]) -> str:
    """An autocomplete label without its short id: "Mira · k7m2q9 (yours)" → "Mira (yours)"."""
    name, rest = choice["name"].rsplit(" · ", 1)
    return f"{name} {rest.split(' ', 1)[1]}"


def stored_images(settings: Settings) -> list[Path]:
    return [p for p in settings.images_dir.glob("*/*") if p.is_file()]


async def create(
    emulator: DiscordEmulator, user: str, name: str, image: bytes | None = None, **options: object
):
    ix = await emulator.slash(
        emulator.user(user), "character create", name=name, image=image or png(seed=1), **options
    )
    return ix, await ix.response()


async def test_create_replies_with_the_character_card(
    emulator: DiscordEmulator, cameo: CameoBot, settings: Settings
) -> None:
    ix, message = await create(emulator, "alice", "Mira", description="A wandering mage.")
    assert ix.ephemeral
    assert ix.ack_latency < 3
    card = message.embeds[0]
    assert card["title"] == "Mira"
    assert card["description"] == "A wandering mage."
    shown = message.embed_attachment(0)
    assert shown is not None
    assert shown.filename == "reference.jpg"
    assert shown.data[:3] == b"\xff\xd8\xff"
    fields = {field["name"]: field["value"] for field in card["fields"]}
    assert fields["Owner"] == f"<@{emulator.user('alice').id}>"
    assert fields["Scenes"] == "0"
    assert card["footer"]["text"].startswith("ID ")
    assert len(stored_images(settings)) == 1


async def test_show_is_public_for_shared_characters_and_private_otherwise(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    await create(emulator, "alice", "Mira")
    await create(emulator, "alice", "Nox", visibility="private")
    shown = await emulator.slash(emulator.user("bob"), "character show", character="Mira")
    message = await shown.response()
    assert not shown.ephemeral
    assert message.embeds[0]["title"] == "Mira"
    assert message.pinged_user_ids == set()  # the owner field does not ping
    own = await emulator.slash(emulator.user("alice"), "character show", character="Nox")
    await own.response()
    assert own.ephemeral


async def test_private_characters_are_invisible_to_others(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    await create(emulator, "alice", "Nox", visibility="private")
    ix = await emulator.slash(emulator.user("bob"), "character show", character="Nox")
    message = await ix.response()
    assert ix.ephemeral
    assert "can't find" in message.content
    choices = await emulator.autocomplete(emulator.user("bob"), "character show", "character", "")
    assert choices == []
    listed = await emulator.slash(emulator.user("bob"), "character list")
    assert "no characters" in (await listed.response()).content


async def test_autocomplete_lists_own_first_and_matches_substrings(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    await create(emulator, "bob", "Amira")
    await create(emulator, "bob", "Mirabel")
    await create(emulator, "alice", "Zmira")
    choices = await emulator.autocomplete(
        emulator.user("alice"), "character show", "character", "mir"
    )
    assert [label(c) for c in choices] == ["Zmira (yours)", "Mirabel (shared)", "Amira (shared)"]
    assert all(c["name"].split(" · ")[1].startswith(c["value"]) for c in choices)
    assert all(len(c["value"]) == 6 for c in choices)
    chosen = await emulator.slash(
        emulator.user("alice"), "character show", character=choices[1]["value"]
    )
    assert (await chosen.response()).embeds[0]["title"] == "Mirabel"


async def test_autocomplete_works_on_edit_and_delete_too(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    await create(emulator, "alice", "Mira")
    for command in ("character edit", "character delete"):
        choices = await emulator.autocomplete(emulator.user("alice"), command, "character", "m")
        assert [label(c) for c in choices] == ["Mira (yours)"]


async def test_list_shows_what_you_can_use_and_filters_by_member(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    await create(emulator, "alice", "Mira")
    await create(emulator, "bob", "Brak")
    ix = await emulator.slash(emulator.user("alice"), "character list")
    text = (await ix.response()).embeds[0]["description"]
    assert "Mira" in text
    assert "Brak" in text
    only_bob = await emulator.slash(
        emulator.user("alice"), "character list", member=emulator.user("bob")
    )
    text = (await only_bob.response()).embeds[0]["description"]
    assert "Brak" in text
    assert "Mira" not in text


async def test_a_long_list_pages_with_buttons(emulator: DiscordEmulator, cameo: CameoBot) -> None:
    for i in range(17):
        await create(emulator, "alice", f"Hero {i:02d}", image=png(300, 300, seed=i))
    ix = await emulator.slash(emulator.user("alice"), "character list")
    message = await ix.response()
    assert message.embeds[0]["footer"]["text"].startswith("Page 1 of 2")
    next_button = next(b for b in message.buttons() if b["label"] == "Next")
    click = await emulator.click(emulator.user("alice"), message, next_button["custom_id"])
    await click.wait_ack()
    updated = emulator.message(message.id)
    assert updated.embeds[0]["footer"]["text"].startswith("Page 2 of 2")


async def test_only_the_owner_can_edit(emulator: DiscordEmulator, cameo: CameoBot) -> None:
    await create(emulator, "alice", "Mira")
    refused = await emulator.slash(
        emulator.user("carol"), "character edit", character="Mira", description="hijacked"
    )
    assert "Only the character's owner" in (await refused.response()).content
    edited = await emulator.slash(
        emulator.user("alice"),
        "character edit",
        character="Mira",
        name="Mira Vale",
        description="Archmage now.",
        visibility="private",
        image=png(400, 400, seed=7),
    )
    card = (await edited.response()).embeds[0]
    assert card["title"] == "Mira Vale"
    assert card["description"] == "Archmage now."
    fields = {field["name"]: field["value"] for field in card["fields"]}
    assert fields["Visible to"].startswith("Private")


async def test_delete_asks_first_and_a_non_owner_cannot(
    emulator: DiscordEmulator, cameo: CameoBot, settings: Settings
) -> None:
    await create(emulator, "alice", "Mira")
    refused = await emulator.slash(emulator.user("bob"), "character delete", character="Mira")
    assert "Manage Server" in (await refused.response()).content
    ask = await emulator.slash(emulator.user("alice"), "character delete", character="Mira")
    prompt = await ask.response()
    assert ask.ephemeral
    confirm = next(b for b in prompt.buttons() if b["label"] == "Delete Mira")
    click = await emulator.click(emulator.user("alice"), prompt, confirm["custom_id"])
    await click.wait_ack()
    await _until(emulator, prompt.id, "Deleted **Mira**")
    assert stored_images(settings) == []


async def test_a_moderator_can_delete_any_character_in_the_server(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    await create(emulator, "alice", "Mira")
    ask = await emulator.slash(emulator.user("carol"), "character delete", character="Mira")
    prompt = await ask.response()
    confirm = next(b for b in prompt.buttons() if b["label"] == "Delete Mira")
    click = await emulator.click(emulator.user("carol"), prompt, confirm["custom_id"])
    await click.response()
    gone = await emulator.slash(emulator.user("alice"), "character show", character="Mira")
    assert "can't find" in (await gone.response()).content


async def test_cancel_keeps_the_character(emulator: DiscordEmulator, cameo: CameoBot) -> None:
    await create(emulator, "alice", "Mira")
    ask = await emulator.slash(emulator.user("alice"), "character delete", character="Mira")
    prompt = await ask.response()
    cancel = next(b for b in prompt.buttons() if b["label"] == "Cancel")
    click = await emulator.click(emulator.user("alice"), prompt, cancel["custom_id"])
    await click.wait_ack()
    still = await emulator.slash(emulator.user("alice"), "character show", character="Mira")
    assert (await still.response()).embeds[0]["title"] == "Mira"


async def test_duplicate_names_get_a_clear_message(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    await create(emulator, "alice", "Mira")
    ix, message = await create(emulator, "alice", "MIRA", image=png(seed=2))
    assert ix.ephemeral
    assert "already have a character with that name" in message.content


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (b"this is text, not a picture", "isn't a picture"),
        (make_image(300, 300, "GIF"), "GIFs"),
        (png(300, 300)[:300], "damaged or incomplete"),
        (png(200, 600), "at least 256"),
        (animated_webp(), "animated"),
        (png_declaring(60_000, 60_000), "too many pixels"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * (10 * 1024 * 1024 + 1), "at most 10.0 MiB"),
    ],
    ids=["text", "gif", "truncated", "too-small", "animated", "bomb", "too-large"],
)
async def test_bad_images_get_a_clear_private_message_and_store_nothing(
    emulator: DiscordEmulator,
    cameo: CameoBot,
    settings: Settings,
    image: bytes,
    message: str,
) -> None:
    ix, reply = await create(emulator, "alice", "Mira", image=image)
    assert ix.ephemeral
    assert message in reply.content
    assert "Traceback" not in reply.content
    assert stored_images(settings) == []
    listed = await emulator.slash(emulator.user("alice"), "character list")
    assert "no characters" in (await listed.response()).content


@pytest.mark.parametrize(
    ("name", "message"),
    [("Mi\u200bra", "invisible"), ("   ", "at least one visible")],
)
async def test_bad_names_get_a_clear_message(
    emulator: DiscordEmulator, cameo: CameoBot, name: str, message: str
) -> None:
    _, reply = await create(emulator, "alice", name)
    assert message in reply.content


async def test_gps_and_other_metadata_never_reach_storage(
    emulator: DiscordEmulator, cameo: CameoBot, settings: Settings
) -> None:
    await create(emulator, "alice", "Mira", image=jpeg_with_gps_and_orientation())
    [stored] = stored_images(settings)
    assert b"PhoneMaker" not in stored.read_bytes()
    assert b"Exif" not in stored.read_bytes()


async def test_names_and_descriptions_never_ping_or_spoof(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    bob = emulator.user("bob")
    _, message = await create(
        emulator, "alice", "@everyone", description=f"<@{bob.id}> **bold** @here"
    )
    assert not message.pinged_everyone
    assert message.pinged_user_ids == set()
    card = message.embeds[0]
    assert f"<@{bob.id}>" not in card["description"]  # neutralised, not rendered as a mention
    assert "\\*\\*bold\\*\\*" in card["description"]
    shown = await emulator.slash(emulator.user("alice"), "character show", character="@everyone")
    public = await shown.response()
    assert not public.pinged_everyone
    assert public.pinged_user_ids == set()


async def test_personal_characters_from_dms(emulator: DiscordEmulator, data_dir: Path) -> None:
    # Guild-synced (development) commands do not exist in DMs; production syncs globally.
    async with running_bot(
        make_settings(emulator, data_dir, dev_guild_id=None), guild_ready_timeout=0.1
    ) as bot:
        await asyncio.wait_for(bot.wait_until_ready(), 15)
        await _personal_characters_from_dms(emulator)


async def _personal_characters_from_dms(emulator: DiscordEmulator) -> None:
    alice = emulator.user("alice")
    dm = emulator.dm_channel(alice)
    ix = await emulator.slash(alice, "character create", channel=dm, name="Solo", image=png())
    card = (await ix.response()).embeds[0]
    assert {f["name"]: f["value"] for f in card["fields"]}["Visible to"].startswith("Personal")
    in_server = await emulator.autocomplete(alice, "character show", "character", "so")
    assert [label(c) for c in in_server] == ["Solo (personal)"]
    bobs = await emulator.autocomplete(emulator.user("bob"), "character show", "character", "so")
    assert bobs == []
    refused = await emulator.slash(emulator.user("carol"), "character delete", character="Solo")
    assert "can't find" in (await refused.response()).content


async def test_export_then_forget_me_then_import_restores_the_same_characters(
    emulator: DiscordEmulator, cameo: CameoBot, settings: Settings
) -> None:
    alice = emulator.user("alice")
    await create(emulator, "alice", "Mira", image=png(seed=1), description="Mage")
    await create(emulator, "alice", "Nox", image=png(seed=2), visibility="private")
    before = sorted(p.name for p in stored_images(settings))

    export = await emulator.slash(alice, "character export")
    exported = await export.response()
    assert export.ephemeral
    [archive] = exported.attachments
    assert archive.filename == "cameo-characters.zip"
    with zipfile.ZipFile(io.BytesIO(archive.data)) as zipped:
        assert "cameo-characters.json" in zipped.namelist()

    forget = await emulator.slash(alice, "privacy forget-me")
    prompt = await forget.response()
    assert forget.ephemeral
    confirm = next(b for b in prompt.buttons() if b["label"] == "Delete everything")
    click = await emulator.click(alice, prompt, confirm["custom_id"])
    await click.wait_ack()
    report = await _until(emulator, prompt.id, "Deleted 2 characters")
    assert "2 stored pictures" in report.content
    assert stored_images(settings) == []

    from tests.discord.emulator import Upload

    restore = await emulator.slash(
        alice, "character import", file=Upload("cameo-characters.zip", archive.data)
    )
    summary = (await restore.response()).content
    assert "Imported 2" in summary
    assert sorted(p.name for p in stored_images(settings)) == before
    listed = await emulator.slash(alice, "character list")
    text = (await listed.response()).embeds[0]["description"]
    assert "Mira" in text
    assert "Nox" in text


async def _until(emulator: DiscordEmulator, message_id: int, text: str):
    import asyncio

    for _ in range(200):
        message = emulator.message(message_id)
        if text in message.content:
            return message
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared; last: {emulator.message(message_id).content!r}")


async def test_import_refuses_a_file_that_is_not_an_export(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    from tests.discord.emulator import Upload

    ix = await emulator.slash(
        emulator.user("alice"), "character import", file=Upload("notes.zip", b"PK not really")
    )
    assert "isn't a Cameo export" in (await ix.response()).content


async def test_import_of_a_mixed_archive_imports_the_good_and_lists_the_bad(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    from tests.discord.emulator import Upload

    ok = {"image": "images/ok.png"}
    manifest = {
        "format": "cameo-characters",
        "version": 1,
        "exported_at": "2026-11-21T12:00:00Z",
        "characters": [
            {"name": "Mira", **ok},
            {"name": "N" * 250, **ok},
            {"name": "Nox", "visibility": "public", **ok},
            {"name": "Tam", "visibility": "private", **ok},
        ],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("cameo-characters.json", json.dumps(manifest))
        archive.writestr("images/ok.png", png(seed=5))
    alice = emulator.user("alice")
    ix = await emulator.slash(
        alice, "character import", file=Upload("cameo-characters.zip", out.getvalue())
    )
    reply = await ix.response()
    assert ix.ephemeral
    assert reply.content.splitlines() == [
        "Imported 2: **Mira**, **Tam**.",
        f"• Skipped **{'N' * 39}…**: Names can be at most 32 characters long.",
        "• Skipped **Nox**: Its visibility must be private, approved or server.",
    ]
    listed = await emulator.slash(alice, "character list")
    text = (await listed.response()).embeds[0]["description"]
    assert "Mira" in text
    assert "Tam" in text
    assert "Nox" not in text


def test_a_big_import_summary_still_shows_what_was_skipped() -> None:
    from bot.characters.service import ImportReport
    from bot.models import Character, Visibility
    from cogs.characters._render import MESSAGE_LIMIT, import_summary

    def character(i: int) -> Character:
        return Character(
            id=i, public_id=f"{i:06d}", guild_id=1, owner_id=1, name=f"Character number {i:03d}",
            description="", visibility=Visibility.SERVER, image_sha256="0" * 64,
            image_format="png", image_width=1, image_height=1, original_sha256="0" * 64,
            original_format="png", original_width=1, original_height=1, scene_count=0,
            created_at="", updated_at="",
        )  # fmt: skip

    report = ImportReport(
        imported=[character(i) for i in range(200)],
        skipped=[
            (f"Bad {i}", "Its visibility must be private, approved or server.") for i in range(12)
        ],
    )
    summary = import_summary(report)
    assert len(summary) <= MESSAGE_LIMIT
    lines = summary.splitlines()
    assert lines[0].startswith("Imported 200: **Character number 000**, ")
    assert lines[0].endswith(" more.")
    assert lines[1] == "• Skipped **Bad 0**: Its visibility must be private, approved or server."
    assert lines[-1] == "…and 2 more skipped."


async def test_forget_me_with_nothing_stored_says_so(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    bob = emulator.user("bob")
    prompt = await (await emulator.slash(bob, "privacy forget-me")).response()
    confirm = next(b for b in prompt.buttons() if b["label"] == "Delete everything")
    await (await emulator.click(bob, prompt, confirm["custom_id"])).wait_ack()
    assert "nothing stored" in (await _until(emulator, prompt.id, "Done.")).content


async def test_export_with_nothing_to_export_says_so(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    ix = await emulator.slash(emulator.user("bob"), "character export")
    assert "no characters to export" in (await ix.response()).content


async def test_an_error_after_a_public_deferral_stays_private(
    emulator: DiscordEmulator, cameo: CameoBot, settings: Settings
) -> None:
    await create(emulator, "alice", "Mira")
    for stored in stored_images(settings):  # an operator deleted the file by hand
        stored.unlink()
    cameo.services.characters._previews.clear()
    ix = await emulator.slash(emulator.user("bob"), "character show", character="Mira")
    reply = await ix.wait_followup()
    assert reply.ephemeral
    assert "missing" in reply.content
    public = [m for m in emulator.messages(emulator.channel("general")) if not m.deleted]
    assert all("missing" not in m.content for m in public)


def test_export_files_are_batched_under_discords_request_limit() -> None:
    import discord

    from cogs.common import REQUEST_LIMIT, message_batches

    sizes = [9 * 1024 * 1024] * 5 + [1000] * 12
    files = [discord.File(io.BytesIO(b"x"), f"part{i}.zip") for i in range(len(sizes))]
    batches = message_batches(files, sizes)
    flat = [file for batch in batches for file in batch]
    assert flat == files
    position = 0
    for batch in batches:
        assert len(batch) <= 10
        assert sum(sizes[position : position + len(batch)]) <= REQUEST_LIMIT
        position += len(batch)
