"""What every scenario shares: the run profile, the databases, users, pacing and keys."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import TypeAdapter

from bench.servers import ServerProcess


@dataclass(frozen=True)
class Profile:
    name: str
    # The board database used by S1 and S4 (a state-sized directory).
    board_facilities: int
    board_units: int
    # S1: census PUT -> websocket delivery.
    s1_clients: int
    s1_processes: int
    s1_rate: float  # updates per second
    s1_seconds: float  # measured subject time (and as much floor time), over the rounds
    s1_rounds: int
    s1_baseline_seconds: float  # per round; notify and handler probes each at s1_rate
    # S3: search over a large directory.
    s3_facilities: int
    s3_units: int
    s3_queries: int
    s3_rounds: int
    # S4: fan-out to many clients in several processes.
    s4_clients: int
    s4_processes: int
    s4_rate: float
    s4_seconds: float  # per side (subject, baseline), split over the rounds
    s4_rounds: int
    warmup: int  # unmeasured operations before each scenario
    # S2: feed ingest (one feed of s2_units units, s2_changed changed per poll) vs pgbench.
    s2_units: int = 5000
    s2_changed: int = 500
    s2_rounds: int = 8
    s2_subject_seconds: float = 5.0  # ingest polls per round (back to back)
    s2_pgbench_seconds: int = 4  # pgbench -T per round
    s2_warmup_polls: int = 3
    s2_breakdown_polls: int = 5  # instrumented and changed-only polls after the rounds
    s2_floor_seconds: float = 2.0  # set-wise SQL floor polls per round (back to back)
    # HL7: ADT A01/A03 over MLLP, bedboard's listener vs a bare MLLP echo server.
    hl7_connections: int = 4  # concurrent phase: one connection (and feed) each
    hl7_beds_per_poc: int = 30
    hl7_rounds: int = 6
    hl7_phase_seconds: float = 2.5  # per phase (sequential, concurrent) and side, per round
    hl7_diagnostic_pairs: int = 20
    hl7_cpu_repeat: int = 300  # calls per pure step timed in the bench process
    # S5: GET /api/v1/board at each (facilities, units) size, vs its SQL + one encode.
    s5_sizes: tuple[tuple[int, int], ...] = ((500, 5000), (5000, 50000))
    s5_rounds: int = 6
    s5_requests: int = (
        6  # per side and round (each subject request is followed by a second at its position)
    )
    # S6: a reconnect storm of s6_clients (in s6_processes) while changes go on at s6_rate.
    s6_clients: int = 2000
    s6_processes: int = 4
    s6_rate: float = 10.0
    s6_rounds: int = 3  # storms (each also run against the bare server)
    s6_away_s: float = 1.0  # between the drop and the reconnect
    # S7: S1-style PUTs to instance A, s7_clients split across A and B (vs all on A alone).
    s7_clients: int = 200
    s7_processes: int = 2
    s7_rate: float = 20.0
    s7_seconds: float = 36.0  # measured PUT time per kind (one/two instances), over the rounds
    s7_rounds: int = 6
    # REPORTS: each report figure at a year of history (reports_units units, placements).
    reports_units: int = 5000
    reports_days: int = 365
    reports_placements: int = 20000
    reports_rounds: int = 4
    reports_requests: int = 2  # per side, figure and round


DEFAULT = Profile(
    name="default",
    board_facilities=100,
    board_units=1000,
    s1_clients=200,
    s1_processes=2,
    s1_rate=20.0,
    s1_seconds=48.0,
    s1_rounds=12,
    s1_baseline_seconds=2.0,
    s3_facilities=5000,
    s3_units=50000,
    s3_queries=24,
    s3_rounds=10,
    s4_clients=2000,
    s4_processes=4,
    s4_rate=10.0,
    s4_seconds=60.0,
    s4_rounds=12,
    warmup=20,
)

QUICK = Profile(
    name="quick",
    board_facilities=40,
    board_units=400,
    s1_clients=20,
    s1_processes=1,
    s1_rate=20.0,
    s1_seconds=4.0,
    s1_rounds=2,
    s1_baseline_seconds=2.0,
    s3_facilities=500,
    s3_units=5000,
    s3_queries=8,
    s3_rounds=2,
    s4_clients=100,
    s4_processes=2,
    s4_rate=10.0,
    s4_seconds=4.0,
    s4_rounds=2,
    warmup=5,
    s2_rounds=2,
    s2_subject_seconds=1.5,
    s2_pgbench_seconds=2,
    s2_warmup_polls=1,
    s2_breakdown_polls=2,
    s2_floor_seconds=1.0,
    hl7_rounds=2,
    hl7_phase_seconds=1.0,
    hl7_diagnostic_pairs=5,
    hl7_cpu_repeat=50,
    s5_sizes=((100, 1000), (500, 5000)),
    s5_rounds=2,
    s5_requests=5,
    reports_units=300,
    reports_days=60,
    reports_placements=500,
    reports_rounds=2,
    reports_requests=2,
    s6_clients=200,
    s6_processes=2,
    s6_rounds=2,
    s6_away_s=0.5,
    s7_clients=20,
    s7_processes=1,
    s7_seconds=4.0,
    s7_rounds=2,
)


_DATETIME = TypeAdapter(datetime)


def wire_time(value: datetime) -> str:
    """A datetime as bedboard puts it on the wire (pydantic's JSON form)."""
    text: str = _DATETIME.dump_python(value, mode="json")
    return text


def parse_key(key: str) -> datetime:
    return datetime.fromisoformat(key)


@dataclass
class AsOfClock:
    """Unique, increasing ``as_of`` values (1 ms apart): every report is newer, so applied,
    and its frame is identified by its ``as_of``."""

    base: datetime
    issued: int = 0

    def next(self) -> datetime:
        self.issued += 1
        return self.base + timedelta(milliseconds=self.issued)


@dataclass
class Harness:
    profile: Profile
    workdir: Path
    admin_dsn: str
    board_dsn: str = ""
    search_dsn: str = ""
    bare: ServerProcess | None = None
    pg_bin_dir: Path | None = None  # the embedded server's binaries (pgbench)
    clock: AsOfClock | None = None
    facts: dict[str, Any] = field(default_factory=dict)


async def head_seq(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT seq FROM outbox_counter"))
    finally:
        await conn.close()


async def paced(
    rate: float, count: int, action: Callable[[int], Coroutine[Any, Any, None]], *, overlap: bool
) -> None:
    """Start ``action(i)`` at ``i / rate`` seconds. With ``overlap`` each starts on time in
    its own task (open loop: a slow one does not delay the next); otherwise one at a time."""
    start = time.monotonic()
    tasks: list[asyncio.Task[None]] = []
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if overlap:
            tasks.append(asyncio.create_task(action(i)))
        else:
            await action(i)
    if tasks:
        await asyncio.gather(*tasks)


# --------------------------------------------------------------------------- overrides

# Profile fields that may be 0 (everything else numeric must be positive).
MAY_BE_ZERO = frozenset({"warmup", "s2_warmup_polls", "s2_breakdown_polls"})


class OverrideError(ValueError):
    """A ``--set`` that names no profile field or gives a value it cannot take."""


def profile_keys() -> list[str]:
    return [f.name for f in fields(Profile) if f.name != "name"]


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    """``500x5000,5000x50000`` (or with ``+`` between sizes) as ((500, 5000), (5000, 50000))."""
    sizes = []
    for part in text.replace("+", ",").split(","):
        facilities, sep, units = part.strip().lower().partition("x")
        if not sep or not facilities.isdigit() or not units.isdigit():
            raise OverrideError(f"s5_sizes: {part.strip()!r} is not FACILITIESxUNITS")
        f, u = int(facilities), int(units)
        if f < 1 or u < f:
            raise OverrideError(f"s5_sizes: {part.strip()!r} needs 1 <= facilities <= units")
        sizes.append((f, u))
    return tuple(sizes)


def parse_value(key: str, text: str) -> Any:
    """A ``--set`` value as the type of the Profile field ``key``."""
    kinds = {f.name: str(f.type) for f in fields(Profile)}
    if key not in kinds or key == "name":
        raise OverrideError(f"unknown profile key {key!r} (known: {', '.join(profile_keys())})")
    kind = kinds[key]
    if kind == "tuple[tuple[int, int], ...]":
        return parse_sizes(text)
    try:
        value: int | float = int(text) if kind == "int" else float(text)
    except ValueError:
        wanted = "an integer" if kind == "int" else "a number"
        raise OverrideError(f"{key}={text}: not {wanted}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and key not in MAY_BE_ZERO):
        raise OverrideError(f"{key}={text}: must be {'>= 0' if key in MAY_BE_ZERO else '> 0'}")
    return value


def check_profile(p: Profile) -> None:
    """Combinations a run cannot use (one line each)."""
    if p.s2_changed > p.s2_units:
        raise OverrideError(f"s2_changed={p.s2_changed} is more than s2_units={p.s2_units}")
    if p.board_units < p.board_facilities:
        raise OverrideError("board_units must be at least board_facilities")
    if p.s3_units < p.s3_facilities:
        raise OverrideError("s3_units must be at least s3_facilities")


def apply_overrides(profile: Profile, items: list[str]) -> tuple[Profile, dict[str, Any]]:
    """``profile`` with ``key=value`` items applied, and the overrides as recorded."""
    changes: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise OverrideError(f"--set {item!r}: expected key=value")
        if key in changes:
            raise OverrideError(f"--set {key} given twice")
        changes[key] = parse_value(key, text.strip())
    changed = replace(profile, **changes)
    check_profile(changed)
    recorded = {k: [list(s) for s in v] if k == "s5_sizes" else v for k, v in changes.items()}
    return changed, recorded
