"""Gateway behaviour against the real discord.py client, plus raw-protocol edge cases."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.discord.emulator import DiscordEmulator
from tests.discord.probe_bot import ProbeBot


async def test_bot_receives_ready_and_a_full_guild(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    guild = probe.get_guild(emulator.guild.id)
    assert guild is not None
    assert probe.user is not None
    assert probe.user.id == emulator.bot_user.id
    assert probe.application_id == emulator.application_id
    assert {c.name for c in guild.text_channels} == {"general", "art"}
    assert {r.name for r in guild.roles} >= {"@everyone", "Moderator", "Artist"}
    assert guild.me is not None
    assert guild.me.guild_permissions.send_messages
    assert guild.member_count == len(emulator.guild.members)
    assert emulator.stats["identifies"] == 1


async def test_command_sync_is_recorded_with_ids_and_versions(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    commands = emulator.commands(emulator.guild.id)
    probe_command = next(c for c in commands if c["name"] == "probe")
    assert probe_command["id"].isdigit()
    assert probe_command["version"].isdigit()
    assert probe_command["application_id"] == str(emulator.application_id)
    assert {o["name"] for o in probe_command["options"]} >= {"upload", "pick", "thread"}
    assert [c["name"] for c in emulator.commands()] == ["probe", "hello"]
    routes = [r.route for r in emulator.sync_requests]
    assert routes[0].endswith(f"/guilds/{emulator.guild.id}/commands")
    assert emulator.sync_requests[0].guild_id == emulator.guild.id
    fetched = await probe.tree.fetch_commands(guild=probe.get_guild(emulator.guild.id))
    assert {c.name for c in fetched} == {"probe", "hello"}


async def test_reconnect_resumes_on_the_resume_url(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    await emulator.send_reconnect()
    await emulator.wait_for_resume()
    await asyncio.wait_for(probe.resumed.wait(), 5)
    assert emulator.stats["identifies"] == 1
    assert emulator.stats["resumes"] == 1
    assert emulator.stats["gateway_resume_url_connections"] == 1
    ix = await emulator.slash("alice", "hello")
    assert (await ix.response()).content == "hello alice"


async def test_dropped_socket_resumes_and_replays_missed_events(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    await emulator.drop_gateway()
    # Sent while the bot is away: Discord buffers it and replays it after RESUME.
    ix = await emulator.slash("bob", "hello")
    await emulator.wait_for_resume()
    assert (await ix.response()).content == "hello bob"
    assert emulator.stats["identifies"] == 1
    assert emulator.stats["replayed_events"] >= 1


async def test_invalid_session_makes_the_bot_identify_again(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    await emulator.invalidate_session(resumable=False)
    await emulator.wait_for_ready()
    assert emulator.stats["identifies"] == 2
    ix = await emulator.slash("alice", "hello")
    assert (await ix.response()).content == "hello alice"


async def test_resumable_invalid_session_resumes(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    await emulator.invalidate_session(resumable=True)
    await emulator.wait_for_resume()
    assert emulator.stats["identifies"] == 1


@pytest.mark.emulator(heartbeat_interval_ms=50)
async def test_heartbeats_are_acknowledged(emulator: DiscordEmulator, probe: ProbeBot) -> None:
    await asyncio.sleep(0.3)
    assert emulator.stats["heartbeats"] >= 3
    assert emulator.stats["heartbeat_acks"] == emulator.stats["heartbeats"]
    emulator.ack_heartbeats = False
    beats = emulator.stats["heartbeat_acks"]
    await asyncio.sleep(0.15)
    assert emulator.stats["heartbeat_acks"] == beats


@pytest.mark.emulator(compress=True)
async def test_zlib_stream_compression_works_with_discord_py(
    emulator: DiscordEmulator, probe: ProbeBot
) -> None:
    ix = await emulator.slash("carol", "hello")
    assert (await ix.response()).content == "hello carol"


# Raw protocol: things discord.py never does, checked with a bare websocket ---------------------


@pytest.fixture
async def raw_ws(emulator: DiscordEmulator) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{emulator.gateway_url}?v=10&encoding=json") as ws:
            hello = await ws.receive_json(timeout=2)
            assert hello["op"] == 10
            assert hello["d"]["heartbeat_interval"] == 41250
            yield ws


async def _next_dispatch(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = await ws.receive_json(timeout=2)
        if frame["op"] == 0:
            return frame


async def test_member_request_is_answered_with_the_nonce(
    emulator: DiscordEmulator, raw_ws: aiohttp.ClientWebSocketResponse
) -> None:
    await raw_ws.send_json({"op": 2, "d": {"token": emulator.bot_token, "intents": 1}})
    ready = await _next_dispatch(raw_ws)
    assert ready["t"] == "READY"
    assert ready["s"] == 1
    assert ready["d"]["resume_gateway_url"].startswith("ws://127.0.0.1")
    guild_create = await _next_dispatch(raw_ws)
    assert guild_create["t"] == "GUILD_CREATE"
    channel = guild_create["d"]["channels"][0]
    assert channel["guild_id"] == str(emulator.guild.id)
    assert "permission_overwrites" in channel
    # Without the members intent only the bot's own member is sent.
    assert [m["user"]["id"] for m in guild_create["d"]["members"]] == [str(emulator.bot_user.id)]
    alice = emulator.user("alice")
    await raw_ws.send_json(
        {
            "op": 8,
            "d": {"guild_id": str(emulator.guild.id), "user_ids": [str(alice.id)], "nonce": "n1"},
        }
    )
    chunk = await _next_dispatch(raw_ws)
    assert chunk["t"] == "GUILD_MEMBERS_CHUNK"
    assert chunk["d"]["nonce"] == "n1"
    assert [m["user"]["username"] for m in chunk["d"]["members"]] == ["alice"]


async def test_bad_token_is_closed_with_4004(
    emulator: DiscordEmulator, raw_ws: aiohttp.ClientWebSocketResponse
) -> None:
    await raw_ws.send_json({"op": 2, "d": {"token": "nope", "intents": 1}})
    message = await raw_ws.receive(timeout=2)
    assert message.type is aiohttp.WSMsgType.CLOSE
    assert message.data == 4004
    assert "4004" in emulator.take_violations()[0]


async def test_privileged_intent_not_enabled_is_closed_with_4014(
    emulator: DiscordEmulator, raw_ws: aiohttp.ClientWebSocketResponse
) -> None:
    await raw_ws.send_json({"op": 2, "d": {"token": emulator.bot_token, "intents": 1 << 15}})
    message = await raw_ws.receive(timeout=2)
    assert message.data == 4014
    assert "message_content" in emulator.take_violations()[0]


async def test_garbage_frame_is_closed_with_4002(
    emulator: DiscordEmulator, raw_ws: aiohttp.ClientWebSocketResponse
) -> None:
    await raw_ws.send_str("not json")
    message = await raw_ws.receive(timeout=2)
    assert message.data == 4002
    assert emulator.take_violations()


async def test_resume_with_unknown_session_is_invalidated(
    emulator: DiscordEmulator, raw_ws: aiohttp.ClientWebSocketResponse
) -> None:
    await raw_ws.send_str(
        json.dumps({"op": 6, "d": {"token": emulator.bot_token, "session_id": "x", "seq": 3}})
    )
    frame = await raw_ws.receive_json(timeout=2)
    assert frame == {"op": 9, "d": False}


async def test_message_events_follow_the_identify_intents(
    emulator: DiscordEmulator, raw_ws: aiohttp.ClientWebSocketResponse
) -> None:
    guild_messages = 1 << 9
    await raw_ws.send_json(
        {"op": 2, "d": {"token": emulator.bot_token, "intents": 1 | guild_messages}}
    )
    await _next_dispatch(raw_ws)  # READY
    await _next_dispatch(raw_ws)  # GUILD_CREATE
    general = emulator.channel("general")
    headers = {"Authorization": f"Bot {emulator.bot_token}"}
    base = f"{emulator.api_base}/channels/{general.id}/messages"
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(base, json={"content": "hi"}) as response:
            message_id = (await response.json())["id"]
        async with http.delete(f"{base}/{message_id}") as response:
            assert response.status == 204
    created = await _next_dispatch(raw_ws)
    assert created["t"] == "MESSAGE_CREATE"
    assert created["d"]["guild_id"] == str(emulator.guild.id)
    deleted = await _next_dispatch(raw_ws)
    assert deleted["t"] == "MESSAGE_DELETE"
    assert deleted["d"] == {
        "id": message_id,
        "channel_id": str(general.id),
        "guild_id": str(emulator.guild.id),
    }


@pytest.mark.parametrize("shard", [[2, 2], [0], [-1, 2], ["0", "2"]])
async def test_an_impossible_shard_is_closed_with_4010(
    emulator: DiscordEmulator, raw_ws: aiohttp.ClientWebSocketResponse, shard: list[object]
) -> None:
    await raw_ws.send_json(
        {"op": 2, "d": {"token": emulator.bot_token, "intents": 1, "shard": shard}}
    )
    message = await raw_ws.receive(timeout=2)
    assert message.data == 4010
    assert "4010" in emulator.take_violations()[0]


async def test_a_shard_without_the_guild_gets_ready_with_no_guilds(
    emulator: DiscordEmulator, raw_ws: aiohttp.ClientWebSocketResponse
) -> None:
    other = 1 - (emulator.guild.id >> 22) % 2  # the shard of 2 that does not carry the guild
    await raw_ws.send_json(
        {"op": 2, "d": {"token": emulator.bot_token, "intents": 1, "shard": [other, 2]}}
    )
    ready = await _next_dispatch(raw_ws)
    assert ready["t"] == "READY"
    assert ready["d"]["guilds"] == []
    assert ready["d"]["shard"] == [other, 2]
    assert emulator.gateway.session_for_guild(emulator.guild.id) is None  # its shard is not up
    dms_here = other == 0  # direct messages go to shard 0
    assert (emulator.gateway.session_for_guild(None) is not None) is dms_here
