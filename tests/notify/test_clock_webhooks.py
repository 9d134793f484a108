"""The clocks' messages reach the webhooks that list their event, signed (a real HTTP
receiver verifies each with standardwebhooks): program-wide endpoints get them all, a
facility's endpoint only those about that facility, and a census nudge's webhook never
carries the one-time link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bedboard import notify, nudges, placements
from bedboard.notify import Event, occasions
from bedboard.placements import escalation
from tests.notify.conftest import CANARY, Mailbox, Receiver, World, config

CHICAGO = ZoneInfo("America/Chicago")
CLOCK_EVENTS = [
    Event.DEADLINE_APPROACHING,
    Event.DEADLINE_PASSED,
    Event.HOLD_EXPIRING,
    Event.HOLD_EXPIRED,
    Event.ESCALATION,
    Event.REFERRAL_UNANSWERED,
    Event.CENSUS_NUDGE,
]


async def _endpoints(world: World, receiver: Receiver) -> None:
    for path, facility in (("/program", None), ("/a", "facility_a"), ("/b", "facility_b")):
        endpoint = await notify.create_endpoint(
            world.conn,
            url=receiver.url + path,
            events=CLOCK_EVENTS,
            facility_id=world.ids[facility] if facility else None,
            by=None,
        )
        receiver.secrets_by_path[path] = endpoint.secret


async def _dispatch_all(pool: Any, mailbox: Mailbox, now: datetime) -> None:
    while (await notify.dispatch_due(pool, config(mailbox.url), now=now)).sent:
        pass


async def test_every_clock_message_reaches_the_webhooks_that_list_its_event(
    world: World, receiver: Receiver, mailbox: Mailbox, pool: Any
) -> None:
    await _endpoints(world, receiver)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    deadline = start + timedelta(hours=96)
    # A placement referred to facility_b, unanswered past the target; then its deadline.
    waiting = await world.create(detention_start=start.isoformat())
    (unanswered,) = await world.refer(waiting["id"], "b1")
    sent = await world.conn.fetchval("SELECT created_at FROM referrals WHERE id = $1", unanswered)
    nudged = sent + timedelta(minutes=31)
    due = await placements.due_response_nudges(world.conn, nudged)
    await occasions.unanswered_referrals(world.conn, due, now=nudged, zone=CHICAGO)
    # A placement whose bed at facility_a is held, warned of, then released.
    held = await world.create()
    (ref,) = await world.refer(held["id"], "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    expires = await world.conn.fetchval("SELECT hold_expires_at FROM referrals WHERE id = $1", ref)
    warn_at = expires - timedelta(minutes=30)
    soon = await placements.holds_expiring(world.conn, warn_at, timedelta(minutes=30))
    await occasions.holds_expiring(world.conn, soon, now=warn_at, zone=CHICAGO)
    gone_at = expires + timedelta(seconds=1)
    gone = await placements.expired_holds(world.conn, gone_at)
    await occasions.holds_expired(world.conn, gone, now=gone_at, zone=CHICAGO)
    # The waiting placement's ladder and deadline points.
    rung_at = deadline - timedelta(hours=24)
    raised = await escalation.run(world.conn, rung_at)
    await occasions.escalations(world.conn, raised, now=rung_at, zone=CHICAGO, on_call_email=None)
    passed = deadline + timedelta(minutes=1)
    alerts = await placements.deadline_alerts(world.conn, passed, [24])
    await occasions.deadline_alerts(world.conn, alerts, now=passed, zone=CHICAGO)
    # facility_b's late census.
    late = nudges.Due(
        facility_id=world.ids["facility_b"],
        facility_name="Lakeside Psychiatric",
        url="https://bedboard.example.org/n/secret.ONE-time_token",
        attempt=1,
        expires_at=passed + timedelta(minutes=30),
    )
    await occasions.census_nudges(world.conn, [late], now=passed, zone=CHICAGO)

    await _dispatch_all(pool, mailbox, passed + timedelta(minutes=1))
    assert len(receiver.requests) == len(receiver.verified)  # every signature verified
    # Sent: the receiver verified the signature with that path's secret and answered 200.
    by_path: dict[str, list[str]] = {}
    rows = await world.conn.fetch(
        "SELECT d.event, e.url FROM deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id"
        " WHERE d.channel = 'webhook' AND d.status = 'sent' ORDER BY d.id"
    )
    for r in rows:
        by_path.setdefault(r["url"].removeprefix(receiver.url), []).append(r["event"])
    # (both placements reach the ladder and their deadline points by then)
    assert set(by_path["/program"]) == {e.value for e in CLOCK_EVENTS}
    assert sorted(by_path["/a"]) == ["hold_expired", "hold_expiring"]  # its hold only
    assert sorted(by_path["/b"]) == ["census_nudge", "referral_unanswered"]
    assert sorted(v["type"] for v in receiver.verified) == sorted(
        f"bedboard.{e}" for path in by_path.values() for e in path
    )
    census = [v for v in receiver.verified if v["type"] == "bedboard.census_nudge"]
    assert [c["data"]["link"] for c in census] == [
        "https://bedboard.example.org/login?next=/census"
    ] * 2
    warning = next(v for v in receiver.verified if v["type"] == "bedboard.hold_expiring")
    assert warning["data"]["reference"] == held["reference"]
    assert warning["data"]["facility"] == "Hillcrest Behavioral"
    for _, body in receiver.requests:
        assert b"secret.ONE-time_token" not in body
        assert CANARY.encode() not in body and b"Agitated" not in body
