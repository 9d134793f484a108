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
correction is a new row, see below): when it happened (``occurred_at``: the declaration, the
deadline itself, the closing) and when it was written (``created_at``), the trigger,
the county, the order type, an age band, the payer, the outcome of a closing, the hours
from the detention start to ``occurred_at``, every facility referred (id and name) and
every declined referral (facility and reason code). Never initials, case numbers, notes
or any free text. ``placement_id`` links the record to its placement; the aggregates
never show it.

Also owns ``no_bed_corrections`` (migration 0012), append-only as well. A liaison or an
administrator corrects a record (:func:`correct`) with a new row: ``retract`` (not a
no-bed: entered in error, admitted elsewhere) or ``amend`` (the snapshot's coded fields
corrected: county, order type, age band, payer; each amendment carries the whole set), with
a reason code from a fixed list and never free text. A correction of a correction is a
later row; the latest (highest id) wins. The record's **effective** values are those of
its latest amendment, or the snapshot's without one; it is **counted** unless its latest
correction is a retraction (a later amendment counts it again).

Aggregates (:func:`by_county_month`, :func:`quarterly_totals`) count **placements**, not
records, on the effective values: a placement with several records (declared on day 2,
deadline passed on day 4) counts once, by its first counted record (earliest
``occurred_at``; retracted records are left out as if never made), whose effective county
and snapshot period and declines are used.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bedboard import audit, idempotency
from bedboard.auth import Principal
from bedboard.database import Connection
from bedboard.errors import BadReference, Conflict, FieldError, Invalid, NotFound
from bedboard.facilities import PAYERS


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


# --------------------------------------------------------------------------- corrections


class CorrectionKind(StrEnum):
    RETRACT = "retract"
    AMEND = "amend"


class CorrectionReason(StrEnum):
    ENTERED_IN_ERROR = "entered_in_error"
    WRONG_COUNTY = "wrong_county"
    WRONG_ORDER_TYPE = "wrong_order_type"
    ADMITTED_ELSEWHERE = "admitted_elsewhere"
    OTHER = "other"


CORRECTION_KIND_LABELS = {
    CorrectionKind.RETRACT: "Retract: not a no-bed",
    CorrectionKind.AMEND: "Amend the recorded fields",
}
CORRECTION_REASON_LABELS = {
    CorrectionReason.ENTERED_IN_ERROR: "Entered in error",
    CorrectionReason.WRONG_COUNTY: "Wrong county",
    CorrectionReason.WRONG_ORDER_TYPE: "Wrong order type",
    CorrectionReason.ADMITTED_ELSEWHERE: "Admitted elsewhere",
    CorrectionReason.OTHER: "Other",
}
# Which reasons go with which kind (the migration checks the same).
REASONS_BY_KIND = {
    CorrectionKind.RETRACT: (
        CorrectionReason.ENTERED_IN_ERROR,
        CorrectionReason.ADMITTED_ELSEWHERE,
        CorrectionReason.OTHER,
    ),
    CorrectionKind.AMEND: (
        CorrectionReason.ENTERED_IN_ERROR,
        CorrectionReason.WRONG_COUNTY,
        CorrectionReason.WRONG_ORDER_TYPE,
        CorrectionReason.OTHER,
    ),
}
AGE_BAND_CODES = (*(band for _, _, band in AGE_BANDS), UNKNOWN_AGE)
# The snapshot's coded fields an amendment may correct, in the order forms show them.
AMENDABLE = ("county_fips", "order_type", "age_band", "payer")

AgeBand = Literal["0-11", "12-17", "18-25", "26-44", "45-64", "65+", "unknown"]
Payer = Literal["medicaid", "medicare", "commercial", "tricare", "uninsured", "county_funded"]
assert AgeBand.__args__ == AGE_BAND_CODES and Payer.__args__ == PAYERS  # type: ignore[attr-defined]


class CorrectionIn(BaseModel):
    """A correction of one no-bed record: codes only, never free text.

    ``retract`` takes no field. ``amend`` takes the fields it corrects (at least one);
    those left out keep their current value, and ``payer`` may be null (not recorded)."""

    model_config = ConfigDict(extra="forbid")
    kind: CorrectionKind
    reason: CorrectionReason = Field(
        description="retract: entered_in_error, admitted_elsewhere or other; amend:"
        " entered_in_error, wrong_county, wrong_order_type or other."
    )
    county_fips: (
        Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{5}$")] | None
    ) = Field(default=None, description="amend: the corrected county (FIPS code).")
    order_type: (
        Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9_]{1,60}$")]
        | None
    ) = Field(default=None, description="amend: the corrected order type code.")
    age_band: AgeBand | None = Field(default=None, description="amend: the corrected age band.")
    payer: Payer | None = Field(
        default=None, description="amend: the corrected payer (null: not recorded)."
    )


class Correction(BaseModel):
    """One correction as it was made."""

    id: int
    no_bed_report_id: int
    created_at: datetime
    corrected_by: int = Field(description="The user id of who corrected it.")
    corrected_by_name: str
    kind: CorrectionKind
    reason: CorrectionReason
    county_fips: str | None = Field(description="amend: the effective values it sets.")
    order_type: str | None
    age_band: str | None
    payer: str | None


