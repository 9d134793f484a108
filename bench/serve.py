"""Server processes for the benchmark: bedboard itself, and the bare aiohttp baseline.

``python -m bench.serve app --dsn DSN --data-dir DIR`` runs ``create_app`` as ``bedboard
serve`` would (no access log, 127.0.0.1, a free port). ``python -m bench.serve bare [--dsn DSN]`` runs
the baseline: a minimal JSON handler (``GET /json``) and a minimal websocket broadcast
(``GET /ws`` to connect, ``POST /emit`` to send one frame to every client); with ``--dsn``
also S1's floor as one chain (``POST /chain``: raw UPDATE + ``pg_notify``, commit, LISTEN,
broadcast; see ``Chain``). Both print
``READY <port>`` once listening and stop on SIGTERM.

``python -m bench.serve hl7 --dsn DSN`` runs bedboard's MLLP listener
(``bedboard.feeds.mllp.start_listener`` with a pool from ``database.create_pool``, as an
instance with ``BEDBOARD_MLLP_LISTEN`` set would) and ``python -m bench.serve mllp-insert
--dsn DSN`` its baseline: python-hl7's MLLP streams that parse every block, INSERT it into
a real table (``bench_mllp_log``) in its own transaction with ``synchronous_commit`` on,
and answer ``create_ack("AA")`` after the commit. ``mllp-effects`` is H1's second floor:
the durable effects bedboard guarantees for a bed event written by one bare statement
(``EFFECTS_SQL``). ``mllp-echo`` is the same without the database (the earlier
baseline). Both print ``READY <http port> <mllp
port>`` (the HTTP port serves only the lag probe).

Both also run the same event-loop lag probe (``GET /_bench/lag``), a bench-side addition:
it shows when the server's loop was blocked, which no latency figure alone explains.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

LAG_INTERVAL_S = 0.01
BACKLOG = 4096
SECRET_KEY = "bench-secret-key-" + "x" * 32


def raise_nofile_limit() -> int:
    """Raise the soft open-file limit to the hard one; return the new soft limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


