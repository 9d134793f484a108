"""S1: an authenticated census PUT until its frame reaches every subscribed websocket.

Subject: ``PUT /api/v1/units/{id}/census`` (facility staff token) at a steady rate while
``s1_clients`` websocket clients (viewer tokens, in separate processes) follow the board;
latency = PUT sent -> frame arrival, for every client and every update.

Floor, measured in the same run as one chain: the same clients' twins (same processes)
follow the bare server (``bench/serve.py bare --dsn``), and the bench POSTs a change to its
``/chain`` at the same rate: the bare server writes it with a raw ``UPDATE unit_census`` +
``pg_notify`` on a pooled connection and commits, a second connection LISTENing hears it,
and the bare server sends a frame of the same shape and size (a real board frame) to every
client. Latency = POST sent -> frame arrival, for every client and every change: the
UPDATE+NOTIFY->LISTEN part, the bare handler part and the bare broadcast to N clients,
measured end to end. Subject and floor rounds alternate (the order flips every round).
Target: S1 p99 <= 2 x the floor's p99, met only with every PUT applied and every update
delivered to every client in seq order.

Beside it (not judged): per event (an update's last client) p99 of both and their ratio;
the median of per-round ratios; the chain's legs from the bare server's timestamps; and
the parts measured apart as before, between the rounds: (a) raw asyncpg UPDATE +
``pg_notify`` committed -> the LISTEN callback, (b) a round trip to the bare JSON handler,
summed with (c) the chain's broadcast leg (LISTEN heard -> arrival at every client).
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import asyncpg

from bench import stats
from bench.clients import Fleet
from bench.harness import AsOfClock, Harness, head_seq, paced, parse_key, wire_time
from bench.s4_fanout import board_frame_template
from bench.servers import CpuMeter, ServerProcess

TARGET_RATIO = 2.0
PROBE_CHANNEL = "bench_probe"
SYNC_TIMEOUT_S = 15.0


class NotifyProbe:
    """UPDATE + pg_notify on one raw connection, timed until LISTEN hears it on another."""

    def __init__(self, writer: asyncpg.Connection, unit_id: int) -> None:
        self.writer = writer
        self.unit_id = unit_id
        self.heard: dict[str, asyncio.Future[float]] = {}

    def on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        future = self.heard.pop(str(payload), None)
        if future is not None and not future.done():
            future.set_result(time.monotonic())

    async def once(self, i: int) -> float:
        key = str(i)
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.heard[key] = future
        started = time.monotonic()
        async with self.writer.transaction():
            await self.writer.execute(
                "UPDATE unit_census SET available = $2 WHERE unit_id = $1", self.unit_id, i % 7
            )
            await self.writer.execute("SELECT pg_notify($1, $2)", PROBE_CHANNEL, key)
        heard = await asyncio.wait_for(future, 10)
        return (heard - started) * 1000


async def handler_round_trip(session: aiohttp.ClientSession, url: str) -> float:
    started = time.monotonic()
    async with session.get(url) as resp:
        await resp.read()
        resp.raise_for_status()
    return (time.monotonic() - started) * 1000


def _by_event(
    arrivals: dict[str, list[float]], origins: dict[datetime, tuple[float, int]]
) -> tuple[dict[int, list[float]], list[float], list[float], int]:
    """Latency of every (change, client) by round; per change its first and last client
    (ms); and the deliveries counted."""
    by_round: dict[int, list[float]] = {}
    first: list[float] = []
    last: list[float] = []
    delivered = 0
    for key, times in arrivals.items():
        origin = origins.get(parse_key(key))
        if origin is None:
            continue
        t0, rnd = origin
        values = [(a - t0) * 1000 for a in times]
        by_round.setdefault(rnd, []).extend(values)
        first.append(min(values))
        last.append(max(values))
        delivered += len(values)
    return by_round, first, last, delivered


def _integrity(got: dict[str, Any], changes: int, delivered: int, behind: int) -> dict[str, Any]:
    return {
        "clients": got["connections"],
        "updates": changes,
        "deliveries_expected": changes * got["connections"],
        "deliveries_missing": changes * got["connections"] - delivered,
        "seq_gaps": got["gaps"],
        "seq_out_of_order": got["out_of_order"],
        "seq_behind_at_end": got["behind"],
        "clients_still_behind_after_wait": behind,
        "connections_closed": got["closed"],
        "close_codes": got["close_codes"],
        "clients_with_problems": got["clients_with_problems"],
    }


REQUEST_LEG = "request: POST sent -> body read"
WRITE_LEG = "write: body read -> LISTEN callback (UPDATE + pg_notify, commit, notification)"
BROADCAST_LEG = "broadcast: LISTEN callback -> arrival, every client"
SEND_LOOP = "server send loop: LISTEN callback -> last send returned"
HANDLER_COMMIT = "handler: body read -> commit returned (the LISTEN callback often runs first)"


def _legs(
    log: dict[str, dict[str, float]],
    origins: dict[datetime, tuple[float, int]],
    arrivals: dict[str, list[float]],
) -> dict[str, list[float]]:
    """The chain's legs in ms, from the bare server's timestamps (one clock). The first
    three add up to the chain; the last two are shown for reference."""
    legs: dict[str, list[float]] = {}
    for key, t in log.items():
        origin = origins.get(parse_key(key))
        if origin is None:
            continue
        legs.setdefault(REQUEST_LEG, []).append((t["read"] - origin[0]) * 1000)
        legs.setdefault(WRITE_LEG, []).append((t["heard"] - t["read"]) * 1000)
        legs.setdefault(BROADCAST_LEG, []).extend(
            (a - t["heard"]) * 1000 for a in arrivals.get(key, [])
        )
        legs.setdefault(SEND_LOOP, []).append((t["sent"] - t["heard"]) * 1000)
        legs.setdefault(HANDLER_COMMIT, []).append((t["committed"] - t["read"]) * 1000)
    return legs


async def run(h: Harness, app: ServerProcess) -> dict[str, Any]:
    p = h.profile
    assert h.bare is not None and h.clock is not None
    bare, clock = h.bare, h.clock
    units: list[tuple[int, int]] = h.facts["board_units_for_updates"]
    floor_units: list[int] = h.facts["board_floor_units"]
    staff = {"Authorization": f"Bearer {h.facts['board_staff_token']}"}
    viewer_tokens: list[str] = h.facts["board_viewer_tokens"][: p.s1_clients]
    floor_clock = AsOfClock(clock.base - timedelta(days=2))

    fleet = Fleet(p.s1_processes)
    writer = await asyncpg.connect(h.board_dsn)
    listener = await asyncpg.connect(h.board_dsn)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
    try:
        since = await head_seq(h.board_dsn)
        opened = await fleet.connect("s1", app.ws_url, viewer_tokens, p.s1_clients, since)
        bare_seq = (await bare.get_json("/state"))["seq"]
        opened_floor = await fleet.connect("floor", bare.ws_url, None, p.s1_clients, bare_seq)
        if opened["failed"] or opened_floor["failed"]:
            raise RuntimeError(f"S1: websocket clients failed: {opened} / {opened_floor}")
        template = await board_frame_template(writer)
        probe = NotifyProbe(writer, h.facts["board_probe_unit"])
        await listener.add_listener(PROBE_CHANNEL, probe.on_notify)

        sends: dict[Any, tuple[float, int]] = {}  # as_of -> (PUT sent, round)
        chains: dict[datetime, tuple[float, int]] = {}  # as_of -> (POST sent, round)
        put_ms: list[float] = []
        put_failures: list[str] = []
        chain_failures: list[str] = []
        phase = {"round": -1}  # -1: warm-up

        async def put(i: int) -> None:
            unit_id, _ = units[i % len(units)]
            as_of = clock.next()
            body = {"as_of": as_of.isoformat(), "staffed": 24, "occupied": 10 + i % 11,
                    "blocked": i % 2}  # fmt: skip
            started = time.monotonic()
            if phase["round"] >= 0:
                sends[as_of] = (started, phase["round"])
            async with session.put(
                f"{app.base_url}/api/v1/units/{unit_id}/census", json=body, headers=staff
            ) as resp:
                raw = await resp.read()
            elapsed = (time.monotonic() - started) * 1000
            outcome = json.loads(raw)["results"][0]["outcome"] if resp.status == 200 else None
            if outcome != "applied":
                put_failures.append(f"{resp.status} {raw[:200]!r}")
            elif phase["round"] >= 0:
                put_ms.append(elapsed)

        async def chain(i: int) -> None:
            as_of = floor_clock.next()
            payload = copy.deepcopy(template)
            payload["unit"]["as_of"] = wire_time(as_of)
            body = {"key": wire_time(as_of), "unit_id": floor_units[i % len(floor_units)],
                    "available": i % 7, "payload": payload}  # fmt: skip
            started = time.monotonic()
            if phase["round"] >= 0:
                chains[as_of] = (started, phase["round"])
            async with session.post(f"{bare.base_url}/chain", json=body) as resp:
                raw = await resp.read()
            if resp.status != 200:
                chain_failures.append(f"{resp.status} {raw[:200]!r}")

        notify_ms: dict[int, list[float]] = {}
        handler_ms: dict[int, list[float]] = {}

        async def baseline_probe(i: int) -> None:
            if i % 2 == 0:
                value = await probe.once(i)
                if phase["round"] >= 0:
                    notify_ms.setdefault(phase["round"], []).append(value)
            else:
                value = await handler_round_trip(session, f"{bare.base_url}/json")
                if phase["round"] >= 0:
                    handler_ms.setdefault(phase["round"], []).append(value)

        meter = CpuMeter({"bedboard": [app.pid], "bare": [bare.pid], "clients": fleet.pids})
        per_round = max(round(p.s1_rate * p.s1_seconds / p.s1_rounds), 1)
        probes = max(round(p.s1_rate * p.s1_baseline_seconds), 1)

        async def subject_round(count: int) -> None:
            meter.start()
            await paced(p.s1_rate, count, put, overlap=True)
            await fleet.sync("s1", await head_seq(h.board_dsn), SYNC_TIMEOUT_S)
            meter.stop("subject_rounds")

        async def floor_round(count: int) -> None:
            meter.start()
            await paced(p.s1_rate, count, chain, overlap=True)
            await fleet.sync("floor", (await bare.get_json("/state"))["seq"], SYNC_TIMEOUT_S)
            meter.stop("floor_rounds")

        # Warm-up: connections, prepared statements and caches on every side.
        await subject_round(p.warmup)
        await floor_round(p.warmup)
        await paced(2 * p.s1_rate, 2 * p.warmup, baseline_probe, overlap=False)
        await fleet.collect("s1")
        await fleet.collect("floor")
        await bare.get_json("/chain/log")
        await app.get_json("/_bench/lag")
        await bare.get_json("/_bench/lag")
        meter.totals.clear()

        started = time.monotonic()
        for rnd in range(p.s1_rounds):
            phase["round"] = rnd
            order = (subject_round, floor_round) if rnd % 2 == 0 else (floor_round, subject_round)
            for side in order:
                await side(per_round)
            meter.start()
            await paced(2 * p.s1_rate, 2 * probes, baseline_probe, overlap=False)
            meter.stop("probe_rounds")
        elapsed = time.monotonic() - started
        final_seq = await head_seq(h.board_dsn)
        floor_seq = (await bare.get_json("/state"))["seq"]
        behind = await fleet.sync("s1", final_seq, SYNC_TIMEOUT_S)
        floor_behind = await fleet.sync("floor", floor_seq, SYNC_TIMEOUT_S)
        got = await fleet.collect("s1", expected_seq=final_seq)
        got_floor = await fleet.collect("floor", expected_seq=floor_seq)
        chain_log: dict[str, dict[str, float]] = await bare.get_json("/chain/log")
        lag = await app.get_json("/_bench/lag")
        bare_lag = await bare.get_json("/_bench/lag")
        live = await app.get_json("/_bench/live")
    finally:
        await session.close()
        await writer.close()
        await listener.close()
        await fleet.close()

    latency, first, last, delivered = _by_event(got["arrivals"], sends)
    floor_latency, floor_first, floor_last, floor_delivered = _by_event(
        got_floor["arrivals"], chains
    )
    legs = _legs(chain_log, chains, got_floor["arrivals"])
    subject = stats.summary(v for values in latency.values() for v in values)
    floor = stats.summary(v for values in floor_latency.values() for v in values)
    per_event = stats.summary(last)
    floor_per_event = stats.summary(floor_last)
    notify = stats.summary(v for values in notify_ms.values() for v in values)
    handler = stats.summary(v for values in handler_ms.values() for v in values)
    broadcast = stats.summary(legs.get(BROADCAST_LEG, []))
    parts_p99 = notify["p99_ms"] + handler["p99_ms"] + broadcast.get("p99_ms", 0.0)
    rounds: list[dict[str, Any]] = []
    for rnd in range(p.s1_rounds):
        s = stats.summary(latency.get(rnd, []))
        f = stats.summary(floor_latency.get(rnd, []))
        rounds.append({"round": rnd + 1, "subject_p99_ms": s.get("p99_ms"),
                       "floor_p99_ms": f.get("p99_ms"),
                       "ratio_p99": stats.ratio(s.get("p99_ms", 0.0), f.get("p99_ms", 0.0))})  # fmt: skip
    ratio = stats.ratio(subject["p99_ms"], floor["p99_ms"])
    integrity = _integrity(got, len(sends), delivered, behind)
    floor_integrity = _integrity(got_floor, len(chains), floor_delivered, floor_behind)
    # A lost or reordered frame, or a refused PUT, drops out of the latency figures; so
    # the target is met only with every update applied and delivered, in order. A floor
    # that lost frames is no floor: then nothing is judged.
    complete = (
        not put_failures
        and integrity["deliveries_missing"] == 0
        and got["gaps"] == 0
        and got["out_of_order"] == 0
    )
    floor_complete = (
        not chain_failures
        and floor_integrity["deliveries_missing"] == 0
        and got_floor["gaps"] == 0
        and got_floor["out_of_order"] == 0
    )
    return {
        "title": "S1 end-to-end: census PUT -> websocket frame at every client",
        "config": {
            "clients": p.s1_clients,
            "client_processes": p.s1_processes,
            "updates_per_s": p.s1_rate,
            "measured_updates": len(sends),
            "measured_floor_changes": len(chains),
            "rounds": p.s1_rounds,
            "baseline_probes_per_round": probes,
            "board_units": p.board_units,
            "subject_and_baseline_wall_s": round(elapsed, 1),
        },
        "subject": subject,
        "floor": {
            "chain": floor,
            "per_event_last_client": floor_per_event,
            "first_client": stats.summary(floor_first),
            "legs": {name: stats.summary(values) for name, values in legs.items()},
        },
        "floor_p99_ms": floor["p99_ms"],
        "baseline": {
            "notify_round_trip": notify,
            "minimal_handler_round_trip": handler,
            "p99_sum_ms": round(notify["p99_ms"] + handler["p99_ms"], 3),
            "median_sum_ms": round(notify["median_ms"] + handler["median_ms"], 3),
            "bare_broadcast_leg": broadcast,
            "parts_p99_sum_ms": round(parts_p99, 3),
        },
        "ratio_p99": ratio,
        "ratio_median": stats.ratio(subject["median_ms"], floor["median_ms"]),
        "ratio_p99_per_event": stats.ratio(per_event["p99_ms"], floor_per_event["p99_ms"]),
        "ratio_p99_to_parts_sum": stats.ratio(subject["p99_ms"], parts_p99),
        "median_of_round_ratios": round(stats.median([r["ratio_p99"] for r in rounds]), 3),
        "target": f"S1 p99 <= {TARGET_RATIO} x the floor chain's p99 (raw UPDATE + pg_notify, "
        "LISTEN, bare broadcast to the same number of clients); every update applied and "
        "delivered to every client in order",
        "target_ratio": TARGET_RATIO,
        "met": ratio <= TARGET_RATIO and complete and floor_complete,
        "latency_met": ratio <= TARGET_RATIO,
        "delivery_complete": complete,
        "floor_complete": floor_complete,
        "rounds": rounds,
        "breakdown": {
            "put_response": stats.summary(put_ms),
            "first_client": stats.summary(first),
            "last_client": per_event,
        },
        "integrity": {
            **integrity,
            "put_failures": len(put_failures),
            "put_failure_examples": put_failures[:3],
        },
        "floor_integrity": {
            **floor_integrity,
            "chain_failures": len(chain_failures),
            "chain_failure_examples": chain_failures[:3],
        },
        "cpu": meter.report(),
        "server": {"event_loop_lag": lag, "bare_event_loop_lag": bare_lag, "live": live},
    }
