from discord import app_commands

from bot.client.cameo_bot import CameoBot
from cogs.rendering import command_lines, help_embed
from tests.discord.emulator import DiscordEmulator


async def test_help_lists_every_registered_command_privately(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    ix = await emulator.slash(emulator.user("alice"), "help")
    message = await ix.response()
    assert ix.ephemeral
    assert ix.ack_latency < 3
    embed = message.embeds[0]
    assert embed["title"] == "Cameo"
    listed = "\n".join(field["value"] for field in embed["fields"])
    for command in cameo.tree.walk_commands():
        if isinstance(command, app_commands.Command):
            assert f"/{command.qualified_name}" in listed


async def test_help_follows_the_live_tree(emulator: DiscordEmulator, cameo: CameoBot) -> None:
    @app_commands.command(name="wave")
    async def wave(interaction) -> None:  # type: ignore[no-untyped-def]
        """Wave at everyone."""

    cameo.tree.add_command(wave)
    ix = await emulator.slash(emulator.user("bob"), "help")
    embed = (await ix.response()).embeds[0]
    assert any("/wave` — Wave at everyone." in field["value"] for field in embed["fields"])


def test_a_long_command_list_is_split_across_fields_within_discord_limits() -> None:
    async def callback(interaction) -> None:  # type: ignore[no-untyped-def]
        """A tool."""

    groups = []
    for group_index in range(3):  # Discord allows 25 subcommands per group
        group = app_commands.Group(name=f"tools{group_index}", description="Many tools")
        for index in range(20):
            group.add_command(
                app_commands.Command(
                    name=f"tool{index:02d}",
                    description="A tool with a description long enough to fill a field quickly.",
                    callback=callback,
                )
            )
        groups.append(group)
    assert len(command_lines(groups)) == 60
    embed = help_embed(groups)
    assert len(embed.fields) > 1
    assert all(len(field.value or "") <= 1024 for field in embed.fields)
    assert len(embed) <= 6000