class LagProbe:
    """Wakes every 10 ms and records how late it woke (the loop was busy that long)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            expected = time.monotonic() + LAG_INTERVAL_S
            await asyncio.sleep(LAG_INTERVAL_S)
            self.samples.append(max(time.monotonic() - expected, 0.0))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def take(self) -> dict[str, Any]:
        samples, self.samples = sorted(self.samples), []
        if not samples:
            return {"n": 0}
        return {
            "n": len(samples),
            "p50_ms": samples[len(samples) // 2] * 1000,
            "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000,
            "max_ms": samples[-1] * 1000,
            "over_100ms": sum(1 for s in samples if s > 0.1),
        }


LAG = web.AppKey("bench_lag", LagProbe)
MLLP_PORT: web.AppKey[list[int]] = web.AppKey("bench_mllp_port")


async def lag_handler(request: web.Request) -> web.Response:
    return web.json_response(request.app[LAG].take())


def add_lag_probe(app: web.Application) -> None:
    app[LAG] = LagProbe()

    async def ctx(app: web.Application) -> Any:
        app[LAG].start()
        yield
        await app[LAG].stop()

    app.cleanup_ctx.append(ctx)
    app.router.add_get("/_bench/lag", lag_handler)


# --------------------------------------------------------------------------- the baseline


CLIENTS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("bare_clients")
SEQ: web.AppKey[list[int]] = web.AppKey("bare_seq")
EMIT_LOCK = web.AppKey("bare_emit_lock", asyncio.Lock)


async def bare_json(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "seq": 1})


async def bare_ws(request: web.Request) -> web.WebSocketResponse:
    """Answer the subscribe message like bedboard does, then just stay registered."""
    ws = web.WebSocketResponse(compress=False, heartbeat=30.0)
    await ws.prepare(request)
    clients: set[web.WebSocketResponse] = request.app[CLIENTS]
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                clients.add(ws)
                await ws.send_str(json.dumps({"type": "subscribed", "topics": ["board"]}))
    finally:
        clients.discard(ws)
    return ws


async def bare_emit(request: web.Request) -> web.Response:
    """Encode the posted payload once as a board frame and send it to every client.

    The change "happens" when the request is read (``t0``); broadcasts run one at a time,
    so a change waits behind the previous one as it would in any server."""
    payload = await request.json()
    started = time.monotonic()
    async with request.app[EMIT_LOCK]:
        seq_box: list[int] = request.app[SEQ]
        seq_box[0] += 1
        seq = seq_box[0]
        frame = json.dumps({"seq": seq, "topic": "board", "data": payload})
        sent = 0
        clients = request.app[CLIENTS]
        for ws in list(clients):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(frame)
                sent += 1
    return web.json_response({"seq": seq, "t0": started, "sent": sent})


async def bare_state(request: web.Request) -> web.Response:
    return web.json_response({"seq": request.app[SEQ][0], "clients": len(request.app[CLIENTS])})


class Chain:
    """The floor of S1 as one chain: a POSTed change is written with a raw UPDATE +
    ``pg_notify`` on a pooled connection and committed (then the request is answered); a
    second, LISTENing connection hears it and the change is broadcast to every client as
    ``/emit`` does. Nothing is read back: the frame is the posted payload."""

    CHANNEL = "bench_chain"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.pool: Any = None
        self.listener: Any = None
        self.pending: dict[str, Any] = {}
        self.heard: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
        self.log: dict[str, dict[str, float]] = {}  # key -> read, committed, heard, sent
        self.task: asyncio.Task[None] | None = None

    async def start(self, app: web.Application) -> None:
        import asyncpg

        self.pool = await asyncpg.create_pool(self.dsn, min_size=4, max_size=4)
        self.listener = await asyncpg.connect(self.dsn)
        await self.listener.add_listener(self.CHANNEL, self._on_notify)
        self.task = asyncio.create_task(self._broadcast(app))

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        self.heard.put_nowait((str(payload), time.monotonic()))

    async def _broadcast(self, app: web.Application) -> None:
        while True:
            key, heard = await self.heard.get()
            data = self.pending.pop(key)
            async with app[EMIT_LOCK]:
                seq_box = app[SEQ]
                seq_box[0] += 1
                frame = json.dumps({"seq": seq_box[0], "topic": "board", "data": data})
                clients: set[web.WebSocketResponse] = app[CLIENTS]
                for ws in list(clients):
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await ws.send_str(frame)
            self.log.setdefault(key, {}).update(heard=heard, sent=time.monotonic())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.listener is not None:
            await self.listener.close()
        if self.pool is not None:
            await self.pool.close()


CHAIN = web.AppKey("bare_chain", Chain)


async def bare_chain(request: web.Request) -> web.Response:
    """``{"key", "unit_id", "available", "payload"}``: write, commit, answer; the
    broadcast follows the NOTIFY."""
    body = await request.json()
    read = time.monotonic()
    chain = request.app[CHAIN]
    key = str(body["key"])
    chain.pending[key] = body["payload"]
    chain.log.setdefault(key, {})["read"] = read
    async with chain.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE unit_census SET available = $2 WHERE unit_id = $1",
            int(body["unit_id"]),
            int(body["available"]),
        )
        await conn.execute("SELECT pg_notify($1, $2)", Chain.CHANNEL, key)
    chain.log[key]["committed"] = time.monotonic()
    return web.json_response({"ok": True})


async def bare_chain_log(request: web.Request) -> web.Response:
    """The chain's timestamps since the last call (complete entries only)."""
    chain = request.app[CHAIN]
    done = {k: v for k, v in chain.log.items() if len(v) == 4}  # read, committed, heard, sent
    for key in done:
        del chain.log[key]
    return web.json_response(done)


