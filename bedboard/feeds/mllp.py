"""The MLLP listener: one per instance (``BEDBOARD_MLLP_LISTEN``) serves every HL7 feed.

Each connection reads MLLP blocks of at most 1 MiB. A block is handed to
``hl7.handle_batch`` together with the complete blocks already buffered behind it (a
sender that pipelines; at most ``hl7.MAX_BATCH``), and their ACKs are written, in order,
once they are all committed; then the connection reads on. A sender that waits for each
ACK sends batches of one. The listener keeps one routing cache (``feeds.routes``) for all
its connections. Addresses no enabled feed admits are refused at accept time; one
address may hold a few connections, the instance at most ``MAX_CONNECTIONS``; idle
connections are closed; repeated refusals are logged once a minute with a count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from hl7.mllp import InvalidBlockError, start_hl7_server  # type: ignore[import-untyped]

from bedboard import database, logsafe
from bedboard.feeds.hl7 import LOG_ONCE_KEEP, MAX_BATCH, handle_batch, log_once
from bedboard.feeds.routes import Routes
from facility_adapters.hl7 import MAX_MESSAGE_BYTES, REJECT, build_ack

# The name operators know from docs/operations.md (this was bedboard/hl7_ingest.py).
log = logging.getLogger("bedboard.hl7_ingest")

MAX_CONNECTIONS = 64
# One sender holds a connection or two; more from one address is someone crowding out
# the real senders.
MAX_CONNECTIONS_PER_ADDRESS = 8
# A connection that sends nothing for this long is closed (a sender reconnects).
IDLE_TIMEOUT_S = 300.0
# Who may connect, as the enabled feeds' allowed_addresses say, is checked this often
# (one read of the routing version; the feeds are read again only when they changed).
GATE_TTL_S = 10.0
# A refusal that keeps happening is logged again at most this often (with a count).
REFUSAL_LOG_INTERVAL_S = 60.0


_recurring: dict[tuple[str, ...], tuple[float, int]] = {}


def _log_recurring(key: tuple[str, ...], message: str, *args: object) -> None:
    """Log now, then at most once per REFUSAL_LOG_INTERVAL_S for the same key, saying how
    many were left unlogged meanwhile: a flood stays visible without filling the log."""
    now = time.monotonic()
    last, suppressed = _recurring.get(key, (-REFUSAL_LOG_INTERVAL_S, 0))
    if now - last < REFUSAL_LOG_INTERVAL_S:
        _recurring[key] = (last, suppressed + 1)
        return
    if len(_recurring) >= LOG_ONCE_KEEP:
        _recurring.clear()
    _recurring[key] = (now, 0)
    extra = f" ({suppressed} more since the last report)" if suppressed else ""
    log.warning(message + "%s", *args, extra)


class _Gate:
    """Which addresses may connect at all: when every enabled hl7 feed lists
    ``allowed_addresses``, an address none of them admits is refused at accept time,
    before it can hold a connection. From the listener's routing cache, checked against
    the database every GATE_TTL_S."""

    def __init__(self, pool: database.Pool, cache: Routes) -> None:
        self._pool = pool
        self._cache = cache
        self._checked_at = -GATE_TTL_S

    async def admits(self, peer_ip: str) -> bool:
        if time.monotonic() - self._checked_at >= GATE_TTL_S:
            async with database.acquire(self._pool) as conn:
                if self._cache.version is None:
                    await self._cache.ensure(conn)
                else:
                    await self._cache.refresh(conn)
            self._checked_at = time.monotonic()
        configs = [route.config for route in self._cache.routes()]
        return not configs or any(cfg.admits(peer_ip) for cfg in configs)


# --------------------------------------------------------------------------- listener


def _peer_ip(writer: Any) -> str:
    peer = writer.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""


_BLOCK_END = b"\x1c\r"


def _block_buffered(reader: Any) -> bool:
    """Whether a complete MLLP block is already in the reader's buffer (so reading it will
    not wait). python-hl7's stream reader is an ``asyncio.StreamReader``; its buffer is
    read here as python-hl7's own ``readblock`` reads it."""
    buffer = getattr(reader, "_buffer", None)
    return isinstance(buffer, bytearray) and buffer.find(_BLOCK_END) != -1


async def _closing_after(exc: BaseException, writer: Any, peer_ip: str, limit: int) -> None:
    """What a block that cannot be read gets before the connection is closed."""
    if isinstance(exc, asyncio.IncompleteReadError):
        if exc.partial.strip():
            log.info("HL7 peer %s closed mid-message (%d bytes dropped)", peer_ip, len(exc.partial))
    elif isinstance(exc, InvalidBlockError):
        log_once(
            ("framing", peer_ip),
            "HL7 peer %s sent data outside MLLP framing (<VT> … <FS><CR>); closing",
            peer_ip,
        )
    else:  # ValueError: over the limit
        log.warning("HL7 peer %s sent a block over %d bytes; closing", peer_ip, limit)
        writer.writeblock(build_ack(b"", REJECT, f"message larger than {limit} bytes"))
        await writer.drain()


