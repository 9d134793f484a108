"""Census reports: validate, apply (ordering, idempotency), history, freshness publishing.

Every path that changes bed counts (API, web form, feed adapters) ends in ``apply``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bedboard import board, outbox
from bedboard.board import UnitState
from bedboard.database import Connection
from bedboard.errors import FieldError, Invalid, NotFound
from bedboard.fields import DbId, Instant
from bedboard.freshness import STALE_AFTER_CADENCES, freshness, sql_state

MAX_COUNT = 2000
FUTURE_SKEW = timedelta(minutes=5)
FRESHNESS_LOCK_KEY = 0x6265_6462_6672_7368  # "bedbfrsh"

Count = int


class CensusReport(BaseModel):
    """What a hospital reports for one unit: staffed + occupied (+ blocked), or available."""

    model_config = ConfigDict(extra="forbid")
    as_of: Instant = Field(description="When the hospital measured these counts (RFC 3339).")
    staffed: Count | None = Field(default=None, ge=0, le=MAX_COUNT)
    occupied: Count | None = Field(default=None, ge=0, le=MAX_COUNT)
    blocked: Count | None = Field(
        default=None, ge=0, le=MAX_COUNT, description="Staffed but not usable (e.g. closed rooms)."
    )
    available: Count | None = Field(
        default=None, ge=0, le=MAX_COUNT, description="Report this alone when counts are not kept."
    )

    @model_validator(mode="after")
    def _consistent(self) -> CensusReport:
        counted = self.staffed is not None or self.occupied is not None
        if counted and self.available is not None:
            raise ValueError("give either staffed and occupied, or available, not both")
        if not counted and self.available is None:
            raise ValueError("give staffed and occupied, or available")
        if counted:
            if self.staffed is None or self.occupied is None:
                raise ValueError("staffed and occupied go together")
            if self.occupied > self.staffed:
                raise ValueError("occupied cannot exceed staffed")
            if (self.blocked or 0) > self.staffed - self.occupied:
                raise ValueError("blocked cannot exceed staffed minus occupied")
        elif self.blocked:
            raise ValueError("blocked needs staffed and occupied")
        return self

    @property
    def derived_available(self) -> int:
        if self.available is not None:
            return self.available
        assert self.staffed is not None and self.occupied is not None
        return self.staffed - self.occupied - (self.blocked or 0)


class UnitReport(CensusReport):
    unit_id: DbId


class FacilityCensusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reports: list[UnitReport] = Field(min_length=1, max_length=500)


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # the same report again: nothing changed
    STALE = "stale"  # older than (or as old as) the stored report: not applied
    CONFLICT = "conflict"  # would leave fewer beds available than are held: not applied


class ApplyResult(BaseModel):
    unit_id: int
    outcome: Outcome
    detail: str
    unit: UnitState | None


class ApplyResults(BaseModel):
    results: list[ApplyResult]


@dataclass(frozen=True)
class Source:
    """Who sent a report: ``api``, ``form``, or an adapter feed like ``feed:12``."""

    name: str
    actor_id: int | None = None


def _future_problem(unit_ids: Sequence[int]) -> Invalid:
    return Invalid(
        "A report's as_of is more than 5 minutes in the future; check the sender's clock.",
        [
            FieldError(
                f"reports.{uid}.as_of" if len(unit_ids) > 1 else "as_of",
                "more than 5 minutes in the future",
                "future",
            )
            for uid in unit_ids
        ],
    )


def read_sql(units: str) -> str:
    """The read ``apply`` begins with, over the unit ids in the ``bigint[]`` parameter
    ``units`` (``$1``…), without locks: one row per requested unit (``requested``), with
    ``known`` (NULL ``id`` for a unit that does not exist), ``live`` (false for one not
    on the board), ``reported`` and ``source`` of its stored report, and its board
    columns. Another statement can embed it as a subquery (the HL7 run does)."""
    return f"""
        SELECT i.requested, u.id IS NOT NULL AS known,
               COALESCE(u.active AND f.active, false) AS live, c.unit_id IS NOT NULL AS reported,
               c.source, {board.UNIT_COLUMNS}
          FROM unnest({units}::bigint[]) AS i(requested)
          LEFT JOIN units u ON u.id = i.requested
          LEFT JOIN facilities f ON f.id = u.facility_id
          LEFT JOIN unit_census c ON c.unit_id = i.requested
    """  # noqa: S608 -- composed only of constant fragments


# The clock, and the read: one row with NULLs when no unit is asked for.
_READ_SQL = f"""
    SELECT now() AS now, r.* FROM (SELECT) AS clock LEFT JOIN ({read_sql("$1")}) r ON true
