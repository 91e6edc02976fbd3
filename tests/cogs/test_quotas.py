"""End to end: `/quota`, `/admin quota …` and `/admin providers` through real discord.py and
loopback Discord, with credits held and charged by real scenes against the fake services."""

from __future__ import annotations

import asyncio

import pytest

from bot.client.cameo_bot import CameoBot
from tests.cogs.test_scenes import register, results_in_thread, scene
from tests.discord.emulator import CommandInvocationError, DiscordEmulator, Message
from tests.fakes import FakeSegmind


@pytest.fixture
def bot(segmind_bot: CameoBot) -> CameoBot:
    return segmind_bot


def fields(message: Message) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message.embeds[0]["fields"]}


async def quota_of(emulator: DiscordEmulator, user: str = "alice") -> dict[str, str]:
    ix = await emulator.slash(emulator.user(user), "quota")
    reply = await ix.response()
    assert ix.ephemeral  # type: ignore[attr-defined]
    return fields(reply)


async def admin(emulator: DiscordEmulator, user: str, command: str, **options: object) -> str:
    ix = await emulator.slash(emulator.user(user), f"admin {command}", **options)
    reply = await ix.response()
    assert ix.ephemeral  # type: ignore[attr-defined]
    return reply.content


async def test_quota_shows_credits_costs_and_history(
    emulator: DiscordEmulator, bot: CameoBot
) -> None:
    shown = await quota_of(emulator)
    assert "**50** of 50 left" in shown["Today"]
    assert "<t:" in shown["Today"]  # when they come back, in the reader's own time zone
    assert "**segmind**: turbo 13 · default 19 · quality 25" in shown["Credits per picture"]
    await register(emulator)
    card, _ = await scene(emulator)
    assert fields(card)["Cost"] == "19 credits"
    await results_in_thread(emulator, card)
    for _ in range(100):  # the charge lands once the pictures are posted
        shown = await quota_of(emulator)
        if "charged 19" in shown.get("Recent", ""):
            break
        await asyncio.sleep(0.05)
    assert "**31** of 50 left" in shown["Today"]
    assert "**±0** charged 19 for 1 image from segmind" in shown["Recent"]
    assert "**−19** held for job" in shown["Recent"]


async def test_over_quota_gets_a_private_answer_and_no_service_call(
    emulator: DiscordEmulator, bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register(emulator)
    await admin(emulator, "carol", "quota member", member="alice", credits=10)
    ix = await emulator.slash(emulator.user("alice"), "scene", character="Mira", prompt="rain")
    reply = await ix.response()
    assert ix.ephemeral  # type: ignore[attr-defined]
    assert "needs 19 credits and you have 10 left today" in reply.content
    await asyncio.sleep(0.3)
    assert segmind_fake.billed == 0
    assert "**10** of 10 left (set for you)" in (await quota_of(emulator))["Today"]


async def test_managers_set_allowances_roles_budget_and_cooldown(
    emulator: DiscordEmulator, bot: CameoBot
) -> None:
    assert "40 credits a day" in await admin(emulator, "carol", "quota allowance", credits=40)
    assert "**40** of 40 left (this server's allowance)" in (await quota_of(emulator))["Today"]
    await admin(emulator, "carol", "quota role", role="Artist", credits=70)
    assert "**70** of 70 left" in (await quota_of(emulator, "bob"))["Today"]  # bob is an Artist
    assert "budget of 500" in await admin(emulator, "carol", "quota budget", credits=500)
    assert "30 s between" in await admin(emulator, "carol", "quota cooldown", seconds=30)
    await admin(emulator, "carol", "quota price", service="segmind", speed="turbo", credits=4)
    ix = await emulator.slash(emulator.user("carol"), "admin quota show")
    rules = await ix.response()
    description = rules.embeds[0]["description"]
    assert "Daily allowance per member: 40 credits" in description
    assert "Monthly budget: 500 credits, 0 spent so far" in description
    assert "Cooldown between requests: 30 s" in description
    shown = fields(rules)
    assert "70 a day" in shown["Overrides"]
    assert "turbo 4*" in shown["Credits per picture (* set here)"]
    assert "**500** of 500 left" in (await quota_of(emulator))["Server budget this month"]


async def test_give_and_take_need_a_reason_and_land_in_the_ledger(
    emulator: DiscordEmulator, bot: CameoBot
) -> None:
    text = await admin(
        emulator, "carol", "quota give", member="alice", credits=25, reason="won @everyone's vote"
    )
    assert "Gave <@" in text
    assert "(75 left today)" in text
    await admin(emulator, "carol", "quota take", member="alice", credits=5, reason="oops")
    ix = await emulator.slash(emulator.user("carol"), "admin quota ledger", member="alice")
    ledger = fields(await ix.response())["Ledger (newest first)"]
    carol = emulator.user("carol").id
    lines = ledger.splitlines()
    assert f"**−5** taken by <@{carol}>: oops" in lines[0]
    assert f"**+25** given by <@{carol}>: won @\u200beveryone's vote" in lines[1]


async def test_admin_commands_are_hidden_and_refused_without_manage_server(
    emulator: DiscordEmulator, bot: CameoBot
) -> None:
    with pytest.raises(CommandInvocationError, match="cannot see /admin"):
        await emulator.slash(emulator.user("alice"), "admin quota allowance", credits=999)
    # A server can let anyone see a command (Integrations settings); the bot still refuses.
    for command in emulator._state.commands[emulator.guild.id]:
        if command["name"] == "admin":
            command["default_member_permissions"] = None
    attempts = [
        ("quota allowance", {"credits": 999}),
        ("quota give", {"member": "alice", "credits": 999, "reason": "me"}),
        ("quota ledger", {"member": "bob"}),
        ("quota show", {}),
        ("providers", {}),
    ]
    for command, options in attempts:
        text = await admin(emulator, "alice", command, **options)
        assert "Manage Server" in text, command
    assert "**50** of 50 left" in (await quota_of(emulator))["Today"]


async def test_providers_shows_health_and_the_balance_each_reported(
    emulator: DiscordEmulator, bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    ix = await emulator.slash(emulator.user("carol"), "admin providers")
    before = fields(await ix.response())
    assert "Balance: not reported yet" in before["segmind"]
    assert "Circuit: closed" in before["segmind"]
    ix = await emulator.slash(emulator.user("carol"), "admin providers", check=True)
    after = fields(await ix.response())
    assert f"Balance: {segmind_fake.credits:g}" in after["segmind"]
    segmind_fake.fail_next(401)
    ix = await emulator.slash(emulator.user("carol"), "admin providers", check=True)
    failed = fields(await ix.response())
    assert "Balance check just now:" in failed["segmind"]
    assert segmind_fake.api_key not in failed["segmind"]
