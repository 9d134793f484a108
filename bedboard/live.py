"""Live updates: the LISTEN loop that reads the outbox, and the websocket hub.

One dedicated connection per instance LISTENs (not from the pool), with a keepalive and
a reconnect loop; on every (re)connect it LISTENs first and then reads the outbox since
the last seq it saw, so nothing committed in between is missed. NOTIFY is only a
doorbell: the outbox is read for the truth.

The hub fans each change out directly: it is encoded once into websocket frame bytes
(server frames are unmasked, so the same bytes suit every client) and written with
``transport.write`` to every subscriber whose filter accepts it, with no queue or task
per subscriber. A client whose unsent bytes pass ``SUBSCRIBER_BUFFER_BYTES`` is closed
with ``RESYNC_CLOSE_CODE`` and never slows the others. While a subscriber catches up
from the outbox, its live frames are held (at most ``SUBSCRIBER_BUFFER_FRAMES``) and
written after the catch-up, skipping what it already sent. Every write is of whole
frames and none awaits, so nothing can land inside a frame that aiohttp itself writes
(pongs, close frames, the catch-up's ``send_str``), nor the other way round.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web
from websockets.frames import Frame, Opcode

from bedboard import auth, database, outbox
from bedboard.auth import Credential
from bedboard.outbox import Change

log = logging.getLogger(__name__)

RESYNC_CLOSE_CODE = 4000  # "you fell behind: take a snapshot and subscribe again"
# Unsent bytes a client's transport may hold before it is cut for resync. A unit frame is
# about 0.5 KiB, so this is some 1000 of them: room for the 512 frames a subscriber may
# have held during its catch-up (written at once when it ends) on top of aiohttp's 64 KiB
# write high-water mark, so that a catch-up within its own bound is never cut at the end.
SUBSCRIBER_BUFFER_BYTES = 512 * 1024
SUBSCRIBER_BUFFER_FRAMES = 512  # live frames held for one subscriber while it catches up
HEARTBEAT_S = 15.0
KEEPALIVE_S = 10.0
KEEPALIVE_TIMEOUT_S = 5.0
FALLBACK_POLL_S = 5.0
RECONNECT_MAX_S = 10.0
CATCH_UP_BATCH = 1000
# The newest changes the hub keeps, encoded, so that a client resuming from a position
# among them catches up from memory: a reconnect storm costs no outbox reads.
RECENT_CHANGES = 2048
# With more connections than this, the listener lets the loop run between the changes
# it publishes (each is then a long run of socket writes).
YIELD_EVERY_CHANGE_ABOVE = 100


_LISTENER_ERRORS: tuple[type[BaseException], ...] = (*database.DOWN_ERRORS, asyncpg.PostgresError)


def encode(change: Change) -> str:
    return json.dumps({"seq": change.seq, "topic": change.topic, "data": change.payload})


def text_frame(text: str) -> bytes:
    """One whole unmasked websocket text frame, as the websockets library serializes it."""
    return Frame(Opcode.TEXT, text.encode("utf-8")).serialize(mask=False, extensions=[])


def _everything(change: Change) -> bool:
    return True


@dataclass(eq=False)
class Peer:
    """One websocket connection as the hub writes to it, and its subscription, if any.

    ``pending`` is a list while the subscription catches up (live frames wait there) and
    None once frames go straight to the transport. ``last_sent`` is the newest seq
    delivered (or skipped as not for this client), for catch-up and live alike."""

    ws: web.WebSocketResponse
    transport: asyncio.Transport
    credential: Credential  # re-checked by the loop-wide tick (websocket.run_ticks)
    label: str  # who, for log lines
    topics: frozenset[str] = frozenset()
    accepts: Callable[[Change], bool] = _everything
    last_sent: int = 0
    pending: list[tuple[int, bytes]] | None = None
    cut: bool = False

    @property
    def gone(self) -> bool:
        return self.cut or self.ws.closed or self.transport.is_closing()


class Hub:
    """The websocket connections of this instance, and their subscribers by topic."""

    def __init__(self) -> None:
        self.peers: set[Peer] = set()
        self._by_topic: dict[str, set[Peer]] = {}
        self.last_seq = 0
        # (seq, change, frame) of every change after _complete_after, oldest first.
        self._recent: list[tuple[int, Change, bytes]] = []
        self._complete_after: int | None = None  # None until the listener knows its start
        self.frames_encoded = 0
        self.clients_cut = 0
        self.heartbeats = 0

    def connect(self, peer: Peer) -> None:
        self.peers.add(peer)

    def disconnect(self, peer: Peer) -> None:
        self.unsubscribe(peer)
        self.peers.discard(peer)

    def subscribe(
        self, peer: Peer, topics: frozenset[str], accepts: Callable[[Change], bool], since: int
    ) -> None:
        """Follow these topics from ``since``. Live frames are held from now until
        ``go_live``; the caller catches up from the outbox in between."""
        self.unsubscribe(peer)
        peer.topics, peer.accepts, peer.last_sent, peer.pending = topics, accepts, since, []
        for topic in topics:
            self._by_topic.setdefault(topic, set()).add(peer)

    def go_live(self, peer: Peer) -> None:
        """After the catch-up: write the held frames it did not send, in order, then
        write straight to the transport from here on. Nothing awaits in between."""
        pending, peer.pending = peer.pending, None
        for seq, frame in pending or ():
            if seq > peer.last_sent:
                if not self._write(peer, frame):
                    return
                peer.last_sent = seq

    def unsubscribe(self, peer: Peer) -> None:
        for topic in peer.topics:
            subs = self._by_topic.get(topic)
            if subs is not None:
                subs.discard(peer)
                if not subs:
                    del self._by_topic[topic]
        peer.topics = frozenset()
        peer.pending = None

    @property
    def subscriber_total(self) -> int:
        """How many connections the hub may write to (cheap: no de-duplication)."""
        return len(self.peers)

    @property
    def subscriber_count(self) -> int:
        return len({s for subs in self._by_topic.values() for s in subs})

    def start_at(self, seq: int) -> None:
        """The listener publishes every change after ``seq``, in order, from now on."""
        self.last_seq = max(self.last_seq, seq)
        if self._complete_after is None:
            self._complete_after = seq

    def remembers(self, since: int) -> bool:
        """Whether every change after ``since`` (up to the newest) is in memory."""
        return self._complete_after is not None and self._complete_after <= since <= self.last_seq

    def subscribe_from_memory(
        self, peer: Peer, topics: frozenset[str], accepts: Callable[[Change], bool], since: int
    ) -> bool:
        """Follow these topics from ``since`` when every change after it is in memory:
        write those the peer may see, then go live, with nothing awaited in between (no
        change can fall between the two). False, and nothing done, when they are not."""
        if not self.remembers(since):
            return False
        self.unsubscribe(peer)
        peer.topics, peer.accepts, peer.last_sent, peer.pending = topics, accepts, since, None
        for topic in topics:
            self._by_topic.setdefault(topic, set()).add(peer)
        recent = self._recent
        for i in range(bisect.bisect_right(recent, since, key=_seq_of), len(recent)):
            seq, change, frame = recent[i]
            if change.topic in topics and accepts(change) and not self._write(peer, frame):
                return True  # cut or gone: it subscribes again from its own position
            peer.last_sent = seq
        return True

    def _remember(self, seq: int, change: Change, frame: bytes) -> None:
        recent = self._recent
        recent.append((seq, change, frame))
        if len(recent) > 2 * RECENT_CHANGES:
            forgotten = len(recent) - RECENT_CHANGES
            self._complete_after = recent[forgotten - 1][0]
            del recent[:forgotten]

    def publish(self, change: Change) -> None:
        """Write a change to every subscriber of its topic that may see it, encoding it once,
        and keep it among the recent changes."""
        seq = change.seq
        self.last_seq = max(self.last_seq, seq)
        frame = text_frame(encode(change))
        self.frames_encoded += 1
        if self._complete_after is not None:
            self._remember(seq, change, frame)
        subs = self._by_topic.get(change.topic)
        if not subs:
            return
        for peer in tuple(subs):  # a cut or closed peer leaves the set
            if seq <= peer.last_sent or not peer.accepts(change):
                continue
            pending = peer.pending
            if pending is None:
                if self._write(peer, frame):
                    peer.last_sent = seq
            elif len(pending) < SUBSCRIBER_BUFFER_FRAMES:
                pending.append((seq, frame))
            else:
                self._cut(peer)

    def heartbeat(self) -> None:
        """One heartbeat, encoded once, to every connection, subscribed or not."""
        frame = text_frame(json.dumps({"type": "heartbeat", "seq": self.last_seq}))
        self.heartbeats += 1
        for peer in tuple(self.peers):
            self._write(peer, frame)

    def _write(self, peer: Peer, frame: bytes) -> bool:
        """Write one whole frame; False when the peer is gone or has just been cut."""
        if peer.gone:
            self.unsubscribe(peer)
            return False
        transport = peer.transport
        transport.write(frame)
        if transport.get_write_buffer_size() > SUBSCRIBER_BUFFER_BYTES:
            self._cut(peer)
            return False
        return True

    def _cut(self, peer: Peer) -> None:
        """Close a client that fell behind with the resync code, without waiting on it."""
        peer.cut = True
        self.unsubscribe(peer)
        self.clients_cut += 1
        log.info("websocket client of %s fell behind; closing for resync", peer.label)
        close_soon(peer.ws, RESYNC_CLOSE_CODE, "resync: fell behind")


def _seq_of(entry: tuple[int, Change, bytes]) -> int:
    return entry[0]


def _forget_principals(*_: object) -> None:
    auth.forget_principals()


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
        self._draining = asyncio.Lock()

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
            self._hub.start_at(self.last_seq)
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
        # Users and tokens changed elsewhere: forget the token principals kept here (and
        # on every (re)connect, since a change may have gone unheard meanwhile).
        await conn.add_listener(auth.PRINCIPALS_CHANNEL, _forget_principals)
        auth.forget_principals()
        if self.last_seq is None:
            self.last_seq = await outbox.head(conn)
            self._hub.start_at(self.last_seq)
        self.connected.set()
        await self.drain()

    async def _serve(self) -> None:
        assert self._conn is not None
        conn = self._conn
        loop = asyncio.get_running_loop()
        next_keepalive = loop.time() + KEEPALIVE_S
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FALLBACK_POLL_S):
                    await self._wake.wait()
            self._wake.clear()
            if conn.is_closed():
                raise database.DatabaseUnavailable("listen connection closed")
            await self.drain()
            if loop.time() >= next_keepalive:
                next_keepalive = loop.time() + KEEPALIVE_S
                async with asyncio.timeout(KEEPALIVE_TIMEOUT_S):
                    await conn.fetchval("SELECT 1")

    async def drain(self) -> None:
        """Read and publish every change after the last one seen, in seq order, one drain
        at a time. The loop is let go between changes: writing one to thousands of
        sockets takes tens of milliseconds, and a backlog published in one go would hold
        every request (and every other client) for all of them together."""
        async with self._draining:
            while True:
                assert self.last_seq is not None
                async with database.acquire(self._pool) as conn:
                    changes = await conn.fetch(
                        "SELECT seq, at, topic, payload FROM board_outbox WHERE seq > $1"
                        " ORDER BY seq LIMIT $2",
                        self.last_seq,
                        CATCH_UP_BATCH,
                    )
                for i, row in enumerate(changes):
                    if i and self._hub.subscriber_total > YIELD_EVERY_CHANGE_ABOVE:
                        await asyncio.sleep(0)
                    self._hub.publish(Change(row["seq"], row["at"], row["topic"], row["payload"]))
                    self.last_seq = row["seq"]
                if len(changes) < CATCH_UP_BATCH:
                    return

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await conn.close()
            if not conn.is_closed():
                conn.terminate()


_closing: set[asyncio.Task[bool]] = set()


def close_soon(ws: web.WebSocketResponse, code: int, reason: str) -> None:
    """Start closing a websocket with this code, in the background (a close waits for the
    client's answer, and the hub never waits on one client)."""
    task = asyncio.ensure_future(ws.close(code=code, message=reason.encode()))
    _closing.add(task)
    task.add_done_callback(_closed)


def _closed(task: asyncio.Task[bool]) -> None:
    _closing.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a failed close is a client already gone
