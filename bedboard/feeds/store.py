"""The feed tables: feeds and their settings and secrets, mappings, the quarantine, the
cursor. Everyone else reads and writes them through these functions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from bedboard.database import Connection
from bedboard.feeds.config import validate_config
from bedboard.feeds.models import (
    Feed,
    FeedHealth,
    FeedIn,
    FeedPatch,
    QuarantineEntry,
    Unmapped,
)
from bedboard.problems import Problem, not_found
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
    mappings = {
        r["source_id"]: r["unit_id"]
        for r in await conn.fetch(
            "SELECT source_id, unit_id FROM feed_mappings WHERE feed_id = $1 ORDER BY source_id",
            row["id"],
        )
    }
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
        mappings=mappings,
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
        raise not_found("feed")
    return await _feed(conn, row)


async def feed_secrets(conn: Connection, feed_id: int) -> dict[str, Any]:
    value = await conn.fetchval("SELECT secrets FROM feeds WHERE id = $1", feed_id)
    if value is None:
        raise not_found("feed")
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
        raise Problem(
            422,
            "A mapping names a unit of another facility.",
            code="validation-error",
            errors=[
                {
                    "field": "mappings",
                    "in": "body",
                    "message": f"unit {u} is not at this facility",
                    "type": "reference",
                }
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
            raise Problem(
                422,
                "No such facility.",
                code="validation-error",
                errors=[
                    {
                        "field": "facility_id",
                        "in": "body",
                        "message": "does not exist",
                        "type": "reference",
                    }
                ],
            ) from None
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
            raise not_found("feed")
        if expected_version is not None and row["version"] != expected_version:
            raise Problem(
                412,
                "The feed was changed by someone else; reload and retry.",
                code="precondition-failed",
            )
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


async def save_cursor(conn: Connection, feed_id: int, cursor: str | None) -> None:
    """Where the next poll starts (an adapter's opaque cursor); None keeps the stored one."""
    await conn.execute(
        "UPDATE feeds SET cursor = COALESCE($2, cursor) WHERE id = $1", feed_id, cursor
    )
