"""Placements that happened in the past, written in bulk: the rows the use cases would
have left (placement, referrals, timeline, deadline alerts), with no outbox event and no
audit row. ``synthetic.py`` builds them; nothing here decides what happened."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bedboard.database import Connection


@dataclass(frozen=True)
class PastReferral:
    unit_id: int
    status: str
    created_at: datetime
    created_by: int | None
    decline_reason: str | None = None
    responded_by: int | None = None
    responded_at: datetime | None = None


@dataclass(frozen=True)
class PastEvent:
    """A timeline row. ``referral`` is the index of the placement's referral the event is
    about: its id is put in ``data["referral_id"]`` once ids are known."""

    at: datetime
    kind: str
    actor_id: int | None
    actor: str
    from_state: str | None = None
    to_state: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    referral: int | None = None


@dataclass(frozen=True)
class PastPlacement:
    order_type: str
    court_id: int | None
    case_number: str
    detention_start: datetime
    deadline_at: datetime | None
    county_fips: str
    person_initials: str
    person_birth_year: int | None
    person_age: int | None
    person_sex: str
    population: str
    gender: str
    specialties: list[str]
    security_level: str | None
    involuntary: bool
    payer: str | None
    liaison_id: int | None
    requesting_agency: str
    status: str
    outcome: str | None
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None
    admitted_at: datetime | None
    closed_at: datetime | None
    version: int
    accepted_referral: int | None  # index into ``referrals``
    referrals: Sequence[PastReferral]
    events: Sequence[PastEvent]
    alerts: Sequence[tuple[str, datetime]]  # (point, raised_at)


@dataclass(frozen=True)
class LoadedHistory:
    placements: int
    referrals: int
    events: int
    alerts: int


_PLACEMENT_COLUMNS = [
    "id", "reference", "order_type", "court_id", "case_number", "detention_start",
    "deadline_at", "county_fips", "person_initials", "person_birth_year", "person_age",
    "person_sex", "population", "gender", "specialties", "security_level", "involuntary",
    "payer", "liaison_id", "requesting_agency", "status", "outcome", "created_by",
    "created_at", "updated_at", "accepted_at", "admitted_at", "closed_at", "version",
]  # fmt: skip
_REFERRAL_COLUMNS = [
    "id", "placement_id", "unit_id", "status", "decline_reason", "created_by", "created_at",
    "responded_by", "responded_at", "first_response_at",
]  # fmt: skip
_EVENT_COLUMNS = [
    "id", "placement_id", "at", "actor_id", "actor", "kind", "from_state", "to_state", "data",
]  # fmt: skip
_INSERT_EVENTS_SQL = """
    INSERT INTO placement_events
           (id, placement_id, at, actor_id, actor, kind, from_state, to_state, data)
    OVERRIDING SYSTEM VALUE
    SELECT id, placement_id, at, actor_id, actor, kind, from_state, to_state, data::jsonb
      FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::bigint[], $5::text[],
                  $6::text[], $7::text[], $8::text[], $9::text[])
        AS e(id, placement_id, at, actor_id, actor, kind, from_state, to_state, data)
     ORDER BY id