def bare_app(dsn: str | None = None) -> web.Application:
    app = web.Application()
    app[CLIENTS] = set()
    app[SEQ] = [0]
    app[EMIT_LOCK] = asyncio.Lock()
    app.router.add_get("/json", bare_json)
    app.router.add_get("/ws", bare_ws)
    app.router.add_post("/emit", bare_emit)
    app.router.add_get("/state", bare_state)
    if dsn is not None:
        chain = app[CHAIN] = Chain(dsn)
        app.router.add_post("/chain", bare_chain)
        app.router.add_get("/chain/log", bare_chain_log)

        async def chain_ctx(app: web.Application) -> Any:
            await chain.start(app)
            yield
            await chain.stop()

        app.cleanup_ctx.append(chain_ctx)

    async def close_all(app: web.Application) -> None:
        clients = app[CLIENTS]
        for ws in list(clients):
            await ws.close()

    app.on_shutdown.append(close_all)
    return app


# --------------------------------------------------------------------------- MLLP


async def _echo_connected(reader: Any, writer: Any) -> None:
    """The bare MLLP baseline: parse each block with python-hl7 and answer AA at once."""
    import hl7  # type: ignore[import-untyped]

    try:
        while True:
            block: bytes = await reader.readblock()
            ack = hl7.parse(block.decode("utf-8")).create_ack("AA")
            writer.writeblock(str(ack).encode("utf-8"))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        pass
    finally:
        writer.close()


MLLP_LOG_DDL = """
CREATE TABLE IF NOT EXISTS bench_mllp_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sending_facility text NOT NULL,
    control_id text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    message text NOT NULL
)"""


