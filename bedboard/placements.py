"""Court-ordered placement requests: the state machine, referrals, bed holds, deadlines.

Every change runs in one transaction that updates the current state, appends an event
to the placement's timeline (append-only), and appends outbox events (``placements``,
``referrals`` and, when a hold changes the beds, ``board``).

Placement states: ``open`` → ``accepted`` → ``in_transit`` → ``admitted``; any
non-terminal state → ``closed`` with an outcome. A referral is ``pending`` →
``accepted`` | ``declined`` | ``withdrawn`` | ``expired``; an accepted referral holds one
bed until its hold expires, and can still be declined (the hospital backs out),
withdrawn (by the liaison) or expire, which releases the bed and reopens the placement.

The last bed: a hold is ``UPDATE unit_census SET held = held + 1 WHERE available - held
> 0``, backed by ``CHECK (held <= available)``; of two racing acceptances exactly one
gets the bed and the other a 409.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from bedboard import board, matching, outbox
from bedboard.auth import Principal, Role
from bedboard.database import Connection
from bedboard.facilities import Fips, Population, SecurityLevel, Tag
from bedboard.fields import DbId, Moment
from bedboard.matching import MatchingError, UnitGender
from bedboard.problems import Problem, conflict, not_found

PLACEMENTS = "placements"
REFERRALS = "referrals"
COURT = "court"  # status changes of a court's placements, with nothing a court may not see
ALERTS_LOCK_KEY = 0x6265_6462_616C_7274  # "bedbalrt"

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class Status(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    IN_TRANSIT = "in_transit"
    ADMITTED = "admitted"
    CLOSED = "closed"


TERMINAL = frozenset({Status.ADMITTED, Status.CLOSED})

# What a person may ask for with POST /placements/{id}/transition, from each state.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.CLOSED}),
    Status.ACCEPTED: frozenset({Status.IN_TRANSIT, Status.CLOSED}),
    Status.IN_TRANSIT: frozenset({Status.ADMITTED, Status.CLOSED}),
    Status.ADMITTED: frozenset(),
    Status.CLOSED: frozenset(),
}


class Outcome(StrEnum):
    RELEASED = "released"
    WITHDRAWN = "withdrawn"
    ORDER_EXPIRED = "order_expired"
    DIVERTED_OUTPATIENT = "diverted_outpatient"
    OTHER = "other"


class ReferralStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class DeclineReason(StrEnum):
    NO_BED = "no_bed"
    ACUITY = "acuity"
    MEDICAL_COMPLEXITY = "medical_complexity"
    AGGRESSION_SAFETY = "aggression_safety"
    AGE_GENDER_MISMATCH = "age_gender_mismatch"
    PAYER = "payer"
    DEVELOPMENTAL_DISABILITY = "developmental_disability"
    SUBSTANCE_USE = "substance_use"
    LEGAL_STATUS = "legal_status"
    STAFFING = "staffing"
    OTHER = "other"


DECLINE_LABELS = {
    DeclineReason.NO_BED: "No bed",
    DeclineReason.ACUITY: "Acuity",
    DeclineReason.MEDICAL_COMPLEXITY: "Medical complexity",
    DeclineReason.AGGRESSION_SAFETY: "Aggression or safety risk",
    DeclineReason.AGE_GENDER_MISMATCH: "Age or gender mismatch",
    DeclineReason.PAYER: "Payer",
    DeclineReason.DEVELOPMENTAL_DISABILITY: "Developmental disability not served",
    DeclineReason.SUBSTANCE_USE: "Substance use not served",
    DeclineReason.LEGAL_STATUS: "Legal status not accepted",
    DeclineReason.STAFFING: "Staffing",
    DeclineReason.OTHER: "Other",
}

OUTCOME_LABELS = {
    Outcome.RELEASED: "Released",
    Outcome.WITHDRAWN: "Withdrawn",
    Outcome.ORDER_EXPIRED: "Order expired",
    Outcome.DIVERTED_OUTPATIENT: "Diverted to outpatient",
    Outcome.OTHER: "Other",
}


# --------------------------------------------------------------------------- inputs


class PersonIn(BaseModel):
    """The person, to the minimum necessary: no names, no record numbers."""

    model_config = ConfigDict(extra="forbid")
    initials: Annotated[
        str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{1,4}$")
    ]
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    age: int | None = Field(default=None, ge=0, le=130)
    sex: Literal["female", "male", "other", "unknown"]

    @model_validator(mode="after")
    def _age_or_birth_year(self) -> PersonIn:
        if self.birth_year is None and self.age is None:
            raise ValueError("give the person's age or birth year")
        return self


class NeedsIn(BaseModel):
    """What a bed must offer; the same vocabulary as bed search."""

    model_config = ConfigDict(extra="forbid")
    population: Population | None = Field(
        default=None,
        description="The age group. Unset: from the person's age (child 0-12, adolescent "
        "13-17, adult 18-64, geriatric 65+).",
    )
    gender: UnitGender | None = Field(
        default=None,
        description="Unit genders to match: male (men's or mixed units), female (women's or "
        "mixed), mixed (mixed only), any. Unset: from the person's sex (other or unknown: "
        "mixed only).",
    )
    override: StrictBool = Field(
        default=False,
        description="The liaison deliberately chose an age group or unit gender that the "
        "person's age or sex would not give (recorded on the timeline). Without it, a "
        "contradiction is a 422.",
    )
    specialties: list[Tag] = Field(default_factory=list, max_length=10)
    security_level: SecurityLevel | None = None
    involuntary: StrictBool = True
    payer: Tag | None = None


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    system: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    external_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    url: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=2000, pattern=r"^https?://\S+$")
    ]


class PlacementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_type: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")]
    court_id: DbId | None = None
    case_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] = ""
    detention_start: Moment
    county_fips: Fips
    person: PersonIn
    needs: NeedsIn
    clinical_notes: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10000)] = ""
    liaison_id: DbId | None = Field(default=None, description="Default: the liaison creating it.")
    requesting_agency: Text = ""
    requesting_officer: Text = ""
    links: list[LinkIn] = Field(default_factory=list, max_length=20)


class PlacementPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_type: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")] | None = Field(
        default=None, description="A new order type; the deadline follows its rule."
    )
    court_id: DbId | None = None
    case_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] | None = (
        None
    )
    detention_start: Moment | None = None
    county_fips: Fips | None = None
    person: PersonIn | None = None
    needs: NeedsIn | None = None
    clinical_notes: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=10000)] | None
    ) = None
    liaison_id: DbId | None = None
    requesting_agency: Text | None = None
    requesting_officer: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _null_only_where_allowed(cls, data: Any) -> Any:
        """Leaving a field out keeps it; ``null`` clears it, which only the court and the
        liaison may be (a placement always has a detention start, a county, a person...)."""
        if isinstance(data, dict):
            for name, value in data.items():
                if value is None and name not in ("court_id", "liaison_id"):
                    raise ValueError(f"{name} cannot be null; leave it out to keep it")
        return data


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: Literal["in_transit", "admitted", "closed"]
    outcome: Outcome | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""

    @model_validator(mode="after")
    def _outcome_only_when_closing(self) -> TransitionIn:
        if self.to == "closed" and self.outcome is None:
            raise ValueError("closing needs an outcome")
        if self.to != "closed" and self.outcome is not None:
            raise ValueError("only closing takes an outcome")
        return self


class ReferralsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_ids: list[DbId] = Field(min_length=1, max_length=20)


class DeclineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: DeclineReason
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10000)]


class OrderTypePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    deadline_hours: int | None = Field(ge=1, le=24 * 400, description="null: no legal clock.")


# --------------------------------------------------------------------------- views


class OrderType(BaseModel):
    code: str
    label: str
    statute: str
    deadline_hours: int | None
    court_ordered: bool = Field(description="A court's order: units must take court-ordered.")
    court_required: bool = Field(description="The court must be named when it is recorded.")


class OrderTypeList(BaseModel):
    items: list[OrderType]


class Person(BaseModel):
    initials: str
    birth_year: int | None
    age: int | None
    sex: str


class Needs(BaseModel):
    population: Population
    gender: UnitGender
    population_override: bool = Field(description="The age group was chosen against the age.")
    gender_override: bool = Field(description="The unit gender was chosen against the sex.")
    specialties: list[str]
    security_level: SecurityLevel | None
    involuntary: bool
    payer: str | None


class Referral(BaseModel):
    id: int
    placement_id: int
    unit_id: int
    unit_name: str
    facility_id: int
    facility_name: str
    status: ReferralStatus
    decline_reason: DeclineReason | None
    decline_note: str
    hold_active: bool
    hold_expires_at: datetime | None
    created_at: datetime
    responded_at: datetime | None


class Link(BaseModel):
    id: int
    system: str
    external_id: str
    url: str
    created_at: datetime


class Note(BaseModel):
    id: int
    body: str
    author: str
    created_at: datetime


class Event(BaseModel):
    id: int
    at: datetime
    actor: str
    kind: str
    from_state: str | None
    to_state: str | None
    data: dict[str, Any]


class Placement(BaseModel):
    """The whole record: for liaisons and administrators."""

    id: int
    reference: str
    order_type: str
    order_label: str
    statute: str
    court_ordered: bool
    court_required: bool
    court_id: int | None
    court_name: str | None
    case_number: str
    detention_start: datetime
    deadline_at: datetime | None
    overdue: bool
    county_fips: str
    county_name: str
    person: Person
    needs: Needs
    clinical_notes: str
    liaison_id: int | None
    liaison_email: str | None
    requesting_agency: str
    requesting_officer: str
    status: Status
    outcome: Outcome | None
    outcome_note: str
    accepted_facility_name: str | None
    accepted_unit_name: str | None
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None
    admitted_at: datetime | None
    closed_at: datetime | None
    alerts: list[str]
    allowed_transitions: list[Status]
    referrals: list[Referral]
    links: list[Link]
    notes: list[Note]
    version: int


class FacilityPlacement(BaseModel):
    """What a receiving facility needs to decide on a referral (and nothing else)."""

    id: int
    reference: str
    order_label: str
    statute: str
    court_ordered: bool
    detention_start: datetime
    deadline_at: datetime | None
    overdue: bool
    county_name: str
    person: Person
    needs: Needs
    clinical_notes: str
    status: Status
    referrals: list[Referral]
    liaison_name: str = Field(description="Who referred, to call back.")
    liaison_phone: str = Field(description="The referring liaison's call-back number.")


class TimelineEntry(BaseModel):
    at: datetime
    status: Status


class CourtPlacement(BaseModel):
    """The court's view: status and where, never needs, notes or decline reasons."""

    reference: str
    case_number: str
    court_name: str
    order_label: str
    status: Status
    detention_start: datetime
    deadline_at: datetime | None
    overdue: bool
    facility_name: str | None
    timeline: list[TimelineEntry]


