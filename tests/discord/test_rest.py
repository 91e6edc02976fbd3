"""REST surface checked with a plain HTTP client: headers, auth, errors, rate limits."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.discord.emulator import DiscordEmulator


@pytest.fixture
async def http(emulator: DiscordEmulator) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bot {emulator.bot_token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        yield session


async def _call(
    session: aiohttp.ClientSession, emulator: DiscordEmulator, method: str, path: str, **kw: Any
) -> tuple[int, Any, Any]:
    async with session.request(method, emulator.api_base + path, **kw) as response:
        body = await response.read()
        return response.status, response.headers, json.loads(body) if body else None


async def test_json_has_the_exact_content_type_and_string_snowflakes(
    emulator: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    status, headers, body = await _call(http, emulator, "GET", "/users/@me")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body["id"] == str(emulator.bot_user.id)
    assert body["bot"] is True
    assert headers["X-RateLimit-Bucket"]
    assert headers["X-RateLimit-Remaining"]


async def test_wrong_token_is_401_everywhere(emulator: DiscordEmulator) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": "Bot nope"}) as session:
        status, _, body = await _call(session, emulator, "GET", "/users/@me")
    assert status == 401
    assert body == {"message": "401: Unauthorized", "code": 0}
    assert "401" in emulator.take_violations()[0]


async def test_unknown_route_and_wrong_method(
    emulator: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    status, _, body = await _call(http, emulator, "GET", "/nope")
    assert (status, body) == (404, {"message": "404: Not Found", "code": 0})
    status, _, _ = await _call(http, emulator, "DELETE", "/users/@me")
    assert status == 405
    assert len(emulator.take_violations()) == 2


async def test_429_carries_via_retry_after_and_scope(
    emulator: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    emulator.set_rate_limit("GET /users/@me", 1, 60)
    assert (await _call(http, emulator, "GET", "/users/@me"))[0] == 200
    status, headers, body = await _call(http, emulator, "GET", "/users/@me")
    assert status == 429
    assert headers["Via"] == "1.1 google"
    assert headers["X-RateLimit-Scope"] == "user"
    assert int(headers["Retry-After"]) >= 59
    assert body["global"] is False
    assert body["retry_after"] > 59
    emulator.inject_429(global_=True, retry_after=0.5)
    status, headers, body = await _call(http, emulator, "GET", "/gateway")
    assert status == 429
    assert headers["X-RateLimit-Global"] == "true"
    assert body["global"] is True
    assert emulator.stats["rate_limited_429s"] == 2
    assert emulator.violations == []


async def test_channel_message_crud_and_history(
    emulator: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    general = emulator.channel("general")
    base = f"/channels/{general.id}/messages"
    ids = []
    for text in ("one", "two", "three"):
        status, _, body = await _call(http, emulator, "POST", base, json={"content": text})
        assert status == 200
        assert body["channel_id"] == str(general.id)
        ids.append(body["id"])
    status, _, body = await _call(http, emulator, "GET", f"{base}?limit=2")
    assert [m["content"] for m in body] == ["three", "two"]
    status, _, body = await _call(
        http, emulator, "PATCH", f"{base}/{ids[0]}", json={"content": "1"}
    )
    assert body["content"] == "1"
    assert body["edited_timestamp"]
    status, _, _ = await _call(http, emulator, "DELETE", f"{base}/{ids[1]}")
    assert status == 204
    assert [m.content for m in emulator.messages(general)] == ["1", "three"]
    status, _, body = await _call(http, emulator, "GET", f"{base}/{ids[1]}")
    assert (status, body["code"]) == (404, 10008)
    status, _, body = await _call(http, emulator, "POST", base, json={"content": ""})
    assert (status, body["code"]) == (400, 50006)
    assert len(emulator.take_violations()) == 2


async def test_callback_type_must_fit_the_interaction(
    emulator: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    # A bare gateway session is enough for the emulator to deliver an interaction.
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{emulator.gateway_url}?v=10") as ws:
            await ws.receive_json()
            await ws.send_json({"op": 2, "d": {"token": emulator.bot_token, "intents": 1}})
            await emulator.wait_for_ready()
            await _call(
                http,
                emulator,
                "PUT",
                f"/applications/{emulator.application_id}/commands",
                json=[{"name": "ping", "description": "Ping", "type": 1}],
            )
            ix = await emulator.slash("alice", "ping")
            callback = f"/interactions/{ix.id}/{ix.token}/callback?with_response=true"
            status, _, body = await _call(http, emulator, "POST", callback, json={"type": 8})
            assert (status, body["code"]) == (400, 50035)
            status, _, body = await _call(
                http, emulator, "POST", callback, json={"type": 4, "data": {"content": "pong"}}
            )
            assert status == 200
            assert body["interaction"]["id"] == str(ix.id)
            assert body["resource"]["message"]["content"] == "pong"
    violations = emulator.take_violations()
    assert "callback type 8 is not valid for a application command" in violations[0]


async def test_command_payloads_are_validated(
    emulator: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    bad = [{"name": "Bad Name", "description": "", "type": 1}]
    status, _, body = await _call(
        http, emulator, "PUT", f"/applications/{emulator.application_id}/commands", json=bad
    )
    assert (status, body["code"]) == (400, 50035)
    assert emulator.sync_requests
    assert emulator.commands() == []
    assert len(emulator.take_violations()) == 1
