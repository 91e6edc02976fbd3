"""The loopback CDN: signed URLs that expire on the emulator clock, and refresh-urls."""

from __future__ import annotations

import aiohttp
import discord
import pytest
from discord.http import Route

from tests.discord.emulator import DiscordEmulator
from tests.discord.probe_bot import ProbeBot, make_png


async def _get(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read()


async def test_urls_expire_and_refresh_urls_re_signs_them(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    image = make_png()
    message = await (
        await emulator.slash("alice", "probe upload", name="M", image=image)
    ).response()
    fetched = await probe.get_channel(message.channel_id).fetch_message(message.id)  # type: ignore[union-attr]
    url = fetched.attachments[0].url
    assert "?ex=" in url
    assert "&is=" in url
    assert "&hm=" in url
    assert await fetched.attachments[0].read() == image

    emulator.clock.advance(24 * 3600 + 1)
    assert (await _get(url))[0] == 404
    with pytest.raises(discord.NotFound):
        await fetched.attachments[0].read()
    assert all("attachment URL expired" in v for v in emulator.take_violations())

    answer = await probe.http.request(
        Route("POST", "/attachments/refresh-urls"), json={"attachment_urls": [url]}
    )
    [entry] = answer["refreshed_urls"]
    assert entry["original"] == url
    assert entry["refreshed"] != url
    assert await _get(entry["refreshed"]) == (200, image)


async def test_tampered_signature_is_404(emulator: DiscordEmulator, probe: ProbeBot) -> None:
    message = await (
        await emulator.slash("alice", "probe upload", name="M", image=make_png())
    ).response()
    url = emulator.cdn.url(message.attachments[0])
    assert (await _get(url))[0] == 200
    assert (await _get(url.replace("hm=", "hm=0")))[0] == 404
    assert (await _get(url.split("?")[0]))[0] == 404
    assert len(emulator.take_violations()) == 2


async def test_refresh_urls_takes_at_most_50(emulator: DiscordEmulator, probe: ProbeBot) -> None:
    with pytest.raises(discord.HTTPException) as caught:
        await probe.http.request(
            Route("POST", "/attachments/refresh-urls"), json={"attachment_urls": ["x"] * 51}
        )
    assert caught.value.code == 50035
    emulator.take_violations()
