"""START: how long ``bedboard demo`` takes to answer ``/readyz`` 200, as a new user runs it.

Each round starts ``python -m bedboard.cli demo`` (simulation off) on an empty data dir
under ``/tmp`` (cold: the embedded PostgreSQL runs initdb, migrations apply, the demo data
loads), stops it with SIGINT, then starts it again on the same dir (warm: the cluster and
the data exist). The clock runs from ``Popen`` to the first 200 from ``/readyz``, polled
every 50 ms. There is no baseline: start-up is reported in seconds with the load average
around each start, because on a shared 2-core machine the load decides most of it (the
demo test once saw 21 s here). The demo test only checks readiness within a generous
timeout; this is where the figure is measured.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.harness import Harness

GIVE_UP_S = 180.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _start_once(data_dir: Path) -> dict[str, Any]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEDBOARD_")}
    env.update(
        BEDBOARD_DATA_DIR=str(data_dir),
        BEDBOARD_PORT=str(port),
        BEDBOARD_DEMO_SIMULATE="false",
        BEDBOARD_LOG_LEVEL="WARNING",
    )
    load_before = os.getloadavg()
    log_path = data_dir.parent / f"{data_dir.name}-{time.monotonic_ns()}.log"
    with log_path.open("w") as out:
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bedboard.cli", "demo"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            while not _ready(f"http://127.0.0.1:{port}/readyz"):
                if proc.poll() is not None:
                    raise RuntimeError("bedboard demo exited:\n" + log_path.read_text())
                if time.monotonic() - started > GIVE_UP_S:
                    raise RuntimeError("bedboard demo never became ready:\n" + log_path.read_text())
                time.sleep(0.05)
            ready_s = time.monotonic() - started
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    log_path.unlink(missing_ok=True)
    return {
        "ready_s": round(ready_s, 2),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }


def _rounds(count: int) -> list[dict[str, Any]]:
    rounds = []
    for number in range(1, count + 1):
        # Short path on purpose: the embedded server's Unix socket lives in the data dir.
        data_dir = Path(tempfile.mkdtemp(prefix="bbstart", dir="/tmp"))
        try:
            cold = _start_once(data_dir)
            warm = _start_once(data_dir)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
        rounds.append({"round": number, "cold": cold, "warm": warm})
    return rounds


async def run(h: Harness) -> dict[str, Any]:
    count = 1 if h.profile.name == "quick" else 3
    rounds = await asyncio.to_thread(_rounds, count)
    cold = sorted(r["cold"]["ready_s"] for r in rounds)
    warm = sorted(r["warm"]["ready_s"] for r in rounds)
    median_cold = cold[len(cold) // 2]
    median_warm = warm[len(warm) // 2]
    return {
        "headline": (
            f"bedboard demo ready in {median_cold:.1f} s cold (median of {count}, "
            f"max {cold[-1]:.1f} s), {median_warm:.1f} s warm"
        ),
        "config": {"rounds": count, "command": "python -m bedboard.cli demo", "simulate": False},
        "cold_median_s": median_cold,
        "cold_max_s": cold[-1],
        "warm_median_s": median_warm,
        "warm_max_s": warm[-1],
        "rounds": rounds,
    }
