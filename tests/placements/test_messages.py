"""A referral's message thread: the liaisons and the referred facility write to each other;
the text stays in the thread (never a log, the audit trail, the outbox or a notification)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bedboard import notify, outbox
from bedboard.auth import Role
from tests.conftest import Session, login
from tests.placements.conftest import CANARY, World
from tests.placements.test_live_topics import frames, subscribe

CHICAGO = ZoneInfo("America/Chicago")
ASK = f"Is there a medical clearance yet? {CANARY}-ask"
REPLY = f"Yes, labs were normal this morning. {CANARY}-reply"


async def _referred(world: World) -> tuple[dict[str, Any], int]:
    placement = await world.create()
    (rid,) = await world.refer(placement["id"], "a1")
    return placement, rid


async def _send(world: World, who: str, rid: int, body: Any) -> Any:
    return await world.call(who, "POST", f"/api/v1/referrals/{rid}/messages", json={"body": body})


async def _thread(world: World, who: str, rid: int) -> Any:
    return await world.call(who, "GET", f"/api/v1/referrals/{rid}/messages")


async def test_the_liaison_and_the_facility_write_to_each_other_oldest_first(
    world: World,
) -> None:
    _, rid = await _referred(world)
    first = await _send(world, "facility_a", rid, ASK)
    assert first.status == 201, await first.text()
    asked = await first.json()
    assert asked["side"] == "facility" and asked["body"] == ASK
    second = await _send(world, "liaison", rid, REPLY)
    assert second.status == 201, await second.text()

    for who in ("liaison", "facility_a", "admin"):
        resp = await _thread(world, who, rid)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert body["referral_id"] == rid
        items = body["items"]
        assert [(m["side"], m["body"]) for m in items] == [("facility", ASK), ("liaison", REPLY)]
        assert [m["sent_by"] for m in items] == [
            world.ids["user_facility_a"],
            world.ids["user_liaison"],
        ]
        assert all(m["sender_name"] for m in items)
        offsets = {datetime.fromisoformat(m["sent_at"]).utcoffset() for m in items}
        assert offsets == {timedelta(0)}
    # By the time sent, not the order of the ids.
    await world.conn.execute(
        "UPDATE referral_messages SET sent_at = sent_at + interval '1 hour' WHERE id = $1",
        asked["id"],
    )
    items = (await (await _thread(world, "liaison", rid)).json())["items"]
    assert [m["side"] for m in items] == ["liaison", "facility"]


@pytest.mark.parametrize(
    ("body", "stored"),
    [("  Any news?  \n", "Any news?"), ("x" * 4000, "x" * 4000), (" y" + " " * 10, "y")],
)
async def test_a_message_is_trimmed_and_kept(world: World, body: str, stored: str) -> None:
    _, rid = await _referred(world)
    resp = await _send(world, "liaison", rid, body)
    assert resp.status == 201, await resp.text()
    assert await world.conn.fetchval("SELECT body FROM referral_messages") == stored


@pytest.mark.parametrize("body", ["", "   \n\t ", "x" * 4001, None, 12])
async def test_an_empty_or_too_long_message_is_refused_with_a_422(world: World, body: Any) -> None:
    _, rid = await _referred(world)
    resp = await _send(world, "facility_a", rid, body)
    assert resp.status == 422, await resp.text()
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert any(e.get("field") == "body" for e in problem.get("errors", [])), problem
    assert await world.conn.fetchval("SELECT count(*) FROM referral_messages") == 0


async def test_a_withdrawn_or_declined_referral_takes_no_message(world: World) -> None:
    placement, rid = await _referred(world)
    (other,) = await world.refer(placement["id"], "b1")
    withdrawn = await world.call("liaison", "POST", f"/api/v1/referrals/{rid}/withdraw")
    assert withdrawn.status == 200, await withdrawn.text()
    declined = await world.call(
        "facility_b", "POST", f"/api/v1/referrals/{other}/decline", json={"reason": "no_bed"}
    )
    assert declined.status == 200, await declined.text()
    for who, referral in (("liaison", rid), ("facility_a", rid), ("facility_b", other)):
        resp = await _send(world, who, referral, f"Still there? {CANARY}")
        assert resp.status == 409, await resp.text()
        assert resp.content_type == "application/problem+json"
        problem = await resp.json()
        assert "closed to new messages" in problem["detail"]
        assert CANARY not in json.dumps(problem)
    # The thread still reads.
    assert (await _thread(world, "facility_a", rid)).status == 200
    assert await world.conn.fetchval("SELECT count(*) FROM referral_messages") == 0


async def test_messages_go_on_while_the_bed_is_held_and_after_admission_not_after_closing(
    world: World,
) -> None:
    placement, rid = await _referred(world)
    pid = placement["id"]
    assert (await world.call("facility_a", "POST", f"/api/v1/referrals/{rid}/accept")).status == 200
    assert (await _send(world, "facility_a", rid, "Bed ready at 3.")).status == 201
    for to in ("in_transit", "admitted"):
        moved = await world.call(
            "liaison", "POST", f"/api/v1/placements/{pid}/transition", json={"to": to}
        )
        assert moved.status == 200, await moved.text()
        assert (await _send(world, "liaison", rid, f"Now {to}.")).status == 201
    discharged = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{pid}/transition",
        json={"to": "discharged", "disposition": "home_outpatient"},
    )
    assert discharged.status == 200, await discharged.text()
    resp = await _send(world, "facility_a", rid, "One more thing.")
    assert resp.status == 409, await resp.text()
    assert "placement is discharged" in (await resp.json())["detail"]
    assert await world.conn.fetchval("SELECT count(*) FROM referral_messages") == 3


async def test_another_facility_never_sees_the_thread_nor_that_it_exists(world: World) -> None:
    _, rid = await _referred(world)
    assert (await _send(world, "facility_a", rid, ASK)).status == 201
    for method in ("GET", "POST"):
        resp = await world.call(
            "facility_b", method, f"/api/v1/referrals/{rid}/messages", json={"body": "hi"}
        )
        assert resp.status == 404, await resp.text()
        missing = await world.call(
            "facility_b", method, "/api/v1/referrals/999999/messages", json={"body": "hi"}
        )
        assert missing.status == 404
        assert (await resp.json())["detail"] == (await missing.json())["detail"]
        assert CANARY not in await resp.text()


async def test_the_timeline_audit_and_outbox_carry_ids_only(world: World) -> None:
    placement, rid = await _referred(world)
    before = await outbox.head(world.conn)
    resp = await _send(world, "facility_a", rid, ASK)
    message_id = (await resp.json())["id"]

    (event,) = await world.conn.fetch(
        "SELECT kind, data FROM placement_events WHERE kind = 'referral_message'"
    )
    assert event["data"] == {
        "referral_id": rid,
        "unit_id": world.ids["a1"],
        "facility_id": world.ids["facility_a"],
        "message_id": message_id,
        "side": "facility",
    }
    (audit,) = await world.conn.fetch(
        "SELECT object_type, object_id, detail FROM audit_log WHERE action = 'referral.message'"
    )
    assert audit["object_type"] == "referral" and audit["object_id"] == str(rid)
    assert audit["detail"] == {
        "placement_id": placement["id"],
        "message_id": message_id,
        "side": "facility",
    }
    changes = await outbox.since(world.conn, before)
    assert [(c.topic, c.payload.get("event")) for c in changes] == [
        ("placements", "referral_message"),
        ("referrals", "referral_message"),
    ]
    referral = changes[1].payload
    assert referral["referral_id"] == rid and referral["message_id"] == message_id
    assert referral["side"] == "facility" and referral["facility_id"] == world.ids["facility_a"]
    # The court hears nothing of it.
    assert "court" not in {c.topic for c in changes}

    # Reading it is audited too, with a count.
    assert (await _thread(world, "liaison", rid)).status == 200
    read = await world.conn.fetchval(
        "SELECT detail FROM audit_log WHERE action = 'referral_message.read'"
    )
    assert read == {"count": 1}

    everything = [json.dumps(c.payload) for c in changes]
    everything += [
        json.dumps(dict(r)) for r in await world.conn.fetch("SELECT action, detail FROM audit_log")
    ]
    everything += [
        json.dumps(r["data"]) for r in await world.conn.fetch("SELECT data FROM placement_events")
    ]
    for text in everything:
        assert CANARY not in text and "medical clearance" not in text


async def test_a_facility_message_reaches_the_liaison_without_its_text(world: World) -> None:
    placement, rid = await _referred(world)
    assert (await _send(world, "facility_a", rid, ASK)).status == 201
    now = await world.conn.fetchval("SELECT now()")
    done = await notify.fan_in(world.conn, now=now, zone=CHICAGO)
    assert done is not None
    rows = await world.conn.fetch(
        "SELECT user_id, contact_id, channel, message FROM deliveries WHERE event = $1",
        "referral_message",
    )
    assert [(r["user_id"], r["channel"]) for r in rows] == [(world.ids["user_liaison"], "in_app")]
    message = rows[0]["message"]
    reference = placement["reference"]
    assert message["subject"] == (
        f"New message on referral to Hillcrest Behavioral for placement {reference}"
    )
    assert message["link_path"] == f"/placements/{placement['id']}"
    assert CANARY not in json.dumps(message) and "clearance" not in json.dumps(message)
    # Fanned in once: a second run enqueues nothing more.
    again = await notify.fan_in(world.conn, now=now, zone=CHICAGO)
    assert again is not None and again.deliveries == 0


async def test_a_liaison_message_reaches_that_facility_only_without_its_text(
    world: World,
) -> None:
    await notify.set_intake_contact(
        world.conn, world.ids["facility_a"], email="intake-a@example.org", phone=""
    )
    await notify.set_intake_contact(
        world.conn, world.ids["facility_b"], email="intake-b@example.org", phone=""
    )
    placement, rid = await _referred(world)
    await world.refer(placement["id"], "b1")
    now = await world.conn.fetchval("SELECT now()")
    await notify.fan_in(world.conn, now=now, zone=CHICAGO)  # the referrals' own arrivals
    assert (await _send(world, "liaison", rid, REPLY)).status == 201
    await notify.fan_in(world.conn, now=now, zone=CHICAGO)
    rows = await world.conn.fetch(
        "SELECT d.user_id, d.address, d.channel, d.message FROM deliveries d"
        " WHERE d.event = 'referral_message' ORDER BY d.id"
    )
    got = sorted((r["user_id"] or 0, r["address"], r["channel"]) for r in rows)
    facility_user = world.ids["user_facility_a"]
    email = await world.conn.fetchval("SELECT email FROM users WHERE id = $1", facility_user)
    assert got == sorted(
        [
            (0, "intake-a@example.org", "email"),
            (facility_user, "", "in_app"),
            (facility_user, email, "email"),
        ]
    )
    for r in rows:
        assert r["message"]["link_path"] == "/referrals"
        assert "Hillcrest Behavioral" in r["message"]["subject"]
        assert CANARY not in json.dumps(r["message"])


async def test_the_other_facility_hears_no_live_frame_of_the_thread(world: World) -> None:
    _, rid = await _referred(world)
    sockets = {
        who: await subscribe(world, who, ["referrals"]) for who in ("facility_a", "facility_b")
    }
    assert (await _send(world, "liaison", rid, REPLY)).status == 201
    got = {who: await frames(ws) for who, ws in sockets.items()}
    for ws in sockets.values():
        await ws.close()
    assert [f["data"].get("event") for f in got["facility_a"]] == ["referral_message"]
    assert got["facility_b"] == []
    assert CANARY not in json.dumps(got["facility_a"])


async def test_no_log_line_carries_a_messages_text(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, rid = await _referred(world)
    answers = [
        await _send(world, "facility_a", rid, ASK),
        await _send(world, "liaison", rid, "x" * 4001 + CANARY),
        await _send(world, "facility_b", rid, ASK),
        await _thread(world, "liaison", rid),
    ]
    assert [a.status for a in answers] == [201, 422, 404, 200]
    assert CANARY not in caplog.text
    assert CANARY not in json.dumps(await answers[1].json())


# --------------------------------------------------------------------------- the pages


async def _as(client: Any, make_user: Any, role: Role, **scope: Any) -> Session:
    client.session.cookie_jar.clear()
    user = await make_user(role, **scope)
    return await login(client, user.email)


async def test_the_thread_on_the_placement_page_and_the_facilitys_referrals(
    world: World, client: Any, make_user: Any
) -> None:
    placement, rid = await _referred(world)
    pid = placement["id"]
    liaison = await _as(client, make_user, Role.LIAISON)
    empty = await client.post(
        f"/referrals/{rid}/messages", data={"csrf_token": liaison.csrf, "body": "   "}
    )
    html = await empty.text()
    assert f'id="message-{rid}-error"' in html and "Write the message" in html
    resp = await client.post(
        f"/referrals/{rid}/messages", data={"csrf_token": liaison.csrf, "body": REPLY}
    )
    page = await resp.text()
    assert str(resp.url.path) == f"/placements/{pid}"
    assert "Message sent." in page and REPLY in page
    assert "Message from the liaison" in page  # the timeline, without the text
    live = await (await client.get(f"/placements/{pid}/live")).text()
    assert REPLY in live

    facility = await _as(client, make_user, Role.FACILITY, facility_ids=[world.ids["facility_a"]])
    html = await (await client.get("/referrals")).text()
    assert REPLY in html and f'id="message-{rid}"' in html
    resp = await client.post(
        f"/referrals/{rid}/messages", data={"csrf_token": facility.csrf, "body": ASK}
    )
    assert str(resp.url.path) == "/referrals"
    html = await resp.text()
    assert ASK in html and REPLY in html

    other_facility = await _as(
        client, make_user, Role.FACILITY, facility_ids=[world.ids["facility_b"]]
    )
    other = await (await client.get("/referrals")).text()
    assert REPLY not in other and ASK not in other
    refused = await client.post(
        f"/referrals/{rid}/messages",
        data={"csrf_token": other_facility.csrf, "body": "hi"},
        allow_redirects=False,
    )
    assert refused.status == 404
    assert await world.conn.fetchval("SELECT count(*) FROM referral_messages") == 2


async def test_the_demo_has_an_open_referral_with_a_short_fictional_thread(
    conn: Any, tmp_path: Any
) -> None:
    from bedboard import demo

    await demo.ensure_demo(conn, tmp_path)
    rows = await conn.fetch(
        "SELECT m.side, m.body, m.sent_at, p.status, e.at FROM referral_messages m"
        " JOIN referrals r ON r.id = m.referral_id JOIN placements p ON p.id = r.placement_id"
        " JOIN placement_events e ON e.kind = 'referral_message'"
        " AND (e.data->>'message_id')::bigint = m.id ORDER BY m.sent_at, m.id"
    )
    assert [(r["side"], r["status"]) for r in rows] == [
        ("facility", "open"),
        ("liaison", "open"),
    ]
    assert all("fictional" in r["body"] for r in rows)
    assert "medical clearance" in rows[0]["body"]
    # Dated as its timeline event, once the demo's history was spread.
    assert all(r["sent_at"] == r["at"] for r in rows)
