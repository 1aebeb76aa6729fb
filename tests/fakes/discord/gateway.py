"""The gateway websocket: HELLO, heartbeats, IDENTIFY -> READY + GUILD_CREATE, RESUME, dispatch.

A *session* is one identified shard. It outlives its websocket connection so a client that
reconnects with RESUME gets every dispatch it missed (they are buffered with their sequence
numbers). Outgoing frames go through one writer task per connection, so producers never
block and frames keep their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from ._util import dumps, shard_for

if TYPE_CHECKING:
    from .fake import FakeDiscord

_log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE_STATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11

INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12

RESUME_BUFFER = 10_000


class Connection:
    """One websocket connection and its ordered writer."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.session: GatewaySession | None = None
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write(), name="fake-discord-gateway-writer")

    def send(self, text: str) -> None:
        self._queue.put_nowait(text)

    def send_json(self, payload: dict[str, Any]) -> None:
        self.send(dumps(payload))

    async def _write(self) -> None:
        ws = self.ws
        queue = self._queue
        while True:
            text = await queue.get()
            if text is None or ws.closed:
                return
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def close(self, code: int = 1000, message: str = "") -> None:
        self._queue.put_nowait(None)
        with contextlib.suppress(Exception):
            await self._writer
        if not self.ws.closed:
            with contextlib.suppress(Exception):
                await self.ws.close(code=code, message=message.encode())

    async def stop_writer(self) -> None:
        self._queue.put_nowait(None)
        with contextlib.suppress(Exception):
            await self._writer


class GatewaySession:
    """An identified shard: sequence numbers, the resume buffer, the current connection."""

    def __init__(self, shard_id: int, shard_count: int, intents: int, sharded: bool) -> None:
        self.id = secrets.token_hex(16)
        self.shard_id = shard_id
        self.shard_count = shard_count
        self.intents = intents
        self.sharded = sharded  # IDENTIFY carried a shard array
        self.seq = 0
        self.buffer: deque[tuple[int, str]] = deque(maxlen=RESUME_BUFFER)
        self.connection: Connection | None = None
        self.invalidated = False
        self.guild_ids: set[int] = set()

    def dispatch(self, event: str, data: Any) -> int:
        self.seq += 1
        text = dumps({"op": DISPATCH, "t": event, "s": self.seq, "d": data})
        self.buffer.append((self.seq, text))
        if self.connection is not None:
            self.connection.send(text)
        return self.seq

    def has_intent(self, bit: int) -> bool:
        return bool(self.intents & bit)


