"""The referral response clock: acknowledged and info_requested, questions and answers, the
response target, unanswered expiry (time frozen with time-machine), the nudges due, and
refer to all that fit."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from bedboard import auth, placements
from bedboard.placements import REFERRAL_TRANSITIONS, ReferralStatus, waited_words
from tests.placements.conftest import CANARY, World

QUESTION = f"Is there a history of assault? {CANARY}-question"
ANSWER = f"One incident in 2024, none since. {CANARY}-answer"


# --------------------------------------------------------------------------- the state machine


async def _referral_in(world: World, state: str) -> tuple[int, int]:
    """A placement with one referral to a1 brought to ``state`` the way users do it."""
    placement = await world.create()
    pid = placement["id"]
    (rid,) = await world.refer(pid, "a1")

    async def ok(who: str, action: str, body: Any = None) -> None:
        resp = await world.call(who, "POST", f"/api/v1/referrals/{rid}/{action}", json=body)
        assert resp.status == 200, await resp.text()

    if state == "acknowledged":
        await ok("facility_a", "acknowledge")
    elif state == "info_requested":
        await ok("facility_a", "question", {"question": QUESTION})
    elif state == "accepted":
        await ok("facility_a", "accept")
    elif state == "declined":
        await ok("facility_a", "decline", {"reason": "no_bed"})
    elif state == "withdrawn":
        await ok("liaison", "withdraw")
    elif state == "expired":
        later = datetime.now(UTC) + timedelta(hours=5)
        assert await placements.expire_unanswered(world.conn, later, timedelta(hours=4)) == 1
    assert await world.conn.fetchval("SELECT status FROM referrals WHERE id = $1", rid) == state
    return pid, rid


# action -> (who does it, body, the state it leads to)
ACTIONS: dict[str, tuple[str, Any, str]] = {
    "acknowledge": ("facility_a", None, "acknowledged"),
    "question": ("facility_a", {"question": QUESTION}, "info_requested"),
    "answer": ("liaison", {"answer": ANSWER}, "acknowledged"),
    "accept": ("facility_a", None, "accepted"),
    "decline": ("facility_a", {"reason": "acuity"}, "declined"),
    "withdraw": ("liaison", None, "withdrawn"),
}
ALLOWED = {
    "pending": {"acknowledge", "question", "accept", "decline", "withdraw"},
    "acknowledged": {"question", "accept", "decline", "withdraw"},
    "info_requested": {"answer", "accept", "decline", "withdraw"},
    "accepted": {"decline", "withdraw"},
    "declined": set(),
    "withdrawn": set(),
    "expired": set(),
}
STATE_CASES = [(state, action) for state in ALLOWED for action in ACTIONS]


def test_the_table_of_allowed_moves_is_the_state_machine() -> None:
    """Each allowed action leads to a state the table allows from there (answer and
    acknowledge both lead to ``acknowledged``; answering is the liaison's move)."""
    for state, actions in ALLOWED.items():
        reached = {ReferralStatus(ACTIONS[a][2]) for a in actions}
        assert reached == set(REFERRAL_TRANSITIONS[ReferralStatus(state)]), state


@pytest.mark.parametrize(("state", "action"), STATE_CASES, ids=[f"{s}-{a}" for s, a in STATE_CASES])
async def test_every_referral_move_is_allowed_or_refused_as_the_state_machine_says(
    world: World, state: str, action: str
) -> None:
    pid, rid = await _referral_in(world, state)
    who, body, to = ACTIONS[action]
    events_before = await world.conn.fetchval(
        "SELECT count(*) FROM placement_events WHERE placement_id = $1", pid
    )
    resp = await world.call(who, "POST", f"/api/v1/referrals/{rid}/{action}", json=body)
    status = await world.conn.fetchval("SELECT status FROM referrals WHERE id = $1", rid)
    if action in ALLOWED[state]:
        assert resp.status == 200, await resp.text()
        assert status == to
    else:
        assert resp.status == 409, await resp.text()
        assert resp.content_type == "application/problem+json"
        problem = await resp.json()
        assert problem["type"].endswith("illegal-transition")
        assert problem["current"] == state
        assert status == state  # nothing changed
        events_after = await world.conn.fetchval(
            "SELECT count(*) FROM placement_events WHERE placement_id = $1", pid
        )
        assert events_after == events_before


async def test_a_facility_cannot_acknowledge_once_the_placement_has_a_bed(world: World) -> None:
    placement = await world.create()
    ref_a, ref_b = await world.refer(placement["id"], "a1", "b1")
    await world.call("facility_b", "POST", f"/api/v1/referrals/{ref_b}/accept")
    # Accepting elsewhere withdrew every referral still awaiting an answer.
    resp = await world.call("facility_a", "POST", f"/api/v1/referrals/{ref_a}/acknowledge")
    assert resp.status == 409
    assert await world.conn.fetchval("SELECT status FROM referrals WHERE id = $1", ref_a) == (
        "withdrawn"
    )


async def test_accepting_withdraws_the_other_referrals_that_were_reviewing_or_asking(
    world: World, make_unit: Any
) -> None:
    c1 = await make_unit(world.ids["facility_b"], name="Second Unit", population="adult")
    placement = await world.create()
    ref_a, ref_b = await world.refer(placement["id"], "a1", "b1")
    resp = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{placement['id']}/referrals",
        json={"unit_ids": [c1.id]},
    )
    (ref_c,) = (await resp.json())["ids"]
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref_a}/acknowledge")
    await world.call(
        "facility_b", "POST", f"/api/v1/referrals/{ref_c}/question", json={"question": QUESTION}
    )
    resp = await world.call("facility_b", "POST", f"/api/v1/referrals/{ref_b}/accept")
    assert resp.status == 200
    rows = await world.conn.fetch(
        "SELECT id, status FROM referrals WHERE placement_id = $1 ORDER BY id", placement["id"]
    )
    assert {r["id"]: r["status"] for r in rows} == {
        ref_a: "withdrawn",
        ref_b: "accepted",
        ref_c: "withdrawn",
    }


