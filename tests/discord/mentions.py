"""Who a message would actually notify, computed the way Discord does.

Discord parses ``<@id>``, ``<@!id>``, ``<@&id>``, ``@everyone`` and ``@here`` out of the content and
then filters them through ``allowed_mentions``. When ``allowed_mentions`` is absent, everything
parsed pings. Role pings also need the role to be mentionable (or the author to hold
MENTION_EVERYONE), and @everyone/@here need MENTION_EVERYONE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .models import Guild

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
EVERYONE_MENTION = re.compile(r"@(everyone|here)")


@dataclass
class Pings:
    users: set[int] = field(default_factory=set)
    roles: set[int] = field(default_factory=set)
    everyone: bool = False


def compute_pings(
    content: str,
    allowed_mentions: dict[str, Any] | None,
    *,
    guild: Guild | None,
    known_user_ids: set[int],
    can_mention_everyone: bool,
    replied_user_id: int | None = None,
) -> Pings:
    parsed_users = {int(m) for m in USER_MENTION.findall(content)} & known_user_ids
    parsed_roles = {int(m) for m in ROLE_MENTION.findall(content)}
    parsed_everyone = bool(EVERYONE_MENTION.search(content))

    if allowed_mentions is None:
        users, roles, everyone = parsed_users, parsed_roles, parsed_everyone
        replied = replied_user_id is not None
    else:
        parse = set(allowed_mentions.get("parse") or [])
        listed_users = {int(u) for u in allowed_mentions.get("users") or []}
        listed_roles = {int(r) for r in allowed_mentions.get("roles") or []}
        users = parsed_users if "users" in parse else parsed_users & listed_users
        roles = parsed_roles if "roles" in parse else parsed_roles & listed_roles
        everyone = parsed_everyone and "everyone" in parse
        replied = replied_user_id is not None and bool(allowed_mentions.get("replied_user"))

    if guild is None:
        roles = set()
    else:
        roles = {
            role_id
            for role_id in roles
            if (role := guild.role(role_id)) is not None
            and role_id != guild.id
            and (role.mentionable or can_mention_everyone)
        }
    if replied and replied_user_id is not None:
        users = users | {replied_user_id}
    return Pings(users=users, roles=roles, everyone=everyone and can_mention_everyone)
