"""Interactions end to end: slash commands, deferrals, follow-ups, components, modals."""

from __future__ import annotations

import io
from typing import Any

import discord
import pytest
from PIL import Image

from tests.discord.conftest import running_probe
from tests.discord.emulator import DiscordEmulator
from tests.discord.models import CommandInvocationError, EmulatorError, Upload
from tests.discord.probe_bot import ProbeBot, make_png


async def test_subcommand_with_attachment_round_trips_the_bytes(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    image = make_png(3, 2)
    ix = await emulator.slash("alice", "probe upload", name="Mira", image=image)
    message = await ix.response()

    assert probe.uploads["Mira"] == image  # read back through Attachment.read() and the CDN
    assert message.content == f"Mira: {len(image)} bytes"
    assert message.type == 20
    assert not message.ephemeral
    assert ix.ack_latency is not None
    assert ix.ack_latency < 1
    echo = message.attachment_named("echo.png")
    assert echo.data == image
    assert echo.content_type == "image/png"
    assert (echo.width, echo.height) == (3, 2)
    # attachment://echo.png became the stored file's signed CDN URL, as on Discord.
    assert "/cdn/attachments/" in message.embeds[0]["image"]["url"]
    assert message.embed_attachment(0) is echo
    assert message.interaction_metadata is not None
    assert message.interaction_metadata["user"]["username"] == "alice"
    assert emulator.messages("general") == [message]

    payload = ix.payload
    assert payload["attachment_size_limit"] == 10 * 1024 * 1024
    assert payload["channel"]["id"] == payload["channel_id"]
    assert payload["member"]["user"]["username"] == "alice"
    [subcommand] = payload["data"]["options"]
    assert subcommand["name"] == "upload"
    assert subcommand["type"] == 1
    attachment_id = next(o["value"] for o in subcommand["options"] if o["name"] == "image")
    resolved = payload["data"]["resolved"]["attachments"][attachment_id]
    assert resolved["filename"] == "image.png"
    assert "?ex=" in resolved["url"]


async def test_upload_object_keeps_its_name_and_type(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="JPEG")
    ix = await emulator.slash(
        "bob", "probe upload", name="Bo", image=Upload("ref.jpg", buffer.getvalue())
    )
    await ix.response()
    attachment = next(iter(ix.payload["data"]["resolved"]["attachments"].values()))
    assert attachment["filename"] == "ref.jpg"
    assert attachment["content_type"] == "image/jpeg"


async def test_deferred_response_then_edit(emulator: DiscordEmulator, probe: ProbeBot) -> None:
    ix = await emulator.slash("alice", "probe defer")
    assert await ix.wait_ack() == 5
    message = await ix.response()
    assert message.content == "done"
    assert not message.loading
    assert ix.followups == []


async def test_at_once_sends_the_interactions_together_when_the_block_ends(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    with emulator.at_once():
        held = [await emulator.slash(name, "probe defer") for name in ("alice", "bob", "carol")]
        assert emulator.stats["interactions"] == 0  # built, not sent
        assert all(ix.ack_type is None for ix in held)
    assert emulator.stats["interactions"] == 3
    assert len({ix.record.dispatched_at for ix in held}) == 1  # their 3 seconds start together
    for ix in held:
        assert (await ix.response()).content == "done"


async def test_at_once_refuses_an_autocomplete_that_would_wait_for_itself(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    with emulator.at_once(), pytest.raises(EmulatorError, match="at_once"):
        await emulator.autocomplete("alice", "probe pick", "character", "M")


async def test_first_followup_after_defer_edits_the_loading_message(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    ix = await emulator.slash("alice", "probe defer-followup")
    original = await ix.response()
    assert original.content == "via follow-up"
    second = await ix.wait_followup(1)
    assert ix.followups[0].id == original.id
    assert second.content == "second follow-up"
    assert second.id != original.id
    assert [m.content for m in emulator.messages("general")] == [
        "via follow-up",
        "second follow-up",
    ]


async def test_reply_then_followup_with_a_file(emulator: DiscordEmulator, probe: ProbeBot) -> None:
    ix = await emulator.slash("alice", "probe followup")
    assert (await ix.response()).content == "first"
    followup = await ix.wait_followup(0)
    assert followup.content == "second"
    assert followup.attachments[0].filename == "f.png"
    assert followup.interaction_id == ix.id


async def test_ephemeral_reply_is_hidden_from_the_channel(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    ix = await emulator.slash("alice", "probe secret")
    message = await ix.response()
    assert ix.ephemeral
    assert message.ephemeral
    assert emulator.messages("general") == []
    assert emulator.message(message.id) is message


async def test_button_on_a_message_view_edits_the_message(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    message = await (await emulator.slash("alice", "probe buttons")).response()
    assert [b["custom_id"] for b in message.buttons()] == ["msg:ok", "msg:later", "counter:0"]
    click = await emulator.click("bob", message, "msg:ok")
    assert await click.wait_ack() == 7
    updated = await click.response()
    assert updated.id == message.id
    assert updated.content == "clicked by bob"
    assert updated.edited


async def test_deferred_update_then_edit_original(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    message = await (await emulator.slash("alice", "probe buttons")).response()
    click = await emulator.click("alice", message, "msg:later")
    assert await click.wait_ack() == 6
    assert (await click.response()).content == "updated later"


async def test_dynamic_item_button_updates_its_custom_id(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    message = await (await emulator.slash("alice", "probe buttons")).response()
    updated = await (await emulator.click("carol", message, "counter:0")).response()
    assert updated.content == "count 1"
    assert [b["custom_id"] for b in updated.buttons()] == ["counter:1"]


async def test_persistent_view_works_after_a_restart(emulator: DiscordEmulator) -> None:
    async with running_probe(emulator):
        message = await (await emulator.slash("alice", "probe persistent")).response()
    async with running_probe(emulator, sync_count=4):
        reply = await (await emulator.click("bob", message, "persist:hello")).response()
    assert reply.content == "hello bob"
    assert reply.ephemeral
    assert emulator.stats["identifies"] == 2


async def test_string_select(emulator: DiscordEmulator, probe: ProbeBot) -> None:
    message = await (await emulator.slash("alice", "probe buttons")).response()
    reply = await (await emulator.select("bob", message, "msg:pick", ["milo"])).response()
    assert reply.content == "picked milo"
    with pytest.raises(CommandInvocationError):
        await emulator.select("bob", message, "msg:pick", ["nobody"])


async def test_autocomplete_returns_the_bots_choices(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    choices = await emulator.autocomplete("alice", "probe pick", "character", "Mi")
    assert choices == [{"name": "Mira", "value": "Mira"}, {"name": "Milo", "value": "Milo"}]
    ix = await emulator.slash("alice", "probe pick", character="Mira")
    assert (await ix.response()).content == "picked Mira"


async def test_modal_round_trip(emulator: DiscordEmulator, probe: ProbeBot) -> None:
    ix = await emulator.slash("alice", "probe modal")
    assert await ix.wait_ack() == 9
    assert ix.modal is not None
    submitted = await emulator.submit_modal("alice", ix.modal["custom_id"], {"name": "Mira"})
    assert (await submitted.response()).content == "named Mira"
    with pytest.raises(CommandInvocationError):
        await emulator.submit_modal("bob", ix.modal["custom_id"], {"name": "x"})


async def test_typed_options_resolve_users_roles_and_channels(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    ix = await emulator.slash(
        "alice",
        "probe typed",
        count=2,
        member=emulator.user("bob"),
        role=emulator.role("Artist"),
        where=emulator.channel("art"),
        mood="calm",
    )
    reply = await ix.response()
    assert reply.content == "count=2 member=bob role=Artist where=art mood=calm"
    resolved = ix.payload["data"]["resolved"]
    assert set(resolved) == {"users", "members", "roles", "channels"}


@pytest.mark.parametrize(
    ("command", "options", "complaint"),
    [
        ("nothing", {}, "no slash command"),
        ("probe", {}, "is a group"),
        ("probe nope", {}, "no subcommand"),
        ("probe typed", {}, "missing required option 'count'"),
        ("probe typed", {"count": 2, "colour": "red"}, "unknown option"),
        ("probe typed", {"count": "2"}, "not a valid integer"),
        ("probe typed", {"count": 5}, r"5 outside \[1, 4\]"),
        ("probe typed", {"count": 1, "where": "general-thread"}, "not a valid channel"),
    ],
)
async def test_a_discord_client_would_refuse_these(
    emulator: DiscordEmulator,
    probe: ProbeBot,
    command: str,
    options: dict[str, Any],
    complaint: str,
) -> None:
    with pytest.raises(CommandInvocationError, match=complaint):
        await emulator.slash("alice", command, **options)


async def test_dm_interaction_carries_a_user_and_no_guild(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    ix = await emulator.slash("dave", "hello", channel=emulator.dm_channel("dave"))
    assert (await ix.response()).content == "hello dave"
    payload = ix.payload
    assert payload["context"] == 1
    assert "guild_id" not in payload
    assert "member" not in payload
    assert payload["user"]["username"] == "dave"
    assert payload["channel"]["type"] == 1
    with pytest.raises(CommandInvocationError, match="not a member"):
        await emulator.slash("dave", "hello")


async def test_thread_from_the_reply_gets_files(emulator: DiscordEmulator, probe: ProbeBot) -> None:
    ix = await emulator.slash("alice", "probe thread")
    reply = await ix.response()
    thread = await emulator.wait_for_thread("Probe thread")
    assert thread.type == 11  # public: started from a message
    assert thread.id == thread.starter_message_id == reply.id
    assert thread.parent_id == emulator.channel("general").id
    assert thread.auto_archive_duration == 1440
    assert not thread.archived
    posted = await emulator.wait_for_message(thread)
    assert posted.content == "two files"
    assert [a.filename for a in posted.attachments] == ["a.png", "b.png"]
    assert all(a.content_type == "image/png" for a in posted.attachments)
    assert reply.thread_id == thread.id
    # THREAD_CREATE reached discord.py's cache.
    cached = probe.get_channel(thread.id)
    assert isinstance(cached, discord.Thread)
    assert cached.name == "Probe thread"


async def test_bot_can_dm_a_user(emulator: DiscordEmulator, probe: ProbeBot) -> None:
    user = await probe.fetch_user(emulator.user("carol").id)
    sent = await user.send("psst")
    dm = emulator.dm_channel("carol")
    assert sent.channel.id == dm.id
    assert [m.content for m in emulator.messages(dm)] == ["psst"]
