"""Feeds: configured adapter instances bound to a facility, and what they deliver.

``ingest`` is where every adapter's output enters bedboard: rejected items go to the
feed's quarantine, source identifiers are mapped to units (unmapped ones are recorded),
each report is validated like an API report, and the rest is applied through
``census.apply`` — the same ordering and idempotency rules as the API.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, ValidationError

from bedboard import board, census, outbox
from bedboard.census import CensusReport, Outcome
from bedboard.database import Connection
from bedboard.fields import DbId
from bedboard.problems import Problem, not_found
from facility_adapters import load_all
from facility_adapters.base import REGISTRY, Adapter, AdapterConfig, Parsed, Rejected, SourceReport

log = logging.getLogger(__name__)

QUARANTINE_KEEP = 1000  # per feed
FUTURE_SKEW = census.FUTURE_SKEW

load_all()


# --------------------------------------------------------------------------- models


class FeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    facility_id: DbId
    kind: str = Field(description="fhir, hl7, csv or have")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    config: dict[str, Any] = Field(
        default_factory=dict, description="Validated by the adapter kind."
    )
    enabled: StrictBool = True
    poll_interval_s: int = Field(default=300, ge=10, le=86400)
    mappings: dict[str, int] = Field(
        default_factory=dict, description="Source identifier → unit id."
    )


class FeedPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    config: dict[str, Any] | None = Field(
        default=None, description="Replaces the settings; secret fields left out keep their value."
    )
    enabled: StrictBool | None = None
    poll_interval_s: int | None = Field(default=None, ge=10, le=86400)
    mappings: dict[str, int] | None = None


class FeedHealth(BaseModel):
    state: str
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    reports_applied: int
    next_attempt_at: datetime | None

    @property
    def error_resolved(self) -> bool:
        """The last error is history: a successful attempt came after it. ``last_error`` is
        kept after a recovery (for the record), so pages must say whether it still holds."""
        if self.last_error_at is None or self.last_success_at is None:
            return False
        return self.last_success_at > self.last_error_at


class Unmapped(BaseModel):
    source_id: str
    first_seen: datetime
    last_seen: datetime
    times: int


class Feed(BaseModel):
    id: int
    facility_id: int
    facility_name: str
    kind: str
    name: str
    config: dict[str, Any] = Field(description="Settings without secrets.")
    secrets_set: list[str] = Field(description="Names of the secret settings that have a value.")
    enabled: bool
    poll_interval_s: int
    cursor: str | None
    mappings: dict[str, int]
    unmapped: list[Unmapped]
    health: FeedHealth
    version: int


class FeedList(BaseModel):
    items: list[Feed]


class QuarantineEntry(BaseModel):
    id: int
    received_at: datetime
    location: str
    reason: str
    raw: str


class QuarantinePage(BaseModel):
    feed_id: int
    items: list[QuarantineEntry]


class IngestResult(BaseModel):
    applied: int = 0
    duplicate: int = 0
    stale: int = 0
    conflict: int = 0
    unmapped: int = 0
    rejected: int = 0


# --------------------------------------------------------------------------- config


def adapter_class(kind: str) -> type[Adapter]:
    adapter = REGISTRY.get(kind)
    if adapter is None:
        raise Problem(
            422,
            "Unknown feed kind.",
            code="validation-error",
            errors=[
                {
                    "field": "kind",
                    "in": "body",
                    "message": f"one of {', '.join(sorted(REGISTRY))}",
                    "type": "enum",
                }
            ],
        )
    return adapter


def validate_config(
    kind: str, settings: dict[str, Any], allowed_dirs: Sequence[Path] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check settings against the kind's model; return (plain settings, secrets). With
    ``allowed_dirs``, a local path in the *validated* settings (after the model trimmed and
    normalized it) must be inside one of them."""
    adapter = adapter_class(kind)
    try:
        model = adapter.Config.model_validate(settings)
    except ValidationError as exc:
        raise Problem(
            422,
            "The feed's settings are invalid.",
            code="validation-error",
            errors=[
                {
                    "field": "config." + ".".join(str(p) for p in e["loc"]),
                    "in": "body",
                    "message": e["msg"],
                    "type": e["type"],
                }
                for e in exc.errors(include_url=False, include_input=False)
            ],
        ) from None
    values = model.model_dump(mode="json")
    secrets = {
        k: v for k, v in values.items() if k in adapter.SECRET_FIELDS and v not in (None, "")
    }
    plain = {k: v for k, v in values.items() if k not in adapter.SECRET_FIELDS}
    if allowed_dirs is not None:
        check_local_paths(plain, allowed_dirs)
    return plain, secrets