"""


async def _reserve(conn: Connection, sequence: str, count: int) -> list[int]:
    """``count`` values of a sequence, ascending (others may take values in between)."""
    rows = await conn.fetch(
        "SELECT nextval($1::regclass) AS v FROM generate_series(1, $2) ORDER BY 1",
        sequence,
        count,
    )
    return [int(r["v"]) for r in rows]


async def _identity(conn: Connection, table: str, count: int) -> list[int]:
    sequence = await conn.fetchval("SELECT pg_get_serial_sequence($1, 'id')", table)
    return await _reserve(conn, str(sequence), count)


async def load_history(conn: Connection, items: Sequence[PastPlacement]) -> LoadedHistory:
    """Write past placements in one transaction, oldest first:

    1. reserve ids (and reference numbers) from the tables' own sequences, so the rows
       sit among the live ones as if created then (``PL-<year created>-<number>``);
    2. COPY the placements without ``accepted_referral_id`` (the referral is not there
       yet), then their referrals, then set ``accepted_referral_id``;
    3. COPY the timeline and the deadline alerts.

    The timeline's append-only triggers stay on: this only inserts.
    """
    ordered = sorted(items, key=lambda p: p.created_at)
    n_referrals = sum(len(p.referrals) for p in ordered)
    n_events = sum(len(p.events) for p in ordered)
    async with conn.transaction():
        placement_ids = await _identity(conn, "placements", len(ordered))
        numbers = await _reserve(conn, "placement_reference_seq", len(ordered))
        referral_ids = iter(await _identity(conn, "referrals", n_referrals))
        event_ids = iter(await _identity(conn, "placement_events", n_events))
        placements: list[tuple[Any, ...]] = []
        referrals: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        alerts: list[tuple[Any, ...]] = []
        accepted: list[tuple[int, int]] = []
        for p, pid, number in zip(ordered, placement_ids, numbers, strict=True):
            placements.append(
                (
                    pid, f"PL-{p.created_at.astimezone(UTC).year}-{number:06d}", p.order_type,
                    p.court_id, p.case_number, p.detention_start, p.deadline_at, p.county_fips,
                    p.person_initials, p.person_birth_year, p.person_age, p.person_sex,
                    p.population, p.gender, p.specialties, p.security_level, p.involuntary,
                    p.payer, p.liaison_id, p.requesting_agency, p.status, p.outcome,
                    p.liaison_id, p.created_at, p.updated_at, p.accepted_at, p.admitted_at,
                    p.closed_at, p.version,
                )
            )  # fmt: skip
            rids: list[int] = []
            for r in p.referrals:
                rid = next(referral_ids)
                rids.append(rid)
                referrals.append(
                    (
                        rid, pid, r.unit_id, r.status, r.decline_reason, r.created_by,
                        r.created_at, r.responded_by, r.responded_at,
                        # A facility's answer (accepted or declined) is its first response;
                        # a withdrawal (no responder) is not one.
                        r.responded_at if r.responded_by is not None else None,
                    )
                )  # fmt: skip
            if p.accepted_referral is not None:
                accepted.append((pid, rids[p.accepted_referral]))
            for e in p.events:
                data = dict(e.data)
                if e.referral is not None:
                    data = {"referral_id": rids[e.referral], **data}
                events.append(
                    (
                        next(event_ids), pid, e.at, e.actor_id, e.actor, e.kind, e.from_state,
                        e.to_state, data,
                    )
                )  # fmt: skip
            alerts += [(pid, point, at) for point, at in p.alerts]
        await conn.copy_records_to_table(
            "placements", records=placements, columns=_PLACEMENT_COLUMNS
        )
        await conn.copy_records_to_table("referrals", records=referrals, columns=_REFERRAL_COLUMNS)
        await conn.execute(
            "UPDATE placements p SET accepted_referral_id = a.referral_id"
            " FROM unnest($1::bigint[], $2::bigint[]) AS a(placement_id, referral_id)"
            " WHERE p.id = a.placement_id",
            [pid for pid, _ in accepted],
            [rid for _, rid in accepted],
        )
        # Not COPY: asyncpg has no binary jsonb encoder, so ``data`` goes as text.
        columns = list(zip(*events, strict=True)) if events else [() for _ in _EVENT_COLUMNS]
        await conn.execute(
            _INSERT_EVENTS_SQL,
            *[list(c) for c in columns[:-1]],
            [json.dumps(d) for d in columns[-1]],
        )
        await conn.copy_records_to_table(
            "placement_alerts", records=alerts, columns=["placement_id", "point", "raised_at"]
        )
    return LoadedHistory(len(placements), len(referrals), len(events), len(alerts))


# Where the history's people waited (``placement_waits``, a share each) and, for some, an
# officer beside them: drawn per placement from a hash of its id, so the same for the same
# rows. One stay from the detention to the admission or close (open while the request is),
# or, for a quarter of those held at a police station, a move to an emergency department
# after 1 to 4 hours.
_WAITS_SQL = """
    WITH drawn AS (
        SELECT p.id, p.detention_start AS began, COALESCE(p.admitted_at, p.closed_at) AS ended,
               p.requesting_agency,
               ('x' || substr(md5(p.id::text || '/place'), 1, 7))::bit(28)::int % 100 AS place_draw,
               ('x' || substr(md5(p.id::text || '/move'), 1, 7))::bit(28)::int % 100 AS move_draw,
               ('x' || substr(md5(p.id::text || '/custody'), 1, 7))::bit(28)::int % 100
                 AS custody_draw
          FROM placements p
         WHERE p.created_at >= $1
           AND NOT EXISTS (SELECT 1 FROM placement_waits w WHERE w.placement_id = p.id)
    ), placed AS (
        SELECT d.*,
               CASE WHEN place_draw < 55 THEN 'emergency_department'
                    WHEN place_draw < 70 THEN 'jail'
                    WHEN place_draw < 82 THEN 'police_station'
                    WHEN place_draw < 95 THEN 'crisis_center'
                    ELSE 'community' END AS place,
               d.began + make_interval(hours => 1 + d.move_draw % 4) AS moved_at
          FROM drawn d
    ), moves AS (
        SELECT p.*, p.place = 'police_station' AND p.move_draw < 25
                    AND p.moved_at < COALESCE(p.ended, $2) AS moves
          FROM placed p
    ), stays AS (
        SELECT id, place, began AS started_at, CASE WHEN moves THEN moved_at ELSE ended END
          FROM moves
        UNION ALL
        SELECT id, 'emergency_department', moved_at, ended FROM moves WHERE moves
    ), waits AS (
        INSERT INTO placement_waits (placement_id, place, started_at, ended_at, recorded_at)
        SELECT id, place, started_at, ended_at, started_at FROM stays AS s(id, place, started_at, ended_at)
    )
    -- an officer stays with six in ten, from the detention for 2 to 12 hours (or to the end)
    UPDATE placements p
       SET custody_agency = left(COALESCE(NULLIF(btrim(d.requesting_agency), ''), 'Police'), 200),
           custody_started_at = d.began,
           custody_ended_at = CASE WHEN d.ended IS NULL THEN NULL
                                   ELSE LEAST(d.ended,
                                              d.began + make_interval(hours => 2 + d.custody_draw % 11))
                              END
      FROM drawn d
     WHERE p.id = d.id AND d.custody_draw < 60
"""


async def draw_waits(conn: Connection, start: datetime, now: datetime) -> None:
    """Waiting places and officer custody for the placements created since ``start``
    that have none (the synthetic history's, loaded by ``load_history``)."""
    await conn.execute(_WAITS_SQL, start, now)