class PlacementSummary(BaseModel):
    id: int
    reference: str
    order_label: str
    court_name: str | None
    case_number: str
    county_name: str
    person_initials: str
    population: Population
    status: Status
    detention_start: datetime
    deadline_at: datetime | None
    overdue: bool
    liaison_id: int | None
    accepted_facility_name: str | None
    pending_referrals: int
    declined_referrals: int


class PlacementList(BaseModel):
    items: list[PlacementSummary]


class FacilityPlacementList(BaseModel):
    items: list[FacilityPlacement]


class CourtPlacementList(BaseModel):
    items: list[CourtPlacement]


class Timeline(BaseModel):
    placement_id: int
    items: list[Event]


# --------------------------------------------------------------------------- reads

_PLACEMENT_SQL = """
    SELECT p.*, ot.label AS order_label, ot.statute, ot.court_ordered, ot.court_required,
           ct.name AS court_name, co.name AS county_name,
           u.email AS liaison_email, COALESCE(NULLIF(u.display_name, ''), u.email, '') AS liaison_name,
           COALESCE(u.phone, '') AS liaison_phone,
           af.name AS accepted_facility_name, au.name AS accepted_unit_name,
           af.id AS accepted_facility_id,
           (p.deadline_at IS NOT NULL AND p.deadline_at < now()
              AND p.status NOT IN ('admitted', 'closed')) AS overdue,
           COALESCE((SELECT array_agg(point ORDER BY raised_at) FROM placement_alerts a
                      WHERE a.placement_id = p.id), '{}') AS alerts
      FROM placements p
      JOIN order_types ot ON ot.code = p.order_type
      JOIN counties co ON co.fips = p.county_fips
      LEFT JOIN courts ct ON ct.id = p.court_id
      LEFT JOIN users u ON u.id = p.liaison_id
      LEFT JOIN referrals ar ON ar.id = p.accepted_referral_id
      LEFT JOIN units au ON au.id = ar.unit_id
      LEFT JOIN facilities af ON af.id = au.facility_id
"""

_REFERRAL_SQL = """
    SELECT r.id, r.placement_id, r.unit_id, un.name AS unit_name, f.id AS facility_id,
           f.name AS facility_name, r.status, r.decline_reason, r.decline_note, r.hold_active,
           r.hold_expires_at, r.created_at, r.responded_at
      FROM referrals r JOIN units un ON un.id = r.unit_id JOIN facilities f ON f.id = un.facility_id
"""


def _person(row: Any) -> Person:
    return Person(
        initials=row["person_initials"],
        birth_year=row["person_birth_year"],
        age=row["person_age"],
        sex=row["person_sex"],
    )


def _needs(row: Any) -> Needs:
    return Needs(
        population=row["population"],
        gender=row["gender"],
        population_override=row["population_override"],
        gender_override=row["gender_override"],
        specialties=row["specialties"],
        security_level=row["security_level"],
        involuntary=row["involuntary"],
        payer=row["payer"],
    )


async def _row(conn: Connection, placement_id: int) -> Any:
    row = await conn.fetchrow(_PLACEMENT_SQL + " WHERE p.id = $1", placement_id)
    if row is None:
        raise not_found("placement")
    return row