class Gateway:
    def __init__(self, fake: FakeDiscord, heartbeat_interval_ms: int) -> None:
        self.fake = fake
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.shards: dict[int, GatewaySession] = {}
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: set[Connection] = set()
        self.shard_count = 1
        self.identifies = 0
        self.resumes = 0
        self.replayed = 0  # dispatches re-sent on RESUME

    # --- routing ---------------------------------------------------------------------------

    def session_for_guild(self, guild_id: int | None) -> GatewaySession:
        shard_id = 0 if guild_id is None else shard_for(guild_id, self.shard_count)
        session = self.shards.get(shard_id)
        if session is None or session.invalidated:
            raise RuntimeError(
                f"no gateway session for shard {shard_id} (guild {guild_id}); "
                "is the bot connected? (use running_bot or fake.wait_until_connected())"
            )
        return session

    def dispatch_guild(
        self, guild_id: int | None, event: str, data: Any, *, intent: int = 0
    ) -> None:
        """Send an event to the shard of a guild, if that shard is identified (and wants it)."""
        shard_id = 0 if guild_id is None else shard_for(guild_id, self.shard_count)
        session = self.shards.get(shard_id)
        if session is None or session.invalidated:
            return
        if intent and not session.has_intent(intent):
            return
        session.dispatch(event, data)

    # --- websocket handler -----------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=None, max_msg_size=0)
        await ws.prepare(request)
        conn = Connection(ws)
        self.connections.add(conn)
        conn.send_json({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_message(conn, json.loads(msg.data))
                elif msg.type == WSMsgType.BINARY:
                    await conn.close(4002, "Decode error")
                    break
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.connections.discard(conn)
            await conn.stop_writer()
            session = conn.session
            if session is not None and session.connection is conn:
                session.connection = None
                # A clean close (1000/1001) ends the session; other codes leave it resumable.
                if ws.close_code in (1000, 1001):
                    self._end_session(session)
            self.fake._gateway_changed()
        return ws

    def _end_session(self, session: GatewaySession) -> None:
        session.invalidated = True
        self.sessions.pop(session.id, None)
        if self.shards.get(session.shard_id) is session:
            del self.shards[session.shard_id]

    async def _on_message(self, conn: Connection, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        data = msg.get("d")
        if op == HEARTBEAT:
            conn.send_json({"op": HEARTBEAT_ACK})
        elif op == IDENTIFY:
            await self._identify(conn, data or {})
        elif op == RESUME:
            await self._resume(conn, data or {})
        elif op == REQUEST_MEMBERS:
            self._request_members(conn, data or {})
        elif op == PRESENCE:
            self.fake.presence = data
        elif op == VOICE_STATE:
            pass
        else:
            _log.debug("fake gateway: ignoring op %s", op)

    async def _identify(self, conn: Connection, data: dict[str, Any]) -> None:
        fake = self.fake
        if data.get("token") != fake.token:
            await conn.close(4004, "Authentication failed.")
            return
        if conn.session is not None:
            await conn.close(4005, "Already authenticated.")
            return
        shard = data.get("shard")
        shard_id, shard_count = (0, 1) if shard is None else (int(shard[0]), int(shard[1]))
        if shard_count < 1 or not 0 <= shard_id < shard_count:
            await conn.close(4010, "Invalid shard.")
            return
        if shard_count != self.shard_count:
            # A new sharding layout: sessions of the old one no longer route anything.
            for old in list(self.shards.values()):
                self._end_session(old)
            self.shard_count = shard_count
        old = self.shards.get(shard_id)
        if old is not None:
            self._end_session(old)
        session = GatewaySession(
            shard_id, shard_count, int(data.get("intents") or 0), shard is not None
        )
        session.connection = conn
        conn.session = session
        self.shards[shard_id] = session
        self.sessions[session.id] = session
        self.identifies += 1

        guilds = [g for g in fake.guilds.values() if shard_for(g.id, shard_count) == shard_id]
        ready: dict[str, Any] = {
            "v": 10,
            "user": fake._bot_user_payload(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": fake.gateway_url,
            "application": {"id": str(fake.application_id), "flags": fake.application_flags},
            "user_settings": {},
            "relationships": [],
            "private_channels": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "auth_session_id_hash": "",
            "_trace": ["fake-discord"],
        }
        if shard is not None:
            ready["shard"] = [shard_id, shard_count]
        session.dispatch("READY", ready)
        for guild in guilds:
            session.guild_ids.add(guild.id)
            session.dispatch("GUILD_CREATE", guild.to_payload())
        fake._gateway_changed()

    async def _resume(self, conn: Connection, data: dict[str, Any]) -> None:
        fake = self.fake
        if data.get("token") != fake.token:
            await conn.close(4004, "Authentication failed.")
            return
        session = self.sessions.get(data.get("session_id") or "")
        seq = data.get("seq") or 0
        oldest = session.buffer[0][0] if session and session.buffer else 1
        if session is None or session.invalidated or seq + 1 < oldest:
            conn.send_json({"op": INVALID_SESSION, "d": False})
            return
        if session.connection is not None and session.connection is not conn:
            stale = session.connection
            stale.session = None
            await stale.close(4000, "Session resumed elsewhere")
        session.connection = conn
        conn.session = session
        for s, text in session.buffer:
            if s > seq:
                conn.send(text)
                self.replayed += 1
        self.resumes += 1
        session.dispatch("RESUMED", {"_trace": ["fake-discord"]})
        fake._gateway_changed()

    def _request_members(self, conn: Connection, data: dict[str, Any]) -> None:
        session = conn.session
        if session is None:
            return
        raw = data.get("guild_id")
        guild_ids = raw if isinstance(raw, list) else [raw]
        query = data.get("query")
        user_ids = data.get("user_ids")
        if user_ids is not None and not isinstance(user_ids, list):
            user_ids = [user_ids]
        wanted = None if user_ids is None else {int(u) for u in user_ids}
        for gid in guild_ids:
            guild = self.fake.guilds.get(int(gid))
            if guild is None:
                continue
            members = [
                m
                for m in guild.members.values()
                if (wanted is None or m.id in wanted)
                and (not query or m.name.lower().startswith(query.lower()))
            ]
            limit = data.get("limit") or 0
            if limit:
                members = members[:limit]
            chunk: dict[str, Any] = {
                "guild_id": str(guild.id),
                "members": [m.to_payload() for m in members],
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
            }
            if data.get("nonce") is not None:
                chunk["nonce"] = data["nonce"]
            if data.get("presences"):
                chunk["presences"] = []
            session.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    async def reconnect(self, shard_id: int) -> None:
        """Ask a shard to reconnect (op 7); discord.py then RESUMEs."""
        session = self.shards.get(shard_id)
        if session is None or session.connection is None:
            raise RuntimeError(f"shard {shard_id} is not connected")
        session.connection.send_json({"op": RECONNECT, "d": None})

    async def close(self) -> None:
        for conn in list(self.connections):
            await conn.close(1001, "Fake Discord shutting down")
        self.shards.clear()
        self.sessions.clear()
