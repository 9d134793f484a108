"""S4: fan-out of board changes to many websocket clients in several processes.

Subject: census reports applied through ``census.apply`` (the code behind every census
endpoint) at a steady rate; latency = commit acknowledged -> frame arrival at each of
``s4_clients`` bedboard websocket clients (viewer tokens, ``s4_processes`` processes).

Baseline, the same clients' twins connected to a bare aiohttp websocket server that
broadcasts a frame of the same shape and size at the same rate: latency = the moment the
bare server has the change -> arrival. Rounds alternate subject/baseline (ABBA order).
Target: subject p99 <= 1.5 x baseline p99, and every client receives every change.
"""

from __future__ import annotations

import copy
import time
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from bedboard import board, census, database
from bench import stats
from bench.clients import Fleet
from bench.harness import AsOfClock, Harness, head_seq, paced, parse_key, wire_time
from bench.servers import CpuMeter, ServerProcess, rss_kib

TARGET_RATIO = 1.5
SYNC_TIMEOUT_S = 30.0
APPLY_CONNECTIONS = 4


async def board_frame_template(conn: database.Connection) -> dict[str, Any]:
    """A real board frame payload (a unit event) for the baseline to send."""
    payload = await conn.fetchval(
        "SELECT payload FROM board_outbox WHERE payload->>'kind' = 'unit' ORDER BY seq DESC LIMIT 1"
    )
    if payload is None:
        now = await board.db_now(conn)
        _, payload = board.unit_event((await board.unit_states(conn, now=now))[0])
    assert isinstance(payload, dict)
    return payload


def _latencies(
    arrivals: dict[str, list[float]], origins: dict[datetime, tuple[float, int]], epoch: float
) -> tuple[dict[int, list[float]], int, list[list[float]]]:
    """Latencies by round, deliveries, and per change [seconds since the clients
    connected, median ms, max ms] (a timeline, to see periodic stalls)."""
    by_round: dict[int, list[float]] = {}
    delivered = 0
    timeline = []
    for key, times in arrivals.items():
        origin = origins.get(parse_key(key))
        if origin is None:
            continue
        t0, rnd = origin
        values = sorted((t - t0) * 1000 for t in times)
        by_round.setdefault(rnd, []).extend(values)
        delivered += len(values)
        timeline.append(
            [round(t0 - epoch, 2), round(stats.quantile(values, 0.5), 1), round(values[-1], 1)]
        )
    timeline.sort()
    return by_round, delivered, timeline


