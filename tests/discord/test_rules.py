"""The emulator catches a bot breaking Discord's rules, answering with Discord's real errors."""

from __future__ import annotations

import asyncio
import io

import discord
import pytest
from discord.http import Route, handle_message_parameters

from tests.discord.emulator import DiscordEmulator
from tests.discord.probe_bot import ProbeBot, png_file


def _general(emulator: DiscordEmulator, probe: ProbeBot) -> discord.TextChannel:
    channel = probe.get_channel(emulator.channel("general").id)
    assert isinstance(channel, discord.TextChannel)
    return channel


@pytest.mark.emulator(ack_deadline=0.3)
async def test_response_after_the_deadline_is_refused(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    ix = await emulator.slash("alice", "probe slow", delay=0.5)
    with pytest.raises(Exception, match=r"not acknowledged within 0\.3s"):
        await ix.wait_ack()
    await emulator.wait_for_violations(2)
    violations = emulator.take_violations()
    assert "not acknowledged within 0.3s" in violations[0]
    assert "404 10062" in violations[1]
    assert "past the 0.3s deadline" in violations[1]
    await _until(lambda: probe.errors)
    assert isinstance(probe.errors[0], discord.NotFound)
    assert probe.errors[0].code == 10062
    assert emulator.messages("general") == []


async def test_second_acknowledgement_is_refused(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    ix = await emulator.slash("alice", "probe double")
    assert (await ix.response()).content == "once"
    await _until(lambda: probe.errors)
    assert isinstance(probe.errors[0], discord.HTTPException)
    assert probe.errors[0].code == 40060
    [violation] = emulator.take_violations()
    assert "second callback" in violation


async def test_eleven_files_are_refused(emulator: DiscordEmulator, probe: ProbeBot) -> None:
    channel = _general(emulator, probe)
    files = [png_file(f"{i}.png") for i in range(11)]
    with handle_message_parameters(content="too many", files=files) as params:
        with pytest.raises(discord.HTTPException) as caught:
            await probe.http.send_message(channel.id, params=params)
    assert caught.value.status == 400
    assert caught.value.code == 50035
    [violation] = emulator.take_violations()
    assert "attachments: Must be 10 or fewer" in violation
    assert emulator.messages("general") == []


async def test_2001_characters_are_refused(emulator: DiscordEmulator, probe: ProbeBot) -> None:
    with pytest.raises(discord.HTTPException) as caught:
        await _general(emulator, probe).send("x" * 2001)
    assert caught.value.code == 50035
    assert "content: Must be 2000 or fewer in length. (got 2001)" in emulator.take_violations()[0]
    assert (await _general(emulator, probe).send("x" * 2000)).content == "x" * 2000


async def test_invalid_archive_duration_is_refused(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    with pytest.raises(discord.HTTPException) as caught:
        await _general(emulator, probe).create_thread(
            name="t",
            auto_archive_duration=1234,  # type: ignore[arg-type]
            type=discord.ChannelType.public_thread,
        )
    assert caught.value.code == 50035
    assert "auto_archive_duration" in emulator.take_violations()[0]
    assert emulator.threads == []


async def test_too_many_buttons_are_refused(emulator: DiscordEmulator, probe: ProbeBot) -> None:
    row = {
        "type": 1,
        "components": [
            {"type": 2, "style": 1, "label": str(i), "custom_id": f"b{i}"} for i in range(6)
        ],
    }
    route = Route(
        "POST", "/channels/{channel_id}/messages", channel_id=_general(emulator, probe).id
    )
    with pytest.raises(discord.HTTPException) as caught:
        await probe.http.request(route, json={"content": "menu", "components": [row]})
    assert caught.value.code == 50035
    assert "components.0.components: Must be 5 or fewer" in emulator.take_violations()[0]


async def test_unknown_route_is_a_loud_404(emulator: DiscordEmulator, probe: ProbeBot) -> None:
    route = Route("GET", "/guilds/{guild_id}/bans", guild_id=emulator.guild.id)
    with pytest.raises(discord.NotFound):
        await probe.http.request(route)
    [violation] = emulator.take_violations()
    assert "unknown route" in violation
    assert "/bans" in violation


async def test_injected_429_is_retried_by_discord_py(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    emulator.inject_429(count=1, route_key="POST /channels/{channel_id}/messages", retry_after=0.1)
    message = await _general(emulator, probe).send("after a 429")
    assert message.content == "after a 429"
    assert emulator.stats["rate_limited_429s"] == 1
    statuses = [e.status for e in emulator.request_log if e.path.endswith("/messages")]
    assert statuses == [429, 200]
    assert emulator.violations == []


async def test_injected_global_429_pauses_and_succeeds(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    emulator.inject_429(global_=True, retry_after=0.1)
    assert (await _general(emulator, probe).send("global")).content == "global"
    assert emulator.stats["rate_limited_429s"] == 1


async def test_exhausted_bucket_makes_discord_py_wait(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    emulator.set_rate_limit("POST /channels/{channel_id}/messages", 2, 0.3)
    channel = _general(emulator, probe)
    started = asyncio.get_running_loop().time()
    for i in range(3):
        await channel.send(f"m{i}")
    # discord.py read X-RateLimit-Remaining: 0 and slept instead of hitting a 429.
    assert asyncio.get_running_loop().time() - started >= 0.2
    assert emulator.stats["rate_limited_429s"] == 0


async def test_token_expires_after_15_minutes(emulator: DiscordEmulator, probe: ProbeBot) -> None:
    ix = await emulator.slash("alice", "probe secret")
    await ix.response()
    webhook = discord.Webhook.partial(emulator.application_id, ix.token, client=probe)
    assert (await webhook.send("still in time", wait=True)).content == "still in time"
    emulator.clock.advance(15 * 60 + 1)
    with pytest.raises(discord.HTTPException) as caught:
        await webhook.send("too late", wait=True)
    assert caught.value.status == 401
    assert caught.value.code == 50027
    assert "tokens last 15 min" in emulator.take_violations()[0]


async def test_denied_permissions_give_403_and_show_in_app_permissions(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    emulator.deny_bot_permission("general", "send_messages", "create_public_threads")
    channel = _general(emulator, probe)
    await _until(lambda: not channel.permissions_for(channel.guild.me).send_messages)
    with pytest.raises(discord.Forbidden) as caught:
        await channel.send("nope")
    assert caught.value.code == 50013
    ix = await emulator.slash("alice", "probe thread")
    # The interaction reply still works (it is a webhook); the thread creation does not.
    assert (await ix.response()).content == "starting a thread"
    app_permissions = discord.Permissions(int(ix.payload["app_permissions"]))
    assert not app_permissions.send_messages
    assert not app_permissions.create_public_threads
    await emulator.wait_for_violations(2)
    violations = emulator.take_violations()
    assert "send_messages" in violations[0]
    assert "create_public_threads" in violations[1]
    emulator.allow_bot_permission("general", "send_messages")
    assert (await channel.send("allowed again")).content == "allowed again"


async def test_thread_without_a_type_is_private(emulator: DiscordEmulator, probe: ProbeBot) -> None:
    thread = await _general(emulator, probe).create_thread(name="forgot the type")
    assert thread.type is discord.ChannelType.private_thread
    assert emulator.threads[0].type == 12


async def test_file_over_the_attachment_limit_is_413(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    emulator.options.attachment_size_limit = 1000
    big = discord.File(io.BytesIO(b"x" * 1001), filename="big.bin")
    with pytest.raises(discord.HTTPException) as caught:
        await _general(emulator, probe).send(file=big)
    assert caught.value.status == 413
    assert caught.value.code == 40005
    assert "big.bin" in emulator.take_violations()[0]


async def test_embed_limits_and_missing_attachment_reference(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    embed = discord.Embed(title="t" * 257, description="d")
    embed.set_image(url="attachment://missing.png")
    for i in range(26):
        embed.add_field(name=f"f{i}", value="v")
    with pytest.raises(discord.HTTPException) as caught:
        await _general(emulator, probe).send(embed=embed)
    assert caught.value.code == 50035
    violation = emulator.take_violations()[0]
    assert "embeds.0.title" in violation
    assert "embeds.0.fields: Must be 25 or fewer" in violation
    assert "attachment://missing.png" in violation


async def test_mentions_follow_allowed_mentions(emulator: DiscordEmulator, probe: ProbeBot) -> None:
    alice = emulator.user("alice")
    channel = _general(emulator, probe)
    loud = await channel.send(f"@everyone look, {alice.mention}")
    quiet = await channel.send(
        f"@everyone look, {alice.mention}", allowed_mentions=discord.AllowedMentions.none()
    )
    loud_record, quiet_record = emulator.message(loud.id), emulator.message(quiet.id)
    assert loud_record.pinged_everyone
    assert loud_record.pinged_user_ids == {alice.id}
    assert loud_record.allowed_mentions is None
    assert not quiet_record.pinged_everyone
    assert quiet_record.pinged_user_ids == set()
    assert quiet_record.allowed_mentions == {"parse": []}


async def _until(predicate: object, timeout: float = 5) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.01)
