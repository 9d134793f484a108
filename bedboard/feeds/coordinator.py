"""One coordinator for polled feeds: schedule, fetch, ingest, health, backoff.

Every few seconds each instance looks for feeds that are due and polls them. A poll runs
on exactly one instance: it holds a PostgreSQL advisory lock for that feed for the whole
poll, on the one pooled connection it reads and writes through (so a poll never waits for
a second connection while holding one). The adapter only fetches and parses; this module
owns timing, the cursor, retries with exponential backoff and jitter, and the feed's
health record (which logs once when a feed starts failing and once when it recovers).
A permanent error (bad credentials, bad settings) stops the feed until its settings change.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from pydantic import ValidationError

from bedboard import database, logsafe
from bedboard.feeds import store
from bedboard.feeds.config import build_adapter
from bedboard.feeds.health import Attempt, record_attempt
from bedboard.feeds.ingest import ingest
from bedboard.feeds.models import IngestResult
from facility_adapters.base import REGISTRY, AdapterError, Rejected

log = logging.getLogger(__name__)

FEED_LOCK_CLASS = 0x6264  # advisory lock namespace: (FEED_LOCK_CLASS, feed id)
POLL_TIMEOUT_S = 120.0
MAX_BACKOFF = timedelta(hours=1)
SCAN_INTERVAL_S = 5


def backoff(interval_s: int, failures: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff from the feed's interval, capped, with ±25 % jitter."""
    base = min(timedelta(seconds=interval_s) * (2 ** max(failures - 1, 0)), MAX_BACKOFF)
    factor: float = 0.75 + (rng or random.Random()).random() * 0.5
    return timedelta(seconds=base.total_seconds() * factor)


class PollOutcome:
    def __init__(self, state: str, result: IngestResult | None = None, error: str = "") -> None:
        self.state = state
        self.result = result
        self.error = error


async def poll_feed(
    pool: database.Pool,
    feed_id: int,
    *,
    force: bool = True,
    allowed_dirs: Sequence[Path] | None = None,
) -> PollOutcome | None:
    """Poll one feed; None when another instance holds it, it is not polled, or (without
    ``force``) another instance polled it since it was found due."""
    async with database.acquire(pool) as conn:
        database.keeps_session_state(conn)  # the lock outlives transactions
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", FEED_LOCK_CLASS, feed_id):
            return None
        try:
            return await _poll_locked(conn, feed_id, force, allowed_dirs)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1, $2)", FEED_LOCK_CLASS, feed_id)


def _settings_error(exc: Exception) -> str:
    """Why stored settings no longer validate, without echoing their values (secrets)."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        )
    return type(exc).__name__


async def _fail(
    conn: database.Connection, feed_id: int, attempt: Attempt, rejected: list[Rejected]
) -> PollOutcome:
    async with conn.transaction():
        await store.add_to_quarantine(conn, feed_id, rejected)
        state = await record_attempt(conn, feed_id, attempt)
    return PollOutcome(state, error=attempt.error)


async def _poll_locked(
    conn: database.Connection, feed_id: int, force: bool, allowed_dirs: Sequence[Path] | None
) -> PollOutcome | None:
    feed = await store.poll_state(conn, feed_id)
    if feed is None or (not force and not (feed.due and feed.enabled and feed.state != "stopped")):
        return None
    try:
        adapter = build_adapter(feed.kind, feed.config, feed.secrets, allowed_dirs)
    except Exception as exc:  # noqa: BLE001 -- stored settings no longer valid: stop, and say why
        return await _fail(
            conn,
            feed_id,
            Attempt(ok=False, error=f"settings: {_settings_error(exc)}", permanent=True),
            [],
        )
    if not adapter.polled:
        return None
    interval = timedelta(seconds=feed.poll_interval_s)
    retry = backoff(feed.poll_interval_s, feed.consecutive_failures + 1)
    try:
        async with asyncio.timeout(POLL_TIMEOUT_S):
            fetched = await adapter.fetch(feed.cursor)
    except (AdapterError, TimeoutError, OSError) as exc:
        permanent = isinstance(exc, AdapterError) and exc.permanent
        rejected = exc.rejected if isinstance(exc, AdapterError) else []
        message = str(exc) or type(exc).__name__
        return await _fail(
            conn,
            feed_id,
            Attempt(ok=False, error=message, permanent=permanent, retry_in=retry),
            rejected,
        )
    except Exception as exc:  # noqa: BLE001 -- an adapter bug must not stop the other feeds' polls
        logsafe.log_failure(
            log, "feed %s: the %s adapter failed unexpectedly", feed_id, feed.kind, exc=exc
        )
        return await _fail(
            conn,
            feed_id,
            Attempt(ok=False, error=f"adapter error: {type(exc).__name__}", retry_in=retry),
            [],
        )
    try:
        async with conn.transaction():
            result = await ingest(conn, feed_id, fetched.parsed)
            if fetched.cursor is not None and fetched.cursor != feed.cursor:
                await store.save_cursor(conn, feed_id, fetched.cursor)
            state = await record_attempt(conn, feed_id, Attempt(ok=True, retry_in=interval))
    except database.DOWN_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 -- logged by logsafe
        logsafe.log_failure(log, "feed %s: applying the census failed", feed_id, exc=exc)
        return await _fail(
            conn,
            feed_id,
            Attempt(ok=False, error=f"apply error: {type(exc).__name__}", retry_in=retry),
            [],
        )
    return PollOutcome(state, result)


async def check_feed(
    pool: database.Pool, feed_id: int, *, allowed_dirs: Sequence[Path] | None = None
) -> str:
    """Run the adapter's cheap connectivity check; return '' when fine, else the problem."""
    async with database.acquire(pool) as conn:
        found = await store.adapter_settings(conn, feed_id)
    if found is None:
        return "no such feed"
    try:
        adapter = build_adapter(*found, allowed_dirs)
        async with asyncio.timeout(POLL_TIMEOUT_S):
            await adapter.check()
    except AdapterError as exc:
        return f"{'permanent' if exc.permanent else 'temporary'} problem: {exc}"
    except (TimeoutError, OSError) as exc:
        return f"temporary problem: {exc or type(exc).__name__}"
    except Exception as exc:  # noqa: BLE001 -- report any failure of the check to the admin
        return f"problem: {exc}"
    return ""


async def poll_due(pool: database.Pool, *, allowed_dirs: Sequence[Path] | None = None) -> int:
    """Poll every enabled, polled feed whose next attempt is due; return how many ran."""
    async with database.acquire(pool) as conn:
        due = await store.due_feeds(conn)
    ran = 0
    for feed_id, kind in due:
        adapter = REGISTRY.get(kind)
        if adapter is None or not adapter.polled:
            continue
        if await poll_feed(pool, feed_id, force=False, allowed_dirs=allowed_dirs) is not None:
            ran += 1
    return ran
