"""Time-driven placement behaviour (time is passed in, never slept): holds and deadlines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bedboard import placements
from tests.placements.conftest import World


async def test_a_hold_expires_on_schedule_and_the_bed_returns_to_the_board(world: World) -> None:
    placement = await world.create()
    (ref,) = await world.refer(placement["id"], "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    expires = await world.conn.fetchval("SELECT hold_expires_at FROM referrals WHERE id = $1", ref)
    accepted_at = await world.conn.fetchval(
        "SELECT accepted_at FROM placements WHERE id = $1", placement["id"]
    )
    assert expires - accepted_at == timedelta(hours=4)

    assert await placements.expire_holds(world.conn, expires - timedelta(seconds=1)) == 0
    assert await world.held("a1") == 1
    assert await placements.expire_holds(world.conn, expires + timedelta(seconds=1)) == 1
    assert await world.held("a1") == 0
    assert await world.conn.fetchval("SELECT status FROM referrals WHERE id = $1", ref) == "expired"
    assert (
        await world.conn.fetchval("SELECT status FROM placements WHERE id = $1", placement["id"])
        == "open"
    )
    board_events = await world.conn.fetch(
        "SELECT payload FROM board_outbox WHERE topic = 'board' AND payload->'unit'->>'id' = $1 ORDER BY seq",
        str(world.ids["a1"]),
    )
    assert [e["payload"]["unit"]["held"] for e in board_events][-2:] == [1, 0]
    kinds = [e.kind for e in await placements.timeline(world.conn, placement["id"])]
    assert kinds[-2:] == ["hold_expired", "reopened"]


async def test_a_hold_does_not_expire_once_the_person_is_in_transit(world: World) -> None:
    placement = await world.create()
    (ref,) = await world.refer(placement["id"], "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{placement['id']}/transition",
        json={"to": "in_transit"},
    )
    later = datetime.now(UTC) + timedelta(days=2)
    assert await placements.expire_holds(world.conn, later) == 0
    assert await world.held("a1") == 1


async def test_deadline_alerts_fire_at_each_configured_point_once(world: World) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    placement = await world.create(detention_start=start.isoformat())
    deadline = start + timedelta(hours=96)
    points = [24, 12, 4]

    async def raised_at(now: datetime) -> list[str]:
        await placements.raise_deadline_alerts(world.conn, now, points)
        rows = await world.conn.fetch(
            "SELECT data->>'point' AS point FROM placement_events WHERE placement_id = $1"
            " AND kind = 'deadline_alert' ORDER BY id",
            placement["id"],
        )
        return [r["point"] for r in rows]

    assert await raised_at(deadline - timedelta(hours=25)) == []
    assert await raised_at(deadline - timedelta(hours=24)) == ["24h"]
    assert await raised_at(deadline - timedelta(hours=20)) == ["24h"]
    assert await raised_at(deadline - timedelta(hours=11)) == ["24h", "12h"]
    assert await raised_at(deadline - timedelta(hours=3)) == ["24h", "12h", "4h"]
    assert await raised_at(deadline + timedelta(minutes=1)) == ["24h", "12h", "4h", "passed"]
    assert await raised_at(deadline + timedelta(hours=5)) == ["24h", "12h", "4h", "passed"]
    # Past its deadline and not admitted: flagged overdue, never silently closed.
    record = await (
        await world.call("liaison", "GET", f"/api/v1/placements/{placement['id']}")
    ).json()
    assert record["status"] == "open"
    alerts = await world.conn.fetch(
        "SELECT payload FROM board_outbox WHERE topic = 'placements' AND payload->>'event' LIKE 'deadline_%'"
    )
    assert [a["payload"]["event"] for a in alerts] == [
        "deadline_24h",
        "deadline_12h",
        "deadline_4h",
        "deadline_passed",
    ]
    assert all(a["payload"]["liaison_id"] == world.ids["user_liaison"] for a in alerts)


async def test_a_placement_created_late_is_not_flooded_with_past_alerts(world: World) -> None:
    start = datetime.now(UTC) - timedelta(hours=90)  # six hours left
    placement = await world.create(detention_start=start.isoformat())
    await placements.raise_deadline_alerts(world.conn, datetime.now(UTC), [24, 12, 4])
    announced = await world.conn.fetchval(
        "SELECT count(*) FROM placement_events WHERE placement_id = $1 AND kind = 'deadline_alert'",
        placement["id"],
    )
    assert announced == 0
    await placements.raise_deadline_alerts(
        world.conn, start + timedelta(hours=92, minutes=1), [24, 12, 4]
    )
    points = await world.conn.fetch(
        "SELECT data->>'point' AS p FROM placement_events"
        " WHERE placement_id = $1 AND kind = 'deadline_alert'",
        placement["id"],
    )
    assert [r["p"] for r in points] == ["4h"]


async def test_admitted_placements_raise_no_alerts(world: World) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    placement = await world.create(detention_start=start.isoformat())
    (ref,) = await world.refer(placement["id"], "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    for to in ("in_transit", "admitted"):
        await world.call(
            "liaison", "POST", f"/api/v1/placements/{placement['id']}/transition", json={"to": to}
        )
    assert (
        await placements.raise_deadline_alerts(
            world.conn, start + timedelta(hours=200), [24, 12, 4]
        )
        == 0
    )


async def test_the_scheduled_job_uses_the_configured_points(world: World, client: Any) -> None:
    from bedboard import scheduler
    from bedboard.context import POOL, SETTINGS

    start = datetime.now(UTC) - timedelta(hours=95, minutes=30)  # 30 minutes left
    placement = await world.create(detention_start=start.isoformat())
    settings = client.app[SETTINGS].model_copy(update={"deadline_alert_hours": [1]})
    await scheduler.placement_clock(client.app[POOL], settings)
    rows = await world.conn.fetch(
        "SELECT point FROM placement_alerts WHERE placement_id = $1 ORDER BY point", placement["id"]
    )
    assert [r["point"] for r in rows] == ["1h"]
