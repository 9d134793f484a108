"""Read projections: the whole record, a facility's view, a court's, the lists. They join
anything and write nothing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from bedboard.access import Resource
from bedboard.database import Connection
from bedboard.errors import NotFound
from bedboard.placements.models import (
    AWAITING_SQL,
    OPEN_REFERRAL,
    OVERDUE_SQL,
    TRANSITIONS,
    UNDER_WAY_SQL,
    CourtPlacement,
    Event,
    FacilityPlacement,
    Link,
    Needs,
    Note,
    Person,
    Placement,
    PlacementSummary,
    Referral,
    ReferralQuestion,
    Status,
    TimelineEntry,
)

_PLACEMENT_SQL = f"""
    SELECT p.*, ot.label AS order_label, ot.statute, ot.court_ordered, ot.court_required,
           ct.name AS court_name, co.name AS county_name,
           u.email AS liaison_email, COALESCE(NULLIF(u.display_name, ''), u.email, '') AS liaison_name,
           COALESCE(u.phone, '') AS liaison_phone,
           af.name AS accepted_facility_name, au.name AS accepted_unit_name,
           af.id AS accepted_facility_id,
           {OVERDUE_SQL} AS overdue,
           COALESCE((SELECT array_agg(point ORDER BY raised_at) FROM placement_alerts a
                      WHERE a.placement_id = p.id), '{{}}') AS alerts
      FROM placements p
      JOIN order_types ot ON ot.code = p.order_type
      JOIN counties co ON co.fips = p.county_fips
      LEFT JOIN courts ct ON ct.id = p.court_id
      LEFT JOIN users u ON u.id = p.liaison_id
      LEFT JOIN referrals ar ON ar.id = p.accepted_referral_id
      LEFT JOIN units au ON au.id = ar.unit_id
      LEFT JOIN facilities af ON af.id = au.facility_id
"""  # noqa: S608 -- constant fragments


_REFERRAL_SQL = """
    SELECT r.id, r.placement_id, r.unit_id, un.name AS unit_name, f.id AS facility_id,
           f.name AS facility_name, r.status, r.decline_reason, r.decline_note, r.hold_active,
           r.hold_expires_at, r.created_at, r.responded_at, r.acknowledged_at,
           r.info_requested_at, r.info_answered_at, r.first_response_at,
           r.unanswered_expired_at, f.response_target_minutes
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
        raise NotFound("placement")
    return row


async def _with_questions(conn: Connection, rows: Sequence[Any]) -> list[Referral]:
    """Referrals with their questions and answers (one more statement for all of them).
    Callers show a referral only to those who may see it: its questions go with it."""
    questions = await conn.fetch(
        "SELECT id, referral_id, question, asked_at, answer, answered_at FROM referral_questions"
        " WHERE referral_id = ANY($1::bigint[]) ORDER BY id",
        [r["id"] for r in rows],
    )
    by_referral: dict[int, list[ReferralQuestion]] = {}
    for q in questions:
        by_referral.setdefault(q["referral_id"], []).append(
            ReferralQuestion(
                id=q["id"],
                question=q["question"],
                asked_at=q["asked_at"],
                answer=q["answer"],
                answered_at=q["answered_at"],
            )
        )
    return [Referral(**dict(r), questions=by_referral.get(r["id"], [])) for r in rows]


async def referrals_of(conn: Connection, placement_id: int) -> list[Referral]:
    rows = await conn.fetch(
        _REFERRAL_SQL + " WHERE r.placement_id = $1 ORDER BY r.id", placement_id
    )
    return await _with_questions(conn, rows)


class Scope(NamedTuple):
    """What access decisions need of a placement."""

    court_id: int | None
    # Facilities that received a referral for it.
    facility_ids: frozenset[int]
    county_fips: str


async def scope(conn: Connection, placement_id: int) -> Scope:
    """The placement's court, the facilities referred and its county."""
    row = await conn.fetchrow(
        """
        SELECT p.court_id, p.county_fips,
               COALESCE((SELECT array_agg(DISTINCT un.facility_id) FROM referrals r
                           JOIN units un ON un.id = r.unit_id WHERE r.placement_id = p.id), '{}')
                 AS facility_ids
          FROM placements p WHERE p.id = $1
        """,
        placement_id,
    )
    if row is None:
        raise NotFound("placement")
    return Scope(row["court_id"], frozenset(row["facility_ids"]), row["county_fips"])


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
                "discharged_at",
                "discharge_disposition",
                "discharge_note",
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


def _facility_placement(row: Any, referrals: list[Referral]) -> FacilityPlacement:
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


