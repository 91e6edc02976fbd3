"""End to end: `/admin moderation terms|block|unblock` through real discord.py and loopback
Discord, with the fake Segmind (50 credits a day, so anything held shows in /quota)."""

from __future__ import annotations

import pytest

from bot.client.cameo_bot import CameoBot
from tests.cogs.test_quotas import admin, quota_of
from tests.cogs.test_scenes import private_answer, register, scene
from tests.discord.emulator import DiscordEmulator
from tests.discord.models import CommandInvocationError
from tests.fakes import FakeSegmind
from tests.imagefactory import png


async def test_blocked_terms_refuse_before_anything_is_held_or_sent(
    emulator: DiscordEmulator, segmind_bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register(emulator)
    said = await admin(emulator, "carol", "moderation terms", action="add", term="Dragon Fire")
    assert "Blocked “dragon fire”" in said

    ix = await emulator.slash(
        emulator.user("alice"), "scene", character="Mira", prompt="a  DRAGON  fire at dusk"
    )
    refusal = await private_answer(ix)
    assert "Your prompt contains “dragon fire”" in refusal.content
    assert "this server's list" in refusal.content
    assert segmind_fake.requests == []
    assert "**50** of 50 left" in (await quota_of(emulator))["Today"]

    # Cameo's default list is off until switched on; then spacing tricks are caught too.
    card, _ = await scene(emulator, prompt="an n s f w painting")
    assert card.embeds  # allowed: a card
    assert "Cameo's default list: off" in await admin(
        emulator, "carol", "moderation terms", action="list"
    )
    await admin(emulator, "carol", "moderation terms", action="defaults-on")
    ix = await emulator.slash(
        emulator.user("alice"), "scene", character="Mira", prompt="an n.s.f.w painting"
    )
    assert "“nsfw”, a term on Cameo's default list" in (await private_answer(ix)).content

    # Names are checked too, before a picture is stored.
    named = await emulator.slash(
        emulator.user("bob"), "character create", name="ＤＲＡＧＯＮ Fire", image=png(seed=3)
    )
    assert "character's name contains “dragon fire”" in (await named.response()).content


async def test_a_pattern_term_refuses_and_a_pattern_re2_cannot_run_is_explained(
    emulator: DiscordEmulator, segmind_bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register(emulator)
    said = await admin(emulator, "carol", "moderation terms", action="add", term="/n[a4]k(e|3)d/")
    assert (
        "Blocked `/n[a4]k(e|3)d/`: prompts, names, descriptions and story titles it matches" in said
    )
    ix = await emulator.slash(
        emulator.user("alice"), "scene", character="Mira", prompt="Mira, NAK3D, by the sea"
    )
    assert "Your prompt contains `/n[a4]k(e|3)d/`" in (await private_answer(ix)).content
    assert segmind_fake.requests == []

    refused = await admin(emulator, "carol", "moderation terms", action="add", term="/(x)\\1/")
    assert "can't be used" in refused
    assert "(x)" not in await admin(emulator, "carol", "moderation terms", action="list")


async def test_a_blocked_member_is_refused_everywhere_here_with_the_reason(
    emulator: DiscordEmulator, segmind_bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register(emulator)
    said = await admin(
        emulator, "carol", "moderation block", member=emulator.user("bob"), reason="spam"
    )
    assert "Blocked" in said
    assert "Reason: spam" in said

    for command, options in (
        ("scene", {"character": "Mira", "prompt": "x"}),
        ("character list", {}),
        ("prefs show", {}),
    ):
        ix = await emulator.slash(emulator.user("bob"), command, **options)
        refusal = await ix.response()
        assert ix.ephemeral
        assert "blocked you from using Cameo here" in refusal.content
        assert "Reason: spam" in refusal.content
    assert await emulator.autocomplete(emulator.user("bob"), "scene", "character", "mi") == []
    # Help and privacy stay open to them.
    helped = await emulator.slash(emulator.user("bob"), "help")
    assert "blocked" not in (await helped.response()).content
    assert segmind_fake.requests == []

    assert "can use Cameo here again" in await admin(
        emulator, "carol", "moderation unblock", member=emulator.user("bob")
    )
    card, _ = await scene(emulator, "bob")
    assert card.embeds


async def test_members_without_manage_server_cannot_change_the_rules(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    with pytest.raises(CommandInvocationError, match="cannot see /admin"):
        await emulator.slash(emulator.user("alice"), "admin moderation terms", action="list")
    # A server can let anyone see a command (Integrations settings); the bot still refuses.
    for command in emulator._state.commands[emulator.guild.id]:
        if command["name"] == "admin":
            command["default_member_permissions"] = None
    attempts = [
        ("moderation terms", {"action": "add", "term": "x"}),
        ("moderation terms", {"action": "defaults-on"}),
        ("moderation block", {"member": emulator.user("bob")}),
        ("moderation unblock", {"member": emulator.user("bob")}),
    ]
    for command, options in attempts:
        text = await admin(emulator, "alice", command, **options)
        assert "Manage Server" in text, command


async def test_access_keeps_cameo_to_roles_and_channels_but_never_from_staff(
    emulator: DiscordEmulator, segmind_bot: CameoBot, segmind_fake: FakeSegmind
) -> None:
    await register(emulator)
    art = emulator.channel("art")
    said = await admin(
        emulator,
        "carol",
        "moderation access",
        action="add",
        role="Artist",
        options={"channel": art},
    )
    assert f"<#{art.id}>" in said

    # Alice has no Artist role: refused everywhere, buttons and suggestions included.
    ix = await emulator.slash(emulator.user("alice"), "character list", channel=art)
    assert "keeps Cameo to some roles" in (await ix.response()).content
    assert (
        await emulator.autocomplete(emulator.user("alice"), "scene", "character", "mi", channel=art)
        == []
    )
    # Bob is an Artist: only in #art.
    ix = await emulator.slash(emulator.user("bob"), "character list")
    assert f"use it in <#{art.id}>" in (await ix.response()).content
    card, _ = await scene(emulator, "bob", channel=art)
    assert card.embeds
    # Staff always may, anywhere; clearing lifts every limit.
    ix = await emulator.slash(emulator.user("carol"), "character list")
    assert "keeps Cameo" not in (await ix.response()).content
    assert "every member, in every channel" in await admin(
        emulator, "carol", "moderation access", action="clear"
    )
    ix = await emulator.slash(emulator.user("alice"), "character list")
    assert "keeps Cameo" not in (await ix.response()).content
