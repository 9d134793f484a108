"""Full runs side by side: ``python -m bench.runs FILE ...`` prints a markdown table of each
scenario's verdict and headline figure in every given results file (``bench/results.json``,
or copies of earlier ones kept in ``bench/runs/``), with the load average at the start of
each scenario, so a target can be seen to hold (or not) across runs, not in one."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ORDER = ("START", "S1", "S2", "S3", "S4", "S5", "S6", "S7", "HL7")


def _figure(name: str, s: dict[str, Any]) -> str:
    if "error" in s:
        return f"error: {s['error']}"
    if name == "START":
        return f"cold {s['cold_median_s']} s, warm {s['warm_median_s']} s (no target)"
    if "headline" in s and name not in ("S5",):
        return str(s["headline"])
    if name == "S5":
        return "; ".join(f"{size}: {x['ratio_p99']}x" for size, x in s.get("sizes", {}).items())
    return f"p99 ratio {s.get('ratio_p99')}x (median of rounds {s.get('median_of_round_ratios')}x)"


def _verdict(name: str, s: dict[str, Any]) -> str:
    if name == "START":
        return "measured"
    if s.get("judged") is False:
        return "not judged (machine too loaded)"
    return "met" if s.get("met") else "**missed**"


def table(files: list[Path]) -> str:
    runs = [(path, json.loads(path.read_text(encoding="utf-8"))) for path in files]
    out = [
        "| Scenario | " + " | ".join(f"run {i + 1}" for i in range(len(runs))) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for name in ORDER:
        cells = []
        for _, data in runs:
            s = data.get("scenarios", {}).get(name)
            if s is None:
                cells.append("—")
                continue
            load = s.get("scenario_load_average", {}).get("start", ["?"])[0]
            cells.append(f"{_verdict(name, s)}: {_figure(name, s)} (load {load})")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out.append("")
    for i, (path, data) in enumerate(runs):
        out.append(
            f"- run {i + 1}: `{path.name}`, generated {data.get('generated_at')}, "
            f"{data.get('runtime_s')} s, load average at start {data.get('load_average', {}).get('start')}"
        )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.runs", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        print(f"python -m bench.runs: no such results file: {', '.join(missing)}", file=sys.stderr)
        return 2
    sys.stdout.write(table(args.files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