async def referrals_of(conn: Connection, placement_id: int) -> list[Referral]:
    rows = await conn.fetch(
        _REFERRAL_SQL + " WHERE r.placement_id = $1 ORDER BY r.id", placement_id
    )
    return [Referral(**dict(r)) for r in rows]


async def scope(conn: Connection, placement_id: int) -> tuple[int | None, frozenset[int]]:
    """(court id, facilities that received a referral): what access decisions need."""
    row = await conn.fetchrow(
        """
        SELECT p.court_id,
               COALESCE((SELECT array_agg(DISTINCT un.facility_id) FROM referrals r
                           JOIN units un ON un.id = r.unit_id WHERE r.placement_id = p.id), '{}')
                 AS facility_ids
          FROM placements p WHERE p.id = $1
        """,
        placement_id,
    )
    if row is None:
        raise not_found("placement")
    return row["court_id"], frozenset(row["facility_ids"])


async def get_placement(conn: Connection, placement_id: int) -> Placement:
    row = await _row(conn, placement_id)
    links = await conn.fetch(
        "SELECT id, system, external_id, url, created_at FROM placement_links"
        " WHERE placement_id = $1 ORDER BY id",
        placement_id,
    )
    notes = await conn.fetch(
        """
        SELECT n.id, n.body, COALESCE(u.display_name, u.email, 'unknown') AS author, n.created_at
          FROM placement_notes n LEFT JOIN users u ON u.id = n.author_id
         WHERE n.placement_id = $1 ORDER BY n.id
        """,
        placement_id,
    )
    status = Status(row["status"])
    return Placement(
        **{
            k: row[k]
            for k in (
                "id",
                "reference",
                "order_type",
                "order_label",
                "statute",
                "court_ordered",
                "court_required",
                "court_id",
                "court_name",
                "case_number",
                "detention_start",
                "deadline_at",
                "overdue",
                "county_fips",
                "county_name",
                "clinical_notes",
                "liaison_id",
                "liaison_email",
                "requesting_agency",
                "requesting_officer",
                "outcome",
                "outcome_note",
                "accepted_facility_name",
                "accepted_unit_name",
                "created_at",
                "updated_at",
                "accepted_at",
                "admitted_at",
                "closed_at",
                "version",
                "alerts",
            )
        },
        status=status,
        person=_person(row),
        needs=_needs(row),
        allowed_transitions=sorted(TRANSITIONS[status]),
        referrals=await referrals_of(conn, placement_id),
        links=[Link(**dict(r)) for r in links],
        notes=[Note(**dict(r)) for r in notes],
    )


async def facility_view(
    conn: Connection, placement_id: int, facility_ids: frozenset[int]
) -> FacilityPlacement:
    row = await _row(conn, placement_id)
    referrals = [r for r in await referrals_of(conn, placement_id) if r.facility_id in facility_ids]
    return FacilityPlacement(
        id=row["id"],
        reference=row["reference"],
        order_label=row["order_label"],
        statute=row["statute"],
        court_ordered=row["court_ordered"],
        detention_start=row["detention_start"],
        deadline_at=row["deadline_at"],
        overdue=row["overdue"],
        county_name=row["county_name"],
        person=_person(row),
        needs=_needs(row),
        clinical_notes=row["clinical_notes"],
        status=row["status"],
        referrals=referrals,
        liaison_name=row["liaison_name"],
        liaison_phone=row["liaison_phone"],
    )


async def list_placements(
    conn: Connection,
    *,
    status: Status | None = None,
    court_id: int | None = None,
    liaison_id: int | None = None,
    overdue: bool | None = None,
    active_only: bool = False,
    limit: int = 200,
    county_fips: str | None = None,
    created_from: datetime | None = None,
    created_before: datetime | None = None,
    text: str | None = None,
    statuses: Sequence[str] | None = None,
) -> list[PlacementSummary]:
    """Placements, nearest deadline first (for open ones; most recent first otherwise).
    ``text`` finds a reference, the initials or a case number (case-insensitive)."""
    rows = await conn.fetch(
        """
        SELECT p.id, p.reference, ot.label AS order_label, ct.name AS court_name, p.case_number,
               co.name AS county_name, p.person_initials, p.population, p.status,
               p.detention_start, p.deadline_at, p.liaison_id, af.name AS accepted_facility_name,
               (p.deadline_at IS NOT NULL AND p.deadline_at < now()
                  AND p.status NOT IN ('admitted', 'closed')) AS overdue,
               (SELECT count(*) FROM referrals r WHERE r.placement_id = p.id AND r.status = 'pending')
                 AS pending_referrals,
               (SELECT count(*) FROM referrals r WHERE r.placement_id = p.id AND r.status = 'declined')
                 AS declined_referrals
          FROM placements p
          JOIN order_types ot ON ot.code = p.order_type
          JOIN counties co ON co.fips = p.county_fips
          LEFT JOIN courts ct ON ct.id = p.court_id
          LEFT JOIN referrals ar ON ar.id = p.accepted_referral_id
          LEFT JOIN units au ON au.id = ar.unit_id
          LEFT JOIN facilities af ON af.id = au.facility_id
         WHERE ($1::text IS NULL OR p.status = $1)
           AND ($2::bigint IS NULL OR p.court_id = $2)
           AND ($3::bigint IS NULL OR p.liaison_id = $3)
           AND ($4::bool IS NULL OR (p.deadline_at IS NOT NULL AND p.deadline_at < now()
                                     AND p.status NOT IN ('admitted', 'closed')) = $4)
           AND (NOT $5::bool OR p.status NOT IN ('admitted', 'closed'))
           AND ($7::text IS NULL OR p.county_fips = $7)
           AND ($8::timestamptz IS NULL OR p.created_at >= $8)
           AND ($9::timestamptz IS NULL OR p.created_at < $9)
           AND ($10::text IS NULL OR lower(p.reference) = lower($10)
                OR p.person_initials = upper($10) OR lower(p.case_number) = lower($10))
           AND ($11::text[] IS NULL OR p.status = ANY ($11::text[]))
         ORDER BY (p.status IN ('admitted', 'closed')),
                  CASE WHEN p.status IN ('admitted', 'closed') THEN NULL ELSE p.deadline_at END
                    NULLS LAST,
                  p.created_at DESC, p.id
         LIMIT $6
        """,
        status.value if status else None,
        court_id,
        liaison_id,
        overdue,
        active_only,
        limit,
        county_fips,
        created_from,
        created_before,
        text.strip() if text and text.strip() else None,
        list(statuses) if statuses else None,
    )
    return [PlacementSummary(**dict(r)) for r in rows]


