"""The freshness job publishes each change once, as time passes (time is frozen, not slept)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import time_machine

from bedboard import census, scheduler
from bedboard.census import CensusReport, Source
from bedboard.context import POOL


async def freshness_events(conn: Any) -> list[tuple[int, str]]:
    rows = await conn.fetch(
        "SELECT payload FROM board_outbox WHERE payload->>'kind' = 'freshness' ORDER BY seq"
    )
    return [(r["payload"]["unit_id"], r["payload"]["freshness"]) for r in rows]


async def test_a_unit_turns_late_then_stale_and_each_change_is_published_once(
    conn: Any, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility(report_cadence_minutes=60)
    unit = await make_unit(facility.id)
    silent = await make_unit(facility.id)
    start: datetime = await conn.fetchval("SELECT now()")
    await census.apply(conn, [(unit.id, CensusReport(as_of=start - timedelta(minutes=1), available=2))],
                       Source("test"))  # fmt: skip

    steps = [
        (start + timedelta(minutes=30), [(silent.id, "never")]),
        (start + timedelta(minutes=45), []),
        (start + timedelta(minutes=61), [(unit.id, "late")]),
        (start + timedelta(minutes=100), []),
        (start + timedelta(minutes=121), [(unit.id, "stale")]),
        (start + timedelta(hours=5), []),
    ]
    seen: list[tuple[int, str]] = []
    for now, expected in steps:
        published = await census.publish_freshness_changes(conn, now)
        seen += expected
        assert published == len(expected), now
        assert await freshness_events(conn) == seen


async def test_a_new_report_makes_a_stale_unit_fresh_at_once(
    conn: Any, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility(report_cadence_minutes=60)
    unit = await make_unit(facility.id)
    start: datetime = await conn.fetchval("SELECT now()")
    await census.apply(conn, [(unit.id, CensusReport(as_of=start - timedelta(minutes=50), available=2))],
                       Source("test"))  # fmt: skip
    assert await census.publish_freshness_changes(conn, start + timedelta(hours=2)) == 1  # stale
    assert (
        await conn.fetchval("SELECT state FROM unit_freshness WHERE unit_id = $1", unit.id)
        == "stale"
    )
    await census.apply(conn, [(unit.id, CensusReport(as_of=start, available=3))], Source("test"))
    # The report itself made the unit fresh (with its board event); the job has nothing to add.
    assert (
        await conn.fetchval("SELECT state FROM unit_freshness WHERE unit_id = $1", unit.id)
        == "fresh"
    )
    assert await census.publish_freshness_changes(conn, start + timedelta(minutes=1)) == 0


async def test_the_scheduled_job_uses_the_database_clock_not_the_apps(
    client: Any, conn: Any, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility(report_cadence_minutes=60)
    unit = await make_unit(facility.id)
    db_now = await conn.fetchval("SELECT now()")
    await census.apply(conn, [(unit.id, CensusReport(as_of=db_now, available=1))], Source("test"))
    # Even with the app's clock far in the future, nothing is stale by the database's clock.
    with time_machine.travel(db_now + timedelta(days=3), tick=False):
        assert await scheduler.publish_freshness(client.app[POOL]) == 0
    assert (
        await conn.fetchval("SELECT state FROM unit_freshness WHERE unit_id = $1", unit.id)
        == "fresh"
    )


async def test_the_job_classifies_exactly_like_the_pure_function(
    conn: Any, make_facility: Any, make_unit: Any
) -> None:
    from bedboard.freshness import freshness

    facility = await make_facility(report_cadence_minutes=90)
    start: datetime = await conn.fetchval("SELECT now()")
    ages = [0, 89, 90, 91, 179, 180, 181, 600]
    units = []
    for age in ages:
        unit = await make_unit(facility.id)
        as_of = start - timedelta(minutes=age)
        await census.apply(
            conn, [(unit.id, CensusReport(as_of=as_of, available=1))], Source("test")
        )
        units.append((unit.id, as_of))
    never = await make_unit(facility.id)
    later = start + timedelta(minutes=30)
    await census.publish_freshness_changes(conn, later)
    stored = dict(await conn.fetch("SELECT unit_id, state FROM unit_freshness"))
    for unit_id, as_of in units:
        assert stored[unit_id] == freshness(as_of, timedelta(minutes=90), later).value, unit_id
    assert stored[never.id] == "never"