# --------------------------------------------------------------------------- timestamps, events


async def test_acknowledge_ask_answer_accept_keeps_each_time_and_event(world: World) -> None:
    placement = await world.create()
    pid = placement["id"]
    (rid,) = await world.refer(pid, "a1")
    assert (await world.call("facility_a", "POST", f"/api/v1/referrals/{rid}/acknowledge")).ok
    asked = await world.call(
        "facility_a", "POST", f"/api/v1/referrals/{rid}/question", json={"question": QUESTION}
    )
    assert asked.status == 200
    second = await world.call(
        "facility_a", "POST", f"/api/v1/referrals/{rid}/question", json={"question": "again?"}
    )
    assert second.status == 409  # one open question at a time
    answered = await world.call(
        "liaison", "POST", f"/api/v1/referrals/{rid}/answer", json={"answer": ANSWER}
    )
    assert answered.status == 200
    (ref,) = (await answered.json())["referrals"]
    assert ref["status"] == "acknowledged"
    assert [(q["question"], q["answer"]) for q in ref["questions"]] == [(QUESTION, ANSWER)]
    assert (await world.call("facility_a", "POST", f"/api/v1/referrals/{rid}/accept")).ok

    row = await world.conn.fetchrow("SELECT * FROM referrals WHERE id = $1", rid)
    assert row["created_at"] < row["acknowledged_at"] < row["info_requested_at"]
    assert row["info_requested_at"] < row["info_answered_at"] < row["responded_at"]
    assert row["first_response_at"] == row["acknowledged_at"]  # set once, by the first answer
    kinds = [e.kind for e in await placements.timeline(world.conn, pid)]
    assert kinds[-5:] == [
        "referral_sent",
        "referral_acknowledged",
        "referral_info_requested",
        "referral_info_answered",
        "referral_accepted",
    ]
    frames = await world.conn.fetch(
        "SELECT topic, payload FROM board_outbox WHERE topic = 'referrals'"
        " AND (payload->>'referral_id')::bigint = $1 ORDER BY seq",
        rid,
    )
    statuses = [f["payload"]["status"] for f in frames]
    assert statuses == ["pending", "acknowledged", "info_requested", "acknowledged", "accepted"]
    for frame in frames:  # ids and states only on the wire (and the county supervisors need)
        assert set(frame["payload"]) == {
            "kind",
            "referral_id",
            "placement_id",
            "unit_id",
            "facility_id",
            "status",
            "county_fips",
        }


