"""End to end: results the age-restricted check flags are held back outside age-restricted
channels (charged or not, as the server sets) and posted behind a spoiler inside one.

Only the classifier's verdict is a test double (the real model's loading and one real
inference are tested in tests/bot/vision); everything else is the real bot, discord.py,
loopback Discord and the fake Segmind."""

from __future__ import annotations

import asyncio

from bot.app import running_bot
from bot.client.cameo_bot import CameoBot
from bot.vision.service import SafetyVerdict
from tests.cogs.test_gallery import lines, page_of
from tests.cogs.test_quotas import admin, quota_of
from tests.cogs.test_scenes import (
    SettingsWith,
    register,
    results_in_thread,
    scene,
    status,
    until_status,
)
from tests.discord.emulator import DiscordEmulator


class FlagFirst:
    """Flags the first `count` pictures it is shown, passes the rest."""

    def __init__(self, count: int) -> None:
        self.left = count
        self.seen = 0

    async def check_safety(self, data: bytes) -> SafetyVerdict:
        self.seen += 1
        flagged = self.left > 0
        self.left -= 1
        return SafetyVerdict(0.97 if flagged else 0.01, flagged)


async def test_a_flagged_picture_is_held_back_outside_age_restricted_channels(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    await register(emulator)
    check = segmind_bot.services.runner.safety = FlagFirst(1)
    card, _ = await scene(emulator, count=2)
    results = await results_in_thread(emulator, card)
    assert check.seen == 2
    pictures = [a for m in results for a in m.attachments]
    assert len(pictures) == 1  # the flagged one was never posted
    done = emulator.message(card.id)
    assert "1 picture was held back" in status(done)
    assert "Not charged." in status(done)
    assert "**31** of 50 left" in (await quota_of(emulator))["Today"]  # one picture, 19

    # A server may charge for them instead.
    said = await admin(emulator, "carol", "moderation safety", held_pictures="charge")
    assert "Pictures held back are charged." in said
    segmind_bot.services.runner.safety = FlagFirst(1)
    card, _ = await scene(emulator, count=1)
    await until_status(emulator, card.id, "held back")
    assert "Charged, as this server has set." in status(emulator.message(card.id))
    assert "**12** of 50 left" in (await quota_of(emulator))["Today"]


async def test_in_an_age_restricted_channel_it_is_posted_behind_a_spoiler_and_kept_there(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    await register(emulator)
    after_dark = emulator.add_text_channel("after-dark", nsfw=True)
    segmind_bot.services.runner.safety = FlagFirst(1)
    card, _ = await scene(emulator, count=2, channel=after_dark)
    results = await results_in_thread(emulator, card)
    names = sorted(a.filename for m in results for a in m.attachments)
    assert len(names) == 2
    assert [name.startswith("SPOILER_") for name in names] == [True, False]
    assert "held back" not in status(emulator.message(card.id))

    # It stays there: the server's gallery shows only the other picture, and /show in an
    # ordinary channel leaves it out too.
    page = await page_of(emulator, "alice", "gallery scenes")
    assert len(lines(page)) == 1
    choices = await emulator.autocomplete(emulator.user("alice"), "show", "job", "")
    shown = await emulator.slash(emulator.user("alice"), "show", job=choices[0]["value"])
    again = await shown.response()
    assert len(again.attachments) == 1
    assert not again.attachments[0].filename.startswith("SPOILER_")
    assert "only shown in age-restricted channels" in again.content


async def test_an_operator_may_turn_the_check_off_and_staff_are_told(
    emulator: DiscordEmulator, scene_settings_with: SettingsWith
) -> None:
    settings = scene_settings_with(safety_check=False)
    async with running_bot(settings, guild_ready_timeout=0.1) as running:
        await asyncio.wait_for(running.wait_until_ready(), timeout=15)
        await emulator.wait_for_commands(timeout=15)
        assert running.services.runner.safety is None
        said = await admin(emulator, "carol", "moderation safety")
        assert "so results are not checked" in said
