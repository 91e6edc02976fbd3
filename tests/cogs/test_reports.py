"""End to end: the moderation log and reports, through real discord.py and loopback Discord.

The log gets a batched line (with a contact sheet of the pictures) for what Cameo makes and
refuses, pinging nobody; a member's report reaches the moderators with buttons, and a
moderator's action is carried out and recorded."""

from __future__ import annotations

from typing import Any

from bot.client.cameo_bot import CameoBot
from bot.moderation.log import ENTRIES_PER_MESSAGE, LogEntry
from tests.cogs.test_consent import PHOTO
from tests.cogs.test_quotas import admin
from tests.cogs.test_scenes import private_answer, register, results_in_thread, scene
from tests.discord.emulator import DiscordEmulator
from tests.discord.interactions import InteractionHandle
from tests.discord.models import Message
from tests.fakes import FakeSegmind


def button(message: Message, label: str) -> str:
    return next(b["custom_id"] for b in message.buttons() if b["label"] == label)


async def fill_modal(
    emulator: DiscordEmulator, user: str, shown: InteractionHandle, text: str, message: Message
) -> InteractionHandle:
    """Answer the one-field modal a click opened."""
    await shown.wait_ack()
    modal: dict[str, Any] = shown.modal  # type: ignore[assignment]
    row = modal["components"][0]
    field = row["components"][0] if "components" in row else row["component"]
    return await emulator.submit_modal(
        user, modal["custom_id"], {field["custom_id"]: text}, message=message
    )


async def set_up_log(emulator: DiscordEmulator) -> Any:
    channel = emulator.add_text_channel("mod-log")
    said = await admin(emulator, "carol", "moderation log", options={"channel": channel})
    assert "moderation log now goes to" in said
    return channel


