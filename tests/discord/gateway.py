"""The gateway: HELLO, heartbeats, IDENTIFY → READY + GUILD_CREATE, RESUME with replay, faults.

A *session* outlives its websocket *connection*: events dispatched while the bot is disconnected
are buffered with their sequence numbers and replayed on RESUME, as Discord does. Every frame for
one connection goes through a single writer task so dispatch order equals sequence order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import zlib
from typing import Any

from aiohttp import WSMsgType, web

from . import payloads
from .state import EmulatorState

log = logging.getLogger(__name__)

# Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents)
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = {
    "members": GUILD_MEMBERS,
    "presences": 1 << 8,
    "message_content": MESSAGE_CONTENT,
}

REPLAY_BUFFER = 5000


class Connection:
    """One websocket. Frames are queued and written in order by a single task."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, compress: bool) -> None:
        self.ws = ws
        self.request = request
        self.session: Session | None = None
        self._compressor = zlib.compressobj() if compress else None
        self._queue: asyncio.Queue[dict[str, Any] | tuple[int, str]] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_loop())
        self.server_closed = False

    def send(self, frame: dict[str, Any]) -> None:
        self._queue.put_nowait(frame)

    def close_later(self, code: int, reason: str) -> None:
        """Close after every frame queued so far has been written."""
        self.server_closed = True
        self._queue.put_nowait((code, reason))

    async def _write_loop(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if isinstance(item, tuple):
                    await self.ws.close(code=item[0], message=item[1].encode())
                    return
                text = json.dumps(item)
                if self._compressor is not None:
                    data = self._compressor.compress(text.encode())
                    data += self._compressor.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return  # the socket went away; the reader side notices and cleans up

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (a network failure, not a close)."""
        self.server_closed = True
        transport = self.request.transport
        if transport is not None:
            transport.close()

    async def stop_writer(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


class Session:
    def __init__(self, session_id: str, intents: int, shard: Any = None) -> None:
        self.id = session_id
        self.intents = intents
        self.shard = shard  # echoed in READY; AutoShardedClient indexes it
        # Which shard this session is, of how many (an IDENTIFY without `shard` is 0 of 1).
        self.shard_id, self.shard_count = (shard[0], shard[1]) if shard else (0, 1)
        self.seq = 0
        self.buffer: list[dict[str, Any]] = []
        self.connection: Connection | None = None
        self.resumable = True
        self.ready = False

    def dispatch(self, event: str, data: Any) -> int:
        self.seq += 1
        frame = {"op": 0, "t": event, "s": self.seq, "d": data}
        self.buffer.append(frame)
        del self.buffer[:-REPLAY_BUFFER]
        if self.connection is not None:
            self.connection.send(frame)
        return self.seq


class Gateway:
    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self.sessions: dict[str, Session] = {}
        # The session of shard 0 (an unsharded bot's only one): fault injection acts on it.
        self.current: Session | None = None
        self.by_shard: dict[int, Session] = {}  # each shard's latest session
        self.connections: set[Connection] = set()
        self.ack_heartbeats = True
        self.url = ""
        self.resume_url = ""

    # Dispatching ----------------------------------------------------------------------------------

    def live_session(self, shard_id: int = 0) -> Session | None:
        session = self.by_shard.get(shard_id)
        return session if session is not None and session.resumable else None

    def shard_of(self, guild_id: int | None) -> int:
        """The shard Discord sends a guild's events to: (guild_id >> 22) % shard count, and
        shard 0 for direct messages."""
        count = max((session.shard_count for session in self.by_shard.values()), default=1)
        return 0 if guild_id is None else (guild_id >> 22) % count

    def session_for_guild(self, guild_id: int | None) -> Session | None:
        return self.live_session(self.shard_of(guild_id))

    def dispatch(self, event: str, data: Any, *, intents: int = 0) -> bool:
        """Send an event to the session of the shard it belongs to, if that session's IDENTIFY
        intents cover it.

        Returns whether it was sent (or buffered for a resume).
        """
        session = self.session_for_guild(_guild_of(event, data))
        if session is None:
            return False
        if intents and not session.intents & intents:
            return False
        session.dispatch(event, data)
        self._state.stats[f"dispatch_{event.lower()}"] += 1
        self._state.stats[f"dispatch_{event.lower()}_shard_{session.shard_id}"] += 1
        return True

    # Fault injection ------------------------------------------------------------------------------

    def _current_connection(self) -> Connection:
        session = self.current
        if session is None or session.connection is None:
            raise RuntimeError("no gateway connection to act on")
        return session.connection

    def send_reconnect(self) -> None:
        self._current_connection().send({"op": 7, "d": None})

    def invalidate_session(self, *, resumable: bool) -> None:
        connection = self._current_connection()
        if not resumable and connection.session is not None:
            connection.session.resumable = False
        connection.send({"op": 9, "d": resumable})

    def drop(self) -> None:
        self._current_connection().abort()

    async def close_all(self) -> None:
        for connection in list(self.connections):
            connection.server_closed = True
            with contextlib.suppress(Exception):
                await connection.ws.close(code=1001, message=b"emulator stopping")
            await connection.stop_writer()

    # Websocket handler ----------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        state = self._state
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        state.stats["gateway_connections"] += 1
        if request.path.endswith("/resume"):
            state.stats["gateway_resume_url_connections"] += 1
        query = request.query
        if query.get("v") != "10":
            state.violation(f"gateway connected with v={query.get('v')!r}; discord.py uses v=10")
        if query.get("encoding", "json") != "json":
            state.violation("gateway encoding must be json (etf is not emulated)")
        compress = state.options.compress and query.get("compress") == "zlib-stream"
        connection = Connection(ws, request, compress)
        self.connections.add(connection)
        connection.send(
            {
                "op": 10,
                "d": {
                    "heartbeat_interval": state.options.heartbeat_interval_ms,
                    "_trace": ['["emulator-gateway",{"micros":0}]'],
                },
            }
        )
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    raw = msg.data if isinstance(msg.data, str) else msg.data.decode()
                    self._on_frame(connection, raw)
        finally:
            self._on_closed(connection, ws.close_code)
            await connection.stop_writer()
        return ws

    def _on_closed(self, connection: Connection, code: int | None) -> None:
        self.connections.discard(connection)
        session = connection.session
        if session is None:
            return
        if session.connection is connection:
            session.connection = None
        # A client closing with 1000/1001 ends its session; anything else may be resumed.
        if code in (1000, 1001) and not connection.server_closed:
            session.resumable = False
        self._state.stats["gateway_disconnects"] += 1
        self._state.notify()

    def _fatal(self, connection: Connection, code: int, reason: str) -> None:
        self._state.violation(f"gateway: closed with {code} ({reason})")
        connection.close_later(code, reason)

    def _on_frame(self, connection: Connection, raw: str) -> None:
        try:
            frame = json.loads(raw)
            op = frame["op"]
        except (ValueError, KeyError, TypeError):
            self._fatal(connection, 4002, "Decode error")
            return
        data = frame.get("d")
        if op == 1:
            self._state.stats["heartbeats"] += 1
            if self.ack_heartbeats:
                connection.send({"op": 11})
                self._state.stats["heartbeat_acks"] += 1
        elif op == 2:
            self._identify(connection, data or {})
        elif op == 6:
            self._resume(connection, data or {})
        elif connection.session is None:
            self._fatal(connection, 4003, f"Not authenticated (op {op} before IDENTIFY)")
        elif op == 8:
            self._request_members(connection.session, data or {})
        elif op in (3, 4):
            pass  # presence and voice state updates change nothing the emulator models
        else:
            self._fatal(connection, 4001, f"Unknown opcode {op}")

    def _token_ok(self, token: Any) -> bool:
        return isinstance(token, str) and token.removeprefix("Bot ") == self._state.bot_token

    def _identify(self, connection: Connection, data: dict[str, Any]) -> None:
        state = self._state
        if connection.session is not None:
            self._fatal(connection, 4005, "Already authenticated")
            return
        if not self._token_ok(data.get("token")):
            self._fatal(connection, 4004, "Authentication failed")
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            self._fatal(connection, 4013, "Invalid intent(s): IDENTIFY without intents")
            return
        for name, flag in PRIVILEGED_INTENTS.items():
            if intents & flag and name not in state.options.privileged_intents:
                self._fatal(
                    connection,
                    4014,
                    f"Disallowed intent(s): {name} is privileged and not enabled for this app "
                    "(DiscordEmulator(privileged_intents=...))",
                )
                return
        shard = data.get("shard")
        if shard is not None and not _valid_shard(shard):
            self._fatal(connection, 4010, f"Invalid shard {shard!r}")
            return
        session = Session(secrets.token_hex(16), intents, shard)
        self.sessions[session.id] = session
        previous = self.by_shard.get(session.shard_id)
        if previous is not None and previous.connection is None:
            previous.resumable = False
        self.by_shard[session.shard_id] = session
        if session.shard_id == 0:
            self.current = session
        session.connection = connection
        connection.session = session
        state.stats["identifies"] += 1

        session.dispatch("READY", self._ready_payload(session))
        if self._has_the_guild(session):
            include_members = bool(intents & GUILD_MEMBERS)
            members = (
                state.guild.members if include_members else [state.guild.member(state.bot_user.id)]
            )
            session.dispatch(
                "GUILD_CREATE",
                payloads.guild(state, members=[m for m in members if m], for_gateway=True),
            )
        state.stats[f"identifies_shard_{session.shard_id}"] += 1
        session.ready = True
        state.notify()

    def _ready_payload(self, session: Session) -> dict[str, Any]:
        state = self._state
        ready: dict[str, Any] = {
            "v": 10,
            "user": {
                **payloads.user(state.bot_user),
                "verified": True,
                "mfa_enabled": False,
                "email": None,
                "locale": "en-US",
            },
            "guilds": (
                [{"id": str(state.guild.id), "unavailable": True}]
                if self._has_the_guild(session)
                else []
            ),
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_url,
            "application": {"id": str(state.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["emulator"],
            "user_settings": {},
            "auth": {},
            "_trace": ['["emulator-gateway",{"micros":0}]'],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        return ready

    def _has_the_guild(self, session: Session) -> bool:
        """Whether the emulator's guild is on this session's shard."""
        return (self._state.guild.id >> 22) % session.shard_count == session.shard_id

    def _resume(self, connection: Connection, data: dict[str, Any]) -> None:
        state = self._state
        if not self._token_ok(data.get("token")):
            self._fatal(connection, 4004, "Authentication failed")
            return
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq") or 0
        oldest = session.buffer[0]["s"] if session and session.buffer else 1
        if session is None or not session.resumable or seq + 1 < oldest:
            state.stats["invalid_sessions"] += 1
            connection.send({"op": 9, "d": False})
            return
        previous = session.connection
        if previous is not None and previous is not connection:
            # The old socket has not noticed it is dead yet; a RESUME elsewhere supersedes it.
            previous.session = None
            previous.close_later(4009, "Session resumed on another connection")
        session.connection = connection
        connection.session = session
        self.by_shard[session.shard_id] = session
        if session.shard_id == 0:
            self.current = session
        for frame in session.buffer:
            if frame["s"] > seq:
                connection.send(frame)
                state.stats["replayed_events"] += 1
        session.dispatch("RESUMED", {"_trace": ['["emulator-gateway",{"micros":0}]']})
        state.stats["resumes"] += 1
        state.notify()

    def _request_members(self, session: Session, data: dict[str, Any]) -> None:
        state = self._state
        user_ids = data.get("user_ids")
        if isinstance(user_ids, (str, int)):
            user_ids = [user_ids]
        query = data.get("query")
        limit = data.get("limit") or 0
        members = state.guild.members
        if user_ids:
            wanted = {int(u) for u in user_ids}
            members = [m for m in members if m.user.id in wanted]
        elif query is not None:
            members = [m for m in members if m.user.username.lower().startswith(query.lower())]
        if limit:
            members = members[:limit]
        found = {m.user.id for m in members}
        chunk: dict[str, Any] = {
            "guild_id": str(state.guild.id),
            "members": [payloads.member(state, m) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [str(u) for u in (user_ids or []) if int(u) not in found],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        if data.get("presences"):
            chunk["presences"] = []
        session.dispatch("GUILD_MEMBERS_CHUNK", chunk)


def _valid_shard(shard: Any) -> bool:
    """IDENTIFY's `shard`: [shard_id, num_shards], with 0 <= shard_id < num_shards."""
    return (
        isinstance(shard, list)
        and len(shard) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in shard)
        and 0 <= shard[0] < shard[1]
    )


def _guild_of(event: str, data: Any) -> int | None:
    """The guild an event belongs to (its shard's), None for direct messages."""
    if not isinstance(data, dict):
        return None
    if event.startswith("GUILD_") and "guild_id" not in data and "id" in data:
        return int(data["id"])  # GUILD_CREATE, GUILD_UPDATE: the guild itself
    guild_id = data.get("guild_id")
    return int(guild_id) if guild_id is not None else None