def build_adapter(
    kind: str,
    config: dict[str, Any],
    secrets: dict[str, Any],
    allowed_dirs: Sequence[Path] | None = None,
) -> Adapter:
    """An adapter for a stored feed; local files it reads must resolve inside
    ``allowed_dirs`` (None: no folder rule, for adapters used on their own)."""
    adapter = adapter_class(kind)
    model: AdapterConfig = adapter.Config.model_validate({**config, **secrets})
    built = adapter(model)
    if allowed_dirs is not None:
        built.allowed_dirs = tuple(Path(os.path.realpath(d)) for d in allowed_dirs)
    return built


def check_local_paths(config: dict[str, Any], allowed: Sequence[Path]) -> None:
    """Refuse settings naming a local file outside the folders feeds may read: an
    administrator's feed must not turn the service into a reader of arbitrary files."""
    for key, value in config.items():
        if not isinstance(value, str) or not value.strip().startswith("/"):
            continue
        path = Path(os.path.realpath(value.strip()))
        if not any(path == root or path.is_relative_to(root) for root in allowed):
            roots = ", ".join(str(r) for r in allowed)
            raise Problem(
                422,
                "Feeds may only read files in the configured folders.",
                code="validation-error",
                errors=[
                    {
                        "field": f"config.{key}",
                        "in": "body",
                        "message": f"must be inside {roots} (BEDBOARD_FEED_DIRS)",
                        "type": "path",
                    }
                ],
            )


# --------------------------------------------------------------------------- store

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


# --------------------------------------------------------------------------- ingest


def clean_text(text: str, limit: int) -> str:
    """Text from a source made safe to store: no NUL, no unpaired surrogates, bounded."""
    safe = text.replace("\x00", "\u2400").encode("utf-8", "replace").decode("utf-8")
    return safe[:limit]


def _to_census(report: SourceReport) -> CensusReport:
    return CensusReport(
        as_of=report.as_of,
        staffed=report.staffed,
        occupied=report.occupied,
        blocked=report.blocked,
        available=report.available,
    )


async def ingest(conn: Connection, feed_id: int, parsed: Parsed) -> IngestResult:
    """Apply what an adapter delivered; quarantine what cannot be applied.

    Steps: quarantine the adapter's rejections; map source ids to units (record unmapped
    ones); validate each report as the API would (bad counts, future dates and naive
    timestamps go to quarantine); keep the newest report per unit; apply the rest in one
    ``census.apply`` transaction; count the outcomes on the feed.
    """
    result = IngestResult(rejected=len(parsed.rejected))
    rejected = list(parsed.rejected)
    mapping = {
        r["source_id"]: r["unit_id"]
        for r in await conn.fetch(
            "SELECT source_id, unit_id FROM feed_mappings WHERE feed_id = $1", feed_id
        )
    }
    now = await board.db_now(conn)
    unmapped: dict[str, int] = {}
    newest: dict[int, tuple[SourceReport, CensusReport]] = {}
    for report in parsed.reports:
        unit_id = mapping.get(report.source_id)
        if unit_id is None:
            unmapped[report.source_id] = unmapped.get(report.source_id, 0) + 1
            continue
        where = (
            report.location
            or f"{report.source_id} as of {report.as_of.isoformat() if report.as_of else '?'}"
        )
        try:
            census_report = _to_census(report)
        except ValidationError as exc:
            reason = "; ".join(
                str(e["msg"]).removeprefix("Value error, ") for e in exc.errors(include_url=False)
            )
            rejected.append(Rejected.of(where, reason, repr(report)))
            continue
        if census_report.as_of > now + FUTURE_SKEW:
            rejected.append(
                Rejected.of(where, "as_of is more than 5 minutes in the future", repr(report))
            )
            continue
        kept = newest.get(unit_id)
        if kept is None or census_report.as_of > kept[1].as_of:
            if kept is not None:
                result.stale += 1
            newest[unit_id] = (report, census_report)
        else:
            result.stale += 1
    result.unmapped = sum(unmapped.values())
    result.rejected = len(rejected)
    async with conn.transaction():
        await add_to_quarantine(conn, feed_id, rejected)
        if unmapped:
            await conn.executemany(
                """
                INSERT INTO feed_unmapped (feed_id, source_id, times) VALUES ($1, $2, $3)
                ON CONFLICT (feed_id, source_id)
                DO UPDATE SET last_seen = now(), times = feed_unmapped.times + EXCLUDED.times
                """,
                [(feed_id, clean_text(source, 200), count) for source, count in unmapped.items()],
            )
        if newest:
            outcomes = await census.apply(
                conn,
                [(uid, pair[1]) for uid, pair in newest.items()],
                census.Source(f"feed:{feed_id}"),
                with_states=False,  # only outcomes are needed here
            )
            for outcome in outcomes:
                if outcome.outcome is Outcome.APPLIED:
                    result.applied += 1
                elif outcome.outcome is Outcome.DUPLICATE:
                    result.duplicate += 1
                elif outcome.outcome is Outcome.CONFLICT:
                    result.conflict += 1
                else:
                    result.stale += 1
        await conn.execute(
            "UPDATE feed_status SET reports_applied = reports_applied + $2 WHERE feed_id = $1",
            feed_id,
            result.applied,
        )
    return result