"""  # noqa: S608 -- composed only of constant fragments


@dataclass(frozen=True)
class Prior:
    """What ``apply`` reads before it writes, read once: the database clock and, per unit
    asked for, the row of ``read_sql``. A caller that needs the stored reports before it
    decides what to apply (a feed setting aside unchanged reports) reads this itself and
    hands it to ``apply``, which then reads nothing."""

    now: datetime
    rows: Mapping[int, Any]

    @classmethod
    def of(cls, now: datetime, rows: Sequence[Any]) -> Prior:
        """From rows holding ``read_sql``'s columns (rows without ``requested`` skipped)."""
        return cls(now, {r["requested"]: r for r in rows if r["requested"] is not None})

    def stored(self, unit_id: int) -> StoredCensus | None:
        """The unit's stored counts, or None when it has no report (or was not read)."""
        row = self.rows.get(unit_id)
        if row is None or not row["reported"]:
            return None
        return StoredCensus(
            row["as_of"], row["staffed"], row["occupied"], row["blocked"], row["available"]
        )

    def source(self, unit_id: int) -> str | None:
        """Who sent the unit's stored report (``feed:12``, ``api``, …)."""
        row = self.rows.get(unit_id)
        return None if row is None else row["source"]


async def read(conn: Connection, unit_ids: Iterable[int]) -> Prior:
    """The clock and ``read_sql`` for ``unit_ids``: one statement."""
    rows = await conn.fetch(_READ_SQL, list(unit_ids))
    return Prior.of(rows[0]["now"], rows)


