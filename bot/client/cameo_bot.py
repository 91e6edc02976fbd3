"""The Discord client: a typed `commands.Bot` that owns the services and loads the cogs."""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
from functools import partial
from typing import TYPE_CHECKING

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.client.answers_first import AnswersFirst
from bot.client.command_sync import sync_if_changed
from bot.client.interaction_errors import SHUTTING_DOWN_TEXT, report_error, send_private
from bot.client.sharding import IDENTIFY_INTERVAL_SECONDS, IdentifyBuckets
from bot.client.viewer import viewer_from
from bot.images.store import ORPHAN_GRACE_SECONDS
from bot.moderation.service import BlockedMember, NoAccess
from bot.observability.metrics import INTERACTIONS, discord_http_trace
from storage.locks import Lock

if TYPE_CHECKING:
    from bot.observability.server import OperatorEndpoints
    from bot.services import Resources

log = logging.getLogger(__name__)

# Feature cogs, loaded in this order in setup_hook.
EXTENSIONS: tuple[str, ...] = (
    "cogs.help",
    "cogs.characters",
    "cogs.scenes",
    "cogs.gallery",
    "cogs.showcase",
    "cogs.stories",
    "cogs.quotas",
    "cogs.prefs",
    "cogs.admin",
    "cogs.privacy",
    "cogs.reports",
)

# Connections kept open to one Discord host. discord.py's default pool has no bound, so when a
# whole server asks at once every request opens (and, against the real Discord, encrypts) a
# connection of its own, and the handshakes cost more than the requests. A bounded pool of
# kept-alive connections carries a burst at the pace Discord answers instead.
DISCORD_CONNECTIONS_PER_HOST = 32

# How interactions are counted in the metrics.
_INTERACTION_KINDS = {
    discord.InteractionType.application_command: "command",
    discord.InteractionType.component: "component",
    discord.InteractionType.autocomplete: "autocomplete",
    discord.InteractionType.modal_submit: "modal",
}

# How often stored images that nothing references (left by a crash) are looked for.
ORPHAN_SWEEP_INTERVAL = 60 * 60
# How often, with a shared database, pictures let go of and past their grace are deleted:
# forget-me's pictures are gone within the grace and this.
PURGE_INTERVAL = 5 * 60
# How long a shutdown waits for commands already running to finish.
SHUTDOWN_GRACE_SECONDS = 10.0


def required_intents() -> discord.Intents:
    """Return the gateway intents Cameo needs: guilds only, no privileged intents.

    Slash commands, buttons and autocomplete arrive as interactions whatever the intents, and each
    interaction carries the member and their roles, so neither the members nor the message
    content intent is needed.
    """
    return discord.Intents(guilds=True)


def _freeze_startup_objects() -> None:
    """Leave what exists once the bot is ready out of the cycle collector, once per process.

    Modules, the command tree and the first cache never become garbage, and without this each
    full collection walks them all: a pause of tens of milliseconds in the middle of whatever
    the bot is doing. Refcounting still frees frozen objects that are let go.
    """
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


class CameoTree(app_commands.CommandTree["CameoBot"]):
    """The command tree with Cameo's single error handler and shutdown gate."""

    async def interaction_check(self, interaction: discord.Interaction[CameoBot], /) -> bool:
        if interaction.client.shutting_down:
            if interaction.type is not discord.InteractionType.autocomplete:
                await send_private(interaction, SHUTTING_DOWN_TEXT)
            return False
        interaction.client.track_current_task()
        if not await allowed_here(interaction):
            return False
        interaction.client.answers.arrived(interaction.id)
        return True

    async def on_error(
        self, interaction: discord.Interaction[CameoBot], error: app_commands.AppCommandError, /
    ) -> None:
        await report_error(interaction, error)


# What a member blocked from Cameo in a server may still do there: read the help, and have
# everything about them forgotten.
OPEN_TO_BLOCKED = frozenset({"help", "privacy"})


async def allowed_here(interaction: discord.Interaction[CameoBot]) -> bool:
    """Refuse every command and button of a member blocked in this server, or outside the
    roles and channels it keeps Cameo to (the domain checks again before anything is
    spent); their autocomplete just offers nothing."""
    command = interaction.command
    name = command.name if command is not None else ""
    if isinstance(command, app_commands.Command) and command.root_parent is not None:
        name = command.root_parent.name
    if interaction.guild_id is None or name in OPEN_TO_BLOCKED:
        return True
    viewer = viewer_from(interaction)
    # In a thread, its channel counts: stories and results live in threads.
    places = (interaction.channel_id or 0, getattr(interaction.channel, "parent_id", None) or 0)
    moderation = interaction.client.services.moderation
    try:
        await moderation.check_member(viewer)
        await moderation.check_access(viewer, places)
    except (BlockedMember, NoAccess) as refused:
        if interaction.type is discord.InteractionType.autocomplete:
            await interaction.response.autocomplete([])  # nothing to choose from here
        else:
            await send_private(interaction, refused.message)
        return False
    return True


