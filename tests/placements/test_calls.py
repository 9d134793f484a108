"""Phone calls that count (issue 14 §3): each outcome recorded on the placement with its
timeline event, audit entry and outbox event; the call-back time; "has a bed" going on to
the referral and the acceptance on the facility's behalf; "no bed" as a phone census
observation that leaves the reported counts alone, shows on the board and counts apart
in reporter compliance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest

from bedboard import reports
from bedboard.auth import Principal, Role
from bedboard.reports import Filters
from tests.conftest import login
from tests.placements.conftest import CANARY, World

ZONE = "America/Chicago"


async def _call(world: World, pid: int, who: str = "liaison", **body: Any) -> Any:
    return await world.call(who, "POST", f"/api/v1/placements/{pid}/calls", json=body)


def _in(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def _board_facility(world: World, key: str) -> dict[str, Any]:
    board = await (await world.call("viewer", "GET", "/api/v1/board")).json()
    (facility,) = [f for f in board["facilities"] if f["id"] == world.ids[key]]
    return facility  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("outcome", "extra", "words"),
    [
        ("no_bed", {}, "no bed"),
        ("has_bed", {}, "has a bed for this person"),
        ("call_back", {"call_back_at": "later"}, "call back"),
        ("no_answer", {}, "no answer"),
    ],
)
async def test_each_outcome_is_recorded_with_an_event_an_audit_entry_and_an_outbox_event(
    world: World, outcome: str, extra: dict[str, Any], words: str
) -> None:
    pid = (await world.create())["id"]
    if extra.get("call_back_at") == "later":
        extra = {"call_back_at": _in(2)}
    seq = await world.conn.fetchval("SELECT seq FROM outbox_counter")
    resp = await _call(
        world,
        pid,
        facility_id=world.ids["facility_b"],
        unit_id=world.ids["b1"],
        outcome=outcome,
        **extra,
    )
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    call = body["call"]
    assert (call["outcome"], call["facility_name"], call["unit_name"]) == (
        outcome,
        "Lakeside Psychiatric",
        "Adult Unit",
    )
    assert body["referral_id"] is None and call["referral_id"] is None
    assert (call["call_back_at"] is not None) == (outcome == "call_back")

    event = await world.conn.fetchrow(
        "SELECT actor_id, data FROM placement_events WHERE placement_id = $1 AND kind = 'called'",
        pid,
    )
    assert event["actor_id"] == world.ids["user_liaison"]
    assert event["data"]["called"] == f"Lakeside Psychiatric: {words}"
    assert event["data"]["outcome"] == outcome
    audit = await world.conn.fetchrow(
        "SELECT object_id, detail FROM audit_log WHERE action = 'placement.call'"
    )
    assert audit["object_id"] == str(pid) and audit["detail"]["outcome"] == outcome
    frames = await world.conn.fetch(
        "SELECT topic, payload FROM board_outbox WHERE seq > $1 ORDER BY seq", seq
    )
    placement_frames = [f["payload"] for f in frames if f["topic"] == "placements"]
    assert [f["event"] for f in placement_frames] == ["called"]
    assert all(f["topic"] != "court" for f in frames)  # the court's lookup shows no calls

    listed = await (await world.call("liaison", "GET", f"/api/v1/placements/{pid}/calls")).json()
    assert [c["id"] for c in listed["items"]] == [call["id"]]
    # Only "no bed" is a census observation.
    checks = await world.conn.fetchval("SELECT count(*) FROM census_phone_checks")
    assert checks == (1 if outcome == "no_bed" else 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outcome": "call_back"}, "call_back_at"),  # a call back needs its time
        ({"outcome": "call_back", "call_back_at": "past"}, "call_back_at"),
        ({"outcome": "no_answer", "call_back_at": "future"}, "call_back_at"),
        ({"outcome": "maybe"}, "outcome"),
        ({"outcome": "no_bed", "unit_id": "a1"}, "unit_id"),  # not one of facility b's units
        ({"outcome": "no_answer", "record_acceptance": True}, "record_acceptance"),
    ],
)
async def test_a_refused_call_is_a_422_problem_naming_the_field_and_records_nothing(
    world: World, body: dict[str, Any], field: str
) -> None:
    pid = (await world.create())["id"]
    when = {"past": _in(-0.1), "future": _in(1)}
    data: dict[str, Any] = {"facility_id": world.ids["facility_b"], **body}
    if "call_back_at" in data:
        data["call_back_at"] = when[data["call_back_at"]]
    if data.get("unit_id") == "a1":
        data["unit_id"] = world.ids["a1"]
    resp = await _call(world, pid, **data)
    assert resp.status == 422, await resp.text()
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert field in str(problem["errors"])
    assert await world.conn.fetchval("SELECT count(*) FROM placement_calls") == 0


async def test_a_call_is_refused_once_the_placement_is_closed(world: World) -> None:
    pid = (await world.create())["id"]
    closed = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{pid}/transition",
        json={"to": "closed", "outcome": "withdrawn"},
    )
    assert closed.status == 200
    resp = await _call(world, pid, facility_id=world.ids["facility_a"], outcome="no_answer")
    assert resp.status == 409


async def test_has_a_bed_refers_and_records_the_acceptance_on_the_facilitys_behalf(
    world: World,
) -> None:
    pid = (await world.create())["id"]
    held_before = await world.held("b1")
    resp = await _call(
        world,
        pid,
        facility_id=world.ids["facility_b"],
        unit_id=world.ids["b1"],
        outcome="has_bed",
        record_acceptance=True,
    )
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    referral_id = body["referral_id"]
    assert body["call"]["referral_id"] == referral_id
    placement = await (await world.call("liaison", "GET", f"/api/v1/placements/{pid}")).json()
    assert placement["status"] == "accepted"
    (referral,) = placement["referrals"]
    assert (referral["id"], referral["status"], referral["hold_active"]) == (
        referral_id,
        "accepted",
        True,
    )
    assert await world.held("b1") == held_before + 1
    row = await world.conn.fetchrow(
        "SELECT created_by, responded_by FROM referrals WHERE id = $1", referral_id
    )
    assert row["created_by"] == row["responded_by"] == world.ids["user_liaison"]
    kinds = [
        r["kind"]
        for r in await world.conn.fetch(
            "SELECT kind FROM placement_events WHERE placement_id = $1 ORDER BY id", pid
        )
    ]
    assert kinds[-4:] == ["called", "referral_sent", "referral_accepted", "accepted_by_phone"]
    by_phone = await world.conn.fetchrow(
        "SELECT actor_id, object_id, detail FROM audit_log WHERE action = 'referral.accept_by_phone'"
    )
    assert by_phone["actor_id"] == world.ids["user_liaison"]
    assert by_phone["object_id"] == str(referral_id)
    assert by_phone["detail"]["for_facility_id"] == world.ids["facility_b"]
    # The facility sees its referral as accepted.
    seen = await (await world.call("facility_b", "GET", f"/api/v1/placements/{pid}")).json()
    assert [r["status"] for r in seen["referrals"]] == ["accepted"]


async def test_has_a_bed_on_a_referral_waiting_accepts_that_referral(world: World) -> None:
    pid = (await world.create())["id"]
    (ref_a, ref_b) = await world.refer(pid, "a1", "b1")
    resp = await _call(
        world,
        pid,
        facility_id=world.ids["facility_a"],
        unit_id=world.ids["a1"],
        outcome="has_bed",
        record_acceptance=True,
    )
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["referral_id"] == ref_a
    statuses = dict(
        await world.conn.fetch("SELECT id, status FROM referrals WHERE placement_id = $1", pid)
    )
    assert statuses == {ref_a: "accepted", ref_b: "withdrawn"}


async def test_has_a_bed_without_a_free_bed_on_the_board_records_nothing(world: World) -> None:
    pid = (await world.create())["id"]
    await world.conn.execute(
        "UPDATE unit_census SET held = available WHERE unit_id = $1", world.ids["b1"]
    )
    resp = await _call(
        world,
        pid,
        facility_id=world.ids["facility_b"],
        unit_id=world.ids["b1"],
        outcome="has_bed",
        record_acceptance=True,
    )
    assert resp.status == 409, await resp.text()
    assert await world.conn.fetchval("SELECT count(*) FROM placement_calls") == 0
    assert await world.conn.fetchval("SELECT count(*) FROM referrals") == 0


async def test_no_bed_is_a_phone_observation_that_leaves_the_reported_counts_unchanged(
    world: World,
) -> None:
    pid = (await world.create())["id"]
    census_before = [
        dict(r) for r in await world.conn.fetch("SELECT * FROM unit_census ORDER BY unit_id")
    ]
    history_before = await world.conn.fetchval("SELECT count(*) FROM census_history")
    before = await _board_facility(world, "facility_b")
    assert before["phone_checked_at"] is None
    resp = await _call(
        world, pid, facility_id=world.ids["facility_b"], unit_id=world.ids["b1"], outcome="no_bed"
    )
    assert resp.status == 201
    check = await world.conn.fetchrow("SELECT * FROM census_phone_checks")
    assert (check["facility_id"], check["unit_id"], check["placement_id"]) == (
        world.ids["facility_b"],
        world.ids["b1"],
        pid,
    )
    assert (check["source"], check["recorded_by"]) == ("phone", world.ids["user_liaison"])
    census_after = [
        dict(r) for r in await world.conn.fetch("SELECT * FROM unit_census ORDER BY unit_id")
    ]
    assert census_after == census_before
    assert await world.conn.fetchval("SELECT count(*) FROM census_history") == history_before

    after = await _board_facility(world, "facility_b")
    assert datetime.fromisoformat(after["phone_checked_at"]) == check["observed_at"]
    assert [u["free"] for u in after["units"]] == [u["free"] for u in before["units"]]
    assert (await _board_facility(world, "facility_a"))["phone_checked_at"] is None


async def test_the_board_drops_the_phone_confirmation_after_a_newer_report_or_12_hours(
    world: World,
) -> None:
    pid = (await world.create())["id"]
    for key in ("facility_a", "facility_b"):
        await _call(world, pid, facility_id=world.ids[key], outcome="no_bed")
    # A report after the call (facility a); a call 13 hours ago (facility b).
    await world.conn.execute(
        "UPDATE census_phone_checks SET observed_at = observed_at - interval '13 hours'"
        " WHERE facility_id = $1",
        world.ids["facility_b"],
    )
    reported = await world.call(
        "admin",
        "PUT",
        f"/api/v1/units/{world.ids['a1']}/census",
        json={"as_of": datetime.now(UTC).isoformat(), "staffed": 10, "occupied": 9},
    )
    assert reported.status == 200, await reported.text()
    assert (await _board_facility(world, "facility_a"))["phone_checked_at"] is None
    assert (await _board_facility(world, "facility_b"))["phone_checked_at"] is None


async def test_the_board_page_says_confirmed_by_phone(world: World) -> None:
    pid = (await world.create())["id"]
    await _call(world, pid, facility_id=world.ids["facility_b"], outcome="no_bed")
    page = await (await world.call("viewer", "GET", "/board")).text()
    assert "confirmed by phone" in page
    observed = await world.conn.fetchval("SELECT observed_at FROM census_phone_checks")
    local = observed.astimezone(ZoneInfo(ZONE))
    assert f"{local.strftime('%I:%M %p').lstrip('0')} {local.tzname()}" in page


async def test_compliance_counts_phone_confirmations_apart_from_reports(world: World) -> None:
    pid = (await world.create())["id"]
    liaison = Principal(user_id=1, role=Role.LIAISON, email="l@example.org", display_name="")
    today = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date().isoformat()
    period = Filters.model_validate({"from": today, "to": today})

    async def compliance() -> dict[str, dict[str, Any]]:
        report = await reports.run(world.conn, "compliance", period, liaison, zone_name=ZONE)
        return {r["facility"]: r for r in report.rows}

    before = await compliance()
    for _ in range(2):
        await _call(world, pid, facility_id=world.ids["facility_b"], outcome="no_bed")
    await _call(world, pid, facility_id=world.ids["facility_a"], outcome="no_answer")
    after = await compliance()
    assert after["Lakeside Psychiatric"]["phone_confirmations"] == 2
    assert after["Hillcrest Behavioral"]["phone_confirmations"] == 0
    # The reports' own columns (the shares of time move on with the clock) are as before.
    counted = ("units", "overdue_episodes", "reporting_paths", "nudges")
    for name, row in after.items():
        assert [row[k] for k in counted] == [before[name][k] for k in counted]
        assert "phone" not in str(row["reporting_paths"])


async def test_call_backs_are_the_reminders_until_a_later_call(world: World) -> None:
    from bedboard.placements import calls

    pid = (await world.create())["id"]
    await _call(
        world, pid, facility_id=world.ids["facility_a"], outcome="call_back", call_back_at=_in(3)
    )
    await _call(
        world, pid, facility_id=world.ids["facility_b"], outcome="call_back", call_back_at=_in(1)
    )
    made = await calls.calls_of(world.conn, pid)
    assert [c.facility_name for c in calls.call_backs(made)] == [
        "Lakeside Psychiatric",
        "Hillcrest Behavioral",
    ]
    await _call(world, pid, facility_id=world.ids["facility_b"], outcome="no_bed")
    made = await calls.calls_of(world.conn, pid)
    assert [c.facility_name for c in calls.call_backs(made)] == ["Hillcrest Behavioral"]


async def test_no_clinical_text_reaches_calls_events_audit_or_frames(world: World) -> None:
    pid = (await world.create())["id"]
    await _call(world, pid, facility_id=world.ids["facility_b"], outcome="no_bed")
    await _call(
        world,
        pid,
        facility_id=world.ids["facility_b"],
        unit_id=world.ids["b1"],
        outcome="has_bed",
        record_acceptance=True,
    )
    listed = await (await world.call("liaison", "GET", f"/api/v1/placements/{pid}/calls")).text()
    for sql in (
        "SELECT payload::text FROM board_outbox",
        "SELECT data::text FROM placement_events",
        "SELECT detail::text FROM audit_log",
        "SELECT row_to_json(c)::text FROM census_phone_checks c",
    ):
        assert all(CANARY not in r[0] for r in await world.conn.fetch(sql))
    assert CANARY not in listed


# --------------------------------------------------------------------------- the pages


def _local(at: datetime) -> str:
    return at.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M")


async def _page_call(world: World, session: Any, pid: int, **fields: str) -> Any:
    data = {"csrf_token": session.csrf, "facility_id": str(world.ids["facility_b"]), **fields}
    return await world.client.post(f"/placements/{pid}/calls", data=data, allow_redirects=False)


async def test_the_page_records_a_call_and_lists_it(world: World, make_user: Any) -> None:
    pid = (await world.create())["id"]
    liaison = await make_user(Role.LIAISON)
    session = await login(world.client, liaison.email)
    html = await (await world.client.get(f"/placements/{pid}")).text()
    assert 'aria-label="Called Lakeside Psychiatric — Adult Unit"' in html
    resp = await _page_call(
        world, session, pid, unit_id=str(world.ids["b1"]), row=f"result-{world.ids['b1']}",
        outcome="no_bed", call_back_at="",
    )  # fmt: skip
    assert resp.status == 303, await resp.text()
    html = await (await world.client.get(resp.headers["Location"])).text()
    assert "Call recorded: Lakeside Psychiatric — Adult Unit: no bed." in html
    assert 'data-call-outcome="no_bed">Called Lakeside Psychiatric — Adult Unit' in html
    assert "called</strong>: Lakeside Psychiatric: no bed" in html  # the timeline


async def test_a_call_back_needs_a_future_time_said_next_to_the_field(
    world: World, make_user: Any
) -> None:
    pid = (await world.create())["id"]
    liaison = await make_user(Role.LIAISON)
    session = await login(world.client, liaison.email)
    row = f"result-{world.ids['b1']}"
    for when in ("", _local(datetime.now(UTC) - timedelta(minutes=5)), "not a time"):
        resp = await _page_call(
            world, session, pid, unit_id=str(world.ids["b1"]), row=row, outcome="call_back",
            call_back_at=when,
        )  # fmt: skip
        assert resp.status == 303
        assert "call_error=call_back_at" in resp.headers["Location"]
        html = await (await world.client.get(resp.headers["Location"])).text()
        assert f'id="call-back-{row}-error">Enter the time to call back' in html
        assert f'aria-describedby="call-back-{row}-error"' in html
    assert await world.conn.fetchval("SELECT count(*) FROM placement_calls") == 0
    later = datetime.now(UTC) + timedelta(hours=2)
    resp = await _page_call(
        world, session, pid, unit_id=str(world.ids["b1"]), row=row, outcome="call_back",
        call_back_at=_local(later),
    )  # fmt: skip
    html = await (await world.client.get(resp.headers["Location"])).text()
    assert "data-call-back=" in html and "Call back Lakeside Psychiatric — Adult Unit" in html


async def test_has_a_bed_on_the_page_offers_the_acceptance_then_records_it(
    world: World, make_user: Any
) -> None:
    pid = (await world.create())["id"]
    liaison = await make_user(Role.LIAISON)
    session = await login(world.client, liaison.email)
    resp = await _page_call(
        world, session, pid, unit_id=str(world.ids["b1"]), row=f"result-{world.ids['b1']}",
        outcome="has_bed",
    )  # fmt: skip
    assert resp.status == 303 and "bed_offer=" in resp.headers["Location"]
    html = await (await world.client.get(resp.headers["Location"])).text()
    assert "Lakeside Psychiatric — Adult Unit has a bed for this person" in html
    assert await world.conn.fetchval("SELECT count(*) FROM referrals") == 0  # not yet
    call_id = await world.conn.fetchval("SELECT id FROM placement_calls")
    resp = await world.client.post(
        f"/placements/{pid}/calls/{call_id}/accept",
        data={"csrf_token": session.csrf},
        allow_redirects=False,
    )
    assert resp.status == 303
    html = await (await world.client.get(resp.headers["Location"])).text()
    assert "Acceptance recorded on the facility&#39;s behalf" in html
    assert "acceptance recorded by phone" in html
    status = await world.conn.fetchval("SELECT status FROM placements WHERE id = $1", pid)
    assert status == "accepted"
    again = await world.client.post(
        f"/placements/{pid}/calls/{call_id}/accept",
        data={"csrf_token": session.csrf},
        allow_redirects=False,
    )
    assert "Not done" in unquote(again.headers["Location"])
    assert await world.conn.fetchval("SELECT count(*) FROM referrals") == 1


async def test_facility_and_court_users_cannot_record_calls_on_the_page(
    world: World, make_user: Any
) -> None:
    pid = (await world.create())["id"]
    await world.refer(pid, "b1")
    for role, extra in (
        (Role.FACILITY, {"facility_ids": [world.ids["facility_b"]]}),
        (Role.COURT, {"court_id": world.ids["court"]}),
        (Role.VIEWER, {}),
    ):
        user = await make_user(role, **extra)
        session = await login(world.client, user.email)
        resp = await _page_call(world, session, pid, outcome="no_bed")
        assert resp.status in (403, 404), role
    assert await world.conn.fetchval("SELECT count(*) FROM placement_calls") == 0