async def test_a_question_first_is_the_first_response(world: World) -> None:
    placement = await world.create()
    (rid,) = await world.refer(placement["id"], "a1")
    await world.call(
        "facility_a", "POST", f"/api/v1/referrals/{rid}/question", json={"question": QUESTION}
    )
    row = await world.conn.fetchrow("SELECT * FROM referrals WHERE id = $1", rid)
    assert row["acknowledged_at"] is None
    assert row["first_response_at"] == row["info_requested_at"]


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("question", {"question": "   "}, "question"),
        ("question", {"question": "x" * 2001}, "question"),
        ("question", {}, "question"),
        ("answer", {"answer": ""}, "answer"),
    ],
)
async def test_an_empty_or_overlong_question_or_answer_is_a_422_naming_the_field(
    world: World, action: str, body: dict[str, Any], field: str
) -> None:
    placement = await world.create()
    (rid,) = await world.refer(placement["id"], "a1")
    if action == "answer":
        await world.call(
            "facility_a", "POST", f"/api/v1/referrals/{rid}/question", json={"question": QUESTION}
        )
    who = "facility_a" if action == "question" else "liaison"
    resp = await world.call(who, "POST", f"/api/v1/referrals/{rid}/{action}", json=body)
    assert resp.status == 422
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert [e["field"] for e in problem["errors"]] == [field]


# --------------------------------------------------------------------------- who sees the text


async def test_another_facility_never_sees_a_referral_or_its_question(world: World) -> None:
    placement = await world.create()
    pid = placement["id"]
    ref_a, ref_b = await world.refer(pid, "a1", "b1")
    await world.call(
        "facility_a", "POST", f"/api/v1/referrals/{ref_a}/question", json={"question": QUESTION}
    )
    for path in (f"/api/v1/placements/{pid}", "/api/v1/referrals"):
        resp = await world.call("facility_b", "GET", path)
        text = await resp.text()
        assert QUESTION not in text
        body = await resp.json()
        views = body.get("items", [body])
        assert [r["id"] for v in views for r in v["referrals"]] == [ref_b]
    own = await (await world.call("facility_a", "GET", "/api/v1/referrals")).text()
    assert QUESTION in own
    # Facility B cannot answer, ask about or acknowledge A's referral either: concealed.
    for action, body in (("question", {"question": "x"}), ("acknowledge", None)):
        resp = await world.call(
            "facility_b", "POST", f"/api/v1/referrals/{ref_a}/{action}", json=body
        )
        assert resp.status == 404
    for role in ("court", "viewer"):
        resp = await world.call(role, "GET", f"/api/v1/placements/{pid}")
        assert QUESTION not in await resp.text()
    court = await world.call("court", "GET", "/api/v1/court/placements?case_number=26P-CV-0042")
    assert QUESTION not in await court.text()


