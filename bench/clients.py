"""Websocket client processes: many ``websockets`` connections each, driven over a pipe.

Each child process opens connections to one or more *targets* (bedboard's ``/ws`` or the
bare baseline), subscribes to the board, and for every ``{"seq": ...}`` frame records the
arrival time (``time.monotonic()``: CLOCK_MONOTONIC, one clock for every process on the
machine) under the frame's ``as_of`` key, and checks that seqs arrive one by one. Frames
are recognised by prefix, not parsed whole, so the clients spend as little CPU as possible
on work the servers are not doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import random
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

SEQ_PREFIX = '{"seq": '
AS_OF_MARK = '"as_of": "'
CONNECT_CONCURRENCY = 32
SUBSCRIBE_TIMEOUT_S = 60.0
# Retries (when asked for): the live protocol's client algorithm, 0.5 s doubling, jittered.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 15.0


@dataclass
class Conn:
    last_seq: int
    url: str = ""
    token: str | None = None
    frames: int = 0
    gaps: int = 0  # seqs skipped over
    out_of_order: int = 0  # seqs at or below one already seen
    close_code: int | None = None
    closed: bool = False
    ws: ClientConnection | None = None
    task: asyncio.Task[None] | None = None
    # Reconnect storms: when the subscription was answered, and when seq watch_seq came.
    subscribed_at: float | None = None
    watch_seq: int | None = None
    reached_at: float | None = None


@dataclass
class Target:
    conns: list[Conn] = field(default_factory=list)
    sockets: list[ClientConnection] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    arrivals: dict[str, array[float]] = field(default_factory=dict)


async def _read(ws: ClientConnection, conn: Conn, target: Target) -> None:
    try:
        async for message in ws:
            now = time.monotonic()
            if not isinstance(message, str) or not message.startswith(SEQ_PREFIX):
                continue
            seq = int(message[8 : message.index(",", 8)])
            conn.frames += 1
            if seq == conn.last_seq + 1:
                conn.last_seq = seq
            elif seq > conn.last_seq:
                conn.gaps += seq - conn.last_seq - 1
                conn.last_seq = seq
            else:
                conn.out_of_order += 1
            if (
                conn.watch_seq is not None
                and conn.reached_at is None
                and conn.last_seq >= conn.watch_seq
            ):
                conn.reached_at = now
            at = message.find(AS_OF_MARK)
            if at >= 0:
                start = at + len(AS_OF_MARK)
                key = message[start : message.index('"', start)]
                got = target.arrivals.get(key)
                if got is None:
                    got = target.arrivals[key] = array("d")
                got.append(now)
    except ConnectionClosed:
        pass
    finally:
        conn.closed = True
        conn.close_code = ws.close_code


class Child:
    """The state of one client process."""

    def __init__(self) -> None:
        self.targets: dict[str, Target] = {}
        self.refusals: list[str] = []  # the first few refused attempts of the last op

    async def open_one(
        self,
        target: Target,
        url: str,
        token: str | None,
        since: int,
        gate: asyncio.Semaphore | None,
        conn: Conn | None = None,
    ) -> str | None:
        """Connect and subscribe from ``since``; ``conn`` (a dropped connection) carries on
        its seq bookkeeping, so a reconnect's catch-up is checked for gaps like live frames."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        async with gate if gate is not None else contextlib.nullcontext():
            try:
                ws = await connect(
                    url,
                    additional_headers=headers,
                    compression=None,
                    ping_interval=None,  # browsers do not ping; the servers do
                    open_timeout=SUBSCRIBE_TIMEOUT_S,
                    close_timeout=2,
                    max_size=2**20,
                )
            except (OSError, TimeoutError, WebSocketException, ValueError) as exc:
                return f"connect: {type(exc).__name__}: {exc}"
            try:
                await ws.send(
                    json.dumps({"type": "subscribe", "topics": ["board"], "since": since})
                )
                reply = json.loads(await asyncio.wait_for(ws.recv(), SUBSCRIBE_TIMEOUT_S))
            except (TimeoutError, ConnectionClosed) as exc:
                await ws.close()
                return f"subscribe: {type(exc).__name__}: {exc}"
            if reply.get("type") != "subscribed":
                await ws.close()
                return f"subscribe refused: {reply}"
            subscribed = time.monotonic()
        if conn is None:
            conn = Conn(last_seq=since, url=url, token=token)
            target.conns.append(conn)
        conn.url, conn.closed, conn.close_code = url, False, None
        conn.subscribed_at = subscribed
        conn.ws = ws
        conn.task = asyncio.create_task(_read(ws, conn, target))
        target.sockets.append(ws)
        target.tasks.append(conn.task)
        return None

    async def drop(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Drop every connection of the target at once: ``abort`` resets the TCP
        connection (a network cut, a proxy restart), ``close`` sends a close frame."""
        target = self.targets[cmd["target"]]
        # Connections the server already closed are dropped too (then reconnected with
        # the rest): a client reconnects after any close.
        for c in target.conns:
            if c.ws is not None and c.closed:
                c.ws = None
        live = [c for c in target.conns if c.ws is not None and not c.closed]
        for c in live:
            assert c.ws is not None
            if cmd["mode"] == "abort":
                c.ws.transport.abort()
        if cmd["mode"] != "abort":
            await asyncio.gather(*(c.ws.close() for c in live if c.ws is not None))
        await asyncio.gather(*(c.task for c in live if c.task is not None))
        target.sockets = [ws for ws in target.sockets if ws not in {c.ws for c in live}]
        for c in live:
            c.ws = None
        return {"dropped": len(live)}

    async def reconnect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """At ``at`` (monotonic), reconnect every dropped connection of the target at once
        (to ``url``, or its own), each subscribing from its last seq; each then records
        when its subscription was answered and when it reached ``watch_seq``."""
        target = self.targets[cmd["target"]]
        dropped = [c for c in target.conns if c.ws is None]
        for c in dropped:
            c.watch_seq, c.reached_at, c.subscribed_at = cmd.get("watch_seq"), None, None
        gate = asyncio.Semaphore(cmd["gate"]) if cmd.get("gate") else None
        delay = cmd["at"] - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        self.refusals = []
        retry_s = float(cmd.get("retry_s") or 0.0)
        errors = await asyncio.gather(
            *(
                self.open_retrying(
                    retry_s, target, cmd.get("url") or c.url, c.token, c.last_seq, gate, c
                )
                for c in dropped
            )
        )
        failed = [e for e, _ in errors if e is not None]
        return {"opened": len(dropped) - len(failed), "failed": len(failed), "errors": failed[:3],
                "refused_then_retried": sum(n for _, n in errors),
                "refusals": self.refusals[:3]}  # fmt: skip

    async def open_retrying(
        self, retry_s: float, target: Target, url: str, token: str | None, since: int,
        gate: asyncio.Semaphore | None, conn: Conn | None = None,
    ) -> tuple[str | None, int]:  # fmt: skip
        """``open_one``, retried with backoff for up to ``retry_s`` (0: once); the error
        left at the end, and how many attempts failed before it."""
        deadline = time.monotonic() + retry_s
        delay = RETRY_FIRST_S
        refused = 0
        while True:
            error = await self.open_one(target, url, token, since, gate, conn)
            if error is None or time.monotonic() + delay > deadline:
                return error, refused
            refused += 1
            if len(self.refusals) < 10:
                self.refusals.append(error)
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, RETRY_MAX_S)

    def storm_times(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Seconds after ``at`` at which each connection was subscribed and caught up."""
        target = self.targets[cmd["target"]]
        at = cmd["at"]
        return {
            "subscribed": [c.subscribed_at - at for c in target.conns if c.subscribed_at],
            "reached": [c.reached_at - at for c in target.conns if c.reached_at is not None],
            "connections": len(target.conns),
            "closed": sum(1 for c in target.conns if c.closed),
            "close_codes": dict(Counter(str(c.close_code) for c in target.conns if c.closed)),
        }

    async def connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        target = self.targets.setdefault(cmd["target"], Target())
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        tokens: list[str | None] = cmd["tokens"] or [None] * cmd["count"]
        retry_s = float(cmd.get("retry_s") or 0.0)
        self.refusals = []
        errors = await asyncio.gather(
            *(
                self.open_retrying(retry_s, target, cmd["url"], tok, cmd["since"], gate)
                for tok in tokens
            )
        )
        failed = [e for e, _ in errors if e is not None]
        return {"opened": len(tokens) - len(failed), "failed": len(failed), "errors": failed[:3],
                "refused_then_retried": sum(n for _, n in errors),
                "refusals": self.refusals[:3]}  # fmt: skip

    async def sync(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Wait until every open connection of the target has seen seq ``seq``."""
        target = self.targets[cmd["target"]]
        deadline = time.monotonic() + cmd["timeout"]
        started = time.monotonic()
        while True:
            behind = [c for c in target.conns if not c.closed and c.last_seq < cmd["seq"]]
            if not behind or time.monotonic() > deadline:
                return {"behind": len(behind), "waited_s": time.monotonic() - started}
            await asyncio.sleep(0.02)

    def collect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Arrivals since the last collect, and each connection's seq bookkeeping."""
        target = self.targets[cmd["target"]]
        arrivals, target.arrivals = target.arrivals, {}
        expected = cmd.get("expected_seq")
        codes = Counter(str(c.close_code) for c in target.conns if c.closed)
        return {
            "arrivals": arrivals,
            "connections": len(target.conns),
            "closed": sum(1 for c in target.conns if c.closed),
            "close_codes": dict(codes),
            "frames": sum(c.frames for c in target.conns),
            "gaps": sum(c.gaps for c in target.conns),
            "out_of_order": sum(c.out_of_order for c in target.conns),
            "behind": (
                sum(max(expected - c.last_seq, 0) for c in target.conns)
                if expected is not None
                else 0
            ),
            "clients_with_problems": sum(
                1
                for c in target.conns
                if c.gaps
                or c.out_of_order
                or (expected is not None and c.last_seq < expected)
                or c.closed
            ),
        }

    async def close(self) -> None:
        for target in self.targets.values():
            for ws in target.sockets:
                with contextlib.suppress(Exception):
                    await ws.close()
            for task in target.tasks:
                task.cancel()
            await asyncio.gather(*target.tasks, return_exceptions=True)


async def _serve(pipe: Connection) -> None:
    child = Child()
    while True:
        cmd: dict[str, Any] = await asyncio.to_thread(pipe.recv)
        op = cmd["op"]
        reply: dict[str, Any]
        try:
            if op == "connect":
                reply = await child.connect(cmd)
            elif op == "sync":
                reply = await child.sync(cmd)
            elif op == "collect":
                reply = child.collect(cmd)
            elif op == "drop":
                reply = await child.drop(cmd)
            elif op == "reconnect":
                reply = await child.reconnect(cmd)
            elif op == "storm_times":
                reply = child.storm_times(cmd)
            elif op == "close":
                await child.close()
                pipe.send({"closed": True})
                return
            else:
                reply = {"error": f"unknown op {op}"}
        except Exception as exc:  # noqa: BLE001 -- the controller must hear of it, not hang
            reply = {"error": f"{op}: {type(exc).__name__}: {exc}"}
        pipe.send(reply)


def child_main(pipe: Connection) -> None:
    from bench.serve import raise_nofile_limit

    raise_nofile_limit()
    asyncio.run(_serve(pipe))


# --------------------------------------------------------------------------- controller


def _merge_opened(replies: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "opened": sum(r["opened"] for r in replies),
        "failed": sum(r["failed"] for r in replies),
        "errors": [e for r in replies for e in r["errors"]][:3],
        "refused_then_retried": sum(r.get("refused_then_retried", 0) for r in replies),
        "refusals": [e for r in replies for e in r.get("refusals", [])][:3],
    }


class Fleet:
    """Client processes, started with the ``spawn`` method (no forked event loops)."""

    def __init__(self, processes: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._pipes: list[Connection] = []
        self._procs: list[multiprocessing.process.BaseProcess] = []
        for i in range(processes):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=child_main, args=(child,), name=f"bench-ws-{i}", daemon=True)
            proc.start()
            child.close()
            self._pipes.append(parent)
            self._procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self._procs if proc.pid is not None]

    @property
    def size(self) -> int:
        return len(self._pipes)

    async def _ask(self, index: int, cmd: dict[str, Any]) -> dict[str, Any]:
        pipe = self._pipes[index]
        pipe.send(cmd)
        reply: dict[str, Any] = await asyncio.to_thread(pipe.recv)
        if "error" in reply:
            raise RuntimeError(f"websocket client process {index}: {reply['error']}")
        return reply

    async def ask_all(self, cmd: dict[str, Any]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self._ask(i, cmd) for i in range(self.size))))

    async def connect(
        self, target: str, url: str, tokens: list[str] | None, count: int, since: int,
        retry_s: float = 0.0,
    ) -> dict[str, Any]:  # fmt: skip
        """Open ``count`` connections spread evenly over the processes."""
        shares = [
            count // self.size + (1 if i < count % self.size else 0) for i in range(self.size)
        ]
        jobs = []
        offset = 0
        for i, share in enumerate(shares):
            mine = tokens[offset : offset + share] if tokens is not None else None
            offset += share
            cmd = {"op": "connect", "target": target, "url": url, "tokens": mine, "count": share,
                   "since": since, "retry_s": retry_s}  # fmt: skip
            jobs.append(self._ask(i, cmd))
        replies = await asyncio.gather(*jobs)
        return _merge_opened(replies)

    async def drop(self, target: str, mode: str) -> int:
        replies = await self.ask_all({"op": "drop", "target": target, "mode": mode})
        return sum(r["dropped"] for r in replies)

    async def reconnect(
        self, target: str, at: float, watch_seq: int | None, url: str | None = None,
        gate: int = 0, retry_s: float = 0.0,
    ) -> dict[str, Any]:  # fmt: skip
        """Every process reconnects its dropped connections of ``target`` at ``at``
        (refused attempts retried with backoff for up to ``retry_s``)."""
        replies = await self.ask_all({"op": "reconnect", "target": target, "at": at,
                                      "watch_seq": watch_seq, "url": url, "gate": gate,
                                      "retry_s": retry_s})  # fmt: skip
        return _merge_opened(replies)

    async def storm_times(self, target: str, at: float) -> dict[str, Any]:
        replies = await self.ask_all({"op": "storm_times", "target": target, "at": at})
        codes: Counter[str] = Counter()
        for r in replies:
            codes.update(r["close_codes"])
        return {
            "subscribed": [t for r in replies for t in r["subscribed"]],
            "reached": [t for r in replies for t in r["reached"]],
            "connections": sum(r["connections"] for r in replies),
            "closed": sum(r["closed"] for r in replies),
            "close_codes": dict(codes),
        }

    async def sync(self, target: str, seq: int, wait_s: float) -> int:
        """Wait for every client to reach ``seq``; return how many are still behind."""
        replies = await self.ask_all({"op": "sync", "target": target, "seq": seq,
                                      "timeout": wait_s})  # fmt: skip
        return sum(r["behind"] for r in replies)

    async def collect(self, target: str, expected_seq: int | None = None) -> dict[str, Any]:
        replies = await self.ask_all(
            {"op": "collect", "target": target, "expected_seq": expected_seq}
        )
        arrivals: dict[str, list[float]] = {}
        for reply in replies:
            for key, values in reply["arrivals"].items():
                arrivals.setdefault(key, []).extend(values)
        merged: dict[str, Any] = {"arrivals": arrivals}
        for name in ("connections", "closed", "frames", "gaps", "out_of_order", "behind",
                     "clients_with_problems"):  # fmt: skip
            merged[name] = sum(r[name] for r in replies)
        codes: Counter[str] = Counter()
        for reply in replies:
            codes.update(reply["close_codes"])
        merged["close_codes"] = dict(codes)
        return merged

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ask_all({"op": "close"}), 30)
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