async def referrals_for_facilities(
    conn: Connection,
    facility_ids: frozenset[int],
    *,
    statuses: Sequence[str] = ("pending", "accepted"),
) -> list[FacilityPlacement]:
    """Placements with referrals to these facilities (pending or accepted by default)."""
    ids = await conn.fetch(
        """
        SELECT DISTINCT r.placement_id, min(r.created_at) AS first
          FROM referrals r JOIN units un ON un.id = r.unit_id
         WHERE un.facility_id = ANY($1::bigint[]) AND r.status = ANY($2::text[])
         GROUP BY r.placement_id ORDER BY first
        """,
        sorted(facility_ids),
        list(statuses),
    )
    return [await facility_view(conn, r["placement_id"], facility_ids) for r in ids]


async def all_facility_ids(conn: Connection) -> frozenset[int]:
    return frozenset(r["id"] for r in await conn.fetch("SELECT id FROM facilities"))


async def court_lookup(
    conn: Connection, court_id: int | None, case_number: str
) -> list[CourtPlacement]:
    rows = await conn.fetch(
        _PLACEMENT_SQL + " WHERE ($1::bigint IS NULL OR p.court_id = $1) AND p.court_id IS NOT NULL"
        " AND lower(p.case_number) = lower($2) ORDER BY p.id",
        court_id,
        case_number.strip(),
    )
    out = []
    for row in rows:
        events = await conn.fetch(
            "SELECT at, to_state FROM placement_events WHERE placement_id = $1 AND to_state IS NOT NULL"
            " AND kind IN ('created', 'transition', 'referral_accepted', 'reopened') ORDER BY id",
            row["id"],
        )
        shows_facility = row["status"] in (Status.ACCEPTED, Status.IN_TRANSIT, Status.ADMITTED)
        out.append(
            CourtPlacement(
                reference=row["reference"],
                case_number=row["case_number"],
                court_name=row["court_name"] or "",
                order_label=row["order_label"],
                status=row["status"],
                detention_start=row["detention_start"],
                deadline_at=row["deadline_at"],
                overdue=row["overdue"],
                facility_name=row["accepted_facility_name"] if shows_facility else None,
                timeline=[TimelineEntry(at=e["at"], status=e["to_state"]) for e in events],
            )
        )
    return out


async def timeline(conn: Connection, placement_id: int) -> list[Event]:
    rows = await conn.fetch(
        "SELECT id, at, actor, kind, from_state, to_state, data FROM placement_events"
        " WHERE placement_id = $1 ORDER BY id",
        placement_id,
    )
    return [Event(**dict(r)) for r in rows]


async def order_types(conn: Connection) -> list[OrderType]:
    rows = await conn.fetch(
        "SELECT code, label, statute, deadline_hours, court_ordered, court_required"
        " FROM order_types ORDER BY position"
    )
    return [OrderType(**dict(r)) for r in rows]


async def set_order_deadline(conn: Connection, code: str, hours: int | None) -> OrderType:
    row = await conn.fetchrow(
        "UPDATE order_types SET deadline_hours = $2, updated_at = now() WHERE code = $1"
        " RETURNING code, label, statute, deadline_hours, court_ordered, court_required",
        code,
        hours,
    )
    if row is None:
        raise not_found("order type")
    return OrderType(**dict(row))


# --------------------------------------------------------------------------- writes


def _actor(principal: Principal | None) -> tuple[int | None, str]:
    if principal is None:
        return None, "system"
    return principal.user_id, principal.label


