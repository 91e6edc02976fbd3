"""`/admin providers`: each configured service's health and last reported balance."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass

from bot.errors import CameoError
from bot.models import Viewer
from bot.providers.base import Provider
from bot.providers.errors import ProviderError
from bot.providers.router import CircuitState, ProviderRouter

# A balance check that takes longer than this is reported as unanswered.
CHECK_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ProviderStatus:
    name: str
    circuit: CircuitState
    failures_in_a_row: int
    successes: int
    failures: int
    latency_p50: float | None  # seconds, over the last 20 successes
    recent_errors: list[str]  # newest last
    balance: str | None  # as the service reported it, in its own unit
    check_error: str | None = None  # why a balance check just now did not answer


class ProviderStatusService:
    def __init__(self, router: ProviderRouter) -> None:
        self.router = router

    async def report(self, manager: Viewer, *, check: bool = False) -> list[ProviderStatus]:
        """Every configured service; with `check`, ask each for its balance first (a free,
        authenticated call)."""
        if manager.guild_id is None or not manager.can_manage_guild:
            raise CameoError("Only members with the Manage Server permission can see this.")
        problems: dict[str, str] = {}
        if check:
            outcomes = await asyncio.gather(
                *(self._check(provider) for provider in self.router.providers)
            )
            problems = {name: text for name, text in outcomes if text is not None}
        statuses = []
        for provider in self.router.providers:
            health = self.router.health[provider.name]
            statuses.append(
                ProviderStatus(
                    name=provider.name,
                    circuit=health.state,
                    failures_in_a_row=health.consecutive_failures,
                    successes=health.successes,
                    failures=health.failures,
                    latency_p50=statistics.median(health.latencies) if health.latencies else None,
                    recent_errors=list(health.recent_errors),
                    balance=str(health.last_balance) if health.last_balance else None,
                    check_error=problems.get(provider.name),
                )
            )
        return statuses

    async def _check(self, provider: Provider) -> tuple[str, str | None]:
        name = provider.name
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await self.router.check(provider)
        except TimeoutError:
            return name, "no answer in time"
        except ProviderError as error:
            return name, error.detail[:200]
        except CameoError as error:
            return name, error.message[:200]
        return name, None
