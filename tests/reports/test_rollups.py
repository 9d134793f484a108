"""The compliance and capacity figures read from the roll-ups give the numbers the live
statements give, after a first refresh and after each later one: history received since,
history imported for the past, a unit leaving the board, a cadence changed. The live
statements are checked by hand in test_figures.py; here they are the oracle."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bedboard import regions, reports
from bedboard.auth import Principal, Role
from bedboard.reports import Filters, rollups
from bedboard.reports.filters import Scope, sql_parameters
from tests.reports.conftest import World

ZONE = "America/Chicago"
H = timedelta(hours=1)
ROLLED = ("compliance", "capacity", "capacity-by-hour")
PERIODS = [
    {"from": "2026-10-01", "to": "2026-11-30"},
    {"from": "2026-10-10", "to": "2026-10-10"},
    {"from": "2026-10-09", "to": "2026-10-12"},
    {"from": "2026-09-01", "to": "2026-10-09"},
]


def liaison() -> Principal:
    return Principal(user_id=1, role=Role.LIAISON, email="l@example.org", display_name="")


async def live_and_rolled(conn: Any, slug: str, who: Principal | None = None, **query: Any) -> Any:
    """The figure's rows from its live statement, and from the roll-ups as ``run`` reads
    them (which must say so)."""
    from zoneinfo import ZoneInfo

    figure = reports.FIGURES[slug]
    filters = Filters.model_validate(query)
    who = who or liaison()
    report = await reports.run(conn, slug, filters, who, zone_name=ZONE)
    assert report.data_as_of is not None, "run() did not read the roll-ups"
    today = (await conn.fetchval("SELECT now()")).astimezone(ZoneInfo(ZONE)).date()
    region_counties = (
        await regions.counties_of_regions(conn, [filters.region]) if filters.region else None
    )
    params = sql_parameters(
        filters,
        Scope.of(who),
        today=today,
        zone=ZoneInfo(ZONE),
        zone_name=ZONE,
        region_counties=region_counties,
    )
    async with conn.transaction():
        await conn.execute(reports.SESSION_SQL)
        live = await conn.fetch(figure.sql, *params)
    cols = figure.columns
    return [{c.key: reports._typed(c, r[c.key]) for c in cols} for r in live], report.rows


async def assert_same(conn: Any, **extra: Any) -> None:
    for slug in ROLLED:
        for period in PERIODS:
            live, rolled = await live_and_rolled(conn, slug, **period, **extra)
            assert rolled == live, (slug, period, extra)


async def test_before_the_first_refresh_the_figures_are_computed_live(
    conn: Any, world: World
) -> None:
    for slug in ROLLED:
        query = Filters.model_validate(PERIODS[0])
        report = await reports.run(conn, slug, query, liaison(), zone_name=ZONE)
        assert report.data_as_of is None and report.rows


async def test_the_rolled_up_figures_equal_the_live_ones(conn: Any, world: World) -> None:
    done = await rollups.refresh(conn, ZONE)
    assert done is not None and done.rebuilt == done.groups == 2
    await assert_same(conn)
    await assert_same(conn, facility_id=world.a.id)
    await assert_same(conn, population="adolescent")
    central = await regions.create_region(
        conn, regions.RegionIn(name="Central", counties=["29019"])
    )
    elsewhere = await regions.create_region(
        conn, regions.RegionIn(name="Elsewhere", counties=["29077"])
    )
    await assert_same(conn, region=central.id)
    await assert_same(conn, region=elsewhere.id)
    facility_user = Principal(
        user_id=2, role=Role.FACILITY, email="f@example.org", display_name="",
        facility_ids=(world.b.id,),
    )  # fmt: skip
    for slug in ROLLED:
        live, rolled = await live_and_rolled(conn, slug, facility_user, **PERIODS[0])
        assert rolled == live


async def test_a_second_refresh_recomputes_only_the_running_day(conn: Any, world: World) -> None:
    await rollups.refresh(conn, ZONE)
    again = await rollups.refresh(conn, ZONE)
    assert again is not None and again.rebuilt == 0 and again.groups == 2
    await assert_same(conn)


async def test_history_imported_for_the_past_after_a_refresh_is_counted(
    conn: Any, world: World
) -> None:
    await rollups.refresh(conn, ZONE)
    # Received "long ago" (an import keeps its own received_at): only its id is new.
    at = datetime(2026, 10, 11, 2, 0, tzinfo=UTC)
    await conn.execute(
        "INSERT INTO census_history (unit_id, staffed, occupied, blocked, available, as_of,"
        " received_at, source) VALUES ($1, 12, 5, 0, 7, $2, $2, 'api')",
        world.b1.id, at,
    )  # fmt: skip
    done = await rollups.refresh(conn, ZONE)
    assert done is not None and done.rebuilt == 0
    await assert_same(conn)
    _, rolled = await live_and_rolled(conn, "capacity", **PERIODS[2])
    assert [d["units_reported"] for d in rolled] == [1, 2, 2, 2]  # b1 from 21:00 on 10-10


async def test_a_unit_leaving_the_board_or_a_new_cadence_recomputes_its_group(
    conn: Any, world: World
) -> None:
    await rollups.refresh(conn, ZONE)
    await conn.execute(
        "UPDATE facilities SET report_cadence_minutes = 240 WHERE id = $1", world.a.id
    )
    done = await rollups.refresh(conn, ZONE)
    assert done is not None and done.rebuilt == 1
    await assert_same(conn)
    await conn.execute("UPDATE units SET active = false WHERE id = $1", world.a1.id)
    done = await rollups.refresh(conn, ZONE)
    assert done is not None and done.dropped == 1
    await assert_same(conn)
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM capacity_daily WHERE facility_id = $1", world.a.id
        )
        == 0
    )


async def test_the_running_day_counts_up_to_the_refresh(conn: Any, world: World) -> None:
    now: datetime = await conn.fetchval("SELECT now()")
    await conn.execute(
        "INSERT INTO census_history (unit_id, staffed, occupied, blocked, available, as_of,"
        " received_at, source) VALUES ($1, 20, 15, 1, 4, $2, $2, 'form')",
        world.b1.id, now - 3 * H,
    )  # fmt: skip
    done = await rollups.refresh(conn, ZONE)
    assert done is not None
    today = now.astimezone(__import__("zoneinfo").ZoneInfo(ZONE)).date().isoformat()
    report = await reports.run(
        conn, "capacity", Filters.model_validate({"from": today, "to": today}), liaison(),
        zone_name=ZONE,
    )  # fmt: skip
    (day,) = report.rows
    # a1's last report (October) still stands; b1's from three hours ago
    assert (day["units_reported"], day["staffed"], day["available"]) == (2, 30, 6)
    report = await reports.run(
        conn, "compliance", Filters.model_validate({"from": today, "to": today}), liaison(),
        zone_name=ZONE,
    )  # fmt: skip
    beta = next(r for r in report.rows if r["facility"] == "Beta Hospital")
    assert beta["reporting_paths"] == "form" and beta["fresh"] and beta["fresh"] > 0


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_histories_arriving_in_batches_roll_up_to_the_live_figures(
    conn: Any, make_facility: Any, make_unit: Any, seed: int
) -> None:
    rng = random.Random(seed)
    units = []
    for f in range(3):
        fac = await make_facility(
            name=f"Random {f}", report_cadence_minutes=rng.choice([30, 240, 720])
        )
        for population in ("adult", "adolescent")[: rng.randint(1, 2)]:
            for _ in range(rng.randint(1, 2)):
                needs = sorted(rng.sample(["trauma", "forensic"], rng.randint(0, 2)))
                unit = await make_unit(fac.id, population=population, specialties=needs)
                units.append(unit.id)
    await conn.execute("UPDATE units SET created_at = '2026-09-01' WHERE id = ANY($1)", units)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    reports_at = sorted(
        (unit, start + timedelta(minutes=rng.randint(0, 45 * 24 * 60)))
        for unit in units
        for _ in range(rng.randint(0, 40))
    )
    rng.shuffle(reports_at)
    for batch in (reports_at[: len(reports_at) // 2], reports_at[len(reports_at) // 2 :]):
        for unit, at in batch:
            staffed = rng.randint(5, 20)
            occupied = rng.randint(0, staffed)
            await conn.execute(
                "INSERT INTO census_history (unit_id, staffed, occupied, blocked, available,"
                " as_of, received_at, source)"
                " VALUES ($1, $2::int, $3::int, 0, $2::int - $3::int, $4, $4, $5)",
                unit, staffed, occupied, at, rng.choice(["api", "form", "feed:1"]),
            )  # fmt: skip
        await rollups.refresh(conn, ZONE)
        await assert_same(conn)
        await assert_same(conn, needs="trauma")
        await assert_same(conn, needs="forensic", population="adult")


async def test_a_needs_filter_reads_the_units_that_serve_it_from_the_roll_ups(
    conn: Any, world: World
) -> None:
    # Each group also rolls up, for each need one of its units serves, those units.
    await conn.execute("UPDATE units SET specialties = '{trauma}' WHERE id = $1", world.a1.id)
    await rollups.refresh(conn, ZONE)
    await assert_same(conn, needs="trauma")
    await assert_same(conn, needs="dementia")  # served by none: nothing, as live
    query = Filters.model_validate({**PERIODS[1], "needs": "trauma"})
    report = await reports.run(conn, "compliance", query, liaison(), zone_name=ZONE)
    assert [r["facility"] for r in report.rows] == ["Alpha Hospital"]
    # A unit that stops serving the need leaves its group at the next refresh.
    await conn.execute("UPDATE units SET specialties = '{}' WHERE id = $1", world.a1.id)
    done = await rollups.refresh(conn, ZONE)
    assert done is not None and done.dropped == 1  # the trauma group of Alpha's adults
    await assert_same(conn, needs="trauma")
    report = await reports.run(conn, "compliance", query, liaison(), zone_name=ZONE)
    assert report.rows == [] and report.data_as_of is not None