_UNREADABLE = (asyncio.IncompleteReadError, InvalidBlockError, ValueError)


async def _serve(
    pool: database.Pool, reader: Any, writer: Any, limit: int, gate: _Gate, cache: Routes
) -> None:
    peer_ip = _peer_ip(writer)
    try:
        try:
            admitted = await gate.admits(peer_ip)
        except database.DOWN_ERRORS:
            admitted = True  # the messages themselves will be answered AE
        if not admitted:
            _log_recurring(
                ("gate", peer_ip),
                "HL7 listener: refused a connection from %s (no enabled feed admits it)",
                peer_ip,
            )
            return
        while True:
            try:
                async with asyncio.timeout(IDLE_TIMEOUT_S):
                    raw: bytes = await reader.readblock()
            except TimeoutError:
                log.debug("HL7 peer %s: idle for %s s; closing", peer_ip, IDLE_TIMEOUT_S)
                return
            except _UNREADABLE as exc:
                await _closing_after(exc, writer, peer_ip, limit)
                return
            batch = [raw]
            unreadable: BaseException | None = None
            while len(batch) < MAX_BATCH and _block_buffered(reader):
                try:
                    batch.append(await reader.readblock())
                except _UNREADABLE as exc:
                    unreadable = exc  # after the ACKs of the blocks before it
                    break
            for ack in await handle_batch(pool, batch, peer_ip, cache=cache):
                writer.writeblock(ack)
            await writer.drain()
            if unreadable is not None:
                await _closing_after(unreadable, writer, peer_ip, limit)
                return
    except (ConnectionError, OSError) as exc:
        log.debug("HL7 peer %s: connection lost: %s", peer_ip, exc)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 -- logged by logsafe
        logsafe.log_failure(log, "HL7 peer %s: connection failed", peer_ip, exc=exc)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


class Listener(asyncio.AbstractServer):
    """The MLLP server. Unlike a bare ``asyncio.Server`` (before Python 3.13), closing it
    also closes the open connections, and ``wait_closed`` waits for their handlers."""

    def __init__(self, server: asyncio.Server, tasks: dict[asyncio.Task[None], Any]) -> None:
        self._server = server
        self._tasks = tasks

    @property
    def sockets(self) -> tuple[Any, ...]:
        return tuple(self._server.sockets)

    def close(self) -> None:
        self._server.close()
        for writer in list(self._tasks.values()):
            writer.close()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._server.get_loop()

    def is_serving(self) -> bool:
        return self._server.is_serving()

    async def start_serving(self) -> None:
        await self._server.start_serving()

    async def serve_forever(self) -> None:
        await self._server.serve_forever()

    async def wait_closed(self) -> None:
        await self._server.wait_closed()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)


async def start_listener(
    pool: database.Pool,
    host: str,
    port: int,
    *,
    limit: int = MAX_MESSAGE_BYTES,
    reuse_port: bool = False,
) -> Listener:
    """Listen for MLLP on ``host:port`` (port 0: any free port; ``.sockets`` tells which).
    Each connection reads blocks of at most ``limit`` bytes, hands those that arrived
    together to ``handle_batch`` and writes their ACKs. Closing the returned server also
    closes the open connections.
    ``reuse_port``: share the port with the other workers of ``serve --workers``."""
    tasks: dict[asyncio.Task[None], Any] = {}  # connection handler -> its writer
    cache = Routes()  # every connection's routing, and the gate's
    gate = _Gate(pool, cache)

    def connected(reader: Any, writer: Any) -> None:
        peer_ip = _peer_ip(writer)
        if len(tasks) >= MAX_CONNECTIONS:
            _log_recurring(
                ("crowded",), "HL7 listener: more than %d connections; refusing", MAX_CONNECTIONS
            )
            writer.close()
            return
        if sum(1 for w in tasks.values() if _peer_ip(w) == peer_ip) >= MAX_CONNECTIONS_PER_ADDRESS:
            _log_recurring(
                ("crowded", peer_ip),
                "HL7 listener: %s already holds %d connections; refusing another",
                peer_ip,
                MAX_CONNECTIONS_PER_ADDRESS,
            )
            writer.close()
            return
        task = asyncio.get_running_loop().create_task(
            _serve(pool, reader, writer, limit, gate, cache)
        )
        tasks[task] = writer
        task.add_done_callback(lambda finished: tasks.pop(finished, None))

    server: asyncio.Server = await start_hl7_server(
        connected, host, port, limit=limit, reuse_port=reuse_port or None
    )
    log.debug("HL7 MLLP listener on %s:%s", host, port)
    return Listener(server, tasks)


__all__ = ["Listener", "start_listener"]
