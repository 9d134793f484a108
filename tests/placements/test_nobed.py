"""No-bed records: each trigger makes one record per placement, the snapshot is frozen and
immutable, and declaring one is an audited placement change with 404/409 problems."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from bedboard import auth, database, nobed, placements
from bedboard.nobed import Trigger
from tests.placements.conftest import CANARY, World

GENEROUS_S = 30.0


async def _rows(world: World, placement_id: int) -> list[dict[str, Any]]:
    rows = await world.conn.fetch(
        "SELECT * FROM no_bed_reports WHERE placement_id = $1 ORDER BY id", placement_id
    )
    return [dict(r) for r in rows]


async def _declare(world: World, placement_id: int, who: str = "liaison") -> Any:
    return await world.call(who, "POST", f"/api/v1/placements/{placement_id}/no-bed")


async def _close(world: World, placement_id: int, outcome: str) -> None:
    resp = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{placement_id}/transition",
        json={"to": "closed", "outcome": outcome},
    )
    assert resp.status == 200, await resp.text()


async def _admit(world: World, placement_id: int, unit: str = "a1") -> None:
    (ref,) = await world.refer(placement_id, unit)
    facility = "facility_a" if unit == "a1" else "facility_b"
    assert (await world.call(facility, "POST", f"/api/v1/referrals/{ref}/accept")).status == 200
    for to in ("in_transit", "admitted"):
        resp = await world.call(
            "liaison", "POST", f"/api/v1/placements/{placement_id}/transition", json={"to": to}
        )
        assert resp.status == 200, await resp.text()


def _hours_ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


# --------------------------------------------------------------------------- age bands


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (0, "0-11"),
        (11, "0-11"),
        (12, "12-17"),
        (17, "12-17"),
        (18, "18-25"),
        (25, "18-25"),
        (26, "26-44"),
        (44, "26-44"),
        (45, "45-64"),
        (64, "45-64"),
        (65, "65+"),
        (130, "65+"),
        (None, "unknown"),
    ],
)
def test_an_age_falls_in_exactly_its_reporting_band(age: int | None, band: str) -> None:
    assert nobed.age_band(age) == band


def test_a_birth_year_alone_gives_the_age_reached_in_the_detention_year() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    assert nobed.age_at_detention(None, 2000, start) == 26
    assert nobed.age_at_detention(40, 2000, start) == 40  # a recorded age wins
    assert nobed.age_at_detention(None, None, start) is None


# --------------------------------------------------------------------------- declared


async def test_declaring_no_bed_freezes_one_record_with_an_event_and_an_audit_row(
    world: World,
) -> None:
    needs = {**world.placement_body()["needs"], "payer": "medicaid"}
    placement = await world.create(detention_start=_hours_ago(30), needs=needs)
    pid = placement["id"]
    ref_a, _ref_b = await world.refer(pid, "a1", "b1")
    await world.call(
        "facility_a",
        "POST",
        f"/api/v1/referrals/{ref_a}/decline",
        json={"reason": "no_bed", "note": f"full tonight {CANARY}"},
    )

    resp = await _declare(world, pid)
    assert resp.status == 201, await resp.text()
    text = await resp.text()
    body = await resp.json()
    start = datetime.fromisoformat(placement["detention_start"])
    occurred = datetime.fromisoformat(body["occurred_at"])
    assert body["trigger"] == "declared"
    assert body["placement_id"] == pid
    assert body["county_fips"] == "29019"
    assert body["order_type"] == "emergency_96h"
    assert body["age_band"] == "26-44"
    assert body["payer"] == "medicaid"
    assert body["outcome"] is None
    assert body["elapsed_hours"] == round((occurred - start).total_seconds() / 3600, 2)
    assert body["referred"] == [
        {"facility_id": world.ids["facility_a"], "name": "Hillcrest Behavioral"},
        {"facility_id": world.ids["facility_b"], "name": "Lakeside Psychiatric"},
    ]
    assert body["declined"] == [
        {"facility_id": world.ids["facility_a"], "name": "Hillcrest Behavioral", "reason": "no_bed"}
    ]
    # Nothing person-level, and no free text.
    for secret in (CANARY, "full tonight", '"JD"', "26P-CV-0042", "Agitated", "Deputy"):
        assert secret not in text
    assert set(body) == {
        "id",
        "placement_id",
        "trigger",
        "occurred_at",
        "created_at",
        "county_fips",
        "order_type",
        "age_band",
        "payer",
        "outcome",
        "elapsed_hours",
        "referred",
        "declined",
    }

    events = await placements.timeline(world.conn, pid)
    declared = [e for e in events if e.kind == "no_bed_declared"]
    assert len(declared) == 1 and declared[0].data == {"report_id": body["id"]}
    audit = await world.conn.fetch(
        "SELECT actor_id, detail FROM audit_log WHERE action = 'placement.no_bed'"
    )
    assert [(a["actor_id"], a["detail"]) for a in audit] == [
        (world.ids["user_liaison"], {"report_id": body["id"], "created": True})
    ]
    outbox = await world.conn.fetch("SELECT topic, payload FROM board_outbox ORDER BY seq")
    announced = [o for o in outbox if o["payload"].get("event") == "no_bed_declared"]
    assert [o["topic"] for o in announced] == ["placements"]  # nothing on the court topic
    record = await (await world.call("liaison", "GET", f"/api/v1/placements/{pid}")).json()
    assert record["status"] == "open"  # the search goes on


async def test_declaring_again_answers_the_first_record_and_writes_no_second_one(
    world: World,
) -> None:
    pid = (await world.create())["id"]
    first = await (await _declare(world, pid)).json()
    again = await _declare(world, pid, "admin")
    assert again.status == 200
    assert await again.json() == first
    assert len(await _rows(world, pid)) == 1
    kinds = [e.kind for e in await placements.timeline(world.conn, pid)]
    assert kinds.count("no_bed_declared") == 1
    details = await world.conn.fetch(
        "SELECT detail FROM audit_log WHERE action = 'placement.no_bed' ORDER BY id"
    )
    assert [d["detail"]["created"] for d in details] == [True, False]


async def test_concurrent_declarations_make_one_record(world: World, db_dsn: str) -> None:
    pid = (await world.create())["id"]
    liaison = await auth.principal_for_user(world.conn, world.ids["user_liaison"])
    admin = await auth.principal_for_user(world.conn, world.ids["user_admin"])
    assert liaison is not None and admin is not None
    conns = [await database.connect(db_dsn) for _ in range(2)]
    try:
        results = await asyncio.gather(
            placements.declare_no_bed(conns[0], pid, liaison),
            placements.declare_no_bed(conns[1], pid, admin),
        )
    finally:
        for c in conns:
            await c.close()
    assert sorted(r.created for r in results) == [False, True]
    assert results[0].report == results[1].report
    assert len(await _rows(world, pid)) == 1


async def test_a_later_referral_change_or_edit_leaves_a_stored_snapshot_unchanged(
    world: World,
) -> None:
    pid = (await world.create())["id"]
    ref_a, ref_b = await world.refer(pid, "a1", "b1")
    await world.call(
        "facility_a", "POST", f"/api/v1/referrals/{ref_a}/decline", json={"reason": "acuity"}
    )
    before = await (await _declare(world, pid)).json()
    stored = await _rows(world, pid)

    # After it: another decline, a withdrawal, a facility renamed, the record edited.
    await world.call(
        "facility_b", "POST", f"/api/v1/referrals/{ref_b}/decline", json={"reason": "payer"}
    )
    renamed = await world.call(
        "admin",
        "PATCH",
        f"/api/v1/facilities/{world.ids['facility_a']}",
        json={"name": "Renamed Hospital"},
    )
    assert renamed.status == 200, await renamed.text()
    (ref_again,) = await world.refer(pid, "a1")
    await world.call("liaison", "POST", f"/api/v1/referrals/{ref_again}/withdraw")
    edit = await world.call(
        "liaison",
        "PATCH",
        f"/api/v1/placements/{pid}",
        json={"county_fips": "29051", "person": {"initials": "JD", "age": 70, "sex": "male"}},
    )
    assert edit.status == 200, await edit.text()

    assert await _rows(world, pid) == stored
    (after,) = await nobed.for_placement(world.conn, pid)
    assert after.model_dump(mode="json") == before
    assert [d.reason for d in after.declined] == ["acuity"]
    assert after.age_band == "26-44" and after.county_fips == "29019"


async def test_the_database_refuses_to_change_or_remove_a_record(world: World) -> None:
    pid = (await world.create())["id"]
    await _declare(world, pid)
    for sql in (
        "UPDATE no_bed_reports SET age_band = 'unknown'",
        "DELETE FROM no_bed_reports",
        "TRUNCATE no_bed_reports",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await world.conn.execute(sql)
    assert len(await _rows(world, pid)) == 1


# --------------------------------------------------------------------------- refusals


async def test_declaring_for_a_placement_that_is_not_open_is_a_409_problem(
    world: World,
) -> None:
    accepted = (await world.create())["id"]
    (ref,) = await world.refer(accepted, "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    closed = (await world.create())["id"]
    await _close(world, closed, "withdrawn")
    for pid, status in ((accepted, "accepted"), (closed, "closed")):
        resp = await _declare(world, pid)
        assert resp.status == 409
        assert resp.content_type == "application/problem+json"
        problem = await resp.json()
        assert problem["type"].endswith("/placement-not-open")
        assert problem["current"] == status
        assert "open placement" in problem["detail"]
        assert await _rows(world, pid) == []
    assert (
        await world.conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'placement.no_bed'"
        )
        == 0
    )


async def test_declaring_for_an_unknown_placement_is_a_404_problem(world: World) -> None:
    resp = await _declare(world, 987654)
    assert resp.status == 404
    assert resp.content_type == "application/problem+json"
    assert (await resp.json())["type"].endswith("/not-found")


# --------------------------------------------------------------------------- deadline


async def test_a_passed_deadline_makes_one_record_at_the_deadline_and_a_rerun_none(
    world: World,
) -> None:
    late = await world.create(detention_start=_hours_ago(100))
    early = await world.create(detention_start=_hours_ago(2))
    (ref,) = await world.refer(late["id"], "a1")
    await world.call(
        "facility_a", "POST", f"/api/v1/referrals/{ref}/decline", json={"reason": "staffing"}
    )
    now = await world.conn.fetchval("SELECT now()")
    assert await placements.record_passed_deadlines(world.conn, now) == 1
    assert await placements.record_passed_deadlines(world.conn, now) == 0
    (row,) = await _rows(world, late["id"])
    assert row["trigger"] == "deadline_passed"
    assert row["occurred_at"] == datetime.fromisoformat(late["deadline_at"])
    assert float(row["elapsed_hours"]) == 96.0
    assert row["declined"] == [
        {
            "facility_id": world.ids["facility_a"],
            "name": "Hillcrest Behavioral",
            "reason": "staffing",
        }
    ]
    events = await world.conn.fetch(
        "SELECT topic FROM board_outbox WHERE payload->>'event' = 'no_bed_recorded'"
    )
    assert [e["topic"] for e in events] == ["placements"]

    deadline = datetime.fromisoformat(early["deadline_at"])
    assert (
        await placements.record_passed_deadlines(world.conn, deadline - timedelta(seconds=1)) == 0
    )
    assert await _rows(world, early["id"]) == []
    assert await placements.record_passed_deadlines(world.conn, deadline) == 1
    assert len(await _rows(world, early["id"])) == 1


async def test_admitting_past_the_deadline_makes_the_record_before_the_clock_runs(
    world: World,
) -> None:
    late = (await world.create(detention_start=_hours_ago(100)))["id"]
    in_time = (await world.create(detention_start=_hours_ago(2)))["id"]
    await _admit(world, late, "a1")
    await _admit(world, in_time, "b1")
    (row,) = await _rows(world, late)
    assert row["trigger"] == "deadline_passed"
    # Admitted before its deadline: never a record, however late the clock looks.
    far = datetime.now(UTC) + timedelta(days=30)
    assert await placements.record_passed_deadlines(world.conn, far) == 0
    assert await nobed.record(world.conn, in_time, Trigger.DEADLINE_PASSED, now=far) is None
    assert await _rows(world, in_time) == []


async def test_a_record_waiting_on_another_ones_insert_makes_none(
    world: World, db_dsn: str
) -> None:
    """The clock takes no placement lock: the unique constraint alone keeps one record."""
    pid = (await world.create(detention_start=_hours_ago(100)))["id"]
    first = await database.connect(db_dsn)
    second = await database.connect(db_dsn)
    try:
        await first.execute("BEGIN")
        assert await nobed.record(first, pid, Trigger.DEADLINE_PASSED) is not None
        task = asyncio.create_task(nobed.record(second, pid, Trigger.DEADLINE_PASSED))
        deadline = asyncio.get_running_loop().time() + GENEROUS_S
        while not await world.conn.fetchval(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE '%INSERT INTO no_bed_reports%'"
        ):
            assert not task.done(), task
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        await first.execute("COMMIT")
        assert await asyncio.wait_for(task, GENEROUS_S) is None
    finally:
        await first.close()
        await second.close()
    assert len(await _rows(world, pid)) == 1


async def test_two_clock_runs_at_once_make_each_record_once(world: World, db_dsn: str) -> None:
    ids = [(await world.create(detention_start=_hours_ago(100 + i)))["id"] for i in range(4)]
    now = await world.conn.fetchval("SELECT now()")
    conns = [await database.connect(db_dsn) for _ in range(2)]
    try:
        made = await asyncio.gather(*(placements.record_passed_deadlines(c, now) for c in conns))
    finally:
        for c in conns:
            await c.close()
    assert sum(made) == 4
    for pid in ids:
        assert [r["trigger"] for r in await _rows(world, pid)] == ["deadline_passed"]


# --------------------------------------------------------------------------- closed


async def test_closing_a_court_ordered_placement_unplaced_makes_a_record(world: World) -> None:
    expired = (await world.create())["id"]
    released = (
        await world.create(order_type="emergency_96h_application", court_id=None, case_number="")
    )["id"]
    withdrawn = (await world.create())["id"]
    voluntary = (await world.create(order_type="voluntary", court_id=None, case_number=""))["id"]
    await _close(world, expired, "order_expired")
    await _close(world, released, "released")
    await _close(world, withdrawn, "withdrawn")
    await _close(world, voluntary, "released")

    (row,) = await _rows(world, expired)
    assert (row["trigger"], row["outcome"]) == ("closed", "order_expired")
    closed_at = await world.conn.fetchval("SELECT closed_at FROM placements WHERE id = $1", expired)
    assert row["occurred_at"] == closed_at
    # On application: not a court's order yet, but it has the 96-hour clock.
    (row,) = await _rows(world, released)
    assert (row["trigger"], row["outcome"], row["order_type"]) == (
        "closed",
        "released",
        "emergency_96h_application",
    )
    assert await _rows(world, withdrawn) == []
    assert await _rows(world, voluntary) == []


async def test_closing_past_the_deadline_makes_both_records_once(world: World) -> None:
    pid = (await world.create(detention_start=_hours_ago(100)))["id"]
    await _declare(world, pid)
    now = await world.conn.fetchval("SELECT now()")
    await placements.record_passed_deadlines(world.conn, now)
    await _close(world, pid, "order_expired")
    rows = await _rows(world, pid)
    assert sorted(r["trigger"] for r in rows) == ["closed", "deadline_passed", "declared"]
    assert await nobed.record(world.conn, pid, Trigger.CLOSED) is None  # once