async def test_question_and_answer_text_never_reach_logs_outbox_timeline_or_audit(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    placement = await world.create()
    pid = placement["id"]
    (rid,) = await world.refer(pid, "a1")
    await world.call(
        "facility_a", "POST", f"/api/v1/referrals/{rid}/question", json={"question": QUESTION}
    )
    # Refusals that carry the text in their bodies: a second question, an answer too long.
    again = await world.call(
        "facility_a", "POST", f"/api/v1/referrals/{rid}/question", json={"question": QUESTION}
    )
    assert again.status == 409
    too_long = await world.call(
        "liaison", "POST", f"/api/v1/referrals/{rid}/answer", json={"answer": ANSWER * 200}
    )
    assert too_long.status == 422
    assert CANARY not in await too_long.text()
    await world.call("liaison", "POST", f"/api/v1/referrals/{rid}/answer", json={"answer": ANSWER})
    await world.call("liaison", "GET", f"/api/v1/placements/{pid}")
    await world.call("liaison", "GET", f"/api/v1/placements/{pid}/timeline")
    assert f"{CANARY}-question" not in caplog.text and f"{CANARY}-answer" not in caplog.text
    for sql in (
        "SELECT payload::text AS t FROM board_outbox",
        "SELECT data::text AS t FROM placement_events",
        "SELECT detail::text AS t FROM audit_log",
    ):
        rows = await world.conn.fetch(sql)
        assert rows
        for row in rows:
            assert "-question" not in row["t"] and "-answer" not in row["t"], sql
    actions = {
        r["action"]
        for r in await world.conn.fetch("SELECT action FROM audit_log WHERE outcome = 'success'")
    }
    assert {"referral.ask", "referral.answer"} <= actions


# --------------------------------------------------------------------------- the clock


async def test_a_referral_nobody_answered_expires_after_the_expiry_hours(world: World) -> None:
    placement = await world.create()
    pid = placement["id"]
    (rid,) = await world.refer(pid, "a1")
    sent = await world.conn.fetchval("SELECT created_at FROM referrals WHERE id = $1", rid)
    after = timedelta(hours=4)
    with time_machine.travel(sent + after - timedelta(seconds=1), tick=False):
        assert await placements.expire_unanswered(world.conn, datetime.now(UTC), after) == 0
    assert await world.conn.fetchval("SELECT status FROM referrals WHERE id = $1", rid) == "pending"
    with time_machine.travel(sent + after + timedelta(seconds=1), tick=False):
        now = datetime.now(UTC)
        assert await placements.expire_unanswered(world.conn, now, after) == 1
        assert await placements.expire_unanswered(world.conn, now, after) == 0  # once
    row = await world.conn.fetchrow("SELECT * FROM referrals WHERE id = $1", rid)
    assert row["status"] == "expired"
    assert row["unanswered_expired_at"] == sent + after + timedelta(seconds=1)
    assert row["responded_at"] is None and row["first_response_at"] is None
    (event,) = [
        e for e in await placements.timeline(world.conn, pid) if e.kind == "referral_expired"
    ]
    assert (event.from_state, event.to_state, event.data["reason"]) == (
        "pending",
        "expired",
        "no_answer",
    )
    frame = await world.conn.fetchval(
        "SELECT payload FROM board_outbox WHERE topic = 'referrals' ORDER BY seq DESC LIMIT 1"
    )
    assert (frame["referral_id"], frame["status"]) == (rid, "expired")
    assert await world.conn.fetchval("SELECT status FROM placements WHERE id = $1", pid) == "open"
    # The liaison may refer to the same unit again.
    assert await world.refer(pid, "a1")


async def test_the_scheduled_clock_expires_unanswered_referrals_after_the_setting(
    world: World, client: Any
) -> None:
    from bedboard import scheduler
    from bedboard.context import POOL, SETTINGS

    placement = await world.create()
    old, recent = await world.refer(placement["id"], "a1", "b1")
    await world.conn.execute(
        "UPDATE referrals SET created_at = now() - interval '90 minutes' WHERE id = $1", old
    )
    await world.conn.execute(
        "UPDATE referrals SET created_at = now() - interval '30 minutes' WHERE id = $1", recent
    )
    settings = client.app[SETTINGS].model_copy(update={"referral_expire_hours": 1.0})
    await scheduler.placement_clock(client.app[POOL], settings)
    rows = await world.conn.fetch(
        "SELECT id, status FROM referrals WHERE placement_id = $1", placement["id"]
    )
    assert {r["id"]: r["status"] for r in rows} == {old: "expired", recent: "pending"}


@pytest.mark.parametrize("value", ["0", "0.4", "73", "soon"])
def test_an_expiry_setting_out_of_range_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    from bedboard.settings import SettingsError, load_settings

    monkeypatch.setenv("BEDBOARD_REFERRAL_EXPIRE_HOURS", value)
    with pytest.raises(SettingsError, match=r"^invalid setting BEDBOARD_REFERRAL_EXPIRE_HOURS:"):
        load_settings()


async def test_a_referral_the_facility_acknowledged_or_asked_about_does_not_expire(
    world: World,
) -> None:
    placement = await world.create()
    ref_a, ref_b = await world.refer(placement["id"], "a1", "b1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref_a}/acknowledge")
    await world.call(
        "facility_b", "POST", f"/api/v1/referrals/{ref_b}/question", json={"question": QUESTION}
    )
    with time_machine.travel(datetime.now(UTC) + timedelta(days=2), tick=False):
        assert (
            await placements.expire_unanswered(world.conn, datetime.now(UTC), timedelta(hours=4))
            == 0
        )


async def test_the_nudges_due_name_each_late_referral_once_per_threshold(
    world: World, conn: Any
) -> None:
    await conn.execute(
        "UPDATE facilities SET response_target_minutes = 60 WHERE id = $1", world.ids["facility_b"]
    )
    placement = await world.create()
    ref_a, ref_b = await world.refer(placement["id"], "a1", "b1")  # targets 30 and 60 min
    sent = await conn.fetchval("SELECT created_at FROM referrals WHERE id = $1", ref_a)

    async def due(minutes: float) -> list[tuple[int, str]]:
        with time_machine.travel(sent + timedelta(minutes=minutes), tick=False):
            nudges = await placements.due_response_nudges(conn, datetime.now(UTC))
        for n in nudges:
            assert n.reference == placement["reference"]
            assert CANARY not in n.model_dump_json()
        return sorted((n.referral_id, n.threshold) for n in nudges)

    assert await due(29) == []
    assert await due(31) == [(ref_a, "target")]
    assert await due(32) == []  # each once
    assert await due(61) == [(ref_a, "twice_target"), (ref_b, "target")]
    await world.call("facility_b", "POST", f"/api/v1/referrals/{ref_b}/acknowledge")
    assert await due(121) == []  # answered: no more nudges


@pytest.mark.parametrize(
    ("minutes", "words"),
    [
        (0, "less than a minute"),
        (0.99, "less than a minute"),
        (1, "1 min"),
        (45, "45 min"),
        (59.9, "59 min"),
        (60, "1 hr"),
        (61, "1 hr 1 min"),
        (125, "2 hr 5 min"),
        (24 * 60 - 1, "23 hr 59 min"),
        (24 * 60, "1 day"),
        (27 * 60 + 30, "1 day 3 hr"),
        (50 * 60, "2 days 2 hr"),
        (-5, "less than a minute"),  # a clock a little behind never says "-5 min"
    ],
)
def test_waiting_is_said_in_minutes_hours_and_days(minutes: float, words: str) -> None:
    sent = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    assert waited_words(sent, sent + timedelta(minutes=minutes)) == words


# --------------------------------------------------------------------------- the response target


async def test_the_response_target_is_set_by_administrators_and_validated(
    world: World, conn: Any
) -> None:
    url = f"/api/v1/facilities/{world.ids['facility_a']}"
    body = await (await world.call("admin", "GET", url)).json()
    assert body["response_target_minutes"] == 30
    for bad in (4, 1441, "soon", None):
        resp = await world.call("admin", "PATCH", url, json={"response_target_minutes": bad})
        assert resp.status == 422, bad
        assert (await resp.json())["errors"][0]["field"] == "response_target_minutes"
    resp = await world.call("facility_a", "PATCH", url, json={"response_target_minutes": 240})
    assert resp.status == 403  # the facility's own staff may not move its target
    resp = await world.call("admin", "PATCH", url, json={"response_target_minutes": 45})
    assert resp.status == 200 and (await resp.json())["response_target_minutes"] == 45
    assert (
        await conn.fetchval(
            "SELECT response_target_minutes FROM facilities WHERE id = $1", world.ids["facility_a"]
        )
        == 45
    )


# --------------------------------------------------------------------------- refer to all


async def test_refer_all_refers_only_units_that_fit_and_skips_those_referred(
    world: World, make_unit: Any, conn: Any
) -> None:
    child = await make_unit(world.ids["facility_b"], name="Child Unit", population="child")
    placement = await world.create()
    pid = placement["id"]
    (first,) = await world.refer(pid, "a1")
    ids = await placements.refer_all(
        conn, pid, [world.ids["a1"], world.ids["b1"]], await _liaison(world, conn)
    )
    assert len(ids) == 1
    rows = await conn.fetch("SELECT id, unit_id FROM referrals WHERE placement_id = $1", pid)
    assert {r["unit_id"] for r in rows} == {world.ids["a1"], world.ids["b1"]}
    assert child.id not in {r["unit_id"] for r in rows}
    again = await placements.refer_all(
        conn, pid, [world.ids["a1"], world.ids["b1"]], await _liaison(world, conn)
    )
    assert again == []
    audit = await conn.fetch(
        "SELECT detail FROM audit_log WHERE action = 'placement.refer_all' ORDER BY id"
    )
    assert [r["detail"] for r in audit] == [{"referral_ids": ids}]
    assert first not in ids


async def _liaison(world: World, conn: Any) -> auth.Principal:
    email = await conn.fetchval("SELECT email FROM users WHERE id = $1", world.ids["user_liaison"])
    return auth.Principal(
        user_id=world.ids["user_liaison"], email=email, display_name="", role=auth.Role.LIAISON
    )
