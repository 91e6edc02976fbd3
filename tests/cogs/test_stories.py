"""End to end: a shared story from start to recap and export, through real discord.py,
loopback Discord and the fake services."""

from __future__ import annotations

import io
import json
import zipfile

from bot.client.cameo_bot import CameoBot
from tests.cogs.test_scenes import register, status
from tests.discord.emulator import DiscordEmulator, Message
from tests.imagefactory import png


async def in_story(
    emulator: DiscordEmulator, user: str, command: str, thread: object, **options: object
) -> Message:
    ix = await emulator.slash(emulator.user(user), command, channel=thread, **options)
    return await ix.response()


async def test_a_story_from_start_to_recap_and_export(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    await register(emulator, "alice", "Mira", description="A wandering mage")
    await register(emulator, "bob", "Nox", image=png(seed=5))
    ix = await emulator.slash(
        emulator.user("alice"), "story start", title="The Lost Crown", characters="Mira"
    )
    announcement = await ix.response()
    assert "The Lost Crown" in announcement.content
    thread = await emulator.wait_for_thread(name="The Lost Crown")
    card = next(m for m in emulator.messages(thread) if m.embeds)
    assert card.embeds[0]["title"] == "📖 The Lost Crown"
    assert "Mira" in card.embeds[0]["description"]
    assert card.embed_attachment() is not None  # the cast as a contact sheet
    assert emulator.is_pinned(card)

    # Bob brings Nox in: the pinned card is edited in place, not posted again.
    added = await in_story(emulator, "bob", "story cast add", thread, character="Nox")
    assert "joins the cast" in (added.content or "")
    await emulator._state.wait_until(
        lambda: "Nox" in emulator.message(card.id).embeds[0]["description"], 10, "the cast card"
    )
    assert len([m for m in emulator.messages(thread) if m.embeds and m.id != card.id]) == 0

    # Scenes asked in the thread are the story's, numbered.
    for user, character, prompt in (
        ("alice", "Mira", "finding a crown in the snow"),
        ("bob", "Nox", "stealing the crown at night"),
    ):
        scene_ix = await emulator.slash(
            emulator.user(user), "scene", channel=thread, character=character, prompt=prompt
        )
        scene_card = await scene_ix.response()
        await emulator._state.wait_until(
            lambda scene_card=scene_card: "Done" in status(emulator.message(scene_card.id)),
            20,
            "the scene to be done",
        )
    cards = [m for m in emulator.messages(thread) if m.embeds and m.embeds[0].get("author")]
    assert [c.embeds[0]["author"]["name"] for c in cards] == [
        "Scene 1 of The Lost Crown",
        "Scene 2 of The Lost Crown",
    ]

    recap = await in_story(emulator, "carol", "story recap", thread)
    assert not recap.ephemeral
    text = recap.embeds[0]["description"]
    assert text.index("**1** Mira") < text.index("**2** Nox")
    assert recap.embed_attachment() is not None

    export = await in_story(emulator, "bob", "story export", thread)
    assert export.ephemeral
    archive = zipfile.ZipFile(io.BytesIO(export.attachments[0].data))
    manifest = json.loads(archive.read("story.json"))
    assert manifest["title"] == "The Lost Crown"
    assert [c["name"] for c in manifest["cast"]] == ["Mira", "Nox"]
    assert [s["prompt"] for s in manifest["scenes"]] == [
        "finding a crown in the snow",
        "stealing the crown at night",
    ]
    assert all(name in archive.namelist() for s in manifest["scenes"] for name in s["files"])


async def test_only_the_creator_or_a_moderator_runs_a_story_and_a_closed_one_takes_no_scenes(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    await register(emulator, "alice", "Mira")
    ix = await emulator.slash(emulator.user("alice"), "story start", title="Night Watch")
    await ix.response()
    thread = await emulator.wait_for_thread(name="Night Watch")

    refused = await in_story(emulator, "bob", "story close", thread)
    assert refused.ephemeral
    assert "Only the story's creator or a moderator" in refused.content
    renamed = await in_story(emulator, "carol", "story rename", thread, title="Day Watch")
    assert "Renamed" in renamed.content
    await emulator._state.wait_until(lambda: thread.name == "Day Watch", 10, "the new name")

    await in_story(emulator, "alice", "story close", thread)
    await emulator._state.wait_until(lambda: thread.archived, 10, "the thread archived")
    closed = await in_story(
        emulator, "bob", "scene", thread, character="Mira", prompt="a quiet night"
    )
    assert closed.ephemeral
    assert "is closed" in closed.content

    reopened = await in_story(emulator, "alice", "story reopen", thread)
    assert "open again" in reopened.content
    assert not thread.archived

    # Outside a story's thread, story commands say where to use them.
    elsewhere = await emulator.slash(emulator.user("alice"), "story recap")
    assert "isn't a story's thread" in (await elsewhere.response()).content


async def test_a_story_starts_with_a_cast_named_in_one_list(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    await register(emulator, "alice", "Mira")
    await register(emulator, "bob", "Nox", image=png(seed=5))
    choices = await emulator.autocomplete(
        emulator.user("alice"), "story start", "characters", "Mira, no", title="Two"
    )
    assert [c["value"] for c in choices] == ["Mira, Nox"]
    ix = await emulator.slash(
        emulator.user("alice"), "story start", title="Two", characters="Mira, Nox"
    )
    await ix.response()
    thread = await emulator.wait_for_thread(name="Two")
    card = next(m for m in emulator.messages(thread) if m.embeds)
    assert [line.split(" ", 1)[1] for line in card.embeds[0]["description"].split("\n")] == [
        "Mira",
        "Nox",
    ]
    unknown = await emulator.slash(
        emulator.user("alice"), "story start", title="Three", characters="Mira, Nobody"
    )
    assert "can't find a character" in (await unknown.response()).content


def test_a_long_recap_is_split_into_messages_discord_accepts() -> None:
    from bot.providers.request import SceneOptions
    from cogs.stories._render import recap_messages, recap_sheets
    from storage.stories import Story, StoryScene
    from tests.cogs.test_scene_cards import job

    story = Story(1, 2, 3, "The Lost Crown", 4, False, "t")
    scenes = [
        StoryScene(n, job(SceneOptions(prompt=f"scene {n} " + "x" * 300)), [(0, "s", "png")])
        for n in range(1, 301)
    ]
    messages = recap_messages(recap_sheets(story, scenes))
    assert sum(len(sheets) for sheets in messages) == 25  # 300 scenes, 12 to a sheet
    for sheets in messages:
        assert len(sheets) <= 10
        assert sum(len(embed) for embed, _ in sheets) <= 6000
    shown = [scene.number for sheets in messages for _, chunk in sheets for scene in chunk]
    assert shown == list(range(1, 301))


async def test_private_characters_stay_out_of_a_cast(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    await register(emulator, "alice", "Nox", image=png(seed=5), visibility="private")
    refused = await emulator.slash(
        emulator.user("alice"), "story start", title="Secret", characters="Nox"
    )
    answer = await refused.response()
    assert answer.ephemeral
    assert "is private" in answer.content
