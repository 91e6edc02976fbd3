"""The OAuth2 invite URL, with exactly the permissions Cameo uses."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlencode

from bot.errors import CameoError

# Discord permission bits (https://discord.com/developers/docs/topics/permissions), each with
# the reason Cameo needs it. Nothing else: no administrator, no manage-anything.
PERMISSIONS: dict[str, tuple[int, str]] = {
    "View Channels": (1 << 10, "see the channels where members use its commands"),
    "Send Messages": (1 << 11, "post scene cards and results"),
    "Embed Links": (1 << 14, "show character cards and scene cards as embeds"),
    "Attach Files": (1 << 15, "upload the generated images"),
    "Read Message History": (1 << 16, "edit its own status messages and start threads on them"),
    "Create Public Threads": (1 << 35, "open a thread for each scene's results"),
    "Send Messages in Threads": (1 << 38, "post results and progress inside those threads"),
    "Pin Messages": (1 << 51, "pin each story's cast card at the top of its thread"),
}
SCOPES = ("bot", "applications.commands")
AUTHORIZE_URL = "https://discord.com/oauth2/authorize"


def permission_value() -> int:
    value = 0
    for bit, _reason in PERMISSIONS.values():
        value |= bit
    return value


def application_id_from_token(token: str) -> int:
    """Read the bot's user id (which is its application id) from the first part of a token."""
    first = token.split(".", 1)[0]
    try:
        decoded = base64.b64decode(first + "=" * (-len(first) % 4), validate=False).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if not decoded.isdigit():
        raise CameoError(
            "That doesn't look like a Discord bot token. Pass --application-id instead: it is the "
            "Application ID on your application's General Information page."
        )
    return int(decoded)


def invite_url(application_id: int) -> str:
    query = urlencode(
        {"client_id": application_id, "scope": " ".join(SCOPES), "permissions": permission_value()}
    )
    return f"{AUTHORIZE_URL}?{query}"