# Then one statement writes everything, atomically: it locks the rows that may change (in
# id order; a hold changes ``held`` under this lock), leaves out conflicts (fewer beds
# available than are held), upserts only where still newer (a concurrent newer report
# wins), appends history, marks freshness, and appends one board event per applied unit
# on a live unit (its payload built in Python, with the locked ``held`` and ``free`` put
# in here) with one NOTIFY. It answers, per unit, whether it was applied and the held count.
_WRITE_SQL = f"""
    WITH input AS (
        SELECT * FROM unnest($1::bigint[], $2::int[], $3::int[], $4::int[], $5::int[],
                             $6::timestamptz[], $7::jsonb[], $8::text[])
                 AS i(unit_id, staffed, occupied, blocked, available, as_of, payload, state)
    ), locked AS (
        SELECT c.unit_id, c.held
          FROM unit_census c JOIN input i ON i.unit_id = c.unit_id
         WHERE c.as_of < i.as_of
         ORDER BY c.unit_id
           FOR UPDATE OF c
    ), fits AS (
        SELECT i.* FROM input i LEFT JOIN locked l ON l.unit_id = i.unit_id
         WHERE i.available >= COALESCE(l.held, 0)
    ), written AS (
        INSERT INTO unit_census AS c (unit_id, staffed, occupied, blocked, available, as_of,
                                      received_at, source, reported_by)
        SELECT unit_id, staffed, occupied, blocked, available, as_of, $9, $10, $11
          FROM fits ORDER BY unit_id
        ON CONFLICT (unit_id) DO UPDATE
           SET staffed = EXCLUDED.staffed, occupied = EXCLUDED.occupied,
               blocked = EXCLUDED.blocked, available = EXCLUDED.available,
               as_of = EXCLUDED.as_of, received_at = EXCLUDED.received_at,
               source = EXCLUDED.source, reported_by = EXCLUDED.reported_by
         WHERE c.as_of < EXCLUDED.as_of
        RETURNING c.unit_id, c.staffed, c.occupied, c.blocked, c.available, c.held, c.as_of,
                  c.source, c.reported_by
    ), history AS (
        INSERT INTO census_history
               (unit_id, staffed, occupied, blocked, available, as_of, source, reported_by)
        SELECT unit_id, staffed, occupied, blocked, available, as_of, source, reported_by
          FROM written
    ), fresh AS (
        INSERT INTO unit_freshness (unit_id, state)
        SELECT w.unit_id, i.state FROM written w JOIN input i ON i.unit_id = w.unit_id
         WHERE i.state IS NOT NULL
         ORDER BY w.unit_id
        ON CONFLICT (unit_id) DO UPDATE SET state = EXCLUDED.state, changed_at = now()
         WHERE unit_freshness.state <> EXCLUDED.state
    ), events AS (
        SELECT '{outbox.BOARD}' AS topic,
               jsonb_set(jsonb_set(i.payload, '{{unit,held}}', to_jsonb(w.held)),
                         '{{unit,free}}', to_jsonb(GREATEST(w.available - w.held, 0)))
                 AS payload,
               row_number() OVER (ORDER BY w.unit_id) AS n
          FROM written w JOIN input i ON i.unit_id = w.unit_id
         WHERE i.payload IS NOT NULL
    ), {outbox.appending("events")}
    SELECT i.unit_id, w.unit_id IS NOT NULL AS applied, COALESCE(w.held, l.held) AS held
      FROM input i
      LEFT JOIN written w ON w.unit_id = i.unit_id
      LEFT JOIN locked l ON l.unit_id = i.unit_id
     CROSS JOIN (SELECT count(*) FROM rang) AS doorbell
     ORDER BY i.unit_id
"""  # noqa: S608 -- composed only of constant fragments


async def apply(
    conn: Connection,
    reports: Sequence[tuple[int, CensusReport]],
    source: Source,
    *,
    with_states: bool = True,
    check: Callable[[Set[int]], None] | None = None,
    prior: Prior | None = None,
) -> list[ApplyResult]:
    """Apply reports atomically (all or none), in two statements (one with ``prior``).

    The read (no locks) takes the database clock, refuses any report dated beyond the
    skew tolerance, and sets aside duplicates and stale reports (not newer than the stored
    one). For the rest, the applied state of each unit is built here, and ``_WRITE_SQL``
    writes them in one statement: current row (only where still newer), history,
    freshness, one outbox event per applied unit and the NOTIFY, with conflicts (fewer
    beds available than are held for accepted placements) left out under the row lock.
    Outside a transaction, that statement is its own. ``with_states=False`` (feeds) builds
    no state for the units that did not change. ``check``, when given, is called with the
    units' facility ids before anything is written (it raises to refuse: authorization
    without a read of its own). ``prior``: the read (``read`` or ``read_sql``), when the
    caller has made it already, in this transaction or just before; it must cover every
    reported unit.
    """
    if len({uid for uid, _ in reports}) != len(reports):
        raise Invalid("Each unit may appear once per request.")
    if prior is None:
        prior = await read(conn, [uid for uid, _ in reports])
    elif any(uid not in prior.rows for uid, _ in reports):
        raise ValueError("census.apply: the prior read does not cover every reported unit")
    now, rows = prior.now, prior.rows
    future = sorted(uid for uid, r in reports if r.as_of > now + FUTURE_SKEW)
    if future:
        raise _future_problem(future)
    if not all(row["known"] for row in rows.values()):
        raise NotFound("unit", "A report names a unit that does not exist.")
    if check is not None:
        check({row["facility_id"] for row in rows.values()})
    outcomes: dict[int, tuple[Outcome, str]] = {}
    states: dict[int, UnitState] = {}
    candidates: list[tuple[int, CensusReport, UnitState | None]] = []
    for uid, report in sorted(reports, key=lambda item: item[0]):
        row = rows[uid]
        if row["reported"] and report.as_of <= row["as_of"]:
            outcomes[uid] = _not_newer(row, report)
            if with_states and row["live"]:
                states[uid] = board.unit_state(row, now)
        else:
            after = _applied_state(row, report, now) if row["live"] else None
            candidates.append((uid, report, after))
    if candidates:
        try:
            written = await _write(conn, candidates, now, source)
        except asyncpg.ForeignKeyViolationError:  # the unit was deleted since the read
            raise NotFound("unit", "A report names a unit that does not exist.") from None
        held = {r["unit_id"]: (r["applied"], r["held"]) for r in written}
        for uid, report, after in candidates:
            applied, held_now = held[uid]
            if applied:
                outcomes[uid] = (Outcome.APPLIED, "applied")
                if after is not None:
                    states[uid] = _with_held(after, held_now)
                continue
            if held_now is not None and report.derived_available < held_now:
                outcomes[uid] = (
                    Outcome.CONFLICT,
                    f"not applied: {held_now} beds are held for accepted placements but only "
                    f"{report.derived_available} would be available; admit or release them first",
                )
            else:
                outcomes[uid] = (
                    Outcome.STALE,
                    "not applied: a newer report arrived at the same time",
                )
            if with_states and rows[uid]["live"]:
                states[uid] = board.unit_state(rows[uid], now)
    return [
        ApplyResult(
            unit_id=uid, outcome=outcomes[uid][0], detail=outcomes[uid][1], unit=states.get(uid)
        )
        for uid, _ in reports
    ]


