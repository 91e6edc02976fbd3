"""End to end: the showcase (a forum, or a text channel) through real discord.py, loopback
Discord and the fake services: sharing, the post's card kept current, copies deleted with
what they show."""

from __future__ import annotations

import pytest

from bot.client.cameo_bot import CameoBot
from tests.cogs.test_scenes import button, register, results_in_thread, scene
from tests.discord.emulator import DiscordEmulator, Message
from tests.imagefactory import png

WAIT = 15  # the deletion worker looks every few seconds, sooner when woken


async def choose_showcase(emulator: DiscordEmulator, channel: object) -> str:
    ix = await emulator.slash(
        emulator.user("carol"), "admin gallery channel", options={"channel": channel}
    )
    answer = await ix.response()
    assert answer.ephemeral
    return answer.content


async def share(emulator: DiscordEmulator, user: str, result: Message) -> Message:
    click = await emulator.click(emulator.user(user), result, button(result, "cameo:share:"))
    return await click.wait_followup()


async def a_result(emulator: DiscordEmulator, user: str = "alice", **options: object) -> Message:
    card, _ = await scene(emulator, user, **options)
    return (await results_in_thread(emulator, card))[0]


async def test_sharing_into_a_forum_makes_one_post_per_character(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    forum = emulator.add_forum_channel("showcase", tags=["scene", "pose sheet"])
    assert "each shared character gets a post" in await choose_showcase(emulator, forum)
    await register(emulator, "alice", "Mira", description="A wandering mage")
    first = await a_result(emulator, prompt="reading by a fireplace")

    # Only the member who asked, or the character's owner, may share.
    refused = await share(emulator, "bob", first)
    assert refused.ephemeral
    assert "Only the member who asked" in refused.content

    shared = await share(emulator, "alice", first)
    assert "Shared in the showcase" in shared.content
    post = await emulator.wait_for_forum_post(forum, "Mira")
    assert post.message is not None
    assert post.message.embeds[0]["title"] == "Mira"  # opened with the character's card
    assert post.tag_names == ["scene"]
    pictures = [m for m in emulator.messages(post.thread) if m.id != post.message.id]
    assert len(pictures) == 1
    assert "reading by a fireplace" in pictures[0].content
    assert pictures[0].attachments
    assert pictures[0].pinged_user_ids == set()

    # Sharing it again links to the copy; another picture goes into the same post.
    again = await share(emulator, "alice", first)
    assert str(pictures[0].id) in again.content
    second = await a_result(emulator, prompt="walking in the rain")
    await share(emulator, "alice", second)
    assert len(emulator.forum_posts(forum)) == 1
    await emulator.wait_for_message(post.thread, count=3, timeout=WAIT)

    # Editing the character updates the post's card.
    edit = await emulator.slash(
        emulator.user("alice"), "character edit", character="Mira", description="A retired mage"
    )
    await edit.response()
    await emulator._state.wait_until(
        lambda: "retired" in (emulator.message(post.id).embeds[0].get("description") or ""),
        WAIT,
        "the post's card to be updated",
    )

    # Deleting a result deletes its shared copy.
    delete = await emulator.click(emulator.user("alice"), first, button(first, "cameo:del:"))
    await delete.wait_ack()
    await emulator._state.wait_until(
        lambda: emulator.message(pictures[0].id).deleted, WAIT, "the shared copy to be deleted"
    )

    # Deleting the character takes its post down.
    ix = await emulator.slash(emulator.user("alice"), "character delete", character="Mira")
    confirm = await ix.response()
    yes = next(b for b in confirm.buttons() if b["style"] == 4)  # the red one
    await (await emulator.click(emulator.user("alice"), confirm, yes["custom_id"])).wait_ack()
    await emulator._state.wait_until(
        lambda: post.thread.deleted, WAIT, "the character's post to be deleted"
    )


async def test_a_text_channel_showcase_and_forget_me(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    showcase = emulator.add_text_channel("showcase")
    assert "a card and a thread" in await choose_showcase(emulator, showcase)
    await register(emulator, "alice", "Mira")
    result = await a_result(emulator, "bob", character="Mira", prompt="a garden party")
    # The character's owner may share a picture someone else asked for.
    assert "Shared" in (await share(emulator, "alice", result)).content
    card = next(m for m in emulator.messages(showcase) if m.embeds)
    assert card.embeds[0]["title"] == "Mira"
    thread = next(t for t in emulator.threads if t.id == card.thread_id)
    copy = emulator.messages(thread)[0]
    assert copy.attachments

    # Bob asks to be forgotten: his picture's copy goes.
    ix = await emulator.slash(emulator.user("bob"), "privacy forget-me")
    confirm = await ix.response()
    yes = next(b for b in confirm.buttons() if b["style"] == 4)
    await (await emulator.click(emulator.user("bob"), confirm, yes["custom_id"])).wait_ack()
    await emulator._state.wait_until(
        lambda: emulator.message(copy.id).deleted, WAIT, "the forgotten member's copy"
    )
    assert not emulator.message(card.id).deleted

    # The card in the channel follows the character: edited, then gone when made private.
    edit = await emulator.slash(
        emulator.user("alice"), "character edit", character="Mira", description="Now a queen"
    )
    await edit.response()
    await emulator._state.wait_until(
        lambda: "queen" in (emulator.message(card.id).embeds[0].get("description") or ""),
        WAIT,
        "the card in the channel to be updated",
    )
    private = await emulator.slash(
        emulator.user("alice"), "character edit", character="Mira", visibility="private"
    )
    await private.response()
    await emulator._state.wait_until(
        lambda: emulator.message(card.id).deleted and thread.deleted, WAIT, "the card and thread"
    )


async def test_private_characters_stay_out_and_staff_choose_the_channel(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    forum = emulator.add_forum_channel("showcase")
    await register(emulator, "alice", "Mira")
    await register(emulator, "alice", "Nox", image=png(seed=5), visibility="private")
    shared_character = await a_result(emulator, character="Mira")
    assert "no showcase yet" in (await share(emulator, "alice", shared_character)).content
    await choose_showcase(emulator, forum)
    private = await share(emulator, "alice", await a_result(emulator, character="Nox"))
    assert "is private" in private.content
    assert emulator.forum_posts(forum) == []

    emulator.deny_bot_permission(forum, "attach_files")
    assert "Attach Files" in await choose_showcase(emulator, forum)


@pytest.mark.parametrize("user", ["alice"])
async def test_members_without_manage_server_cannot_choose_the_showcase(
    emulator: DiscordEmulator, segmind_bot: CameoBot, user: str
) -> None:
    for command in emulator._state.commands[emulator.guild.id]:
        if command["name"] == "admin":
            command["default_member_permissions"] = None
    forum = emulator.add_forum_channel("showcase")
    ix = await emulator.slash(
        emulator.user(user), "admin gallery channel", options={"channel": forum}
    )
    answer = await ix.response()
    assert answer.ephemeral
    assert "Only members with Manage Server" in answer.content


async def test_a_character_made_private_leaves_the_showcase(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    forum = emulator.add_forum_channel("showcase")
    await choose_showcase(emulator, forum)
    await register(emulator, "alice", "Mira")
    await share(emulator, "alice", await a_result(emulator))
    post = await emulator.wait_for_forum_post(forum, "Mira")
    edit = await emulator.slash(
        emulator.user("alice"), "character edit", character="Mira", visibility="private"
    )
    await edit.response()
    await emulator._state.wait_until(lambda: post.thread.deleted, WAIT, "the post to go")


async def test_without_manage_threads_a_post_is_emptied_and_archived(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    """Cameo does not ask for Manage Threads: it deletes what it posted, then archives."""
    forum = emulator.add_forum_channel("showcase")
    emulator.deny_bot_permission(forum, "manage_threads")
    await choose_showcase(emulator, forum)
    await register(emulator, "alice", "Mira")
    await share(emulator, "alice", await a_result(emulator))
    post = await emulator.wait_for_forum_post(forum, "Mira")
    await emulator.wait_for_message(post.thread, count=2, timeout=WAIT)
    posted = emulator.messages(post.thread)
    edit = await emulator.slash(
        emulator.user("alice"), "character edit", character="Mira", visibility="private"
    )
    await edit.response()
    await emulator._state.wait_until(lambda: post.thread.archived, WAIT, "the post archived")
    assert all(emulator.message(m.id).deleted for m in posted)
    assert not post.thread.deleted


async def test_moving_the_showcase_takes_the_old_post_down_with_its_copies(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    old, new = emulator.add_forum_channel("showcase"), emulator.add_forum_channel("gallery")
    await choose_showcase(emulator, old)
    await register(emulator, "alice", "Mira")
    await share(emulator, "alice", await a_result(emulator, prompt="at dawn"))
    first = await emulator.wait_for_forum_post(old, "Mira")
    await choose_showcase(emulator, new)
    await share(emulator, "alice", await a_result(emulator, prompt="at dusk"))
    second = await emulator.wait_for_forum_post(new, "Mira")
    await emulator._state.wait_until(lambda: first.thread.deleted, WAIT, "the old post to go")
    assert not second.thread.deleted
