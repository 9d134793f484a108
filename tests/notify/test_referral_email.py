"""A referral sent reaches the receiving facility by email, through a real SMTP server on
loopback; the liaison hears of the answer in-app. No clinical or personal text leaves."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bedboard import notify, outbox, scheduler
from tests.notify.conftest import CANARY, Mailbox, World, config, db_now

CHICAGO = ZoneInfo("America/Chicago")
INTAKE = "intake-a@example.org"


async def _refer(world: World) -> tuple[dict[str, Any], int]:
    await notify.set_intake_contact(
        world.conn, world.ids["facility_a"], email=INTAKE, phone="573-555-0199"
    )
    placement = await world.create()
    (ref,) = await world.refer(placement["id"], "a1")
    return placement, ref


async def test_a_referral_sent_mails_the_facilitys_intake_desk_and_its_users(
    world: World, mailbox: Mailbox, pool: Any
) -> None:
    placement, _ = await _refer(world)
    now = await db_now(world.conn)
    done = await notify.fan_in(world.conn, now=now, zone=CHICAGO)
    assert done is not None and done.deliveries == 2  # intake desk + facility_a's user
    sent = await notify.dispatch_due(pool, config(mailbox.url), now=now)
    assert sent == notify.Dispatched(sent=2)
    facility_user = await world.conn.fetchval(
        "SELECT email FROM users WHERE id = $1", world.ids["user_facility_a"]
    )
    assert sorted(to for tos, _ in mailbox.received for to in tos) == sorted(
        [INTAKE, facility_user]
    )
    mail = next(m for m in mailbox.messages() if m["To"] == INTAKE)
    reference = placement["reference"]
    assert mail["From"] == "bedboard@example.org"
    assert mail["Subject"] == f"New referral {reference} for Adult Acute"
    assert mail["Message-ID"].startswith("<delivery-")
    assert mail["X-Bedboard-Reference"] == reference
    body = mail.get_content()
    assert reference in body
    assert "Hillcrest Behavioral" in body
    assert "https://bedboard.example.org/login?next=/referrals" in body


async def test_no_channel_carries_clinical_or_personal_text(
    world: World, mailbox: Mailbox, pool: Any, receiver: Any
) -> None:
    """The canary of the placement's clinical notes, its initials and age appear in no
    email (the facility's, the court clerk's), no webhook and no in-app frame."""
    clerk = "clerk@boone.example.org"
    await world.conn.execute(
        "UPDATE courts SET clerk_email = $2 WHERE id = $1", world.ids["court"], clerk
    )
    endpoint = await notify.create_endpoint(
        world.conn,
        url=receiver.url + "/hook",
        events=list(notify.Event),
        facility_id=None,
        by=None,
    )
    receiver.secret = endpoint.secret
    _, ref = await _refer(world)
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    now = await db_now(world.conn)
    before = await outbox.head(world.conn)
    await notify.fan_in(world.conn, now=now, zone=CHICAGO)
    result = await notify.dispatch_due(pool, config(mailbox.url), now=now)
    assert result.sent >= 4 and result.retried == result.dead == 0
    frames = [c.payload for c in await outbox.since(world.conn, before)]
    alerts = [f for f in frames if f.get("kind") == "alert"]
    assert len(alerts) == 1  # the liaison's in-app "accepted"
    assert clerk in [to for tos, _ in mailbox.received for to in tos]  # the court's news
    outgoing = [raw for _, raw in mailbox.received] + [body for _, body in receiver.requests]
    outgoing.append(repr(alerts).encode())
    # arrived, answered and the court's update, each signed correctly
    assert sorted(v["type"] for v in receiver.verified) == [
        "bedboard.court_update",
        "bedboard.referral_answered",
        "bedboard.referral_arrived",
    ]
    rows = await world.conn.fetch("SELECT message::text AS m FROM deliveries")
    outgoing += [r["m"].encode() for r in rows]
    for data in outgoing:
        assert CANARY.encode() not in data
        assert b"Agitated" not in data
        assert b'"jd"' not in data and b"initials" not in data


async def test_the_liaison_hears_of_an_answer_in_app_and_only_they_do(
    world: World, pool: Any
) -> None:
    placement, ref = await _refer(world)
    resp = await world.call(
        "facility_a",
        "POST",
        f"/api/v1/referrals/{ref}/decline",
        json={"reason": "no_bed"},
    )
    assert resp.status == 200, await resp.text()
    now = await db_now(world.conn)
    await notify.fan_in(world.conn, now=now, zone=CHICAGO)
    rows = await world.conn.fetch("SELECT event, channel, user_id FROM deliveries ORDER BY id")
    answered = [r for r in rows if r["event"] == "referral_answered"]
    assert [(r["channel"], r["user_id"]) for r in answered] == [
        ("in_app", world.ids["user_liaison"])
    ]
    before = await outbox.head(world.conn)
    await notify.dispatch_due(pool, config(None, max_attempts=1), now=now)
    alerts = await notify.unacknowledged(world.conn, world.ids["user_liaison"])
    assert [a.reference for a in alerts] == [placement["reference"]]
    assert "declined" in alerts[0].subject
    assert await notify.unacknowledged(world.conn, world.ids["user_liaison2"]) == []
    (frame,) = [c for c in await outbox.since(world.conn, before) if c.topic == outbox.ALERTS]
    assert set(frame.payload) == {
        "kind",
        "delivery_id",
        "user_id",
        "event",
        "reference",
        "critical",
    }


async def test_fan_in_twice_enqueues_nothing_more(world: World) -> None:
    await _refer(world)
    now = await db_now(world.conn)
    first = await notify.fan_in(world.conn, now=now, zone=CHICAGO)
    assert first is not None and first.deliveries == 2
    # The cursor moved: a second run reads nothing; replaying the same rows makes nothing.
    second = await notify.fan_in(world.conn, now=now, zone=CHICAGO)
    assert second is not None and (second.changes, second.deliveries) == (0, 0)
    await world.conn.execute("UPDATE notify_cursor SET seq = 0")
    again = await notify.fan_in(world.conn, now=now + timedelta(minutes=1), zone=CHICAGO)
    assert again is not None and again.changes > 0 and again.deliveries == 0
    assert await world.conn.fetchval("SELECT count(*) FROM deliveries") == 2


async def test_the_scheduled_jobs_carry_a_referral_to_the_mailbox(
    world: World, mailbox: Mailbox, pool: Any, settings: Any, caplog: Any
) -> None:
    """The wiring: the scheduler's fan-in and dispatch jobs, with the settings' SMTP URL."""
    caplog.set_level(logging.DEBUG)
    placement, _ = await _refer(world)
    configured = settings.model_copy(update={"smtp_url": mailbox.url})
    assert {j.id for j in scheduler.build(pool, configured).get_jobs()} >= {
        "notify-fan-in",
        "notify-dispatch",
    }
    off = settings.model_copy(update={"notify_enabled": False})
    assert not {j.id for j in scheduler.build(pool, off).get_jobs()} & {"notify-fan-in"}
    await scheduler.notify_fan_in(pool, configured)
    await scheduler.notify_dispatch(pool, configured)
    assert INTAKE in [to for tos, _ in mailbox.received for to in tos]
    assert all(placement["reference"].encode() in raw for _, raw in mailbox.received)
    assert CANARY not in caplog.text
