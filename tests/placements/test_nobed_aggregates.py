"""The no-bed aggregates against numbers counted by hand from a small fixture with known
times: every record here is a ``deadline_passed`` one, so its ``occurred_at`` is the
deadline, 96 hours after a detention start the test chooses.

Central time is UTC-6 in winter (CST) and UTC-5 from March 9, 2025 (CDT).

======  ======  ===============  =====================  ==================================
name    county  deadline (UTC)   local (Chicago)        declines (facility: reason)
======  ======  ===============  =====================  ==================================
before  Boone   2024-12-31 00:00 Dec 30 18:00           —
p1      Boone   2025-01-09 12:00 Jan 9                  Hillcrest: no_bed, Lakeside: acuity
p2      Boone   2025-02-01 04:30 **Jan 31** 22:30       Hillcrest: no_bed
p3      Cole    2025-01-14 00:00 Jan 13 18:00           Lakeside: payer, Riverbend: payer
p4      Boone   2025-02-14 00:00 Feb 13 18:00           Hillcrest (2 units): staffing, no_bed
p5      Boone   2025-04-02 00:00 Apr 1 19:00 (Q2)       — (then closed, order expired: now)
p7      Boone   2025-01-01 06:00 Jan 1 00:00 (start)    —
p8      Boone   2025-07-01 05:00 Jul 1 00:00 (end)      —
======  ======  ===============  =====================  ==================================

The range is [2025-01-01, 2025-07-01) in Chicago: ``before`` and ``p8`` are outside.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bedboard import nobed, placements
from bedboard.errors import Invalid
from tests.placements.conftest import World

CHICAGO = ZoneInfo("America/Chicago")
START = datetime(2025, 1, 1, tzinfo=CHICAGO)
END = datetime(2025, 7, 1, tzinfo=CHICAGO)
A, B, C = "Hillcrest Behavioral", "Lakeside Psychiatric", "Riverbend Hospital"


def _started(deadline: str) -> str:
    return (datetime.fromisoformat(deadline) - timedelta(hours=96)).isoformat()


@pytest.fixture
async def fixture(world: World, make_facility: Any, make_unit: Any) -> dict[str, Any]:
    riverbend = await make_facility(name=C, county_fips="29051")
    c1 = await make_unit(riverbend.id, name="Adult", population="adult")
    a2 = await make_unit(world.ids["facility_a"], name="Adult Two", population="adult")
    world.ids.update(c1=c1.id, a2=a2.id, facility_c=riverbend.id)
    who = {"a1": "facility_a", "a2": "facility_a", "b1": "facility_b", "c1": "admin"}

    async def placement(deadline: str, county: str, *declines: tuple[str, str]) -> int:
        pid: int = (await world.create(detention_start=_started(deadline), county_fips=county))[
            "id"
        ]
        if declines:
            refs = await world.refer(pid, *(unit for unit, _ in declines))
            # refer() answers in unit-id order; a1 < b1 < c1 < a2 by creation.
            by_unit = dict(
                zip(sorted((u for u, _ in declines), key=world.ids.get), refs, strict=True)
            )
            for unit, reason in declines:
                resp = await world.call(
                    who[unit],
                    "POST",
                    f"/api/v1/referrals/{by_unit[unit]}/decline",
                    json={"reason": reason},
                )
                assert resp.status == 200, await resp.text()
        return pid

    ids = {
        "before": await placement("2024-12-31T00:00:00+00:00", "29019"),
        "p1": await placement(
            "2025-01-09T12:00:00+00:00", "29019", ("a1", "no_bed"), ("b1", "acuity")
        ),
        "p2": await placement("2025-02-01T04:30:00+00:00", "29019", ("a1", "no_bed")),
        "p3": await placement(
            "2025-01-14T00:00:00+00:00", "29051", ("b1", "payer"), ("c1", "payer")
        ),
        "p4": await placement(
            "2025-02-14T00:00:00+00:00", "29019", ("a1", "staffing"), ("a2", "no_bed")
        ),
        "p5": await placement("2025-04-02T00:00:00+00:00", "29019"),
        "p7": await placement("2025-01-01T06:00:00+00:00", "29019"),
        "p8": await placement("2025-07-01T05:00:00+00:00", "29019"),
    }
    now = await world.conn.fetchval("SELECT now()")
    assert await placements.record_passed_deadlines(world.conn, now) == len(ids)
    # p5's second record (closed, now) must not count it twice, nor count it now.
    resp = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{ids['p5']}/transition",
        json={"to": "closed", "outcome": "order_expired"},
    )
    assert resp.status == 200
    return {"ids": ids, "now": now, "world": world}


def _facilities(*pairs: tuple[str, int], world: World) -> list[dict[str, Any]]:
    key = {A: "facility_a", B: "facility_b", C: "facility_c"}
    return [{"facility_id": world.ids[key[n]], "name": n, "count": c} for n, c in pairs]


async def test_by_county_month_counts_each_placement_once_in_its_local_month(
    fixture: dict[str, Any],
) -> None:
    world: World = fixture["world"]
    rows = await nobed.by_county_month(world.conn, START, END, "America/Chicago")
    got = [r.model_dump(mode="json") for r in rows]
    assert got == [
        {
            "county_fips": "29019",
            "county_name": "Boone",
            "month": "2025-01-01",
            "count": 3,  # p1, p2 (Jan 31 in Chicago), p7 (at the start, included)
            "triggers": {"deadline_passed": 3},
            "refusing_facilities": _facilities((A, 2), (B, 1), world=world),
            "reasons": {"no_bed": 2, "acuity": 1},
        },
        {
            "county_fips": "29051",
            "county_name": "Cole",
            "month": "2025-01-01",
            "count": 1,
            "triggers": {"deadline_passed": 1},
            "refusing_facilities": _facilities((B, 1), (C, 1), world=world),
            "reasons": {"payer": 2},
        },
        {
            "county_fips": "29019",
            "county_name": "Boone",
            "month": "2025-02-01",
            "count": 1,  # p4: one facility, counted once, though it declined twice
            "triggers": {"deadline_passed": 1},
            "refusing_facilities": _facilities((A, 1), world=world),
            "reasons": {"no_bed": 1, "staffing": 1},
        },
        {
            "county_fips": "29019",
            "county_name": "Boone",
            "month": "2025-04-01",
            "count": 1,  # p5, by its first record; its closing later is not counted
            "triggers": {"deadline_passed": 1},
            "refusing_facilities": [],
            "reasons": {},
        },
    ]
    assert "placement_id" not in str(got)


async def test_months_follow_the_zone_asked_for(fixture: dict[str, Any]) -> None:
    world: World = fixture["world"]
    rows = await nobed.by_county_month(world.conn, START, END, "UTC")
    boone = {r.month.isoformat(): r.count for r in rows if r.county_fips == "29019"}
    # In UTC p2's deadline (2025-02-01 04:30) is in February.
    assert boone == {"2025-01-01": 2, "2025-02-01": 2, "2025-04-01": 1}


async def test_quarterly_totals_add_up_the_months(fixture: dict[str, Any]) -> None:
    world: World = fixture["world"]
    quarters = await nobed.quarterly_totals(world.conn, START, END, "America/Chicago")
    got = [q.model_dump(mode="json") for q in quarters]
    assert got == [
        {
            "year": 2025,
            "quarter": 1,
            "start": "2025-01-01",
            "count": 5,
            "counties": [
                {"county_fips": "29019", "county_name": "Boone", "count": 4},
                {"county_fips": "29051", "county_name": "Cole", "count": 1},
            ],
            "triggers": {"deadline_passed": 5},
            "refusing_facilities": _facilities((A, 3), (B, 2), (C, 1), world=world),
            "reasons": {"no_bed": 3, "payer": 2, "acuity": 1, "staffing": 1},
        },
        {
            "year": 2025,
            "quarter": 2,
            "start": "2025-04-01",
            "count": 1,
            "counties": [{"county_fips": "29019", "county_name": "Boone", "count": 1}],
            "triggers": {"deadline_passed": 1},
            "refusing_facilities": [],
            "reasons": {},
        },
    ]
    months = await nobed.by_county_month(world.conn, START, END, "America/Chicago")
    assert sum(q.count for q in quarters) == sum(m.count for m in months)


async def test_a_placement_counts_only_at_its_first_record(fixture: dict[str, Any]) -> None:
    world: World = fixture["world"]
    now: datetime = fixture["now"]
    assert len(await nobed.for_placement(world.conn, fixture["ids"]["p5"])) == 2
    around_now = await nobed.by_county_month(
        world.conn, now - timedelta(days=1), now + timedelta(days=1), "America/Chicago"
    )
    assert around_now == []


async def test_a_bad_range_or_zone_is_refused_in_words(world: World) -> None:
    with pytest.raises(Invalid, match="after the start"):
        await nobed.by_county_month(world.conn, END, START, "America/Chicago")
    with pytest.raises(Invalid, match="unknown time zone"):
        await nobed.quarterly_totals(world.conn, START, END, "America/Springfield")
    with pytest.raises(ValueError, match="aware"):
        await nobed.by_county_month(
            world.conn,
            datetime(2025, 1, 1),  # noqa: DTZ001 -- naive on purpose
            datetime(2025, 2, 1, tzinfo=UTC),
            "UTC",
        )
