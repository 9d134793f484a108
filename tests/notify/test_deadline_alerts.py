"""The placement clock's occasions reach the liaison: a deadline point by email and
in-app (through a real SMTP server on loopback), a bed hold about to run out and one that
ran out in-app; each once per placement and point (or hold), however often the clock
runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bedboard import localtime, notify, outbox, placements, scheduler
from tests.notify.conftest import CANARY, Mailbox, World, config

CHICAGO = ZoneInfo("America/Chicago")
POINTS = [24, 12, 4]


async def _clock(world: World, now: datetime) -> int:
    alerts = await placements.deadline_alerts(world.conn, now, POINTS)
    return await notify.occasions.deadline_alerts(world.conn, alerts, now=now, zone=CHICAGO)


async def test_the_liaison_gets_one_email_and_one_alert_when_the_deadline_passes(
    world: World, mailbox: Mailbox, pool: Any
) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    placement = await world.create(detention_start=start.isoformat())
    deadline = start + timedelta(hours=96)
    liaison = world.ids["user_liaison"]
    email = await world.conn.fetchval("SELECT email FROM users WHERE id = $1", liaison)

    assert await _clock(world, deadline - timedelta(minutes=1)) == 6  # 3 points x 2 channels
    await notify.dispatch_due(pool, config(mailbox.url), now=deadline - timedelta(minutes=1))
    mailbox.received.clear()
    before = await outbox.head(world.conn)

    passed = deadline + timedelta(minutes=1)
    assert await _clock(world, passed) == 2
    assert await _clock(world, passed + timedelta(minutes=5)) == 0  # the next run
    result = await notify.dispatch_due(pool, config(mailbox.url), now=passed)
    assert result == notify.Dispatched(sent=2)
    await notify.dispatch_due(pool, config(mailbox.url), now=passed + timedelta(minutes=6))

    reference = placement["reference"]
    (mail,) = mailbox.messages()
    assert mail["To"] == email
    assert mail["Subject"] == f"Legal deadline passed for {reference}"
    assert f"/login?next=/placements/{placement['id']}" in mail.get_content()
    frames = [c.payload for c in await outbox.since(world.conn, before)]
    alerts = [f for f in frames if f.get("kind") == "alert"]
    assert [(a["user_id"], a["event"], a["reference"]) for a in alerts] == [
        (liaison, "deadline_passed", reference)
    ]
    assert await notify.unacknowledged(world.conn, world.ids["user_liaison2"]) == []
    outgoing = [raw for _, raw in mailbox.received] + [repr(alerts).encode()]
    outgoing += [
        r["m"].encode() for r in await world.conn.fetch("SELECT message::text AS m FROM deliveries")
    ]
    for data in outgoing:
        assert CANARY.encode() not in data
        assert b"Agitated" not in data


async def test_each_point_before_the_deadline_is_sent_once(world: World) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    placement = await world.create(detention_start=start.isoformat())
    deadline = start + timedelta(hours=96)
    assert await _clock(world, deadline - timedelta(hours=25)) == 0
    assert await _clock(world, deadline - timedelta(hours=24)) == 2
    assert await _clock(world, deadline - timedelta(hours=23)) == 0
    rows = await world.conn.fetch(
        "SELECT event, channel, user_id, message->>'subject' AS subject FROM deliveries"
    )
    assert sorted((r["event"], r["channel"], r["user_id"]) for r in rows) == [
        ("deadline_approaching", "email", world.ids["user_liaison"]),
        ("deadline_approaching", "in_app", world.ids["user_liaison"]),
    ]
    assert rows[0]["subject"] == f"24 hours to the legal deadline of {placement['reference']}"


async def test_a_hold_that_runs_out_tells_the_liaison_once(world: World, pool: Any) -> None:
    placement = await world.create()
    (ref,) = await world.refer(placement["id"], "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    expires = await world.conn.fetchval("SELECT hold_expires_at FROM referrals WHERE id = $1", ref)
    made = 0
    for later in (timedelta(seconds=1), timedelta(minutes=1)):
        now = expires + later
        expired = await placements.expired_holds(world.conn, now)
        made += await notify.occasions.holds_expired(world.conn, expired, now=now, zone=CHICAGO)
    assert made == 1
    await notify.dispatch_due(
        pool, config(None, max_attempts=1), now=expires + timedelta(minutes=2)
    )
    (alert,) = await notify.unacknowledged(world.conn, world.ids["user_liaison"])
    assert alert.reference == placement["reference"]
    assert alert.event == notify.Event.HOLD_EXPIRED
    assert "released" in alert.subject


async def _accepted_hold(world: World) -> tuple[dict[str, Any], int, datetime]:
    placement = await world.create()
    (ref,) = await world.refer(placement["id"], "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    expires = await world.conn.fetchval("SELECT hold_expires_at FROM referrals WHERE id = $1", ref)
    return placement, ref, expires


async def _warn(world: World, now: datetime) -> int:
    expiring = await placements.holds_expiring(world.conn, now, timedelta(minutes=30))
    return await notify.occasions.holds_expiring(world.conn, expiring, now=now, zone=CHICAGO)


async def test_the_liaison_is_warned_once_thirty_minutes_before_a_hold_runs_out(
    world: World, pool: Any
) -> None:
    placement, _, expires = await _accepted_hold(world)
    assert await _warn(world, expires - timedelta(minutes=31)) == 0
    assert await _warn(world, expires - timedelta(minutes=30)) == 1  # in-app
    for before in (29, 10, 1):  # the clock runs every 30 s: the same hold, no second warning
        assert await _warn(world, expires - timedelta(minutes=before)) == 0
    await notify.dispatch_due(
        pool, config(None, max_attempts=1), now=expires - timedelta(minutes=29)
    )
    (alert,) = await notify.unacknowledged(world.conn, world.ids["user_liaison"])
    assert alert.event == notify.Event.HOLD_EXPIRING
    assert alert.subject == (
        f"Hold on Adult Acute for {placement['reference']} ends at "
        f"{localtime.format_time(expires, CHICAGO)}"
    )
    assert alert.link_path == f"/placements/{placement['id']}"
    assert await notify.unacknowledged(world.conn, world.ids["user_liaison2"]) == []


async def test_a_hold_that_runs_out_after_its_warning_sends_its_own_notice_once(
    world: World, pool: Any
) -> None:
    placement, _, expires = await _accepted_hold(world)
    assert await _warn(world, expires - timedelta(minutes=30)) == 1
    made = 0
    for later in (timedelta(seconds=1), timedelta(minutes=1)):
        now = expires + later
        made += await notify.occasions.holds_expired(
            world.conn, await placements.expired_holds(world.conn, now), now=now, zone=CHICAGO
        )
        assert await _warn(world, now) == 0  # released: nothing left to warn of
    assert made == 1
    await notify.dispatch_due(
        pool, config(None, max_attempts=1), now=expires + timedelta(minutes=2)
    )
    alerts = await notify.unacknowledged(world.conn, world.ids["user_liaison"])
    assert [(a.event, a.reference) for a in alerts] == [
        (notify.Event.HOLD_EXPIRED, placement["reference"]),  # newest first
        (notify.Event.HOLD_EXPIRING, placement["reference"]),
    ]
    assert alerts[0].subject == f"Hold on Adult Acute released for {placement['reference']}"


async def test_a_hold_in_transit_is_not_warned(world: World) -> None:
    placement, _, expires = await _accepted_hold(world)
    resp = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{placement['id']}/transition",
        json={"to": "in_transit"},
    )
    assert resp.status == 200, await resp.text()
    assert await _warn(world, expires - timedelta(minutes=5)) == 0


async def test_the_scheduled_clock_warns_of_a_hold_once(
    world: World, pool: Any, settings: Any
) -> None:
    placement, ref, _ = await _accepted_hold(world)
    assert settings.hold_warning_minutes == 30
    await world.conn.execute(
        "UPDATE referrals SET hold_expires_at = now() + interval '10 minutes' WHERE id = $1", ref
    )
    await scheduler.placement_clock(pool, settings)
    await scheduler.placement_clock(pool, settings)
    rows = await world.conn.fetch(
        "SELECT event, channel, user_id FROM deliveries WHERE message->>'reference' = $1",
        placement["reference"],
    )
    assert [(r["event"], r["channel"], r["user_id"]) for r in rows] == [
        ("hold_expiring", "in_app", world.ids["user_liaison"])
    ]


async def test_the_scheduled_clock_enqueues_a_passed_deadline_once(
    world: World, pool: Any, settings: Any
) -> None:
    start = datetime.now(UTC) - timedelta(hours=97)
    placement = await world.create(detention_start=start.isoformat())
    await scheduler.placement_clock(pool, settings)
    await scheduler.placement_clock(pool, settings)
    rows = await world.conn.fetch(
        "SELECT event, channel, user_id FROM deliveries WHERE message->>'reference' = $1",
        placement["reference"],
    )
    assert sorted((r["event"], r["channel"]) for r in rows) == [
        ("deadline_passed", "email"),
        ("deadline_passed", "in_app"),
    ]
    assert {r["user_id"] for r in rows} == {world.ids["user_liaison"]}