async def _event(
    conn: Connection,
    placement_id: int,
    actor: Principal | None,
    kind: str,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    actor_id, label = _actor(actor)
    await conn.execute(
        "INSERT INTO placement_events (placement_id, actor_id, actor, kind, from_state, to_state, data)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        placement_id,
        actor_id,
        label,
        kind,
        from_state,
        to_state,
        data or {},
    )


async def _placement_event(
    conn: Connection, placement_id: int, event: str
) -> tuple[str, dict[str, Any]]:
    """The ``placements`` topic payload: ids and state only, never health information."""
    row = await conn.fetchrow(
        """
        SELECT p.id, p.reference, p.status, p.court_id, p.liaison_id, p.deadline_at,
               au.facility_id AS accepted_facility_id,
               COALESCE((SELECT array_agg(DISTINCT un.facility_id) FROM referrals r
                           JOIN units un ON un.id = r.unit_id WHERE r.placement_id = p.id), '{}')
                 AS facility_ids
          FROM placements p
          LEFT JOIN referrals ar ON ar.id = p.accepted_referral_id
          LEFT JOIN units au ON au.id = ar.unit_id
         WHERE p.id = $1
        """,
        placement_id,
    )
    assert row is not None
    return PLACEMENTS, {
        "kind": "placement",
        "event": event,
        "placement_id": row["id"],
        "reference": row["reference"],
        "status": row["status"],
        "court_id": row["court_id"],
        "liaison_id": row["liaison_id"],
        "accepted_facility_id": row["accepted_facility_id"],
        "facility_ids": sorted(row["facility_ids"]),
        "deadline_at": row["deadline_at"].isoformat() if row["deadline_at"] else None,
    }


async def _referral_event(conn: Connection, referral_id: int) -> tuple[str, dict[str, Any]]:
    row = await conn.fetchrow(
        "SELECT r.id, r.placement_id, r.unit_id, un.facility_id, r.status FROM referrals r"
        " JOIN units un ON un.id = r.unit_id WHERE r.id = $1",
        referral_id,
    )
    assert row is not None
    return REFERRALS, {
        "kind": "referral",
        "referral_id": row["id"],
        "placement_id": row["placement_id"],
        "unit_id": row["unit_id"],
        "facility_id": row["facility_id"],
        "status": row["status"],
    }


# Changes a court does not see at all (its lookup shows status, not the search for a bed).
_NOT_FOR_COURTS = frozenset({"referred", "edited", "link_added", "note_added"})


async def _court_event(
    conn: Connection, placement_id: int, event: str
) -> tuple[str, dict[str, Any]] | None:
    """The ``court`` topic payload: the status the court's lookup shows, nothing more (no
    facility before acceptance, no referral or decline events)."""
    if event in _NOT_FOR_COURTS:
        return None
    row = await conn.fetchrow(
        "SELECT id, reference, status, court_id FROM placements WHERE id = $1", placement_id
    )
    if row is None or row["court_id"] is None:
        return None
    payload = {
        "kind": "placement",
        "placement_id": row["id"],
        "reference": row["reference"],
        "status": row["status"],
        "court_id": row["court_id"],
    }
    if event.startswith("deadline_"):
        payload["alert"] = event.removeprefix("deadline_")
    return COURT, payload


async def _events(
    conn: Connection,
    placement_id: int,
    event: str,
    *,
    referral_ids: Sequence[int] = (),
    unit_ids: Sequence[int] = (),
) -> list[tuple[str, dict[str, Any]]]:
    """Outbox events for a change: the placement (and its court's view), its touched
    referrals, and the units whose beds changed."""
    events = [await _placement_event(conn, placement_id, event)]
    court = await _court_event(conn, placement_id, event)
    if court is not None:
        events.append(court)
    events += [await _referral_event(conn, rid) for rid in referral_ids]
    if unit_ids:
        now = await board.db_now(conn)
        events += [board.unit_event(u) for u in await board.unit_states(conn, unit_ids, now=now)]
    return events


async def _publish(
    conn: Connection,
    placement_id: int,
    event: str,
    *,
    referral_ids: Sequence[int] = (),
    unit_ids: Sequence[int] = (),
) -> None:
    await outbox.append(
        conn, await _events(conn, placement_id, event, referral_ids=referral_ids, unit_ids=unit_ids)
    )


async def _lock(conn: Connection, placement_id: int) -> Any:
    row = await conn.fetchrow(
        "SELECT id, status, version, order_type, accepted_referral_id FROM placements"
        " WHERE id = $1 FOR UPDATE",
        placement_id,
    )
    if row is None:
        raise not_found("placement")
    return row


def _illegal(current: str, wanted: str, allowed: Sequence[str]) -> Problem:
    names = ", ".join(allowed) if allowed else "none (it is final)"
    return Problem(
        409,
        f"A placement that is {current} cannot become {wanted}. Allowed from {current}: {names}.",
        code="illegal-transition",
        extra={"current": current, "allowed": list(allowed)},
    )


def _stale(what: str = "placement") -> Problem:
    return Problem(
        412,
        f"The {what} was changed by someone else; reload and retry.",
        code="precondition-failed",
    )


def _invalid(field: str, message: str, kind: str = "value") -> Problem:
    """A 422 naming one field of the request body (dotted path)."""
    return Problem(
        422,
        message,
        code="validation-error",
        errors=[{"field": field, "in": "body", "message": message, "type": kind}],
    )


async def _order_type(conn: Connection, code: str) -> Any:
    row = await conn.fetchrow(
        "SELECT code, deadline_hours, court_ordered, court_required FROM order_types"
        " WHERE code = $1",
        code,
    )
    if row is None:
        raise _invalid("order_type", "No such order type.", "reference")
    return row


def _deadline_for(order: Any, detention_start: datetime) -> datetime | None:
    hours = order["deadline_hours"]
    return detention_start + timedelta(hours=hours) if hours is not None else None


def _require_court(order: Any, court_id: int | None) -> None:
    if order["court_required"] and court_id is None:
        raise _invalid(
            "court_id",
            "This order type needs the court that ordered it. If no court is involved yet, "
            "choose “96-hour detention, on application (no court yet)”; the "
            "court can be added later.",
            "missing",
        )


def match_person(
    age: int | None, birth_year: int | None, sex: Any, needs: NeedsIn, detention_start: datetime
) -> matching.Match:
    """The age group and unit genders from the person, or the liaison's deliberate choice."""
    try:
        return matching.resolve(
            age=age,
            birth_year=birth_year,
            sex=sex,
            year=detention_start.year,
            population=needs.population,
            gender=needs.gender,
            override=needs.override,
        )
    except MatchingError as exc:
        prefix = "person." if exc.field == "age" else "needs."
        raise _invalid(prefix + exc.field, exc.message, "matching") from None


def _reference_problem(exc: asyncpg.ForeignKeyViolationError) -> Problem:
    detail = str(exc.detail or "")
    field = next(
        (f for f in ("court_id", "county_fips", "liaison_id", "unit_id") if f in detail),
        "reference",
    )
    return Problem(
        422,
        "The request refers to something that does not exist.",
        code="validation-error",
        errors=[{"field": field, "in": "body", "message": "does not exist", "type": "reference"}],
    )


async def create(conn: Connection, data: PlacementIn, actor: Principal) -> int:
    """Create a placement (with its links); returns its id. Runs in one transaction."""
    liaison_id = data.liaison_id or (actor.user_id if actor.role is Role.LIAISON else None)
    person = data.person
    match = match_person(
        person.age, person.birth_year, person.sex, data.needs, data.detention_start
    )
    async with conn.transaction():
        order = await _order_type(conn, data.order_type)
        _require_court(order, data.court_id)
        deadline = _deadline_for(order, data.detention_start)
        if liaison_id is not None:
            role = await conn.fetchval(
                "SELECT role FROM users WHERE id = $1 AND NOT disabled", liaison_id
            )
            if role not in (Role.LIAISON.value, Role.ADMIN.value):
                raise Problem(
                    422,
                    "The assigned liaison must be an active liaison.",
                    code="validation-error",
                    errors=[
                        {
                            "field": "liaison_id",
                            "in": "body",
                            "message": "not a liaison",
                            "type": "reference",
                        }
                    ],
                )
        try:
            placement_id = await conn.fetchval(
                """
                INSERT INTO placements (
                    reference, order_type, court_id, case_number, detention_start, deadline_at,
                    county_fips, person_initials, person_birth_year, person_age, person_sex,
                    population, gender, specialties, security_level, involuntary, payer,
                    clinical_notes, liaison_id, requesting_agency, requesting_officer, created_by,
                    population_override, gender_override)
                VALUES ('PL-' || to_char(now() AT TIME ZONE 'UTC', 'YYYY') || '-'
                          || lpad(nextval('placement_reference_seq')::text, 6, '0'),
                        $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                        $17, $18, $19, $20, $21, $22, $23)
                RETURNING id
                """,
                data.order_type,
                data.court_id,
                data.case_number,
                data.detention_start,
                deadline,
                data.county_fips,
                data.person.initials,
                data.person.birth_year,
                data.person.age,
                data.person.sex,
                match.population.value,
                match.gender,
                sorted(set(data.needs.specialties)),
                data.needs.security_level.value if data.needs.security_level else None,
                data.needs.involuntary,
                data.needs.payer,
                data.clinical_notes,
                liaison_id,
                data.requesting_agency,
                data.requesting_officer,
                actor.user_id,
                match.population_override,
                match.gender_override,
            )
        except asyncpg.ForeignKeyViolationError as exc:
            raise _reference_problem(exc) from None
        await _event(
            conn,
            placement_id,
            actor,
            "created",
            to_state=Status.OPEN.value,
            data={"order_type": data.order_type, "override": match.overrides},
        )
        for link in data.links:
            await _insert_link(conn, placement_id, link, actor)
        await _publish(conn, placement_id, "created")
    return int(placement_id)


async def update(
    conn: Connection,
    placement_id: int,
    patch: PlacementPatch,
    actor: Principal,
    expected_version: int | None,
) -> None:
    """Edit the record (not its state). Needs and identity changes are on the timeline."""
    fields = patch.model_fields_set
    async with conn.transaction():
        row = await _lock(conn, placement_id)
        if expected_version is not None and row["version"] != expected_version:
            raise _stale()
        if Status(row["status"]) in TERMINAL:
            raise Problem(
                409,
                f"A placement that is {row['status']} is final and cannot be edited.",
                code="illegal-transition",
                extra={"current": row["status"], "allowed": []},
            )
        current = await conn.fetchrow("SELECT * FROM placements WHERE id = $1", placement_id)
        assert current is not None
        values: dict[str, Any] = {
            k: current[k]
            for k in (
                "order_type",
                "court_id",
                "case_number",
                "detention_start",
                "county_fips",
                "clinical_notes",
                "liaison_id",
                "requesting_agency",
                "requesting_officer",
                "person_initials",
                "person_birth_year",
                "person_age",
                "person_sex",
                "population",
                "gender",
                "specialties",
                "security_level",
                "involuntary",
                "payer",
                "population_override",
                "gender_override",
            )
        }
        for name in (
            "order_type",
            "court_id",
            "case_number",
            "detention_start",
            "county_fips",
            "clinical_notes",
            "liaison_id",
            "requesting_agency",
            "requesting_officer",
        ):
            if name in fields:
                values[name] = getattr(patch, name)
        if patch.person is not None:
            values.update(
                person_initials=patch.person.initials,
                person_birth_year=patch.person.birth_year,
                person_age=patch.person.age,
                person_sex=patch.person.sex,
            )
        overrides: list[str] = []
        if patch.person is not None or patch.needs is not None:
            needs = patch.needs or NeedsIn(
                # Kept choices stay deliberate; derived ones follow the new person.
                population=current["population"] if current["population_override"] else None,
                gender=current["gender"] if current["gender_override"] else None,
                override=current["population_override"] or current["gender_override"],
                specialties=current["specialties"],
                security_level=current["security_level"],
                involuntary=current["involuntary"],
                payer=current["payer"],
            )
            match = match_person(
                values["person_age"],
                values["person_birth_year"],
                values["person_sex"],
                needs,
                values["detention_start"],
            )
            overrides = match.overrides
            values.update(
                population=match.population.value,
                gender=match.gender,
                population_override=match.population_override,
                gender_override=match.gender_override,
                specialties=sorted(set(needs.specialties)),
                security_level=needs.security_level.value if needs.security_level else None,
                involuntary=needs.involuntary,
                payer=needs.payer,
            )
        values["order_type"] = values["order_type"] or current["order_type"]
        order = await _order_type(conn, values["order_type"])
        _require_court(order, values["court_id"])
        deadline = (
            _deadline_for(order, values["detention_start"])
            if values["detention_start"] != current["detention_start"]
            or values["order_type"] != current["order_type"]
            else current["deadline_at"]
        )
        try:
            await conn.execute(
                """
                UPDATE placements SET court_id = $2, case_number = $3, detention_start = $4,
                       deadline_at = $5, county_fips = $6, clinical_notes = $7, liaison_id = $8,
                       requesting_agency = $9, requesting_officer = $10, person_initials = $11,
                       person_birth_year = $12, person_age = $13, person_sex = $14, population = $15,
                       gender = $16, specialties = $17, security_level = $18, involuntary = $19,
                       payer = $20, population_override = $21, gender_override = $22,
                       order_type = $23,
                       updated_at = now(), version = version + 1
                 WHERE id = $1
                """,
                placement_id,
                values["court_id"],
                values["case_number"],
                values["detention_start"],
                deadline,
                values["county_fips"],
                values["clinical_notes"] or "",
                values["liaison_id"],
                values["requesting_agency"] or "",
                values["requesting_officer"] or "",
                values["person_initials"],
                values["person_birth_year"],
                values["person_age"],
                values["person_sex"],
                values["population"],
                values["gender"],
                values["specialties"],
                values["security_level"],
                values["involuntary"],
                values["payer"],
                values["population_override"],
                values["gender_override"],
                values["order_type"],
            )
        except asyncpg.ForeignKeyViolationError as exc:
            raise _reference_problem(exc) from None
        # The timeline records which fields changed, never their (possibly clinical) values.
        changed = sorted(k for k, v in values.items() if v != current[k])
        if deadline != current["deadline_at"]:
            changed.append("deadline_at")
        await _event(
            conn,
            placement_id,
            actor,
            "edited",
            data={"fields": changed, "override": overrides},
        )
        await _publish(conn, placement_id, "edited")


async def refer(
    conn: Connection, placement_id: int, unit_ids: Sequence[int], actor: Principal
) -> list[int]:
    """Send referrals to units; the placement must be open. Returns the new referral ids."""
    async with conn.transaction():
        row = await _lock(conn, placement_id)
        if row["status"] != Status.OPEN:
            raise Problem(
                409,
                f"Referrals are sent while a placement is open; this one is {row['status']}.",
                code="illegal-transition",
                extra={"current": row["status"], "allowed": []},
            )
        units = await conn.fetch(
            "SELECT u.id FROM units u JOIN facilities f ON f.id = u.facility_id"
            " WHERE u.id = ANY($1::bigint[]) AND u.active AND f.active",
            list(unit_ids),
        )
        missing = sorted(set(unit_ids) - {r["id"] for r in units})
        if missing:
            raise Problem(
                422,
                "Some units do not exist or are not active.",
                code="validation-error",
                errors=[
                    {
                        "field": "unit_ids",
                        "in": "body",
                        "message": f"unit {u} is not available",
                        "type": "reference",
                    }
                    for u in missing
                ],
            )
        ids = []
        for unit_id in sorted(set(unit_ids)):
            try:
                async with conn.transaction():
                    referral_id = await conn.fetchval(
                        "INSERT INTO referrals (placement_id, unit_id, created_by)"
                        " VALUES ($1, $2, $3) RETURNING id",
                        placement_id,
                        unit_id,
                        actor.user_id,
                    )
            except asyncpg.UniqueViolationError:
                raise conflict(
                    f"Unit {unit_id} already has an open referral for this placement."
                ) from None
            ids.append(int(referral_id))
            await _event(
                conn,
                placement_id,
                actor,
                "referral_sent",
                data={"referral_id": referral_id, "unit_id": unit_id},
            )
        await _publish(conn, placement_id, "referred", referral_ids=ids)
        return ids


async def _lock_referral(conn: Connection, referral_id: int) -> tuple[Any, Any]:
    """Lock the placement, then the referral (always in that order)."""
    placement_id = await conn.fetchval(
        "SELECT placement_id FROM referrals WHERE id = $1", referral_id
    )
    if placement_id is None:
        raise not_found("referral")
    placement = await _lock(conn, placement_id)
    referral = await conn.fetchrow(
        "SELECT r.*, un.facility_id FROM referrals r JOIN units un ON un.id = r.unit_id"
        " WHERE r.id = $1 FOR UPDATE OF r",
        referral_id,
    )
    assert referral is not None
    return placement, referral


async def referral_scope(conn: Connection, referral_id: int) -> tuple[int, int]:
    """(placement id, facility id) of a referral, for access decisions."""
    row = await conn.fetchrow(
        "SELECT r.placement_id, un.facility_id FROM referrals r JOIN units un ON un.id = r.unit_id"
        " WHERE r.id = $1",
        referral_id,
    )
    if row is None:
        raise not_found("referral")
    return row["placement_id"], row["facility_id"]


async def _release_hold(conn: Connection, referral: Any) -> None:
    if referral["hold_active"]:
        await conn.execute(
            "UPDATE unit_census SET held = held - 1 WHERE unit_id = $1 AND held > 0",
            referral["unit_id"],
        )
        await conn.execute(
            "UPDATE referrals SET hold_active = false, hold_expires_at = NULL WHERE id = $1",
            referral["id"],
        )


async def accept(conn: Connection, referral_id: int, actor: Principal, hold: timedelta) -> None:
    """Accept a pending referral: hold one bed, move the placement to ``accepted``, and
    withdraw the placement's other pending referrals. 409 when the bed was just taken."""
    async with conn.transaction():
        placement, referral = await _lock_referral(conn, referral_id)
        if referral["status"] != ReferralStatus.PENDING:
            raise _referral_illegal(referral["status"], "accepted")
        if placement["status"] != Status.OPEN:
            raise Problem(
                409,
                f"The placement is already {placement['status']}; it no longer needs a bed.",
                code="placement-not-open",
                extra={"current": placement["status"], "allowed": []},
            )
        held = await conn.fetchval(
            "UPDATE unit_census SET held = held + 1"
            " WHERE unit_id = $1 AND available - held > 0 RETURNING held",
            referral["unit_id"],
        )
        if held is None:
            raise Problem(
                409,
                "The bed was just taken: this unit has no free bed left. Update the census "
                "if a bed is free, or decline.",
                code="bed-taken",
            )
        await conn.execute(
            "UPDATE referrals SET status = 'accepted', hold_active = true, hold_expires_at = now() + $2,"
            " responded_by = $3, responded_at = now() WHERE id = $1",
            referral_id,
            hold,
            actor.user_id,
        )
        withdrawn = await conn.fetch(
            "UPDATE referrals SET status = 'withdrawn', responded_at = now()"
            " WHERE placement_id = $1 AND status = 'pending' AND id <> $2 RETURNING id",
            placement["id"],
            referral_id,
        )
        await conn.execute(
            "UPDATE placements SET status = 'accepted', accepted_referral_id = $2, accepted_at = now(),"
            " updated_at = now(), version = version + 1 WHERE id = $1",
            placement["id"],
            referral_id,
        )
        await _event(
            conn,
            placement["id"],
            actor,
            "referral_accepted",
            from_state=placement["status"],
            to_state=Status.ACCEPTED.value,
            data={"referral_id": referral_id, "unit_id": referral["unit_id"]},
        )
        for row in withdrawn:
            await _event(
                conn,
                placement["id"],
                None,
                "referral_withdrawn",
                data={"referral_id": row["id"], "reason": "another unit accepted"},
            )
        await _publish(
            conn,
            placement["id"],
            "accepted",
            referral_ids=[referral_id, *[r["id"] for r in withdrawn]],
            unit_ids=[referral["unit_id"]],
        )


def _referral_illegal(current: str, wanted: str) -> Problem:
    allowed = {
        "pending": ["accepted", "declined", "withdrawn"],
        "accepted": ["declined", "withdrawn"],
    }
    return Problem(
        409,
        f"A referral that is {current} cannot become {wanted}."
        + (f" Allowed: {', '.join(allowed[current])}." if current in allowed else " It is final."),
        code="illegal-transition",
        extra={"current": current, "allowed": allowed.get(current, [])},
    )


async def _reopen_after_release(conn: Connection, placement: Any, referral: Any, kind: str) -> bool:
    """An accepted referral ended (its bed already released): the placement is open again."""
    if (
        placement["status"] == Status.ACCEPTED
        and placement["accepted_referral_id"] == referral["id"]
    ):
        await conn.execute(
            "UPDATE placements SET status = 'open', accepted_referral_id = NULL, accepted_at = NULL,"
            " updated_at = now(), version = version + 1 WHERE id = $1",
            placement["id"],
        )
        await _event(
            conn,
            placement["id"],
            None,
            "reopened",
            from_state=Status.ACCEPTED.value,
            to_state=Status.OPEN.value,
            data={"referral_id": referral["id"], "because": kind},
        )
        return True
    return False


async def _end_referral(
    conn: Connection,
    referral_id: int,
    actor: Principal,
    to: ReferralStatus,
    data: dict[str, Any],
    sql: str,
    *args: Any,
) -> None:
    """Decline or withdraw a pending or accepted referral: release its bed if held (the
    placement is then open again), record the event, publish. ``sql`` sets the status."""
    async with conn.transaction():
        placement, referral = await _lock_referral(conn, referral_id)
        status = referral["status"]
        if status not in (ReferralStatus.PENDING, ReferralStatus.ACCEPTED) or (
            status == ReferralStatus.ACCEPTED and placement["status"] != Status.ACCEPTED
        ):
            raise _referral_illegal(status, to.value)
        await _release_hold(conn, referral)
        await conn.execute(sql, referral_id, *args)
        await _event(
            conn,
            placement["id"],
            actor,
            f"referral_{to.value}",
            data={"referral_id": referral_id, "unit_id": referral["unit_id"], **data},
        )
        was_accepted = status == ReferralStatus.ACCEPTED
        if was_accepted:
            await _reopen_after_release(conn, placement, referral, to.value)
        await _publish(
            conn,
            placement["id"],
            to.value,
            referral_ids=[referral_id],
            unit_ids=[referral["unit_id"]] if was_accepted else [],
        )


async def decline(
    conn: Connection, referral_id: int, reason: DeclineReason, note: str, actor: Principal
) -> None:
    await _end_referral(
        conn,
        referral_id,
        actor,
        ReferralStatus.DECLINED,
        {"reason": reason.value},
        "UPDATE referrals SET status = 'declined', decline_reason = $2, decline_note = $3,"
        " responded_by = $4, responded_at = now() WHERE id = $1",
        reason.value,
        note,
        actor.user_id,
    )


async def withdraw(conn: Connection, referral_id: int, actor: Principal) -> None:
    await _end_referral(
        conn,
        referral_id,
        actor,
        ReferralStatus.WITHDRAWN,
        {},
        "UPDATE referrals SET status = 'withdrawn', responded_at = now() WHERE id = $1",
    )


async def transition(
    conn: Connection,
    placement_id: int,
    change: TransitionIn,
    actor: Principal,
    expected_version: int | None,
) -> None:
    """in_transit (from accepted; the hold no longer expires), admitted (from in_transit; the
    held bed becomes occupied), or closed with an outcome (releases any hold)."""
    wanted = Status(change.to)
    async with conn.transaction():
        row = await _lock(conn, placement_id)
        current = Status(row["status"])
        if expected_version is not None and row["version"] != expected_version:
            raise _stale()
        if wanted not in TRANSITIONS[current]:
            raise _illegal(current.value, wanted.value, sorted(TRANSITIONS[current]))
        referral = None
        if row["accepted_referral_id"] is not None:
            referral = await conn.fetchrow(
                "SELECT * FROM referrals WHERE id = $1 FOR UPDATE", row["accepted_referral_id"]
            )
        units: list[int] = []
        referral_ids: list[int] = []
        if wanted is Status.IN_TRANSIT:
            await conn.execute(
                "UPDATE referrals SET hold_expires_at = NULL WHERE id = $1",
                row["accepted_referral_id"],
            )
            await conn.execute(
                "UPDATE placements SET status = 'in_transit', updated_at = now(),"
                " version = version + 1 WHERE id = $1",
                placement_id,
            )
        elif wanted is Status.ADMITTED:
            assert referral is not None
            if referral["hold_active"]:
                # The held bed becomes an occupied one.
                await conn.execute(
                    """
                    UPDATE unit_census
                       SET held = held - 1, available = available - 1,
                           occupied = CASE WHEN occupied IS NULL THEN NULL ELSE occupied + 1 END
                     WHERE unit_id = $1 AND held > 0
                    """,
                    referral["unit_id"],
                )
                await conn.execute(
                    "UPDATE referrals SET hold_active = false, hold_expires_at = NULL"
                    " WHERE id = $1",
                    referral["id"],
                )
                units.append(referral["unit_id"])
            await conn.execute(
                "UPDATE placements SET status = 'admitted', admitted_at = now(), updated_at = now(),"
                " version = version + 1 WHERE id = $1",
                placement_id,
            )
        else:
            if referral is not None and referral["hold_active"]:
                await _release_hold(conn, referral)
                units.append(referral["unit_id"])
            pending = await conn.fetch(
                "UPDATE referrals SET status = 'withdrawn', responded_at = now()"
                " WHERE placement_id = $1 AND status = 'pending' RETURNING id",
                placement_id,
            )
            referral_ids = [r["id"] for r in pending]
            assert change.outcome is not None
            await conn.execute(
                "UPDATE placements SET status = 'closed', outcome = $2, outcome_note = $3, closed_at = now(),"
                " updated_at = now(), version = version + 1 WHERE id = $1",
                placement_id,
                change.outcome.value,
                change.note,
            )
        data: dict[str, Any] = {"outcome": change.outcome.value if change.outcome else None}
        if change.note:
            # The text stays in rows that access rules cover and that can be corrected
            # (the outcome note, or a follow-up note); the append-only timeline only says
            # that there is one.
            if wanted is not Status.CLOSED:
                data["note_id"] = await conn.fetchval(
                    "INSERT INTO placement_notes (placement_id, body, author_id)"
                    " VALUES ($1, $2, $3) RETURNING id",
                    placement_id,
                    change.note,
                    actor.user_id,
                )
            data["has_note"] = True
        await _event(
            conn,
            placement_id,
            actor,
            "transition",
            from_state=current.value,
            to_state=wanted.value,
            data=data,
        )
        await _publish(conn, placement_id, wanted.value, referral_ids=referral_ids, unit_ids=units)


async def _insert_link(conn: Connection, placement_id: int, link: LinkIn, actor: Principal) -> int:
    link_id = await conn.fetchval(
        "INSERT INTO placement_links (placement_id, system, external_id, url, created_by)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING id",
        placement_id,
        link.system,
        link.external_id,
        link.url,
        actor.user_id,
    )
    await _event(
        conn, placement_id, actor, "link_added", data={"link_id": link_id, "system": link.system}
    )
    return int(link_id)


async def add_link(conn: Connection, placement_id: int, link: LinkIn, actor: Principal) -> int:
    async with conn.transaction():
        await _lock(conn, placement_id)
        link_id = await _insert_link(conn, placement_id, link, actor)
        await _publish(conn, placement_id, "link_added")
        return link_id


async def add_note(conn: Connection, placement_id: int, note: NoteIn, actor: Principal) -> int:
    async with conn.transaction():
        await _lock(conn, placement_id)
        note_id = await conn.fetchval(
            "INSERT INTO placement_notes (placement_id, body, author_id) VALUES ($1, $2, $3) RETURNING id",
            placement_id,
            note.body,
            actor.user_id,
        )
        # The note's text stays in placement_notes; the timeline only says a note was added.
        await _event(conn, placement_id, actor, "note_added", data={"note_id": note_id})
        await _publish(conn, placement_id, "note_added")
        return int(note_id)


# --------------------------------------------------------------------------- scheduled


async def expire_holds(conn: Connection, now: datetime) -> int:
    """Expire accepted referrals whose hold ran out: the bed returns to the board and the
    placement is open again. Returns how many expired."""
    due = await conn.fetch(
        "SELECT id FROM referrals WHERE hold_active AND hold_expires_at <= $1 ORDER BY id", now
    )
    count = 0
    for row in due:
        async with conn.transaction():
            placement, referral = await _lock_referral(conn, row["id"])
            if not (
                referral["hold_active"]
                and referral["hold_expires_at"]
                and referral["hold_expires_at"] <= now
            ):
                continue  # changed meanwhile
            await _release_hold(conn, referral)
            await conn.execute(
                "UPDATE referrals SET status = 'expired' WHERE id = $1", referral["id"]
            )
            await _event(
                conn,
                placement["id"],
                None,
                "hold_expired",
                data={"referral_id": referral["id"], "unit_id": referral["unit_id"]},
            )
            await _reopen_after_release(conn, placement, referral, "hold expired")
            await _publish(
                conn,
                placement["id"],
                "hold_expired",
                referral_ids=[referral["id"]],
                unit_ids=[referral["unit_id"]],
            )
            count += 1
    return count


def alert_points(hours: Sequence[int]) -> list[tuple[str, timedelta]]:
    """Named points before a deadline, plus the deadline itself ("passed")."""
    return [(f"{h}h", timedelta(hours=h)) for h in sorted(set(hours), reverse=True)] + [
        ("passed", timedelta(0))
    ]


async def raise_deadline_alerts(conn: Connection, now: datetime, hours: Sequence[int]) -> int:
    """Raise each due alert once per placement that is not admitted or closed; return how
    many were announced. A point that had already passed when the placement was created
    is recorded without an announcement (its countdown already shows it)."""
    announced = 0
    pending: list[tuple[str, dict[str, Any]]] = []
    async with conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", ALERTS_LOCK_KEY):
            return 0
        for point, before in alert_points(hours):
            rows = await conn.fetch(
                """
                INSERT INTO placement_alerts (placement_id, point, raised_at)
                SELECT p.id, $2, $3 FROM placements p
                 WHERE p.deadline_at IS NOT NULL AND p.status NOT IN ('admitted', 'closed')
                   AND p.deadline_at - $1::interval <= $3
                ON CONFLICT DO NOTHING
                RETURNING placement_id,
                          (SELECT deadline_at - $1::interval >= created_at FROM placements
                            WHERE id = placement_id) AS announce
                """,
                before,
                point,
                now,
            )
            for row in rows:
                if not row["announce"] and point != "passed":
                    continue
                await _event(
                    conn,
                    row["placement_id"],
                    None,
                    "deadline_alert",
                    data={"point": point, "at": now.isoformat()},
                )
                pending += await _events(conn, row["placement_id"], f"deadline_{point}")
                announced += 1
        await outbox.append(conn, pending)  # one NOTIFY for the whole run
    return announced
