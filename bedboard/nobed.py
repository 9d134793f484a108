"""No-bed records: a frozen snapshot each time a court-ordered placement found no bed
(after Washington's RCW 71.05.750 reports), and the aggregates the reports pages show.

Owns ``no_bed_reports`` (migration 0008). Three triggers make a record, each at most
once per placement: the table's UNIQUE (placement_id, trigger) makes a repeated or a
concurrent second attempt insert nothing.

- ``declared``: a liaison declares "No bed found" for an open placement
  (``placements.declare_no_bed``: under the placement's lock, with a timeline event, an
  audit row and an outbox event).
- ``deadline_passed``: the legal deadline passed before the person was admitted. The
  placement clock finds these (``placements.record_passed_deadlines``, every 30 s, one
  instance at a time under an advisory lock), and ``placements.transition`` records one
  when it admits or closes a placement past its deadline, so none is missed between
  two runs of the clock.
- ``closed``: a court-ordered placement (its order type is court-ordered or has a legal
  deadline) closed as ``order_expired`` or ``released``: never admitted
  (``placements.transition``).

The callers in ``placements/`` choose the moment; :func:`record` decides whether the
trigger applies to the placement as it stands and takes the snapshot. This module
imports nothing from ``placements`` (``placements`` imports it).

The snapshot, frozen at creation (the database refuses UPDATE, DELETE and TRUNCATE; a
correction would be a new row): when it happened (``occurred_at``: the declaration, the
deadline itself, the closing) and when it was written (``created_at``), the trigger,
the county, the order type, an age band, the payer, the outcome of a closing, the hours
from the detention start to ``occurred_at``, every facility referred (id and name) and
every declined referral (facility and reason code). Never initials, case numbers, notes
or any free text. ``placement_id`` links the record to its placement; the aggregates
never show it.

Aggregates (:func:`by_county_month`, :func:`quarterly_totals`) count **placements**, not
records: a placement with several records (declared on day 2, deadline passed on day 4)
counts once, by its first record (earliest ``occurred_at``), whose snapshot gives the
county, the period and the declines.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field

from bedboard.database import Connection
from bedboard.errors import Invalid, NotFound


class Trigger(StrEnum):
    DECLARED = "declared"
    DEADLINE_PASSED = "deadline_passed"
    CLOSED = "closed"


TRIGGER_LABELS = {
    Trigger.DECLARED: "No bed found (declared by a liaison)",
    Trigger.DEADLINE_PASSED: "Legal deadline passed before admission",
    Trigger.CLOSED: "Closed without admission",
}

# Closing outcomes that mean the person was never placed (the others: withdrawn, diverted
# to outpatient, other).
CLOSING_OUTCOMES = frozenset({"order_expired", "released"})

# (first age, last age or None for "and over", band), in order.
AGE_BANDS: tuple[tuple[int, int | None, str], ...] = (
    (0, 11, "0-11"),
    (12, 17, "12-17"),
    (18, 25, "18-25"),
    (26, 44, "26-44"),
    (45, 64, "45-64"),
    (65, None, "65+"),
)
UNKNOWN_AGE = "unknown"


def age_band(age: int | None) -> str:
    """The reporting band of an age (``unknown`` without one)."""
    if age is None or age < 0:
        return UNKNOWN_AGE
    for first, last, band in AGE_BANDS:
        if first <= age and (last is None or age <= last):
            return band
    raise AssertionError("the bands cover every age from 0")  # pragma: no cover


def age_at_detention(
    age: int | None, birth_year: int | None, detention_start: datetime
) -> int | None:
    """The recorded age; with a birth year only, the age reached in the year of the
    detention start (UTC), which may be a year more than the person's age that day."""
    if age is not None:
        return age
    if birth_year is None:
        return None
    return detention_start.astimezone(UTC).year - birth_year


# --------------------------------------------------------------------------- the records


class FacilityRef(BaseModel):
    facility_id: int
    name: str


