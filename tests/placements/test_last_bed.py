"""The last bed: many simultaneous acceptances over two app instances, exactly one wins."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from bedboard import census
from bedboard.app import create_app
from bedboard.auth import Role
from bedboard.settings import Settings

CONTENDERS = 50
ROUNDS = 100


async def _contenders(conn: Any, unit_id: int, county: str, court_id: int, count: int) -> list[int]:
    """Open placements, each with a pending referral to the unit; returns referral ids."""
    placement_ids = await conn.fetch(
        """
        INSERT INTO placements (reference, order_type, court_id, detention_start, county_fips,
                                person_initials, person_age, person_sex, population, gender)
        SELECT 'RACE-' || gen_random_uuid(), 'emergency_96h', $3, now(), $2,
               'AB', 30, 'female', 'adult', 'female'
          FROM generate_series(1, $1)
        RETURNING id
        """,
        count,
        county,
        court_id,
    )
    rows = await conn.fetch(
        "INSERT INTO referrals (placement_id, unit_id) SELECT unnest($1::bigint[]), $2 RETURNING id",
        [r["id"] for r in placement_ids],
        unit_id,
    )
    return [r["id"] for r in rows]


async def test_exactly_one_of_fifty_simultaneous_acceptances_gets_the_last_bed(
    aiohttp_client: Any,
    settings: Settings,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_court: Any,
    make_user: Any,
    make_token: Any,
) -> None:
    facility = await make_facility()
    unit = await make_unit(facility.id, licensed_beds=30)
    court = await make_court()
    staff = await make_user(Role.FACILITY, facility_ids=[facility.id])
    liaison = await make_user(Role.LIAISON)
    tokens = [await make_token(staff.id), await make_token(liaison.id)]
    instances = [await aiohttp_client(create_app(settings)) for _ in range(2)]

    as_of = await conn.fetchval("SELECT now() - interval '1 hour'")
    for round_no in range(ROUNDS):
        # One bed free: a fresh census each round, newer than the last.
        await census.apply(
            conn,
            [
                (
                    unit.id,
                    census.CensusReport(
                        as_of=as_of
                        + round_no * (await conn.fetchval("SELECT interval '1 second'")),
                        available=1,
                    ),
                )
            ],
            census.Source("test"),
        )
        assert (
            await conn.fetchval(
                "SELECT available - held FROM unit_census WHERE unit_id = $1", unit.id
            )
            == 1
        )
        referrals = await _contenders(conn, unit.id, facility.county_fips, court.id, CONTENDERS)
        answers = await asyncio.gather(
            *(
                instances[i % 2].post(
                    f"/api/v1/referrals/{rid}/accept",
                    headers={"Authorization": f"Bearer {tokens[i % 2]}"},
                )
                for i, rid in enumerate(referrals)
            )
        )
        statuses = Counter(a.status for a in answers)
        assert statuses == {200: 1, 409: CONTENDERS - 1}, (round_no, statuses)
        losers = [await a.json() for a in answers if a.status == 409]
        assert all(body["type"].endswith("/bed-taken") for body in losers)
        row = await conn.fetchrow(
            "SELECT available, held FROM unit_census WHERE unit_id = $1", unit.id
        )
        assert (row["available"], row["held"]) == (1, 1)
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM referrals WHERE unit_id = $1 AND hold_active", unit.id
            )
            == 1
        )
        # Free the bed for the next round: the winner's placement is closed.
        winner = await conn.fetchval(
            "SELECT placement_id FROM referrals WHERE unit_id = $1 AND hold_active", unit.id
        )
        resp = await instances[0].post(
            f"/api/v1/placements/{winner}/transition",
            json={"to": "closed", "outcome": "withdrawn"},
            headers={"Authorization": f"Bearer {tokens[1]}"},
        )
        assert resp.status == 200
        assert await conn.fetchval("SELECT held FROM unit_census WHERE unit_id = $1", unit.id) == 0


async def test_the_database_refuses_a_hold_beyond_the_beds_available(
    conn: Any, make_facility: Any, make_unit: Any
) -> None:
    import asyncpg
    import pytest

    facility = await make_facility()
    unit = await make_unit(facility.id)
    now = await conn.fetchval("SELECT now()")
    await census.apply(
        conn, [(unit.id, census.CensusReport(as_of=now, available=1))], census.Source("test")
    )
    await conn.execute("UPDATE unit_census SET held = 1 WHERE unit_id = $1", unit.id)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE unit_census SET held = 2 WHERE unit_id = $1", unit.id)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE unit_census SET held = -1 WHERE unit_id = $1", unit.id)
