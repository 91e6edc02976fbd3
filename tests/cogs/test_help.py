from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from bot.app import running_bot
from bot.client.cameo_bot import CameoBot
from cogs.help import (
    EMBED_TOTAL_MAX,
    FIELD_VALUE_MAX,
    FIELDS_MAX,
    OTHER,
    SECTION_OF,
    SECTIONS,
    STAFF,
    HelpSection,
    help_embeds,
    help_sections,
)
from tests.conftest import make_settings
from tests.discord.emulator import DiscordEmulator
from tests.discord.models import Message
from tests.discord.permissions import bit

MEMBER_SECTIONS = [
    "Characters",
    "Scenes",
    "Galleries and stories",
    "Credits",
    "Privacy",
    "Help",
]


def slash_commands(bot: CameoBot) -> list[app_commands.Command[Any, ..., Any] | app_commands.Group]:
    return bot.tree.get_commands(type=discord.AppCommandType.chat_input)


def leaf_names(bot: CameoBot) -> list[str]:
    return [
        command.qualified_name
        for command in bot.tree.walk_commands()
        if isinstance(command, app_commands.Command)
    ]


def fields_of(message: Message) -> list[tuple[str, str]]:
    return [
        (field["name"], field["value"]) for embed in message.embeds for field in embed["fields"]
    ]


def by_section(fields: list[tuple[str, str]]) -> dict[str, str]:
    """Each section's lines, in the order shown, with its "(continued)" fields joined back on."""
    sections: dict[str, str] = {}
    for name, value in fields:
        section = name.removesuffix(" (continued)")
        if section != name:
            assert list(sections)[-1] == section, f"{name} does not follow {section}"
            sections[section] += "\n" + value
        else:
            assert section not in sections, f"{section} shown twice"
            sections[section] = value
    return sections


async def help_for(emulator: DiscordEmulator, user: str, **kwargs: Any) -> dict[str, str]:
    ix = await emulator.slash(emulator.user(user), "help", **kwargs)
    message = await ix.response()
    assert ix.ephemeral
    assert ix.ack_latency is not None
    assert ix.ack_latency < 3
    assert message.embeds[0]["title"] == "Cameo"
    assert not message.pinged_everyone
    assert message.pinged_user_ids == set()
    return by_section(fields_of(message))


def tool_group(name: str, count: int) -> app_commands.Group:
    async def callback(interaction) -> None:  # type: ignore[no-untyped-def]
        """A tool."""

    group = app_commands.Group(name=name, description="Many tools")
    for index in range(count):  # Discord allows 25 subcommands per group
        group.add_command(
            app_commands.Command(
                name=f"tool{index:02d}",
                description=f"Tool {index:02d}, with a description long enough to fill fields fast."
                + "." * 20,
                callback=callback,
            )
        )
    return group


