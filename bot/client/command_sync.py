"""Sync the slash-command tree to Discord only when it changed since the last sync."""

from __future__ import annotations

import hashlib
import json
import logging

import discord
from discord import app_commands

from storage import meta
from storage.database import Database

log = logging.getLogger(__name__)


def tree_fingerprint(
    tree: app_commands.CommandTree[discord.Client], guild: discord.Object | None
) -> str:
    """Return a stable hash of exactly the payload `tree.sync(guild=…)` would send."""
    payload = [command.to_dict(tree) for command in tree.get_commands(guild=guild)]
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def sync_if_changed(
    tree: app_commands.CommandTree[discord.Client],
    db: Database,
    *,
    application_id: int,
    guild_id: int | None,
) -> bool:
    """Sync to the guild (instant, for development) or globally; return whether it synced.

    Discord rate-limits command syncs hard, and a bot that restarts often (deploys, crashes,
    autoscaling) would burn the limit re-uploading an identical tree, so the fingerprint of the
    last successful sync is remembered per application and scope.
    """
    guild = discord.Object(id=guild_id) if guild_id else None
    if guild is not None:
        tree.copy_global_to(guild=guild)
    scope = f"guild:{guild_id}" if guild_id else "global"
    key = f"command-tree:{application_id}:{scope}"
    fingerprint = tree_fingerprint(tree, guild)
    if await meta.get_value(db, key) == fingerprint:
        log.info("Slash commands unchanged since the last sync (%s); not syncing", scope)
        return False
    synced = await tree.sync(guild=guild)
    await meta.set_value(db, key, fingerprint)
    log.info("Synced %d slash commands (%s)", len(synced), scope)
    return True