def _insert_handler(pool: Any) -> Any:
    """H1's floor: parse each block with python-hl7 as the echo does, INSERT it (MSH-4,
    MSH-10, the message) into a real table in its own transaction with synchronous_commit
    on, and answer AA only after the commit."""
    import hl7

    sql = "INSERT INTO bench_mllp_log (sending_facility, control_id, message) VALUES ($1, $2, $3)"

    async def connected(reader: Any, writer: Any) -> None:
        try:
            while True:
                block: bytes = await reader.readblock()
                text = block.decode("utf-8")
                message = hl7.parse(text)
                msh = message.segment("MSH")
                async with pool.acquire() as conn:
                    await conn.execute(sql, str(msh[4]), str(msh[10]), text)
                writer.writeblock(str(message.create_ack("AA")).encode("utf-8"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    return connected


# H1's second floor: the durable effects bedboard guarantees for a bed event, written the
# cheapest way there is: one statement in its own transaction, the census counted in SQL,
# no lock, no validation, no routing beyond a dict. The same tables, indexes, foreign keys
# and NOTIFY as bedboard: the control id remembered, the bed upserted, the unit's census
# upserted (only if newer) with its history row and freshness, one outbox row and its
# NOTIFY, the feed's health and count. Its source is ``bench-effects`` (not ``feed:…``),
# so the bench's check of bedboard's own rows afterwards leaves it out.
EFFECTS_SQL = """
    WITH m AS (
        INSERT INTO hl7_messages (sending_facility, control_id, feed_id) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING RETURNING 1
    ), b AS (
        INSERT INTO hl7_beds AS b (feed_id, bed, point_of_care, status, last_event_at)
        SELECT $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM m)
        ON CONFLICT (feed_id, bed) DO UPDATE
           SET status = EXCLUDED.status, last_event_at = EXCLUDED.last_event_at
         WHERE b.last_event_at <= EXCLUDED.last_event_at
        RETURNING 1
    ), counted AS (
        SELECT count(*) FILTER (WHERE status = 'O' AND bed <> $4)
               + CASE WHEN $6 = 'O' THEN 1 ELSE 0 END AS occupied
          FROM hl7_beds WHERE feed_id = $3 AND point_of_care = $5
    ), c AS (
        INSERT INTO unit_census AS c (unit_id, staffed, occupied, blocked, available, as_of,
                                      source)
        SELECT $8, $9::int, occupied, 0, $9::int - occupied, $7, 'bench-effects'
          FROM counted WHERE EXISTS (SELECT 1 FROM b)
        ON CONFLICT (unit_id) DO UPDATE
           SET staffed = EXCLUDED.staffed, occupied = EXCLUDED.occupied,
               available = EXCLUDED.available, as_of = EXCLUDED.as_of, received_at = now(),
               source = EXCLUDED.source
         WHERE c.as_of < EXCLUDED.as_of
        RETURNING c.*
    ), h AS (
        INSERT INTO census_history (unit_id, staffed, occupied, blocked, available, as_of,
                                    source)
        SELECT unit_id, staffed, occupied, blocked, available, as_of, source FROM c
    ), fresh AS (
        INSERT INTO unit_freshness (unit_id, state) SELECT unit_id, 'fresh' FROM c
        ON CONFLICT (unit_id) DO UPDATE SET state = EXCLUDED.state, changed_at = now()
         WHERE unit_freshness.state <> EXCLUDED.state
    ), counter AS (
        UPDATE outbox_counter SET seq = seq + 1 WHERE EXISTS (SELECT 1 FROM c) RETURNING seq
    ), o AS (
        INSERT INTO board_outbox (seq, topic, payload)
        SELECT counter.seq, 'board', jsonb_build_object('kind', 'unit', 'unit', to_jsonb(c))
          FROM counter CROSS JOIN c
        RETURNING seq
    ), rang AS (
        SELECT pg_notify($10, max(seq)::text) FROM o HAVING count(*) > 0
    ), health AS (
        UPDATE feed_status SET state = 'ok', last_attempt_at = now(), last_success_at = now(),
               reports_applied = reports_applied + (SELECT count(*) FROM c)
         WHERE feed_id = $3
    )
    SELECT (SELECT count(*) FROM rang) AS rang
"""


async def _effects_routes(conn: Any) -> dict[str, tuple[int, dict[str, tuple[int, int]]]]:
    """sending facility -> (feed id, point of care -> (unit id, declared beds))."""
    routes: dict[str, tuple[int, dict[str, tuple[int, int]]]] = {}
    for r in await conn.fetch(
        "SELECT f.id, f.config, m.source_id, m.unit_id FROM feeds f"
        " JOIN feed_mappings m ON m.feed_id = f.id WHERE f.kind = 'hl7'"
    ):
        config = r["config"] if isinstance(r["config"], dict) else json.loads(r["config"])
        feed = routes.setdefault(config["sending_facility"], (r["id"], {}))
        declared = len(config.get("beds", {}).get(r["source_id"], []))
        feed[1][r["source_id"]] = (r["unit_id"], declared)
    return routes


def _effects_handler(pool: Any, routes: dict[str, tuple[int, dict[str, tuple[int, int]]]]) -> Any:
    """Parse with python-hl7 as the INSERT floor does, write the effects in one statement
    (``EFFECTS_SQL``), answer ``create_ack("AA")`` after its commit."""
    import hl7

    from bedboard.outbox import CHANNEL

    async def connected(reader: Any, writer: Any) -> None:
        try:
            while True:
                block: bytes = await reader.readblock()
                message = hl7.parse(block.decode("utf-8"))
                facility = str(message.extract_field("MSH", 1, 4, 1, 1))
                feed_id, points = routes[facility]
                poc = str(message.extract_field("PV1", 1, 3, 1, 1))
                unit_id, declared = points[poc]
                trigger = str(message.extract_field("MSH", 1, 9, 1, 2))
                async with pool.acquire() as conn:
                    await conn.fetchval(
                        EFFECTS_SQL,
                        facility,
                        str(message.extract_field("MSH", 1, 10, 1, 1)),
                        feed_id,
                        str(message.segment("PV1")[3]),
                        poc,
                        "O" if trigger == "A01" else "U",
                        hl7.parse_datetime(str(message.segment("EVN")[2])),
                        unit_id,
                        declared,
                        CHANNEL,
                    )
                writer.writeblock(str(message.create_ack("AA")).encode("utf-8"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    return connected


def mllp_app(kind: str, dsn: str | None) -> web.Application:
    """An HTTP app holding only the lag probe, whose startup opens the MLLP server."""
    app = web.Application()
    app[MLLP_PORT] = []

    async def ctx(app: web.Application) -> Any:
        from hl7.mllp import start_hl7_server  # type: ignore[import-untyped]

        pool = None
        server: asyncio.AbstractServer
        if kind == "hl7":
            from bedboard import database
            from bedboard.feeds.mllp import start_listener

            assert dsn is not None
            pool = await database.create_pool(dsn)
            server = await start_listener(pool, "127.0.0.1", 0)
        elif kind == "mllp-insert":
            import asyncpg

            # The listener's pool size (database.create_pool's defaults), commits durable.
            pool = await asyncpg.create_pool(
                dsn, min_size=2, max_size=10, server_settings={"synchronous_commit": "on"}
            )
            async with pool.acquire() as conn:
                await conn.execute(MLLP_LOG_DDL)
            server = await start_hl7_server(_insert_handler(pool), "127.0.0.1", 0)
        elif kind == "mllp-effects":
            import asyncpg

            pool = await asyncpg.create_pool(
                dsn, min_size=2, max_size=10, server_settings={"synchronous_commit": "on"}
            )
            async with pool.acquire() as conn:
                routes = await _effects_routes(conn)
            server = await start_hl7_server(_effects_handler(pool, routes), "127.0.0.1", 0)
        else:
            server = await start_hl7_server(_echo_connected, "127.0.0.1", 0)
        sockets: Any = getattr(server, "sockets", ())
        app[MLLP_PORT].append(int(sockets[0].getsockname()[1]))
        yield
        server.close()
        await server.wait_closed()
        if pool is not None:
            await pool.close()

    app.cleanup_ctx.append(ctx)
    return app


# --------------------------------------------------------------------------- bedboard


def bedboard_app(dsn: str, data_dir: Path) -> web.Application:
    from bedboard.app import create_app, settle_heap
    from bedboard.settings import Settings

    settings = Settings(
        database_url=dsn,
        data_dir=data_dir,
        secret_key=SECRET_KEY,
        host="127.0.0.1",
        log_level="WARNING",
    )
    app = create_app(settings, migrate=False)
    app.router.add_get("/_bench/live", live_handler)
    app.on_startup.append(settle_heap)  # as `bedboard serve` does
    return app


async def live_handler(request: web.Request) -> web.Response:
    """bedboard's own live counters: how many subscribers, frames and resync cuts."""
    from bedboard.context import HUB, LISTENER

    hub, listener = request.app[HUB], request.app[LISTENER]
    return web.json_response(
        {
            "subscribers": hub.subscriber_count,
            "last_seq": hub.last_seq,
            "frames_encoded": hub.frames_encoded,
            "clients_cut": hub.clients_cut,
            "listener_reconnects": listener.reconnects,
        }
    )


async def serve(app: web.Application, profile_to: Path | None = None) -> None:
    add_lag_probe(app)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # loopback only; the kernel picks a free port
    port = sock.getsockname()[1]
    site = web.SockSite(runner, sock, backlog=BACKLOG)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    profiler = None
    if profile_to is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    extra = "".join(f" {p}" for p in app.get(MLLP_PORT, []))
    print(f"READY {port}{extra}", flush=True)
    await stop.wait()
    if profiler is not None and profile_to is not None:
        profiler.disable()
        profiler.dump_stats(profile_to)
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument(
        "kind", choices=("app", "bare", "hl7", "mllp-echo", "mllp-insert", "mllp-effects")
    )
    parser.add_argument("--dsn")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--profile", type=Path, help="write cProfile stats here on exit")
    args = parser.parse_args(argv)
    raise_nofile_limit()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    if args.kind == "app":
        if not args.dsn or not args.data_dir:
            parser.error("app needs --dsn and --data-dir")
        app = bedboard_app(args.dsn, args.data_dir)
    elif args.kind in ("hl7", "mllp-echo", "mllp-insert", "mllp-effects"):
        if args.kind != "mllp-echo" and not args.dsn:
            parser.error(f"{args.kind} needs --dsn")
        logging.getLogger("bedboard.hl7_ingest").setLevel(logging.WARNING)
        app = mllp_app(args.kind, args.dsn)
    else:
        app = bare_app(args.dsn)
    asyncio.run(serve(app, args.profile))


if __name__ == "__main__":
    main()