class Effective(BaseModel):
    """A record as its latest correction leaves it (the snapshot, without any)."""

    counted: bool = Field(description="False when the latest correction retracts it.")
    county_fips: str
    county_name: str
    order_type: str
    age_band: str
    payer: str | None


class CorrectedReport(BaseModel):
    """A no-bed record: its frozen snapshot, its corrections oldest first, and the values
    the reports use."""

    report: NoBedReport
    corrections: list[Correction]
    effective: Effective


class CorrectedReportList(BaseModel):
    placement_id: int
    items: list[CorrectedReport]


_CORRECTION_SQL = """
    SELECT k.id, k.no_bed_report_id, k.created_at, k.corrected_by,
           COALESCE(NULLIF(u.display_name, ''), u.email) AS corrected_by_name, k.kind, k.reason,
           k.county_fips, k.order_type, k.age_band, k.payer
      FROM no_bed_corrections k JOIN users u ON u.id = k.corrected_by
"""


async def _county_names(conn: Connection, fips: Iterable[str]) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT fips, name FROM counties WHERE fips = ANY($1::text[])", sorted(set(fips))
    )
    return {r["fips"]: r["name"] for r in rows}


def _effective(
    report: NoBedReport, corrections: list[Correction], names: dict[str, str]
) -> Effective:
    values = {f: getattr(report, f) for f in AMENDABLE}
    counted = True
    for c in corrections:  # oldest first: the latest wins
        counted = c.kind is CorrectionKind.AMEND
        if c.kind is CorrectionKind.AMEND:
            values = {f: getattr(c, f) for f in AMENDABLE}
    return Effective(counted=counted, county_name=names.get(values["county_fips"], ""), **values)


async def _corrected(conn: Connection, reports: list[NoBedReport]) -> list[CorrectedReport]:
    rows = await conn.fetch(
        _CORRECTION_SQL + " WHERE k.no_bed_report_id = ANY($1::bigint[]) ORDER BY k.id",
        [r.id for r in reports],
    )
    by_report: dict[int, list[Correction]] = defaultdict(list)
    for row in rows:
        by_report[row["no_bed_report_id"]].append(Correction(**dict(row)))
    names = await _county_names(
        conn,
        [r.county_fips for r in reports]
        + [c.county_fips for cs in by_report.values() for c in cs if c.county_fips],
    )
    return [
        CorrectedReport(
            report=r, corrections=by_report[r.id], effective=_effective(r, by_report[r.id], names)
        )
        for r in reports
    ]


async def corrected_for_placement(conn: Connection, placement_id: int) -> list[CorrectedReport]:
    """A placement's records, oldest first, each with its corrections and effective values
    (the placement page and ``GET …/no-bed``). A missing placement: ``NotFound``."""
    if not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM placements WHERE id = $1)", placement_id
    ):
        raise NotFound("placement")
    return await _corrected(conn, await for_placement(conn, placement_id))


@dataclass(frozen=True)
class Corrected:
    """The record after a correction (``body``: its JSON, as answered); ``replayed``: an
    Idempotency-Key retry, nothing new written."""

    body: dict[str, Any]
    replayed: bool = False


def _amended_values(data: CorrectionIn, current: Effective) -> dict[str, Any]:
    """The whole corrected set: the fields given, the others as they are now."""
    given = [f for f in AMENDABLE if f in data.model_fields_set]
    if not given:
        raise Invalid.field(
            "kind",
            "An amendment corrects at least one field: the county, the order type, the age"
            " band or the payer.",
        )
    errors = [
        FieldError(f, "cannot be empty in an amendment", "missing")
        for f in ("county_fips", "order_type", "age_band")
        if f in given and getattr(data, f) is None
    ]
    if errors:
        raise Invalid("An amendment cannot empty the county, order type or age band.", errors)
    values = {f: getattr(current, f) for f in AMENDABLE}
    values.update({f: getattr(data, f) for f in given})
    return values


def _check(data: CorrectionIn, current: Effective) -> dict[str, Any] | None:
    """The amended values (None for a retraction), or ``Invalid`` naming the field."""
    if data.reason not in REASONS_BY_KIND[data.kind]:
        allowed = ", ".join(CORRECTION_REASON_LABELS[r].lower() for r in REASONS_BY_KIND[data.kind])
        raise Invalid.field(
            "reason",
            f"For this kind of correction choose one of: {allowed}.",
            "enum",
        )
    if data.kind is CorrectionKind.RETRACT:
        extra = [f for f in AMENDABLE if f in data.model_fields_set]
        if extra:
            raise Invalid(
                "A retraction changes no field; leave the fields out.",
                [FieldError(f, "not allowed in a retraction", "extra") for f in extra],
            )
        if not current.counted:
            raise Conflict("This record is already retracted.")
        return None
    values = _amended_values(data, current)
    changed = [f for f in AMENDABLE if values[f] != getattr(current, f)]
    needs = {
        CorrectionReason.WRONG_COUNTY: ("county_fips", "Choose the correct county."),
        CorrectionReason.WRONG_ORDER_TYPE: ("order_type", "Choose the correct order type."),
    }.get(data.reason)
    if needs is not None and needs[0] not in changed:
        raise Invalid.field(needs[0], needs[1], "matching")
    if current.counted and not changed:
        raise Invalid.field(
            next(f for f in AMENDABLE if f in data.model_fields_set),
            "is already this value: the amendment changes nothing",
        )
    return values


