"""The ``/ws`` endpoint: subscribe to topics, catch up from the outbox, then stream.

Protocol (see docs/live-protocol.md): the client sends
``{"type": "subscribe", "topics": ["board"], "since": N}``; the server answers
``{"type": "subscribed", ...}`` followed by every change after N, then streams
``{"seq": ..., "topic": ..., "data": ...}`` frames and ``heartbeat`` messages. With
``since: null``, or a position too old to serve, it answers ``snapshot_required`` and
the client takes ``GET /api/v1/board`` and subscribes again with its seq.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from typing import Literal

from aiohttp import WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bedboard import access, auth, database, outbox
from bedboard.auth import Principal
from bedboard.context import (
    HUB,
    POOL,
    WEBSOCKETS,
    current_principal,
    deny,
    origin_allowed,
)
from bedboard.live import (
    HEARTBEAT_S,
    Hub,
    Subscriber,
    close_for_resync,
    encode,
)
from bedboard.problems import Problem, unauthenticated

log = logging.getLogger(__name__)

Topic = Literal["board", "placements", "referrals", "court"]
AUTH_RECHECK_EVERY = 4  # heartbeats between re-checks that the session or token is still valid
AUTH_CLOSE_CODE = 4401
MAX_MESSAGE_BYTES = 16 * 1024


class Subscribe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["subscribe"]
    topics: list[Topic] = Field(min_length=1, max_length=8)
    since: int | None = Field(ge=0)


class LiveSession:
    """One websocket connection."""

    def __init__(
        self, request: web.Request, ws: web.WebSocketResponse, principal: Principal
    ) -> None:
        self.request = request
        self.ws = ws
        self.principal = principal
        self.hub: Hub = request.app[HUB]
        self.sub: Subscriber | None = None
        self.last_sent = 0
        self._writer: asyncio.Task[None] | None = None

    async def send(self, message: dict[str, object]) -> None:
        await self.ws.send_str(json.dumps(message))

    async def run(self) -> None:
        heartbeats = asyncio.create_task(self._heartbeats())
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    await self._handle(msg.data)
                elif msg.type in (WSMsgType.BINARY,):
                    await self.send({"type": "error", "message": "send JSON text messages"})
        finally:
            heartbeats.cancel()
            await self._unsubscribe()

    async def _handle(self, text: str) -> None:
        try:
            message = Subscribe.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "message"
            await self.send({"type": "error", "message": f"{where}: {first['msg']}"})
            return
        allowed = access.live_topics(self.principal)
        refused = sorted(set(message.topics) - allowed)
        if refused:
            await self.send({"type": "error", "message": f"not allowed: {', '.join(refused)}"})
            return
        await self._subscribe(frozenset(message.topics), message.since)

    async def _subscribe(self, topics: frozenset[str], since: int | None) -> None:
        await self._unsubscribe()
        if since is None:
            await self.send({"type": "snapshot_required", "seq": self.hub.last_seq})
            return
        principal = self.principal
        sub = Subscriber(
            topics=topics,
            on_overflow=self._overflow,
            accepts=lambda change: access.sees_change(principal, change),
        )
        self.hub.add(sub)  # live frames queue up from here; catch-up below covers the rest
        self.sub = sub
        self.last_sent = since
        await self.send({"type": "subscribed", "topics": sorted(topics), "since": since})
        try:
            await self._catch_up(topics)
        except outbox.TooOld as exc:
            await self._unsubscribe()
            await self.send(
                {"type": "snapshot_required", "reason": str(exc), "seq": self.hub.last_seq}
            )
            return
        self._writer = asyncio.create_task(self._forward(sub))

    async def _catch_up(self, topics: frozenset[str]) -> None:
        while True:
            async with database.acquire(self.request.app[POOL]) as conn:
                changes = await outbox.since(conn, self.last_sent, limit=1000)
            for change in changes:
                if change.topic in topics and access.sees_change(self.principal, change):
                    await self.ws.send_str(encode(change))
                self.last_sent = change.seq
            if len(changes) < 1000:
                return

    async def _forward(self, sub: Subscriber) -> None:
        while True:
            seq, frame = await sub.queue.get()
            if seq <= self.last_sent:
                continue  # already sent during catch-up
            await self.ws.send_str(frame)
            self.last_sent = seq

    def _overflow(self, sub: Subscriber) -> None:
        log.info("websocket client of %s fell behind; closing for resync", self.principal.label)
        self.hub.clients_cut += 1
        close_for_resync(self.ws)

    async def _unsubscribe(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        if self.sub is not None:
            self.hub.remove(self.sub)
            self.sub = None

    async def _heartbeats(self) -> None:
        beats = 0
        # Spread clients that connected together, so their heartbeats do not all coincide.
        await asyncio.sleep(random.uniform(0, HEARTBEAT_S))
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            beats += 1
            if beats % AUTH_RECHECK_EVERY == 0 and not await self._still_authorized():
                await self.ws.close(code=AUTH_CLOSE_CODE, message=b"signed out")
                return
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.send({"type": "heartbeat", "seq": self.hub.last_seq})

    async def _still_authorized(self) -> bool:
        try:
            async with database.acquire(self.request.app[POOL]) as conn:
                return await _reload_principal(self.request, conn) is not None
        except database.DOWN_ERRORS:
            return True  # an outage is not a sign-out


async def _reload_principal(request: web.Request, conn: database.Connection) -> Principal | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return await auth.load_token(conn, header[7:].strip())
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    return await auth.peek_session(conn, cookie) if cookie else None


async def websocket(request: web.Request) -> web.StreamResponse:
    """Upgrade to a websocket after checking who is asking and from which page."""
    principal = current_principal(request)
    if principal is None:
        raise unauthenticated()
    if not origin_allowed(request):
        deny(request, principal, "live.connect", "websocket", "", "Origin not allowed")
        raise Problem(403, "This Origin may not open the live connection.", code="bad-origin")
    # No per-message compression: frames are encoded once and sent as-is to every client.
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_MESSAGE_BYTES, compress=False)
    await ws.prepare(request)
    request.app[WEBSOCKETS].add(ws)
    await LiveSession(request, ws, principal).run()
    return ws