def _integrity(got: dict[str, Any], changes: int, delivered: int, behind: int) -> dict[str, Any]:
    return {
        "clients": got["connections"],
        "changes": changes,
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


async def run(h: Harness, app: ServerProcess) -> dict[str, Any]:
    p = h.profile
    assert h.bare is not None and h.clock is not None
    bare, clock = h.bare, h.clock
    units: list[tuple[int, int]] = h.facts["board_units_for_updates"]
    tokens: list[str] = h.facts["board_viewer_tokens"][p.s1_clients : p.s1_clients + p.s4_clients]
    baseline_clock = AsOfClock(clock.base - timedelta(days=1))

    fleet = Fleet(p.s4_processes)
    pool = await database.create_pool(h.board_dsn, min_size=1, max_size=APPLY_CONNECTIONS)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
    try:
        rss_before = {"subject": rss_kib(app.pid), "baseline": rss_kib(bare.pid)}
        subject_connect_started = connect_started = time.monotonic()
        # Setup, not measured: a connect refused with 503 (no pooled connection within
        # bedboard's acquire timeout, on a busy machine) is retried with backoff.
        opened = await fleet.connect(
            "subject", app.ws_url, tokens, p.s4_clients, await head_seq(h.board_dsn),
            retry_s=SYNC_TIMEOUT_S,
        )  # fmt: skip
        subject_connect_s = time.monotonic() - connect_started
        connect_started = time.monotonic()
        bare_seq = (await bare.get_json("/state"))["seq"]
        opened_bare = await fleet.connect("baseline", bare.ws_url, None, p.s4_clients, bare_seq)
        baseline_connect_s = time.monotonic() - connect_started
        if opened["failed"] or opened_bare["failed"]:
            raise RuntimeError(f"S4: websocket clients failed: {opened} / {opened_bare}")
        # What one more connection costs each server: resident memory grown per client.
        memory_per_connection_kib = {
            side: round((rss_kib(pid) - rss_before[side]) / p.s4_clients, 1)
            for side, pid in (("subject", app.pid), ("baseline", bare.pid))
        }
        async with pool.acquire() as conn:
            template = await board_frame_template(conn)

        meter = CpuMeter({"bedboard": [app.pid], "bare": [bare.pid], "clients": fleet.pids})
        apply_ms: list[float] = []
        commits: dict[datetime, tuple[float, int]] = {}
        emits: dict[datetime, tuple[float, int]] = {}
        failures: list[str] = []
        phase = {"round": -1}

        async def change(i: int) -> None:
            unit_id, _ = units[i % len(units)]
            as_of = clock.next()
            report = census.CensusReport(
                as_of=as_of, staffed=24, occupied=10 + i % 11, blocked=i % 2
            )
            async with pool.acquire() as conn:
                started = time.monotonic()
                results = await census.apply(conn, [(unit_id, report)], census.Source("bench"))
                committed = time.monotonic()
            if results[0].outcome is not census.Outcome.APPLIED:
                failures.append(f"census: {results[0].outcome}")
            elif phase["round"] >= 0:
                commits[as_of] = (committed, phase["round"])
                apply_ms.append((committed - started) * 1000)

        async def emit(i: int) -> None:
            as_of = baseline_clock.next()
            payload = copy.deepcopy(template)
            payload["unit"]["as_of"] = wire_time(as_of)
            async with session.post(f"{bare.base_url}/emit", json=payload) as resp:
                resp.raise_for_status()
                answer = await resp.json()
            if phase["round"] >= 0:
                emits[as_of] = (float(answer["t0"]), phase["round"])

        async def subject_round(count: int) -> None:
            meter.start()
            await paced(p.s4_rate, count, change, overlap=True)
            await fleet.sync("subject", await head_seq(h.board_dsn), SYNC_TIMEOUT_S)
            meter.stop("subject_rounds")

        async def baseline_round(count: int) -> None:
            meter.start()
            await paced(p.s4_rate, count, emit, overlap=True)
            await fleet.sync("baseline", (await bare.get_json("/state"))["seq"], SYNC_TIMEOUT_S)
            meter.stop("baseline_rounds")

        await subject_round(p.warmup)
        await baseline_round(p.warmup)
        meter.totals.clear()
        await fleet.collect("subject")
        await fleet.collect("baseline")
        await app.get_json("/_bench/lag")
        await bare.get_json("/_bench/lag")

        per_round = max(round(p.s4_rate * p.s4_seconds / p.s4_rounds), 1)
        started = time.monotonic()
        for rnd in range(p.s4_rounds):
            phase["round"] = rnd
            order = (
                (subject_round, baseline_round) if rnd % 2 == 0 else (baseline_round, subject_round)
            )
            for side in order:
                await side(per_round)
        elapsed = time.monotonic() - started
        subject_seq = await head_seq(h.board_dsn)
        baseline_seq = (await bare.get_json("/state"))["seq"]
        subject_behind = await fleet.sync("subject", subject_seq, SYNC_TIMEOUT_S)
        baseline_behind = await fleet.sync("baseline", baseline_seq, SYNC_TIMEOUT_S)
        got_subject = await fleet.collect("subject", expected_seq=subject_seq)
        got_baseline = await fleet.collect("baseline", expected_seq=baseline_seq)
        lag = await app.get_json("/_bench/lag")
        bare_lag = await bare.get_json("/_bench/lag")
        live = await app.get_json("/_bench/live")
    finally:
        await session.close()
        await pool.close()
        await fleet.close()

    subject_rounds, subject_delivered, subject_timeline = _latencies(
        got_subject["arrivals"], commits, subject_connect_started
    )
    baseline_rounds, baseline_delivered, baseline_timeline = _latencies(
        got_baseline["arrivals"], emits, subject_connect_started
    )
    subject = stats.summary(v for values in subject_rounds.values() for v in values)
    baseline = stats.summary(v for values in baseline_rounds.values() for v in values)
    rounds: list[dict[str, Any]] = []
    for rnd in range(p.s4_rounds):
        s = stats.summary(subject_rounds.get(rnd, []))
        b = stats.summary(baseline_rounds.get(rnd, []))
        rounds.append({"round": rnd + 1, "subject_p99_ms": s.get("p99_ms"),
                       "baseline_p99_ms": b.get("p99_ms"),
                       "ratio_p99": stats.ratio(s.get("p99_ms", 0.0), b.get("p99_ms", 0.0))})  # fmt: skip
    ratio = stats.ratio(subject["p99_ms"], baseline["p99_ms"])
    cpu: dict[str, Any] = dict(meter.report())
    deliveries = max(len(commits) * p.s4_clients, 1)
    cpu["bedboard_us_per_delivery_in_subject_rounds"] = round(
        cpu["subject_rounds"]["bedboard_cpu_s"] / deliveries * 1e6, 1
    )
    cpu["bare_us_per_delivery_in_baseline_rounds"] = round(
        cpu["baseline_rounds"]["bare_cpu_s"] / max(len(emits) * p.s4_clients, 1) * 1e6, 1
    )
    subject_integrity = _integrity(got_subject, len(commits), subject_delivered, subject_behind)
    complete = (
        subject_integrity["deliveries_missing"] == 0
        and subject_integrity["seq_gaps"] == 0
        and subject_integrity["seq_out_of_order"] == 0
        and not failures
    )
    return {
        "title": "S4 fan-out: change commit -> frame at each of many websocket clients",
        "config": {
            "clients": p.s4_clients,
            "client_processes": p.s4_processes,
            "changes_per_s": p.s4_rate,
            "changes_per_side": len(commits),
            "rounds": p.s4_rounds,
            "board_units": p.board_units,
            "connect_s": {
                "subject": round(subject_connect_s, 1),
                "baseline": round(baseline_connect_s, 1),
            },
            "connects_refused_then_retried": opened["refused_then_retried"],
            "memory_per_connection_kib": memory_per_connection_kib,
            "subject_and_baseline_wall_s": round(elapsed, 1),
        },
        "subject": subject,
        "baseline": {"bare_broadcast": baseline},
        "ratio_p99": ratio,
        "ratio_median": stats.ratio(subject["median_ms"], baseline["median_ms"]),
        "median_of_round_ratios": round(stats.median([r["ratio_p99"] for r in rounds]), 3),
        "target": f"S4 p99 <= {TARGET_RATIO} x bare broadcast p99; every client gets every change",
        "target_ratio": TARGET_RATIO,
        "met": ratio <= TARGET_RATIO and complete,
        "latency_met": ratio <= TARGET_RATIO,
        "delivery_complete": complete,
        "rounds": rounds,
        "integrity": {
            "subject": {**subject_integrity, "apply_failures": len(failures)},
            "baseline": _integrity(got_baseline, len(emits), baseline_delivered, baseline_behind),
        },
        "apply_in_bench_process": stats.summary(apply_ms),
        "slowest_changes": {
            "note": "[s since the bedboard clients began connecting, median ms, max ms]",
            "subject": sorted(subject_timeline, key=lambda row: -row[2])[:15],
            "baseline": sorted(baseline_timeline, key=lambda row: -row[2])[:15],
        },
        "timeline": {"subject": subject_timeline, "baseline": baseline_timeline},
        "cpu": cpu,
        "server": {"event_loop_lag": lag, "bare_event_loop_lag": bare_lag, "live": live},
    }
