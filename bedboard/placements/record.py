"""The placement record: create (matching the person), edit, move on, links and notes, and
declaring that no bed was found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from bedboard import audit, census, idempotency, matching, nobed
from bedboard.auth import Principal, Role
from bedboard.database import Connection
from bedboard.errors import BadReference, StaleVersion
from bedboard.matching import MatchingError
from bedboard.placements import waiting
from bedboard.placements.errors import NotOpen, bad_reference, final, illegal, invalid
from bedboard.placements.locks import _lock
from bedboard.placements.models import (
    AWAITING,
    DISCHARGE_SKEW,
    TERMINAL,
    TRANSITIONS,
    CourtPlacement,
    LinkIn,
    NeedsIn,
    NoteIn,
    PlacementIn,
    PlacementPatch,
    Status,
    TransitionIn,
)
from bedboard.placements.order_types import _deadline_for, _order_type, _require_court
from bedboard.placements.referrals import _release_hold
from bedboard.placements.timeline import _event, _publish
from bedboard.placements.views import court_lookup, get_placement


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
        raise invalid(prefix + exc.field, exc.message, "matching") from None


async def create(conn: Connection, data: PlacementIn, actor: Principal) -> int:
    """Create a placement (with its links); returns its id. Runs in one transaction."""
    coordinates = actor.role in (Role.LIAISON, Role.SUPERVISOR)
    liaison_id = data.liaison_id or (actor.user_id if coordinates else None)
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
            if role not in (Role.LIAISON.value, Role.SUPERVISOR.value, Role.ADMIN.value):
                raise BadReference(
                    "liaison_id", "not a liaison", "The assigned liaison must be an active liaison."
                )
        try:
            created = await conn.fetchrow(
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
                RETURNING id, reference
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
            raise bad_reference(exc) from None
        assert created is not None
        placement_id = int(created["id"])
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
        await audit.changed(
            conn,
            actor,
            "placement.create",
            "placement",
            placement_id,
            {"reference": created["reference"]},
        )
    return placement_id


@dataclass(frozen=True)
class Recorded:
    """A placement just recorded, or the first answer to a request already made with the
    same Idempotency-Key. ``body`` is the placement as the API shows it."""

    placement_id: int
    body: dict[str, Any]
    replayed: bool = False


async def create_once(
    conn: Connection,
    data: PlacementIn,
    actor: Principal,
    *,
    key: str | None = None,
    digest: str = "",
) -> Recorded:
    """Record a placement once per ``key`` (the API's Idempotency-Key, the form's one-time
    key): a retry or a double submit with the same key and body gets the first answer; the
    same key with another body is ``KeyReused``. ``digest`` is ``idempotency.request_hash``
    of the request. One transaction."""
    async with conn.transaction():
        if key is not None:
            stored = await idempotency.lookup(conn, actor.user_id, key, digest)
            if stored is not None:
                placement_id = int(stored.body["id"])
                await audit.changed(
                    conn, actor, "placement.create.replay", "placement", placement_id
                )
                return Recorded(placement_id, stored.body, replayed=True)
        placement_id = await create(conn, data, actor)
        body = (await get_placement(conn, placement_id)).model_dump(mode="json")
        if key is not None:
            await idempotency.remember(conn, actor.user_id, key, digest, 201, body)
        return Recorded(placement_id, body)


async def look_up_case(
    conn: Connection, court_id: int | None, case_number: str, by: Principal
) -> list[CourtPlacement]:
    """A court's status lookup by case number (``court_id`` None: every court's), with
    the audit row a read of court records needs."""
    items = await court_lookup(conn, court_id, case_number)
    detail = {"case_number": case_number, "count": len(items)}
    await audit.changed(conn, by, "court.lookup", "court", court_id or "", detail)
    return items


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
            raise StaleVersion("placement")
        if Status(row["status"]) in TERMINAL:
            raise final(row["status"])
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
            raise bad_reference(exc) from None
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
        await audit.changed(
            conn, actor, "placement.update", "placement", placement_id, {"fields": sorted(fields)}
        )


async def transition(
    conn: Connection,
    placement_id: int,
    change: TransitionIn,
    actor: Principal,
    expected_version: int | None,
) -> None:
    """in_transit (from accepted; the hold no longer expires), admitted (from in_transit; the
    held bed becomes occupied), discharged (from admitted, with a disposition and a time
    not before the admission nor in the future), or closed with an outcome (releases any
    hold)."""
    wanted = Status(change.to)
    async with conn.transaction():
        row = await _lock(conn, placement_id)
        current = Status(row["status"])
        if expected_version is not None and row["version"] != expected_version:
            raise StaleVersion("placement")
        if wanted not in TRANSITIONS[current]:
            raise illegal(current.value, wanted.value, sorted(TRANSITIONS[current]))
        referral = None
        if row["accepted_referral_id"] is not None:
            referral = await conn.fetchrow(
                "SELECT * FROM referrals WHERE id = $1 FOR UPDATE", row["accepted_referral_id"]
            )
        units: list[int] = []
        referral_ids: list[int] = []
        if wanted in (Status.ADMITTED, Status.CLOSED):
            # Past its deadline and never admitted: the no-bed record, if the clock has not
            # made it yet (it runs every 30 s); nothing when the deadline has not passed.
            await nobed.record(conn, placement_id, nobed.Trigger.DEADLINE_PASSED)
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
                await census.occupy_held_bed(conn, referral["unit_id"])
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
        elif wanted is Status.DISCHARGED:
            assert change.disposition is not None
            await conn.execute(
                "UPDATE placements SET status = 'discharged', discharged_at = $2,"
                " discharge_disposition = $3, discharge_note = $4, updated_at = now(),"
                " version = version + 1 WHERE id = $1",
                placement_id,
                await _discharge_time(conn, placement_id, change.discharged_at),
                change.disposition.value,
                change.note,
            )
        else:
            if referral is not None and referral["hold_active"]:
                await _release_hold(conn, referral)
                units.append(referral["unit_id"])
            pending = await conn.fetch(
                "UPDATE referrals SET status = 'withdrawn', responded_at = now()"
                " WHERE placement_id = $1 AND status = ANY($2::text[]) RETURNING id",
                placement_id,
                sorted(AWAITING),
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
            # Closed as order_expired or released (court-ordered): the no-bed record.
            await nobed.record(conn, placement_id, nobed.Trigger.CLOSED)
        if wanted in (Status.ADMITTED, Status.CLOSED):
            await waiting.end_all(conn, placement_id)  # no longer waiting, nor held
        data: dict[str, Any] = {"outcome": change.outcome.value if change.outcome else None}
        if change.disposition is not None:
            data["disposition"] = change.disposition.value
        if change.note:
            # The text stays in rows that access rules cover and that can be corrected
            # (the outcome or discharge note, or a follow-up note); the append-only timeline
            # only says that there is one.
            if wanted not in (Status.CLOSED, Status.DISCHARGED):
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
        outcome = change.outcome.value if change.outcome else None
        detail: dict[str, Any] = {"to": change.to, "outcome": outcome}
        if change.disposition is not None:
            detail["disposition"] = change.disposition.value
        await audit.changed(conn, actor, "placement.transition", "placement", placement_id, detail)


async def _discharge_time(conn: Connection, placement_id: int, wanted: datetime | None) -> datetime:
    """When the person was discharged: ``wanted`` (default now), refused (422, naming
    ``discharged_at``) before the admission or ahead of the database clock by more than
    ``DISCHARGE_SKEW``."""
    row = await conn.fetchrow(
        "SELECT now() AS now, admitted_at FROM placements WHERE id = $1", placement_id
    )
    assert row is not None and row["admitted_at"] is not None
    when: datetime = wanted or row["now"]
    if when > row["now"] + DISCHARGE_SKEW:
        raise invalid("discharged_at", "The discharge time is in the future.")
    if when < row["admitted_at"]:
        raise invalid("discharged_at", "The discharge time is before the admission.")
    return when


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
        detail = {"link_id": link_id}
        await audit.changed(conn, actor, "placement.link", "placement", placement_id, detail)
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
        detail = {"note_id": note_id}
        await audit.changed(conn, actor, "placement.note", "placement", placement_id, detail)
        return int(note_id)


@dataclass(frozen=True)
class NoBedDeclared:
    """The placement's ``declared`` no-bed record; ``created`` is False when it had been
    declared before (the first record is returned, nothing new is written)."""

    report: nobed.NoBedReport
    created: bool


async def declare_no_bed(conn: Connection, placement_id: int, actor: Principal) -> NoBedDeclared:
    """A liaison declares "no bed found" for an open placement: the no-bed record (once per
    placement), a ``no_bed_declared`` timeline event, an outbox event and an audit row, in
    one transaction. The placement stays open. Not open (a bed accepted, in transit,
    admitted, closed): ``NotOpen`` (409)."""
    async with conn.transaction():
        row = await _lock(conn, placement_id)
        if row["status"] != Status.OPEN.value:
            raise NotOpen(
                f"Only an open placement can be declared “no bed found”; this one is"
                f" {row['status'].replace('_', ' ')}.",
                row["status"],
            )
        report = await nobed.record(conn, placement_id, nobed.Trigger.DECLARED)
        created = report is not None
        if report is None:
            report = await nobed.report_of(conn, placement_id, nobed.Trigger.DECLARED)
            assert report is not None  # open, under the lock: only an earlier one stops it
        else:
            await _event(
                conn, placement_id, actor, "no_bed_declared", data={"report_id": report.id}
            )
            await _publish(conn, placement_id, "no_bed_declared")
        detail = {"report_id": report.id, "created": created}
        await audit.changed(conn, actor, "placement.no_bed", "placement", placement_id, detail)
        return NoBedDeclared(report, created)