async def test_a_member_sees_their_commands_by_purpose_and_no_staff_commands(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    emulator.add_member("mina")
    sections = await help_for(emulator, "mina")
    assert list(sections) == MEMBER_SECTIONS
    assert sections["Characters"].startswith("`/character create` — ")
    assert "`/scene` — " in sections["Scenes"]
    assert "`/quota` — " in sections["Credits"]
    assert "`/privacy forget-me` — " in sections["Privacy"]
    listed = "\n".join(sections.values())
    assert "/admin" not in listed
    for name in leaf_names(cameo):
        assert (f"`/{name}` — " in listed) != name.startswith("admin "), name


async def test_a_manager_also_sees_every_staff_command_in_a_last_section(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    emulator.add_member("maxine", "Moderator")  # the role with Manage Server
    sections = await help_for(emulator, "maxine")
    assert list(sections) == [*MEMBER_SECTIONS, STAFF]
    listed = "\n".join(sections.values())
    for name in leaf_names(cameo):
        assert listed.count(f"`/{name}` — ") == 1, name
        assert (f"`/{name}` — " in sections[STAFF]) == name.startswith("admin "), name


async def test_who_sees_a_command_follows_the_permissions_it_declares(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    @app_commands.command(name="purge")
    @app_commands.default_permissions(manage_messages=True)
    async def purge(interaction) -> None:  # type: ignore[no-untyped-def]
        """Tidy a channel."""

    cameo.tree.add_command(purge)
    emulator.role("Artist").permissions = bit("manage_messages")
    emulator.add_member("tidy", "Artist")
    emulator.add_member("maxine", "Moderator")  # Manage Server, not Manage Messages
    tidy = await help_for(emulator, "tidy")
    assert list(tidy) == [*MEMBER_SECTIONS, OTHER]
    assert tidy[OTHER] == "`/purge` — Tidy a channel."
    maxine = await help_for(emulator, "maxine")
    assert list(maxine) == [*MEMBER_SECTIONS, STAFF]
    assert "/purge" not in "\n".join(maxine.values())


async def test_every_top_level_command_is_filed_under_a_section(cameo: CameoBot) -> None:
    unfiled = [command.name for command in slash_commands(cameo) if command.name not in SECTION_OF]
    assert unfiled == [], f"add these to cogs.help.SECTIONS: {unfiled}"
    assert len(SECTION_OF) == sum(len(names) for _, names in SECTIONS)  # none filed twice


async def test_an_unfiled_command_still_appears_under_other(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    @app_commands.command(name="wave")
    async def wave(interaction) -> None:  # type: ignore[no-untyped-def]
        """Wave at everyone."""

    cameo.tree.add_command(wave)
    sections = await help_for(emulator, "carol")
    assert list(sections) == [*MEMBER_SECTIONS, OTHER, STAFF]
    assert sections[OTHER] == "`/wave` — Wave at everyone."


async def test_in_dms_help_lists_no_staff_commands(
    emulator: DiscordEmulator, data_dir: Path
) -> None:
    # Guild-synced (development) commands do not exist in DMs; production syncs globally.
    settings = make_settings(emulator, data_dir, dev_guild_id=None)
    async with running_bot(settings, guild_ready_timeout=0.1) as bot:
        await asyncio.wait_for(bot.wait_until_ready(), 15)
        await emulator.wait_for_commands()
        sections = await help_for(emulator, "carol", channel=emulator.dm_channel("carol"))
    # Galleries show what a server has made: not offered in DMs.
    assert list(sections) == [name for name in MEMBER_SECTIONS if name != "Galleries and stories"]
    assert "/admin" not in "\n".join(sections.values())


async def test_a_help_too_long_for_one_message_continues_in_private_follow_ups(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    for index in range(3):
        cameo.tree.add_command(tool_group(f"tools{index}", 25))
    everything = help_sections(slash_commands(cameo), discord.Permissions.all(), in_guild=True)
    expected = len(help_embeds(everything))
    assert expected > 1
    ix = await emulator.slash(emulator.user("carol"), "help")
    messages = [await ix.response()]
    messages += [await ix.wait_followup(n) for n in range(expected - 1)]
    assert all(message.ephemeral for message in messages)
    sections = by_section([field for message in messages for field in fields_of(message)])
    assert list(sections) == [*MEMBER_SECTIONS, OTHER, STAFF]
    listed = "\n".join(sections.values())
    for name in leaf_names(cameo):
        assert listed.count(f"`/{name}` — ") == 1, name


def test_sections_split_only_at_line_boundaries_when_a_field_would_overflow() -> None:
    groups = [tool_group("character", 25), tool_group("scene", 3)]
    groups += [tool_group(f"tools{index}", 25) for index in range(4)]
    groups.append(tool_group("admin", 25))
    sections = help_sections(groups, discord.Permissions.all(), in_guild=True)
    assert [section.name for section in sections] == ["Characters", "Scenes", OTHER, STAFF]
    embeds = help_embeds(sections)
    assert len(embeds) > 1
    for embed in embeds:
        assert len(embed.fields) <= FIELDS_MAX
        assert len(embed) <= EMBED_TOTAL_MAX
        assert all(len(field.value or "") <= FIELD_VALUE_MAX for field in embed.fields)
    fields = [(field.name or "", field.value or "") for embed in embeds for field in embed.fields]
    names = [name for name, _ in fields]
    assert names.count("Scenes") == 1
    assert "Scenes (continued)" not in names
    assert "Characters (continued)" in names
    assert "Staff (continued)" in names
    for section in sections:
        own = [value for name, value in fields if name.removesuffix(" (continued)") == section.name]
        assert "\n".join(own).split("\n") == list(section.lines)  # every line, whole, in order
        for value, following in itertools.pairwise(own):
            # Split only because the next line would not have fitted.
            assert len(value) + 1 + len(following.split("\n")[0]) > FIELD_VALUE_MAX


def test_commands_keep_the_order_their_section_and_cog_give_them() -> None:
    character = tool_group("character", 3)
    character.remove_command("tool00")
    character.add_command(tool_group("character", 1).commands[0])  # defined last now
    tree = [tool_group("jobs", 1), tool_group("zeta", 1), tool_group("alpha", 1), character]
    tree.append(tool_group("scene", 1))
    sections = help_sections(tree, discord.Permissions.none(), in_guild=True)
    shown = [(section.name, [line.split("`")[1] for line in section.lines]) for section in sections]
    assert shown == [
        ("Characters", ["/character tool01", "/character tool02", "/character tool00"]),
        ("Scenes", ["/scene tool00", "/jobs tool00"]),
        (OTHER, ["/alpha tool00", "/zeta tool00"]),
    ]


def test_many_sections_start_a_new_embed_at_25_fields() -> None:
    sections = [HelpSection(f"Section {index}", ("`/x` — y",)) for index in range(30)]
    embeds = help_embeds(sections)
    assert [len(embed.fields) for embed in embeds] == [25, 5]
    assert embeds[1].fields[0].name == "Section 25"
