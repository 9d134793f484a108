"""Live updates: the LISTEN loop that reads the outbox, and the websocket hub.

One dedicated connection per instance LISTENs (not from the pool), with a keepalive and
a reconnect loop; on every (re)connect it LISTENs first and then reads the outbox since
the last seq it saw, so nothing committed in between is missed. NOTIFY is only a
doorbell: the outbox is read for the truth. Each change is encoded once and offered to
every subscriber's bounded queue; a subscriber whose queue is full is closed with
``RESYNC_CLOSE_CODE`` and never slows the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import web

from bedboard import database, outbox
from bedboard.outbox import Change

log = logging.getLogger(__name__)

RESYNC_CLOSE_CODE = 4000  # "you fell behind: take a snapshot and subscribe again"
SUBSCRIBER_BUFFER_FRAMES = 512
HEARTBEAT_S = 15.0
KEEPALIVE_S = 10.0
KEEPALIVE_TIMEOUT_S = 5.0
FALLBACK_POLL_S = 5.0
RECONNECT_MAX_S = 10.0
CATCH_UP_BATCH = 1000


_LISTENER_ERRORS: tuple[type[BaseException], ...] = (*database.DOWN_ERRORS, asyncpg.PostgresError)


def encode(change: Change) -> str:
    return json.dumps({"seq": change.seq, "topic": change.topic, "data": change.payload})


@dataclass(eq=False)
class Subscriber:
    """One websocket's subscription: topics, a filter, and a bounded queue of frames."""

    topics: frozenset[str]
    on_overflow: Callable[[Subscriber], None]
    accepts: Callable[[Change], bool] = lambda change: True
    queue: asyncio.Queue[tuple[int, str]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=SUBSCRIBER_BUFFER_FRAMES)
    )
    overflowed: bool = False

    def offer(self, seq: int, frame: str) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait((seq, frame))
        except asyncio.QueueFull:
            self.overflowed = True
            self.on_overflow(self)


class Hub:
    """The subscribers on this instance, by topic."""

    def __init__(self) -> None:
        self._by_topic: dict[str, set[Subscriber]] = {}
        self.last_seq = 0
        self.frames_encoded = 0
        self.clients_cut = 0

    def add(self, sub: Subscriber) -> None:
        for topic in sub.topics:
            self._by_topic.setdefault(topic, set()).add(sub)

    def remove(self, sub: Subscriber) -> None:
        for topic in sub.topics:
            self._by_topic.get(topic, set()).discard(sub)

    @property
    def subscriber_count(self) -> int:
        return len({s for subs in self._by_topic.values() for s in subs})

    def publish(self, change: Change) -> None:
        """Offer a change to every subscriber of its topic, encoding it once."""
        self.last_seq = max(self.last_seq, change.seq)
        subs = self._by_topic.get(change.topic)
        if not subs:
            return
        frame = encode(change)
        self.frames_encoded += 1
        for sub in list(subs):
            if sub.accepts(change):
                sub.offer(change.seq, frame)


class OutboxListener:
    """Reads the outbox into the hub, woken by NOTIFY, kept alive and reconnected."""

    def __init__(self, dsn: str, pool: database.Pool, hub: Hub) -> None:
        self._dsn = dsn
        self._pool = pool
        self._hub = hub
        self._wake = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self.last_seq: int | None = None  # None until the first connect reads the head
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.backend_pid: int | None = None

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        with contextlib.suppress(ValueError):
            if self.last_seq is not None and int(str(payload)) <= self.last_seq:
                return
        self._wake.set()

    def _on_terminate(self, _conn: Any) -> None:
        self.connected.clear()
        self._wake.set()

    async def start_position(self) -> None:
        """Begin at the newest change: subscribers catch up from the outbox themselves.

        Read at start-up, before any subscriber exists; when that fails (a schema not yet
        migrated), the first successful connect reads it instead.
        """
        try:
            async with database.acquire(self._pool) as conn:
                self.last_seq = await outbox.head(conn)
            self._hub.last_seq = self.last_seq
        except _LISTENER_ERRORS as exc:
            log.warning("outbox position unknown at start-up (%s); will read it on connect", exc)

    async def run(self) -> None:
        """Until cancelled: connect, LISTEN, catch up, then read on every doorbell."""
        delay = 0.2
        failing = False
        while True:
            try:
                await self._connect()
                if failing:
                    log.info("outbox listener reconnected; resuming after seq %d", self.last_seq)
                failing = False
                delay = 0.2
                await self._serve()
            except asyncio.CancelledError:
                raise
            except _LISTENER_ERRORS as exc:
                if not failing:
                    log.warning("outbox listener lost the database (%s); reconnecting", exc)
                failing = True
            finally:
                self.connected.clear()
                await self._close()
            self.reconnects += 1
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=KEEPALIVE_TIMEOUT_S)
        self._conn = conn
        self.backend_pid = conn.get_server_pid()
        conn.add_termination_listener(self._on_terminate)
        # LISTEN first, then read: a change committed in between is caught by the read.
        await conn.add_listener(outbox.CHANNEL, self._on_notify)
        if self.last_seq is None:
            self.last_seq = await outbox.head(conn)
            self._hub.last_seq = self.last_seq
        self.connected.set()
        await self.drain()

    async def _serve(self) -> None:
        assert self._conn is not None
        conn = self._conn
        loop = asyncio.get_running_loop()
        next_keepalive = loop.time() + KEEPALIVE_S
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=FALLBACK_POLL_S)
            self._wake.clear()
            if conn.is_closed():
                raise database.DatabaseUnavailable("listen connection closed")
            await self.drain()
            if loop.time() >= next_keepalive:
                next_keepalive = loop.time() + KEEPALIVE_S
                await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=KEEPALIVE_TIMEOUT_S)

    async def drain(self) -> None:
        """Read and publish every change after the last one seen, in seq order."""
        assert self.last_seq is not None
        while True:
            async with database.acquire(self._pool) as conn:
                changes = await conn.fetch(
                    "SELECT seq, at, topic, payload FROM board_outbox WHERE seq > $1"
                    " ORDER BY seq LIMIT $2",
                    self.last_seq,
                    CATCH_UP_BATCH,
                )
            for row in changes:
                self._hub.publish(Change(row["seq"], row["at"], row["topic"], row["payload"]))
                self.last_seq = row["seq"]
            if len(changes) < CATCH_UP_BATCH:
                return

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)
            if not conn.is_closed():
                conn.terminate()


def close_for_resync(ws: web.WebSocketResponse) -> None:
    """Close a lagging websocket with the resync code, without waiting on it."""
    task = asyncio.ensure_future(ws.close(code=RESYNC_CLOSE_CODE, message=b"resync: fell behind"))
    task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
