"""End to end: /show posts a finished job's pictures again, with working buttons."""

from __future__ import annotations

from bot.client.cameo_bot import CameoBot
from tests.cogs.test_scenes import button, register, results_in_thread, scene
from tests.discord.emulator import DiscordEmulator


async def test_show_reposts_a_job_after_its_thread_was_deleted(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    await register(emulator)
    card, _ = await scene(emulator, prompt="reading by a fireplace")
    original = (await results_in_thread(emulator, card))[0]
    emulator.delete_thread(card.id)  # a moderator tidied the channel up

    choices = await emulator.autocomplete(emulator.user("alice"), "show", "job", "fire")
    assert len(choices) == 1
    assert "reading by a fireplace" in choices[0]["name"]
    job = choices[0]["value"]
    # Other members see none of alice's jobs; a moderator sees the server's.
    assert await emulator.autocomplete(emulator.user("bob"), "show", "job", "") == []
    assert len(await emulator.autocomplete(emulator.user("carol"), "show", "job", "")) == 1

    ix = await emulator.slash(emulator.user("alice"), "show", job=job)
    shown = await ix.response()
    assert not shown.ephemeral
    assert len(shown.attachments) == len(original.attachments)
    assert shown.attachments[0].data == original.attachments[0].data
    assert "seed" in shown.content

    # Its buttons work like the originals.
    info = await emulator.click(emulator.user("bob"), shown, button(shown, "cameo:info:"))
    assert "segmind" in (await info.response()).content

    # Bob may not show alice's job; nobody may show an unknown or unfinished one.
    refused = await emulator.slash(emulator.user("bob"), "show", job=job)
    answer = await refused.response()
    assert answer.ephemeral
    assert "isn't yours" in answer.content
    for typed, expected in (("abc", "Pick one of your jobs"), ("999999", "isn't yours")):
        ix = await emulator.slash(emulator.user("alice"), "show", job=typed)
        assert expected in (await ix.response()).content


async def test_a_private_characters_jobs_stay_hidden_even_from_moderators(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    from tests.imagefactory import png

    await register(emulator, "bob", "Nox", image=png(seed=5), visibility="private")
    card, _ = await scene(emulator, "bob", character="Nox", prompt="a secret garden")
    await results_in_thread(emulator, card)
    own = await emulator.autocomplete(emulator.user("bob"), "show", "job", "")
    assert len(own) == 1  # the owner sees their own
    assert await emulator.autocomplete(emulator.user("carol"), "show", "job", "") == []
    refused = await emulator.slash(emulator.user("carol"), "show", job=own[0]["value"])
    answer = await refused.response()
    assert answer.ephemeral
    assert "is private" in answer.content