async def _write(
    conn: Connection,
    candidates: Sequence[tuple[int, CensusReport, UnitState | None]],
    now: datetime,
    source: Source,
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        _WRITE_SQL,
        [uid for uid, _, _ in candidates],
        [r.staffed for _, r, _ in candidates],
        [r.occupied for _, r, _ in candidates],
        [r.blocked or 0 for _, r, _ in candidates],
        [r.derived_available for _, r, _ in candidates],
        [r.as_of for _, r, _ in candidates],
        [board.unit_event(s)[1] if s else None for _, _, s in candidates],
        [s.freshness.value if s else None for _, _, s in candidates],
        now,
        source.name,
        source.actor_id,
    )
    return rows


def _applied_state(row: Any, report: CensusReport, now: datetime) -> UnitState:
    """The unit as it will be once ``report`` is applied (``held`` as read; the write puts
    in the locked value)."""
    before = board.unit_state(row, now)
    return _with_held(
        before.model_copy(
            update={
                "staffed": report.staffed,
                "occupied": report.occupied,
                "blocked": report.blocked or 0,
                "available": report.derived_available,
                "as_of": report.as_of,
                "received_at": now,
                "freshness": freshness(
                    report.as_of, timedelta(minutes=row["report_cadence_minutes"]), now
                ),
            }
        ),
        before.held,
    )


def _with_held(unit: UnitState, held: int) -> UnitState:
    return unit.model_copy(update={"held": held, "free": max(unit.available - held, 0)})


def _not_newer(current: Any, report: CensusReport) -> tuple[Outcome, str]:
    if _same(current, report):
        return Outcome.DUPLICATE, "identical to the stored report; nothing changed"
    return Outcome.STALE, f"not applied: the stored report is as of {current['as_of'].isoformat()}"


def _same(row: Any, report: CensusReport) -> bool:
    return bool(
        row["as_of"] == report.as_of
        and row["staffed"] == report.staffed
        and row["occupied"] == report.occupied
        and row["blocked"] == (report.blocked or 0)
        and row["available"] == report.derived_available
    )


