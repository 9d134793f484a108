"""The clocks' occasions reach people: an escalation rung goes to its audiences, a
referral past its response target to the facility, a late census to the facility with
its one-time link; each once, and never with clinical or personal text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bedboard import nudges, placements
from bedboard.auth import Role
from bedboard.notify import occasions, set_intake_contact
from bedboard.notify.dispatch import Config, email_of
from bedboard.notify.models import Message
from bedboard.placements import escalation
from tests.placements.conftest import CANARY, World

ZONE = ZoneInfo("America/Chicago")
H = timedelta(hours=1)


async def _deliveries(conn: Any, event: str) -> list[Any]:
    return list(
        await conn.fetch(
            "SELECT channel, user_id, contact_id, address, message FROM deliveries"
            " WHERE event = $1 ORDER BY id",
            event,
        )
    )


def _clean(rows: list[Any]) -> None:
    for r in rows:
        text = json.dumps(r["message"]) if not isinstance(r["message"], str) else r["message"]
        assert CANARY not in text and "JD" not in text and "Agitated" not in text


async def test_escalation_rungs_reach_their_audiences_once(
    world: World, conn: Any, make_user: Any
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - H
    placement = await world.create(detention_start=start.isoformat())
    await conn.execute(
        "UPDATE placements SET liaison_id = $2 WHERE id = $1",
        placement["id"],
        world.ids["user_liaison"],
    )
    deadline = start + 96 * H
    # T-24: the supervisor rung; the county is in no region, so to the administrators.
    raised = await escalation.run(conn, deadline - 24 * H)
    made = await occasions.escalations(
        conn, raised, now=deadline - 24 * H, zone=ZONE, on_call_email="oncall@state.example.org"
    )
    rows = await _deliveries(conn, "escalation")
    assert made == len(rows) == 2  # the admin: in-app and email
    assert {(r["channel"], r["user_id"]) for r in rows} == {
        ("in_app", world.ids["user_admin"]),
        ("email", world.ids["user_admin"]),
    }
    # Enqueued again (a job run twice): nothing new.
    assert (
        await occasions.escalations(
            conn, raised, now=deadline - 24 * H, zone=ZONE, on_call_email=None
        )
        == 0
    )
    # T-4 (the rungs before it raised too): the state's on-call by the configured address,
    # the liaison by their preferences.
    later = await escalation.run(conn, deadline - 4 * H)
    await occasions.escalations(
        conn, later, now=deadline - 4 * H, zone=ZONE, on_call_email="oncall@state.example.org"
    )
    rows = await _deliveries(conn, "escalation")
    assert ("email", None, "oncall@state.example.org") in {
        (r["channel"], r["user_id"], r["address"]) for r in rows
    }
    assert world.ids["user_liaison"] in {r["user_id"] for r in rows}
    _clean(rows)
    message = Message.model_validate(rows[0]["message"])
    assert message.reference == placement["reference"]
    assert message.link_path == f"/placements/{placement['id']}"
    # Deadline passed: the court's users, and its clerk's address when it has one.
    await conn.execute(
        "UPDATE courts SET clerk_email = 'clerk@court.example.org'"
        " WHERE id = (SELECT court_id FROM placements WHERE id = $1)",
        placement["id"],
    )
    passed = await escalation.run(conn, deadline + H)
    assert any("court" in rung.audiences for rung in passed)
    await occasions.escalations(conn, passed, now=deadline + H, zone=ZONE, on_call_email=None)
    rows = await _deliveries(conn, "escalation")
    assert ("email", None, "clerk@court.example.org") in {
        (r["channel"], r["user_id"], r["address"]) for r in rows
    }
    _clean(rows)


async def test_a_referral_past_its_response_target_nudges_the_facility(
    world: World, conn: Any
) -> None:
    await set_intake_contact(conn, world.ids["facility_a"], email="intake@a.example.org", phone="")
    placement = await world.create()
    (rid,) = await world.refer(placement["id"], "a1")
    sent = await conn.fetchval("SELECT created_at FROM referrals WHERE id = $1", rid)
    now = sent + timedelta(minutes=61)  # past the 30-minute default target and twice it
    due = await placements.due_response_nudges(conn, now)
    assert [n.referral_id for n in due] == [rid, rid]
    await occasions.unanswered_referrals(conn, due, now=now, zone=ZONE)
    rows = await _deliveries(conn, "referral_unanswered")
    recipients = {(r["channel"], r["user_id"], r["address"]) for r in rows}
    assert ("email", None, "intake@a.example.org") in recipients
    assert sum(1 for r in rows if r["address"] == "intake@a.example.org") == 1  # one, not two
    assert world.ids["user_facility_a"] in {r["user_id"] for r in rows}
    assert world.ids["user_facility_b"] not in {r["user_id"] for r in rows}
    _clean(rows)
    assert "no answer for 61 minutes" in Message.model_validate(rows[0]["message"]).body


async def test_a_late_census_nudge_carries_its_one_time_link_straight_to_the_form(
    world: World, conn: Any
) -> None:
    await set_intake_contact(conn, world.ids["facility_b"], email="beds@b.example.org", phone="")
    now = datetime.now(UTC)
    due = [
        nudges.Due(
            facility_id=world.ids["facility_b"],
            facility_name="Lakeside Psychiatric",
            url="https://beds.example.org/n/abc.DEF-123_x",
            attempt=1,
            expires_at=now + timedelta(minutes=30),
        )
    ]
    assert await occasions.census_nudges(conn, due, now=now, zone=ZONE) >= 1
    assert await occasions.census_nudges(conn, due, now=now, zone=ZONE) == 0
    rows = await _deliveries(conn, "census_nudge")
    email = next(r for r in rows if r["address"] == "beds@b.example.org")
    message = Message.model_validate(email["message"])
    assert message.direct_link and message.link_path == "/n/abc.DEF-123_x"
    config = Config(
        smtp_url=None,
        mail_from="b@x.example.org",
        max_attempts=3,
        base_url="https://beds.example.org",
    )
    mail = email_of(config, 1, message, "beds@b.example.org", now)
    body = mail.get_content()
    assert "Open: https://beds.example.org/n/abc.DEF-123_x" in body and "/login" not in body
    assert mail["Subject"] == "Lakeside Psychiatric: your bed numbers are late"


async def test_facility_staff_subscribe_to_the_nudges_but_not_to_escalations(
    make_user: Any, conn: Any
) -> None:
    from bedboard.notify import events_for

    assert "census_nudge" in events_for(Role.FACILITY)
    assert "escalation" not in events_for(Role.FACILITY)
    assert "escalation" in events_for(Role.LIAISON)
