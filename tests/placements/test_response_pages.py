"""The response clock on the pages: the facility's waiting time and controls, the liaison's
"no answer for …", answering a question, refer to all that fit, and who may post each form."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine

from bedboard.auth import Role
from tests.conftest import Session, login
from tests.placements.conftest import CANARY, World

QUESTION = f"Any assault history? {CANARY}-q"
ANSWER = f"None in the last year. {CANARY}-a"


async def _as(client: Any, make_user: Any, role: Role, **scope: Any) -> Session:
    client.session.cookie_jar.clear()
    user = await make_user(role, **scope)
    return await login(client, user.email)


def _no_answer(html: str) -> list[str]:
    return re.findall(r"data-no-answer>\s*([^<]+?)\s*<", html)


@pytest.mark.parametrize(
    ("minutes", "shown"),
    [(29, None), (30, "30 min"), (45, "45 min"), (61, "1 hr 1 min"), (150, "2 hr 30 min")],
)
async def test_the_liaison_sees_no_answer_for_n_once_the_target_has_passed(
    world: World, client: Any, make_user: Any, minutes: int, shown: str | None
) -> None:
    placement = await world.create()
    pid = placement["id"]
    (rid,) = await world.refer(pid, "a1")
    sent = await world.conn.fetchval("SELECT created_at FROM referrals WHERE id = $1", rid)
    await _as(client, make_user, Role.LIAISON)
    with time_machine.travel(sent + timedelta(minutes=minutes, seconds=5), tick=False):
        page = await (await client.get(f"/placements/{pid}")).text()
    expected = [f"No answer for {shown}"] if shown else []
    assert _no_answer(page) == expected


async def test_the_placement_list_shows_the_longest_wait_past_the_target(
    world: World, client: Any, make_user: Any
) -> None:
    placement = await world.create()
    (rid,) = await world.refer(placement["id"], "a1")
    await world.conn.execute(
        "UPDATE referrals SET created_at = now() - interval '45 minutes' WHERE id = $1", rid
    )
    await _as(client, make_user, Role.LIAISON)
    sent = await world.conn.fetchval("SELECT created_at FROM referrals WHERE id = $1", rid)
    with time_machine.travel(sent + timedelta(minutes=45, seconds=5), tick=False):
        html = await (await client.get("/placements?all=1")).text()
    assert placement["reference"] in html
    assert _no_answer(html) == ["no answer for 45 min"]


async def test_the_facility_sees_how_long_a_referral_has_waited(
    world: World, client: Any, make_user: Any
) -> None:
    placement = await world.create()
    (rid,) = await world.refer(placement["id"], "a1")
    sent = await world.conn.fetchval("SELECT created_at FROM referrals WHERE id = $1", rid)
    await _as(client, make_user, Role.FACILITY, facility_ids=[world.ids["facility_a"]])
    with time_machine.travel(sent + timedelta(minutes=12, seconds=5), tick=False):
        html = await (await client.get("/referrals")).text()
    assert "Waiting 12 min</strong> for your answer." in html
    with time_machine.travel(sent + timedelta(minutes=75, seconds=5), tick=False):
        html = await (await client.get("/referrals")).text()
    assert "Waiting 1 hr 15 min</strong> for your answer (your target is 30 min)." in html


async def test_acknowledge_ask_answer_and_accept_through_the_pages(
    world: World, client: Any, make_user: Any
) -> None:
    placement = await world.create()
    pid = placement["id"]
    (rid,) = await world.refer(pid, "a1")
    facility = await _as(client, make_user, Role.FACILITY, facility_ids=[world.ids["facility_a"]])
    resp = await client.post(
        f"/referrals/{rid}/acknowledge", data={"csrf_token": facility.csrf}, allow_redirects=False
    )
    assert resp.status == 303
    # An empty question: the sentence is next to that referral's question field.
    resp = await client.post(
        f"/referrals/{rid}/question", data={"csrf_token": facility.csrf, "question": "  "}
    )
    html = await resp.text()
    assert f'id="question-{rid}-error"' in html and "Write your question" in html
    assert await world.conn.fetchval("SELECT status FROM referrals WHERE id = $1", rid) == (
        "acknowledged"
    )
    resp = await client.post(
        f"/referrals/{rid}/question", data={"csrf_token": facility.csrf, "question": QUESTION}
    )
    html = await resp.text()
    assert QUESTION in html and "Waiting for the liaison\u2019s answer." in html

    liaison = await _as(client, make_user, Role.LIAISON)
    page = await (await client.get(f"/placements/{pid}")).text()
    assert QUESTION in page and f'id="answer-{rid}"' in page
    resp = await client.post(
        f"/referrals/{rid}/answer", data={"csrf_token": liaison.csrf, "answer": ""}
    )
    assert f'id="answer-{rid}-error"' in await resp.text()
    resp = await client.post(
        f"/referrals/{rid}/answer", data={"csrf_token": liaison.csrf, "answer": ANSWER}
    )
    page = await resp.text()
    assert "Answer sent" in page and ANSWER in page and f'id="answer-{rid}"' not in page

    facility = await _as(client, make_user, Role.FACILITY, facility_ids=[world.ids["facility_a"]])
    html = await (await client.get("/referrals")).text()
    assert ANSWER in html
    resp = await client.post(f"/referrals/{rid}/accept", data={"csrf_token": facility.csrf})
    assert "a bed is held" in await resp.text()
    assert await world.conn.fetchval("SELECT status FROM referrals WHERE id = $1", rid) == (
        "accepted"
    )


async def test_refer_to_all_confirms_the_units_that_fit_then_refers_them_once(
    world: World, client: Any, make_user: Any, make_unit: Any, conn: Any
) -> None:
    from bedboard import census

    child = await make_unit(world.ids["facility_b"], name="Child Unit", population="child")
    await census.apply(
        conn,
        [
            (
                child.id,
                census.CensusReport(
                    as_of=await conn.fetchval("SELECT now()"), staffed=6, occupied=0
                ),
            )
        ],
        census.Source("test"),
    )
    placement = await world.create()
    pid = placement["id"]
    await world.refer(pid, "a1")
    liaison = await _as(client, make_user, Role.LIAISON)
    page = await (await client.get(f"/placements/{pid}")).text()
    assert "Refer to all 1 that fit" in page
    confirm = await client.post(f"/placements/{pid}/refer-all", data={"csrf_token": liaison.csrf})
    html = await confirm.text()
    assert confirm.status == 200
    assert "Lakeside Psychiatric — Adult Unit" in html
    assert "Child Unit" not in html and "Hillcrest Behavioral" not in html  # unfit; referred
    fields = dict(
        re.findall(r'<input type="hidden" name="(unit_id|confirmed)" value="([^"]+)"', html)
    )
    assert fields == {"unit_id": str(world.ids["b1"]), "confirmed": "1"}
    data = {"csrf_token": liaison.csrf, "unit_id": str(world.ids["b1"]), "confirmed": "1"}
    first = await client.post(f"/placements/{pid}/refer-all", data=data)
    assert "Referral sent to 1 unit." in await first.text()
    second = await client.post(f"/placements/{pid}/refer-all", data=data)  # a double submit
    assert "Every unit that fits is already referred." in await second.text()
    # A unit that does not fit, slipped into the form, is not referred.
    await client.post(f"/placements/{pid}/refer-all", data={**data, "unit_id": str(child.id)})
    units = await conn.fetch("SELECT unit_id FROM referrals WHERE placement_id = $1", pid)
    assert sorted(r["unit_id"] for r in units) == sorted([world.ids["a1"], world.ids["b1"]])
    audited = await conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'placement.refer_all'"
    )
    assert audited == 1


# (who, method, path template, form fields, expected status). The placement is referred to
# facility A's unit a1 (referral ``rid``), and that referral has a question waiting.
PAGE_CASES = [
    ("facility_a", "/referrals/{rid}/acknowledge", {}, 409),  # a question waits: answer first
    ("facility_b", "/referrals/{rid}/acknowledge", {}, 404),
    ("facility_b", "/referrals/{rid}/question", {"question": "x"}, 404),
    ("liaison", "/referrals/{rid}/question", {"question": "x"}, 403),  # facility pages only
    ("facility_a", "/referrals/{rid}/answer", {"answer": "x"}, 403),
    ("facility_b", "/referrals/{rid}/answer", {"answer": "x"}, 404),
    ("court", "/referrals/{rid}/answer", {"answer": "x"}, 404),
    ("viewer", "/referrals/{rid}/answer", {"answer": "x"}, 404),
    ("facility_a", "/placements/{pid}/refer-all", {}, 403),
    ("facility_b", "/placements/{pid}/refer-all", {}, 404),
    ("court", "/placements/{pid}/refer-all", {}, 404),
    ("viewer", "/placements/{pid}/refer-all", {}, 404),
]


@pytest.mark.parametrize(
    ("who", "path", "form", "expected"), PAGE_CASES, ids=[f"{c[0]}-{c[1]}" for c in PAGE_CASES]
)
async def test_only_the_right_people_may_post_the_response_clock_forms(
    world: World,
    client: Any,
    make_user: Any,
    who: str,
    path: str,
    form: dict[str, str],
    expected: int,
) -> None:
    placement = await world.create()
    pid = placement["id"]
    (rid,) = await world.refer(pid, "a1")
    await world.call(
        "facility_a", "POST", f"/api/v1/referrals/{rid}/question", json={"question": QUESTION}
    )
    roles = {
        "facility_a": (Role.FACILITY, {"facility_ids": [world.ids["facility_a"]]}),
        "facility_b": (Role.FACILITY, {"facility_ids": [world.ids["facility_b"]]}),
        "liaison": (Role.LIAISON, {}),
        "court": (Role.COURT, {"court_id": world.ids["court"]}),
        "viewer": (Role.VIEWER, {}),
    }
    role, scope = roles[who]
    session = await _as(client, make_user, role, **scope)
    before = await world.conn.fetch("SELECT * FROM referrals ORDER BY id")
    questions = await world.conn.fetch("SELECT * FROM referral_questions ORDER BY id")
    resp = await client.post(
        path.format(pid=pid, rid=rid),
        data={"csrf_token": session.csrf, **form},
        allow_redirects=False,
    )
    if expected == 409:  # refused by the state machine: said on the page, nothing changed
        assert resp.status == 303 and "Not%20done" in resp.headers["Location"]
    else:
        assert resp.status == expected
        assert QUESTION not in await resp.text()
    assert await world.conn.fetch("SELECT * FROM referrals ORDER BY id") == before
    assert await world.conn.fetch("SELECT * FROM referral_questions ORDER BY id") == questions


async def test_an_administrator_sets_the_response_target_on_the_facility_page(
    world: World, client: Any, make_user: Any
) -> None:
    admin = await _as(client, make_user, Role.ADMIN)
    url = f"/admin/facilities/{world.ids['facility_a']}"
    form = await (await client.get(url)).text()
    assert 'name="response_target_minutes"' in form and 'value="30"' in form
    fields = {
        "csrf_token": admin.csrf,
        "name": "Hillcrest Behavioral",
        "kind": "psychiatric_hospital",
        "county_fips": "29019",
        "report_cadence_minutes": "720",
        "active": "true",
    }
    bad = await client.post(url, data={**fields, "response_target_minutes": "2"})
    assert bad.status == 422
    html = await bad.text()
    assert 'id="f-response_target_minutes-error"' in html
    ok = await client.post(url, data={**fields, "response_target_minutes": "45"})
    assert ok.status == 200
    assert (
        await world.conn.fetchval(
            "SELECT response_target_minutes FROM facilities WHERE id = $1",
            world.ids["facility_a"],
        )
        == 45
    )


async def test_another_facilitys_pages_never_show_the_question_or_the_answer(
    world: World, client: Any, make_user: Any
) -> None:
    placement = await world.create()
    pid = placement["id"]
    ref_a, _ref_b = await world.refer(pid, "a1", "b1")
    await world.call(
        "facility_a", "POST", f"/api/v1/referrals/{ref_a}/question", json={"question": QUESTION}
    )
    await world.call(
        "liaison", "POST", f"/api/v1/referrals/{ref_a}/answer", json={"answer": ANSWER}
    )
    await _as(client, make_user, Role.FACILITY, facility_ids=[world.ids["facility_b"]])
    # (A facility opening the placement page is sent to its referrals page.)
    for path in ("/referrals", "/referrals/list", f"/placements/{pid}"):
        html = await (await client.get(path)).text()
        assert placement["reference"] in html  # B's own referral is there
        assert f"{CANARY}-q" not in html and f"{CANARY}-a" not in html
        assert f'data-referral-id="{ref_a}"' not in html
    await _as(client, make_user, Role.FACILITY, facility_ids=[world.ids["facility_a"]])
    html = await (await client.get("/referrals")).text()
    assert QUESTION in html and ANSWER in html