async def correct(
    conn: Connection,
    placement_id: int,
    report_id: int,
    data: CorrectionIn,
    actor: Principal,
    *,
    key: str | None = None,
    digest: str = "",
    now: datetime | None = None,
) -> Corrected:
    """Correct the placement's record ``report_id`` with a new row (the record itself
    never changes), with an audit row, in one transaction. Once per ``key`` (the API's
    Idempotency-Key): a retry with the same key and body gets the first answer.

    1. Lock the record (``FOR NO KEY UPDATE``: corrections of one record are made one at
       a time, so id order is the order they were made in). Not the placement's:
       ``NotFound``.
    2. Check the correction against the record as its latest correction leaves it:
       a reason that fits the kind; a retraction of a counted record, with no field; an
       amendment that changes something (a county for ``wrong_county``, an order type for
       ``wrong_order_type``) to a county and order type that exist.
    3. Insert the correction (``created_at``: ``now`` or the database clock) and audit it
       (``placement.no_bed_correction``: the ids, the kind, the reason, the fields changed).
    """
    async with conn.transaction():
        if key is not None:
            stored = await idempotency.lookup(conn, actor.user_id, key, digest)
            if stored is not None:
                return Corrected(stored.body, replayed=True)
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM no_bed_reports"  # noqa: S608 -- constant
            " WHERE id = $1 AND placement_id = $2 FOR NO KEY UPDATE",
            report_id,
            placement_id,
        )
        if row is None:
            raise NotFound("no-bed record", "This placement has no such no-bed record.")
        (before,) = await _corrected(conn, [_report(row)])
        values = _check(data, before.effective)
        if values is not None:
            if not await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM counties WHERE fips = $1)", values["county_fips"]
            ):
                raise BadReference("county_fips", "no such county")
            if not await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM order_types WHERE code = $1)", values["order_type"]
            ):
                raise BadReference("order_type", "no such order type")
        fields = values or {}
        correction_id = await conn.fetchval(
            """
            INSERT INTO no_bed_corrections (no_bed_report_id, created_at, corrected_by, kind,
                                            reason, county_fips, order_type, age_band, payer)
            VALUES ($1, COALESCE($2::timestamptz, now()), $3, $4, $5, $6, $7, $8, $9)
            RETURNING id
            """,
            report_id,
            now,
            actor.user_id,
            data.kind.value,
            data.reason.value,
            fields.get("county_fips"),
            fields.get("order_type"),
            fields.get("age_band"),
            fields.get("payer"),
        )
        (after,) = await _corrected(conn, [before.report])
        detail = {
            "report_id": report_id,
            "correction_id": correction_id,
            "kind": data.kind.value,
            "reason": data.reason.value,
            "fields": [
                f for f in AMENDABLE if values and values[f] != getattr(before.effective, f)
            ],
        }
        await audit.changed(
            conn, actor, "placement.no_bed_correction", "placement", placement_id, detail
        )
        body = after.model_dump(mode="json")
        if key is not None:
            await idempotency.remember(conn, actor.user_id, key, digest, 201, body)
        return Corrected(body)


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


# Each placement's first counted record (earliest occurred_at, then id) whose occurred_at
# is in [$1, $2), with its local period ($4: 'month' or 'quarter') in zone $3. A first
# record is first over all of the placement's counted records, not only those in the range.
# ``effective``: every record as its latest correction leaves it, the county of its latest
# amendment (the snapshot's without one) and whether it is counted (its latest correction
# is not a retraction); NOT MATERIALIZED, so the range reaches no_bed_reports' index.
_COUNTED_SQL = """
    WITH effective AS NOT MATERIALIZED (
        SELECT n.id, n.placement_id, n.trigger, n.occurred_at, n.declined,
               CASE WHEN k.kind = 'amend' THEN k.county_fips ELSE n.county_fips END
                 AS county_fips,
               k.kind IS DISTINCT FROM 'retract' AS counted
          FROM no_bed_reports n
          LEFT JOIN LATERAL (SELECT kind, county_fips FROM no_bed_corrections
                              WHERE no_bed_report_id = n.id
                              ORDER BY id DESC LIMIT 1) k ON true
    )
    SELECT n.id, n.trigger, n.occurred_at, n.county_fips, c.name AS county_name, n.declined,
           date_trunc($4::text, n.occurred_at AT TIME ZONE $3::text)::date AS period
      FROM effective n JOIN counties c ON c.fips = n.county_fips
     WHERE n.occurred_at >= $1 AND n.occurred_at < $2 AND n.counted
       AND NOT EXISTS (SELECT 1 FROM effective e
                        WHERE e.placement_id = n.placement_id AND e.counted
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
