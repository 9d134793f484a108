"""HL7: sustained ADT A01/A03 messages per second through MLLP with ACKs, and ACK latency.

Subject: bedboard's MLLP listener (``bedboard.feeds.mllp.start_listener`` with a pool, in
its own process, ``bench/serve.py hl7``) for ``hl7`` feeds created with
``feeds.create_feed`` (one facility each, four points of care mapped to four units, 30
declared beds per point of care). Every message is routed, parsed, deduplicated, applied
to the bed, turned into the unit's census and applied through ``feeds.ingest`` /
``census.apply`` before its ACK is written.

Baseline (floor), same run: a durable-INSERT MLLP server (``bench/serve.py mllp-insert``:
python-hl7 streams; per message ``hl7.parse``, one INSERT of MSH-4, MSH-10 and the message
into a real table, ``bench_mllp_log``, in its own transaction with ``synchronous_commit``
on, on a pool of the listener's size; ``create_ack("AA")`` written after the commit).

Load, from the bench process with python-hl7's MLLP client (``open_hl7_connection``):

- *sequential*: one connection (one feed) sending A01 (admit) then A03 (discharge) for a
  bed, then the next bed, each message waiting for its ACK (closed loop);
- *concurrent*: ``hl7_connections`` connections at once, one per feed (sending facility),
  each doing the same.

Rounds alternate subject and baseline (the order flips every round). Figures: messages/s
(messages ACKed / phase wall time) and ACK latency (send -> ACK read), with the ratio
subject / baseline for both. Every ACK must be AA and echo MSH-10. Target (H1), in both
phases: bedboard >= 0.5 x the floor's messages/s and ACK p99 <= 2 x the floor's p99.

After the rounds (not part of the figures): the statements one message costs, from
``bedboard.feeds.hl7.handle`` called in the bench process with a one-connection pool and an
asyncpg query logger.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hl7.mllp import open_hl7_connection  # type: ignore[import-untyped]

from bedboard import database, feeds
from bedboard.feeds import FeedIn
from bench import seed, stats
from bench.harness import Harness
from bench.servers import CpuMeter, ServerProcess

POINTS_OF_CARE = ("PSY-A", "PSY-B", "PSY-C", "PSY-D")
ACK_TIMEOUT_S = 30.0
# bedboard's listener, the durable-INSERT floor, and the effects floor (bench.serve).
SIDES = ("subject", "baseline", "effects")
THROUGHPUT_TARGET = 0.5  # bedboard msg/s >= this x the floor's
P99_TARGET = 2.0  # bedboard ACK p99 <= this x the floor's


@dataclass
class FeedPlan:
    """One sending facility: its feed, its beds and its next control id."""

    index: int
    facility: str
    feed_id: int
    beds: list[str]  # PV1-3 values: point of care ^ room ^ bed
    config: dict[str, Any] = field(default_factory=dict)
    sent: int = 0
    next_bed: int = 0

    def control_id(self) -> str:
        self.sent += 1
        return f"BB{self.index:02d}{self.sent:09d}"

    def bed(self) -> str:
        bed = self.beds[self.next_bed % len(self.beds)]
        self.next_bed += 1
        return bed


def stamp(at: datetime) -> str:
    """HL7 TS with microseconds and an explicit offset."""
    return at.astimezone(UTC).strftime("%Y%m%d%H%M%S.%f+0000")


def adt(trigger: str, control_id: str, at: datetime, bed: str, facility: str) -> bytes:
    """An ADT^A01/A03 as a hospital's interface engine sends it (CR between segments)."""
    ts = stamp(at)
    return "\r".join(
        (
            f"MSH|^~\\&|ADT1|{facility}|BEDBOARD|STATE|{ts}||ADT^{trigger}^ADT_A01|{control_id}"
            "|P|2.5",
            f"EVN|{trigger}|{ts}",
            "PID|1||PATID1234^^^GHH^MR||EVERYMAN^ADAM^A||19610615|M",
            f"PV1|1|I|{bed}|||||004777^ATTEND^AARON^A|||PSY",
        )
    ).encode()


