"""Capacity by hour of the week, worked out by hand: each top of the hour takes each
unit's latest report (one in the hour before counts from the next top of the hour, one
exactly on it from that hour), the hours of each weekday and hour are averaged, and a
night with a clock change has its repeated hour twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bedboard import reports
from bedboard.auth import Principal, Role
from bedboard.reports import Filters, rollups

ZONE = "America/Chicago"


def liaison() -> Principal:
    return Principal(user_id=1, role=Role.LIAISON, email="l@example.org", display_name="")


async def _report(
    conn: Any, unit_id: int, at: datetime, staffed: int, occupied: int, blocked: int, free: int
) -> None:
    await conn.execute(
        "INSERT INTO census_history (unit_id, staffed, occupied, blocked, available, as_of,"
        " received_at, source) VALUES ($1, $2, $3, $4, $5, $6, $6, 'form')",
        unit_id, staffed, occupied, blocked, free, at,
    )  # fmt: skip


async def _slots(conn: Any, first: str, last: str) -> dict[str, dict[str, Any]]:
    query = Filters.model_validate({"from": first, "to": last})
    report = await reports.run(conn, "capacity-by-hour", query, liaison(), zone_name=ZONE)
    assert len(report.rows) == 168
    return {str(r["slot"]): r for r in report.rows}


async def _one_unit(conn: Any, make_facility: Any, make_unit: Any) -> int:
    facility = await make_facility(name="Hourly Hospital")
    unit = await make_unit(facility.id, name="Adult")
    # Sunday 2026-10-11 22:00 in Central time (CDT, UTC-5), before the period.
    await _report(conn, unit.id, datetime(2026, 10, 12, 3, 0, tzinfo=UTC), 10, 6, 0, 4)
    # Monday 09:20 and 09:50: the later one stands from 10:00.
    await _report(conn, unit.id, datetime(2026, 10, 12, 14, 20, tzinfo=UTC), 10, 8, 1, 1)
    await _report(conn, unit.id, datetime(2026, 10, 12, 14, 50, tzinfo=UTC), 10, 9, 0, 1)
    # Monday 15:00 exactly: stands from 15:00.
    await _report(conn, unit.id, datetime(2026, 10, 12, 20, 0, tzinfo=UTC), 12, 9, 0, 3)
    return int(unit.id)


async def test_each_top_of_the_hour_takes_the_latest_report(
    conn: Any, make_facility: Any, make_unit: Any
) -> None:
    await _one_unit(conn, make_facility, make_unit)
    slots = await _slots(conn, "2026-10-12", "2026-10-12")
    assert list(slots)[:2] == ["Mon 00:00", "Mon 01:00"] and list(slots)[-1] == "Sun 23:00"
    assert slots["Mon 00:00"] == {
        "slot": "Mon 00:00",
        "samples": 1,
        "units_reported": 1.0,
        "staffed": 10.0,
        "occupied": 6.0,
        "blocked": 0.0,
        "available": 4.0,
        "occupancy": 0.6,
    }
    assert slots["Mon 09:00"]["available"] == 4.0  # 09:20 and 09:50 count from 10:00
    assert (slots["Mon 10:00"]["occupied"], slots["Mon 10:00"]["blocked"]) == (9.0, 0.0)
    assert slots["Mon 14:00"]["staffed"] == 10.0
    assert (slots["Mon 15:00"]["staffed"], slots["Mon 15:00"]["occupancy"]) == (12.0, 0.75)
    # Other weekdays are not in a one-day period.
    assert slots["Tue 10:00"]["samples"] == 0 and slots["Tue 10:00"]["staffed"] is None


async def test_the_hours_of_a_weekday_are_averaged_over_the_period(
    conn: Any, make_facility: Any, make_unit: Any
) -> None:
    await _one_unit(conn, make_facility, make_unit)
    # Monday 10-12 to Monday 10-19: two Mondays, the second at 12 staffed, 9 occupied all day.
    slots = await _slots(conn, "2026-10-12", "2026-10-19")
    nine = slots["Mon 09:00"]
    assert (nine["samples"], nine["staffed"], nine["available"]) == (2, 11.0, 3.5)
    assert nine["occupancy"] == round(15 / 22, 4)
    assert (slots["Tue 09:00"]["samples"], slots["Tue 09:00"]["staffed"]) == (1, 12.0)
    assert sum(int(s["samples"]) for s in slots.values()) == 8 * 24


async def test_the_repeated_hour_of_the_autumn_clock_change_counts_twice(
    conn: Any, make_facility: Any, make_unit: Any
) -> None:
    await _one_unit(conn, make_facility, make_unit)
    slots = await _slots(conn, "2026-11-01", "2026-11-01")  # CDT -> CST at 02:00
    assert slots["Sun 01:00"]["samples"] == 2 and slots["Sun 02:00"]["samples"] == 1
    assert sum(int(s["samples"]) for s in slots.values()) == 25


async def test_the_rolled_up_hours_give_the_same_figure(
    conn: Any, make_facility: Any, make_unit: Any
) -> None:
    unit = await _one_unit(conn, make_facility, make_unit)
    live = await _slots(conn, "2026-10-01", "2026-11-30")
    done = await rollups.refresh(conn, ZONE)
    assert done is not None
    query = Filters.model_validate({"from": "2026-10-01", "to": "2026-11-30"})
    report = await reports.run(conn, "capacity-by-hour", query, liaison(), zone_name=ZONE)
    assert report.data_as_of is not None
    assert {str(r["slot"]): r for r in report.rows} == live
    # A report in the hour just before a refreshed day's midnight, received later.
    await _report(conn, unit, datetime(2026, 10, 20, 4, 30, tzinfo=UTC), 14, 9, 0, 5)
    await rollups.refresh(conn, ZONE)
    report = await reports.run(conn, "capacity-by-hour", query, liaison(), zone_name=ZONE)
    assert report.data_as_of is not None
    rolled = {str(r["slot"]): r for r in report.rows}
    assert rolled == await _live(conn, query)


async def _live(conn: Any, query: Filters) -> dict[str, dict[str, Any]]:
    await conn.execute("DELETE FROM report_rollup_state")
    report = await reports.run(conn, "capacity-by-hour", query, liaison(), zone_name=ZONE)
    assert report.data_as_of is None
    return {str(r["slot"]): r for r in report.rows}
