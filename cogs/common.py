"""Small pieces every feature cog uses: who is asking, safe text, owner-only views."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import discord

from bot.client import viewer as _viewer
from bot.client.interaction_errors import SHUTTING_DOWN_TEXT, report_error
from bot.errors import CameoError

NO_MENTIONS = discord.AllowedMentions.none()
T = TypeVar("T")

# Leave room for multipart overhead under the interaction's upload limit.
UPLOAD_MARGIN = 64 * 1024
# Discord refuses a message request over 25 MiB, however many files it carries.
REQUEST_LIMIT = 25 * 1024 * 1024 - UPLOAD_MARGIN


def message_batches(files: list[T], sizes: list[int]) -> list[list[T]]:
    """Group files into messages of at most 10 files and one request's worth of bytes."""
    batches: list[list[T]] = [[]]
    total = 0
    for file, size in zip(files, sizes, strict=True):
        if batches[-1] and (len(batches[-1]) == 10 or total + size > REQUEST_LIMIT):
            batches.append([])
            total = 0
        batches[-1].append(file)
        total += size
    return batches


# SQLite keeps an INTEGER in eight signed bytes: a larger number fails inside the query, with
# an OverflowError, far from where it came in.
SQLITE_INTEGER_MAX = 2**63 - 1
# A sign and ASCII digits, no more than a number in range needs: int() alone would also take
# spaces, underscores and other scripts' digits, and spend time on a number of any length.
_CUSTOM_ID_NUMBER = re.compile(r"-?[0-9]{1,19}")


class UnusableButton(CameoError):
    def __init__(self) -> None:
        super().__init__("That button doesn't work any more, so nothing was done.")


def custom_id_number(text: str, *, low: int = 1, high: int = SQLITE_INTEGER_MAX) -> int:
    """Read a number from a component's custom id; raise UnusableButton unless low <= it <= high.

    The member's client sends the custom id back, so it can say anything: no number from it
    goes further than this check, and none outside the range the database holds gets past it.
    """
    if not _CUSTOM_ID_NUMBER.fullmatch(text):
        raise UnusableButton()
    number = int(text)
    if not low <= number <= high:
        raise UnusableButton()
    return number


# Every cog describes who is asking the same way as the client does (bot/client/viewer.py).
viewer_from = _viewer.viewer_from
role_ids_of = _viewer.role_ids_of


def safe(text: str) -> str:
    """Show member-written text literally: no markdown tricks, no mention look-alikes."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


class OwnerOnlyView(discord.ui.View):
    """A view whose buttons answer only the member who opened it."""

    def __init__(self, owner_id: int, *, timeout: float = 120) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.message: discord.InteractionMessage | discord.WebhookMessage | None = None

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        client = interaction.client
        if getattr(client, "shutting_down", False):
            await interaction.response.send_message(
                SHUTTING_DOWN_TEXT, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return False
        if hasattr(client, "track_current_task"):
            client.track_current_task()
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message(
                "These buttons belong to someone else's command.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return False
        return True

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: discord.ui.Item[Any], /
    ) -> None:
        await report_error(interaction, error)

    def disable_all(self) -> None:
        for child in self.children:
            if isinstance(child, discord.ui.Button | discord.ui.Select):
                child.disabled = True


TIMED_OUT_TEXT = "No answer in time, so nothing was changed."


class ConfirmView(OwnerOnlyView):
    """Ask once; run `on_confirm` (which re-checks permissions) only if the owner agrees."""

    def __init__(
        self,
        owner_id: int,
        *,
        confirm_label: str,
        on_confirm: Callable[[discord.Interaction[Any]], Awaitable[str]],
        cancelled_text: str,
    ) -> None:
        super().__init__(owner_id, timeout=120)
        self._on_confirm = on_confirm
        self._cancelled_text = cancelled_text
        self.confirm.label = confirm_label[:80]

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.danger)
    async def confirm(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[ConfirmView]
    ) -> None:
        # Finish before the first await, so a double click cannot run the action twice.
        self._finish()
        await interaction.response.defer()
        text = await self._on_confirm(interaction)
        await interaction.edit_original_response(
            content=text, embed=None, attachments=[], view=self, allowed_mentions=NO_MENTIONS
        )

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[ConfirmView]
    ) -> None:
        self._finish()
        await interaction.response.edit_message(
            content=self._cancelled_text, embed=None, attachments=[], view=self
        )

    def _finish(self) -> None:
        self.disable_all()
        self.stop()

    async def on_timeout(self) -> None:
        self.disable_all()
        if self.message is not None:
            # The ephemeral message may be gone already; nothing was changed either way.
            with contextlib.suppress(discord.HTTPException):
                await self.message.edit(content=TIMED_OUT_TEXT, embed=None, view=self)
