"""End to end: what a hostile member can send (forged button ids, prompts with nothing to see)
gets a plain, private refusal in Cameo's words, and nothing is queued, held or logged as a fault."""

from __future__ import annotations

import logging

import pytest

from bot.client.cameo_bot import CameoBot
from bot.providers.request import EMPTY_NEGATIVE_PROMPT, EMPTY_PROMPT
from cogs.common import UnusableButton
from tests.cogs.test_quotas import quota_of
from tests.cogs.test_scenes import button, register, results_in_thread, scene
from tests.discord.emulator import DiscordEmulator, Message
from tests.fakes import FakeSegmind

REFUSAL = UnusableButton().message
# Characters that draw nothing: zero-width space, non-joiner and joiner, word joiner, byte order
# mark, a bidi mark, a no-break and an ideographic space, a Hangul filler.
NOTHING_VISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u200e\u00a0\u3000\u3164"


@pytest.fixture
def bot(segmind_bot: CameoBot) -> CameoBot:
    return segmind_bot


def forge(emulator: DiscordEmulator, message: Message, current: str, forged: str) -> None:
    """Rewrite one button's custom id in Discord's copy of the message, as a tampered client's
    interaction would carry it."""
    stored = emulator.message(message.id)
    component = stored.component(current)
    assert component is not None
    component["custom_id"] = forged


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_forged_button_numbers_are_refused_plainly(
    emulator: DiscordEmulator,
    bot: CameoBot,
    segmind_fake: FakeSegmind,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await register(emulator)
    card, _ = await scene(emulator)
    result = (await results_in_thread(emulator, card))[0]
    job = int(button(result, "cameo:info:").split(":")[2])
    too_big, far_too_big = 2**63, 2**64
    forged_ids = [
        f"cameo:info:{too_big}",
        f"cameo:info:{far_too_big}",
        "cameo:info:0",
        "cameo:info:-1",
        f"cameo:cancel:{too_big}",
        f"cameo:reroll:{far_too_big}",
        f"cameo:fav:{too_big}:0",
        f"cameo:fav:{job}:{too_big}",
        f"cameo:fav:{job}:-1",
        f"cameo:ref:{job}:{far_too_big}",
        f"cameo:del:{job}:0:{too_big}",
        f"cameo:del:{job}:1:0",  # last before first
        f"cameo:del:{-too_big}:0:0",
    ]
    current = button(result, "cameo:info:")
    for forged in forged_ids:
        forge(emulator, result, current, forged)
        current = forged
        click = await emulator.click(emulator.user("alice"), result, forged)
        reply = await click.response()
        assert click.ephemeral, forged  # type: ignore[attr-defined]
        assert reply.content == REFUSAL, forged

    # The largest id the database holds is read and looked up like any other: no such job.
    forge(emulator, result, current, f"cameo:info:{2**63 - 1}")
    click = await emulator.click(emulator.user("alice"), result, f"cameo:info:{2**63 - 1}")
    assert "doesn't exist" in (await click.response()).content

    assert errors_logged(caplog) == []
    assert segmind_fake.billed == 1  # the one real scene
    assert not emulator.message(result.id).deleted


@pytest.mark.parametrize("blank", ["   ", NOTHING_VISIBLE], ids=["spaces", "zero-width"])
async def test_a_prompt_with_nothing_visible_is_refused_before_anything_is_held(
    emulator: DiscordEmulator,
    bot: CameoBot,
    segmind_fake: FakeSegmind,
    caplog: pytest.LogCaptureFixture,
    blank: str,
) -> None:
    await register(emulator)
    asks = [
        ("scene", {"character": "Mira", "prompt": blank}, EMPTY_PROMPT),
        ("scene", {"character": "Mira", "prompt": "rain", "negative_prompt": blank}, None),
        ("poses", {"character": "Mira", "prompt": blank}, EMPTY_PROMPT),
    ]
    for command, options, sentence in asks:
        ix = await emulator.slash(emulator.user("alice"), command, **options)
        reply = await ix.response()
        assert ix.ephemeral, options  # type: ignore[attr-defined]
        assert "Value error" not in reply.content
        assert "error id" not in reply.content
        assert reply.content == (sentence or EMPTY_NEGATIVE_PROMPT)

    jobs = await emulator.slash(emulator.user("alice"), "jobs")
    assert "no pictures on the way" in (await jobs.response()).content
    assert "**50** of 50 left" in (await quota_of(emulator))["Today"]
    assert segmind_fake.requests == []
    assert errors_logged(caplog) == []
