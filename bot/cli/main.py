"""The `cameo` command line (also `python -m bot`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from bot import __version__
from bot.cli.status import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from bot.client.sharding import ROLES, ShardPlan
from bot.errors import CameoError
from bot.settings import Settings, SettingsError, load_settings

DISCORD_SETUP_HELP = """\
Cameo needs a Discord bot token to connect, and CAMEO_DISCORD_TOKEN is not set.

  1. Open https://discord.com/developers/applications and choose "New Application".
  2. On its Bot page, choose "Reset Token" and copy the token (it is shown once).
  3. Put it in a file named .env in this directory (or export it in your shell):
         CAMEO_DISCORD_TOKEN=<the token>
  4. Invite the bot to your server with the URL printed by: cameo invite

The README's "Create the Discord application" section walks through every step."""


def _fail(message: str, status: int) -> int:
    print(f"cameo: {message}", file=sys.stderr)
    return status


# Gateway close codes that mean the shard options do not fit the bot (an operator's fix).
_SHARDING_REFUSED = {
    4010: "Discord refused the shard options (4010, invalid shard): check --shards and "
    "--shard-count.",
    4011: "Discord requires this bot to shard (4011, sharding required): run it with "
    "--shard-count, at least one shard per 2,500 servers.",
}


def _shard_plan(args: argparse.Namespace) -> ShardPlan | None:
    """`cameo run`'s --shards and --shard-count; a mistake is the operator's to fix (status 2)."""
    try:
        plan = ShardPlan.parse(args.shards, args.shard_count)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    if plan is not None and args.role == "worker":
        raise SettingsError("A worker has no gateway connection: --shards is for --role gateway.")
    return plan


def _role(settings: Settings, role: str) -> str:
    """`cameo run --role`: gateway and worker processes share their work through PostgreSQL."""
    if role != "all" and settings.postgres_url is None:
        raise SettingsError(
            f"--role {role} splits the work between processes, which share it through "
            "PostgreSQL: set CAMEO_DATABASE_URL (see the README's Scaling out). With SQLite, "
            "run one process with every role (leave --role out)."
        )
    return role


def _run(settings: Settings, plan: ShardPlan | None = None, role: str = "all") -> int:
    import discord

    from bot.app import serve
    from bot.logging_setup import configure_logging
    from storage.database import StorageError

    if settings.discord_token is None:
        print(DISCORD_SETUP_HELP, file=sys.stderr)
        return EXIT_USAGE
    role = _role(settings, role)
    configure_logging(settings.log_level, settings.secrets())
    try:
        asyncio.run(serve(settings, plan, role))
    except StorageError as exc:
        failure = (str(exc), EXIT_USAGE)
    except discord.LoginFailure:
        failure = (
            "Discord rejected the bot token. Reset it on your application's Bot page and update "
            "CAMEO_DISCORD_TOKEN.",
            EXIT_USAGE,
        )
    except discord.PrivilegedIntentsRequired:
        failure = (
            "Discord refused the gateway intents Cameo asked for. Cameo needs no privileged "
            "intents; check that you are running an unmodified build.",
            EXIT_USAGE,
        )
    except discord.GatewayNotFound:
        failure = ("Could not reach the Discord gateway; check CAMEO_DISCORD_GATEWAY.", EXIT_FAILED)
    except discord.ConnectionClosed as closed:
        if closed.code not in _SHARDING_REFUSED:
            raise
        failure = (_SHARDING_REFUSED[closed.code], EXIT_USAGE)
    except KeyboardInterrupt:
        return EXIT_OK
    else:
        return EXIT_OK
    return _fail(*failure)


def _invite(settings: Settings, application_id: int | None) -> int:
    from bot.cli.invite import application_id_from_token, invite_url

    if application_id is None:
        if settings.discord_token is None:
            return _fail(
                "Pass --application-id (from your application's General Information page), or set "
                "CAMEO_DISCORD_TOKEN so the id can be read from the token.",
                EXIT_USAGE,
            )
        application_id = application_id_from_token(settings.discord_token.get_secret_value())
    print(invite_url(application_id))
    return EXIT_OK


def _quiet_logging(settings: Settings) -> None:
    """Command-line tools print their own lines; logs only for errors, secrets redacted."""
    from bot.logging_setup import configure_logging

    configure_logging("ERROR", settings.secrets())


