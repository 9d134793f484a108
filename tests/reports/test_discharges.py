"""Discharges by disposition against hand-worked numbers: the requests of the period that
were discharged, per disposition, with the median stay from admission to discharge."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bedboard import reports
from bedboard.auth import Principal, Role
from bedboard.reports import Filters
from tests.reports.conftest import T0, D, H, World

ZONE = "America/Chicago"
AUTUMN = {"from": "2026-10-01", "to": "2026-11-30"}


async def _discharged(
    conn: Any,
    ref: str,
    created: datetime,
    stay_h: float | None,
    disposition: str | None,
    court_id: int,
) -> None:
    """A request admitted 10 h after it was made; discharged ``stay_h`` later (None: not)."""
    admitted = created + 10 * H
    discharged = admitted + stay_h * H if stay_h is not None else None
    await conn.execute(
        """
        INSERT INTO placements (reference, order_type, court_id, detention_start, deadline_at,
                                county_fips, person_initials, person_sex, population, gender,
                                status, created_at, admitted_at, discharged_at,
                                discharge_disposition)
        VALUES ($1, 'emergency_96h', $2, $3::timestamptz, $3::timestamptz + interval '96 hours',
                '29019', 'AB', 'male', 'adult', 'any', $4, $3, $5, $6, $7)
        """,
        ref, court_id, created, "discharged" if stay_h is not None else "admitted", admitted,
        discharged, disposition,
    )  # fmt: skip


async def test_discharges_per_disposition_with_the_median_stay(conn: Any, world: World) -> None:
    court = world.court.id
    # Two home (48 h and 72 h: median 60), one outpatient commitment (24 h); one request
    # admitted and still in hospital; one discharged but requested in December (outside).
    await _discharged(conn, "PL-2026-900001", T0, 48, "home_outpatient", court)
    await _discharged(conn, "PL-2026-900002", T0 + D, 72, "home_outpatient", court)
    await _discharged(conn, "PL-2026-900003", T0 + 2 * D, 24, "outpatient_commitment", court)
    await _discharged(conn, "PL-2026-900004", T0 + 3 * D, None, None, court)
    december = datetime(2026, 12, 10, 12, tzinfo=UTC)
    await _discharged(conn, "PL-2026-900005", december, 5, "transfer", court)
    liaison = Principal(user_id=1, role=Role.LIAISON, email="l@example.org", display_name="")
    report = await reports.run(
        conn, "discharges", Filters.model_validate(AUTUMN), liaison, zone_name=ZONE
    )
    assert report.rows == [
        {
            "disposition": "Home with outpatient follow-up",
            "discharges": 2,
            "share_of_discharges": 0.6667,
            "stay_median_h": 60.0,
        },
        {
            "disposition": "Outpatient commitment",
            "discharges": 1,
            "share_of_discharges": 0.3333,
            "stay_median_h": 24.0,
        },
    ]
    # They stay admitted in the outcomes (the world's own October requests: 2 admitted).
    outcomes = await reports.run(
        conn, "outcomes", Filters.model_validate(AUTUMN), liaison, zone_name=ZONE
    )
    october = outcomes.rows[0]
    assert (october["requests"], october["admitted"]) == (3 + 4, 2 + 4)
    figure = reports.FIGURES["discharges"]
    for role in (Role.COURT, Role.FACILITY, Role.VIEWER):
        who = Principal(user_id=2, role=role, email="x@example.org", display_name="")
        assert not reports.may_read(who, figure)