class Decline(BaseModel):
    facility_id: int
    name: str
    reason: str = Field(description="The decline reason code (never the note).")


class NoBedReport(BaseModel):
    """One no-bed record as it was frozen."""

    id: int
    placement_id: int
    trigger: Trigger
    occurred_at: datetime = Field(
        description="When it happened: the declaration, the deadline, or the closing."
    )
    created_at: datetime = Field(description="When the record was written.")
    county_fips: str
    order_type: str
    age_band: str
    payer: str | None
    outcome: str | None = Field(description="For `closed`: order_expired or released.")
    elapsed_hours: float = Field(description="Hours from the detention start to occurred_at.")
    referred: list[FacilityRef]
    declined: list[Decline]


# What the snapshot reads, in one statement: the placement as it stands, its order type,
# and its referrals by facility (names as they are now, frozen into the record).
_SNAPSHOT_SQL = """
    SELECT p.status, p.outcome, p.county_fips, p.order_type, p.person_age, p.person_birth_year,
           p.detention_start, p.deadline_at, p.admitted_at, p.closed_at, p.payer,
           (ot.court_ordered OR ot.deadline_hours IS NOT NULL) AS court_ordered,
           COALESCE($2::timestamptz, now()) AS now,
           COALESCE((SELECT jsonb_agg(jsonb_build_object('facility_id', f.id, 'name', f.name)
                                      ORDER BY f.id)
                       FROM facilities f
                      WHERE f.id IN (SELECT un.facility_id FROM referrals r
                                       JOIN units un ON un.id = r.unit_id
                                      WHERE r.placement_id = p.id)), '[]') AS referred,
           COALESCE((SELECT jsonb_agg(jsonb_build_object('facility_id', f.id, 'name', f.name,
                                                         'reason', r.decline_reason)
                                      ORDER BY r.id)
                       FROM referrals r
                       JOIN units un ON un.id = r.unit_id
                       JOIN facilities f ON f.id = un.facility_id
                      WHERE r.placement_id = p.id AND r.status = 'declined'), '[]') AS declined
      FROM placements p JOIN order_types ot ON ot.code = p.order_type
     WHERE p.id = $1
"""

_INSERT_SQL = """
    INSERT INTO no_bed_reports (placement_id, trigger, occurred_at, county_fips, order_type,
                                age_band, payer, outcome, elapsed_hours, referred, declined)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    ON CONFLICT ON CONSTRAINT no_bed_reports_once_per_trigger DO NOTHING
    RETURNING *
"""

_COLUMNS = (
    "id, placement_id, trigger, occurred_at, created_at, county_fips, order_type, age_band,"
    " payer, outcome, elapsed_hours, referred, declined"
)


def _occurred_at(row: Any, trigger: Trigger) -> datetime | None:
    """When ``trigger`` happened to the placement read in ``row``, or None if it does not
    apply to it."""
    now: datetime = row["now"]
    if trigger is Trigger.DECLARED:
        return now if row["status"] == "open" else None
    if trigger is Trigger.DEADLINE_PASSED:
        deadline: datetime | None = row["deadline_at"]
        if deadline is None or deadline > now:
            return None
        for ended in (row["admitted_at"], row["closed_at"]):
            if ended is not None and ended <= deadline:
                return None  # admitted or closed in time
        return deadline
    if (
        row["status"] == "closed"
        and row["outcome"] in CLOSING_OUTCOMES
        and row["court_ordered"]
        and row["admitted_at"] is None
    ):
        closed_at: datetime = row["closed_at"]
        return closed_at
    return None


def _report(row: Any) -> NoBedReport:
    return NoBedReport(**{**dict(row), "elapsed_hours": float(row["elapsed_hours"])})


