"""Buttons on scene cards and results. Each is a `DynamicItem`: its custom id says what it acts
on (`cameo:<action>:<job>[:<image>]`), so it works after a restart, and every rule is checked
again by the domain on each click."""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import discord

from bot.characters.text import NAME_MAX
from bot.client.interaction_errors import defer_publicly, report_error
from cogs.common import (
    NO_MENTIONS,
    OwnerOnlyView,
    custom_id_number,
    safe,
    viewer_from,
)
from cogs.consent import with_consent
from cogs.guarded import Guarded
from cogs.reports._buttons import Report
from cogs.scenes._render import info_text
from cogs.showcase._buttons import Share

if TYPE_CHECKING:
    from bot.jobs.results import ResultService
    from bot.jobs.service import JobService, QueuedJob
    from bot.models import Character, Job, Look, Viewer

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


class CancelJob(
    Guarded, discord.ui.DynamicItem[Button], template=r"cameo:cancel:(?P<job>-?[0-9]+)"
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


class Reroll(Guarded, discord.ui.DynamicItem[Button], template=r"cameo:reroll:(?P<job>-?[0-9]+)"):
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


class Info(Guarded, discord.ui.DynamicItem[Button], template=r"cameo:info:(?P<job>-?[0-9]+)"):
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
    Guarded,
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
        interaction.client.dispatch("pictures_removed")  # shared copies go too
        if interaction.message is not None:
            await desk.delete_message(interaction.message)


class Favorite(
    Guarded,
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
    Guarded,
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
        viewer = viewer_from(interaction)
        character, used = await _desk(interaction).results.reference_choice(viewer, self.job_id)
        view = ReferenceChoice(viewer.user_id, self.job_id, self.position, used)
        response = await interaction.response.send_message(
            f"Use picture {self.position + 1} for **{safe(character.name)}**: replace the look "
            f"this scene used (“{safe(used.name)}”), or add it as a new look?",
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        if isinstance(response.resource, discord.InteractionMessage):
            view.message = response.resource


async def _use_as_reference(
    interaction: Interaction,
    job_id: int,
    position: int,
    *,
    replace_look: int | None = None,
    new_look: str | None = None,
) -> tuple[Character, Look] | None:
    """Make a result a reference picture, asking first if it is a photograph of a person."""
    return await with_consent(
        interaction,
        lambda consent: _desk(interaction).results.use_as_reference(
            viewer_from(interaction),
            job_id,
            position,
            replace_look=replace_look,
            new_look=new_look,
            consent=consent,
        ),
    )


class ReferenceChoice(OwnerOnlyView):
    """Replace the look a scene used with one of its pictures, or add the picture as a new
    look (named in a modal). The domain checks the owner again on either choice."""

    def __init__(self, owner_id: int, job_id: int, position: int, used: Look) -> None:
        super().__init__(owner_id, timeout=300)
        self.job_id = job_id
        self.position = position
        self.used = used
        self.replace.label = f"Replace “{used.name}”"[:80]

    @discord.ui.button(label="Replace", style=discord.ButtonStyle.primary)
    async def replace(self, interaction: Interaction, button: Button) -> None:
        self._finish()
        await interaction.response.defer()
        used = await _use_as_reference(
            interaction, self.job_id, self.position, replace_look=self.used.id
        )
        if used is None:
            return
        character, look = used
        interaction.client.dispatch("character_changed", character)  # its showcase card too
        await interaction.edit_original_response(
            content=f"Done: picture {self.position + 1} is now {safe(character.name)}'s look "
            f"“{safe(look.name)}”. New scenes with that look will use it.",
            view=self,
            allowed_mentions=NO_MENTIONS,
        )

    @discord.ui.button(label="Add as a new look…", style=discord.ButtonStyle.secondary)
    async def add(self, interaction: Interaction, button: Button) -> None:
        await interaction.response.send_modal(NewLookModal(self))

    def _finish(self) -> None:
        self.disable_all()
        self.stop()


class NewLookModal(discord.ui.Modal, title="Add a new look"):
    look_name: discord.ui.TextInput[NewLookModal] = discord.ui.TextInput(
        label="Name of the look", placeholder="winter coat", min_length=1, max_length=NAME_MAX
    )

    def __init__(self, choice: ReferenceChoice) -> None:
        super().__init__(timeout=300)
        self.choice = choice

    async def on_submit(self, interaction: Interaction) -> None:
        choice = self.choice
        await interaction.response.defer(ephemeral=True, thinking=True)
        added = await _use_as_reference(
            interaction, choice.job_id, choice.position, new_look=self.look_name.value
        )
        if added is None:
            return
        character, look = added
        choice._finish()
        if choice.message is not None:
            with contextlib.suppress(discord.HTTPException):
                await choice.message.edit(view=choice)
        await interaction.followup.send(
            f"Done: {safe(character.name)} has a new look, “{safe(look.name)}”. Pick it with "
            "the `look` option of `/scene`.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    # discord.py's Modal narrows View's on_error (no item: a modal has one callback).
    async def on_error(self, interaction: Interaction, error: Exception, /) -> None:  # type: ignore[override]
        await report_error(interaction, error)


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
    share = Share(job_id, min(positions), max(positions))
    if len(positions) == 1:
        only = positions[0]
        marked = only in favorites
        view.add_item(_at_row(Favorite(job_id, only, label="Favorite", marked=marked), 0))
        view.add_item(_at_row(UseAsReference(job_id, only), 0))
        view.add_item(_at_row(share, 1))  # the first row is full
        view.add_item(_at_row(Report("r", job_id), 1))
        return view
    view.add_item(_at_row(share, 0))
    view.add_item(_at_row(Report("r", job_id), 0))
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
