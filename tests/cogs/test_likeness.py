"""End to end: each picture of a photographic character carries its likeness to the reference,
scored with the real face models, shown in words and number; drawings get no verdict."""

from __future__ import annotations

import asyncio
import io

from PIL import Image

from bot.client.cameo_bot import CameoBot
from tests.cogs.test_consent import PHOTO, button
from tests.cogs.test_gallery import lines, page_of
from tests.cogs.test_quotas import admin, fields, quota_of
from tests.cogs.test_scenes import register, results_in_thread, scene, until_status
from tests.cogs.test_stories import in_story
from tests.discord.emulator import DiscordEmulator, Message
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


def generations(fake: FakeSegmind) -> int:
    """How many pictures the fake service was asked to make."""
    return sum(1 for request in fake.requests if request.method == "POST")


async def info_of(emulator: DiscordEmulator, result: Message) -> str:
    button_id = next(b["custom_id"] for b in result.buttons() if b["label"] == "Info")
    return (
        await (await emulator.click(emulator.user("bob"), result, button_id)).response()
    ).content


async def settled_quota(emulator: DiscordEmulator, wanted: str) -> dict[str, str]:
    """Alice's /quota once the delivery's charge has landed (it follows the post)."""
    for _ in range(100):
        shown = await quota_of(emulator)
        if wanted in shown.get("Recent", ""):
            return shown
        await asyncio.sleep(0.05)
    raise AssertionError(f"{wanted!r} never reached the ledger: {shown}")


async def test_reroll_delivers_the_closer_second_try_at_the_servers_cost(
    emulator: DiscordEmulator, segmind_bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    said = await admin(emulator, "carol", "likeness", mode="reroll")
    assert "made once more with a new seed" in said
    assert "paid by the server" in said
    await admin(emulator, "carol", "quota budget", credits=500)
    await register_photo(emulator)
    asked_before = generations(segmind_fake)

    # The service first draws someone else, then the character.
    segmind_fake.next_pictures = [enlarged(HOPPER), enlarged(PHOTO)]
    card, _ = await scene(emulator, character="Eileen", prompt="on the moon")
    results = await results_in_thread(emulator, card)
    assert len(results) == 1
    assert len(results[0].attachments) == 1
    assert "Likeness: 🟢 strong 0.9" in results[0].content
    assert "(second try)" in results[0].content
    assert generations(segmind_fake) - asked_before == 2

    info = await info_of(emulator, results[0])
    assert "Likeness of picture 1: 0.9" in info
    assert "Made twice for a closer likeness: this is the second try; the first scored 0." in info
    assert ", weak." in info

    # The member pays for one picture; the second try is the server's, as its own row.
    shown = await settled_quota(emulator, "charged 19")
    assert "**31** of 50 left" in shown["Today"]
    assert (
        "**±0** second try for likeness: 1 image from segmind, paid by the server"
        in (shown["Recent"])
    )
    assert "**462** of 500 left" in shown["Server budget this month"]


async def test_reroll_keeps_the_first_try_when_the_second_is_no_closer_at_the_members_cost(
    emulator: DiscordEmulator, segmind_bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    said = await admin(emulator, "carol", "likeness", mode="reroll", payer="member")
    assert "paid by the member" in said
    await register_photo(emulator)

    # Someone else, then a picture with no face at all: the first try stays.
    segmind_fake.next_pictures = [enlarged(HOPPER)]
    card, _ = await scene(emulator, character="Eileen", prompt="in a library")
    assert fields(card)["Cost"] == "38 credits"  # held for both tries; what is unused comes back
    result = (await results_in_thread(emulator, card))[0]
    assert "Likeness: 🔴 weak 0." in result.content
    assert "second try" not in result.content
    info = await info_of(emulator, result)
    assert "the first try is shown; the second scored no face found." in info

    shown = await settled_quota(emulator, "paid by you")
    assert "**12** of 50 left" in shown["Today"]
    assert "**−19** second try for likeness: 1 image from segmind, paid by you" in shown["Recent"]


async def test_a_weak_picture_is_delivered_once_where_the_server_only_shows_likeness(
    emulator: DiscordEmulator, segmind_bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register_photo(emulator)
    asked_before = generations(segmind_fake)
    segmind_fake.next_pictures = [enlarged(HOPPER), enlarged(PHOTO)]
    card, _ = await scene(emulator, character="Eileen", prompt="on the moon")
    assert fields(card)["Cost"] == "19 credits"
    result = (await results_in_thread(emulator, card))[0]
    assert "Likeness: 🔴 weak 0." in result.content
    assert generations(segmind_fake) - asked_before == 1
    shown = await settled_quota(emulator, "charged 19")
    assert "second try" not in shown["Recent"]


async def test_the_gallery_filters_pictures_by_likeness_band(
    emulator: DiscordEmulator, segmind_bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await admin(emulator, "carol", "quota exempt", member=emulator.user("alice"), exempt=True)
    await register_photo(emulator)
    for photo, prompt in ((PHOTO, "on the moon"), (HOPPER, "in a library")):
        segmind_fake.next_pictures = [enlarged(photo)]
        card, _ = await scene(emulator, character="Eileen", prompt=prompt)
        await results_in_thread(emulator, card)

    strong = await page_of(emulator, "bob", "gallery scenes", character="Eileen", likeness="strong")
    assert len(lines(strong)) == 1
    assert "on the moon" in lines(strong)[0]
    assert "strong likeness" in strong.embeds[0]["title"]
    weak = await page_of(emulator, "bob", "gallery scenes", likeness="weak")
    assert len(lines(weak)) == 1
    assert "in a library" in lines(weak)[0]
    assert len(lines(await page_of(emulator, "bob", "gallery scenes", likeness="likely"))) == 0
    assert len(lines(await page_of(emulator, "bob", "gallery scenes"))) == 2


async def test_a_story_recap_shows_likeness_and_can_keep_one_band(
    emulator: DiscordEmulator, segmind_bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await admin(emulator, "carol", "quota exempt", member=emulator.user("alice"), exempt=True)
    await register_photo(emulator)
    ix = await emulator.slash(
        emulator.user("alice"), "story start", title="Moonshot", characters="Eileen"
    )
    await ix.response()
    thread = await emulator.wait_for_thread(name="Moonshot")
    for photo, prompt in ((PHOTO, "on the moon"), (HOPPER, "back in the library")):
        segmind_fake.next_pictures = [enlarged(photo)]
        card, _ = await scene(emulator, character="Eileen", prompt=prompt, channel=thread)
        await until_status(emulator, card.id, "Done", 20)  # posted in the story's thread

    recap = await in_story(emulator, "bob", "story recap", thread)
    text = recap.embeds[0]["description"]
    assert "**1** Eileen · on the moon · 🟢 0.9" in text
    assert "**2** Eileen · back in the library · 🔴 0." in text
    strong = await in_story(emulator, "bob", "story recap", thread, likeness="strong")
    assert "on the moon" in strong.embeds[0]["description"]
    assert "library" not in strong.embeds[0]["description"]
    none = await in_story(emulator, "bob", "story recap", thread, likeness="likely")
    assert none.ephemeral
    assert "No scene of “Moonshot” has a likely likeness" in none.content
