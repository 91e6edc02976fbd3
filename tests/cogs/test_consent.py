"""End to end: a reference picture that is a photograph of a person asks the member to confirm
before anything is stored, through real discord.py, loopback Discord and the real face model."""

from __future__ import annotations

from pathlib import Path

from bot.client.cameo_bot import CameoBot
from tests.bot.vision.test_vision import cel_shaded, faceless_crop
from tests.cogs.test_scenes import register
from tests.discord.emulator import DiscordEmulator
from tests.discord.models import Message
from tests.fakes import FakeSegmind
from tests.imagefactory import png

PHOTO = (Path(__file__).parents[1] / "fixtures" / "photos" / "astronaut.jpg").read_bytes()


def button(message: Message, label: str) -> str:
    return next(b["custom_id"] for b in message.buttons() if b["label"] == label)


async def consents(bot: CameoBot) -> list[tuple[str, str, int | None]]:
    def read(conn: object) -> list[tuple[str, str, int | None]]:
        rows = conn.execute(  # type: ignore[attr-defined]
            "SELECT c.name, f.basis, f.confirmed_by FROM face_consents f "
            "JOIN characters c ON c.id = f.character_id ORDER BY f.id"
        ).fetchall()
        return [tuple(row) for row in rows]

    return await bot.services.characters.db.run_read(read)


async def test_a_photograph_of_a_person_is_stored_only_once_the_member_confirms(
    emulator: DiscordEmulator, segmind_bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    alice = emulator.user("alice")
    ix = await emulator.slash(alice, "character create", name="Eileen", image=PHOTO)
    question = await ix.response()
    assert ix.ephemeral
    assert "looks like a photograph of a real person" in question.content
    assert {b["label"] for b in question.buttons()} == {
        "It's me",
        "I have their permission",
        "Cancel",
    }
    # Nothing is stored while the question waits (only Alice sees it: it is private).
    assert await consents(segmind_bot) == []
    shown = await emulator.slash(alice, "character show", character="Eileen")
    assert "Eileen" not in ((await shown.response()).embeds or [{}])[0].get("title", "")

    answer = await emulator.click(alice, question, button(question, "I have their permission"))
    await answer.wait_ack()
    registered = await ix.wait_followup(1)
    assert "**Eileen** is registered" in registered.content
    assert await consents(segmind_bot) == [("Eileen", "permission", alice.id)]

    # A new look from a photograph asks again; cancelling stores nothing.
    looked = await emulator.slash(
        alice, "character look add", character="Eileen", name="hangar", image=PHOTO
    )
    again = await looked.response()
    cancelled = await emulator.click(alice, again, button(again, "Cancel"))
    await cancelled.wait_ack()
    await emulator._state.wait_until(
        lambda: "nothing was stored" in emulator.message(again.id).content, 5, "the cancel"
    )
    assert await consents(segmind_bot) == [("Eileen", "permission", alice.id)]
    assert segmind_fake.requests == []


async def test_drawings_are_not_asked_about(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    # A picture with no face (the usual test picture) and the photograph drawn in flat
    # colours (a face, but not a photographed one) register straight away.
    await register(emulator)
    await register(emulator, name="Drawn", image=cel_shaded(PHOTO))
    assert await consents(segmind_bot) == []


async def test_forgetting_the_member_who_confirmed_keeps_the_fact_not_the_name(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    alice = emulator.user("alice")
    ix = await emulator.slash(alice, "character create", name="Eileen", image=PHOTO)
    question = await ix.response()
    await (await emulator.click(alice, question, button(question, "It's me"))).wait_ack()
    await ix.wait_followup(1)
    await segmind_bot.services.characters.forget(alice.id)
    assert await consents(segmind_bot) == []  # the character went, and its confirmations

    await register(emulator, user="bob", name="Pilot", image=png(seed=4))
    bob = emulator.user("bob")
    looked = await emulator.slash(
        bob, "character look add", character="Pilot", name="photo", image=PHOTO
    )
    question = await looked.response()
    await (await emulator.click(bob, question, button(question, "It's me"))).wait_ack()
    await looked.wait_followup(1)
    assert await consents(segmind_bot) == [("Pilot", "self", bob.id)]


async def test_a_photograph_without_a_face_warns_before_it_is_stored(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    alice = emulator.user("alice")
    ix = await emulator.slash(alice, "character create", name="Suit", image=faceless_crop(PHOTO))
    warning = await ix.response()
    assert ix.ephemeral
    assert "can't find a face in it" in warning.content
    assert "scenes may not look like them" in warning.content
    assert {b["label"] for b in warning.buttons()} == {"Register anyway", "Cancel"}
    cancelled = await emulator.click(alice, warning, button(warning, "Cancel"))
    await cancelled.wait_ack()
    listed = await emulator.slash(alice, "character list")
    assert "Suit" not in (await listed.response()).content

    ix = await emulator.slash(alice, "character create", name="Suit", image=faceless_crop(PHOTO))
    warning = await ix.response()
    going = await emulator.click(alice, warning, button(warning, "Register anyway"))
    await going.wait_ack()
    registered = await ix.wait_followup(1)
    assert "**Suit** is registered" in registered.content
    assert await consents(segmind_bot) == []  # no face, so nobody's consent to record