async def record(
    conn: Connection, placement_id: int, trigger: Trigger, *, now: datetime | None = None
) -> NoBedReport | None:
    """Make the placement's record for ``trigger`` if the trigger applies to it as it
    stands (``now``: the database clock unless given) and it has none yet. Returns the new
    record, or None (does not apply, or already recorded).

    1. Read the placement, its order type and its referrals (one statement).
    2. Decide whether the trigger applies and when it happened.
    3. Insert the snapshot; ``ON CONFLICT … DO NOTHING`` on (placement_id, trigger), so a
       second or concurrent attempt inserts nothing.

    Callers hold the placement's row lock where the placement's state matters (a
    declaration, a closing); the clock need not (a placement's deadline passing is a fact
    of its deadline and of when it was admitted or closed, and the constraint keeps one).
    """
    row = await conn.fetchrow(_SNAPSHOT_SQL, placement_id, now)
    if row is None:
        raise NotFound("placement")
    occurred = _occurred_at(row, trigger)
    if occurred is None:
        return None
    hours = (occurred - row["detention_start"]).total_seconds() / 3600
    age = age_at_detention(row["person_age"], row["person_birth_year"], row["detention_start"])
    inserted = await conn.fetchrow(
        _INSERT_SQL,
        placement_id,
        trigger.value,
        occurred,
        row["county_fips"],
        row["order_type"],
        age_band(age),
        row["payer"],
        row["outcome"] if trigger is Trigger.CLOSED else None,
        Decimal(f"{hours:.2f}"),
        row["referred"],
        row["declined"],
    )
    return _report(inserted) if inserted is not None else None


async def report_of(conn: Connection, placement_id: int, trigger: Trigger) -> NoBedReport | None:
    """The placement's record for ``trigger``, if it has one."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM no_bed_reports WHERE placement_id = $1 AND trigger = $2",  # noqa: S608 -- constant
        placement_id,
        trigger.value,
    )
    return _report(row) if row is not None else None


async def for_placement(conn: Connection, placement_id: int) -> list[NoBedReport]:
    """A placement's records, oldest first (the placement page lists them)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM no_bed_reports WHERE placement_id = $1"  # noqa: S608 -- constant
        " ORDER BY occurred_at, id",
        placement_id,
    )
    return [_report(r) for r in rows]


# --------------------------------------------------------------------------- aggregates


class FacilityCount(BaseModel):
    facility_id: int
    name: str = Field(description="As in the newest snapshot counted.")
    count: int = Field(description="Placements counted in which this facility declined.")


class CountyCount(BaseModel):
    county_fips: str
    county_name: str
    count: int


class CountyMonth(BaseModel):
    """Placements with no bed in one county, in one local calendar month."""

    county_fips: str
    county_name: str
    month: date = Field(description="The first day of the month, in the zone asked for.")
    count: int = Field(description="Placements whose first no-bed record falls here.")
    triggers: dict[str, int] = Field(description="What their first records were.")
    refusing_facilities: list[FacilityCount] = Field(
        description="Facilities that declined them, most often first."
    )
    reasons: dict[str, int] = Field(
        description="Declined referrals by reason code, most frequent first."
    )


class QuarterTotal(BaseModel):
    """Placements with no bed statewide in one local calendar quarter."""

    year: int
    quarter: int = Field(ge=1, le=4)
    start: date = Field(description="The first day of the quarter, in the zone asked for.")
    count: int
    counties: list[CountyCount] = Field(description="By county, most first.")
    triggers: dict[str, int]
    refusing_facilities: list[FacilityCount]
    reasons: dict[str, int]


# Each placement's first record (earliest occurred_at, then id) whose occurred_at is in
# [$1, $2), with its local period ($4: 'month' or 'quarter') in zone $3. A first record
# is first over all of the placement's records, not only those in the range.
_COUNTED_SQL = """
    SELECT n.id, n.trigger, n.occurred_at, n.county_fips, c.name AS county_name, n.declined,
           date_trunc($4::text, n.occurred_at AT TIME ZONE $3::text)::date AS period
      FROM no_bed_reports n JOIN counties c ON c.fips = n.county_fips
     WHERE n.occurred_at >= $1 AND n.occurred_at < $2
       AND NOT EXISTS (SELECT 1 FROM no_bed_reports e
                        WHERE e.placement_id = n.placement_id
                          AND (e.occurred_at, e.id) < (n.occurred_at, n.id))
     ORDER BY period, n.occurred_at, n.id
"""