# The same classification as freshness.freshness(), done in the database so the job does
# not build every unit in Python (a test keeps the two in step).
_FRESHNESS_CHANGES_SQL = f"""
    WITH current AS (
        SELECT u.id AS unit_id, u.facility_id,
               {sql_state("c.as_of", "f.report_cadence_minutes", "$1")} AS state
          FROM units u
          JOIN facilities f ON f.id = u.facility_id
          LEFT JOIN unit_census c ON c.unit_id = u.id
         WHERE u.active AND f.active
    )
    SELECT cur.unit_id, cur.facility_id, cur.state
      FROM current cur LEFT JOIN unit_freshness uf ON uf.unit_id = cur.unit_id
     WHERE uf.state IS DISTINCT FROM cur.state
     ORDER BY cur.unit_id
"""  # noqa: S608 -- composed only of constant fragments


async def publish_freshness_changes(conn: Connection, now: datetime) -> int:
    """Publish every unit whose freshness changed by the passing of time; return how many.

    Runs on one instance at a time (transaction-scoped advisory lock; others skip).
    """
    async with conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", FRESHNESS_LOCK_KEY):
            return 0
        changed = await conn.fetch(_FRESHNESS_CHANGES_SQL, now)
        if not changed:
            return 0
        await conn.execute(
            """
            INSERT INTO unit_freshness (unit_id, state)
            SELECT * FROM unnest($1::bigint[], $2::text[])
            ON CONFLICT (unit_id) DO UPDATE SET state = EXCLUDED.state, changed_at = now()
            """,
            [r["unit_id"] for r in changed],
            [r["state"] for r in changed],
        )
        await outbox.append(
            conn,
            [
                (
                    outbox.BOARD,
                    {
                        "kind": "freshness",
                        "unit_id": r["unit_id"],
                        "facility_id": r["facility_id"],
                        "freshness": r["state"],
                    },
                )
                for r in changed
            ],
        )
        return len(changed)


class HistoryEntry(BaseModel):
    staffed: int | None
    occupied: int | None
    blocked: int
    available: int
    as_of: datetime
    received_at: datetime
    source: str


class HistoryPage(BaseModel):
    unit_id: int
    items: list[HistoryEntry]


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_: Instant | None = Field(default=None, alias="from", description="as_of at or after")
    to: Instant | None = Field(default=None, description="as_of before")
    limit: int = Field(default=500, ge=1, le=5000)

    @model_validator(mode="after")
    def _ordered(self) -> HistoryQuery:
        if self.from_ and self.to and self.from_ >= self.to:
            raise ValueError("from must be before to")
        return self


async def history(
    conn: Connection, unit_id: int, start: datetime | None, end: datetime | None, limit: int
) -> list[HistoryEntry]:
    rows = await conn.fetch(
        """
        SELECT staffed, occupied, blocked, available, as_of, received_at, source
          FROM census_history
         WHERE unit_id = $1 AND ($2::timestamptz IS NULL OR as_of >= $2)
           AND ($3::timestamptz IS NULL OR as_of < $3)
         ORDER BY as_of DESC
         LIMIT $4
        """,
        unit_id,
        start,
        end,
        limit,
    )
    return [HistoryEntry(**dict(r)) for r in rows]


# --------------------------------------------------------------------------- past history
# A past history arrives in bulk (``synthetic.py``): rows staged in this transaction's
# temporary table ``census_import`` (unit_id, staffed, occupied, blocked, as_of,
# received_at, source, reported_by), in the order they are to be appended.

IMPORT_TABLE = "census_import"

_IMPORT_SQL = f"""
    INSERT INTO census_history
           (unit_id, staffed, occupied, blocked, available, as_of, received_at, source, reported_by)
    SELECT unit_id, staffed, occupied, blocked, staffed - occupied - blocked, as_of, received_at,
           source, reported_by
      FROM {IMPORT_TABLE}
"""  # noqa: S608 -- a constant table name

