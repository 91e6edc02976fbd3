"""A small real discord.py bot that exercises the emulator from the other side.

It is deliberately plain ``commands.Bot`` code, written the way a bot author would, plus a few
commands that break Discord's rules on purpose so the self-tests can check the emulator catches
them.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

NAMES = ["Mira", "Milo", "Bram", "Ada"]


def make_png(width: int = 2, height: int = 2, color: str = "red") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def png_file(name: str) -> discord.File:
    return discord.File(io.BytesIO(make_png()), filename=name)


class CounterButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"counter:(?P<n>\d+)"):
    """A persistent button whose state lives in its custom_id (survives restarts)."""

    def __init__(self, n: int) -> None:
        super().__init__(discord.ui.Button(label=f"Count {n}", custom_id=f"counter:{n}"))
        self.n = n

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> CounterButton:
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        view = discord.ui.View(timeout=None)
        view.add_item(CounterButton(self.n + 1))
        await interaction.response.edit_message(content=f"count {self.n + 1}", view=view)


class PersistentView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Hello", custom_id="persist:hello", style=discord.ButtonStyle.primary)
    async def hello(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.send_message(f"hello {interaction.user.name}", ephemeral=True)


class MessageView(discord.ui.View):
    """A view bound to one message (not persistent)."""

    @discord.ui.button(label="OK", custom_id="msg:ok")
    async def ok(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.edit_message(content=f"clicked by {interaction.user.name}")

    @discord.ui.button(label="Later", custom_id="msg:later")
    async def later(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="updated later")

    @discord.ui.select(
        custom_id="msg:pick",
        options=[discord.SelectOption(label=n, value=n.lower()) for n in NAMES],
    )
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select[Any]) -> None:
        await interaction.response.send_message(f"picked {select.values[0]}")


class NameModal(discord.ui.Modal, title="Name your character"):
    name: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Name", custom_id="name", max_length=32
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"named {self.name.value}")


class ProbeGroup(app_commands.Group):
    def __init__(self, bot: ProbeBot) -> None:
        super().__init__(name="probe", description="Emulator probes")
        self.bot = bot

    @app_commands.command(description="Upload an image")
    async def upload(
        self, interaction: discord.Interaction, name: str, image: discord.Attachment
    ) -> None:
        data = await image.read()
        self.bot.uploads[name] = data
        embed = discord.Embed(title=name).set_image(url="attachment://echo.png")
        await interaction.response.send_message(
            f"{name}: {len(data)} bytes",
            embed=embed,
            file=discord.File(io.BytesIO(data), filename="echo.png"),
        )

    @app_commands.command(description="Pick a character")
    async def pick(self, interaction: discord.Interaction, character: str) -> None:
        await interaction.response.send_message(f"picked {character}")

    @pick.autocomplete("character")
    async def pick_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=n) for n in NAMES if n.startswith(current)]

    @app_commands.command(description="Defer, then edit the original")
    async def defer(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await asyncio.sleep(0.05)
        await interaction.edit_original_response(content="done")

    @app_commands.command(name="defer-followup", description="Defer, then follow up")
    async def defer_followup(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send("via follow-up")
        await interaction.followup.send("second follow-up")

    @app_commands.command(description="Reply then follow up")
    async def followup(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("first")
        await interaction.followup.send("second", file=png_file("f.png"))

    @app_commands.command(description="An ephemeral reply")
    async def secret(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("hush", ephemeral=True)

    @app_commands.command(description="Buttons")
    async def buttons(self, interaction: discord.Interaction) -> None:
        view = MessageView()
        view.add_item(CounterButton(0))
        await interaction.response.send_message("choose", view=view)

    @app_commands.command(description="A persistent view")
    async def persistent(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("persistent", view=PersistentView())

    @app_commands.command(description="Create a thread from the reply and post files into it")
    async def thread(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("starting a thread")
        message = await interaction.original_response()
        thread = await message.create_thread(name="Probe thread", auto_archive_duration=1440)
        await thread.send("two files", files=[png_file("a.png"), png_file("b.png")])

    @app_commands.command(description="Answer after a delay")
    async def slow(self, interaction: discord.Interaction, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            await interaction.response.send_message("late")
        except discord.NotFound as error:
            self.bot.errors.append(error)

    @app_commands.command(description="Acknowledge twice")
    async def double(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("once")
        interaction.response._response_type = None  # bypass discord.py's own guard on purpose
        try:
            await interaction.response.send_message("twice")
        except discord.HTTPException as error:
            self.bot.errors.append(error)

    @app_commands.command(description="Open a modal")
    async def modal(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(NameModal())

    @app_commands.command(description="Echo typed options")
    @app_commands.describe(count="How many")
    async def typed(
        self,
        interaction: discord.Interaction,
        count: app_commands.Range[int, 1, 4],
        member: discord.Member | None = None,
        role: discord.Role | None = None,
        where: discord.TextChannel | None = None,
        mood: str | None = None,
    ) -> None:
        parts = [f"count={count}"]
        if member is not None:
            parts.append(f"member={member.name}")
        if role is not None:
            parts.append(f"role={role.name}")
        if where is not None:
            parts.append(f"where={where.name}")
        if mood is not None:
            parts.append(f"mood={mood}")
        await interaction.response.send_message(" ".join(parts))


class ProbeBot(commands.Bot):
    def __init__(self, guild_id: int) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            guild_ready_timeout=0.1,
            help_command=None,
        )
        self.guild_id = guild_id
        self.uploads: dict[str, bytes] = {}
        self.errors: list[BaseException] = []
        self.resumed = asyncio.Event()

    async def setup_hook(self) -> None:
        self.tree.add_command(ProbeGroup(self))

        @self.tree.command(description="Say hello (global command)")
        async def hello(interaction: discord.Interaction) -> None:
            await interaction.response.send_message(f"hello {interaction.user.name}")

        self.add_view(PersistentView())
        self.add_dynamic_items(CounterButton)
        guild = discord.Object(self.guild_id)
        self.tree.copy_global_to(guild=guild)
        await self.tree.sync(guild=guild)
        await self.tree.sync()  # global too, so DMs have commands

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Skip discord.py's 5-second pause before re-identifying; loopback needs no courtesy."""

    async def on_resumed(self) -> None:
        self.resumed.set()
