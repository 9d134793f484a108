"""A small world with known timestamps for the report figures: every expected number in
the tests is worked out by hand from what is written here, not by the code under test.

Times are UTC; October 2026 is CDT (UTC-5), so T0 = 2026-10-05 12:00Z is 07:00 local.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bedboard import database

T0 = datetime(2026, 10, 5, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)


@dataclass
class World:
    a: Any  # facility A (cadence 60 minutes), unit a1
    b: Any  # facility B, unit b1
    a1: Any
    b1: Any
    court: Any
    other_court: Any
    placements: dict[str, int]


async def _placement(
    conn: database.Connection,
    ref: str,
    *,
    created: datetime,
    detention: datetime,
    court_id: int | None,
    status: str,
    outcome: str | None = None,
    admitted: datetime | None = None,
    closed: datetime | None = None,
    agency: str = "Boone County Sheriff",
    population: str = "adult",
) -> int:
    pid: int = await conn.fetchval(
        """
        INSERT INTO placements (reference, order_type, court_id, detention_start, deadline_at,
                                county_fips, person_initials, person_sex, population, gender,
                                status, outcome, requesting_agency, created_at, admitted_at,
                                closed_at)
        VALUES ($1, 'emergency_96h', $2, $3::timestamptz, $3::timestamptz + interval '96 hours',
                '29019', 'AB', 'male', $4, 'any', $5, $6, $7, $8, $9, $10)
        RETURNING id
        """,
        ref, court_id, detention, population, status, outcome, agency, created, admitted, closed,
    )  # fmt: skip
    return pid


async def referral(
    conn: database.Connection,
    placement_id: int,
    unit_id: int,
    *,
    sent: datetime,
    status: str,
    answered: datetime | None = None,
    reason: str | None = None,
    acknowledged: datetime | None = None,
) -> int:
    """A referral as its code path leaves it: ``first_response_at`` is the acknowledgement
    when there was one, else the answer (``answered``)."""
    first = acknowledged or (answered if status in ("accepted", "declined") else None)
    rid: int = await conn.fetchval(
        "INSERT INTO referrals (placement_id, unit_id, status, decline_reason, created_at,"
        " responded_at, acknowledged_at, first_response_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        placement_id, unit_id, status, reason, sent, answered, acknowledged, first,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO placement_events (placement_id, at, actor, kind, data)"
        " VALUES ($1, $2, 'test', 'referral_sent', jsonb_build_object('referral_id', $3::bigint))",
        placement_id, sent, rid,
    )  # fmt: skip
    if answered is not None and status in ("accepted", "declined"):
        await conn.execute(
            "INSERT INTO placement_events (placement_id, at, actor, kind, data)"
            " VALUES ($1, $2, 'test', $3, jsonb_build_object('referral_id', $4::bigint))",
            placement_id, answered, f"referral_{status}", rid,
        )  # fmt: skip
    return rid


async def _history(conn: database.Connection, unit_id: int, as_of: datetime, source: str) -> None:
    await conn.execute(
        "INSERT INTO census_history (unit_id, staffed, occupied, blocked, available, as_of,"
        " received_at, source) VALUES ($1, 10, 7, 1, 2, $2, $2, $3)",
        unit_id, as_of, source,
    )  # fmt: skip


@pytest.fixture
async def world(
    conn: database.Connection, make_facility: Any, make_unit: Any, make_court: Any
) -> World:
    a = await make_facility(name="Alpha Hospital", report_cadence_minutes=60)
    b = await make_facility(name="Beta Hospital")
    a1, b1 = await make_unit(a.id, name="A adult"), await make_unit(b.id, name="B adult")
    court, other = await make_court(name="Boone Probate"), await make_court(name="Cole Probate")
    p: dict[str, int] = {}
    # P1: referred to A (declined, no bed, after 1 h) and to B (sent at +1 h, "we are
    # reviewing" 15 min later, accepted 2 h after sending); admitted at +10 h; detained 2 h
    # before the request.
    p["P1"] = await _placement(
        conn, "P1", created=T0, detention=T0 - 2 * H, court_id=court.id, status="admitted",
        admitted=T0 + 10 * H,
    )  # fmt: skip
    await referral(conn, p["P1"], a1.id, sent=T0 + 0.5 * H, status="declined",
                    answered=T0 + 1.5 * H, reason="no_bed")  # fmt: skip
    await referral(conn, p["P1"], b1.id, sent=T0 + H, status="accepted", answered=T0 + 3 * H,
                    acknowledged=T0 + 1.25 * H)  # fmt: skip
    # P2: referred to A, accepted after 2 h, admitted at +6 h; detained at the request.
    t2 = T0 + D
    p["P2"] = await _placement(
        conn, "P2", created=t2, detention=t2, court_id=court.id, status="admitted",
        admitted=t2 + 6 * H,
    )  # fmt: skip
    await referral(conn, p["P2"], a1.id, sent=t2, status="accepted", answered=t2 + 2 * H)
    # P3: referred to B, never answered; the order expired 96 h after detention.
    t3 = T0 + 2 * D
    p["P3"] = await _placement(
        conn, "P3", created=t3, detention=t3, court_id=other.id, status="closed",
        outcome="order_expired", closed=t3 + 96 * H,
    )  # fmt: skip
    await referral(conn, p["P3"], b1.id, sent=t3, status="expired")
    # P4 (November): referred to A, declined for acuity after 4 h, released at +20 h.
    t4 = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
    p["P4"] = await _placement(
        conn, "P4", created=t4, detention=t4, court_id=court.id, status="closed",
        outcome="released", closed=t4 + 20 * H, agency="Columbia Police",
    )  # fmt: skip
    await referral(conn, p["P4"], a1.id, sent=t4, status="declined", answered=t4 + 4 * H,
                    reason="acuity")  # fmt: skip
    # Unit a1's reports around 2026-10-10 (local day = [10-10 05:00Z, 10-11 05:00Z)): one
    # at 03:00Z before the day, then 07:00Z (form) and 07:30Z (api), then none.
    day = datetime(2026, 10, 10, tzinfo=UTC)
    await _history(conn, a1.id, day + 3 * H, "form")
    await _history(conn, a1.id, day + 7 * H, "form")
    await _history(conn, a1.id, day + 7.5 * H, "api")
    # b1 was registered before the autumn and never reported.
    await conn.execute("UPDATE units SET created_at = $2 WHERE id = $1", b1.id, T0 - 30 * D)
    return World(a, b, a1, b1, court, other, p)
