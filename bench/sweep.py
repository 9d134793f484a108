"""A scaling sweep: the same scenarios at several values of one profile field, one run each.

``python -m bench.sweep s1_clients=50,200,500,1000 --scenarios s1`` runs ``python -m bench
--scenarios s1 --set s1_clients=50``, then ``=200``, ... one after another (each its own
PostgreSQL and servers, as a normal run), and appends a table to ``bench/SWEEPS.md`` (one
row per value and scenario: the figure, the verdict, the load average at the scenario's
start and end, its wall time) and every run's full results to ``bench/SWEEPS.json``. The
section is rewritten after each value, so an interrupted sweep keeps what it measured.
Sweep runs never touch ``results.json`` / ``RESULTS.md``.

Values are comma-separated; for ``s5_sizes`` each value is one set of sizes with ``+``
between them: ``s5_sizes=500x5000,500x5000+5000x50000`` is two runs. ``--set`` fixes other
fields for every run (``--set s1_processes=4``), ``--quick`` starts from the quick profile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shlex
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.harness import DEFAULT, QUICK, OverrideError, apply_overrides
from bench.run import HERE, LOADED_PER_CORE, fail, parse_scenarios, run
from bench.serve import raise_nofile_limit

PROG = "python -m bench.sweep"


def parse_sweep(text: str) -> tuple[str, list[str]]:
    key, sep, values = text.partition("=")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not key.strip() or not items:
        raise OverrideError(f"sweep {text!r}: expected key=value1,value2,...")
    return key.strip(), items


def _section(sweep: dict[str, Any]) -> list[str]:
    cores = sweep["usable_cores"]
    out = [
        f"## {sweep['key']} = {', '.join(sweep['values'])} ({sweep['started_at']})",
        "",
        f"`{sweep['command']}`: profile **{sweep['profile']}**"
        + (f", fixed `--set` {', '.join(sweep['fixed'])}" if sweep["fixed"] else "")
        + f"; {len(sweep['runs'])} of {len(sweep['values'])} runs done; {cores} usable cores "
        f"(a run is *loaded* when its 1-minute load average starts above "
        f"{LOADED_PER_CORE * cores:g}).",
        "",
        f"| {sweep['key']} | Scenario | Figure | Result | Load average (start -> end) | Wall s |",
        "|---|---|---|---|---|---:|",
    ]
    for entry in sweep["runs"]:
        results = entry["results"]
        for name, r in results["scenarios"].items():
            figure, verdict = report.brief(name, r)
            load = r.get("scenario_load_average") or results["load_average"]
            busy = " (loaded)" if load["start"][0] > LOADED_PER_CORE * cores else ""
            out.append(
                f"| {entry['value']} | {name} | {figure} | {verdict} | {load['start']} -> "
                f"{load['end']}{busy} | {r.get('scenario_wall_s', '')} |"
            )
    return [*out, ""]


def _write(md_path: Path, json_path: Path, before_md: str, history: list[Any]) -> None:
    md = before_md or (
        "# bedboard benchmark sweeps\n\nWritten by `python -m bench.sweep` (see "
        "`bench/sweep.py`): one run per value, each with its own PostgreSQL and servers. "
        "Each run's ratios are against baselines measured in that run; read the load average "
        "beside them.\n\n"
    )
    md += "\n".join(_section(history[-1])) + "\n"
    md_path.write_text(md)
    json_path.write_text(json.dumps(history, indent=1, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", help="KEY=V1,V2,... (a profile field and its values)")
    parser.add_argument("--scenarios", required=True, help="comma-separated, e.g. s1 or s1,s4")
    parser.add_argument("--quick", action="store_true", help="start from the quick profile")
    parser.add_argument(
        "--set", action="append", default=[], dest="fixed", metavar="KEY=VALUE",
        help="fix another profile field for every run (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=HERE / "SWEEPS.md",
        help="the markdown the sweep table is appended to (the runs' JSON goes beside it, "
        ".json instead of .md)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    base = QUICK if args.quick else DEFAULT
    try:
        chosen = parse_scenarios(args.scenarios)
        key, values = parse_sweep(args.sweep)
        if any(item.partition("=")[0].strip() == key for item in args.fixed):
            raise OverrideError(f"{key} is swept; do not --set it too")
        plans = [apply_overrides(base, [*args.fixed, f"{key}={v}"]) for v in values]
    except OverrideError as exc:
        return fail(PROG, str(exc))
    md_path: Path = args.out
    json_path = md_path.with_suffix(".json")
    md_path.parent.mkdir(parents=True, exist_ok=True)
    before_md = md_path.read_text() if md_path.exists() else ""
    try:
        history: list[Any] = json.loads(json_path.read_text()) if json_path.exists() else []
    except ValueError:
        return fail(PROG, f"{json_path} is not JSON; move it away or pick another --out")
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    raise_nofile_limit()
    given = sys.argv[1:] if argv is None else argv
    sweep: dict[str, Any] = {
        "started_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "command": shlex.join(["python", "-m", "bench.sweep", *given]),
        "profile": base.name,
        "key": key,
        "values": values,
        "fixed": args.fixed,
        "scenarios": list(chosen),
        "usable_cores": len(os.sched_getaffinity(0)),
        "runs": [],
    }
    history.append(sweep)
    failed = 0
    for value, (profile, overrides) in zip(values, plans, strict=True):
        command = ["python", "-m", "bench", *(["--quick"] if args.quick else []),
                   "--scenarios", ",".join(chosen).lower(),
                   *(f"--set={item}" for item in [*args.fixed, f"{key}={value}"])]  # fmt: skip
        print(f"[sweep] {key}={value}: {shlex.join(command)}", flush=True)
        results = asyncio.run(run(profile, chosen, None, overrides))
        results["command"] = shlex.join(command)
        for scenario in results["scenarios"].values():
            scenario["run"] = report.run_info(results)
        failed += sum(1 for r in results["scenarios"].values() if "error" in r)
        sweep["runs"].append({"value": value, "results": results})
        _write(md_path, json_path, before_md, history)
        print(f"[sweep] wrote {md_path} ({len(sweep['runs'])}/{len(values)})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
