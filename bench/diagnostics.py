"""Measurements that explain the scenario figures (not targets themselves).

- the freshness job's cost on a large directory (it runs every 30 s on every instance);
- the per-request token lookup, which writes ``api_tokens.last_used_at`` (a commit per
  authenticated request), against a read-only lookup of the same principal.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from bedboard import auth, board, census, database
from bench import stats

TOKEN_LOOKUPS = 200


async def freshness_job_cost(dsn: str) -> dict[str, Any]:
    """What the 30-second freshness job does on this directory, timed in this process."""
    conn = await database.connect(dsn)
    try:
        states_ms = []
        job_ms = []
        units = 0
        for _ in range(3):
            now = await board.db_now(conn)
            started = time.perf_counter()
            units = len(await board.unit_states(conn, now=now))
            states_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await census.publish_freshness_changes(conn, await board.db_now(conn))
            job_ms.append((time.perf_counter() - started) * 1000)
        return {
            "units_loaded": units,
            "unit_states_ms_median": round(stats.median(states_ms), 1),
            "publish_freshness_changes_ms_median": round(stats.median(job_ms), 1),
        }
    finally:
        await conn.close()


async def token_lookup_cost(dsn: str, token: str) -> dict[str, Any]:
    """``auth.load_token`` (UPDATE ... RETURNING, committed) vs the same read without the
    write, alternating, on one connection."""
    conn = await database.connect(dsn)
    digest = hashlib.sha256(token.encode("utf-8")).digest()
    writing: list[float] = []
    reading: list[float] = []
    try:
        for _ in range(TOKEN_LOOKUPS):
            started = time.perf_counter()
            principal = await auth.load_token(conn, token)
            writing.append((time.perf_counter() - started) * 1000)
            assert principal is not None
            started = time.perf_counter()
            await conn.fetchrow(
                """
                SELECT p.*, t.id AS token_id
                  FROM api_tokens t JOIN principals p ON p.user_id = t.user_id
                 WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND NOT p.disabled
                """,
                digest,
            )
            reading.append((time.perf_counter() - started) * 1000)
    finally:
        await conn.close()
    read, write = stats.summary(reading), stats.summary(writing)
    return {
        "load_token_with_last_used_write": write,
        "same_lookup_read_only": read,
        "write_over_read_median": stats.ratio(write["median_ms"], read["median_ms"]),
    }
