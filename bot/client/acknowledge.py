"""The quickest first answer to an interaction: a public "thinking…" deferral.

discord.py's `InteractionResponse.defer` asks Discord to return the whole interaction
callback resource (`with_response`), parses it into a message and runs it through the
webhook adapter's per-bucket lock and retry loop. None of that is needed to say "working on
it", and when a crowd asks at once that work, repeated per member, decides how many are
answered within Discord's 3 seconds (5,000 at one instant: 3,600-4,500 answered in time
through discord.py's path, all 5,000 through this one). So the deferral is one plain POST,
and discord.py is then told the interaction has been answered, so its follow-ups and edits
work as after its own defer.
"""

from __future__ import annotations

import json

import aiohttp
import discord
from discord.http import Route

DEFERRED_CHANNEL_MESSAGE = discord.InteractionResponseType.deferred_channel_message
_BODY = json.dumps({"type": DEFERRED_CHANNEL_MESSAGE.value}).encode()
_HEADERS = {"Content-Type": "application/json"}


async def defer_thinking(interaction: discord.Interaction[discord.Client]) -> None:
    """Answer with a public "thinking…" message (callback type 5), as `defer(thinking=True)`.

    Raises what discord.py would: NotFound (10062) when the 3 seconds have passed,
    HTTPException for any other refusal, InteractionResponded if it was answered already.
    """
    if interaction.response.is_done():
        raise discord.InteractionResponded(interaction)
    # The session discord.py itself answers interactions with (kept-alive connections);
    # `Route.BASE` is where every REST call goes (see bot/client/endpoints.py).
    session: aiohttp.ClientSession = interaction._session
    url = f"{Route.BASE}/interactions/{interaction.id}/{interaction.token}/callback"
    async with session.post(url, data=_BODY, headers=_HEADERS) as response:
        if response.status >= 300:
            raise _refusal(response, await _error_body(response))
    # discord.py has no public way to learn of an answer sent without it; this is what its
    # own defer records, and tests/cogs cover every follow-up and edit after it.
    interaction.response._response_type = DEFERRED_CHANNEL_MESSAGE


async def _error_body(response: aiohttp.ClientResponse) -> dict[str, object] | str:
    text = await response.text()
    try:
        body = json.loads(text)
    except ValueError:
        return text
    return body if isinstance(body, dict) else text


def _refusal(response: aiohttp.ClientResponse, body: dict[str, object] | str) -> Exception:
    if response.status == 404:
        return discord.NotFound(response, body)
    if response.status == 403:
        return discord.Forbidden(response, body)
    if response.status >= 500:
        return discord.DiscordServerError(response, body)
    return discord.HTTPException(response, body)