async def test_the_log_notes_what_cameo_made_and_refused_without_pinging(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    log_channel = await set_up_log(emulator)
    await register(emulator)
    card, _ = await scene(emulator)
    await results_in_thread(emulator, card)
    await admin(emulator, "carol", "moderation terms", action="add", term="dragon fire")
    refused = await emulator.slash(
        emulator.user("alice"), "scene", character="Mira", prompt="Dragon fire!"
    )
    await refused.response()
    await admin(emulator, "carol", "quota give", member=emulator.user("alice"), credits=5,
                reason="contest prize")  # fmt: skip
    await admin(emulator, "carol", "moderation block", member=emulator.user("bob"))
    await segmind_bot.services.moderation.log.flush()

    posted = emulator.messages(log_channel)
    text = "\n".join(m.content for m in posted)
    assert "registered a character: “Mira”" in text
    assert "of Mira for" in text
    assert "“reading by a fireplace”" in text
    assert "Refused" in text
    assert "“Dragon fire!”" in text
    assert "changed quotas: Gave" in text
    assert f"blocked <@{emulator.user('bob').id}>" in text
    assert all(m.pinged_user_ids == set() for m in posted)
    # The pictures come as one contact sheet per message.
    assert any(m.attachments for m in posted)


async def test_a_burst_of_entries_is_batched_under_discords_limits(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    log_channel = await set_up_log(emulator)
    moderation_log = segmind_bot.services.moderation.log
    guild = emulator.guild.id
    # More messages than a channel takes in one rate-limit window (5), so the log must wait.
    burst = 7 * ENTRIES_PER_MESSAGE
    for n in range(burst):
        moderation_log.record(guild, LogEntry(f"🎨 Scene {n} for <@{emulator.user('alice').id}>:"))
    await moderation_log.flush()
    posted = emulator.messages(log_channel)
    assert len(posted) == burst // ENTRIES_PER_MESSAGE
    assert sum(m.content.count("🎨 Scene") for m in posted) == burst
    assert emulator.stats["rate_limited_429s"] == 0
    assert all(m.pinged_user_ids == set() for m in posted)


async def test_a_report_reaches_the_moderators_who_act_on_it(
    emulator: DiscordEmulator, segmind_bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    log_channel = await set_up_log(emulator)
    await register(emulator)
    card, _ = await scene(emulator)
    result = (await results_in_thread(emulator, card))[0]

    clicked = await emulator.click(emulator.user("bob"), result, button(result, "Report"))
    thanked = await fill_modal(emulator, "bob", clicked, "Shows my neighbour's face", result)
    assert "is with this server's moderators" in (await thanked.response()).content
    await emulator._state.wait_until(
        lambda: any(m.embeds for m in emulator.messages(log_channel)), 5, "the report"
    )
    report = next(m for m in emulator.messages(log_channel) if m.embeds)
    assert "Report" in report.embeds[0]["title"]
    assert "Shows my neighbour" in report.embeds[0]["description"]
    assert report.pinged_user_ids == set()
    assert {b["label"] for b in report.buttons()} == {
        "Delete the result",
        "Block the member",
        "Dismiss",
    }

    # Only staff may act, whatever Discord shows.
    denied = await emulator.click(emulator.user("bob"), report, button(report, "Dismiss"))
    assert "Manage Server" in (await denied.response()).content

    acted = await emulator.click(
        emulator.user("carol"), report, button(report, "Delete the result")
    )
    done = await fill_modal(emulator, "carol", acted, "No real people without consent", report)
    await done.wait_ack()
    await emulator._state.wait_until(
        lambda: not emulator.message(report.id).buttons(), 5, "the report to be settled"
    )
    settled = emulator.message(report.id)
    fields = {f["name"]: f["value"] for f in settled.embeds[0]["fields"]}
    assert "No real people without consent" in fields["✅ Result deleted"]
    assert f"<@{emulator.user('carol').id}>" in fields["✅ Result deleted"]
    row = await segmind_bot.services.reports.get(int(report.embeds[0]["title"].split()[2][:-1]))
    assert row is not None
    assert row.outcome == "result deleted"
    assert row.handled_by == emulator.user("carol").id
    # The pictures are gone.
    shown = await emulator.autocomplete(emulator.user("alice"), "show", "job", "")
    assert shown == []


async def test_without_a_log_channel_a_report_says_it_cannot_reach_anyone(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    await register(emulator)
    card, _ = await scene(emulator)
    result = (await results_in_thread(emulator, card))[0]
    clicked = await emulator.click(emulator.user("bob"), result, button(result, "Report"))
    answer = await fill_modal(emulator, "bob", clicked, "Not nice", result)
    assert "haven't chosen a channel" in (await answer.response()).content


async def test_the_person_pictured_can_ask_for_removal(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    log_channel = await set_up_log(emulator)
    await register(emulator)
    ix = await emulator.slash(
        emulator.user("bob"),
        "privacy report-likeness",
        character="Mira",
        details="This is me, from my profile photo. Please remove it.",
    )
    assert "marked as the person pictured" in (await ix.response()).content
    await emulator._state.wait_until(
        lambda: any(m.embeds for m in emulator.messages(log_channel)), 5, "the report"
    )
    report = next(m for m in emulator.messages(log_channel) if m.embeds)
    assert report.embeds[0]["title"].startswith("🔴")
    assert "asks for removal" in report.embeds[0]["title"]
    assert "Delete the character" in {b["label"] for b in report.buttons()}


async def test_a_photograph_of_a_real_person_waits_for_a_moderators_approval(
    emulator: DiscordEmulator, segmind_bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    refused = await admin(emulator, "carol", "moderation real-people", approve=True)
    assert "moderation log channel first" in refused
    log_channel = await set_up_log(emulator)
    said = await admin(emulator, "carol", "moderation real-people", approve=True)
    assert "wait, usable by nobody" in said

    alice = emulator.user("alice")
    ix = await emulator.slash(alice, "character create", name="Eileen", image=PHOTO)
    question = await ix.response()
    await (await emulator.click(alice, question, button(question, "It's me"))).wait_ack()
    registered = await ix.wait_followup(1)
    assert "waits for a moderator's approval" in registered.content

    # Nobody can use it, its owner neither, and nobody else sees it.
    asked = await emulator.slash(alice, "scene", character="Eileen", prompt="on the moon")
    assert "waiting for a moderator's approval" in (await private_answer(asked)).content
    shown = await emulator.slash(emulator.user("bob"), "character show", character="Eileen")
    assert "Eileen" not in str((await shown.response()).embeds)
    assert segmind_fake.requests == []

    await emulator._state.wait_until(
        lambda: any(m.embeds for m in emulator.messages(log_channel)), 5, "the request"
    )
    request = next(m for m in emulator.messages(log_channel) if m.embeds)
    assert request.embeds[0]["title"].startswith("🪪 Approval")
    assert request.attachments  # the photograph, for the moderator to see
    acted = await emulator.click(emulator.user("carol"), request, button(request, "Approve"))
    done = await fill_modal(emulator, "carol", acted, "She confirmed it's her", request)
    await done.wait_ack()
    await emulator._state.wait_until(
        lambda: not emulator.message(request.id).buttons(), 5, "the approval"
    )
    card, _ = await scene(emulator, character="Eileen", prompt="on the moon")
    await results_in_thread(emulator, card)
    assert len(segmind_fake.requests) == 1


async def test_an_action_that_fails_leaves_the_report_open(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    log_channel = await set_up_log(emulator)
    await register(emulator, user="carol", name="Nox")
    card, _ = await scene(emulator, "carol", character="Nox")
    result = (await results_in_thread(emulator, card))[0]
    clicked = await emulator.click(emulator.user("bob"), result, button(result, "Report"))
    await (await fill_modal(emulator, "bob", clicked, "Off-topic", result)).response()
    await emulator._state.wait_until(
        lambda: any(m.embeds for m in emulator.messages(log_channel)), 5, "the report"
    )
    report = next(m for m in emulator.messages(log_channel) if m.embeds)
    # Carol moderates, but she asked for this scene: she can't block herself.
    acted = await emulator.click(emulator.user("carol"), report, button(report, "Block the member"))
    refused = await fill_modal(emulator, "carol", acted, "Testing", report)
    assert "can't block yourself" in (await refused.response()).content
    report_id = int(report.embeds[0]["title"].split()[2][:-1])
    still = await segmind_bot.services.reports.get(report_id)
    assert still is not None
    assert still.outcome is None  # open again, for another moderator
    assert emulator.message(report.id).buttons()
