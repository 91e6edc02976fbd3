"""The calls the job queue makes into the quota rules (`bot.quota.service.QuotaService`).

Every call takes the sqlite3 connection of the open transaction of the job change it belongs
to, so a hold and the job row it pays for land (or roll back) together. The calls are plain
functions, run as one step on the database thread (`storage.database.run_sync`): a check and
the write that depends on it have no await between them, and cost one hop, not one per
statement.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Protocol

from bot.errors import CameoError
from bot.models import Viewer


class QuotaExceeded(CameoError):
    """The member (or the server) has no credits left for this request, or asked too soon."""


class QuotaHooks(Protocol):
    def hold_for(
        self,
        conn: sqlite3.Connection,
        *,
        guild_id: int,
        providers: Sequence[str],
        speed: str,
        images: int,
    ) -> int:
        """What a job must hold if any of `providers` may make its `images` at `speed`."""

    def reserve(
        self, conn: sqlite3.Connection, *, job_id: int, member: Viewer, speed: str, credits: int
    ) -> None:
        """Hold `credits` for a queued job; raise QuotaExceeded if they are not there."""

    def commit(
        self,
        conn: sqlite3.Connection,
        *,
        job_id: int,
        provider: str | None,
        images: int,
        retried: int = 0,
    ) -> None:
        """The job's images were delivered: charge their price (and, as a row of its own, the
        `retried` pictures of second tries the member pays for), give back the rest."""

    def covers_retry(
        self, conn: sqlite3.Connection, *, job_id: int, provider: str, images: int, retried: int
    ) -> bool:
        """Whether the job's hold pays for its `images` and `retried` second tries too."""

    def pay_server_retry(
        self, conn: sqlite3.Connection, *, job_id: int, provider: str, images: int
    ) -> bool:
        """The server pays for `images` second tries of the job, from its monthly budget;
        False if the budget can't. Paid once per job, however often the job is resumed."""

    def undo_server_retry(self, conn: sqlite3.Connection, *, job_id: int, reason: str) -> None:
        """The second try the server paid for failed: give its budget back."""

    def refund(self, conn: sqlite3.Connection, *, job_id: int, reason: str) -> None:
        """The job failed or was cancelled: give the whole hold back."""
