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
from typing import Literal

from aiohttp import WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bedboard import access, auth, database, logsafe, outbox
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
    CATCH_UP_BATCH,
    HEARTBEAT_S,
    Hub,
    Peer,
    close_soon,
    encode,
)
from bedboard.outbox import Change
from bedboard.problems import Problem, unauthenticated

log = logging.getLogger(__name__)

Topic = Literal["board", "placements", "referrals", "court", "alerts"]
AUTH_RECHECK_EVERY = 4  # heartbeats between re-checks that the session or token is still valid
AUTH_CLOSE_CODE = 4401
MAX_MESSAGE_BYTES = 16 * 1024


class Subscribe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["subscribe"]
    topics: list[Topic] = Field(min_length=1, max_length=8)
    since: int | None = Field(ge=0)


def credential(request: web.Request, principal: Principal) -> auth.Credential:
    """What this connection was opened with, as the authenticate middleware read it."""
    if principal.via == "token":
        return auth.Credential(
            "token", request.headers.get("Authorization", "").partition(" ")[2].strip()
        )
    return auth.Credential("session", request.cookies.get(auth.SESSION_COOKIE, ""))


class LiveSession:
    """One websocket connection: reads the client's messages, catches up subscriptions
    from the outbox; the hub writes its live frames and heartbeats."""

    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        principal: Principal,
        transport: asyncio.Transport,
    ) -> None:
        self.request = request
        self.ws = ws
        self.principal = principal
        self.hub: Hub = request.app[HUB]
        self.peer = Peer(ws, transport, credential(request, principal), principal.label)

    async def send(self, message: dict[str, object]) -> None:
        await self.ws.send_str(json.dumps(message))

    async def run(self) -> None:
        self.hub.connect(self.peer)
        try:
            # A client gone in the middle of a reply or a catch-up is no error of ours.
            with contextlib.suppress(ConnectionResetError):
                async for msg in self.ws:
                    if msg.type == WSMsgType.TEXT:
                        await self._handle(msg.data)
                    elif msg.type in (WSMsgType.BINARY,):
                        await self.send({"type": "error", "message": "send JSON text messages"})
        finally:
            self.hub.disconnect(self.peer)

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
        self.hub.unsubscribe(self.peer)
        if since is None:
            await self.send({"type": "snapshot_required", "seq": self.hub.last_seq})
            return
        principal = self.principal

        def accepts(change: Change) -> bool:
            return access.sees_change(principal, change)

        subscribed: dict[str, object] = {
            "type": "subscribed",
            "topics": sorted(topics),
            "since": since,
        }
        if self.hub.remembers(since):
            # Everything after `since` is in memory (a client resuming, as after a
            # reconnect): no outbox read. The hub writes it and goes live in one step.
            await self.send(subscribed)
            if self.hub.subscribe_from_memory(self.peer, topics, accepts, since):
                return
            subscribed = {}  # said already; memory moved on meanwhile: read the outbox
        # Live frames are held from here; the catch-up below covers everything before them.
        self.hub.subscribe(self.peer, topics, accepts, since)
        if subscribed:
            await self.send(subscribed)
        try:
            await self._catch_up(topics)
        except outbox.TooOld as exc:
            self.hub.unsubscribe(self.peer)
            await self.send(
                {"type": "snapshot_required", "reason": str(exc), "seq": self.hub.last_seq}
            )
            return
        self.hub.go_live(self.peer)

    async def _catch_up(self, topics: frozenset[str]) -> None:
        peer = self.peer
        while not peer.gone:
            async with database.acquire(self.request.app[POOL]) as conn:
                changes = await outbox.since(conn, peer.last_sent, limit=CATCH_UP_BATCH)
            for change in changes:
                if change.topic in topics and access.sees_change(self.principal, change):
                    await self.ws.send_str(encode(change))
                peer.last_sent = change.seq
            if len(changes) < CATCH_UP_BATCH:
                return


async def recheck_credentials(hub: Hub, pool: database.Pool) -> int:
    """Close every connection whose token or session no longer stands (one query for
    all of them) with ``AUTH_CLOSE_CODE``; return how many. An outage is not a sign-out."""
    peers = [peer for peer in hub.peers if not peer.gone]
    if not peers:
        return 0
    try:
        async with database.acquire(pool) as conn:
            valid = await auth.still_valid(conn, {peer.credential for peer in peers})
    except database.DOWN_ERRORS:
        return 0
    closed = 0
    for peer in peers:
        if peer.credential not in valid and not peer.gone:
            log.info("closing the websocket of %s: signed out or revoked", peer.label)
            hub.unsubscribe(peer)
            close_soon(peer.ws, AUTH_CLOSE_CODE, "signed out")
            closed += 1
    return closed


async def run_ticks(
    hub: Hub,
    pool: database.Pool,
    *,
    heartbeat_s: float = HEARTBEAT_S,
    recheck_every: int = AUTH_RECHECK_EVERY,
) -> None:
    """Until cancelled, the one tick of this instance: every ``heartbeat_s`` a heartbeat
    to every connection, and every ``recheck_every`` beats a re-check of every
    connection's credentials (in the background: a slow database delays no heartbeat)."""
    loop = asyncio.get_running_loop()
    beats = 0
    recheck: asyncio.Task[int] | None = None
    next_at = loop.time() + heartbeat_s
    try:
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at = max(next_at + heartbeat_s, loop.time())
            hub.heartbeat()
            beats += 1
            if beats % recheck_every == 0 and (recheck is None or recheck.done()):
                recheck = asyncio.create_task(_recheck(hub, pool), name="live-auth-recheck")
    finally:
        if recheck is not None:
            recheck.cancel()
            await asyncio.gather(recheck, return_exceptions=True)


async def _recheck(hub: Hub, pool: database.Pool) -> int:
    try:
        return await recheck_credentials(hub, pool)
    except Exception as exc:  # noqa: BLE001 -- logged by logsafe; the next re-check retries
        logsafe.log_failure(log, "re-checking websocket credentials failed", exc=exc)
        return 0


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
    transport = request.transport
    if transport is None:  # gone during the upgrade
        return ws
    request.app[WEBSOCKETS].add(ws)
    await LiveSession(request, ws, principal, transport).run()
    return ws
