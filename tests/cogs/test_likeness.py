"""End to end: each picture of a photographic character carries its likeness to the reference,
scored with the real face models, shown in words and number; drawings get no verdict."""

from __future__ import annotations

import io

from PIL import Image

from bot.client.cameo_bot import CameoBot
from tests.cogs.test_consent import PHOTO, button
from tests.cogs.test_quotas import admin
from tests.cogs.test_scenes import register, results_in_thread, scene
from tests.discord.emulator import DiscordEmulator
from tests.fakes import FakeSegmind
from tests.fixtures_photos import HOPPER


def enlarged(data: bytes) -> bytes:
    """A photograph as a service returns one: 1024 px, JPEG."""
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").resize((1024, 1024)).save(out, "JPEG")
    return out.getvalue()


async def register_photo(emulator: DiscordEmulator, name: str = "Eileen") -> None:
    alice = emulator.user("alice")
    ix = await emulator.slash(alice, "character create", name=name, image=PHOTO)
    question = await ix.response()
    await (await emulator.click(alice, question, button(question, "It's me"))).wait_ack()
    await ix.wait_followup(1)


async def test_pictures_carry_their_likeness_and_info_explains_it(
    emulator: DiscordEmulator, segmind_bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await admin(emulator, "carol", "quota exempt", member=emulator.user("alice"), exempt=True)
    await register_photo(emulator)

    segmind_fake.next_pictures = [enlarged(PHOTO)]
    card, _ = await scene(emulator, character="Eileen", prompt="on the moon")
    same = (await results_in_thread(emulator, card))[0]
    assert "Likeness: 🟢 strong 0.9" in same.content

    segmind_fake.next_pictures = [enlarged(HOPPER)]
    card, _ = await scene(emulator, character="Eileen", prompt="in a library")
    other = (await results_in_thread(emulator, card))[0]
    assert "Likeness: 🔴 weak 0." in other.content

    card, _ = await scene(emulator, character="Eileen", prompt="a landscape")  # no face
    nobody = (await results_in_thread(emulator, card))[0]
    assert "Likeness: no face found" in nobody.content

    info = await emulator.click(
        emulator.user("bob"),
        same,
        next(b["custom_id"] for b in same.buttons() if b["label"] == "Info"),
    )
    text = (await info.response()).content
    assert "Likeness of picture 1: 0.9" in text
    assert "strong (its face against the reference picture" in text


async def test_drawn_characters_get_no_verdict_and_a_server_can_turn_it_off(
    emulator: DiscordEmulator, segmind_bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register(emulator)  # a drawing, no photographed face
    segmind_fake.next_pictures = [enlarged(PHOTO)]
    card, _ = await scene(emulator)
    drawn = (await results_in_thread(emulator, card))[0]
    assert "Likeness: not scored: drawn or stylised character" in drawn.content

    said = await admin(emulator, "carol", "likeness", mode="off", strong=0.6)
    assert "Likeness is off. Bands: strong from 0.60, likely from 0.36" in said
    refused = await admin(emulator, "carol", "likeness", likely=0.7)
    assert "must rise from likely to strong" in refused
    segmind_fake.next_pictures = [enlarged(PHOTO)]
    card, _ = await scene(emulator)
    quiet = (await results_in_thread(emulator, card))[0]
    assert "Likeness" not in quiet.content
