"""After admission: discharge (only from admitted, once, with a disposition and a time
between the admission and now), follow-up tasks (open → done | cancelled, once), the
outpatient commitment and its default task, and what lists and reports make of a
discharged placement."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bedboard import outbox
from tests.placements.conftest import World

CHICAGO = ZoneInfo("America/Chicago")
# The after-admission texts' canary (the world's own is in the clinical notes, which a
# receiving facility may read).
AFTER = "CANARY-after-9c2d"


async def admitted(world: World, **overrides: Any) -> dict[str, Any]:
    """A placement taken through referral, acceptance and transport to admission."""
    placement = await world.create(**overrides)
    pid = placement["id"]
    (ref,) = await world.refer(pid, "a1")
    assert (await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")).status == 200
    for to in ("in_transit", "admitted"):
        resp = await world.call(
            "liaison", "POST", f"/api/v1/placements/{pid}/transition", json={"to": to}
        )
        assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def discharge(world: World, pid: int, **body: Any) -> Any:
    payload = {"to": "discharged", "disposition": "home_outpatient", **body}
    return await world.call("liaison", "POST", f"/api/v1/placements/{pid}/transition", json=payload)


# --------------------------------------------------------------------------- discharge


async def test_an_admitted_placement_is_discharged_with_a_disposition_a_time_and_a_note(
    world: World,
) -> None:
    placement = await admitted(world)
    pid = placement["id"]
    assert placement["allowed_transitions"] == ["discharged"]
    before = await outbox.head(world.conn)
    resp = await discharge(
        world, pid, disposition="outpatient_commitment", note="To the CMHC on Monday."
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["status"] == "discharged"
    assert body["discharge_disposition"] == "outpatient_commitment"
    assert body["discharge_note"] == "To the CMHC on Monday."
    assert body["admitted_at"] is not None  # kept: the reports count it as admitted
    assert body["admitted_at"] <= body["discharged_at"]
    assert body["allowed_transitions"] == []

    event = await world.conn.fetchrow(
        "SELECT kind, from_state, to_state, data FROM placement_events"
        " WHERE placement_id = $1 ORDER BY id DESC LIMIT 1",
        pid,
    )
    assert (event["kind"], event["from_state"], event["to_state"]) == (
        "transition",
        "admitted",
        "discharged",
    )
    assert event["data"] == {
        "outcome": None,
        "disposition": "outpatient_commitment",
        "has_note": True,
    }
    # The note stays on the placement; not a follow-up note, not in the timeline.
    assert (
        await world.conn.fetchval(
            "SELECT count(*) FROM placement_notes WHERE placement_id = $1", pid
        )
        == 0
    )
    audit = await world.conn.fetchrow(
        "SELECT detail FROM audit_log WHERE action = 'placement.transition'"
        " ORDER BY id DESC LIMIT 1"
    )
    assert audit["detail"] == {
        "to": "discharged",
        "outcome": None,
        "disposition": "outpatient_commitment",
    }
    frames = [(c.topic, c.payload) for c in await outbox.since(world.conn, before)]
    assert [(t, p["status"], p.get("event")) for t, p in frames] == [
        ("placements", "discharged", "discharged"),
        ("court", "discharged", None),
    ]
    # The court sees the status (and where the person was admitted), nothing else.
    court = await world.call("court", "GET", "/api/v1/court/placements?case_number=26P-CV-0042")
    text = await court.text()
    (item,) = (await court.json())["items"]
    assert item["status"] == "discharged" and item["facility_name"] == "Hillcrest Behavioral"
    assert [t["status"] for t in item["timeline"]][-1] == "discharged"
    assert "CMHC" not in text and "outpatient" not in text


async def test_discharge_only_from_admitted_and_only_once(world: World) -> None:
    placement = await world.create()
    pid = placement["id"]
    resp = await discharge(world, pid)
    assert resp.status == 409
    problem = await resp.json()
    assert problem["type"].endswith("illegal-transition")
    assert problem["current"] == "open" and problem["allowed"] == ["closed"]

    admitted_one = await admitted(world, case_number="26P-CV-0043")
    first = await discharge(world, admitted_one["id"])
    assert first.status == 200
    again = await discharge(world, admitted_one["id"], disposition="transfer")
    assert again.status == 409
    problem = await again.json()
    assert problem["current"] == "discharged" and problem["allowed"] == []
    assert "final" in problem["detail"]
    closed = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{admitted_one['id']}/transition",
        json={"to": "closed", "outcome": "other"},
    )
    assert closed.status == 409


async def test_a_discharge_needs_a_disposition_and_a_time_between_admission_and_now(
    world: World,
) -> None:
    placement = await admitted(world)
    pid = placement["id"]
    admitted_at = datetime.fromisoformat(placement["admitted_at"])
    cases = [
        ({"to": "discharged"}, "body"),
        ({"to": "discharged", "disposition": "elsewhere"}, "disposition"),
        ({"to": "admitted", "disposition": "transfer"}, "body"),
        ({"to": "closed", "outcome": "other", "discharged_at": admitted_at.isoformat()}, "body"),
        (
            {
                "to": "discharged",
                "disposition": "transfer",
                "discharged_at": (admitted_at - timedelta(minutes=1)).isoformat(),
            },
            "discharged_at",
        ),
        (
            {
                "to": "discharged",
                "disposition": "transfer",
                "discharged_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            },
            "discharged_at",
        ),
        ({"to": "discharged", "disposition": "transfer", "note": "x" * 2001}, "note"),
    ]
    for body, field in cases:
        resp = await world.call(
            "liaison", "POST", f"/api/v1/placements/{pid}/transition", json=body
        )
        assert resp.status == 422, (body, await resp.text())
        assert resp.content_type == "application/problem+json"
        fields = [e["field"] for e in (await resp.json())["errors"]]
        assert any(f == field or f.startswith(field) for f in fields), (body, fields)
    status = await world.conn.fetchval("SELECT status FROM placements WHERE id = $1", pid)
    assert status == "admitted"
    # A clock a minute or two ahead is not a refusal.
    ahead = datetime.now(UTC) + timedelta(minutes=2)
    resp = await discharge(world, pid, discharged_at=ahead.isoformat())
    assert resp.status == 200, await resp.text()


async def test_a_discharged_placement_is_listed_as_such_and_counted_as_admitted(
    world: World,
) -> None:
    start = datetime.now(UTC) - timedelta(hours=100)  # past the 96-hour deadline now
    placement = await admitted(world, detention_start=start.isoformat())
    pid = placement["id"]
    assert (await discharge(world, pid)).status == 200

    async def ids(query: str) -> list[int]:
        resp = await world.call("liaison", "GET", f"/api/v1/placements?{query}")
        return [p["id"] for p in (await resp.json())["items"]]

    assert await ids("status=discharged") == [pid]
    assert pid not in await ids("status=admitted")
    assert pid not in await ids("active=true")
    assert pid not in await ids("overdue=true")  # no longer under way
    record = await (await world.call("liaison", "GET", f"/api/v1/placements/{pid}")).json()
    assert record["overdue"] is False

    today = datetime.now(CHICAGO).date().isoformat()
    resp = await world.call("liaison", "GET", f"/api/v1/reports/outcomes?from={today}&to={today}")
    (row,) = (await resp.json())["rows"]
    assert (row["requests"], row["admitted"], row["still_open"]) == (1, 1, 0)
    resp = await world.call(
        "liaison", "GET", f"/api/v1/reports/time-to-placement?from={today}&to={today}"
    )
    (row,) = (await resp.json())["rows"]
    assert row["admitted"] == 1 and row["to_admission_median_h"] is not None


# --------------------------------------------------------------------------- follow-up tasks


async def add_task(world: World, pid: int, who: str = "liaison", **body: Any) -> Any:
    payload = {"title": "Call CMHC intake", **body}
    if "due_at" not in payload and "due_on" not in payload:
        payload["due_at"] = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    return await world.call(who, "POST", f"/api/v1/placements/{pid}/follow-ups", json=payload)


async def test_a_task_is_assigned_to_the_placements_liaison_and_done_once(world: World) -> None:
    placement = await admitted(world)
    pid = placement["id"]
    resp = await add_task(world, pid, "admin")
    assert resp.status == 201, await resp.text()
    task = await resp.json()
    assert task["assignee_id"] == world.ids["user_liaison"]  # the placement's, not the author
    assert (task["status"], task["due_all_day"], task["overdue"]) == ("open", False, False)
    assert task["reference"] == placement["reference"]

    done = await world.call(
        "liaison", "POST", f"/api/v1/follow-ups/{task['id']}/done", json={"note": "Intake booked."}
    )
    assert done.status == 200, await done.text()
    body = await done.json()
    assert (body["status"], body["note"]) == ("done", "Intake booked.")
    assert body["closed_at"] is not None
    for path in ("done", "cancel"):
        again = await world.call(
            "liaison", "POST", f"/api/v1/follow-ups/{task['id']}/{path}", json={}
        )
        assert again.status == 409, path
        problem = await again.json()
        assert problem["current"] == "done" and problem["allowed"] == []

    second = await (await add_task(world, pid, title="Send records")).json()
    cancelled = await world.call(
        "liaison", "POST", f"/api/v1/follow-ups/{second['id']}/cancel", json={}
    )
    assert (await cancelled.json())["status"] == "cancelled"
    rows = await world.conn.fetch(
        "SELECT kind, data FROM placement_events WHERE placement_id = $1"
        " AND kind LIKE 'follow_up_%' ORDER BY id",
        pid,
    )
    assert [(r["kind"], r["data"]) for r in rows] == [
        ("follow_up_added", {"follow_up_id": task["id"], "assignee_id": world.ids["user_liaison"]}),
        ("follow_up_done", {"follow_up_id": task["id"], "has_note": True}),
        (
            "follow_up_added",
            {"follow_up_id": second["id"], "assignee_id": world.ids["user_liaison"]},
        ),
        ("follow_up_cancelled", {"follow_up_id": second["id"]}),
    ]
    actions = [
        r["action"]
        for r in await world.conn.fetch(
            "SELECT action FROM audit_log WHERE action LIKE 'placement.follow_up%' ORDER BY id"
        )
    ]
    assert actions == [
        "placement.follow_up",
        "placement.follow_up_done",
        "placement.follow_up",
        "placement.follow_up_cancel",
    ]


async def test_a_task_needs_a_title_one_due_not_in_the_past_and_a_liaison_to_do_it(
    world: World,
) -> None:
    placement = await world.create()  # tasks may be added in any state
    pid = placement["id"]
    yesterday = (datetime.now(CHICAGO).date() - timedelta(days=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    cases = [
        ({"title": "   ", "due_at": future}, "title"),
        ({"title": "x" * 201, "due_at": future}, "title"),
        ({"title": "Call"}, "body"),
        ({"title": "Call", "due_at": future, "due_on": "2026-12-30"}, "body"),
        ({"title": "Call", "due_on": "1999-12-30"}, "body"),
        ({"title": "Call", "due_on": yesterday}, "due_on"),
        ({"title": "Call", "due_at": "2020-01-01T10:00:00Z"}, "due_at"),
        (
            {"title": "Call", "due_at": future, "assignee_id": world.ids["user_viewer"]},
            "assignee_id",
        ),
        ({"title": "Call", "due_at": future, "assignee_id": 987654}, "assignee_id"),
        ({"title": "Call", "due_at": future, "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        resp = await world.call(
            "liaison", "POST", f"/api/v1/placements/{pid}/follow-ups", json=body
        )
        assert resp.status == 422, (body, await resp.text())
        fields = [e["field"] for e in (await resp.json())["errors"]]
        assert any(f == field or f.startswith(field) for f in fields), (body, fields)
    assert await world.conn.fetchval("SELECT count(*) FROM placement_follow_ups") == 0
    missing = await world.call("liaison", "POST", "/api/v1/follow-ups/987654/done", json={})
    assert missing.status == 404
    long_note = await world.call(
        "liaison", "POST", "/api/v1/follow-ups/987654/done", json={"note": "x" * 2001}
    )
    assert long_note.status == 422


async def test_a_task_due_on_a_day_is_overdue_only_the_day_after(world: World) -> None:
    placement = await world.create()
    pid = placement["id"]
    today = datetime.now(CHICAGO).date()
    task = await (await add_task(world, pid, due_on=today.isoformat())).json()
    assert task["due_all_day"] is True and task["overdue"] is False
    due = datetime.fromisoformat(task["due_at"]).astimezone(CHICAGO)
    assert (due.date(), due.hour, due.minute) == (today, 8, 0)  # reminded at 08:00 local
    # The day passes (moved back rather than waiting): overdue.
    await world.conn.execute(
        "UPDATE placement_follow_ups SET due_at = due_at - interval '1 day' WHERE id = $1",
        task["id"],
    )
    listed = await world.call("liaison", "GET", f"/api/v1/placements/{pid}/follow-ups")
    (item,) = (await listed.json())["items"]
    assert item["overdue"] is True


async def test_the_task_list_is_mine_soonest_first_or_everyones(world: World) -> None:
    a = (await world.create())["id"]
    b = (await world.create(case_number="26P-CV-0099"))["id"]
    now = datetime.now(UTC)
    later = await (await add_task(world, a, due_at=(now + timedelta(days=3)).isoformat())).json()
    sooner = await (await add_task(world, b, due_at=(now + timedelta(days=1)).isoformat())).json()
    other = await (
        await add_task(
            world,
            a,
            due_at=(now + timedelta(days=2)).isoformat(),
            assignee_id=world.ids["user_liaison2"],
        )
    ).json()

    async def listed(who: str, query: str = "") -> list[int]:
        resp = await world.call(who, "GET", f"/api/v1/follow-ups{query}")
        assert resp.status == 200, await resp.text()
        return [t["id"] for t in (await resp.json())["items"]]

    assert await listed("liaison") == [sooner["id"], later["id"]]
    assert await listed("liaison2") == [other["id"]]
    assert await listed("liaison", "?everyone=true") == [sooner["id"], other["id"], later["id"]]
    assert await listed("admin", f"?assignee={world.ids['user_liaison2']}") == [other["id"]]
    await world.call("liaison", "POST", f"/api/v1/follow-ups/{sooner['id']}/done", json={})
    assert await listed("liaison") == [later["id"]]
    assert await listed("liaison", "?status=done") == [sooner["id"]]


# --------------------------------------------------------------------------- commitment


async def test_the_outpatient_commitment_comes_after_admission_with_a_default_task(
    world: World,
) -> None:
    open_one = await world.create(case_number="26P-CV-0050")
    body = {"court_date": "2027-01-12", "cmhc_name": "Burrell Behavioral Health (demo)"}
    refused = await world.call(
        "liaison", "PUT", f"/api/v1/placements/{open_one['id']}/commitment", json=body
    )
    assert refused.status == 409, await refused.text()

    placement = await admitted(world)
    pid = placement["id"]
    assert (
        await world.call("liaison", "GET", f"/api/v1/placements/{pid}/commitment")
    ).status == 404
    resp = await world.call("liaison", "PUT", f"/api/v1/placements/{pid}/commitment", json=body)
    assert resp.status == 200, await resp.text()
    done = await resp.json()
    assert done["commitment"]["court_date"] == "2027-01-12"
    assert done["commitment"]["cmhc_name"] == "Burrell Behavioral Health (demo)"
    tasks = (
        await (await world.call("liaison", "GET", f"/api/v1/placements/{pid}/follow-ups")).json()
    )["items"]
    (task,) = tasks
    assert task["id"] == done["follow_up_id"]
    assert task["title"] == "Check with the CMHC after the court date"
    assert task["due_all_day"] is True and task["assignee_id"] == world.ids["user_liaison"]
    assert datetime.fromisoformat(task["due_at"]).astimezone(CHICAGO).date() == date(2027, 1, 13)

    # Recording again changes it, and adds no second task.
    changed = await world.call(
        "liaison",
        "PUT",
        f"/api/v1/placements/{pid}/commitment",
        json={**body, "court_date": "2027-01-19"},
    )
    assert (await changed.json())["follow_up_id"] is None
    got = await (await world.call("liaison", "GET", f"/api/v1/placements/{pid}/commitment")).json()
    assert got["court_date"] == "2027-01-19"
    assert await world.conn.fetchval("SELECT count(*) FROM placement_follow_ups") == 1
    events = await world.conn.fetch(
        "SELECT data FROM placement_events WHERE kind = 'commitment_recorded' ORDER BY id"
    )
    assert [e["data"] for e in events] == [
        {"fields": ["cmhc_name", "court_date"], "first": True},
        {"fields": ["court_date"], "first": False},
    ]
    for bad in (
        {"court_date": "soon", "cmhc_name": "X"},
        {"court_date": "2027-01-12", "cmhc_name": " "},
    ):
        resp = await world.call("liaison", "PUT", f"/api/v1/placements/{pid}/commitment", json=bad)
        assert resp.status == 422


async def test_a_placement_diverted_to_outpatient_care_may_record_its_commitment(
    world: World,
) -> None:
    placement = await world.create()
    pid = placement["id"]
    closed = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{pid}/transition",
        json={"to": "closed", "outcome": "diverted_outpatient"},
    )
    assert closed.status == 200
    resp = await world.call(
        "liaison",
        "PUT",
        f"/api/v1/placements/{pid}/commitment",
        json={
            "court_date": "2027-02-02",
            "cmhc_name": "Compass Health (demo)",
            "add_follow_up": False,
        },
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["follow_up_id"] is None
    assert await world.conn.fetchval("SELECT count(*) FROM placement_follow_ups") == 0


# --------------------------------------------------------------------------- clinical text


async def test_discharge_notes_tasks_and_the_cmhc_never_leak(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The discharge note, a task's title and closing note and the CMHC's name are
    clinical text: only in their rows and the liaisons' views; never in a log, an error
    answer, the court's or a facility's view, the timeline, the audit trail, an outbox
    frame or a notification."""
    from bedboard import notify, placements

    caplog.set_level(logging.DEBUG)
    placement = await admitted(world)
    pid = placement["id"]
    bodies: list[str] = []
    # Refusals that carry the text: each must not echo it back.
    for method, path, body in [
        ("POST", f"/api/v1/placements/{pid}/transition", {"to": "discharged", "note": AFTER}),
        ("POST", f"/api/v1/placements/{pid}/follow-ups", {"title": AFTER * 10}),
        ("POST", f"/api/v1/placements/{pid}/follow-ups", {"title": AFTER, "due_on": "1999-01-01"}),
        ("PUT", f"/api/v1/placements/{pid}/commitment", {"court_date": "x", "cmhc_name": AFTER}),
    ]:
        resp = await world.call("liaison", method, path, json=body)
        assert resp.status == 422
        bodies.append(await resp.text())
    assert (
        await discharge(world, pid, disposition="outpatient_commitment", note=f"note {AFTER}")
    ).status == 200
    due = datetime.now(UTC) + timedelta(minutes=30)
    task = await (await add_task(world, pid, title=f"Call {AFTER}", due_at=due.isoformat())).json()
    committed = await world.call(
        "liaison",
        "PUT",
        f"/api/v1/placements/{pid}/commitment",
        json={"court_date": "2030-01-01", "cmhc_name": f"CMHC {AFTER}"},
    )
    assert committed.status == 200
    # The liaison sees it all.
    record = await (await world.call("liaison", "GET", f"/api/v1/placements/{pid}")).text()
    assert AFTER in record
    # The reminder's message, enqueued.
    now = due + timedelta(minutes=1)
    found = await placements.followups.due_follow_ups(world.conn, now)
    assert await notify.occasions.follow_ups_due(world.conn, found, now=now, zone=CHICAGO) == 2
    done = await world.call(
        "liaison", "POST", f"/api/v1/follow-ups/{task['id']}/done", json={"note": f"ok {AFTER}"}
    )
    assert done.status == 200
    # Other roles: refused, or views without any of it.
    for who, path in [
        ("facility_a", f"/api/v1/placements/{pid}"),
        ("facility_a", f"/api/v1/placements/{pid}/follow-ups"),
        ("facility_a", f"/api/v1/placements/{pid}/commitment"),
        ("facility_b", f"/api/v1/placements/{pid}/follow-ups"),
        ("court", f"/api/v1/placements/{pid}/commitment"),
        ("court", "/api/v1/court/placements?case_number=26P-CV-0042"),
        ("viewer", "/api/v1/follow-ups?everyone=true"),
        ("facility_a", "/api/v1/referrals?status=accepted"),
    ]:
        resp = await world.call(who, "GET", path)
        text = await resp.text()
        bodies.append(text)
        assert "discharge_note" not in text and "cmhc" not in text.lower(), (who, path)
    for text in bodies:
        assert AFTER not in text
    assert AFTER not in caplog.text
    frames = await world.conn.fetch("SELECT payload::text AS p FROM board_outbox")
    assert frames and all(AFTER not in r["p"] for r in frames)
    events = await world.conn.fetch("SELECT data::text AS d FROM placement_events")
    assert all(AFTER not in r["d"] for r in events)
    audit = await world.conn.fetch("SELECT detail::text AS d FROM audit_log")
    assert all(AFTER not in r["d"] for r in audit)
    messages = await world.conn.fetch("SELECT message::text AS m FROM deliveries")
    assert messages and all(AFTER not in r["m"] for r in messages)


async def test_the_demo_has_a_discharged_case_with_an_open_follow_up(
    conn: Any, tmp_path: Any
) -> None:
    from bedboard import demo

    await demo.ensure_demo(conn, tmp_path)
    row = await conn.fetchrow(
        "SELECT id, status, discharge_disposition, admitted_at, discharged_at FROM placements"
        " WHERE person_initials = 'EH'"
    )
    assert (row["status"], row["discharge_disposition"]) == ("discharged", "outpatient_commitment")
    # Its history was spread like the others': discharged after admitted, at its event.
    assert row["admitted_at"] < row["discharged_at"] <= await conn.fetchval("SELECT now()")
    assert row["discharged_at"] == await conn.fetchval(
        "SELECT max(at) FROM placement_events WHERE placement_id = $1 AND to_state = 'discharged'",
        row["id"],
    )
    task = await conn.fetchrow(
        "SELECT title, status FROM placement_follow_ups WHERE placement_id = $1", row["id"]
    )
    assert (task["title"], task["status"]) == ("Check with the CMHC after the court date", "open")
    assert await conn.fetchval(
        "SELECT court_date > current_date FROM placement_commitments WHERE placement_id = $1",
        row["id"],
    )
