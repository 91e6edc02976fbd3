"""`/scene`, `/poses`, `/show` and `/jobs`: thin adapters from slash commands to the job service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.characters.text import NAME_MAX
from bot.client.interaction_errors import defer_publicly
from bot.errors import CameoError
from bot.images.processing import MAX_REFERENCE_BYTES, check_declared_size
from bot.jobs.results import ResultService
from bot.jobs.service import JobService, QueuedJob
from bot.models import Job
from bot.providers.request import PROMPT_MAX, SEED_MAX
from bot.providers.shapes import ASPECT_RATIOS, ratio_of, resolutions_for
from cogs.characters import character_choices, look_choices, read_attachment
from cogs.choices import ASPECT_CHOICES, FormatChoice, MagicChoice, SpeedChoice, StyleChoice
from cogs.common import NO_MENTIONS, custom_id_number, viewer_from
from cogs.scenes._delivery import SceneDelivery

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot

log = logging.getLogger(__name__)
Interaction = discord.Interaction["CameoBot"]
# Longer than this before the card is ready, and the command defers first.
QUICK_ANSWER_SECONDS = 0.08
# With more commands than this being answered at once, defer straight away.
BUSY_ANSWERS = 8
T = TypeVar("T")


class Scenes(commands.Cog):
    def __init__(self, bot: CameoBot) -> None:
        self.bot = bot
        self.jobs: JobService = bot.services.jobs
        self.results: ResultService = bot.services.results
        self.delivery = SceneDelivery(bot)
        self._answering = 0  # /scene and /poses commands being answered right now

    async def cog_load(self) -> None:
        self.bot.services.runner.attach(self.delivery)

    async def cog_unload(self) -> None:
        self.bot.services.runner.detach(self.delivery)
        await self.delivery.close()

    async def character_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        # Only characters the member may use in scenes: an approved-only character they are
        # not approved for is never offered.
        return await character_choices(
            self.bot.services.characters, interaction, current, to_use=True
        )

    async def look_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await look_choices(self.bot, interaction, current, to_use=True)

    async def job_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        found = await self.bot.services.results.recent(viewer_from(interaction), current)
        return [app_commands.Choice(name=show_label(job), value=str(job.id)) for job in found]

    async def provider_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        names = self.bot.services.router.scene_provider_names()
        return [
            app_commands.Choice(name=name, value=name)
            for name in names
            if current.lower() in name.lower()
        ][:25]

    async def resolution_autocomplete(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        # Only the chosen aspect ratio's sizes (all of them without one), and only those a
        # service that could take the scene documents (the chosen one, if any).
        ratio = getattr(interaction.namespace, "aspect_ratio", None)
        preferred = getattr(interaction.namespace, "provider", None)
        offered = self.bot.services.router.scene_resolutions(preferred or None)
        typed = current.strip().lower().replace("×", "x").replace(" ", "")
        return [
            app_commands.Choice(name=f"{value} ({ratio_of(value)})", value=value)
            for value in resolutions_for(ratio if ratio in ASPECT_RATIOS else None)
            if value in offered and typed in value
        ][:25]

    @app_commands.command(name="scene")
    @app_commands.describe(
        character="Who is in the scene",
        prompt="What happens: the place, the action, the mood",
        look="Which of the character's looks (default: their default look)",
        style="The look of the picture",
        aspect_ratio="The picture's shape",
        resolution="An exact size in pixels (suggestions follow the aspect ratio)",
        speed="Faster is cheaper; quality takes longer",
        count="How many pictures (1–4)",
        seed="Repeat a picture exactly by giving its seed",
        negative_prompt="What to leave out",
        magic_prompt="Let the service expand your prompt",
        image="To edit a region: the picture to change",
        mask="To edit a region: white where the picture should change, the same size",
        provider="Use this image service instead of the usual order",
    )
    @app_commands.choices(aspect_ratio=ASPECT_CHOICES)
    @app_commands.autocomplete(
        character=character_autocomplete,
        look=look_autocomplete,
        provider=provider_autocomplete,
        resolution=resolution_autocomplete,
    )
    async def scene(
        self,
        interaction: Interaction,
        character: str,
        prompt: app_commands.Range[str, 1, PROMPT_MAX],
        look: app_commands.Range[str, 1, NAME_MAX] | None = None,
        style: StyleChoice | None = None,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        speed: SpeedChoice | None = None,
        count: app_commands.Range[int, 1, 4] | None = None,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
        negative_prompt: app_commands.Range[str, 1, PROMPT_MAX] | None = None,
        magic_prompt: MagicChoice | None = None,
        image: discord.Attachment | None = None,
        mask: discord.Attachment | None = None,
        provider: str | None = None,
    ) -> None:
        """Picture a character in a scene; the images arrive in a thread."""
        options = _given(
            prompt=prompt,
            style=style,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            speed=speed,
            count=count,
            seed=seed,
            negative_prompt=negative_prompt,
            magic_prompt=magic_prompt,
        )
        viewer = viewer_from(interaction)
        channel_id = interaction.channel_id
        assert channel_id is not None
        if image is None and mask is None:
            await self._queue_and_post(
                interaction,
                self.jobs.queue_scene(
                    viewer,
                    channel_id,
                    character,
                    options,
                    provider=provider or None,
                    look=look,
                ),
            )
            return
        # Downloading and checking the pictures takes longer than Discord waits for an answer.
        for attachment in (image, mask):
            if attachment is not None:
                check_declared_size(attachment.size, MAX_REFERENCE_BYTES)
        await defer_publicly(interaction)
        edit_image = await read_attachment(image, MAX_REFERENCE_BYTES) if image else None
        edit_mask = await read_attachment(mask, MAX_REFERENCE_BYTES) if mask else None
        queued = await self.jobs.queue_scene(
            viewer,
            channel_id,
            character,
            options,
            provider=provider or None,
            edit_image=edit_image,
            edit_mask=edit_mask,
            look=look,
        )
        await self.delivery.post_card(interaction, queued)

    @app_commands.command(name="poses")
    @app_commands.describe(
        character="Who to draw",
        look="Which of the character's looks (default: their default look)",
        prompt="How to picture them (default: a headshot photo)",
        count="How many poses (1–20)",
        per_pose="Pictures of each pose (1–4)",
        format="The file type of the pictures",
        negative_prompt="What to leave out (default: low quality, blur)",
        randomise_poses="Pick the poses at random (default: yes)",
        output_quality="Picture quality from 0 to 100 (default: 80)",
        seed="Repeat a sheet exactly by giving its seed",
    )
    @app_commands.autocomplete(character=character_autocomplete, look=look_autocomplete)
    async def poses(
        self,
        interaction: Interaction,
        character: str,
        look: app_commands.Range[str, 1, NAME_MAX] | None = None,
        prompt: app_commands.Range[str, 1, PROMPT_MAX] | None = None,
        count: app_commands.Range[int, 1, 20] | None = None,
        per_pose: app_commands.Range[int, 1, 4] | None = None,
        format: FormatChoice | None = None,
        negative_prompt: app_commands.Range[str, 1, PROMPT_MAX] | None = None,
        randomise_poses: bool | None = None,
        output_quality: app_commands.Range[int, 0, 100] | None = None,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
    ) -> None:
        """Draw a sheet of poses of a character; the images arrive in a thread."""
        assert interaction.channel_id is not None
        await self._queue_and_post(
            interaction,
            self.jobs.queue_poses(
                viewer_from(interaction),
                interaction.channel_id,
                character,
                _given(
                    prompt=prompt,
                    outputs=count,
                    images_per_pose=per_pose,
                    output_format=format,
                    negative_prompt=negative_prompt,
                    randomise_poses=randomise_poses,
                    output_quality=output_quality,
                    seed=seed,
                ),
                look=look,
            ),
        )

    @app_commands.command(name="show")
    @app_commands.describe(job="One of your finished jobs (moderators: any from this server)")
    @app_commands.autocomplete(job=job_autocomplete)
    async def show(self, interaction: Interaction, job: str) -> None:
        """Post a finished job's pictures here again, with working buttons."""
        found, images = await self.bot.services.results.showable(
            viewer_from(interaction), job_number(job)
        )
        await defer_publicly(interaction)
        await self.delivery.show_again(interaction, found, images)

    @app_commands.command(name="jobs")
    async def list_jobs(self, interaction: Interaction) -> None:
        """Your queued and generating pictures, each with a Cancel button."""
        content, view = await self.delivery.jobs_list(viewer_from(interaction))
        await interaction.response.send_message(
            content, view=view, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    async def _queue_and_post(
        self, interaction: Interaction, queue: Coroutine[object, object, QueuedJob]
    ) -> None:
        """Queue the job and answer with its card; defer publicly first if the queue work is not
        done within QUICK_ANSWER_SECONDS, or before starting it when another interaction is
        waiting for its first answer too, or many commands are being answered together.

        Normally the card is the first answer (one call, and refusals stay private). When a
        whole server asks at once, the deferral goes out first, and the queue work and the card
        wait until every member asking has had an answer (`AnswersFirst`): otherwise the work
        of those already answered runs between the later arrivals on the one event loop, and
        each answer waits longer than the one before it.
        """
        self._answering += 1
        try:
            if self._answering > BUSY_ANSWERS or self.bot.answers.waiting > 1:
                try:
                    await defer_publicly(interaction)
                    self.bot.answers.answered(interaction.id)
                    async with self.bot.answers.after_answers():
                        queued = await queue
                        await self.delivery.post_card(interaction, queued)
                except BaseException:
                    queue.close()  # if never started, nothing was queued or spent
                    raise
                return
            queued = await self._quick_answer(interaction, queue)
        finally:
            self._answering -= 1
        await self.delivery.post_card(interaction, queued)

    async def _quick_answer(
        self, interaction: Interaction, work: Coroutine[object, object, T]
    ) -> T:
        """Run `work`; defer publicly first if it is not done within QUICK_ANSWER_SECONDS."""
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=QUICK_ANSWER_SECONDS)
        if not done:
            try:
                await defer_publicly(interaction)
            except BaseException:
                task.cancel()
                raise
            self.bot.answers.answered(interaction.id)
        return await task


def _given(**options: object) -> dict[str, object]:
    """Only the options the member set; the job service checks them, and the services'
    defaults fill in the rest."""
    return {name: value for name, value in options.items() if value is not None}


def job_number(typed: str) -> int:
    """The job a /show option names: the number autocomplete gave, or one typed ("#42")."""
    text = typed.strip().lstrip("#")
    if not text.isdigit():
        raise CameoError("Pick one of your jobs from the suggestions (or type its number).")
    try:
        return custom_id_number(text)
    except CameoError:
        raise CameoError("There is no job with that number.") from None


def show_label(job: Job) -> str:
    prompt = " ".join((job.options.prompt or "").split())
    return f"#{job.id} · {job.character_name} · {prompt}"[:100]
