"""Forum channels, forum posts, tags and pins, driven through real discord.py against the emulator.

Each refusal is checked twice: discord.py raises Discord's error, and the emulator records the
broken rule (``take_violations``), so a test that expected a refusal fails if none came.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import discord
import pytest
from discord.http import Route, handle_message_parameters

from tests.discord.conftest import running_probe
from tests.discord.emulator import Channel, DiscordEmulator, ForumTag
from tests.discord.permissions import BOT_DEFAULT, bit
from tests.discord.probe_bot import ProbeBot, make_png, png_file

CAST_TAGS = ["Hero", "Villain", "Sidekick", "Mentor", "Rogue", "Oracle"]


@pytest.fixture
def showcase(emulator: DiscordEmulator) -> Channel:
    """A forum created before the bot connects, so it arrives in GUILD_CREATE."""
    return emulator.add_forum_channel(
        "showcase",
        [*CAST_TAGS, ForumTag(name="Staff pick", moderated=True, emoji_name="⭐")],
        topic="One post per character",
        default_reaction_emoji="❤️",
    )


@pytest.fixture
async def bot(emulator: DiscordEmulator, showcase: Channel) -> AsyncIterator[ProbeBot]:
    async with running_probe(emulator) as probe:
        yield probe


def _forum(bot: ProbeBot, forum: Channel) -> discord.ForumChannel:
    channel = bot.get_channel(forum.id)
    assert isinstance(channel, discord.ForumChannel), channel
    return channel


def _tags(forum: discord.ForumChannel, *names: str) -> list[discord.ForumTag]:
    by_name = {t.name: t for t in forum.available_tags}
    return [by_name[n] for n in names]


async def _until(predicate: Callable[[], Any], timeout: float = 5) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.01)


async def _refused(awaitable: Any) -> discord.HTTPException:
    with pytest.raises(discord.HTTPException) as caught:
        await awaitable
    return caught.value


# The forum channel itself -----------------------------------------------------------------------


async def test_forum_arrives_in_guild_create_with_its_tags(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    forum = _forum(bot, showcase)
    assert forum.type is discord.ChannelType.forum
    assert forum.topic == "One post per character"
    assert [t.name for t in forum.available_tags] == [*CAST_TAGS, "Staff pick"]
    staff = forum.get_tag(emulator.forum_tag(showcase, "Staff pick").id)
    assert staff is not None
    assert staff.moderated
    assert staff.emoji is not None
    assert staff.emoji.name == "⭐"
    assert forum.default_reaction_emoji is not None
    assert forum.default_reaction_emoji.name == "❤️"
    assert not forum.flags.require_tag


async def test_get_channel_returns_the_forum_and_new_forums_reach_the_cache(
    emulator: DiscordEmulator, bot: ProbeBot
) -> None:
    gallery = emulator.add_forum_channel("gallery", ["Portrait"], require_tag=True)
    await _until(lambda: isinstance(bot.get_channel(gallery.id), discord.ForumChannel))
    fetched = await bot.fetch_channel(gallery.id)
    assert isinstance(fetched, discord.ForumChannel)
    assert [t.name for t in fetched.available_tags] == ["Portrait"]
    assert fetched.flags.require_tag
    emulator.add_forum_tag(gallery, "Landscape")
    cached = _forum(bot, gallery)
    await _until(lambda: len(cached.available_tags) == 2)
    assert [t.name for t in cached.available_tags] == ["Portrait", "Landscape"]


# Forum posts --------------------------------------------------------------------------------------


async def test_forum_post_with_a_file_and_tags(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    forum = _forum(bot, showcase)
    embed = discord.Embed(title="Mira").set_image(url="attachment://mira.png")
    thread, message = await forum.create_thread(
        name="Mira",
        content="Mira, a wandering cartographer",
        embed=embed,
        file=png_file("mira.png"),
        applied_tags=_tags(forum, "Hero", "Mentor"),
    )
    # discord.py built a real thread and message from the nested response.
    assert thread.type is discord.ChannelType.public_thread
    assert thread.id == message.id
    assert thread.parent_id == showcase.id
    assert [t.name for t in thread.applied_tags] == ["Hero", "Mentor"]
    assert message.attachments[0].filename == "mira.png"
    assert await message.attachments[0].read() == make_png()
    await _until(lambda: isinstance(bot.get_channel(thread.id), discord.Thread))  # THREAD_CREATE

    [post] = emulator.forum_posts(showcase)
    assert post.name == "Mira"
    assert post.tag_names == ["Hero", "Mentor"]
    assert post.message is not None
    assert post.message.content == "Mira, a wandering cartographer"
    assert post.message.id == post.thread.id == showcase.last_message_id
    assert post.message.embed_attachment(0) is post.message.attachment_named("mira.png")
    assert post.thread.message_count == 0  # the first message is not counted
    assert emulator.messages(post.thread) == [post.message]
    assert await emulator.wait_for_forum_post("showcase", "Mira") == post


async def test_forum_post_response_nests_its_message(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    hero = emulator.forum_tag(showcase, "Hero")
    route = Route("POST", "/channels/{channel_id}/threads", channel_id=showcase.id)
    body = {"name": "Bram", "applied_tags": [str(hero.id)], "message": {"content": "Bram"}}
    data = await bot.http.request(route, json=body, params={"use_nested_fields": 1})
    assert data["type"] == 11
    assert data["parent_id"] == str(showcase.id)
    assert data["applied_tags"] == [str(hero.id)]
    assert data["message"]["id"] == data["id"]
    assert data["message"]["channel_id"] == data["id"]
    assert data["message"]["content"] == "Bram"
    assert data["thread_metadata"]["archived"] is False


async def test_thread_create_comes_before_the_first_message_on_the_gateway(
    emulator: DiscordEmulator, showcase: Channel
) -> None:
    intents = 1 | 1 << 9  # GUILDS | GUILD_MESSAGES
    headers = {"Authorization": f"Bot {emulator.bot_token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.ws_connect(f"{emulator.gateway_url}?v=10") as ws:
            await ws.receive_json()
            await ws.send_json({"op": 2, "d": {"token": emulator.bot_token, "intents": intents}})
            await emulator.wait_for_ready()
            url = f"{emulator.api_base}/channels/{showcase.id}/threads"
            post = {"name": "Ada", "message": {"content": "Ada"}}
            async with session.post(url, json=post) as response:
                assert response.status == 200
                thread_id = (await response.json())["id"]
            events: list[tuple[str, Any]] = []
            while not events or events[-1][0] != "MESSAGE_CREATE":
                frame = await asyncio.wait_for(ws.receive_json(), 5)
                if frame.get("op") == 0 and frame["t"] not in ("READY", "GUILD_CREATE"):
                    events.append((frame["t"], frame["d"]))
    assert [name for name, _ in events] == ["THREAD_CREATE", "MESSAGE_CREATE"]
    assert events[0][1]["id"] == thread_id
    assert events[0][1]["newly_created"] is True
    assert events[1][1]["channel_id"] == thread_id


async def test_editing_tags_name_and_first_message(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    forum = _forum(bot, showcase)
    thread, message = await forum.create_thread(
        name="Milo", content="v1", applied_tags=_tags(forum, "Hero")
    )
    thread = await thread.edit(name="Milo the Bold", applied_tags=_tags(forum, "Villain", "Rogue"))
    assert [t.name for t in thread.applied_tags] == ["Villain", "Rogue"]
    await thread.add_tags(*_tags(forum, "Oracle"))
    assert emulator.forum_post("Milo the Bold").tag_names == ["Villain", "Rogue", "Oracle"]
    # add_tags does not update the Thread it was called on; THREAD_UPDATE updates the cache.
    cached = bot.get_channel(thread.id)
    assert isinstance(cached, discord.Thread)
    await _until(lambda: len(cached.applied_tags) == 3)
    await cached.remove_tags(*_tags(forum, "Villain"))
    assert emulator.forum_post("Milo the Bold").tag_names == ["Rogue", "Oracle"]

    edited = await message.edit(content="v2", attachments=[png_file("milo.png")])
    assert edited.content == "v2"
    post = emulator.forum_post(thread.id)
    assert post.message is not None
    assert post.message.content == "v2"
    assert [a.filename for a in post.message.attachments] == ["milo.png"]
    assert post.message.edited


async def test_an_archived_post_must_be_unarchived_before_it_changes(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    forum = _forum(bot, showcase)
    thread, message = await forum.create_thread(name="Sleepy", content="zzz")
    thread = await thread.edit(archived=True)
    assert (await _refused(thread.edit(applied_tags=_tags(forum, "Hero")))).code == 50083
    assert (await _refused(message.edit(content="awake?"))).code == 50083
    violations = emulator.take_violations()
    assert len(violations) == 2
    assert all("50083" in v for v in violations)
    thread = await thread.edit(archived=False, applied_tags=_tags(forum, "Hero"))
    assert [t.name for t in thread.applied_tags] == ["Hero"]
    assert (await message.edit(content="awake")).content == "awake"


async def test_deleting_a_post_removes_it_and_its_messages(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    forum = _forum(bot, showcase)
    thread, message = await forum.create_thread(name="Gone", content="soon gone")
    reply = await thread.send("a reply")
    await _until(lambda: bot.get_channel(thread.id) is not None)
    await thread.delete()
    assert emulator.forum_posts(showcase) == []
    assert emulator.threads == []
    assert emulator.message(message.id).deleted
    assert emulator.message(reply.id).deleted
    await _until(lambda: bot.get_channel(thread.id) is None)  # THREAD_DELETE reached the cache
    with pytest.raises(discord.NotFound) as caught:
        await bot.fetch_channel(thread.id)
    assert caught.value.code == 10003
    assert "10003" in emulator.take_violations()[0]


async def test_deleting_a_post_needs_manage_threads(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    forum = _forum(bot, showcase)
    thread, _ = await forum.create_thread(name="Kept", content="stays")
    emulator.deny_bot_permission(showcase, "manage_threads")
    error = await _refused(thread.delete())
    assert (error.status, error.code) == (403, 50013)
    assert "manage_threads" in emulator.take_violations()[0]
    assert [p.name for p in emulator.forum_posts(showcase)] == ["Kept"]


async def test_only_one_post_is_pinned_to_the_top_of_a_forum(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    forum = _forum(bot, showcase)
    first, _ = await forum.create_thread(name="Rules", content="read me")
    second, _ = await forum.create_thread(name="News", content="fresh")
    first = await first.edit(pinned=True)
    assert first.flags.pinned
    assert emulator.forum_post("Rules").thread.pinned
    assert (await _refused(second.edit(pinned=True))).code == 30047
    assert "30047" in emulator.take_violations()[0]


# Rules for forum posts ----------------------------------------------------------------------------


async def test_a_post_needs_a_message_with_something_in_it(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    forum = _forum(bot, showcase)
    assert (await _refused(forum.create_thread(name="Empty"))).code == 50006
    route = Route("POST", "/channels/{channel_id}/threads", channel_id=showcase.id)
    error = await _refused(bot.http.request(route, json={"name": "No message"}))
    assert (error.status, error.code) == (400, 50035)
    violations = emulator.take_violations()
    assert "50006" in violations[0]
    assert "message: This field is required" in violations[1]
    assert emulator.forum_posts(showcase) == []
    assert emulator.threads == []


async def test_at_most_five_tags_and_only_the_forums_own(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    forum = _forum(bot, showcase)
    error = await _refused(
        forum.create_thread(name="Crowded", content="x", applied_tags=_tags(forum, *CAST_TAGS))
    )
    assert (error.status, error.code) == (400, 50035)
    stranger = discord.Object(id=1234)  # a tag of some other forum
    error = await _refused(
        forum.create_thread(name="Stranger", content="x", applied_tags=[stranger])  # type: ignore[list-item]
    )
    assert (error.status, error.code) == (400, 50035)
    thread, _ = await forum.create_thread(name="Fine", content="x")
    error = await _refused(thread.edit(applied_tags=_tags(forum, *CAST_TAGS)))
    assert (error.status, error.code) == (400, 50035)
    violations = emulator.take_violations()
    assert "applied_tags: Must be 5 or fewer in length. (got 6)" in violations[0]
    assert "applied_tags.0: Tag 1234 is not one of this forum's tags" in violations[1]
    assert "applied_tags: Must be 5 or fewer" in violations[2]
    assert [p.name for p in emulator.forum_posts(showcase)] == ["Fine"]
    assert emulator.forum_post("Fine").tags == []


async def test_thread_name_is_1_to_100_characters(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    forum = _forum(bot, showcase)
    assert (await _refused(forum.create_thread(name="x" * 101, content="x"))).code == 50035
    assert (await _refused(forum.create_thread(name="", content="x"))).code == 50035
    violations = emulator.take_violations()
    assert "name: Must be 100 or fewer in length. (got 101)" in violations[0]
    assert "name: This field is required" in violations[1]
    thread, _ = await forum.create_thread(name="x" * 100, content="x")
    assert thread.name == "x" * 100


async def test_a_forum_takes_posts_not_messages(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    with handle_message_parameters(content="hello forum") as params:
        error = await _refused(bot.http.send_message(showcase.id, params=params))
    assert (error.status, error.code) == (400, 50008)
    assert "ForumChannel.create_thread" in emulator.take_violations()[0]


async def test_a_forum_that_requires_a_tag_refuses_an_untagged_post(
    emulator: DiscordEmulator, bot: ProbeBot
) -> None:
    gallery = emulator.add_forum_channel("gallery", ["Portrait"], require_tag=True)
    await _until(lambda: isinstance(bot.get_channel(gallery.id), discord.ForumChannel))
    forum = _forum(bot, gallery)
    error = await _refused(forum.create_thread(name="Untagged", content="x"))
    assert (error.status, error.code) == (400, 40067)
    assert "requires a tag" in emulator.take_violations()[0]
    thread, _ = await forum.create_thread(
        name="Tagged", content="x", applied_tags=_tags(forum, "Portrait")
    )
    assert [t.name for t in thread.applied_tags] == ["Portrait"]


async def test_moderated_tags_need_manage_threads(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    forum = _forum(bot, showcase)
    thread, _ = await forum.create_thread(
        name="Picked", content="x", applied_tags=_tags(forum, "Staff pick")
    )
    emulator.deny_bot_permission(showcase, "manage_threads")
    await _until(lambda: not forum.permissions_for(forum.guild.me).manage_threads)
    error = await _refused(
        forum.create_thread(
            name="Self-picked", content="x", applied_tags=_tags(forum, "Staff pick")
        )
    )
    assert (error.status, error.code) == (403, 50013)
    assert (await _refused(thread.edit(applied_tags=[]))).code == 50013
    violations = emulator.take_violations()
    assert all("moderated tag(s) ['Staff pick']" in v for v in violations)
    # Ordinary tags are still the post owner's to change.
    thread = await thread.edit(applied_tags=_tags(forum, "Staff pick", "Hero"))
    assert [t.name for t in thread.applied_tags] == ["Staff pick", "Hero"]


async def test_posting_needs_send_messages_not_create_public_threads(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    forum = _forum(bot, showcase)
    emulator.deny_bot_permission(showcase, "create_public_threads")
    thread, _ = await forum.create_thread(name="Allowed", content="x")
    assert thread.name == "Allowed"
    emulator.deny_bot_permission(showcase, "send_messages")
    error = await _refused(forum.create_thread(name="Refused", content="x"))
    assert (error.status, error.code) == (403, 50013)
    assert (
        "creating a forum post in forum #showcase needs send_messages"
        in (emulator.take_violations()[0])
    )


async def test_a_file_in_a_post_needs_attach_files(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    forum = _forum(bot, showcase)
    emulator.deny_bot_permission(showcase, "attach_files")
    error = await _refused(forum.create_thread(name="Pic", content="x", file=png_file("a.png")))
    assert (error.status, error.code) == (403, 50013)
    assert "attach_files" in emulator.take_violations()[0]
    assert emulator.forum_posts(showcase) == []


async def test_message_rules_apply_to_the_first_message(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    forum = _forum(bot, showcase)
    assert (await _refused(forum.create_thread(name="Long", content="x" * 2001))).code == 50035
    assert "message.content: Must be 2000 or fewer" in emulator.take_violations()[0]
    assert emulator.threads == []


# Editing the forum itself -------------------------------------------------------------------------


@pytest.mark.emulator(bot_permissions=BOT_DEFAULT | bit("manage_channels"))
async def test_editing_a_forums_tags_keeps_their_ids(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    forum = _forum(bot, showcase)
    hero = forum.available_tags[0]
    edited = await forum.edit(
        available_tags=[hero, discord.ForumTag(name="Antihero")], require_tag=True
    )
    assert [t.name for t in edited.available_tags] == ["Hero", "Antihero"]
    assert edited.available_tags[0].id == hero.id
    assert edited.flags.require_tag
    assert [t.name for t in showcase.available_tags] == ["Hero", "Antihero"]
    error = await _refused(
        forum.edit(available_tags=[discord.ForumTag(name="Twin"), discord.ForumTag(name="Twin")])
    )
    assert (error.status, error.code) == (400, 40061)
    assert "40061" in emulator.take_violations()[0]


async def test_editing_a_forum_needs_manage_channels(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    error = await _refused(_forum(bot, showcase).edit(topic="new"))
    assert (error.status, error.code) == (403, 50013)
    assert "manage_channels" in emulator.take_violations()[0]
    assert showcase.topic == "One post per character"


# Pins ---------------------------------------------------------------------------------------------


async def _story_thread(bot: ProbeBot, emulator: DiscordEmulator) -> discord.Thread:
    general = bot.get_channel(emulator.channel("general").id)
    assert isinstance(general, discord.TextChannel)
    return await general.create_thread(name="Story", type=discord.ChannelType.public_thread)


async def test_pin_and_unpin_a_cast_card(emulator: DiscordEmulator, bot: ProbeBot) -> None:
    thread = await _story_thread(bot, emulator)
    card = await thread.send("Cast: Mira, Milo")
    await card.pin()
    assert emulator.is_pinned(card.id)
    assert emulator.pins(thread.id) == [emulator.message(card.id)]
    # Discord posts "Cameo pinned a message" (type 6) pointing at the card.
    notice = emulator.messages(thread.id)[-1]
    assert notice.type == 6
    assert notice.message_reference is not None
    assert notice.message_reference["message_id"] == str(card.id)
    [pinned] = [m async for m in thread.pins()]
    assert pinned.id == card.id
    assert pinned.pinned
    assert pinned.pinned_at is not None
    await card.unpin()
    assert not emulator.is_pinned(card.id)
    assert [m async for m in thread.pins()] == []
    assert emulator.stats["dispatch_channel_pins_update"] == 2


async def test_pinning_the_first_message_of_a_forum_post(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    _, message = await _forum(bot, showcase).create_thread(name="Pinned card", content="card")
    await message.pin()
    assert emulator.is_pinned(message.id)
    post = emulator.forum_post("Pinned card")
    assert post.message is not None
    assert post.message.pinned


async def test_pins_page_by_pinned_at(emulator: DiscordEmulator, bot: ProbeBot) -> None:
    thread = await _story_thread(bot, emulator)
    sent = [await thread.send(f"card {i}") for i in range(3)]
    for message in sent:
        await message.pin()
        emulator.clock.advance(1)
    page = await bot.http.pins_from(thread.id, limit=2)
    assert [item["message"]["content"] for item in page["items"]] == ["card 2", "card 1"]
    assert page["has_more"] is True
    rest = await bot.http.pins_from(thread.id, limit=2, before=page["items"][-1]["pinned_at"])
    assert [item["message"]["content"] for item in rest["items"]] == ["card 0"]
    assert rest["has_more"] is False


@pytest.mark.emulator(bot_permissions=(BOT_DEFAULT & ~bit("pin_messages")) | bit("manage_messages"))
async def test_pinning_needs_pin_messages_manage_messages_is_not_enough(
    emulator: DiscordEmulator, bot: ProbeBot
) -> None:
    thread = await _story_thread(bot, emulator)
    card = await thread.send("card")
    error = await _refused(card.pin())
    assert (error.status, error.code) == (403, 50013)
    assert (
        "pinning a message in thread 'Story' needs pin_messages" in (emulator.take_violations()[0])
    )
    assert not emulator.is_pinned(card.id)


@pytest.mark.emulator(pins_per_channel=2)
async def test_a_channel_holds_a_limited_number_of_pins(
    emulator: DiscordEmulator, bot: ProbeBot
) -> None:
    thread = await _story_thread(bot, emulator)
    sent = [await thread.send(f"card {i}") for i in range(3)]
    await sent[0].pin()
    await sent[1].pin()
    error = await _refused(sent[2].pin())
    assert (error.status, error.code) == (400, 30003)
    assert "30003" in emulator.take_violations()[0]
    await sent[0].unpin()
    await sent[2].pin()
    assert [m.content for m in emulator.pins(thread.id)] == ["card 2", "card 1"]


async def test_system_messages_cannot_be_pinned(emulator: DiscordEmulator, bot: ProbeBot) -> None:
    thread = await _story_thread(bot, emulator)
    await (await thread.send("card")).pin()
    notice = emulator.messages(thread.id)[-1]
    error = await _refused(thread.get_partial_message(notice.id).pin())
    assert (error.status, error.code) == (400, 50021)
    assert "50021" in emulator.take_violations()[0]


async def test_deprecated_pin_routes_still_work(emulator: DiscordEmulator, bot: ProbeBot) -> None:
    thread = await _story_thread(bot, emulator)
    card = await thread.send("card")
    pin = Route(
        "PUT", "/channels/{channel_id}/pins/{message_id}", channel_id=thread.id, message_id=card.id
    )
    await bot.http.request(pin)
    listed = await bot.http.request(
        Route("GET", "/channels/{channel_id}/pins", channel_id=thread.id)
    )
    assert [m["id"] for m in listed] == [str(card.id)]
    assert listed[0]["pinned"] is True


async def test_file_bytes_survive_a_forum_post(
    emulator: DiscordEmulator, showcase: Channel, bot: ProbeBot
) -> None:
    data = b"\x89PNG" + bytes(range(256)) * 4
    _, message = await _forum(bot, showcase).create_thread(
        name="Bytes", file=discord.File(io.BytesIO(data), filename="raw.png")
    )
    post = emulator.forum_post("Bytes")
    assert post.message is not None
    assert post.message.attachment_named("raw.png").data == data
    assert message.content == ""


def test_a_pins_own_pinned_at_read_back_is_the_same_microsecond() -> None:
    """`before=<a pin's pinned_at>` must exclude that pin: the stored moment and the ISO text
    made from it agree to the microsecond, whatever the float's rounding."""
    import datetime as dt
    import random

    from tests.discord import routes_pins

    rng = random.Random(5)
    for _ in range(20_000):
        moment = 1_764_000_000 + rng.random() * 1_000_000
        shown = dt.datetime.fromisoformat(dt.datetime.fromtimestamp(moment, dt.UTC).isoformat())
        assert routes_pins._micros(moment) == routes_pins._exact_micros(shown)
