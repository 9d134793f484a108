"""S7: two bedboard instances on one database, clients split across them.

Subject: S1's chain (``PUT /api/v1/units/{id}/census`` with the staff token, always to
instance A, at ``s7_rate``; latency = PUT sent -> frame arrival at every client) with
``s7_clients`` websocket clients (viewer tokens, ``s7_processes`` processes) split across
two instances, A and B (two ``bench.serve app`` processes on the same database): half
("stay") always on A, the other half ("movers") on B.

Reference, the same run, interleaved: the same PUTs with every client on A and B not
running (one instance). Rounds hold one segment of each kind, the order flipping every
round. Between segments the movers are caught up, closed and reconnected to the other
instance from their last seq (so the seq check runs across the moves), and B is started
(or stopped) before the segment; a few unmeasured PUTs warm the path before each
segment's measured ones.

Target: the two-instance p99 on A's clients and on B's clients each <= 1.25 x the
one-instance p99 (all clients), with every PUT applied and every client on both
instances getting every change in seq order (no gap, nothing out of order or missing).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import aiohttp

from bench import stats
from bench.clients import Fleet
from bench.harness import Harness, head_seq, paced, parse_key
from bench.servers import CpuMeter, ServerProcess, cpu_seconds

TARGET_RATIO = 1.25
SYNC_TIMEOUT_S = 20.0
ONE, TWO = "one_instance", "two_instances"


async def run(h: Harness, app: ServerProcess, app_b: ServerProcess) -> dict[str, Any]:
    p = h.profile
    assert h.clock is not None
    clock = h.clock
    units: list[tuple[int, int]] = h.facts["board_units_for_updates"]
    staff = {"Authorization": f"Bearer {h.facts['board_staff_token']}"}
    tokens: list[str] = h.facts["board_viewer_tokens"][: p.s7_clients]
    half = p.s7_clients // 2
    fleet = Fleet(p.s7_processes)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
    sends: dict[datetime, tuple[float, int, str]] = {}  # as_of -> (sent, round, segment)
    put_failures: list[str] = []
    measuring: dict[str, Any] = {"round": None, "segment": ONE}
    where = {"movers": "A"}
    moves: list[float] = []
    b_starts: list[float] = []
    b_cpu: dict[str, float] = {ONE: 0.0, TWO: 0.0}
    segment_wall: dict[str, float] = {ONE: 0.0, TWO: 0.0}
    b_lags: list[dict[str, Any]] = []
    refused = [0]  # connects refused (503) and retried, over every move

    async def put(i: int) -> None:
        unit_id, _ = units[i % len(units)]
        as_of = clock.next()
        body = {"as_of": as_of.isoformat(), "staffed": 24, "occupied": 10 + i % 11,
                "blocked": i % 2}  # fmt: skip
        started = time.monotonic()
        if measuring["round"] is not None:
            sends[as_of] = (started, measuring["round"], measuring["segment"])
        async with session.put(
            f"{app.base_url}/api/v1/units/{unit_id}/census", json=body, headers=staff
        ) as resp:
            raw = await resp.read()
        outcome = json.loads(raw)["results"][0]["outcome"] if resp.status == 200 else None
        if outcome != "applied":
            put_failures.append(f"{resp.status} {raw[:200]!r}")

    async def sync_all() -> None:
        head = await head_seq(h.board_dsn)
        await fleet.sync("stay", head, SYNC_TIMEOUT_S)
        await fleet.sync("movers", head, SYNC_TIMEOUT_S)

    async def place_movers(on: str) -> None:
        if where["movers"] == on:
            return
        await sync_all()
        started = time.monotonic()
        await fleet.drop("movers", "close")
        url = app.ws_url if on == "A" else app_b.ws_url
        again = await fleet.reconnect(
            "movers", time.monotonic(), None, url=url, gate=32, retry_s=SYNC_TIMEOUT_S
        )
        refused[0] += again["refused_then_retried"]
        if again["failed"]:
            raise RuntimeError(f"S7: movers could not reconnect to {on}: {again}")
        moves.append(time.monotonic() - started)
        where["movers"] = on

    async def segment(kind: str, rnd: int | None, count: int) -> None:
        if kind == ONE:
            await place_movers("A")
            await app_b.stop()
        else:
            if not app_b.running:
                started = time.monotonic()
                await app_b.start()
                b_starts.append(time.monotonic() - started)
            await place_movers("B")
        measuring["round"] = None
        await paced(p.s7_rate, max(p.warmup // 2, 1), put, overlap=True)
        await sync_all()
        measuring["round"], measuring["segment"] = rnd, kind
        b_before = cpu_seconds(app_b.pid) if kind == TWO else 0.0
        if kind == TWO:
            await app_b.get_json("/_bench/lag")  # reset B's probe
        meter.start()
        began = time.monotonic()
        await paced(p.s7_rate, count, put, overlap=True)
        await sync_all()
        segment_wall[kind] += time.monotonic() - began
        meter.stop(kind)
        if kind == TWO:
            b_cpu[kind] += cpu_seconds(app_b.pid) - b_before
            if rnd is not None:
                b_lags.append(await app_b.get_json("/_bench/lag"))
        measuring["round"] = None

    try:
        since = await head_seq(h.board_dsn)
        opened = await fleet.connect(
            "stay", app.ws_url, tokens[:half], half, since, retry_s=SYNC_TIMEOUT_S
        )
        opened_m = await fleet.connect(
            "movers", app.ws_url, tokens[half:], p.s7_clients - half, since,
            retry_s=SYNC_TIMEOUT_S,
        )  # fmt: skip
        if opened["failed"] or opened_m["failed"]:
            raise RuntimeError(f"S7: websocket clients failed: {opened} / {opened_m}")
        meter = CpuMeter({"a": [app.pid], "clients": fleet.pids})
        per_round = max(round(p.s7_rate * p.s7_seconds / p.s7_rounds), 1)
        await segment(TWO, None, p.warmup)  # warm-up of B's path and the moves
        await segment(ONE, None, p.warmup)
        meter.totals.clear()
        b_cpu = {ONE: 0.0, TWO: 0.0}
        segment_wall = {ONE: 0.0, TWO: 0.0}
        await fleet.collect("stay")
        await fleet.collect("movers")
        await app.get_json("/_bench/lag")
        started = time.monotonic()
        for rnd in range(p.s7_rounds):
            for kind in (ONE, TWO) if rnd % 2 == 0 else (TWO, ONE):
                await segment(kind, rnd, per_round)
        elapsed = time.monotonic() - started
        final_seq = await head_seq(h.board_dsn)
        behind_stay = await fleet.sync("stay", final_seq, SYNC_TIMEOUT_S)
        behind_movers = await fleet.sync("movers", final_seq, SYNC_TIMEOUT_S)
        got = {
            "stay": await fleet.collect("stay", expected_seq=final_seq),
            "movers": await fleet.collect("movers", expected_seq=final_seq),
        }
        lag = await app.get_json("/_bench/lag")
        live_a = await app.get_json("/_bench/live")
    finally:
        await session.close()
        await fleet.close()
        await app_b.stop()

    # Latencies by (segment, group, round); deliveries per change.
    lat: dict[tuple[str, str, int], list[float]] = {}
    delivered: dict[str, int] = {"stay": 0, "movers": 0}
    for group in ("stay", "movers"):
        for key, times in got[group]["arrivals"].items():
            sent = sends.get(parse_key(key))
            if sent is None:
                continue
            t0, rnd, kind = sent
            lat.setdefault((kind, group, rnd), []).extend((t - t0) * 1000 for t in times)
            delivered[group] += len(times)

    def pooled(kind: str, groups: tuple[str, ...], rnd: int | None = None) -> dict[str, Any]:
        return stats.summary(
            v
            for (k, g, r), values in lat.items()
            if k == kind and g in groups and (rnd is None or r == rnd)
            for v in values
        )

    one = pooled(ONE, ("stay", "movers"))
    two_a = pooled(TWO, ("stay",))
    two_b = pooled(TWO, ("movers",))
    two_all = pooled(TWO, ("stay", "movers"))
    one_a = pooled(ONE, ("stay",))
    one_movers = pooled(ONE, ("movers",))
    rounds = []
    for rnd in range(p.s7_rounds):
        o = pooled(ONE, ("stay", "movers"), rnd).get("p99_ms", 0.0)
        a = pooled(TWO, ("stay",), rnd).get("p99_ms", 0.0)
        b = pooled(TWO, ("movers",), rnd).get("p99_ms", 0.0)
        rounds.append({"round": rnd + 1, "one_instance_p99_ms": o, "two_a_p99_ms": a,
                       "two_b_p99_ms": b, "ratio_a": stats.ratio(a, o),
                       "ratio_b": stats.ratio(b, o)})  # fmt: skip
    ratio_a = stats.ratio(two_a["p99_ms"], one["p99_ms"])
    ratio_b = stats.ratio(two_b["p99_ms"], one["p99_ms"])
    changes = len(sends)
    integrity: dict[str, Any] = {"updates": changes, "put_failures": len(put_failures),
                                 "put_failure_examples": put_failures[:3]}  # fmt: skip
    for group, behind in (("stay", behind_stay), ("movers", behind_movers)):
        g = got[group]
        integrity[group] = {
            "clients": g["connections"],
            "deliveries_expected": changes * g["connections"],
            "deliveries_missing": changes * g["connections"] - delivered[group],
            "seq_gaps": g["gaps"],
            "seq_out_of_order": g["out_of_order"],
            "seq_behind_at_end": g["behind"],
            "clients_still_behind_after_wait": behind,
            "connections_closed": g["closed"],
            "clients_with_problems": g["clients_with_problems"],
        }
    complete = not put_failures and all(
        integrity[g]["deliveries_missing"] == 0
        and integrity[g]["seq_gaps"] == 0
        and integrity[g]["seq_out_of_order"] == 0
        and integrity[g]["clients_with_problems"] == 0
        for g in ("stay", "movers")
    )
    latency_met = ratio_a <= TARGET_RATIO and ratio_b <= TARGET_RATIO
    cpu: dict[str, Any] = dict(meter.report())
    for kind in (ONE, TWO):
        if kind in cpu and segment_wall[kind]:
            cpu[kind]["b_cpu_s"] = round(b_cpu[kind], 2)
            cpu[kind]["b_cores"] = round(b_cpu[kind] / segment_wall[kind], 2)
    return {
        "title": "S7 two instances: PUTs to A, clients split across A and B on one database",
        "headline": (
            f"two instances p99 A {two_a['p99_ms']:.1f} ms = {ratio_a:.2f}x, B "
            f"{two_b['p99_ms']:.1f} ms = {ratio_b:.2f}x the one-instance "
            f"{one['p99_ms']:.1f} ms (target <= {TARGET_RATIO}x); "
            f"{'every change to every client in order' if complete else 'DELIVERY PROBLEMS'}"
        ),
        "config": {
            "clients": p.s7_clients,
            "clients_on_a": half,
            "clients_on_b": p.s7_clients - half,
            "client_processes": p.s7_processes,
            "updates_per_s": p.s7_rate,
            "rounds": p.s7_rounds,
            "measured_updates_per_segment": per_round,
            "measured_updates": changes,
            "board_units": p.board_units,
            "wall_s": round(elapsed, 1),
            "b_start_s_median": round(stats.median(b_starts), 2) if b_starts else None,
            "mover_reconnect_s_median": round(stats.median(moves), 2) if moves else None,
            "connects_refused_then_retried": refused[0]
            + opened["refused_then_retried"]
            + opened_m["refused_then_retried"],
        },
        "subject": two_all,
        "two_instances": {"a_clients": two_a, "b_clients": two_b, "all": two_all},
        "one_instance": {"all": one, "stay_clients": one_a, "mover_clients": one_movers},
        "ratio_p99_a": ratio_a,
        "ratio_p99_b": ratio_b,
        "ratio_p99": max(ratio_a, ratio_b),
        "median_of_round_ratios": {
            "a": round(stats.median([r["ratio_a"] for r in rounds]), 3),
            "b": round(stats.median([r["ratio_b"] for r in rounds]), 3),
        },
        "target": f"two-instance p99 on A's clients and on B's <= {TARGET_RATIO} x the "
        "one-instance p99; every PUT applied and every client on both instances getting every "
        "change in seq order",
        "target_ratio": TARGET_RATIO,
        "latency_met": latency_met,
        "delivery_complete": complete,
        "met": latency_met and complete,
        "rounds": rounds,
        "integrity": integrity,
        "cpu": cpu,
        "server": {
            "a_event_loop_lag": lag,
            "b_event_loop_lag_max_ms": max((x.get("max_ms", 0.0) for x in b_lags), default=None),
            "b_event_loop_lag_p99_ms_worst_segment": max(
                (x.get("p99_ms", 0.0) for x in b_lags), default=None
            ),
            "a_live": live_a,
        },
    }