class CameoBot(commands.Bot):
    """Cameo's Discord client; everything it needs is opened outside and handed in."""

    def __init__(self, resources: Resources, *, role: str = "all", **options: object) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=required_intents(),
            help_command=None,
            tree_cls=CameoTree,
            # Nothing the bot sends may ping anyone unless a message opts in explicitly.
            allowed_mentions=discord.AllowedMentions.none(),
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=DISCORD_CONNECTIONS_PER_HOST),
            # Counts REST calls and 429s, and times each interaction's first answer.
            http_trace=discord_http_trace(),
            **options,  # type: ignore[arg-type]
        )
        self.resources = resources
        # "all", "gateway" (no jobs run here) or "worker" (no gateway: see `work`).
        self.role = role
        self._worked = asyncio.Event()
        self.settings = resources.settings
        self.services = resources.services
        self.shutting_down = False
        self.commands_synced = False
        # The task running `start()`, set by the composition root so it can watch for a crash.
        self.runner: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[object]] = set()
        self.answers = AnswersFirst()
        # /healthz and /metrics, when served (the composition root sets it).
        self.operator_endpoints: OperatorEndpoints | None = None

    async def setup_hook(self) -> None:
        # In the background, never between the bot and coming online: after a year of use the
        # sweep has tens of thousands of images to check, in short steps that let commands in.
        self._sweeper = asyncio.create_task(self._sweep_orphans_periodically(), name="orphan-sweep")
        await self.services.moderation.listen_for_changes()
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        assert self.application_id is not None  # login() fetched the application before this
        if self.role == "worker":
            return  # the gateway processes answer commands, and keep them in sync
        self.commands_synced = await sync_if_changed(
            self.tree,
            self.resources.db,
            application_id=self.application_id,
            guild_id=self.settings.dev_guild_id,
        )

    async def _sweep_orphans_periodically(self) -> None:
        store = self.services.images
        # The first sweep takes every orphan at once: in one process, a file written by an
        # upload still in progress is protected by the store's lock, not by its age, and at
        # start the oldest orphans are the crash's. Other processes sharing the store have no
        # such lock: their uploads are protected by age alone.
        grace = ORPHAN_GRACE_SECONDS if store.shared else 0.0
        # Only a shared database has pictures waiting for a purge between sweeps.
        pause = PURGE_INTERVAL if store.shared else ORPHAN_SWEEP_INTERVAL
        for round_number in itertools.count():
            try:
                if round_number % (ORPHAN_SWEEP_INTERVAL // pause) == 0:
                    await store.sweep_orphans(grace_seconds=grace)  # purges too
                else:
                    await store.purge()
            except Exception:
                log.exception("Sweeping orphaned image files failed; will retry")
            grace = ORPHAN_GRACE_SECONDS
            await asyncio.sleep(pause)

    async def on_ready(self) -> None:
        assert self.user is not None
        log.info("Connected as %s (id %s) to %d servers", self.user, self.user.id, len(self.guilds))
        _freeze_startup_objects()  # before jobs resume, so its one pause delays none of them
        # Jobs start once the channel cache is filled, so results find their channels and
        # permissions. A reconnect's READY finds the runner already started.
        if not self.shutting_down and self.role == "all":
            await self.services.runner.start()

    async def work(self, token: str) -> None:
        """A worker's life: log in over REST (no gateway connection), run jobs and deliver
        them until closed. What `start` is for the other roles."""
        await self.login(token)
        _freeze_startup_objects()
        await self.services.runner.start()
        await self._worked.wait()

    def is_working(self) -> bool:
        """A worker is ready once its job runner runs (for /healthz)."""
        return self.services.runner.started

    async def on_interaction(self, interaction: discord.Interaction[CameoBot]) -> None:
        INTERACTIONS.labels(kind=_INTERACTION_KINDS.get(interaction.type, "other")).inc()

    def gateway_connected(self) -> bool:
        """Whether the gateway connection is open now (for /healthz)."""
        ws = self.ws
        return ws is not None and ws.open and not self.is_closed()

    def track_current_task(self) -> None:
        """Remember the running command or button handler, so shutdown lets it finish."""
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def shutdown(self) -> None:
        """Stop taking new work, let running commands finish, then close the gateway."""
        if self.shutting_down:
            return
        self.shutting_down = True
        log.info("Shutting down: refusing new commands and closing the gateway")
        if self._sweeper is not None:
            self._sweeper.cancel()
        running = {task for task in self._in_flight if task is not asyncio.current_task()}
        if running:
            log.info("Waiting for %d running commands to finish", len(running))
            _, pending = await asyncio.wait(running, timeout=SHUTDOWN_GRACE_SECONDS)
            if pending:
                log.warning("%d commands did not finish in time; stopping anyway", len(pending))
        # Jobs in flight stay "running" and resume on the next start; nothing is failed.
        await self.services.runner.stop()
        await self.close()

    async def close(self) -> None:
        self.answers.close()
        self._worked.set()
        await super().close()


class ShardedCameoBot(CameoBot, commands.AutoShardedBot):
    """Cameo with several gateway shards in this process (see bot/client/sharding.py)."""

    def __init__(self, resources: Resources, *, role: str = "all", **options: object) -> None:
        super().__init__(resources, role=role, **options)
        self._identify = IdentifyBuckets(
            self._max_concurrency,
            elsewhere=partial(
                resources.db.wait_turn, Lock.IDENTIFY_BUCKET, hold_seconds=IDENTIFY_INTERVAL_SECONDS
            ),
        )

    async def _max_concurrency(self) -> int:
        _, _, limits = await self.http.get_bot_gateway()
        return int(limits["max_concurrency"])

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        await self._identify.wait_turn(shard_id or 0)

    def gateway_connected(self) -> bool:
        shards = self.shards
        return bool(shards) and all(not shard.is_closed() for shard in shards.values())
