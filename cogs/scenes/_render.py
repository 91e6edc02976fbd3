"""What scene cards, result messages, Info and /jobs look like. Pure functions of the job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import discord

from bot.clock import parse_timestamp
from bot.jobs.likeness import band
from bot.jobs.results import JobInfo
from bot.jobs.runner import StoredResult
from bot.models import Job, JobKind, JobState
from bot.providers.request import PoseOptions
from cogs.common import safe
from cogs.rendering import BRAND_COLOUR
from storage.likeness import LikenessSettings, OtherTry

_STATE_COLOUR = {
    JobState.QUEUED: discord.Colour.light_grey(),
    JobState.RUNNING: BRAND_COLOUR,
    JobState.SUCCEEDED: discord.Colour.green(),
    JobState.FAILED: discord.Colour.red(),
    JobState.CANCELLED: discord.Colour.dark_grey(),
}
_PROMPT_SHOWN = 1000


def relative(moment: datetime) -> str:
    """A Discord timestamp each reader sees in their own words ("in 2 minutes")."""
    return discord.utils.format_dt(moment, "R")


def credits(amount: int) -> str:
    return f"{amount} credit{'s' if amount != 1 else ''}"


def title(job: Job) -> str:
    what = "Pose sheet" if job.kind is JobKind.POSES else "Scene"
    return f"{what} of {job.character_name}"[:256]


def _chosen_settings(job: Job) -> list[tuple[str, str, object]]:
    """Each setting under the name members see in the command (and its option's name), None
    where they left it."""
    options = job.options
    if isinstance(options, PoseOptions):
        return [
            ("Poses", "outputs", options.outputs),
            ("Per pose", "images_per_pose", options.images_per_pose),
            ("Format", "output_format", options.output_format),
            ("Seed", "seed", options.seed),
        ]
    return [
        ("Style", "style", options.style),
        ("Aspect ratio", "aspect_ratio", options.aspect_ratio),
        ("Resolution", "resolution", options.resolution),
        ("Speed", "speed", options.speed),
        ("Images", "count", options.count),
        ("Magic prompt", "magic_prompt", options.magic_prompt),
        ("Seed", "seed", options.seed),
    ]


# How a card names where a setting came from, when not from the command itself.
_SOURCE_NOTE = {"member": " (their preset)", "character": " (character default)"}


def settings_line(job: Job) -> str:
    """The settings chosen, each marked with where it came from when a preset set it."""
    parts = []
    if job.look_name:
        parts.append(f"Look: {safe(job.look_name)}")
    for label, field, value in _chosen_settings(job):
        if value is None:
            continue
        note = _SOURCE_NOTE.get(job.option_sources.get(field, ""), "")
        parts.append(f"{label}: {safe(str(value))}{note}")
    if job.preferred_provider:
        parts.append(f"Service: {job.preferred_provider}")
    if job.is_edit:
        parts.append("Region edit")
    return " · ".join(parts) or "Default settings"


def status_line(
    job: Job,
    *,
    position: int | None = None,
    eta: datetime | None = None,
    results_at: str | None = None,
) -> str:
    """The live part of the card."""
    match job.state:
        case JobState.QUEUED:
            place = f" · #{position} in line" if position else ""
            when = f" · should start {relative(eta)}" if eta else ""
            return f"⏳ Queued{place}{when}"
        case JobState.RUNNING:
            started = (
                f" · started {relative(parse_timestamp(job.started_at))}" if job.started_at else ""
            )
            return f"🎨 Generating{started}"
        case JobState.SUCCEEDED:
            where = f": {results_at}" if results_at else ""
            text = f"✅ Done{where}"
            if job.error:
                text += f"\n⚠️ {job.error}"
            return text
        case JobState.FAILED:
            back = f"\nYour {credits(job.credits)} are back." if job.credits else ""
            return f"❌ Failed: {job.error or 'the image service gave no reason.'}{back}"
        case JobState.CANCELLED:
            return "✖️ Cancelled. Nothing was charged."


def scene_card(
    job: Job,
    *,
    position: int | None = None,
    eta: datetime | None = None,
    results_at: str | None = None,
    notes: list[str] | None = None,
    story: tuple[str, int] | None = None,
) -> discord.Embed:
    """The scene card; `story` is (title, number) for a scene of a story."""
    prompt = job.options.prompt or ""
    if len(prompt) > _PROMPT_SHOWN:
        prompt = prompt[: _PROMPT_SHOWN - 1] + "…"
    embed = discord.Embed(
        title=title(job),
        description=safe(prompt) if prompt else None,
        colour=_STATE_COLOUR[job.state],
    )
    requested = f"<@{job.user_id}>"
    if job.character_owner_id is not None and job.character_owner_id != job.user_id:
        requested += f"\nCharacter by <@{job.character_owner_id}>"
    embed.add_field(name="Requested by", value=requested, inline=True)
    embed.add_field(name="Settings", value=settings_line(job)[:1024], inline=True)
    embed.add_field(name="Cost", value=credits(job.credits) if job.credits else "Free", inline=True)
    status = status_line(job, position=position, eta=eta, results_at=results_at)
    for note in notes or ():
        status += f"\n⚠️ {note}"
    embed.add_field(name="Status", value=status[:1024], inline=False)
    embed.set_footer(text=f"Job {job.id}")
    if story is not None:
        embed.set_author(name=f"Scene {story[1]} of {story[0]}"[:256])
    return embed


def likeness_badges(images: Sequence[StoredResult], bands: LikenessSettings) -> dict[int, str]:
    """Each picture's small likeness badge, by position: the band in words with the number,
    or why there is none."""
    badges = {}
    for image in images:
        if image.likeness is not None:
            word = band(image.likeness, bands)
            again = " (second try)" if image.second_try else ""
            badges[image.position] = f"{BAND_MARKS[word]} {word} {image.likeness:.2f}{again}"
        elif image.likeness_note:
            badges[image.position] = image.likeness_note
    return badges


def likeness_line(positions: list[int], badges: Mapping[int, str]) -> str:
    shown = [(position, badges[position]) for position in positions if position in badges]
    if not shown:
        return ""
    if (len({badge for _, badge in shown}) == 1 and len(shown) > 1) or len(positions) == 1:
        return f"Likeness: {shown[0][1]}"
    return "Likeness: " + " · ".join(f"{position + 1} {badge}" for position, badge in shown)


def result_caption(job: Job, positions: list[int], badges: Mapping[int, str] | None = None) -> str:
    """The text above a batch of results: who, what, the seed to reproduce it, and each
    picture's likeness to the character's reference where the server shows it."""
    seed = f" · seed {job.seed}" if job.seed is not None else ""
    first, last = min(positions) + 1, max(positions) + 1
    shown = len(positions)
    numbers = f" · {first}–{last} of {job.image_count}" if job.image_count > shown else ""
    caption = f"**{safe(job.character_name)}** for <@{job.user_id}>{seed}{numbers}"
    likeness = likeness_line(positions, badges or {})
    if likeness:
        caption += f"\n{likeness}"
    if job.error and first == 1:
        caption += f"\n⚠️ {job.error}"
    return caption


# A colour for each band, so a glance at a result says how alike it is.
BAND_MARKS = {"strong": "🟢", "likely": "🟡", "weak": "🔴"}


def info_text(info: JobInfo) -> str:
    job = info.job
    lines = [
        f"**{title(job)}** (job {job.id})",
        f"Prompt: {safe(job.options.prompt or 'default')[:1500]}",
        f"Settings: {settings_line(job)}",
        f"Negative prompt: {safe(job.options.negative_prompt)[:300]}"
        f"{_SOURCE_NOTE.get(job.option_sources.get('negative_prompt', ''), '')}"
        if job.options.negative_prompt
        else "",
        f"Character by <@{job.character_owner_id}>"
        if job.character_owner_id is not None and job.character_owner_id != job.user_id
        else "",
        f"Service: {job.provider or 'not chosen yet'}",
        f"Seed: {job.seed if job.seed is not None else 'chosen by the service'}",
    ]
    if job.started_at and job.finished_at:
        seconds = (parse_timestamp(job.finished_at) - parse_timestamp(job.started_at)).seconds
        lines.append(f"Took about {seconds} s")
    for position, score, note in info.likeness:
        if score is None:
            lines.append(f"Likeness of picture {position + 1}: {note}")
        else:
            lines.append(
                f"Likeness of picture {position + 1}: {score:.2f}, {band(score, info.bands)} "
                f"(its face against the reference picture of "
                f"{'look “' + safe(job.look_name) + '”' if job.look_name else 'the character'}; "
                f"strong from {info.bands.strong:.2f}, likely from {info.bands.likely:.2f})"
            )
        other = info.other_tries.get(position)
        if other is not None:
            lines.append(f"  {_tries_line(other, info.bands)}")
    if info.show_cost:
        lines.append(f"Cost reported by the service: {job.cost or 'not reported'}")
        lines.append(f"Credits: {job.credits} held; the service that made it sets the charge")
    return "\n".join(line for line in lines if line)


def _tries_line(other: OtherTry, bands: LikenessSettings) -> str:
    """How a picture made twice was chosen: the try shown and the one kept back."""
    if other.likeness is None:
        lost = other.likeness_note or "not scored"
    else:
        lost = f"{other.likeness:.2f}, {band(other.likeness, bands)}"
    if other.attempt == 1:
        return f"Made twice for a closer likeness: this is the second try; the first scored {lost}."
    return f"Made twice for a closer likeness: the first try is shown; the second scored {lost}."


def jobs_list(entries: list[tuple[Job, int | None]]) -> str:
    if not entries:
        return "You have no pictures on the way. Start one with `/scene`."
    lines = ["Your pictures on the way:"]
    for job, position in entries:
        state = f"#{position} in line" if position else "generating"
        prompt = (job.options.prompt or "")[:60]
        lines.append(f"• Job {job.id}: {safe(title(job))}: {safe(prompt)} ({state})")
    return "\n".join(lines)