def _check_range(start: datetime, end: datetime, zone_name: str) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes (UTC instants)")
    if not start < end:
        raise Invalid.field("end", "must be after the start")
    try:
        ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid.field("zone", f"unknown time zone {zone_name!r}") from None


async def _counted(
    conn: Connection, start: datetime, end: datetime, zone_name: str, period: str
) -> list[Any]:
    _check_range(start, end, zone_name)
    return list(await conn.fetch(_COUNTED_SQL, start, end, zone_name, period))


def _most_first(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


class _Tally:
    """The breakdowns of one group of counted records."""

    def __init__(self) -> None:
        self.count = 0
        self.triggers: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.refusals: Counter[int] = Counter()
        self.names: dict[int, str] = {}
        self.counties: Counter[tuple[str, str]] = Counter()

    def add(self, row: Any) -> None:
        self.count += 1
        self.triggers[row["trigger"]] += 1
        self.counties[(row["county_fips"], row["county_name"])] += 1
        for decline in row["declined"]:
            self.reasons[decline["reason"]] += 1
            # Rows come oldest first, so the newest snapshot's name wins.
            self.names[decline["facility_id"]] = decline["name"]
        for facility_id in {d["facility_id"] for d in row["declined"]}:
            self.refusals[facility_id] += 1

    def facilities(self) -> list[FacilityCount]:
        return sorted(
            (
                FacilityCount(facility_id=f, name=self.names[f], count=n)
                for f, n in self.refusals.items()
            ),
            key=lambda fc: (-fc.count, fc.name, fc.facility_id),
        )


def _grouped(rows: Iterable[Any], key: Any) -> dict[Any, _Tally]:
    groups: dict[Any, _Tally] = defaultdict(_Tally)
    for row in rows:
        groups[key(row)].add(row)
    return groups


async def by_county_month(
    conn: Connection, start: datetime, end: datetime, zone_name: str
) -> list[CountyMonth]:
    """Placements with no bed by county and local calendar month (``zone_name``, e.g.
    ``America/Chicago``), for first records with ``start <= occurred_at < end`` (aware
    datetimes). Months without any are left out. Ordered by month, then county name."""
    rows = await _counted(conn, start, end, zone_name, "month")
    groups = _grouped(rows, lambda r: (r["period"], r["county_fips"], r["county_name"]))
    out = [
        CountyMonth(
            county_fips=fips,
            county_name=name,
            month=month,
            count=t.count,
            triggers=_most_first(t.triggers),
            refusing_facilities=t.facilities(),
            reasons=_most_first(t.reasons),
        )
        for (month, fips, name), t in groups.items()
    ]
    return sorted(out, key=lambda r: (r.month, r.county_name, r.county_fips))


async def quarterly_totals(
    conn: Connection, start: datetime, end: datetime, zone_name: str
) -> list[QuarterTotal]:
    """Statewide totals by local calendar quarter, on the same counting as
    :func:`by_county_month` (so a quarter's count is the sum of its months' counts over
    every county). Quarters without any are left out. Oldest first."""
    rows = await _counted(conn, start, end, zone_name, "quarter")
    groups = _grouped(rows, lambda r: r["period"])
    out = []
    for first_day, t in sorted(groups.items()):
        counties = sorted(
            (
                CountyCount(county_fips=f, county_name=n, count=c)
                for (f, n), c in t.counties.items()
            ),
            key=lambda cc: (-cc.count, cc.county_name),
        )
        out.append(
            QuarterTotal(
                year=first_day.year,
                quarter=(first_day.month - 1) // 3 + 1,
                start=first_day,
                count=t.count,
                counties=counties,
                triggers=_most_first(t.triggers),
                refusing_facilities=t.facilities(),
                reasons=_most_first(t.reasons),
            )
        )
    return out