# --------------------------------------------------------------------------- health


@dataclass
class Attempt:
    """The outcome of one poll, for the feed's health record."""

    ok: bool
    error: str = ""
    permanent: bool = False
    retry_in: timedelta = field(default_factory=lambda: timedelta(0))


async def _publish_feed_state(conn: Connection, feed_id: int) -> None:
    """Board event: a facility's feeds started failing, or recovered (``state`` is the
    facility's worst enabled feed: ``failing``, ``stopped`` or ``ok``)."""
    facility_id = await conn.fetchval("SELECT facility_id FROM feeds WHERE id = $1", feed_id)
    # The facility's worst enabled feed, as the board shows it (one feed's recovery must
    # not hide another's failure).
    worst = await conn.fetchval(
        "SELECT max(s.state) FROM feeds f JOIN feed_status s ON s.feed_id = f.id"
        " WHERE f.facility_id = $1 AND f.enabled AND s.state IN ('failing', 'stopped')",
        facility_id,
    )
    async with conn.transaction():
        await outbox.append(
            conn,
            [
                (
                    outbox.BOARD,
                    {
                        "kind": "feed",
                        "facility_id": facility_id,
                        "feed_id": feed_id,
                        "state": worst or "ok",
                    },
                )
            ],
        )


async def record_attempt(conn: Connection, feed_id: int, attempt: Attempt) -> str:
    """Update the feed's health; return the new state. Logs only when the state changes."""
    before = (
        await conn.fetchval("SELECT state FROM feed_status WHERE feed_id = $1", feed_id) or "new"
    )
    if attempt.ok:
        state = "ok"
        await conn.execute(
            "UPDATE feed_status SET state = 'ok', last_attempt_at = now(), last_success_at = now(),"
            " consecutive_failures = 0, next_attempt_at = now() + $2 WHERE feed_id = $1",
            feed_id,
            attempt.retry_in,
        )
    else:
        state = "stopped" if attempt.permanent else "failing"
        await conn.execute(
            "UPDATE feed_status SET state = $2, last_attempt_at = now(), last_error = $3,"
            " last_error_at = now(),"
            " consecutive_failures = consecutive_failures + 1,"
            " next_attempt_at = CASE WHEN $2 = 'stopped' THEN NULL ELSE now() + $4 END WHERE feed_id = $1",
            feed_id,
            state,
            attempt.error[:1000],
            attempt.retry_in,
        )
    if state != before:
        await _publish_feed_state(conn, feed_id)
        if state == "ok" and before in ("failing", "stopped"):
            log.info("feed %s recovered", feed_id)
        elif state == "failing":
            log.warning("feed %s is failing: %s", feed_id, attempt.error)
        elif state == "stopped":
            log.error("feed %s stopped (fix its settings): %s", feed_id, attempt.error)
    return state


async def save_cursor(conn: Connection, feed_id: int, cursor: str | None) -> None:
    """Where the next poll starts (an adapter's opaque cursor); None keeps the stored one."""
    await conn.execute(
        "UPDATE feeds SET cursor = COALESCE($2, cursor) WHERE id = $1", feed_id, cursor
    )
