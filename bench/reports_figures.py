"""REPORTS: every report figure's JSON at a year of program history.

Subject: ``GET /api/v1/reports/{figure}?from=…&to=…`` for the whole year, with a liaison
token (every facility and court by name), the body read in full. Baseline: the figure's
own SQL with the same parameters (``Figure.sql``, or ``Figure.rollup_sql`` for the
figures read from the roll-ups, which the run builds first) run bare through asyncpg in a
repeatable-read snapshot under the product's plan mode (``force_custom_plan``), as
``reports.run`` reads it, with no encoding. The live statement a roll-up replaces is
timed once beside it. Subject and
baseline alternate, the order flipping every round. Targets (issue 12): every figure's
p99 under 2 s, and at most 1.5 x its bare SQL's p99.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg

from bedboard import database
from bedboard.auth import Role
from bedboard.reports import FIGURES, SESSION_SQL, Filters
from bedboard.reports.filters import Scope, sql_parameters
from bench import stats
from bench.harness import Harness
from bench.servers import ServerProcess

TARGET_RATIO = 1.5
TARGET_P99_MS = 2000.0
ZONE = "America/Chicago"


async def measure(
    h: Harness, app: ServerProcess, dsn: str, token: str, world: dict[str, Any]
) -> dict[str, Any]:
    p = h.profile
    headers = {"Authorization": f"Bearer {token}"}
    raw = await database.connect(dsn)  # bedboard's codecs: the no-bed aggregates read jsonb
    session = aiohttp.ClientSession()
    today: date = await raw.fetchval("SELECT (now() AT TIME ZONE $1)::date", ZONE)
    first = today - timedelta(days=364)
    query = {"from": first.isoformat(), "to": today.isoformat()}
    filters = Filters.model_validate(query)
    params = sql_parameters(
        filters, Scope(Role.LIAISON), today=today, zone=ZoneInfo(ZONE), zone_name=ZONE
    )
    results: dict[str, Any] = {}
    try:
        for slug, figure in FIGURES.items():
            if figure.computed is not None:
                start, stop = filters.instants(today, ZoneInfo(ZONE))
                computed = figure.computed

                async def read(conn: Any, c: Any = computed, a: Any = start, b: Any = stop) -> int:
                    return len(await c(conn, a, b, ZONE, None))
            else:
                # What ``reports.run`` runs: the roll-up statement once the roll-ups exist.
                sql = figure.rollup_sql if figure.rollup_body else figure.sql

                async def read(conn: Any, sql: str = sql) -> int:
                    return len(await conn.fetch(sql, *params))

            results[slug] = await _figure(
                h, session, raw, f"{app.base_url}/api/v1/reports/{slug}", query, headers, read
            )
            if figure.rollup_body:
                results[slug]["live_sql_once_ms"] = await _once(raw, figure.sql, params)
        # Under a needs filter the unit figures read the roll-ups' groups of the units that
        # serve the need: timed with the need most units serve, the worst.
        need: str | None = await raw.fetchval(
            "SELECT s FROM units, unnest(specialties) AS s GROUP BY s ORDER BY count(*) DESC, s"
            " LIMIT 1"
        )
        for slug, figure in FIGURES.items():
            if need is None or not figure.rollup_body or "needs" not in figure.filters:
                continue
            with_need = {**query, "needs": need}
            need_params = sql_parameters(
                Filters.model_validate(with_need),
                Scope(Role.LIAISON),
                today=today,
                zone=ZoneInfo(ZONE),
                zone_name=ZONE,
            )

            async def read_rolled(
                conn: Any, sql: str = figure.rollup_sql, a: Any = need_params
            ) -> int:
                return len(await conn.fetch(sql, *a))

            results[f"{slug} (needs={need})"] = await _figure(
                h, session, raw, f"{app.base_url}/api/v1/reports/{slug}", with_need, headers,
                read_rolled,
            )  # fmt: skip
    finally:
        await session.close()
        await raw.close()
    worst_ratio = max(r["ratio_p99"] for r in results.values())
    slowest = max(results.items(), key=lambda kv: kv[1]["subject"]["p99_ms"])
    return {
        "title": "REPORTS: each figure's JSON at a year of history vs its bare SQL",
        "target": f"every figure p99 < {TARGET_P99_MS / 1000:.0f} s and <= {TARGET_RATIO} x "
        "its bare SQL's p99",
        "target_ratio": TARGET_RATIO,
        "ratio_p99": worst_ratio,
        "met": all(r["met"] for r in results.values()),
        "headline": (
            f"worst ratio {worst_ratio:.2f}x; slowest {slowest[0]} p99 "
            f"{slowest[1]['subject']['p99_ms']:.0f} ms (targets < {TARGET_P99_MS:.0f} ms, "
            f"<= {TARGET_RATIO}x)"
        ),
        "config": {
            **world,
            "period": query,
            "requests_per_side_and_figure": p.reports_rounds * p.reports_requests,
        },
        "figures": results,
    }


async def _once(raw: asyncpg.Connection, sql: str, params: list[Any]) -> float:
    """The live statement a roll-up replaces, run once bare: what the figure would cost
    without its roll-up."""
    started = time.monotonic()
    async with raw.transaction(isolation="repeatable_read", readonly=True):
        await raw.execute(SESSION_SQL)
        await raw.fetch(sql, *params)
    return round((time.monotonic() - started) * 1000, 1)


async def _figure(
    h: Harness,
    session: aiohttp.ClientSession,
    raw: asyncpg.Connection,
    url: str,
    query: dict[str, str],
    headers: dict[str, str],
    read: Callable[[Any], Awaitable[int]],
) -> dict[str, Any]:
    """One figure: the API answer and the bare SQL, alternating."""
    p = h.profile
    samples: dict[str, dict[int, list[float]]] = {"subject": {}, "bare": {}}
    sizes: dict[str, int] = {}

    async def subject(rnd: int | None) -> None:
        started = time.monotonic()
        async with session.get(url, params=query, headers=headers) as resp:
            body = await resp.read()
        elapsed = (time.monotonic() - started) * 1000
        if resp.status != 200:
            raise RuntimeError(f"REPORTS {url}: {resp.status} {body[:300]!r}")
        sizes["bytes"] = len(body)
        if rnd is not None:
            samples["subject"].setdefault(rnd, []).append(elapsed)

    async def bare(rnd: int | None) -> None:
        started = time.monotonic()
        async with raw.transaction(isolation="repeatable_read", readonly=True):
            await raw.execute(SESSION_SQL)  # as the product
            rows = await read(raw)
        elapsed = (time.monotonic() - started) * 1000
        sizes["rows"] = rows
        if rnd is not None:
            samples["bare"].setdefault(rnd, []).append(elapsed)

    for _ in range(2):
        await subject(None)
        await bare(None)
    for rnd in range(p.reports_rounds):
        order = (subject, bare) if rnd % 2 == 0 else (bare, subject)
        for _ in range(p.reports_requests):
            for do in order:
                await do(rnd)
    pooled = {k: [v for vs in s.values() for v in vs] for k, s in samples.items()}
    s_sum, b_sum = stats.summary(pooled["subject"]), stats.summary(pooled["bare"])
    ratio = stats.ratio(s_sum["p99_ms"], b_sum["p99_ms"])
    per_round = [
        stats.ratio(
            stats.summary(samples["subject"][r])["p99_ms"],
            stats.summary(samples["bare"][r])["p99_ms"],
        )
        for r in range(p.reports_rounds)
    ]
    return {
        "subject": s_sum,
        "bare_sql": b_sum,
        "ratio_p99": ratio,
        "median_of_round_ratios": round(stats.median(per_round), 3),
        "rows": sizes.get("rows"),
        "bytes": sizes.get("bytes"),
        "met": ratio <= TARGET_RATIO and s_sum["p99_ms"] < TARGET_P99_MS,
    }
