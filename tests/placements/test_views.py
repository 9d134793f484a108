"""Read projections: each list is a fixed number of statements, however long it is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bedboard import placements
from tests.placements.conftest import World


async def _statements(conn: Any, read: Callable[[], Awaitable[Any]]) -> tuple[int, Any]:
    seen: list[str] = []

    def log(record: Any) -> None:
        seen.append(record.query)

    conn.add_query_logger(log)
    try:
        result = await read()
    finally:
        conn.remove_query_logger(log)
    return len(seen), result


async def test_a_facility_s_referral_list_does_not_grow_a_query_per_placement(
    world: World,
) -> None:
    facility = frozenset({world.ids["facility_a"]})
    first = await world.create(case_number="26P-1")
    await world.refer(first["id"], "a1", "b1")
    few, views = await _statements(
        world.conn, lambda: placements.referrals_for_facilities(world.conn, facility)
    )
    assert [v.id for v in views] == [first["id"]]
    for n in range(2, 7):
        p = await world.create(case_number=f"26P-{n}")
        await world.refer(p["id"], "a1")
    many, views = await _statements(
        world.conn, lambda: placements.referrals_for_facilities(world.conn, facility)
    )
    assert many == few
    assert len(views) == 6
    assert views[0].id == first["id"]  # the one waiting longest is first
    # Only this facility's referrals are shown, never the other hospital's.
    assert {r.facility_id for v in views for r in v.referrals} == set(facility)


async def test_a_court_lookup_does_not_grow_a_query_per_match(world: World) -> None:
    court = world.ids["court"]
    await world.create(case_number="26P-SAME")
    few, found = await _statements(
        world.conn, lambda: placements.court_lookup(world.conn, court, "26p-same")
    )
    assert len(found) == 1 and found[0].timeline
    for _ in range(4):
        await world.create(case_number="26P-SAME")
    many, found = await _statements(
        world.conn, lambda: placements.court_lookup(world.conn, court, "26P-SAME")
    )
    assert many == few
    assert len(found) == 5
    assert all(entry.status == "open" for p in found for entry in p.timeline)
