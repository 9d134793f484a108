"""The feed tables, and the only code that writes them: ``feeds`` (settings, secrets,
cursor), ``feed_status`` (health), ``feed_mappings``, ``feed_unmapped`` and
``feed_quarantine``. The coordinator, the HL7 side and the demo read them here too."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bedboard.database import Connection
from bedboard.errors import BadReference, FieldError, Invalid, NotFound, StaleVersion
from bedboard.feeds.config import validate_config
from bedboard.feeds.models import (
    Feed,
    FeedHealth,
    FeedIn,
    FeedPatch,
    QuarantineEntry,
    Unmapped,
)
from facility_adapters.base import Rejected

QUARANTINE_KEEP = 1000  # per feed


def clean_text(text: str, limit: int) -> str:
    """Text from a source made safe to store: no NUL, no unpaired surrogates, bounded."""
    safe = text.replace("\x00", "\u2400").encode("utf-8", "replace").decode("utf-8")
    return safe[:limit]


_FEED_SQL = """
    SELECT fd.*, f.name AS facility_name,
           COALESCE(s.state, 'new') AS state, s.last_attempt_at, s.last_success_at, s.last_error,
           s.last_error_at, COALESCE(s.consecutive_failures, 0) AS consecutive_failures,
           COALESCE(s.reports_applied, 0) AS reports_applied, s.next_attempt_at
      FROM feeds fd JOIN facilities f ON f.id = fd.facility_id
      LEFT JOIN feed_status s ON s.feed_id = fd.id
