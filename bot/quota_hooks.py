"""Where the job queue reserves, commits and refunds credits.

Every call takes the open transaction of the job change it belongs to, so a reservation and
the job row it pays for land (or roll back) together. The quota rules and the ledger fill these
in; until then `UnlimitedQuota` lets every request through and records nothing.
"""

from __future__ import annotations

from typing import Protocol

from bot.errors import CameoError
from storage.database import Connection


class QuotaExceeded(CameoError):
    """The member (or the server) has no credits left for this request."""


class QuotaHooks(Protocol):
    async def reserve(
        self, conn: Connection, *, job_id: int, guild_id: int, user_id: int, credits: int
    ) -> None:
        """Hold `credits` for a queued job; raise QuotaExceeded if they are not there."""

    async def commit(self, conn: Connection, *, job_id: int, credits: int) -> None:
        """The job delivered images worth `credits`; any rest of the hold goes back."""

    async def refund(self, conn: Connection, *, job_id: int, reason: str) -> None:
        """The job failed or was cancelled: give the whole hold back."""


class UnlimitedQuota:
    """No limits and no ledger (the quota rules are not configured)."""

    async def reserve(
        self, conn: Connection, *, job_id: int, guild_id: int, user_id: int, credits: int
    ) -> None:
        return None

    async def commit(self, conn: Connection, *, job_id: int, credits: int) -> None:
        return None

    async def refund(self, conn: Connection, *, job_id: int, reason: str) -> None:
        return None
