"""compose.yaml, the scaled-out example, read as Docker Compose would: its processes must add
up to a working bot."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.cli.main import build_parser
from bot.client.sharding import ShardPlan
from bot.settings import Settings

COMPOSE = Path(__file__).resolve().parents[1] / "compose.yaml"


def cameo_services() -> dict[str, dict[str, object]]:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    return {name: service for name, service in services.items() if service.get("image") == "cameo"}


def test_the_gateways_run_every_shard_once_and_the_workers_run_jobs() -> None:
    roles: dict[str, list[str]] = {}
    shards: list[int] = []
    counts: set[int] = set()
    for name, service in cameo_services().items():
        args = build_parser().parse_args(service["command"])  # type: ignore[arg-type]
        roles.setdefault(args.role, []).append(name)
        plan = ShardPlan.parse(args.shards, args.shard_count)
        if plan is not None:
            shards.extend(plan.shard_ids)
            counts.add(plan.shard_count)
    assert len(roles["gateway"]) == 2
    assert len(roles["worker"]) == 2
    assert "all" not in roles
    assert len(counts) == 1
    assert sorted(shards) == list(range(counts.pop()))


def test_the_processes_share_discords_global_limit_and_one_database() -> None:
    budgets = []
    for service in cameo_services().values():
        environment = dict(service["environment"])  # type: ignore[call-overload]
        settings = Settings(
            _env_file=None, **{key[6:].lower(): value for key, value in environment.items()}
        )  # type: ignore[call-arg]
        assert settings.postgres_url is not None
        assert settings.discord_api_base.startswith("http://nirn-proxy:")
        budgets.append(settings.rest_budget)
    assert sum(budgets) <= 50
