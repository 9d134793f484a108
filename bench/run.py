"""The benchmark run: embedded PostgreSQL, seeded databases, servers, scenarios, report.

``python -m bench`` (from the repository root) runs START, S3, S1, S4, S6, S7, S5, S2 and
HL7 with the default profile (about 13-14 minutes on 2 quiet cores) and writes
``bench/results.json`` and ``bench/RESULTS.md``. ``--quick`` is a smoke run that writes
``results-quick.json`` / ``RESULTS-quick.md`` instead, so it never overwrites a full run.
``--scenarios`` runs a subset; the scenarios not run keep their figures from the earlier
results file (each scenario records the run it comes from).

``--set key=value`` (repeatable) overrides any field of the profile (``--set s1_clients=500``,
``--set s5_sizes=500x5000,5000x50000``). A run with overrides records them (``overrides``,
and in every scenario's ``run``) and writes ``results[-quick]-set.json`` /
``RESULTS[-quick]-set.md`` (overwritten by the next such run), never the record, unless
``--merge-set`` is given. ``python -m bench.sweep`` runs one value after another.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shlex
import sys
import time
import traceback
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bedboard import database
from bedboard.auth import Role
from bedboard.reports import rollups
from bench import diagnostics as diag
from bench import (
    hl7_throughput,
    pg,
    report,
    reports_data,
    reports_figures,
    s1_end_to_end,
    s2_ingest,
    s3_search,
    s4_fanout,
    s5_board,
    s6_storm,
    s7_two_instances,
    seed,
    startup,
)
from bench.harness import (
    DEFAULT,
    QUICK,
    AsOfClock,
    Harness,
    OverrideError,
    Profile,
    apply_overrides,
)
from bench.serve import raise_nofile_limit
from bench.servers import ServerProcess

HERE = Path(__file__).resolve().parent
SCENARIOS = ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "HL7", "REPORTS", "START")
BOARD_SCENARIOS = ("S1", "S4", "S6", "S7")  # on the state-sized board database and its app
# A run that starts with a 1-minute load average above this many per usable core is not
# merged into results.json / RESULTS.md: a busy machine's ratios judge nothing.
LOADED_PER_CORE = 1.0
UPDATE_FACILITIES = 5
UPDATE_UNITS_PER_FACILITY = 10

log = logging.getLogger("bench")


async def _prepare_board(h: Harness) -> None:
    """The state-sized directory for S1/S4, its users and tokens."""
    p = h.profile
    conn = await database.connect(h.board_dsn)
    try:
        seeded = await seed.seed_directory(conn, p.board_facilities, p.board_units)
        units = await seed.reporting_units(conn, UPDATE_FACILITIES, UPDATE_UNITS_PER_FACILITY)
        facility_ids = sorted({fid for _, fid in units})
        staff = await seed.make_user(conn, "staff@bench.example", Role.FACILITY, facility_ids)
        viewer = await seed.make_user(conn, "viewer@bench.example", Role.VIEWER)
        h.facts["board_staff_token"] = (await seed.make_tokens(conn, staff, 1))[0]
        # S1 takes the first s1_clients, S4 the next s4_clients; S6 and S7 start again at 0.
        h.facts["board_viewer_tokens"] = await seed.make_tokens(
            conn, viewer, max(p.s1_clients + p.s4_clients, p.s6_clients, p.s7_clients)
        )
        h.facts["board_units_for_updates"] = units
        h.facts["board_probe_unit"] = await conn.fetchval(
            "SELECT unit_id FROM unit_census WHERE unit_id <> ALL($1::bigint[])"
            " ORDER BY unit_id DESC LIMIT 1",
            [uid for uid, _ in units],
        )
        # S1's floor chain writes to as many other units as the PUTs do (row for row).
        h.facts["board_floor_units"] = [
            r["unit_id"]
            for r in await conn.fetch(
                "SELECT unit_id FROM unit_census WHERE unit_id <> ALL($1::bigint[])"
                " AND unit_id <> $2 ORDER BY unit_id DESC LIMIT $3",
                [uid for uid, _ in units],
                h.facts["board_probe_unit"],
                len(units),
            )
        ]
        h.clock = AsOfClock(seeded.seeded_at)
        h.facts["board_seed"] = seeded
    finally:
        await conn.close()


async def _prepare_search(h: Harness) -> None:
    p = h.profile
    conn = await database.connect(h.search_dsn)
    try:
        h.facts["search_seed"] = await seed.seed_directory(conn, p.s3_facilities, p.s3_units)
        liaison = await seed.make_user(conn, "liaison@bench.example", Role.LIAISON)
        h.facts["search_liaison_token"] = (await seed.make_tokens(conn, liaison, 1))[0]
    finally:
        await conn.close()


async def _s5(h: Harness, admin: str) -> dict[str, Any]:
    """S5 at each directory size: its own database, a viewer token, its own app."""
    by_size: dict[str, dict[str, Any]] = {}
    for facilities, units in h.profile.s5_sizes:
        dsn = await pg.create_database(admin, f"bench_s5_{facilities}")
        conn = await database.connect(dsn)
        try:
            seeded = await seed.seed_directory(conn, facilities, units)
            viewer = await seed.make_user(conn, "viewer@bench.example", Role.VIEWER)
            token = (await seed.make_tokens(conn, viewer, 1))[0]
        finally:
            await conn.close()
        h.facts[f"s5_{facilities}_seed"] = seeded
        app = _app(h, f"s5-{facilities}", dsn)
        await app.start()
        try:
            size = {"facilities": seeded.facilities, "units": seeded.units}
            by_size[str(facilities)] = await s5_board.measure(h, app, dsn, token, size)
        finally:
            await app.stop()
    return s5_board.combine(by_size)


async def _reports(h: Harness, admin: str) -> dict[str, Any]:
    """REPORTS: a year of history in its own database, a liaison token, its own app."""
    p = h.profile
    dsn = await pg.create_database(admin, "bench_reports")
    conn = await database.connect(dsn)
    try:
        year = await reports_data.build_reports_year(
            conn,
            facilities=max(1, p.reports_units // 10),
            units=p.reports_units,
            days=p.reports_days,
            placements=p.reports_placements,
        )
        liaison = await seed.make_user(conn, "reports-liaison@bench.example", Role.LIAISON)
        token = (await seed.make_tokens(conn, liaison, 1))[0]
        sizes = {
            "units": year.history.units,
            "days": p.reports_days,
            "census_history_rows": year.history.census_rows,
            "placements": year.history.placements,
            "referrals": year.history.referrals,
            "timeline_events": year.history.events,
            "no_bed_records": year.history.no_bed_records,
            "build_s": round(year.seconds, 1),
            **await _rollups(conn),
        }
    finally:
        await conn.close()
    app = _app(h, "reports", dsn)
    await app.start()
    try:
        return await reports_figures.measure(h, app, dsn, token, sizes)
    finally:
        await app.stop()


async def _rollups(conn: Any) -> dict[str, Any]:
    """The report roll-ups over the year: built from nothing, then brought up to date
    after a burst of new reports (10 % of the units report once), as the scheduler does."""
    full = await rollups.refresh(conn, reports_figures.ZONE)
    await conn.execute(
        """
        INSERT INTO census_history (unit_id, staffed, occupied, blocked, available, as_of,
                                    source)
        SELECT id, 10, 7, 1, 2, now(), 'api' FROM units WHERE id % 10 = 0
        """
    )
    incremental = await rollups.refresh(conn, reports_figures.ZONE)
    assert full is not None and incremental is not None
    return {
        "rollup_build_s": round(full.took_ms / 1000, 1),
        "rollup_groups": full.groups,
        "rollup_refresh_after_burst_ms": incremental.took_ms,
    }


def _app(h: Harness, name: str, dsn: str) -> ServerProcess:
    data_dir = h.workdir / f"data-{name}"
    data_dir.mkdir(exist_ok=True)
    args = ["app", "--dsn", dsn, "--data-dir", str(data_dir)]
    profile_dir = h.facts.get("profile_dir")
    if profile_dir is not None:
        args += ["--profile", str(profile_dir / f"profile-{name}.prof")]
    return ServerProcess(f"bedboard-{name}", args, h.workdir / f"app-{name}.log")


async def _scenario(
    results: dict[str, Any], name: str, work: Callable[[], Awaitable[dict[str, Any]]]
) -> None:
    started = time.monotonic()
    load_start = os.getloadavg()
    print(f"[bench] {name} ...", flush=True)
    try:
        results[name] = await work()
    except Exception:  # noqa: BLE001 -- record it and run the other scenarios
        results[name] = {"error": traceback.format_exc()}
        print(f"[bench] {name} failed:\n{results[name]['error']}", flush=True)
        return
    r = results[name]
    r["scenario_wall_s"] = round(time.monotonic() - started, 1)
    r["scenario_load_average"] = {
        "start": [round(x, 2) for x in load_start],
        "end": [round(x, 2) for x in os.getloadavg()],
    }
    if "headline" in r:
        met = r.get("met")
        verdict = "" if met is None else (": met" if met else ": MISSED")
        print(f"[bench] {name}: {r['headline']}{verdict}  [{r['scenario_wall_s']} s]", flush=True)
        return
    print(
        f"[bench] {name}: subject p99 {r['subject']['p99_ms']:.1f} ms, ratio p99 "
        f"{r['ratio_p99']:.2f} (target <= {r['target_ratio']}): "
        f"{'met' if r['met'] else 'MISSED'}  [{r['scenario_wall_s']} s]",
        flush=True,
    )


async def run(
    profile: Profile,
    scenarios: tuple[str, ...],
    profile_dir: Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    started = time.monotonic()
    load_start = os.getloadavg()
    raise_nofile_limit()
    server = pg.EmbeddedServer()
    admin = await asyncio.to_thread(server.start)
    h = Harness(profile=profile, workdir=server.base, admin_dsn=admin)
    if profile_dir is not None:
        h.facts["profile_dir"] = profile_dir
    scenario_results: dict[str, Any] = {}
    diagnostics: dict[str, Any] = {}
    board = any(name in scenarios for name in BOARD_SCENARIOS)
    try:
        h.pg_bin_dir = server.bin_dir
        postgres_version = await pg.server_version(admin)
        if "START" in scenarios:
            await _scenario(scenario_results, "START", lambda: startup.run(h))
        if board:
            h.board_dsn = await pg.create_database(admin, "bench_board")
            await _prepare_board(h)
        if "S3" in scenarios:
            h.search_dsn = await pg.create_database(admin, "bench_search")
            await _prepare_search(h)
        print(
            f"[bench] PostgreSQL {postgres_version} ready, data seeded "
            f"({time.monotonic() - started:.1f} s)",
            flush=True,
        )
        if board or "S3" in scenarios or "S5" in scenarios:
            # With the board database the bare server also serves S1's floor chain.
            bare_args = ["bare", "--dsn", h.board_dsn] if board else ["bare"]
            h.bare = ServerProcess("bare", bare_args, h.workdir / "bare.log")
            await h.bare.start()
        try:
            if "S3" in scenarios:
                app = _app(h, "search", h.search_dsn)
                await app.start()
                try:
                    await _scenario(scenario_results, "S3", lambda: s3_search.run(h, app))
                finally:
                    await app.stop()
                diagnostics["freshness_job"] = await diag.freshness_job_cost(h.search_dsn)
            if board:
                app = _app(h, "board", h.board_dsn)
                await app.start()
                try:
                    if "S1" in scenarios:
                        await _scenario(scenario_results, "S1", lambda: s1_end_to_end.run(h, app))
                    if "S4" in scenarios:
                        await _scenario(scenario_results, "S4", lambda: s4_fanout.run(h, app))
                    if "S6" in scenarios:
                        await _scenario(scenario_results, "S6", lambda: s6_storm.run(h, app))
                    if "S7" in scenarios:
                        app_b = _app(h, "board-b", h.board_dsn)  # started by S7 when needed
                        await _scenario(
                            scenario_results, "S7", lambda: s7_two_instances.run(h, app, app_b)
                        )
                finally:
                    await app.stop()
                diagnostics["token_lookup"] = await diag.token_lookup_cost(
                    h.board_dsn, h.facts["board_staff_token"]
                )
            if "S5" in scenarios:
                await _scenario(scenario_results, "S5", lambda: _s5(h, admin))
        finally:
            if h.bare is not None:
                await h.bare.stop()
        if "S2" in scenarios:
            ingest_dsn = await pg.create_database(admin, "bench_ingest")
            await _scenario(scenario_results, "S2", lambda: s2_ingest.run(h, ingest_dsn))
        if "REPORTS" in scenarios:
            await _scenario(scenario_results, "REPORTS", lambda: _reports(h, admin))
        if "HL7" in scenarios:
            hl7_dsn = await pg.create_database(admin, "bench_hl7")
            postmaster = server.postmaster_pid
            await _scenario(
                scenario_results, "HL7", lambda: hl7_throughput.run(h, hl7_dsn, postmaster)
            )
    finally:
        await asyncio.to_thread(server.stop)
    seeds = {
        key: {"facilities": s.facilities, "units": s.units, "census_rows": s.census_rows,
              "seconds": round(s.seconds, 1)}
        for key, s in h.facts.items() if key.endswith("_seed") and isinstance(s, seed.Seeded)
    }  # fmt: skip
    return {
        "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "profile": profile.name,
        "overrides": overrides or {},
        "command": "python -m bench" + (" --quick" if profile.name == "quick" else ""),
        "runtime_s": round(time.monotonic() - started, 1),
        "machine": report.machine(postgres_version),
        "load_average": {
            "start": [round(x, 2) for x in load_start],
            "end": [round(x, 2) for x in os.getloadavg()],
        },
        "seeding": seeds,
        "scenarios": {
            name: scenario_results[name] for name in SCENARIOS if name in scenario_results
        },
        "diagnostics": diagnostics,
        "clock": "time.monotonic() (CLOCK_MONOTONIC, shared by every process on the machine)",
    }


def loaded_at_start(results: dict[str, Any]) -> bool:
    """Whether the run started on a busy machine (load above 1 per usable core)."""
    cores = len(os.sched_getaffinity(0))
    return bool(results["load_average"]["start"][0] > LOADED_PER_CORE * cores)


def destination(
    out_dir: Path, quick: bool, *, loaded: bool, overridden: bool, merge_set: bool
) -> tuple[Path, Path, bool]:
    """(results json, RESULTS md, whether to merge into it) for a finished run.

    The record (results[-quick].json) takes only runs that started on a quiet machine
    with the profile as written (or with ``--merge-set``); a loaded run goes to
    ``*-loaded``, a run with overrides to ``*-set``, each overwritten, never merged."""
    suffix = "-quick" if quick else ""
    if loaded:
        suffix += "-loaded"
    elif overridden and not merge_set:
        suffix += "-set"
    record = not loaded and (not overridden or merge_set)
    return out_dir / f"results{suffix}.json", out_dir / f"RESULTS{suffix}.md", record


def fail(prog: str, message: str) -> int:
    """A one-line error on stderr; exit status 2 (as argparse's own errors)."""
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    return 2


def parse_scenarios(text: str) -> tuple[str, ...]:
    chosen = tuple(s.strip().upper() for s in text.split(",") if s.strip())
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        raise OverrideError(
            f"unknown scenarios: {', '.join(unknown)} (known: {', '.join(SCENARIOS)})"
        )
    if not chosen:
        raise OverrideError("no scenarios given")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="bedboard benchmarks (ratios against baselines)"
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (< 60 s)")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)} (case-insensitive); the others "
        "keep their figures from the existing results file",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a profile field (repeatable), e.g. s1_clients=500 or "
        "s5_sizes=500x5000,5000x50000; the results go to results-set.json, not the record",
    )
    parser.add_argument(
        "--merge-set",
        action="store_true",
        help="merge a run with --set into the record (results.json / RESULTS.md) anyway",
    )
    parser.add_argument(
        "--out-dir", type=Path, default=HERE, help="where results*.json and RESULTS*.md go"
    )
    parser.add_argument(
        "--profile-servers",
        action="store_true",
        help="run bedboard under cProfile; stats go to OUT_DIR/profile-*.prof (slows it down)",
    )
    parser.add_argument(
        "--allow-loaded",
        action="store_true",
        help="merge the results even if the machine was busy when the run started",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="only rewrite RESULTS*.md from the existing results*.json",
    )
    args = parser.parse_args(argv)
    try:
        chosen = parse_scenarios(args.scenarios)
        profile, overrides = apply_overrides(QUICK if args.quick else DEFAULT, args.overrides)
    except OverrideError as exc:
        return fail(parser.prog, str(exc))
    suffix = "-quick" if args.quick else ""
    if args.render_only:
        json_path = args.out_dir / f"results{suffix}.json"
        md_path = args.out_dir / f"RESULTS{suffix}.md"
        report.write_markdown(md_path, json.loads(json_path.read_text()))
        print(f"[bench] wrote {md_path} from {json_path}", flush=True)
        return 0
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    profile_dir = args.out_dir.resolve() if args.profile_servers else None
    results = asyncio.run(run(profile, chosen, profile_dir, overrides))
    given = sys.argv[1:] if argv is None else argv
    results["command"] = shlex.join(["python", "-m", "bench", *given])
    for scenario in results["scenarios"].values():
        scenario["run"] = report.run_info(results)
    loaded = loaded_at_start(results) and not args.allow_loaded
    json_path, md_path, merge = destination(
        args.out_dir, args.quick, loaded=loaded, overridden=bool(overrides),
        merge_set=args.merge_set,
    )  # fmt: skip
    if loaded:
        # Ratios from a busy machine are not evidence: keep them apart from the record.
        print(
            f"[bench] the machine was busy when the run started (load "
            f"{results['load_average']['start'][0]:.2f} on {len(os.sched_getaffinity(0))} "
            f"cores): these results go to {json_path.name}, not into the record; run again "
            "when it is quiet (or pass --allow-loaded)",
            flush=True,
        )
    elif not merge:
        print(
            f"[bench] profile overrides {json.dumps(overrides)}: these results go to "
            f"{json_path.name}, not into the record (pass --merge-set to merge them)",
            flush=True,
        )
    elif json_path.exists():
        try:
            earlier = json.loads(json_path.read_text())
        except (OSError, ValueError):
            earlier = None
        if earlier is not None:
            results = report.merge(earlier, results, SCENARIOS)
    report.write_json(json_path, results)
    report.write_markdown(md_path, results)
    print(f"[bench] wrote {json_path} and {md_path} ({results['runtime_s']:.0f} s)", flush=True)
    failed = [n for n, r in results["scenarios"].items() if "error" in r]
    return 1 if failed else 0