def read_ack(block: bytes) -> tuple[str, str, str]:
    """(MSA-1, MSA-2, MSA-3) of an ACK, read without python-hl7 (cheap on the client)."""
    for segment in block.decode("utf-8", "replace").split("\r"):
        if segment.startswith("MSA|"):
            parts = segment.split("|")
            parts += [""] * (4 - len(parts))
            return parts[1], parts[2], parts[3]
    return "", "", ""


async def prepare(h: Harness, dsn: str) -> tuple[list[FeedPlan], list[FeedPlan]]:
    """The feeds bedboard's listener takes, and as many for the effects floor (their own
    facilities, units and beds: the two never write the same rows)."""
    p = h.profile
    conn = await database.connect(dsn)
    try:
        n = p.hl7_connections
        await seed.seed_directory(conn, 2 * n, 2 * n * len(POINTS_OF_CARE))
        async with conn.transaction():
            await conn.execute("UPDATE facilities SET active = true")
            await conn.execute("UPDATE units SET active = true")
        facility_ids = [r["id"] for r in await conn.fetch("SELECT id FROM facilities ORDER BY id")]
        plans = []
        for i, facility_id in enumerate(facility_ids):
            units = [
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM units WHERE facility_id = $1 ORDER BY id", facility_id
                )
            ]
            declared = {
                poc: [f"{100 + b // 2}^{'AB'[b % 2]}" for b in range(p.hl7_beds_per_poc)]
                for poc in POINTS_OF_CARE
            }
            name = f"BENCH HOSPITAL {i + 1:02d}" if i < n else f"EFFECTS HOSPITAL {i + 1 - n:02d}"
            config = {
                "sending_facility": name,
                "allowed_addresses": ["127.0.0.1"],
                "beds": declared,
            }
            feed = await feeds.create_feed(
                conn,
                FeedIn(
                    facility_id=facility_id,
                    kind="hl7",
                    name=f"ADT {name}",
                    config=config,
                    mappings=dict(zip(POINTS_OF_CARE, units, strict=True)),
                ),
            )
            beds = [f"{poc}^{entry}" for poc in POINTS_OF_CARE for entry in declared[poc]]
            # Interleave the points of care so consecutive beds hit different units.
            beds = [beds[j * p.hl7_beds_per_poc + k] for k in range(p.hl7_beds_per_poc)
                    for j in range(len(POINTS_OF_CARE))]  # fmt: skip
            plans.append(
                FeedPlan(index=i % n, facility=name, feed_id=feed.id, beds=beds, config=config)
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return plans[:n], plans[n:]


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    messages: int = 0
    wall_s: float = 0.0
    not_aa: int = 0
    wrong_control_id: int = 0
    examples: list[str] = field(default_factory=list)


async def drive(port: int, plan: FeedPlan, seconds: float, tally: Tally) -> None:
    """One connection: A01 then A03 per bed, each message waiting for its ACK, until
    ``seconds`` have passed (a started pair is finished, so every admitted bed is freed)."""
    reader, writer = await open_hl7_connection("127.0.0.1", port)
    try:
        until = time.monotonic() + seconds
        first = True
        while first or time.monotonic() < until:
            first = False
            bed = plan.bed()
            for trigger in ("A01", "A03"):
                ctrl = plan.control_id()
                raw = adt(trigger, ctrl, datetime.now(UTC), bed, plan.facility)
                started = time.monotonic()
                writer.writeblock(raw)
                await writer.drain()
                block: bytes = await asyncio.wait_for(reader.readblock(), ACK_TIMEOUT_S)
                tally.latencies_ms.append((time.monotonic() - started) * 1000)
                tally.messages += 1
                code, echoed, text = read_ack(block)
                if code != "AA":
                    tally.not_aa += 1
                    if len(tally.examples) < 5:
                        tally.examples.append(f"{code} {ctrl}: {text[:200]}")
                if echoed != ctrl:
                    tally.wrong_control_id += 1
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def phase(port: int, plans: list[FeedPlan], seconds: float, tally: Tally) -> None:
    started = time.monotonic()
    await asyncio.gather(*(drive(port, plan, seconds, tally) for plan in plans))
    tally.wall_s += time.monotonic() - started


def postgres_pids(postmaster: int) -> list[int]:
    """The postmaster and its children (backends, walwriter, ...), from /proc."""
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == postmaster:
            pids.append(int(entry.name))
    return pids


async def statements_per_message(dsn: str, plan: FeedPlan, pairs: int) -> dict[str, Any]:
    """Call ``feeds.hl7.handle`` in this process on a one-connection pool with a query
    logger: statements and database time per message, by statement; python-hl7 parses per
    message (``hl7.parse`` wrapped to count calls)."""
    import hl7  # type: ignore[import-untyped]

    pool = await database.create_pool(dsn, min_size=1, max_size=1)
    logged: list[tuple[str, float]] = []
    parses = [0]
    real_parse = hl7.parse

    def counting_parse(*args: Any, **kwargs: Any) -> Any:
        parses[0] += 1
        return real_parse(*args, **kwargs)

    def logger(record: Any) -> None:
        logged.append((" ".join(str(record.query).split())[:90], record.elapsed * 1000))

    async def one(trigger: str, bed: str) -> tuple[bytes, float]:
        raw = adt(trigger, plan.control_id(), datetime.now(UTC), bed, plan.facility)
        started = time.perf_counter()
        ack = await feeds.hl7.handle(pool, raw, "127.0.0.1")
        return ack, (time.perf_counter() - started) * 1000

    try:
        for _ in range(2):  # warm-up: type introspection, prepared statements
            bed = plan.bed()
            await one("A01", bed)
            await one("A03", bed)
        async with pool.acquire() as conn:
            conn.add_query_logger(logger)
        per_message: list[int] = []
        walls: list[float] = []
        by_text: dict[str, list[float]] = {}
        codes: dict[str, int] = {}
        hl7.parse = counting_parse
        try:
            for _ in range(pairs):
                bed = plan.bed()
                for trigger in ("A01", "A03"):
                    logged.clear()
                    ack, ms = await one(trigger, bed)
                    walls.append(ms)
                    code = read_ack(ack)[0]
                    codes[code] = codes.get(code, 0) + 1
                    per_message.append(len(logged))
                    for text, elapsed in logged:
                        by_text.setdefault(text, []).append(elapsed)
        finally:
            hl7.parse = real_parse
        async with pool.acquire() as conn:
            conn.remove_query_logger(logger)
    finally:
        await pool.close()
    messages = len(per_message)
    top = sorted(by_text.items(), key=lambda kv: -sum(kv[1]))
    return {
        "messages": messages,
        "warmup_messages": 4,
        "ack_codes": codes,
        "statements_per_message_median": stats.median([float(n) for n in per_message]),
        "handle_ms_median": round(stats.median(walls), 2),
        "db_ms_per_message": round(sum(sum(v) for v in by_text.values()) / messages, 2),
        "hl7_parse_calls_per_message": round(parses[0] / messages, 2),
        "statements": [
            {
                "sql": text,
                "per_message": round(len(ms) / messages, 2),
                "ms_per_message": round(sum(ms) / messages, 3),
            }
            for text, ms in top
        ],
        "note": "asyncpg's query logger: client-side elapsed time of each statement.",
    }


class _OneConnection:
    """A pool of one connection that is never reset (a pool's release would drop the log
    listener): what ``feeds.hl7.handle`` acquires from in ``backend_cpu``."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @contextlib.asynccontextmanager
    async def acquire(self, **_options: Any) -> AsyncIterator[Any]:
        yield self._conn

    def is_closing(self) -> bool:
        return False


_RUSAGE = re.compile(r"!\s+([\d.]+) s user, ([\d.]+) s system")


async def backend_cpu(dsn: str, plan: FeedPlan, pairs: int) -> dict[str, Any]:
    """PostgreSQL's own CPU per statement of a message, from ``log_statement_stats``
    (getrusage around every protocol step, sent to this client as LOG messages): where
    the database's share of a message goes. The logging adds a little to each step."""
    conn = await database.connect(dsn)
    spent: dict[str, list[float]] = {}
    current: list[str] = []

    def listener(_conn: Any, message: Any) -> None:
        text = str(message.message)
        if text.startswith("duration:"):
            # "duration: 0.1 ms  execute <name>: SQL" or "... statement: SQL"
            step = text.split()[3].rstrip(":")
            sql = text.split(": ", 2)[-1]
            current[:] = [f"{step} {' '.join(sql.split())[:70]}"]
            return
        found = _RUSAGE.search(str(getattr(message, "detail", "") or ""))
        if found and current:
            spent.setdefault(current[0], []).append(float(found[1]) + float(found[2]))

    pool: Any = _OneConnection(conn)
    cache = feeds.routes.Routes()

    async def one(trigger: str, bed: str) -> None:
        raw = adt(trigger, plan.control_id(), datetime.now(UTC), bed, plan.facility)
        await feeds.hl7.handle(pool, raw, "127.0.0.1", cache=cache)

    try:
        for _ in range(2):  # warm-up: type introspection, prepared statements
            bed = plan.bed()
            await one("A01", bed)
            await one("A03", bed)
        await conn.execute(
            "SET log_statement_stats = on; SET log_min_duration_statement = 0;"
            " SET client_min_messages = log"
        )
        conn.add_log_listener(listener)
        for _ in range(pairs):
            bed = plan.bed()
            await one("A01", bed)
            await one("A03", bed)
        await asyncio.sleep(0)
        conn.remove_log_listener(listener)
    finally:
        await conn.close()
    messages = 2 * pairs
    steps = sorted(spent.items(), key=lambda kv: -sum(kv[1]))
    return {
        "messages": messages,
        "warmup_messages": 4,
        "backend_us_per_message": round(sum(sum(v) for v in spent.values()) / messages * 1e6),
        "steps": [
            {
                "step": step,
                "per_message": round(len(v) / messages, 2),
                "us_per_message": round(sum(v) / messages * 1e6),
            }
            for step, v in steps
        ],
        "note": "log_statement_stats: the backend's user + system CPU of each protocol step "
        "(bind plans and binds parameters, execute runs; a simple-protocol statement is one "
        "step), as getrusage measures it, with the logging's own cost included.",
    }


def cpu_costs(plan: FeedPlan, config: dict[str, Any], repeat: int) -> dict[str, Any]:
    """Per-call CPU of the pure steps of the listener, timed in this process: reading the
    message and building its ACK (every message), validating the feed's settings (once per
    routing-cache load since feeds/routes.py, no longer per message), with this feed's 120
    declared beds and with a large hospital's 4 x 500; and the floor's parse + ACK."""
    import hl7

    from facility_adapters.hl7 import Hl7Config, build_ack, parse_message

    raw = adt("A01", "BB9999999999", datetime.now(UTC), plan.beds[0], plan.facility)
    large = dict(config)
    large["beds"] = {poc: [f"{100 + b // 2}^{'AB'[b % 2]}" for b in range(500)]
                     for poc in POINTS_OF_CARE}  # fmt: skip

    def per_call_us(work: Any) -> float:
        work()
        started = time.perf_counter()
        for _ in range(repeat):
            work()
        return round((time.perf_counter() - started) / repeat * 1e6, 1)

    return {
        "parse_message_us": per_call_us(lambda: parse_message(raw)),
        "build_ack_us": per_call_us(lambda: build_ack(raw, "AA", "applied")),
        "feed_config_validate_us": per_call_us(lambda: Hl7Config.model_validate(config)),
        "feed_config_validate_2000_beds_us": per_call_us(lambda: Hl7Config.model_validate(large)),
        "echo_parse_and_create_ack_us": per_call_us(
            lambda: str(hl7.parse(raw.decode()).create_ack("AA")).encode()
        ),
        "declared_beds": sum(len(v) for v in config.get("beds", {}).values()),
    }


def _side(tally: Tally, cpu: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "messages": tally.messages,
        "wall_s": round(tally.wall_s, 2),
        "messages_per_s": round(tally.messages / tally.wall_s, 1) if tally.wall_s else 0.0,
        "ack_latency": stats.summary(tally.latencies_ms),
        "not_aa": tally.not_aa,
        "wrong_control_id": tally.wrong_control_id,
        "examples": tally.examples,
    }
    if cpu:
        out["cpu"] = cpu
    return out


async def run(h: Harness, dsn: str, postmaster_pid: int) -> dict[str, Any]:
    p = h.profile
    plans, effects_plans = await prepare(h, dsn)
    subject = ServerProcess("hl7", ["hl7", "--dsn", dsn], h.workdir / "hl7.log")
    floor = ServerProcess(
        "mllp-insert", ["mllp-insert", "--dsn", dsn], h.workdir / "mllp-insert.log"
    )
    effects = ServerProcess(
        "mllp-effects", ["mllp-effects", "--dsn", dsn], h.workdir / "mllp-effects.log"
    )
    await subject.start()
    await floor.start()
    await effects.start()
    try:
        ports = {"subject": subject.extra_ports[0], "baseline": floor.extra_ports[0],
                 "effects": effects.extra_ports[0]}  # fmt: skip
        feeds_of = {"subject": plans, "baseline": plans, "effects": effects_plans}
        # Warm-up: the pool's connections, prepared statements, the code paths.
        warm = {side: Tally() for side in SIDES}
        for side in SIDES:
            await phase(ports[side], feeds_of[side][:1], 0.0, warm[side])
            for _ in range(max(1, p.warmup // 2)):
                await phase(ports[side], feeds_of[side], 0.0, warm[side])
        for server in (subject, floor, effects):
            await server.get_json("/_bench/lag")
        phases = ("sequential", "concurrent")
        tallies = {(ph, side): Tally() for ph in phases for side in ports}
        per_round: dict[tuple[str, str, int], Tally] = {}
        meter = CpuMeter(
            {"server": [subject.pid], "baseline": [floor.pid], "effects": [effects.pid],
             "bench": [os.getpid()], "postgres": postgres_pids(postmaster_pid)}
        )  # fmt: skip
        started = time.monotonic()
        for rnd in range(p.hl7_rounds):
            order = SIDES[rnd % 3 :] + SIDES[: rnd % 3]  # each side first in turn
            for ph in phases:
                for side in order:
                    chosen = feeds_of[side][:1] if ph == "sequential" else feeds_of[side]
                    one = per_round.setdefault((ph, side, rnd), Tally())
                    meter.start()
                    await phase(ports[side], chosen, p.hl7_phase_seconds, one)
                    meter.stop(f"{side}_{ph}")
                    total = tallies[(ph, side)]
                    total.latencies_ms += one.latencies_ms
                    total.messages += one.messages
                    total.wall_s += one.wall_s
                    total.not_aa += one.not_aa
                    total.wrong_control_id += one.wrong_control_id
                    total.examples += one.examples[: 5 - len(total.examples)]
        elapsed = time.monotonic() - started
        lag = {"subject": await subject.get_json("/_bench/lag"),
               "baseline": await floor.get_json("/_bench/lag"),
               "effects": await effects.get_json("/_bench/lag")}  # fmt: skip
        cpu = meter.report()
    finally:
        await subject.stop()
        await floor.stop()
        await effects.stop()
    diag = await statements_per_message(dsn, plans[0], p.hl7_diagnostic_pairs)
    diag["backend_cpu"] = await backend_cpu(dsn, plans[0], p.hl7_diagnostic_pairs)
    costs = await asyncio.to_thread(cpu_costs, plans[0], plans[0].config, p.hl7_cpu_repeat)
    conn = await database.connect(dsn)
    try:
        check = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM hl7_messages WHERE feed_id = ANY($1)) AS messages,
                   (SELECT count(*) FROM hl7_messages WHERE feed_id = ANY($2)) AS effects_rows,
                   (SELECT count(*) FROM census_history WHERE source LIKE 'feed:%') AS history,
                   (SELECT count(*) FROM unit_census c JOIN feed_mappings m ON m.unit_id = c.unit_id
                     WHERE c.occupied <> 0) AS units_left_occupied,
                   (SELECT count(*) FROM hl7_beds WHERE status <> 'U') AS beds_not_free,
                   (SELECT count(*) FROM bench_mllp_log) AS floor_rows
            """,
            [plan.feed_id for plan in plans],
            [plan.feed_id for plan in effects_plans],
        )
        assert check is not None
    finally:
        await conn.close()
    sent = (
        warm["subject"].messages
        + sum(tallies[(ph, "subject")].messages for ph in phases)
        + diag["messages"]
        + diag["warmup_messages"]
        + diag["backend_cpu"]["messages"]
        + diag["backend_cpu"]["warmup_messages"]
    )

    def cpu_per_message(side: str, ph: str) -> dict[str, Any]:
        row = cpu.get(f"{side}_{ph}", {})
        messages = tallies[(ph, side)].messages
        if not row or not messages:
            return {}
        out: dict[str, Any] = {"wall_s": row["wall_s"],
                               "machine_busy_fraction": row["machine_busy_fraction"]}  # fmt: skip
        for name in ("server", "baseline", "effects", "postgres", "bench"):
            key = f"{name}_cpu_s"
            if key in row and row[key] > 0:
                out[f"{name}_us_per_message"] = round(row[key] / messages * 1e6)
        return out

    results: dict[str, Any] = {}
    for ph in phases:
        s_tally, b_tally = tallies[(ph, "subject")], tallies[(ph, "baseline")]
        s = _side(s_tally, cpu_per_message("subject", ph))
        b = _side(b_tally, cpu_per_message("baseline", ph))
        e = _side(tallies[(ph, "effects")], cpu_per_message("effects", ph))
        rounds = []
        for rnd in range(p.hl7_rounds):
            rs, rb = per_round[(ph, "subject", rnd)], per_round[(ph, "baseline", rnd)]
            re_ = per_round[(ph, "effects", rnd)]
            rs_mps = rs.messages / rs.wall_s if rs.wall_s else 0.0
            rb_mps = rb.messages / rb.wall_s if rb.wall_s else 0.0
            re_mps = re_.messages / re_.wall_s if re_.wall_s else 0.0
            rs_p99 = stats.summary(rs.latencies_ms).get("p99_ms", 0.0)
            rb_p99 = stats.summary(rb.latencies_ms).get("p99_ms", 0.0)
            rounds.append({
                "round": rnd + 1, "subject_mps": round(rs_mps, 1),
                "baseline_mps": round(rb_mps, 1), "throughput_ratio": stats.ratio(rs_mps, rb_mps),
                "subject_p99_ms": rs_p99, "baseline_p99_ms": rb_p99,
                "p99_ratio": stats.ratio(rs_p99, rb_p99),
                "effects_mps": round(re_mps, 1),
                "effects_throughput_ratio": stats.ratio(re_mps, rb_mps),
            })  # fmt: skip
        results[ph] = {
            "connections": 1 if ph == "sequential" else len(plans),
            "subject": s,
            "baseline": b,
            "effects": e,
            # The effects floor against the INSERT floor: what the durable work alone costs.
            "effects_throughput_ratio": stats.ratio(e["messages_per_s"], b["messages_per_s"]),
            "effects_p99_ratio": stats.ratio(
                e["ack_latency"].get("p99_ms", 0.0), b["ack_latency"].get("p99_ms", 0.0)
            ),
            # bedboard against the effects floor: what its design costs beyond that work.
            "subject_vs_effects_throughput": stats.ratio(s["messages_per_s"], e["messages_per_s"]),
            "throughput_ratio": stats.ratio(s["messages_per_s"], b["messages_per_s"]),
            "p50_ratio": stats.ratio(
                s["ack_latency"].get("median_ms", 0.0), b["ack_latency"].get("median_ms", 0.0)
            ),
            "p99_ratio": stats.ratio(
                s["ack_latency"].get("p99_ms", 0.0), b["ack_latency"].get("p99_ms", 0.0)
            ),
            "rounds": rounds,
        }
    seq, conc = results["sequential"], results["concurrent"]
    problems = sum(
        results[ph][side]["not_aa"] + results[ph][side]["wrong_control_id"]
        for ph in phases
        for side in SIDES
    )
    for ph in phases:
        x = results[ph]
        x["met"] = x["throughput_ratio"] >= THROUGHPUT_TARGET and x["p99_ratio"] <= P99_TARGET
    floor_sent = warm["baseline"].messages + sum(
        tallies[(ph, "baseline")].messages for ph in phases
    )
    floor_rows = int(check["floor_rows"])
    effects_sent = warm["effects"].messages + sum(
        tallies[(ph, "effects")].messages for ph in phases
    )
    met = all(results[ph]["met"] for ph in phases) and problems == 0 and floor_rows == floor_sent
    return {
        "title": "HL7: ADT A01/A03 over MLLP with ACKs (bedboard listener vs a durable-INSERT "
        "MLLP server)",
        "baseline_kind": "insert",
        "headline": (
            f"sequential {seq['subject']['messages_per_s']:.0f} msg/s = "
            f"{seq['throughput_ratio']:.2f}x the floor's {seq['baseline']['messages_per_s']:.0f}, "
            f"ACK p99 {seq['subject']['ack_latency']['p99_ms']:.1f} ms = {seq['p99_ratio']:.2f}x; "
            f"concurrent x{conc['connections']}: {conc['subject']['messages_per_s']:.0f} msg/s = "
            f"{conc['throughput_ratio']:.2f}x, p99 {conc['p99_ratio']:.2f}x (target >= "
            f"{THROUGHPUT_TARGET}x msg/s, <= {P99_TARGET}x p99); the effects floor alone "
            f"{seq['effects_throughput_ratio']:.2f}x / {conc['effects_throughput_ratio']:.2f}x"
        ),
        "config": {
            "feeds": len(plans),
            "points_of_care_per_feed": len(POINTS_OF_CARE),
            "beds_per_point_of_care": p.hl7_beds_per_poc,
            "rounds": p.hl7_rounds,
            "seconds_per_phase_and_side": p.hl7_phase_seconds,
            "concurrent_connections": len(plans),
            "listener_pool": "database.create_pool(dsn) defaults (2..10 connections)",
            "wall_s": round(elapsed, 1),
            "message_example": adt(
                "A01",
                "BB0000000000",
                datetime(2024, 6, 1, tzinfo=UTC),
                plans[0].beds[0],
                plans[0].facility,
            )
            .decode()
            .replace("\r", "\\r"),
        },
        "sequential": results["sequential"],
        "concurrent": results["concurrent"],
        "ack_problems": problems,
        "target": f"in both phases: bedboard msg/s >= {THROUGHPUT_TARGET} x the durable-INSERT "
        f"MLLP server's and ACK p99 <= {P99_TARGET} x its p99; every ACK AA",
        "target_throughput_ratio": THROUGHPUT_TARGET,
        "target_p99_ratio": P99_TARGET,
        "met": met,
        "server": {
            "event_loop_lag": lag["subject"],
            "baseline_event_loop_lag": lag["baseline"],
            "effects_event_loop_lag": lag["effects"],
        },
        "database_after": {
            "subject_messages_incl_warmup_and_diagnostic": sent,
            "hl7_messages_rows": int(check["messages"]),
            "census_history_rows_from_feeds": int(check["history"]),
            "units_left_occupied": int(check["units_left_occupied"]),
            "beds_not_free": int(check["beds_not_free"]),
            "floor_messages_incl_warmup": floor_sent,
            "floor_rows": floor_rows,
            "effects_messages_incl_warmup": effects_sent,
            "effects_hl7_messages_rows": int(check["effects_rows"]),
        },
        "statements_per_message": diag,
        "cpu_costs": costs,
    }
