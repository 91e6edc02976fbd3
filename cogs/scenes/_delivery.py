"""The scene card's owner on Discord: posts each job's card, keeps it current as the job runner
reports, lists the member's jobs, and posts the results.

Results go into a public thread started from the card; into the current thread when the
command was used inside one; inline in DMs. When a permission is missing, the card says which
one, and the results go where the bot can still post (the channel, then the member's DMs).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import aiohttp
import discord

from bot.client.interaction_errors import PUBLIC_DEFERRAL
from bot.client.pacing import KeyedWindow, RatePacer, RestShares
from bot.client.scene_cards import SceneCards
from bot.errors import CameoError
from bot.jobs.results import ResultService
from bot.jobs.runner import StoredResult
from bot.jobs.service import JobService, QueuedJob
from bot.models import Job, JobState, Viewer
from bot.moderation.log import LogEntry
from cogs.common import NO_MENTIONS, REQUEST_LIMIT, message_batches, safe, viewer_from
from cogs.scenes._buttons import CancelJob, SceneDesk, card_view, result_view
from cogs.scenes._cards import CardEditor, CardLook, send_card
from cogs.scenes._render import jobs_list as jobs_text
from cogs.scenes._render import likeness_badges, result_caption, scene_card, title
from storage.scene_cards import CardPlace

if TYPE_CHECKING:
    from bot.client.cameo_bot import CameoBot

log = logging.getLogger(__name__)
Interaction = discord.Interaction["CameoBot"]

# Discord allows 5 edits, and 5 new threads, per 5 s in one channel.
PER_CHANNEL_CALLS = 5
PER_CHANNEL_SECONDS = 5.5
# How long finished results wait for the card of a job queued by this process to be posted.
CARD_WAIT_SECONDS = 10.0
# How often queued cards refresh their place in line (only those whose place changed).
QUEUE_REFRESH_SECONDS = 15.0
THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440  # a day without messages
REMEMBERED_STORIES = 4096  # jobs whose story label is kept (far more than are in flight)

Messageable = discord.abc.Messageable


@dataclass(frozen=True)
class _Upload:
    position: int
    data: bytes
    format: str
    spoiler: bool = False  # flagged as age-restricted (only ever posted in such a channel)
    badge: str | None = None  # its likeness to the reference, in words and number


@dataclass
class _Posted:
    first: discord.Message | None = None  # the first message of results, to link to
    missing: int = 0  # pictures not posted
    transient: bool = False  # whether a passing failure stopped it (worth a retry later)


# What may pass if tried again later. discord.py already retries 5xx answers (five times)
# and connection resets itself; what it does not retry is a connection that fails outright
# or times out, so that alone is retried here, once (`_send_batch`). Any other refusal (a
# 400 or 413) would fail the same way again: it is reported on the card, not retried.
_CONNECTION_FAILURES = (aiohttp.ClientError, TimeoutError)
_TRANSIENT = (discord.DiscordServerError, *_CONNECTION_FAILURES)
SEND_RETRY_PAUSE = 2.0


@dataclass
class _Target:
    """Where results go, and what the card should say about why it is not the usual place."""

    channel: Messageable | None
    notes: list[str] = field(default_factory=list)
    thread_id: int | None = None
    reply_to_card: bool = False
    # Recording a new thread on the job, done while the results are being posted.
    recording: asyncio.Task[None] | None = None


class SceneDelivery:
    def __init__(self, bot: CameoBot) -> None:
        self.bot = bot
        self.jobs: JobService = bot.services.jobs
        self.results: ResultService = bot.services.results
        # This process's share of Discord's global limit (see RestShares).
        shares = RestShares(bot.settings.rest_budget)
        self.pacer = RatePacer(
            shares.delivery_rate, shares.delivery_burst, reserve=shares.delivery_reserve
        )
        self.per_channel = KeyedWindow(shares.per_channel(PER_CHANNEL_CALLS), PER_CHANNEL_SECONDS)
        self.cards = CardEditor(bot, self.pacer, self.per_channel, bot.settings.card_edit_seconds)
        self.places = SceneCards(bot.resources.db)
        # Job id -> its card on the way, done once the card is recorded or will not come.
        self._cards_due: dict[int, asyncio.Future[None]] = {}
        self._queued_shown: dict[int, int] = {}  # job id -> place in line its card shows
        # Job id -> (story title, scene number), or None: what the card says it is a scene of.
        self._stories: OrderedDict[int, tuple[str, int] | None] = OrderedDict()
        self._refresher: asyncio.Task[None] | None = None

    # -- cards ------------------------------------------------------------------------------

    async def post_card(self, interaction: Interaction, queued: QueuedJob) -> None:
        """Answer with the job's scene card; if Discord won't take it, the job is cancelled."""
        job = queued.job
        # Results that finish while the card is on its way wait for it briefly (`_with_card`).
        card: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._cards_due[job.id] = card
        try:
            message = await self._send_card(interaction, queued)
            # The card is the answer now; a later error must not delete it with the deferral.
            interaction.extras.pop(PUBLIC_DEFERRAL, None)
            self.bot.answers.answered(interaction.id)
            await self.places.record_card(
                job.id, message.channel.id, message.id, interaction.filesize_limit
            )
            self.cards.posted(message.id)
            # A gateway process leaves cards to the workers, which own the channel's edits once
            # they claim the job: no two processes edit cards in one channel on a schedule.
            if queued.position is not None and self.bot.role != "gateway":
                self._queued_shown[job.id] = queued.position
                self._ensure_refresher()
        finally:
            # Recorded, or none is coming: whoever waits reads the job as stored now.
            self._cards_due.pop(job.id, None)
            card.set_result(None)
        current = await self.jobs.get(job.id)
        if current is not None and current.state is JobState.RUNNING:
            await self.show(current)  # it started while the card was being posted
        # A finished job's look (with where the results are) comes from the runner's call.

    async def _send_card(self, interaction: Interaction, queued: QueuedJob) -> discord.Message:
        job = queued.job
        eta = (
            await self.jobs.estimated_start(queued.position)
            if queued.position is not None
            else None
        )
        self._remember_story(job.id, queued.story)  # (so its later edits never ask again)
        embed = scene_card(job, position=queued.position, eta=eta, story=queued.story)
        try:
            return await send_card(interaction, embed, card_view(job.id))
        except Exception:
            # Nobody would see this job's progress or results: take it back and refund it.
            with contextlib.suppress(CameoError):  # it may have finished already
                await self.jobs.cancel(viewer_from(interaction), job.id)
            raise

    async def jobs_list(self, viewer: Viewer) -> tuple[str, discord.ui.View]:
        """The member's queued and generating jobs, with a Cancel button for each."""
        active = await self.jobs.active(viewer)
        view = discord.ui.View(timeout=None)
        for entry in active[:25]:
            view.add_item(CancelJob(entry.job.id, label=f"Cancel job {entry.job.id}"))
        return jobs_text([(entry.job, entry.position) for entry in active]), view

    async def _with_card(self, job: Job) -> CardPlace:
        """Where the job shows, once its card exists (waiting briefly for a card being posted)."""
        place = await self.places.place(job.id)
        card = self._cards_due.get(job.id)
        if place.has_card or card is None:
            return place
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CARD_WAIT_SECONDS):  # never swallows a cancel
                # Shielded: a waiter that times out must not cancel the card for others.
                await asyncio.shield(card)
        return await self.places.place(job.id)

    async def show(
        self, job: Job, *, results_at: str | None = None, notes: list[str] | None = None
    ) -> None:
        """Bring the job's card up to date (throttled)."""
        place = await self._with_card(job)
        if place.channel_id is None or place.message_id is None:
            return
        final = not job.state.active
        if final:
            self._queued_shown.pop(job.id, None)
        look = CardLook(
            embed=scene_card(
                job, results_at=results_at, notes=notes, story=await self._story_of(job.id)
            ),
            view=None if final else card_view(job.id),
            final=final,
        )
        self.cards.show(place.channel_id, place.message_id, look)

    def _ensure_refresher(self) -> None:
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.create_task(self._refresh_queue(), name="queue-cards")

    async def _refresh_queue(self) -> None:
        """Now and then, tell queued cards whose place in line changed."""
        while self._queued_shown:
            await asyncio.sleep(QUEUE_REFRESH_SECONDS)
            try:
                positions = await self.jobs.positions()
                for job_id, shown in list(self._queued_shown.items()):
                    position = positions.get(job_id)
                    if position is None:
                        self._queued_shown.pop(job_id, None)  # started, finished or cancelled
                        continue
                    if position == shown:
                        continue
                    job = await self.jobs.get(job_id)
                    place = await self.places.place(job_id)
                    if job is None or place.channel_id is None or place.message_id is None:
                        continue
                    self._queued_shown[job_id] = position
                    look = CardLook(
                        embed=scene_card(
                            job,
                            position=position,
                            eta=await self.jobs.estimated_start(position),
                            story=await self._story_of(job_id),
                        ),
                        view=card_view(job_id),
                        final=False,
                    )
                    self.cards.show(place.channel_id, place.message_id, look)
            except Exception:
                log.exception("Refreshing queued cards failed; will try again")

    async def _story_of(self, job_id: int) -> tuple[str, int] | None:
        """The story the job is a scene of, read once per job (every card edit needs it)."""
        if job_id in self._stories:
            self._stories.move_to_end(job_id)
            return self._stories[job_id]
        label = await self.bot.services.stories.scene_label(job_id)
        self._remember_story(job_id, label)
        return label

    def _remember_story(self, job_id: int, label: tuple[str, int] | None) -> None:
        self._stories[job_id] = label
        while len(self._stories) > REMEMBERED_STORIES:
            self._stories.popitem(last=False)

    # -- the runner's listener --------------------------------------------------------------

    async def job_started(self, job: Job) -> None:
        """Never waits for a card still being posted: generation must not wait on Discord.
        `post_card` shows "generating" itself if the job started meanwhile."""
        self._queued_shown.pop(job.id, None)
        if (await self.places.place(job.id)).has_card:
            await self.show(job)

    async def job_submitted(self, job: Job) -> None:
        return None  # the card already says "generating"; the service's job id is for Info

    async def job_failed(self, job: Job) -> None:
        await self.show(job)

    async def age_restricted_place(self, job: Job) -> bool:
        if job.guild_id is None:
            return False  # DMs are never age-restricted channels
        channel = self.bot.get_channel(job.channel_id)
        if channel is None:
            await self.pacer.wait()
            channel = await self.bot.fetch_channel(job.channel_id)
        return is_age_restricted(channel)

    async def job_finished(self, job: Job, images: list[StoredResult]) -> bool:
        if not images and job.held_back:
            await self.show(job, results_at=None, notes=[])  # the card says why
            return True
        place = await self._with_card(job)
        target = await self._target(job, place)
        if target.thread_id is not None and place.thread_id is not None:
            # A thread from an earlier attempt: if it has gone, start again in the channel.
            target = await self._thread_still_there(job, place, target)
        try:
            return await self._deliver(job, place, images, target)
        finally:
            if target.recording is not None:
                await _finish_recording(job, target.recording)

    async def _deliver(
        self, job: Job, place: CardPlace, images: list[StoredResult], target: _Target
    ) -> bool:
        upload = await self._prepare(job, place, images, target.notes)
        posted = await self._post_results(job, place, upload, target)
        if posted.first is None and target.channel is not None:
            target.notes.append("I couldn't post the pictures there.")
        if posted.first is None:
            posted = await self._post_to_member(job, place, upload, target)
        if posted.first is None and posted.transient:
            return False  # Discord is having trouble: keep them for the next start
        if posted.first is not None and posted.missing:
            target.notes.append(f"{posted.missing} of the pictures couldn't be posted.")
        where = posted.first.jump_url if posted.first is not None else None
        if posted.first is not None:
            self._log_delivered(job, posted.first, images)
        if target.thread_id is not None and posted.first is not None:
            where = f"<#{target.thread_id}>"
        await self.show(job, results_at=where, notes=target.notes)
        # When no place accepts them, nothing is retried after a restart: the card says why.
        return True

    def _log_delivered(self, job: Job, first: discord.Message, images: list[StoredResult]) -> None:
        """One line in the server's moderation log (batched there, pinging nobody)."""
        shown = next((image for image in images if not image.age_restricted), None)
        count = len(images)
        self.bot.services.moderation.log.record(
            job.guild_id,
            LogEntry(
                f"🎨 [Scene {job.id}]({first.jump_url}) of {safe(job.character_name)} for "
                f"<@{job.user_id}>, {count} picture{'s' if count != 1 else ''}:",
                quote=getattr(job.options, "prompt", None),
                image=(shown.sha256, shown.format) if shown is not None else None,
            ),
        )

    # -- where results go -------------------------------------------------------------------

    async def _target(self, job: Job, place: CardPlace) -> _Target:
        if place.thread_id is not None:
            thread = self.bot.get_partial_messageable(place.thread_id)
            return _Target(thread, thread_id=place.thread_id)
        if job.guild_id is None:
            return _Target(self.bot.get_partial_messageable(job.channel_id))
        channel = self.bot.get_channel(job.channel_id)
        if channel is None:
            try:
                await self.pacer.wait()
                channel = await self.bot.fetch_channel(job.channel_id)
            except discord.HTTPException:
                return _Target(None, ["I can't see this channel any more."])
        if isinstance(channel, discord.Thread):
            return _Target(channel)
        if not isinstance(channel, discord.TextChannel):
            return _Target(channel if isinstance(channel, Messageable) else None)
        return await self._thread_from_card(job, place, channel)

    async def _thread_from_card(
        self, job: Job, place: CardPlace, channel: discord.TextChannel
    ) -> _Target:
        no_threads = "I need the Create Public Threads permission here to put results in a thread."
        me: discord.Member | None = channel.guild.me  # None in a worker: Discord decides
        if me is not None and not channel.permissions_for(me).create_public_threads:
            return _Target(channel, [no_threads], reply_to_card=True)
        if place.message_id is None:
            return _Target(channel)
        try:
            await self.per_channel.wait(("threads", channel.id), then=self.pacer.wait)
            thread = await channel.get_partial_message(place.message_id).create_thread(
                name=_thread_name(job), auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
        except discord.Forbidden:
            return _Target(channel, [no_threads], reply_to_card=True)
        except discord.HTTPException as error:
            log.warning("Could not start a thread for job %s: %s", job.id, error)
            return _Target(channel, ["I couldn't start a thread, so the results are here."])
        # Recorded while the results are posted (job_finished waits for it before the job
        # counts as delivered), not before: one database step less between service and member.
        recording = asyncio.create_task(self.places.record_thread(job.id, thread.id))
        return _Target(thread, thread_id=thread.id, recording=recording)

    async def _thread_still_there(self, job: Job, place: CardPlace, target: _Target) -> _Target:
        assert place.thread_id is not None
        try:
            await self.pacer.wait()
            await self.bot.fetch_channel(place.thread_id)
        except discord.NotFound:
            await self.places.record_thread(job.id, None)
            return await self._target(job, await self.places.place(job.id))
        except discord.HTTPException:
            pass  # unknown: try posting there anyway
        return target

    async def _prepare(
        self, job: Job, place: CardPlace, images: list[StoredResult], notes: list[str]
    ) -> list[_Upload]:
        """Fit each image under the channel's upload limit, re-encoding the large ones; each
        with its likeness badge (the server's bands)."""
        per_file = max(1024, min(place.upload_limit, REQUEST_LIMIT))
        scorer = self.bot.services.runner.likeness
        badges = (
            likeness_badges(images, await scorer.settings(job.guild_id))
            if scorer is not None and any(i.likeness is not None or i.likeness_note for i in images)
            else {}
        )
        workers = self.bot.services.jobs.workers
        uploads = []
        for image in images:
            try:
                data, fmt = await workers.fit_upload(image.data, image.format, per_file)
            except (ValueError, OSError):
                notes.append(f"Picture {image.position + 1} is too large to post here.")
                continue
            uploads.append(
                _Upload(
                    image.position,
                    data,
                    fmt,
                    spoiler=image.age_restricted,
                    badge=badges.get(image.position),
                )
            )
        return uploads

    async def _post_results(
        self, job: Job, place: CardPlace, uploads: list[_Upload], target: _Target
    ) -> _Posted:
        if target.channel is None:
            return _Posted()
        missing = _missing_permissions(target.channel)
        if missing:
            target.notes.append(f"I need the {missing} permission to post the results here.")
            return _Posted()
        return await self._send_batches(target.channel, job, place, uploads, target)

    async def _post_to_member(
        self, job: Job, place: CardPlace, uploads: list[_Upload], target: _Target
    ) -> _Posted:
        """The last resort: the member's DMs (never an age-restricted picture)."""
        uploads = [upload for upload in uploads if not upload.spoiler]
        if job.guild_id is None or not uploads:
            return _Posted()
        try:
            await self.pacer.wait()
            user = self.bot.get_user(job.user_id) or await self.bot.fetch_user(job.user_id)
            dm = await user.create_dm()
        except discord.HTTPException:
            target.notes.append("I couldn't reach you by DM either.")
            return _Posted()
        posted = await self._send_batches(dm, job, place, uploads, _Target(dm))
        if posted.first is None:
            target.notes.append("Your DMs are closed too, so the pictures can't be shown.")
        else:
            target.notes.append("So I sent the pictures to your DMs.")
        return posted

    async def _send_batches(
        self,
        channel: Messageable,
        job: Job,
        place: CardPlace,
        uploads: list[_Upload],
        target: _Target,
    ) -> _Posted:
        """Post the results, at most 10 files and one request's worth of bytes per message.

        A batch whose connection fails is tried once more (`_send_batch`). If one still fails,
        the rest are counted missing and the card says so; when nothing was posted at all for
        a passing reason, the job is posted again after the next start.
        """
        # Only results posted before (and being posted again) can have been favourited.
        favorites = await self.results.favorites(job.id) if place.thread_id else set[int]()
        posted = _Posted()
        batches = message_batches(uploads, [len(upload.data) for upload in uploads])
        for index, batch in enumerate(batches):
            if not batch:
                continue
            reference = None
            if target.reply_to_card and place.message_id and posted.first is None:
                reference = discord.MessageReference(
                    message_id=place.message_id,
                    channel_id=place.channel_id or job.channel_id,
                    fail_if_not_exists=False,
                )
            try:
                message = await self._send_batch(channel, job, batch, favorites, reference)
            except _TRANSIENT:
                log.warning("Posting results of job %s failed for now", job.id, exc_info=True)
                posted.transient = True
                message = None
            except discord.HTTPException as error:
                if not isinstance(error, discord.Forbidden):
                    log.warning("Discord refused the results of job %s: %s", job.id, error)
                target.notes.append(f"Discord refused my message: {error.text}")
                message = None
            if message is None:
                posted.missing += sum(len(rest) for rest in batches[index:])
                break
            posted.first = posted.first or message
        return posted

    async def _send_batch(
        self,
        channel: Messageable,
        job: Job,
        batch: list[_Upload],
        favorites: set[int],
        reference: discord.MessageReference | None,
    ) -> discord.Message:
        positions = [upload.position for upload in batch]
        for retry in (True, False):
            files = [
                discord.File(
                    io.BytesIO(upload.data),
                    f"{_file_stem(job)}-{upload.position + 1}.{_ext(upload.format)}",
                    spoiler=upload.spoiler,
                )
                for upload in batch
            ]
            await self.pacer.wait()
            try:
                return await channel.send(
                    result_caption(job, positions, _badges(batch)),
                    files=files,
                    view=result_view(job.id, positions, favorites),
                    allowed_mentions=NO_MENTIONS,
                    reference=reference,  # type: ignore[arg-type]
                )
            except _CONNECTION_FAILURES:
                if not retry:
                    raise
                log.info("Posting job %s failed to connect; retrying once", job.id)
                await asyncio.sleep(SEND_RETRY_PAUSE)
        raise AssertionError("unreachable")

    async def show_again(
        self, interaction: Interaction, job: Job, images: list[StoredResult]
    ) -> None:
        """Post a finished job's pictures as the answer to /show (which deferred publicly),
        with working buttons: at most 10 to a message, under this channel's upload limit."""
        notes: list[str] = []
        if not is_age_restricted(interaction.channel):
            shown = [image for image in images if not image.age_restricted]
            if len(shown) < len(images):
                notes.append("Age-restricted pictures are only shown in age-restricted channels.")
            images = shown
        place = CardPlace(job.id, None, None, None, interaction.filesize_limit)
        uploads = await self._prepare(job, place, images, notes)
        favorites = await self.results.favorites(job.id)
        sizes = [len(upload.data) for upload in uploads]
        batches = [batch for batch in message_batches(uploads, sizes) if batch]
        if not batches:
            raise CameoError(" ".join(notes) or "None of those pictures can be posted here.")
        for index, batch in enumerate(batches):
            positions = [upload.position for upload in batch]
            files = [
                discord.File(
                    io.BytesIO(upload.data),
                    f"{_file_stem(job)}-{upload.position + 1}.{_ext(upload.format)}",
                    spoiler=upload.spoiler,
                )
                for upload in batch
            ]
            caption = result_caption(job, positions, _badges(batch))
            if index == len(batches) - 1 and notes:
                caption += "\n" + " ".join(notes)
            view = result_view(job.id, positions, favorites)
            await self.pacer.wait()
            if index == 0:
                await interaction.edit_original_response(
                    content=caption, attachments=files, view=view, allowed_mentions=NO_MENTIONS
                )
                # The pictures are the answer now; a later error must not delete them.
                interaction.extras.pop(PUBLIC_DEFERRAL, None)
            else:
                await interaction.followup.send(
                    caption, files=files, view=view, allowed_mentions=NO_MENTIONS
                )

    async def delete_message(self, message: discord.Message) -> None:
        await self.pacer.wait()
        with contextlib.suppress(discord.NotFound):
            await message.delete()

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        await self.cards.close()


if TYPE_CHECKING:
    # The buttons name what they use of SceneDelivery by its shape (importing this module
    # would close a cycle); here mypy checks that the two still fit.
    _serves_buttons: type[SceneDesk] = SceneDelivery


async def _finish_recording(job: Job, recording: asyncio.Task[None]) -> None:
    """Wait for a new thread to be recorded. A failure is logged, not raised: the pictures
    may be posted already, and reporting them undelivered would post them again after a
    restart, in a second thread. Only the card's link to the thread is lost."""
    try:
        await recording
    except Exception:
        log.exception("Could not record the thread of job %s", job.id)


def _missing_permissions(channel: Messageable) -> str | None:
    """Name the permission the bot lacks to post results here, judged from the cache."""
    if not isinstance(channel, discord.abc.GuildChannel | discord.Thread):
        return None
    # None in a worker's channel, fetched over REST with no member cache: Discord's answer
    # will say (discord.py types it as always there).
    me: discord.Member | None = channel.guild.me
    if me is None:
        return None
    permissions = channel.permissions_for(me)
    send = (
        permissions.send_messages_in_threads
        if isinstance(channel, discord.Thread)
        else permissions.send_messages
    )
    needed = {
        "View Channel": permissions.view_channel,
        "Send Messages in Threads"
        if isinstance(channel, discord.Thread)
        else "Send Messages": send,
        "Attach Files": permissions.attach_files,
    }
    missing = [name for name, granted in needed.items() if not granted]
    return " and ".join(missing) if missing else None


def _thread_name(job: Job) -> str:
    prompt = " ".join((job.options.prompt or "").split())
    name = f"{title(job)}: {prompt}" if prompt else title(job)
    return name[:97] + "…" if len(name) > 100 else name


def _badges(batch: list[_Upload]) -> dict[int, str]:
    return {upload.position: upload.badge for upload in batch if upload.badge}


def is_age_restricted(channel: object) -> bool:
    """An age-restricted (NSFW) channel, or a thread in one."""
    if isinstance(channel, discord.Thread):
        channel = channel.parent
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else False


def _file_stem(job: Job) -> str:
    safe_name = "".join(ch for ch in job.character_name.lower() if ch.isalnum())[:32]
    return f"{safe_name or 'cameo'}-{job.id}"


def _ext(fmt: str) -> str:
    return "jpg" if fmt == "jpeg" else fmt
