"""End to end: looks, sharing, handing over and presets, through real discord.py and loopback
Discord, with the scenes made by the fake Segmind."""

from __future__ import annotations

import base64
import hashlib
import json

from bot.client.cameo_bot import CameoBot
from bot.models import Viewer
from tests.cogs.test_scenes import private_answer, register, results_in_thread, scene
from tests.discord.emulator import DiscordEmulator
from tests.fakes import FakeSegmind
from tests.imagefactory import png


def sent_picture_hashes(segmind: FakeSegmind) -> list[str]:
    """The SHA-256 of every picture in the last request the fake received, however sent
    (a file part, or a base64 data URL)."""
    body = segmind.requests[-1].body
    values = body.values() if isinstance(body, dict) else []
    found = []
    for value in values:
        if isinstance(value, bytes):
            found.append(hashlib.sha256(value).hexdigest())
        elif isinstance(value, str) and value.startswith("data:image/"):
            found.append(hashlib.sha256(base64.b64decode(value.split(",", 1)[1])).hexdigest())
    return found


async def test_a_look_is_added_chosen_by_autocomplete_and_sent_to_the_service(
    emulator: DiscordEmulator, segmind_bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register(emulator)
    added = await emulator.slash(
        emulator.user("alice"),
        "character look add",
        character="Mira",
        name="winter coat",
        image=png(seed=7),
    )
    reply = await added.response()
    assert added.ephemeral
    assert "new look, “winter coat”" in reply.content
    fields = {field["name"]: field["value"] for field in reply.embeds[0]["fields"]}
    assert fields["Looks (2)"].startswith("**default**, winter coat")
    sheet = reply.embed_attachment(1)  # the looks, as a contact sheet under the card
    assert sheet is not None
    assert sheet.filename.startswith("looks.")

    choices = await emulator.autocomplete(
        emulator.user("bob"), "scene", "look", "coat", character="Mira"
    )
    assert [choice["value"] for choice in choices] == ["winter coat"]

    card, _ = await scene(emulator, "bob", look=choices[0]["value"], prompt="in the snow")
    settings = next(f["value"] for f in card.embeds[0]["fields"] if f["name"] == "Settings")
    assert "Look: winter coat" in settings
    await results_in_thread(emulator, card)
    # The service was sent that look's picture, not the character's first one.
    alice = Viewer(emulator.user("alice").id, emulator.guild.id)
    mira = await segmind_bot.services.characters.resolve(alice, "Mira")
    looks = {look.name: look for look in await segmind_bot.services.looks.looks_of(mira)}
    sent = sent_picture_hashes(segmind_fake)
    assert looks["winter coat"].image_sha256 in sent
    assert looks["default"].image_sha256 not in sent


async def test_the_owner_shares_an_approved_character_with_exactly_one_member(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    await register(emulator, visibility="approved")
    before = await emulator.autocomplete(emulator.user("bob"), "scene", "character", "mi")
    assert before == []
    refused = await emulator.slash(emulator.user("bob"), "scene", character="Mira", prompt="x")
    assert "aren't on their list" in (await private_answer(refused)).content

    shared = await emulator.slash(
        emulator.user("alice"), "character share", character="Mira", member=emulator.user("bob")
    )
    message = await shared.response()
    assert shared.ephemeral
    assert message.pinged_user_ids == set()
    after = await emulator.autocomplete(emulator.user("bob"), "scene", "character", "mi")
    assert [choice["name"].split(" · ")[0] for choice in after] == ["Mira"]
    carol = await emulator.autocomplete(emulator.user("carol"), "scene", "character", "mi")
    assert carol == []

    shown = await emulator.slash(emulator.user("alice"), "character show", character="Mira")
    card = (await shown.response()).embeds[0]
    # The public card never says who it is shared with.
    assert "Shared with" not in {field["name"] for field in card["fields"]}


async def test_a_character_changes_hands_only_when_the_receiver_accepts(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    await register(emulator)
    offered = await emulator.slash(
        emulator.user("alice"), "character transfer", character="Mira", member=emulator.user("bob")
    )
    offer = await offered.response()
    assert not offered.ephemeral
    assert offer.pinged_user_ids == set()
    accept = next(b["custom_id"] for b in offer.buttons() if b["label"] == "Accept")

    by_carol = await emulator.click(emulator.user("carol"), offer, accept)
    assert "Only" in (await by_carol.response()).content
    by_alice = await emulator.click(emulator.user("alice"), offer, accept)
    assert "Only" in (await by_alice.response()).content

    by_bob = await emulator.click(emulator.user("bob"), offer, accept)
    await by_bob.wait_ack()
    await emulator._state.wait_until(
        lambda: "now belongs to" in emulator.message(offer.id).content, 5, "the transfer"
    )
    shown = await emulator.slash(emulator.user("carol"), "character show", character="Mira")
    fields = {f["name"]: f["value"] for f in (await shown.response()).embeds[0]["fields"]}
    assert fields["Owner"] == f"<@{emulator.user('bob').id}>"


async def test_preferences_fill_what_the_command_leaves_out_and_the_card_says_so(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    await register(emulator)
    edited = await emulator.slash(
        emulator.user("alice"), "character edit", character="Mira", default_aspect_ratio="16:9"
    )
    fields = {f["name"]: f["value"] for f in (await edited.response()).embeds[0]["fields"]}
    assert fields["Default scene settings"] == "aspect ratio 16:9"

    saved = await emulator.slash(emulator.user("bob"), "prefs set", style="realistic")
    assert "style realistic" in (await saved.response()).content
    shown = await emulator.slash(emulator.user("bob"), "prefs show")
    assert "style realistic" in (await shown.response()).content

    card, _ = await scene(emulator, "bob", speed="turbo")
    settings = next(f["value"] for f in card.embeds[0]["fields"] if f["name"] == "Settings")
    assert "Style: realistic (their preset)" in settings
    assert "Aspect ratio: 16:9 (character default)" in settings
    assert "Speed: turbo" in settings
    assert "Speed: turbo (" not in settings  # given in the command: no source named

    cleared = await emulator.slash(emulator.user("bob"), "prefs clear")
    assert "Forgotten" in (await cleared.response()).content


async def test_a_tupperbox_file_imports_and_lists_what_could_not_come(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    export = {
        "tuppers": [
            {"name": "Pip", "avatar_url": None, "brackets": ["pip:", ""]},
            {"name": "Zed", "avatar_url": "https://example.org/zed.png", "brackets": ["z:", ""]},
            {"name": "   ", "avatar_url": "https://cdn.tupperbox.app/pfp/1/x.webp"},
        ]
    }
    ix = await emulator.slash(
        emulator.user("alice"), "character import", file=json.dumps(export).encode()
    )
    reply = await ix.response()
    assert ix.ephemeral
    assert reply.content.startswith("From your Tupperbox export: Nothing was imported.")
    assert "• Skipped **Pip**" in reply.content
    assert "• Skipped **Zed**: Its picture is on example.org" in reply.content
    assert reply.pinged_user_ids == set()

    hostile = await emulator.slash(
        emulator.user("alice"), "character import", file=b'{"tuppers": ' + b"[" * 10_000
    )
    refusal = await hostile.response()
    assert hostile.ephemeral
    assert "Traceback" not in refusal.content
    assert (
        await segmind_bot.services.characters.list_visible(
            Viewer(emulator.user("alice").id, emulator.guild.id)
        )
        == []
    )


async def test_a_co_owner_edits_and_adds_looks_but_cannot_delete(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    await register(emulator, visibility="private")
    added = await emulator.slash(
        emulator.user("alice"),
        "character co-owner add",
        character="Mira",
        member=emulator.user("bob"),
    )
    assert "may now use and edit **Mira**" in (await added.response()).content

    edited = await emulator.slash(
        emulator.user("bob"), "character edit", character="Mira", description="Keeper of lights"
    )
    card = (await edited.response()).embeds[0]
    assert card["description"] == "Keeper of lights"
    fields = {field["name"]: field["value"] for field in card["fields"]}
    assert fields["Shared with"] == f"<@{emulator.user('bob').id}> (co-owner)"
    look = await emulator.slash(
        emulator.user("bob"),
        "character look add",
        character="Mira",
        name="storm",
        image=png(seed=9),
    )
    assert "new look, “storm”" in (await look.response()).content

    deleted = await emulator.slash(emulator.user("bob"), "character delete", character="Mira")
    refusal = await deleted.response()
    assert deleted.ephemeral
    assert "Only the character's owner" in refusal.content
    hidden = await emulator.slash(emulator.user("carol"), "character show", character="Mira")
    assert "can't find" in (await hidden.response()).content