def _generate(settings: Settings, args: argparse.Namespace) -> int:
    from bot.cli.generate import generate

    _quiet_logging(settings)
    try:
        return asyncio.run(generate(settings, args))
    except KeyboardInterrupt:
        return _fail("interrupted; any job id printed above may still be running", EXIT_FAILED)


def _check(settings: Settings) -> int:
    from bot.cli.generate import check

    _quiet_logging(settings)
    return asyncio.run(check(settings))


# Addresses that mean "every interface" in CAMEO_METRICS_LISTEN.
_EVERYWHERE = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 (compared, never bound)


def _health(settings: Settings) -> int:
    """Ask the running bot's /healthz (on CAMEO_METRICS_LISTEN) and say what it answered."""
    import json
    import urllib.error
    import urllib.request

    address = settings.metrics_host_port
    if address is None:
        return _fail('CAMEO_METRICS_LISTEN is "off", so there is no /healthz to ask.', EXIT_USAGE)
    host, port = address
    if host in _EVERYWHERE:  # listening on every interface: ask on loopback
        host = "127.0.0.1"
    url = f"http://{host}:{port}/healthz" if ":" not in host else f"http://[{host}]:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (http, our own)
            body = response.read()
    except urllib.error.HTTPError as refused:
        body = refused.read()
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        return _fail(
            f"no answer from {url} ({getattr(error, 'reason', error)}): is the bot running?",
            EXIT_FAILED,
        )
    try:
        checks = json.loads(body)
    except ValueError:
        return _fail(f"{url} did not answer as Cameo does", EXIT_FAILED)
    print(", ".join(f"{name}: {value}" for name, value in checks.items()))
    return EXIT_OK if checks.get("status") == "ok" else EXIT_FAILED


def _migrate_to(settings: Settings, args: argparse.Namespace) -> int:
    from bot.cli.migrate import run_migrate_to

    _quiet_logging(settings)
    return run_migrate_to(settings, args.database_url, args.image_store)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cameo",
        description="Cameo keeps characters consistent across every picture, on Discord.",
    )
    parser.add_argument("--version", action="version", version=f"cameo {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="start the bot (needs CAMEO_DISCORD_TOKEN)")
    run.add_argument(
        "--shards",
        help="run these gateway shards in this process, comma-separated (default: all of them)",
    )
    run.add_argument(
        "--shard-count",
        type=int,
        help="how many shards the bot has in all (Discord requires sharding past 2,500 servers)",
    )
    run.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="gateway: answer Discord and queue jobs; worker: run jobs and deliver them, with no "
        "gateway connection; all (default): both. Split roles need CAMEO_DATABASE_URL",
    )
    invite = commands.add_parser(
        "invite", help="print the URL that adds the bot to a server, with the permissions it needs"
    )
    invite.add_argument(
        "--application-id",
        type=int,
        help="your application's id (default: read from CAMEO_DISCORD_TOKEN)",
    )
    from bot.cli.generate import add_generate_arguments

    add_generate_arguments(
        commands.add_parser(
            "generate", help="make one scene through an image service, without Discord"
        )
    )
    commands.add_parser(
        "check", help="validate the settings and make one cheap call to each image service"
    )
    commands.add_parser(
        "health", help="ask the running bot's /healthz; exit 0 only if it is ready and connected"
    )
    migrate = commands.add_parser(
        "migrate-to",
        help="copy this bot's SQLite database (and pictures) to PostgreSQL (and a bucket); "
        "stop the bot first; run again to carry on after an interruption",
    )
    migrate.add_argument(
        "--database-url", required=True, help="the PostgreSQL database: postgresql://user:…@host/db"
    )
    migrate.add_argument(
        "--image-store",
        help="where the pictures go: s3://bucket/prefix (with the CAMEO_S3_* settings) or a "
        "folder (default: they stay where they are)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands: dict[str, Callable[[Settings], int]] = {
        "run": lambda settings: _run(settings, _shard_plan(args), args.role),
        "invite": lambda settings: _invite(settings, args.application_id),
        "generate": lambda settings: _generate(settings, args),
        "check": _check,
        "health": _health,
        "migrate-to": lambda settings: _migrate_to(settings, args),
    }
    try:
        return commands[args.command](load_settings())
    except SettingsError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except CameoError as exc:
        # Usage-level mistakes (bad file, nothing configured, service refused) from any command.
        return _fail(exc.message, EXIT_FAILED if args.command == "generate" else EXIT_USAGE)


def entry_point() -> None:
    sys.exit(main())
