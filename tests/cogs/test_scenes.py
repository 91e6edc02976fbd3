"""End to end: members ask for scenes through real discord.py, loopback Discord and the fakes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from itertools import pairwise
from pathlib import Path

import pytest

from bot.app import running_bot
from bot.client.cameo_bot import DISCORD_CONNECTIONS_PER_HOST, CameoBot
from bot.models import Viewer
from bot.settings import Settings
from tests.conftest import make_settings
from tests.discord.emulator import DiscordEmulator, Message
from tests.fakes import FakeApiframe, FakePixelDojo, FakeSegmind
from tests.imagefactory import make_image, png

FAST_POLL = 0.05


def provider_settings(
    emulator: DiscordEmulator,
    data_dir: Path,
    segmind: FakeSegmind,
    apiframe: FakeApiframe,
    pixeldojo: FakePixelDojo,
    **overrides: object,
) -> Settings:
    values: dict[str, object] = {
        "segmind_api_key": segmind.api_key,
        "segmind_base_url": segmind.base_url,
        "apiframe_api_key": apiframe.api_key,
        "apiframe_base_url": apiframe.base_url,
        "pixeldojo_api_key": pixeldojo.api_key,
        "pixeldojo_base_url": pixeldojo.base_url,
        "provider_poll_seconds": FAST_POLL,
    }
    values.update(overrides)
    return make_settings(emulator, data_dir, **values)


# Settings for a bot that uses every fake service, with a test's own overrides as keywords
# (the `scene_settings_with` fixture).
SettingsWith = Callable[..., Settings]


@pytest.fixture
def scene_settings(scene_settings_with: SettingsWith) -> Settings:
    return scene_settings_with()


@pytest.fixture
async def bot(emulator: DiscordEmulator, scene_settings: Settings) -> AsyncIterator[CameoBot]:
    async with running_bot(scene_settings, guild_ready_timeout=0.1) as running:
        await asyncio.wait_for(running.wait_until_ready(), timeout=15)
        yield running


async def register(
    emulator: DiscordEmulator, user: str = "alice", name: str = "Mira", **options: object
) -> None:
    options.setdefault("image", png(seed=1))
    ix = await emulator.slash(emulator.user(user), "character create", name=name, **options)
    message = await ix.response()
    assert message.embeds, message.content
    assert message.embeds[0]["title"] == name


def status(card: Message) -> str:
    return next(f["value"] for f in card.embeds[0]["fields"] if f["name"] == "Status")


async def until_status(
    emulator: DiscordEmulator, card_id: int, text: str, timeout: float = 20
) -> Message:
    """Wait until the card (edited through channel routes) shows `text` in its status."""

    def shown() -> Message | None:
        card = emulator.message(card_id)
        return card if card.embeds and text in status(card) else None

    found: Message = await emulator._state.wait_until(shown, timeout, f"card status {text!r}")
    return found


async def scene(
    emulator: DiscordEmulator, user: str = "alice", **options: object
) -> tuple[Message, object]:
    options.setdefault("character", "Mira")
    options.setdefault("prompt", "reading by a fireplace")
    ix = await emulator.slash(emulator.user(user), "scene", **options)
    card = await ix.response()
    return card, ix


async def results_in_thread(
    emulator: DiscordEmulator, card: Message, count: int = 1, timeout: float = 20
) -> list[Message]:
    await until_status(emulator, card.id, "Done", timeout)
    thread = next(t for t in emulator.threads if t.id == card.id)
    await emulator.wait_for_message(thread, count=count, timeout=timeout)
    return emulator.messages(thread)


async def private_answer(ix) -> Message:  # type: ignore[no-untyped-def]
    """A refusal of /scene: the first answer, or, when the bot deferred publicly first (it
    does when the loop is busy), the private follow-up that replaces the deferral."""
    first = await ix.response()
    if first.content:
        assert ix.ephemeral
        return first
    answer = await ix.wait_followup()
    assert answer.ephemeral
    return answer


def button(message: Message, prefix: str) -> str:
    return next(b["custom_id"] for b in message.buttons() if b["custom_id"].startswith(prefix))


# -- a scene lands ---------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["segmind", "apiframe", "pixeldojo"])
async def test_a_scene_lands_in_a_thread_started_from_its_card(
    emulator: DiscordEmulator,
    bot: CameoBot,
    provider: str,
    segmind_fake: FakeSegmind,
    apiframe_fake: FakeApiframe,
    pixeldojo_fake: FakePixelDojo,
) -> None:
    await register(emulator)
    card, ix = await scene(emulator, provider=provider, count=2, style="fiction")
    assert not ix.ephemeral  # type: ignore[attr-defined]
    assert ix.ack_latency < 3  # type: ignore[attr-defined]
    assert card.embeds[0]["title"] == "Scene of Mira"
    assert "Queued" in status(card) or "Generating" in status(card)
    assert any(b["label"] == "Cancel" for b in card.buttons())

    results = await results_in_thread(emulator, card)
    message = results[0]
    assert len(message.attachments) == 2
    for attachment in message.attachments:
        assert attachment.data[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb")
    assert "seed" in message.content
    labels = {b["label"] for b in message.buttons()}
    assert {"Reroll", "Info", "Delete", "1", "2", "Use 1", "Use 2"} <= labels
    assert message.pinged_user_ids == set()
    done = emulator.message(card.id)
    assert done.buttons() == []  # no Cancel once finished
    billed = {
        "segmind": segmind_fake.billed,
        "apiframe": apiframe_fake.billed,
        "pixeldojo": pixeldojo_fake.billed,
    }
    assert billed[provider] >= 1
    assert sum(billed.values()) == billed[provider]
    show = await emulator.slash(emulator.user("alice"), "character show", character="Mira")
    fields = {f["name"]: f["value"] for f in (await show.response()).embeds[0]["fields"]}
    assert fields["Scenes"] == "1"


async def test_inside_a_thread_results_stay_in_that_thread(
    emulator: DiscordEmulator, bot: CameoBot
) -> None:
    await register(emulator)
    first, _ = await scene(emulator)
    await results_in_thread(emulator, first)
    thread_channel = next(t for t in emulator.threads if t.id == first.id)
    card, _ = await scene(emulator, channel=thread_channel, prompt="by the sea")
    assert card.channel_id == thread_channel.id
    await until_status(emulator, card.id, "Done")
    assert len(emulator.threads) == 1  # no thread inside a thread
    assert len(emulator.messages(thread_channel)) == 3  # results, the card, results


async def test_in_dms_results_come_inline(
    emulator: DiscordEmulator, scene_settings_with: SettingsWith
) -> None:
    # Commands reach DMs only when synced globally, as on Discord.
    settings = scene_settings_with(dev_guild_id=None)
    async with running_bot(settings, guild_ready_timeout=0.1) as bot:
        await asyncio.wait_for(bot.wait_until_ready(), timeout=15)
        await emulator.wait_for_commands()
        await _scene_in_dms(emulator)


async def _scene_in_dms(emulator: DiscordEmulator) -> None:
    dm = emulator.dm_channel("alice")
    ix = await emulator.slash(
        emulator.user("alice"), "character create", channel=dm, name="Mira", image=png(seed=1)
    )
    await ix.response()
    card, _ = await scene(emulator, channel=dm)
    await until_status(emulator, card.id, "Done")
    posted = emulator.messages(dm)
    assert posted[-1].attachments
    assert posted[-1].id != card.id
    assert emulator.threads == []


async def test_poses_land_as_a_sheet(
    emulator: DiscordEmulator, bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register(emulator)
    ix = await emulator.slash(
        emulator.user("alice"), "poses", character="Mira", count=3, per_pose=1, format="png"
    )
    card = await ix.response()
    assert card.embeds[0]["title"] == "Pose sheet of Mira"
    results = await results_in_thread(emulator, card)
    assert len(results[0].attachments) == 3
    assert segmind_fake.billed == 1


async def test_a_region_edit_with_image_and_mask_lands(
    emulator: DiscordEmulator, bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register(emulator)
    picture = png(512, 512, seed=5)
    mask = make_image(512, 512, colour=(255, 255, 255))
    card, ix = await scene(emulator, prompt="add a hat", image=picture, mask=mask)
    assert not ix.ephemeral  # type: ignore[attr-defined]
    assert "Region edit" in card.embeds[0]["fields"][1]["value"]
    results = await results_in_thread(emulator, card)
    assert results[0].attachments
    edit_request = segmind_fake.requests[-1]
    files = [value for value in edit_request.body.values() if isinstance(value, bytes)]
    assert len(files) >= 2  # the image and the mask went as our own bytes, never URLs


async def test_a_mask_of_another_size_is_refused_privately(
    emulator: DiscordEmulator, bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register(emulator)
    ix = await emulator.slash(
        emulator.user("alice"),
        "scene",
        character="Mira",
        prompt="add a hat",
        image=png(512, 512, seed=5),
        mask=png(400, 400, seed=6),
    )
    reply = await ix.wait_followup()
    assert reply.ephemeral
    assert "same size" in reply.content
    assert segmind_fake.billed == 0
    assert emulator.messages("general") == []  # the public "thinking" message was removed


async def test_options_no_service_can_honour_are_refused_before_queueing(
    emulator: DiscordEmulator, bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register(emulator)
    ix = await emulator.slash(
        emulator.user("alice"), "scene", character="Mira", prompt="x", provider="nowhere"
    )
    reply = await ix.response()
    assert ix.ephemeral
    assert "nowhere" in reply.content
    assert segmind_fake.requests == []
    jobs = await emulator.slash(emulator.user("alice"), "jobs")
    assert "no pictures on the way" in (await jobs.response()).content


async def test_a_card_is_edited_at_most_once_per_interval_and_ends_done(
    emulator: DiscordEmulator, scene_settings_with: SettingsWith, apiframe_fake: FakeApiframe
) -> None:
    interval = 1.0
    settings = scene_settings_with(card_edit_seconds=interval)
    # Every answer of the service takes a while, so the job passes through several looks over
    # about two intervals: submitted, each poll, fetching, done.
    apiframe_fake.latency = 0.3
    apiframe_fake.polls_before_done = 3
    async with running_bot(settings, guild_ready_timeout=0.1) as bot:
        await asyncio.wait_for(bot.wait_until_ready(), timeout=15)
        await register(emulator)
        card, _ = await scene(emulator, provider="apiframe")
        posted = time.monotonic()
        await results_in_thread(emulator, card)
    edits = [
        entry.time
        for entry in emulator.request_log
        if entry.method == "PATCH"
        and entry.path == f"/channels/{card.channel_id}/messages/{card.id}"
    ]
    assert len(edits) >= 2  # the job outlasts one interval: its progress shows, then "Done"
    # Loose by the time a request spends between the bot's clock and the emulator's log.
    slack = 0.3
    assert edits[0] - posted >= interval - slack
    assert all(later - earlier >= interval - slack for earlier, later in pairwise(edits))
    assert "Done" in status(emulator.message(card.id))


# -- buttons ---------------------------------------------------------------------------------


async def test_result_buttons_work_for_the_right_member_and_refuse_others(
    emulator: DiscordEmulator, bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register(emulator)
    card, _ = await scene(emulator, provider="segmind")
    result = (await results_in_thread(emulator, card))[0]

    # Favorite: the requester only; the button shows the mark.
    refused = await emulator.click(emulator.user("bob"), result, button(result, "cameo:fav:"))
    assert "Only the member who asked" in (await refused.response()).content
    marked = await emulator.click(emulator.user("alice"), result, button(result, "cameo:fav:"))
    await marked.wait_ack()
    await emulator._state.wait_until(
        lambda: any(b["style"] == 3 for b in emulator.message(result.id).buttons()),
        5,
        "the favourite mark",
    )

    # Info: anyone may ask; only the requester (or a moderator) sees the cost.
    info = await emulator.click(emulator.user("bob"), result, button(result, "cameo:info:"))
    text = (await info.response()).content
    assert info.ephemeral
    assert "segmind" in text
    assert "Seed" in text
    assert "Cost" not in text
    own = await emulator.click(emulator.user("alice"), result, button(result, "cameo:info:"))
    assert "Cost" in (await own.response()).content

    # Use as reference: the character's owner only.
    refused = await emulator.click(emulator.user("bob"), result, button(result, "cameo:ref:"))
    assert "Only the owner" in (await refused.response()).content
    before = (await bot.services.characters.list_visible(_alice(emulator)))[0]
    used = await emulator.click(emulator.user("alice"), result, button(result, "cameo:ref:"))
    choice = await used.response()
    assert choice.ephemeral
    assert "replace the look this scene used (“default”)" in choice.content
    replace = next(b for b in choice.buttons() if b["label"] == "Replace “default”")
    replaced = await emulator.click(emulator.user("alice"), choice, replace["custom_id"])
    await replaced.wait_ack()
    await emulator._state.wait_until(
        lambda: "is now Mira's look “default”" in emulator.message(choice.id).content,
        5,
        "the choice to say it is done",
    )
    character = (await bot.services.characters.list_visible(_alice(emulator)))[0]
    assert character.image_sha256 != before.image_sha256

    # Reroll: the requester only; a new card and new results in the same thread.
    refused = await emulator.click(emulator.user("bob"), result, button(result, "cameo:reroll:"))
    refusal = await refused.wait_followup()
    assert refusal.ephemeral
    assert "isn't yours" in refusal.content
    reroll = await emulator.click(emulator.user("alice"), result, button(result, "cameo:reroll:"))
    new_card = await reroll.response()
    assert new_card.channel_id == card.id  # posted in the thread
    await until_status(emulator, new_card.id, "Done")
    assert segmind_fake.billed == 2

    # Delete: the requester or a moderator; bob is neither, carol moderates.
    refused = await emulator.click(emulator.user("bob"), result, button(result, "cameo:del:"))
    assert "or a moderator" in (await refused.response()).content
    deleted = await emulator.click(emulator.user("carol"), result, button(result, "cameo:del:"))
    await deleted.wait_ack()
    await emulator._state.wait_until(
        lambda: emulator.message(result.id).deleted, 5, "the results to be deleted"
    )


def _alice(emulator: DiscordEmulator):  # type: ignore[no-untyped-def]
    from bot.models import Viewer

    return Viewer(emulator.user("alice").id, emulator.guild.id)


async def test_cancel_works_for_the_requester_and_refuses_others(
    emulator: DiscordEmulator, bot: CameoBot, apiframe_fake: FakeApiframe
) -> None:
    apiframe_fake.polls_before_done = 10_000  # it stays generating until cancelled
    await register(emulator)
    card, _ = await scene(emulator, provider="apiframe")
    await emulator._state.wait_until(lambda: apiframe_fake.billed == 1, 10, "a submission")
    cancel = button(card, "cameo:cancel:")
    refused = await emulator.click(emulator.user("bob"), card, cancel)
    assert "isn't yours" in (await refused.response()).content
    done = await emulator.click(emulator.user("alice"), card, cancel)
    assert "Cancelled" in (await done.response()).content
    cancelled = await until_status(emulator, card.id, "Cancelled")
    assert cancelled.buttons() == []
    jobs = await emulator.slash(emulator.user("alice"), "jobs")
    assert "no pictures on the way" in (await jobs.response()).content


async def test_jobs_lists_what_is_on_the_way_with_cancel_buttons(
    emulator: DiscordEmulator, bot: CameoBot, apiframe_fake: FakeApiframe
) -> None:
    apiframe_fake.polls_before_done = 10_000
    await register(emulator)
    await scene(emulator, provider="apiframe")
    await scene(emulator, provider="apiframe", prompt="in the rain")
    listing = await emulator.slash(emulator.user("alice"), "jobs")
    message = await listing.response()
    assert listing.ephemeral
    assert "reading by a fireplace" in message.content
    assert "in the rain" in message.content
    buttons = message.buttons()
    assert len(buttons) == 2
    click = await emulator.click(emulator.user("alice"), message, buttons[0]["custom_id"])
    updated = await click.response()
    assert len(updated.buttons()) == 1


# -- restarts, failures, load ----------------------------------------------------------------


async def scene_across_a_restart(
    emulator: DiscordEmulator,
    settings: Settings,
    apiframe: FakeApiframe,
    *,
    upload_limit: int | None = None,
) -> list[Message]:
    """Ask for an Apiframe scene, stop the bot once the service has taken it, and return the
    results a second process posts. `upload_limit` is what Discord reports for the channel."""
    apiframe.polls_before_done = 10_000
    async with running_bot(settings, guild_ready_timeout=0.1) as first:
        await asyncio.wait_for(first.wait_until_ready(), timeout=15)
        await register(emulator)
        if upload_limit is not None:
            emulator.options.attachment_size_limit = upload_limit
        card, _ = await scene(emulator, provider="apiframe")
        await emulator._state.wait_until(lambda: apiframe.billed == 1, 10, "a submission")
    apiframe.polls_before_done = 0
    async with running_bot(settings, guild_ready_timeout=0.1) as second:
        await asyncio.wait_for(second.wait_until_ready(), timeout=15)
        return await results_in_thread(emulator, card)


async def test_killed_mid_job_the_image_is_posted_after_restart_and_paid_once(
    emulator: DiscordEmulator, scene_settings: Settings, apiframe_fake: FakeApiframe
) -> None:
    results = await scene_across_a_restart(emulator, scene_settings, apiframe_fake)
    assert results[0].attachments
    assert apiframe_fake.billed == 1


async def test_after_a_restart_results_keep_to_their_channels_upload_limit(
    emulator: DiscordEmulator, scene_settings: Settings, apiframe_fake: FakeApiframe
) -> None:
    """The limit Discord reported with the command is kept with the card (on the Discord side,
    not in the domain's job), so a process that never saw the command still honours it."""
    limit = 1_500  # below the fake's pictures (about 3.7 kB), far below the usual 10 MiB
    results = await scene_across_a_restart(
        emulator, scene_settings, apiframe_fake, upload_limit=limit
    )
    attachment = results[0].attachments[0]
    assert len(attachment.data) <= limit
    assert attachment.data[:3] == b"\xff\xd8\xff"  # re-encoded to fit


async def test_buttons_keep_working_after_a_restart(
    emulator: DiscordEmulator, scene_settings: Settings
) -> None:
    async with running_bot(scene_settings, guild_ready_timeout=0.1) as first:
        await asyncio.wait_for(first.wait_until_ready(), timeout=15)
        await register(emulator)
        card, _ = await scene(emulator, provider="segmind")
        result = (await results_in_thread(emulator, card))[0]
    async with running_bot(scene_settings, guild_ready_timeout=0.1) as second:
        await asyncio.wait_for(second.wait_until_ready(), timeout=15)
        info = await emulator.click(emulator.user("alice"), result, button(result, "cameo:info:"))
        assert "segmind" in (await info.response()).content


async def test_a_failing_service_fails_over_to_the_next(
    emulator: DiscordEmulator,
    bot: CameoBot,
    segmind_fake: FakeSegmind,
    apiframe_fake: FakeApiframe,
) -> None:
    await register(emulator)
    segmind_fake.fail_next(503, count=5)
    card, _ = await scene(emulator)
    result = (await results_in_thread(emulator, card))[0]
    assert segmind_fake.billed == 0
    assert apiframe_fake.billed == 1
    info = await emulator.click(emulator.user("alice"), result, button(result, "cameo:info:"))
    assert "apiframe" in (await info.response()).content


async def test_a_content_rejection_fails_the_card_with_a_reason(
    emulator: DiscordEmulator, bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register(emulator)
    segmind_fake.reject_content = True
    card, _ = await scene(emulator, provider="segmind")
    failed = await until_status(emulator, card.id, "Failed")
    assert "content" in status(failed).lower()
    assert emulator.threads == []


async def test_without_thread_permission_results_come_in_the_channel_with_a_reason(
    emulator: DiscordEmulator, bot: CameoBot
) -> None:
    await register(emulator)
    emulator.deny_bot_permission("general", "create_public_threads")
    await asyncio.sleep(0.2)  # let the CHANNEL_UPDATE reach the bot's cache
    card, _ = await scene(emulator, provider="segmind")
    done = await until_status(emulator, card.id, "Done")
    assert "Create Public Threads" in status(done)
    posted = emulator.messages("general")
    assert posted[-1].attachments
    reference = posted[-1].message_reference
    assert reference is not None
    assert int(reference["message_id"]) == card.id
    assert emulator.threads == []


async def test_without_send_permission_results_go_to_the_members_dms(
    emulator: DiscordEmulator, bot: CameoBot
) -> None:
    await register(emulator)
    emulator.deny_bot_permission("general", "create_public_threads", "send_messages")
    await asyncio.sleep(0.2)
    card, _ = await scene(emulator, provider="segmind")
    done = await until_status(emulator, card.id, "Done")
    assert "Send Messages" in status(done)
    assert emulator.messages(emulator.dm_channel("alice"))[-1].attachments


async def test_fifty_members_at_once_all_get_their_images(
    emulator: DiscordEmulator, bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register(emulator)
    # The moderation log is on: every scene gets a line there too.
    mod_log = emulator.add_text_channel("mod-log")
    await emulator.slash(
        emulator.user("carol"), "admin moderation log", options={"channel": mod_log}
    )
    # A busy server: ten channels, five members asking in each, all at the same moment.
    channels = [emulator.add_text_channel(f"room-{n}") for n in range(10)]
    members = [f"member{n}" for n in range(50)]
    for name in members:
        emulator.add_member(name)
    await asyncio.sleep(0.2)  # the CHANNEL_CREATEs reach the bot
    asked = await asyncio.gather(
        *(
            emulator.slash(
                emulator.user(name),
                "scene",
                channel=channels[n % 10],
                character="Mira",
                prompt=name,
            )
            for n, name in enumerate(members)
        )
    )
    cards = [await ix.response(timeout=30) for ix in asked]
    assert all(ix.ack_latency < 3 for ix in asked)
    for card in cards:
        await results_in_thread(emulator, card, timeout=120)
    assert segmind_fake.billed == 50
    await bot.services.moderation.log.flush()
    logged = emulator.messages(mod_log)
    assert sum(m.content.count("🎨 [Scene") for m in logged) == 50
    assert len(logged) <= 50 // 5  # batched: ten lines to a message (fewer while trickling)
    assert all(m.pinged_user_ids == set() for m in logged)
    assert emulator.stats["rate_limited_429s"] == 0
    # Fifty acknowledgements at once share a bounded pool of kept-alive connections.
    assert emulator.stats["rest_connections"] <= DISCORD_CONNECTIONS_PER_HOST


async def test_a_scene_answered_too_late_is_taken_back_quietly(
    emulator: DiscordEmulator, bot: CameoBot, caplog: pytest.LogCaptureFixture
) -> None:
    """When Discord's 3 seconds have passed, the job is refunded and nobody is sent anything
    more: no traceback, no second request for an interaction that no longer exists."""
    await register(emulator)
    alice = emulator.user("alice")
    emulator.options.ack_deadline = 0.0  # every answer from now on is too late
    log_start = len(emulator.request_log)
    late = await emulator.slash(alice, "scene", character="Mira", prompt="on a late train")
    async with asyncio.timeout(10):
        while not any("expired before" in r.getMessage() for r in caplog.records):
            await asyncio.sleep(0.01)
    assert late.record.timed_out
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    answers = [e for e in emulator.request_log[log_start:] if "/interactions/" in e.path]
    assert len(answers) == 1  # the card, refused; no error message chased after it
    assert not [e for e in emulator.request_log[log_start:] if "/webhooks/" in e.path]
    viewer = Viewer(alice.id, emulator.guild.id)
    assert await bot.services.jobs.active(viewer) == []
    assert (await bot.services.quota.status(viewer)).held == 0
    assert len(emulator.take_violations()) == 2  # not answered in time, then the late card


async def test_a_refused_delivery_is_not_retried_and_is_reported(
    emulator: DiscordEmulator, bot: CameoBot
) -> None:
    """A 400 would come back the same however often it is sent: one attempt, then the card
    says so and the pictures go where they can (here, the member's DMs)."""
    await register(emulator)
    messages_route = "POST /channels/{channel_id}/messages"
    emulator.inject_error(messages_route, 400, 50035, "Invalid Form Body")
    log_start = len(emulator.request_log)
    card, _ = await scene(emulator, provider="segmind")
    done = await until_status(emulator, card.id, "Done")
    refused = [e for e in emulator.request_log[log_start:] if e.status == 400]
    assert len(refused) == 1
    assert "Discord refused my message: Invalid Form Body" in status(done)
    assert emulator.messages(emulator.dm_channel("alice"))[-1].attachments


async def test_after_reloading_the_scenes_extension_results_reach_the_new_cog(
    emulator: DiscordEmulator, bot: CameoBot
) -> None:
    await register(emulator)
    old = bot.get_cog("Scenes")
    await bot.unload_extension("cogs.scenes")
    # Nothing may reach the closed cog: results wait, undelivered, for the next one.
    assert bot.services.runner.listener is not old.delivery  # type: ignore[union-attr]
    await bot.load_extension("cogs.scenes")
    new = bot.get_cog("Scenes")
    assert new is not old
    assert bot.services.runner.listener is new.delivery  # type: ignore[union-attr]
    card, _ = await scene(emulator, provider="segmind")
    assert (await results_in_thread(emulator, card))[0].attachments


async def test_a_deferral_too_late_is_reported_quietly_and_queues_nothing(
    emulator: DiscordEmulator, bot: CameoBot, caplog: pytest.LogCaptureFixture
) -> None:
    """A region edit defers first (its pictures take a while to check); when even that is
    past Discord's 3 seconds, nothing is queued and no error message is chased after it."""
    await register(emulator)
    alice = emulator.user("alice")
    emulator.options.ack_deadline = 0.0
    log_start = len(emulator.request_log)
    late = await emulator.slash(
        alice,
        "scene",
        character="Mira",
        prompt="add a hat",
        image=png(512, 512, seed=5),
        mask=make_image(512, 512, colour=(255, 255, 255)),
    )
    async with asyncio.timeout(10):
        while not any("expired before" in r.getMessage() for r in caplog.records):
            await asyncio.sleep(0.01)
    assert late.record.timed_out
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    answers = [e for e in emulator.request_log[log_start:] if "/interactions/" in e.path]
    assert [e.status for e in answers] == [404]  # the deferral, refused: Unknown interaction
    assert await bot.services.jobs.active(Viewer(alice.id, emulator.guild.id)) == []
    assert len(emulator.take_violations()) == 2


# -- every documented option reaches the services --------------------------------------------


async def test_resolution_suggestions_follow_the_chosen_aspect_ratio(
    emulator: DiscordEmulator, bot: CameoBot
) -> None:
    alice = emulator.user("alice")
    wide = await emulator.autocomplete(alice, "scene", "resolution", "", aspect_ratio="16:9")
    assert [c["value"] for c in wide] == ["1216x704", "1280x704", "1312x736", "1344x768"]
    assert all(c["name"].endswith("(16:9)") for c in wide)
    typed = await emulator.autocomplete(alice, "scene", "resolution", "1024")
    assert {c["value"] for c in typed} == {
        *("832x1024", "896x1024", "960x1024"),
        *("1024x832", "1024x896", "1024x960", "1024x1024"),
    }
    anything = await emulator.autocomplete(alice, "scene", "resolution", "")
    assert len(anything) == 25  # Discord's limit; typing narrows the 69


async def test_a_scene_with_a_resolution_sends_only_that_size(
    emulator: DiscordEmulator, bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register(emulator)
    card, _ = await scene(emulator, provider="segmind", aspect_ratio="16:9", resolution="1344x768")
    [message] = await results_in_thread(emulator, card)
    assert message.attachments
    body = segmind_fake.requests[-1].body
    assert body["resolution"] == "1344x768"
    assert "aspect_ratio" not in body


@pytest.mark.parametrize(
    ("options", "sentence"),
    [
        ({"resolution": "1000x1000"}, "1000x1000 isn't a resolution the image services offer"),
        ({"resolution": "9999x100"}, "9999x100 isn't a resolution the image services offer"),
        (
            {"resolution": "1024x1024", "aspect_ratio": "16:9"},
            "1024x1024 makes a 1:1 picture, not 16:9",
        ),
        ({"style": "general", "provider": "segmind"}, "style general"),
    ],
)
async def test_options_a_service_does_not_document_are_refused_before_anything_is_spent(
    emulator: DiscordEmulator,
    bot: CameoBot,
    segmind_fake: FakeSegmind,
    apiframe_fake: FakeApiframe,
    options: dict[str, str],
    sentence: str,
) -> None:
    await register(emulator)
    reply, ix = await scene(emulator, **options)
    assert ix.ephemeral  # type: ignore[attr-defined]
    assert sentence in reply.content
    assert segmind_fake.requests == []
    assert apiframe_fake.requests == []


async def test_poses_take_every_consistent_character_option(
    emulator: DiscordEmulator, bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register(emulator)
    ix = await emulator.slash(
        emulator.user("alice"),
        "poses",
        character="Mira",
        negative_prompt="hats",
        randomise_poses=False,
        output_quality=55,
        seed=77,
    )
    card = await ix.response()
    results = await results_in_thread(emulator, card)
    assert results[0].attachments
    submit = next(r for r in segmind_fake.requests if r.path == "/v2/consistent-character")
    assert submit.body["negative_prompt"] == "hats"
    assert submit.body["randomise_poses"] == "false"
    assert submit.body["output_quality"] == "55"
    assert submit.body["seed"] == "77"