# Each unit without a census gets its newest history row as its census (none held), and
# the freshness that row has at $2, dated when that state began, as the freshness job
# would have recorded it.
_CURRENT_FROM_HISTORY_SQL = f"""
    WITH last AS (
        SELECT h.* FROM unnest($1::bigint[]) AS i(unit_id)
         CROSS JOIN LATERAL (
             SELECT * FROM census_history h WHERE h.unit_id = i.unit_id
              ORDER BY h.as_of DESC, h.id DESC LIMIT 1) h
    ), written AS (
        INSERT INTO unit_census (unit_id, staffed, occupied, blocked, available, as_of,
                                 received_at, source, reported_by)
        SELECT unit_id, staffed, occupied, blocked, available, as_of, received_at, source,
               reported_by
          FROM last ORDER BY unit_id
        ON CONFLICT (unit_id) DO NOTHING
        RETURNING unit_id, as_of, received_at
    ), states AS (
        SELECT w.*, make_interval(mins => f.report_cadence_minutes) AS cadence,
               {sql_state("w.as_of", "f.report_cadence_minutes", "$2::timestamptz")} AS state
          FROM written w JOIN units u ON u.id = w.unit_id JOIN facilities f ON f.id = u.facility_id
    )
    INSERT INTO unit_freshness AS uf (unit_id, state, changed_at)
    SELECT unit_id, state,
           LEAST($2::timestamptz, CASE state WHEN 'fresh' THEN received_at
                                            WHEN 'late' THEN as_of + cadence
                                            ELSE as_of + {STALE_AFTER_CADENCES} * cadence END)
      FROM states ORDER BY unit_id
    ON CONFLICT (unit_id) DO UPDATE SET state = EXCLUDED.state, changed_at = EXCLUDED.changed_at
"""  # noqa: S608 -- composed only of constant fragments


@dataclass(frozen=True)
class ImportedHistory:
    rows: int  # census_history rows appended
    censuses: int  # units given their newest history row as their census


async def import_history(
    conn: Connection, unit_ids: Sequence[int], now: datetime
) -> ImportedHistory:
    """Append a past history staged in ``census_import`` (above), in one transaction:

    1. its rows go to ``census_history``;
    2. each of ``unit_ids`` that has no census gets its newest history row as its census
       (``held`` 0), so the census stays the unit's last history row; a unit with a
       census keeps it (the caller stages only rows older than it);
    3. those units' freshness at ``now`` goes to ``unit_freshness``.

    No outbox event and no NOTIFY: this is history, not news for open boards.
    """
    async with conn.transaction():
        status = await conn.execute(_IMPORT_SQL)
        written = await conn.execute(_CURRENT_FROM_HISTORY_SQL, list(unit_ids), now)
    return ImportedHistory(int(status.rsplit(" ", 1)[1]), int(written.rsplit(" ", 1)[1]))


# --------------------------------------------------------------------------- bed holds
# Placements hold beds; the census owns the counts, beside the CHECK (held <= available)
# that makes the last bed go to exactly one acceptance.


async def hold_bed(conn: Connection, unit_id: int) -> bool:
    """Hold one free bed of the unit; False when none is free (someone took the last)."""
    held = await conn.fetchval(
        "UPDATE unit_census SET held = held + 1"  # noqa: S608 -- a constant fragment
        f" WHERE unit_id = $1 AND {board.sql_free('unit_census')} > 0 RETURNING held",
        unit_id,
    )
    return held is not None


async def release_bed(conn: Connection, unit_id: int) -> None:
    """Give a held bed back to the board."""
    await conn.execute(
        "UPDATE unit_census SET held = held - 1 WHERE unit_id = $1 AND held > 0", unit_id
    )


async def occupy_held_bed(conn: Connection, unit_id: int) -> None:
    """The person was admitted: the held bed becomes an occupied one."""
    await conn.execute(
        """
        UPDATE unit_census
           SET held = held - 1, available = available - 1,
               occupied = CASE WHEN occupied IS NULL THEN NULL ELSE occupied + 1 END
         WHERE unit_id = $1 AND held > 0
        """,
        unit_id,
    )


