"""Buttons on scene cards and results. Each is a `DynamicItem`: its custom id says what it acts
on (`cameo:<action>:<job>[:<image>]`), so it works after a restart, and every rule is checked
again by the domain on each click."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar, cast

import discord

from bot.client.interaction_errors import (
    SHUTTING_DOWN_TEXT,
    defer_publicly,
    report_error,
    send_private,
)
from bot.errors import CameoError
from cogs.common import NO_MENTIONS, UnusableButton, custom_id_number, viewer_from
from cogs.scenes._render import info_text

if TYPE_CHECKING:
    from bot.jobs.results import ResultService
    from bot.jobs.service import JobService, QueuedJob
    from bot.models import Job, Viewer

# discord.py types button callbacks for any client; ours is always a CameoBot.
Interaction = discord.Interaction[Any]
Button = discord.ui.Button[Any]
# Far more pictures than one job makes (a pose sheet has at most 80); the bound keeps a forged
# Delete button from naming millions of them.
POSITION_MAX = 999


class SceneDesk(Protocol):
    """What the buttons use of the scenes' `SceneDelivery`, named by its shape: that module
    imports this one for the views on its cards and results, so importing it back would close
    a cycle."""

    @property
    def jobs(self) -> JobService: ...

    @property
    def results(self) -> ResultService: ...

    async def show(self, job: Job) -> None: ...

    async def jobs_list(self, viewer: Viewer) -> tuple[str, discord.ui.View]: ...

    async def post_card(self, interaction: Interaction, queued: QueuedJob) -> None: ...

    async def delete_message(self, message: discord.Message) -> None: ...


def _desk(interaction: Interaction) -> SceneDesk:
    # Looked up on each click: after the scenes extension is reloaded, its new delivery answers.
    cog = interaction.client.get_cog("Scenes")
    assert cog is not None
    desk: SceneDesk = cog.delivery
    return desk


class _Guarded(discord.ui.Item[discord.ui.View]):
    """Shared by every Cameo button: the shutdown gate, task tracking, friendly errors.

    Each button defines `parse`, which reads its custom id, and `run`, what its click does.
    """

    run: Callable[[Interaction], Awaitable[None]]
    # Set only on a stand-in for a button whose custom id holds an unusable number.
    refusal: CameoError | None = None

    @classmethod
    def parse(cls, match: re.Match[str], /) -> Self:
        """Build the button from its custom id, reading every number with `custom_id_number`.

        Every button class defines its own; this one only says so if one forgets.
        """
        raise TypeError(f"{cls.__name__} must define parse() to read its custom id")

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        try:
            return cls.parse(match)
        except UnusableButton as refusal:
            # discord.py only logs what this method raises and leaves the click unanswered, so
            # a stand-in wrapping the clicked button answers it with the refusal instead.
            stand_in = cls.__new__(cls)
            discord.ui.DynamicItem.__init__(cast("discord.ui.DynamicItem[Any]", stand_in), item)
            stand_in.refusal = refusal
            return stand_in

    async def interaction_check(self, interaction: Interaction) -> bool:
        if interaction.client.shutting_down:
            await send_private(interaction, SHUTTING_DOWN_TEXT)
            return False
        if self.refusal is not None:
            await report_error(interaction, self.refusal)
            return False
        interaction.client.track_current_task()
        return True

    async def callback(self, interaction: Interaction) -> None:
        try:
            await self.run(interaction)
        except Exception as error:  # every failure becomes a private message, never silence
            await report_error(interaction, error)


class CancelJob(
    _Guarded, discord.ui.DynamicItem[Button], template=r"cameo:cancel:(?P<job>-?[0-9]+)"
):
    def __init__(self, job_id: int, label: str = "Cancel") -> None:
        super().__init__(
            discord.ui.Button(
                label=label, style=discord.ButtonStyle.secondary, custom_id=f"cameo:cancel:{job_id}"
            )
        )
        self.job_id = job_id

    @classmethod
    def parse(cls, match: re.Match[str], /) -> CancelJob:
        return cls(custom_id_number(match["job"]))

    async def run(self, interaction: Interaction) -> None:
        desk = _desk(interaction)
        viewer = viewer_from(interaction)
        job = await desk.jobs.cancel(viewer, self.job_id)
        message = interaction.message
        if message is not None and message.flags.ephemeral:
            # Clicked in the /jobs list: show the list as it is now.
            content, view = await desk.jobs_list(viewer)
            await interaction.response.edit_message(content=content, view=view)
        else:
            await interaction.response.send_message(
                f"Cancelled job {job.id}. Nothing was charged.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
        await desk.show(job)


class Reroll(_Guarded, discord.ui.DynamicItem[Button], template=r"cameo:reroll:(?P<job>-?[0-9]+)"):
    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Reroll",
                emoji="🔁",
                style=discord.ButtonStyle.primary,
                custom_id=f"cameo:reroll:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    def parse(cls, match: re.Match[str], /) -> Reroll:
        return cls(custom_id_number(match["job"]))

    async def run(self, interaction: Interaction) -> None:
        desk = _desk(interaction)
        assert interaction.channel_id is not None
        await defer_publicly(interaction)  # the new card replaces the "thinking" message
        # The new card (and the upload limit its results keep to) is this channel's.
        queued = await desk.jobs.reroll(
            viewer_from(interaction), self.job_id, interaction.channel_id
        )
        await desk.post_card(interaction, queued)


class Info(_Guarded, discord.ui.DynamicItem[Button], template=r"cameo:info:(?P<job>-?[0-9]+)"):
    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Info", style=discord.ButtonStyle.secondary, custom_id=f"cameo:info:{job_id}"
            )
        )
        self.job_id = job_id

    @classmethod
    def parse(cls, match: re.Match[str], /) -> Info:
        return cls(custom_id_number(match["job"]))

    async def run(self, interaction: Interaction) -> None:
        info = await _desk(interaction).results.info(viewer_from(interaction), self.job_id)
        await interaction.response.send_message(
            info_text(info), ephemeral=True, allowed_mentions=NO_MENTIONS
        )


class DeleteResults(
    _Guarded,
    discord.ui.DynamicItem[Button],
    template=r"cameo:del:(?P<job>-?[0-9]+):(?P<first>-?[0-9]+):(?P<last>-?[0-9]+)",
):
    def __init__(self, job_id: int, first: int, last: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Delete",
                style=discord.ButtonStyle.danger,
                custom_id=f"cameo:del:{job_id}:{first}:{last}",
            )
        )
        self.job_id = job_id
        self.positions = list(range(first, last + 1))

    @classmethod
    def parse(cls, match: re.Match[str], /) -> DeleteResults:
        first = custom_id_number(match["first"], low=0, high=POSITION_MAX)
        last = custom_id_number(match["last"], low=first, high=POSITION_MAX)
        return cls(custom_id_number(match["job"]), first, last)

    async def run(self, interaction: Interaction) -> None:
        desk = _desk(interaction)
        await interaction.response.defer()
        await desk.results.delete(viewer_from(interaction), self.job_id, self.positions)
        if interaction.message is not None:
            await desk.delete_message(interaction.message)


class Favorite(
    _Guarded,
    discord.ui.DynamicItem[Button],
    template=r"cameo:fav:(?P<job>-?[0-9]+):(?P<image>-?[0-9]+)",
):
    def __init__(self, job_id: int, position: int, *, label: str, marked: bool) -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji="★" if marked else "☆",
                style=discord.ButtonStyle.success if marked else discord.ButtonStyle.secondary,
                custom_id=f"cameo:fav:{job_id}:{position}",
            )
        )
        self.job_id = job_id
        self.position = position

    @classmethod
    def parse(cls, match: re.Match[str], /) -> Favorite:
        position = custom_id_number(match["image"], low=0, high=POSITION_MAX)
        return cls(custom_id_number(match["job"]), position, label="", marked=False)

    async def run(self, interaction: Interaction) -> None:
        desk = _desk(interaction)
        await desk.results.toggle_favorite(viewer_from(interaction), self.job_id, self.position)
        favorites = await desk.results.favorites(self.job_id)
        positions = _positions_in(interaction.message, self.job_id)
        await interaction.response.edit_message(view=result_view(self.job_id, positions, favorites))


class UseAsReference(
    _Guarded,
    discord.ui.DynamicItem[Button],
    template=r"cameo:ref:(?P<job>-?[0-9]+):(?P<image>-?[0-9]+)",
):
    def __init__(self, job_id: int, position: int, *, label: str = "Use as reference") -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"cameo:ref:{job_id}:{position}",
            )
        )
        self.job_id = job_id
        self.position = position

    @classmethod
    def parse(cls, match: re.Match[str], /) -> UseAsReference:
        position = custom_id_number(match["image"], low=0, high=POSITION_MAX)
        return cls(custom_id_number(match["job"]), position)

    async def run(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        character = await _desk(interaction).results.use_as_reference(
            viewer_from(interaction), self.job_id, self.position
        )
        await interaction.followup.send(
            f"Done: picture {self.position + 1} is now the reference of "
            f"**{discord.utils.escape_markdown(character.name)}**. New scenes will use it.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )


DYNAMIC_ITEMS = (CancelJob, Reroll, Info, DeleteResults, Favorite, UseAsReference)


def card_view(job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelJob(job_id))
    return view


def result_view(job_id: int, positions: list[int], favorites: set[int]) -> discord.ui.View:
    """Buttons under one message of results (these images of the job, at most 10)."""
    view = discord.ui.View(timeout=None)
    view.add_item(_at_row(Reroll(job_id), 0))
    view.add_item(_at_row(Info(job_id), 0))
    view.add_item(_at_row(DeleteResults(job_id, min(positions), max(positions)), 0))
    if len(positions) == 1:
        only = positions[0]
        marked = only in favorites
        view.add_item(_at_row(Favorite(job_id, only, label="Favorite", marked=marked), 0))
        view.add_item(_at_row(UseAsReference(job_id, only), 0))
        return view
    for index, position in enumerate(positions):
        marked = position in favorites
        favorite = Favorite(job_id, position, label=str(position + 1), marked=marked)
        view.add_item(_at_row(favorite, 1 + index // 5))
    for index, position in enumerate(positions):
        use = UseAsReference(job_id, position, label=f"Use {position + 1}")
        view.add_item(_at_row(use, 3 + index // 5))
    return view


ItemT = TypeVar("ItemT", bound=discord.ui.Item[Any])


def _at_row(item: ItemT, row: int) -> ItemT:
    item.row = row
    return item


def _positions_in(message: discord.Message | None, job_id: int) -> list[int]:
    """Read which images a result message holds from its Favorite buttons."""
    pattern = Favorite.__discord_ui_compiled_template__
    found = []
    for row in message.components if message is not None else ():
        for component in getattr(row, "children", ()):
            match = pattern.fullmatch(getattr(component, "custom_id", None) or "")
            if match and int(match["job"]) == job_id:
                found.append(custom_id_number(match["image"], low=0, high=POSITION_MAX))
    if not found:
        raise ValueError("a result message without its Favorite buttons")
    return found