"""


async def _feed(conn: Connection, row: Any) -> Feed:
    unmapped = await conn.fetch(
        "SELECT source_id, first_seen, last_seen, times FROM feed_unmapped WHERE feed_id = $1"
        " ORDER BY last_seen DESC LIMIT 100",
        row["id"],
    )
    return Feed(
        id=row["id"],
        facility_id=row["facility_id"],
        facility_name=row["facility_name"],
        kind=row["kind"],
        name=row["name"],
        config=row["config"],
        secrets_set=sorted(row["secrets"]),
        enabled=row["enabled"],
        poll_interval_s=row["poll_interval_s"],
        cursor=row["cursor"],
        mappings=await mappings(conn, row["id"]),
        unmapped=[Unmapped(**dict(u)) for u in unmapped],
        health=FeedHealth(**{k: row[k] for k in FeedHealth.model_fields}),
        version=row["version"],
    )


async def list_feeds(conn: Connection, facility_id: int | None = None) -> list[Feed]:
    rows = await conn.fetch(
        _FEED_SQL + " WHERE ($1::bigint IS NULL OR fd.facility_id = $1) ORDER BY f.name, fd.name",
        facility_id,
    )
    return [await _feed(conn, r) for r in rows]


async def get_feed(conn: Connection, feed_id: int) -> Feed:
    row = await conn.fetchrow(_FEED_SQL + " WHERE fd.id = $1", feed_id)
    if row is None:
        raise NotFound("feed")
    return await _feed(conn, row)


async def feed_secrets(conn: Connection, feed_id: int) -> dict[str, Any]:
    value = await conn.fetchval("SELECT secrets FROM feeds WHERE id = $1", feed_id)
    if value is None:
        raise NotFound("feed")
    result: dict[str, Any] = value
    return result


async def _set_mappings(
    conn: Connection, feed_id: int, facility_id: int, mappings: dict[str, int]
) -> None:
    units = {
        r["id"]
        for r in await conn.fetch("SELECT id FROM units WHERE facility_id = $1", facility_id)
    }
    strangers = sorted({u for u in mappings.values() if u not in units})
    if strangers:
        raise Invalid(
            "A mapping names a unit of another facility.",
            [
                FieldError("mappings", f"unit {u} is not at this facility", "reference")
                for u in strangers
            ],
        )
    await conn.execute("DELETE FROM feed_mappings WHERE feed_id = $1", feed_id)
    await conn.executemany(
        "INSERT INTO feed_mappings (feed_id, source_id, unit_id) VALUES ($1, $2, $3)",
        [(feed_id, source.strip(), unit) for source, unit in mappings.items() if source.strip()],
    )
    await conn.execute(
        "DELETE FROM feed_unmapped WHERE feed_id = $1 AND source_id = ANY($2::text[])",
        feed_id,
        list(mappings),
    )


async def create_feed(
    conn: Connection, data: FeedIn, allowed_dirs: Sequence[Path] | None = None
) -> Feed:
    plain, secrets = validate_config(data.kind, data.config, allowed_dirs)
    async with conn.transaction():
        try:
            feed_id = await conn.fetchval(
                "INSERT INTO feeds (facility_id, kind, name, config, secrets, enabled, poll_interval_s)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                data.facility_id,
                data.kind,
                data.name,
                plain,
                secrets,
                data.enabled,
                data.poll_interval_s,
            )
        except asyncpg.ForeignKeyViolationError:
            raise BadReference("facility_id", detail="No such facility.") from None
        await conn.execute("INSERT INTO feed_status (feed_id) VALUES ($1)", feed_id)
        await _set_mappings(conn, feed_id, data.facility_id, data.mappings)
    return await get_feed(conn, feed_id)


async def update_feed(
    conn: Connection,
    feed_id: int,
    patch: FeedPatch,
    expected_version: int | None,
    allowed_dirs: Sequence[Path] | None = None,
) -> Feed:
    async with conn.transaction():
        row = await conn.fetchrow("SELECT * FROM feeds WHERE id = $1 FOR UPDATE", feed_id)
        if row is None:
            raise NotFound("feed")
        if expected_version is not None and row["version"] != expected_version:
            raise StaleVersion("feed")
        plain, secrets = row["config"], row["secrets"]
        if patch.config is not None:
            # Secret fields left out (or blank) keep their stored value.
            plain, new_secrets = validate_config(
                row["kind"], {**row["secrets"], **patch.config}, allowed_dirs
            )
            secrets = {**row["secrets"], **new_secrets}
        await conn.execute(
            "UPDATE feeds SET name = COALESCE($2, name), config = $3, secrets = $4,"
            " enabled = COALESCE($5, enabled), poll_interval_s = COALESCE($6, poll_interval_s),"
            " updated_at = now(), version = version + 1 WHERE id = $1",
            feed_id,
            patch.name,
            plain,
            secrets,
            patch.enabled,
            patch.poll_interval_s,
        )
        if patch.config is not None or patch.enabled:
            # New settings deserve a fresh try, even after a permanent failure.
            await conn.execute(
                "UPDATE feed_status SET state = CASE WHEN state = 'stopped' THEN 'new' ELSE state END,"
                " next_attempt_at = NULL WHERE feed_id = $1",
                feed_id,
            )
        if patch.mappings is not None:
            await _set_mappings(conn, feed_id, row["facility_id"], patch.mappings)
    return await get_feed(conn, feed_id)


# --------------------------------------------------------------------------- mappings


async def mappings(conn: Connection, feed_id: int) -> dict[str, int]:
    """Source identifier → unit id, for one feed."""
    return {
        r["source_id"]: r["unit_id"]
        for r in await conn.fetch(
            "SELECT source_id, unit_id FROM feed_mappings WHERE feed_id = $1 ORDER BY source_id",
            feed_id,
        )
    }


async def count_unmapped(conn: Connection, feed_id: int, counts: Mapping[str, int]) -> None:
    """Count identifiers the source sent that map to no unit (first and last seen, times)."""
    if not counts:
        return
    await conn.executemany(
        """
        INSERT INTO feed_unmapped (feed_id, source_id, times) VALUES ($1, $2, $3)
        ON CONFLICT (feed_id, source_id)
        DO UPDATE SET last_seen = now(), times = feed_unmapped.times + EXCLUDED.times
        """,
        [(feed_id, clean_text(source, 200), count) for source, count in counts.items()],
    )


# --------------------------------------------------------------------------- quarantine


async def quarantine(conn: Connection, feed_id: int, limit: int = 200) -> list[QuarantineEntry]:
    rows = await conn.fetch(
        "SELECT id, received_at, location, reason, raw FROM feed_quarantine WHERE feed_id = $1"
        " ORDER BY id DESC LIMIT $2",
        feed_id,
        limit,
    )
    return [QuarantineEntry(**dict(r)) for r in rows]


async def add_to_quarantine(conn: Connection, feed_id: int, rejected: Sequence[Rejected]) -> None:
    if not rejected:
        return
    await conn.executemany(
        "INSERT INTO feed_quarantine (feed_id, location, reason, raw) VALUES ($1, $2, $3, $4)",
        [
            (
                feed_id,
                clean_text(r.location, 200),
                clean_text(r.reason, 500),
                clean_text(r.raw, 2000),
            )
            for r in rejected
        ],
    )
    await conn.execute(
        "DELETE FROM feed_quarantine WHERE feed_id = $1 AND id < (SELECT min(id) FROM"
        " (SELECT id FROM feed_quarantine WHERE feed_id = $1 ORDER BY id DESC LIMIT $2) keep)",
        feed_id,
        QUARANTINE_KEEP,
    )


# --------------------------------------------------------------------------- status and cursor


async def save_cursor(conn: Connection, feed_id: int, cursor: str | None) -> None:
    """Where the next poll starts (an adapter's opaque cursor); None keeps the stored one."""
    await conn.execute(
        "UPDATE feeds SET cursor = COALESCE($2, cursor) WHERE id = $1", feed_id, cursor
    )


async def add_applied(conn: Connection, feed_id: int, applied: int) -> None:
    """Count reports applied to the board (the feed's ``reports_applied``)."""
    if not applied:
        return
    await conn.execute(
        "UPDATE feed_status SET reports_applied = reports_applied + $2 WHERE feed_id = $1",
        feed_id,
        applied,
    )


async def state(conn: Connection, feed_id: int) -> str | None:
    """The feed's stored health state (None before its status row exists)."""
    value: str | None = await conn.fetchval(
        "SELECT state FROM feed_status WHERE feed_id = $1", feed_id
    )
    return value


async def mark_ok(conn: Connection, feed_id: int, next_in: timedelta) -> None:
    """A successful attempt: ``ok``, failures reset, next attempt after ``next_in``."""
    await conn.execute(
        "UPDATE feed_status SET state = 'ok', last_attempt_at = now(), last_success_at = now(),"
        " consecutive_failures = 0, next_attempt_at = now() + $2 WHERE feed_id = $1",
        feed_id,
        next_in,
    )


async def mark_failed(
    conn: Connection, feed_id: int, state: str, error: str, retry_in: timedelta
) -> None:
    """A failed attempt: ``failing`` (retried after ``retry_in``) or ``stopped`` (not
    polled again until its settings change); the error is kept, bounded."""
    await conn.execute(
        "UPDATE feed_status SET state = $2, last_attempt_at = now(), last_error = $3,"
        " last_error_at = now(),"
        " consecutive_failures = consecutive_failures + 1,"
        " next_attempt_at = CASE WHEN $2 = 'stopped' THEN NULL ELSE now() + $4 END WHERE feed_id = $1",
        feed_id,
        state,
        error[:1000],
        retry_in,
    )


async def mark_attempts(
    conn: Connection,
    feed_id: int,
    *,
    state: str,
    succeeded: bool,
    failures: int,
    error: str | None,
    next_in: timedelta | None,
    applied: int = 0,
) -> str | None:
    """Several attempts at once, as ``mark_ok`` and ``mark_failed`` one after the other
    would leave the row, plus ``add_applied``; returns the state before (None without a
    status row). ``state`` and ``next_in`` (None: no next attempt) are the last attempt's;
    ``succeeded``: one of them succeeded; ``failures``: the failures after the last
    success (or all of them); ``error``: the last failure's."""
    before: str | None = await conn.fetchval(
        """
        UPDATE feed_status s
           SET state = $2, last_attempt_at = now(),
               last_success_at = CASE WHEN $3 THEN now() ELSE s.last_success_at END,
               last_error = COALESCE($5, s.last_error),
               last_error_at = CASE WHEN $5::text IS NULL THEN s.last_error_at ELSE now() END,
               consecutive_failures = CASE WHEN $3 THEN 0 ELSE s.consecutive_failures END + $4,
               next_attempt_at = now() + $6::interval,
               reports_applied = s.reports_applied + $7
          FROM (SELECT state FROM feed_status WHERE feed_id = $1 FOR UPDATE) old
         WHERE s.feed_id = $1
        RETURNING old.state
        """,
        feed_id,
        state,
        succeeded,
        failures,
        None if error is None else error[:1000],
        next_in,
        applied,
    )
    return before


async def mark_ok_and_commit(conn: Connection, feed_id: int, applied: int) -> None:
    """``mark_ok`` (next attempt now) and ``add_applied``, then COMMIT the caller's
    transaction: one round trip (the simple query protocol, which takes no parameters,
    so the two integers are written into the text)."""
    sql = (
        "UPDATE feed_status SET state = 'ok', last_attempt_at = now(), last_success_at = now(),"  # noqa: S608 -- two integers
        " consecutive_failures = 0, next_attempt_at = now(),"
        f" reports_applied = reports_applied + {int(applied):d}"
        f" WHERE feed_id = {int(feed_id):d}; COMMIT"
    )
    await conn.execute(sql)


async def facility_state(conn: Connection, feed_id: int) -> tuple[int, str]:
    """The feed's facility and that facility's worst enabled feed (``failing``,
    ``stopped`` or ``ok``), as the board shows it: one feed's recovery must not hide
    another's failure."""
    facility_id: int = await conn.fetchval("SELECT facility_id FROM feeds WHERE id = $1", feed_id)
    worst: str | None = await conn.fetchval(
        "SELECT max(s.state) FROM feeds f JOIN feed_status s ON s.feed_id = f.id"
        " WHERE f.facility_id = $1 AND f.enabled AND s.state IN ('failing', 'stopped')",
        facility_id,
    )
    return facility_id, worst or "ok"


# --------------------------------------------------------------------------- reads for polls and HL7


@dataclass(frozen=True)
class PollState:
    """What a poll needs to know about its feed: settings, cursor, schedule, health."""

    kind: str
    config: dict[str, Any]
    secrets: dict[str, Any]
    cursor: str | None
    poll_interval_s: int
    enabled: bool
    state: str
    consecutive_failures: int
    due: bool  # no next attempt set, or it has come


async def poll_state(conn: Connection, feed_id: int) -> PollState | None:
    row = await conn.fetchrow(
        "SELECT f.kind, f.config, f.secrets, f.cursor, f.poll_interval_s, f.enabled, s.state,"
        " s.consecutive_failures, (s.next_attempt_at IS NULL OR s.next_attempt_at <= now()) AS due"
        " FROM feeds f JOIN feed_status s ON s.feed_id = f.id WHERE f.id = $1",
        feed_id,
    )
    return None if row is None else PollState(**dict(row))


async def adapter_settings(
    conn: Connection, feed_id: int
) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """(kind, settings, secrets) of a feed, to build its adapter; None when there is none."""
    row = await conn.fetchrow("SELECT kind, config, secrets FROM feeds WHERE id = $1", feed_id)
    return None if row is None else (row["kind"], row["config"], row["secrets"])


async def due_feeds(conn: Connection) -> list[tuple[int, str]]:
    """(id, kind) of the enabled, not stopped feeds whose next attempt is due: never tried
    first, then the longest overdue."""
    rows = await conn.fetch(
        """
        SELECT f.id, f.kind FROM feeds f JOIN feed_status s ON s.feed_id = f.id
         WHERE f.enabled AND s.state <> 'stopped'
           AND (s.next_attempt_at IS NULL OR s.next_attempt_at <= now())
         ORDER BY s.next_attempt_at NULLS FIRST, f.id
        """
    )
    return [(r["id"], r["kind"]) for r in rows]


async def enabled_settings(
    conn: Connection, kind: str, *, key: str | None = None, value: str | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """(id, settings) of the enabled feeds of ``kind``, by id; with ``key``, only those
    whose setting ``key`` is ``value`` (the HL7 side routes by ``sending_facility``)."""
    rows = await conn.fetch(
        "SELECT id, config FROM feeds WHERE kind = $1 AND enabled"
        " AND ($2::text IS NULL OR config->>$2 = $3) ORDER BY id",
        kind,
        key,
        value,
    )
    return [(r["id"], r["config"]) for r in rows]


async def feed_named(conn: Connection, name: str) -> int | None:
    """The id of a feed with this name (the demo finds its own feeds by name)."""
    feed_id: int | None = await conn.fetchval("SELECT id FROM feeds WHERE name = $1", name)
    return feed_id