async def facility_view(
    conn: Connection, placement_id: int, facility_ids: frozenset[int]
) -> FacilityPlacement:
    row = await _row(conn, placement_id)
    referrals = [r for r in await referrals_of(conn, placement_id) if r.facility_id in facility_ids]
    return _facility_placement(row, referrals)


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
    by_custody: bool = False,
    counties: Iterable[str] | None = None,
) -> list[PlacementSummary]:
    """Placements, nearest deadline first (for open ones; most recent first otherwise);
    ``by_custody``: those with an officer still on scene first, the longest in custody
    first. ``text`` finds a reference, the initials or a case number (case-insensitive);
    ``counties`` keeps those in these counties (a supervisor's region: none when empty)."""
    rows = await conn.fetch(
        f"""
        SELECT p.id, p.reference, ot.label AS order_label, ct.name AS court_name, p.case_number,
               co.name AS county_name, p.person_initials, p.population, p.status,
               p.detention_start, p.deadline_at, p.liaison_id, af.name AS accepted_facility_name,
               p.custody_started_at, p.custody_ended_at,
               {OVERDUE_SQL} AS overdue,
               (SELECT count(*) FROM referrals r
                 WHERE r.placement_id = p.id AND r.status IN {AWAITING_SQL}) AS pending_referrals,
               (SELECT min(r.created_at) FROM referrals r
                  JOIN units un ON un.id = r.unit_id JOIN facilities f ON f.id = un.facility_id
                 WHERE r.placement_id = p.id AND r.status = 'pending'
                   AND r.created_at + make_interval(mins => f.response_target_minutes) <= now())
                 AS unanswered_since,
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
           AND ($4::bool IS NULL OR {OVERDUE_SQL} = $4)
           AND (NOT $5::bool OR {UNDER_WAY_SQL})
           AND ($7::text IS NULL OR p.county_fips = $7)
           AND ($8::timestamptz IS NULL OR p.created_at >= $8)
           AND ($9::timestamptz IS NULL OR p.created_at < $9)
           AND ($10::text IS NULL OR lower(p.reference) = lower($10)
                OR p.person_initials = upper($10) OR lower(p.case_number) = lower($10))
           AND ($11::text[] IS NULL OR p.status = ANY ($11::text[]))
           AND ($13::text[] IS NULL OR p.county_fips = ANY ($13::text[]))
         ORDER BY CASE WHEN $12::bool AND p.custody_ended_at IS NULL
                       THEN p.custody_started_at END NULLS LAST,
                  (NOT {UNDER_WAY_SQL}),
                  CASE WHEN {UNDER_WAY_SQL} THEN p.deadline_at END NULLS LAST,
                  p.created_at DESC, p.id
         LIMIT $6
        """,  # noqa: S608 -- constant fragments
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
        by_custody,
        None if counties is None else sorted(counties),
    )
    return [PlacementSummary(**dict(r)) for r in rows]


async def referrals_for_facilities(
    conn: Connection,
    facility_ids: frozenset[int],
    *,
    statuses: Sequence[str] = tuple(sorted(OPEN_REFERRAL)),
    under_way_only: bool = True,
) -> list[FacilityPlacement]:
    """Placements with referrals to these facilities in ``statuses`` (open: awaiting an
    answer or accepted, by default), each showing only those referrals. ``under_way_only``: leave out
    admitted and closed placements (what a facility still has to act on)."""
    # Two statements whatever the number of placements: their referrals here, then the
    # placements those referrals belong to.
    referrals = await conn.fetch(
        _REFERRAL_SQL
        + " WHERE f.id = ANY($1::bigint[]) AND r.status = ANY($2::text[]) ORDER BY r.id",
        sorted(facility_ids),
        list(statuses),
    )
    by_placement: dict[int, list[Referral]] = {}
    for r in await _with_questions(conn, referrals):
        by_placement.setdefault(r.placement_id, []).append(r)
    rows = await conn.fetch(
        _PLACEMENT_SQL + f" WHERE p.id = ANY($1::bigint[]) AND (NOT $2::bool OR {UNDER_WAY_SQL})",
        list(by_placement),
        under_way_only,
    )
    # Oldest first referral first: what has waited longest is at the top.
    rows = sorted(
        rows, key=lambda row: (min(r.created_at for r in by_placement[row["id"]]), row["id"])
    )
    return [_facility_placement(row, by_placement[row["id"]]) for row in rows]


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
    return await _court_placements(conn, rows)


async def court_view(conn: Connection, placement_id: int) -> CourtPlacement:
    """One placement as the court sees it (a court status link opens this)."""
    rows = await conn.fetch(
        _PLACEMENT_SQL + " WHERE p.id = $1 AND p.court_id IS NOT NULL", placement_id
    )
    if not rows:
        raise NotFound("placement")
    (item,) = await _court_placements(conn, rows)
    return item


async def _court_placements(conn: Connection, rows: list[Any]) -> list[CourtPlacement]:
    """The court's projection: status, order, deadline, the facility once accepted, and
    the status timeline; never needs, notes or the person."""
    events = await conn.fetch(
        "SELECT placement_id, at, to_state FROM placement_events"
        " WHERE placement_id = ANY($1::bigint[]) AND to_state IS NOT NULL"
        " AND kind IN ('created', 'transition', 'referral_accepted', 'reopened') ORDER BY id",
        [row["id"] for row in rows],
    )
    steps: dict[int, list[TimelineEntry]] = {}
    for e in events:
        steps.setdefault(e["placement_id"], []).append(
            TimelineEntry(at=e["at"], status=e["to_state"])
        )
    out = []
    for row in rows:
        shows_facility = row["status"] in (
            Status.ACCEPTED,
            Status.IN_TRANSIT,
            Status.ADMITTED,
            Status.DISCHARGED,
        )
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
                timeline=steps.get(row["id"], []),
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


async def referral_scope(conn: Connection, referral_id: int) -> tuple[int, int]:
    """(placement id, facility id) of a referral, for access decisions."""
    row = await conn.fetchrow(
        "SELECT r.placement_id, un.facility_id FROM referrals r JOIN units un ON un.id = r.unit_id"
        " WHERE r.id = $1",
        referral_id,
    )
    if row is None:
        raise NotFound("referral")
    return row["placement_id"], row["facility_id"]


async def referral_resource(conn: Connection, referral_id: int) -> tuple[int, Resource]:
    """A referral as access sees it (its facility, the placement's county: a supervisor's
    region), with its placement's id."""
    placement_id, facility_id = await referral_scope(conn, referral_id)
    county = (await scope(conn, placement_id)).county_fips
    return placement_id, Resource(
        "referral", referral_id, facility_id=facility_id, county_fips=county
    )