# --------------------------------------------------------------------------- stored counts


@dataclass(slots=True)
class StoredCensus:
    """A unit's stored counts and their ``as_of``: what ``apply`` compares a report with."""

    as_of: datetime
    staffed: int | None
    occupied: int | None
    blocked: int
    available: int

    def same_as(self, report: CensusReport) -> bool:
        """``report`` is a duplicate of this one (same ``as_of`` and counts, as ``apply``
        decides it)."""
        return _same(
            {
                "as_of": self.as_of,
                "staffed": self.staffed,
                "occupied": self.occupied,
                "blocked": self.blocked,
                "available": self.available,
            },
            report,
        )


async def stored_counts(
    conn: Connection, unit_ids: Iterable[int]
) -> tuple[datetime, dict[int, StoredCensus]]:
    """The database clock and the stored counts of each of ``unit_ids`` that has a census,
    in one read: lighter than ``read`` (no board columns), for a feed that sets aside the
    reports that would change nothing before validating them (most of a poll's)."""
    rows = await conn.fetch(
        """
        SELECT now() AS now, c.* FROM (SELECT) AS clock LEFT JOIN (
            SELECT unit_id, as_of, staffed, occupied, blocked, available FROM unit_census
             WHERE unit_id = ANY($1::bigint[])) c ON true
        """,
        list(unit_ids),
    )
    return rows[0]["now"], {
        r["unit_id"]: StoredCensus(
            r["as_of"], r["staffed"], r["occupied"], r["blocked"], r["available"]
        )
        for r in rows
        if r["unit_id"] is not None
    }


_OVERDUE_SQL = f"""
    SELECT EXISTS (
        SELECT 1 FROM units u
          JOIN facilities f ON f.id = u.facility_id
          LEFT JOIN unit_census c ON c.unit_id = u.id
         WHERE u.facility_id = ANY($1::bigint[]) AND u.active AND f.active
           AND {sql_state("c.as_of", "f.report_cadence_minutes", "$2")} <> 'fresh'
    )
"""  # noqa: S608 -- composed only of constant fragments


async def any_overdue(conn: Connection, facility_ids: Iterable[int], now: datetime) -> bool:
    """Whether any active unit of these facilities is not fresh at ``now`` (late, stale or
    never reported): the board's ``FacilityState.overdue``, in one small read (the
    forced-update middleware asks it on every page a facility user opens)."""
    return bool(await conn.fetchval(_OVERDUE_SQL, list(facility_ids), now))


# --------------------------------------------------------------------------- phone checks
# "No bed", heard by a liaison on the phone: an observation kept beside the reports
# (``census_phone_checks``, source ``phone``). It never changes a unit's counts; the board
# shows it next to the facility while it is newer than the last report (``board.py``) and
# reporter compliance counts it apart from reports (``reports/figures.py``).

PHONE_SOURCE = "phone"


async def record_phone_check(
    conn: Connection,
    facility_id: int,
    unit_id: int | None,
    *,
    recorded_by: int | None,
    placement_id: int | None = None,
) -> datetime:
    """Record that the facility (or its unit) said by phone it has no bed; returns when.
    Appends a ``board`` event (ids and the time only), so the board's snapshot moves on."""
    observed_at: datetime = await conn.fetchval(
        "INSERT INTO census_phone_checks (facility_id, unit_id, recorded_by, placement_id,"
        " source) VALUES ($1, $2, $3, $4, $5) RETURNING observed_at",
        facility_id,
        unit_id,
        recorded_by,
        placement_id,
        PHONE_SOURCE,
    )
    await outbox.append(
        conn,
        [
            (
                outbox.BOARD,
                {
                    "kind": "phone_check",
                    "facility_id": facility_id,
                    "unit_id": unit_id,
                    "observed_at": observed_at.isoformat(),
                },
            )
        ],
    )
    return observed_at
