"""Placement pages served by the app: forms, refusals and the court lookup."""

from __future__ import annotations

from typing import Any

from bedboard.auth import Role
from tests.conftest import login
from tests.placements.conftest import CANARY, World


async def test_the_new_placement_form_explains_what_is_missing(
    client: Any, make_user: Any, conn: Any
) -> None:
    liaison = await make_user(Role.LIAISON)
    session = await login(client, liaison.email)
    resp = await client.post(
        "/placements/new",
        data={
            "csrf_token": session.csrf,
            "order_type": "emergency_96h",
            "court_id": "",
            "detention_start": "",
            "county_fips": "",
            "initials": "J0HN",
            "population": "adult",
            "sex": "male",
        },
    )
    assert resp.status == 422
    html = await resp.text()
    assert "Please correct" in html
    assert 'value="J0HN"' in html
    assert await conn.fetchval("SELECT count(*) FROM placements") == 0


async def test_the_placement_page_shows_the_record_and_beds_that_fit(
    world: World, client: Any, make_user: Any
) -> None:
    placement = await world.create(liaison_id=None)
    liaison = await make_user(Role.LIAISON)
    await login(client, liaison.email)
    html = await (await client.get(f"/placements/{placement['id']}")).text()
    assert placement["reference"] in html and CANARY in html
    assert "Refer to Hillcrest Behavioral — Adult Acute" in html
    assert "Mark in transit" not in html  # not allowed while open


async def test_other_roles_cannot_open_liaison_pages(
    client: Any, make_user: Any, make_facility: Any
) -> None:
    facility = await make_facility()
    staff = await make_user(Role.FACILITY, facility_ids=[facility.id])
    await login(client, staff.email)
    assert (await client.get("/placements")).status == 403
    assert (await client.get("/placements/new")).status == 403
    assert (await client.get("/court")).status == 403


async def test_a_court_clerk_finds_only_their_own_courts_case(
    world: World, client: Any, make_user: Any
) -> None:
    await world.create()
    clerk = await make_user(Role.COURT, court_id=world.ids["court"])
    other = await make_user(Role.COURT, court_id=world.ids["other_court"])
    await login(client, clerk.email)
    html = await (await client.get("/court?case_number=26P-CV-0042")).text()
    assert "court-result" in html and CANARY not in html
    client.session.cookie_jar.clear()
    await login(client, other.email)
    html = await (await client.get("/court?case_number=26P-CV-0042")).text()
    assert "court-result" not in html and "No placement with case number" in html


async def test_a_facility_declines_from_its_referrals_page_with_a_reason(
    world: World, client: Any, make_user: Any, conn: Any
) -> None:
    placement = await world.create()
    (ref,) = await world.refer(placement["id"], "a1")
    staff = await make_user(Role.FACILITY, facility_ids=[world.ids["facility_a"]])
    session = await login(client, staff.email)
    html = await (await client.get("/referrals")).text()
    assert CANARY in html  # the receiving facility sees what it needs to decide
    no_reason = await client.post(
        f"/referrals/{ref}/decline", data={"csrf_token": session.csrf}, allow_redirects=False
    )
    assert "Choose%20a%20reason" in no_reason.headers["Location"]
    assert await conn.fetchval("SELECT status FROM referrals WHERE id = $1", ref) == "pending"
    ask = await client.post(
        f"/referrals/{ref}/decline",
        data={"csrf_token": session.csrf, "reason": "payer", "note": "Plan not accepted"},
        allow_redirects=False,
    )
    assert ask.status == 200  # a confirmation step first: declining cannot be undone
    assert "cannot be undone" in await ask.text()
    assert await conn.fetchval("SELECT status FROM referrals WHERE id = $1", ref) == "pending"
    resp = await client.post(
        f"/referrals/{ref}/decline",
        data={
            "csrf_token": session.csrf,
            "reason": "payer",
            "note": "Plan not accepted",
            "confirmed": "1",
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    assert await conn.fetchval("SELECT decline_note FROM referrals WHERE id = $1", ref) == (
        "Plan not accepted"
    )
    assert await conn.fetchval("SELECT decline_reason FROM referrals WHERE id = $1", ref) == "payer"


async def test_submitting_the_new_placement_form_twice_records_it_once(
    client: Any, make_user: Any, make_court: Any, conn: Any
) -> None:
    import re

    court = await make_court()
    liaison = await make_user(Role.LIAISON)
    session = await login(client, liaison.email)
    page = await (await client.get("/placements/new")).text()
    key = re.search(r'name="form_key" value="([^"]+)"', page)
    assert key is not None
    form = {
        "csrf_token": session.csrf,
        "form_key": key.group(1),
        "order_type": "emergency_96h",
        "court_id": str(court.id),
        "case_number": "26P-MH-7",
        "detention_start": "2026-11-28T10:00",
        "county_fips": "29019",
        "initials": "AB",
        "age": "30",
        "sex": "female",
        "population": "adult",
    }
    first = await client.post("/placements/new", data=form, allow_redirects=False)
    second = await client.post("/placements/new", data=form, allow_redirects=False)
    assert first.status == second.status == 303
    assert first.headers["Location"].split("?")[0] == second.headers["Location"].split("?")[0]
    assert "already%20recorded" in second.headers["Location"]
    assert await conn.fetchval("SELECT count(*) FROM placements") == 1


async def test_a_list_page_view_is_audited_once_and_its_live_refreshes_are_not(
    world: Any, make_user: Any, client: Any, conn: Any
) -> None:
    liaison = await make_user(Role.LIAISON)
    await login(client, liaison.email)
    before = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'placement.list'")
    assert (await client.get("/placements")).status == 200
    assert (await client.get("/placements/list")).status == 200
    assert (await client.get("/placements/list")).status == 200
    after = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'placement.list'")
    assert after - before == 1


async def test_the_referrals_page_leaves_out_placements_that_are_closed_or_admitted(
    world: Any, make_user: Any, client: Any
) -> None:
    done = await world.create()
    (ref,) = await world.refer(done["id"], "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{done['id']}/transition",
        json={"to": "closed", "outcome": "released"},
    )
    waiting = await world.create()
    await world.refer(waiting["id"], "a1", "b1")
    staff = await make_user(Role.FACILITY, facility_ids=[world.ids["facility_a"]])
    await login(client, staff.email)
    html = await (await client.get("/referrals")).text()
    assert waiting["reference"] in html
    assert done["reference"] not in html  # closed: nothing left to act on
    assert html.count('data-referral-status="pending"') == 1  # only its own referral


async def test_no_bed_found_asks_to_confirm_then_records_and_shows_it(
    world: World, client: Any, make_user: Any, conn: Any
) -> None:
    placement = await world.create()
    pid = placement["id"]
    liaison = await make_user(Role.LIAISON)
    session = await login(client, liaison.email)
    html = await (await client.get(f"/placements/{pid}")).text()
    assert f'action="/placements/{pid}/no-bed"' in html and "No-bed records" not in html

    ask = await client.post(
        f"/placements/{pid}/no-bed", data={"csrf_token": session.csrf}, allow_redirects=False
    )
    assert ask.status == 200
    assert "cannot be undone" in (text := await ask.text()) and "Yes, record no bed found" in text
    assert await conn.fetchval("SELECT count(*) FROM no_bed_reports") == 0

    done = await client.post(
        f"/placements/{pid}/no-bed",
        data={"csrf_token": session.csrf, "confirmed": "1"},
        allow_redirects=False,
    )
    assert done.status == 303 and "No-bed%20record%20made." in done.headers["Location"]
    html = await (await client.get(done.headers["Location"])).text()
    assert "No-bed records" in html and "No bed found (declared by a liaison)" in html
    assert f'action="/placements/{pid}/no-bed"' not in html  # declared: the button is gone
    assert "no bed declared" in html  # on the timeline
    assert await conn.fetchval("SELECT count(*) FROM no_bed_reports") == 1


async def test_no_bed_found_on_a_closed_placement_says_why_not(
    world: World, client: Any, make_user: Any, conn: Any
) -> None:
    pid = (await world.create())["id"]
    await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{pid}/transition",
        json={"to": "closed", "outcome": "withdrawn"},
    )
    liaison = await make_user(Role.LIAISON)
    session = await login(client, liaison.email)
    resp = await client.post(
        f"/placements/{pid}/no-bed",
        data={"csrf_token": session.csrf, "confirmed": "1"},
        allow_redirects=False,
    )
    assert resp.status == 303
    assert "Not%20done:%20Only%20an%20open%20placement" in resp.headers["Location"]
    assert await conn.fetchval("SELECT count(*) FROM no_bed_reports") == 0
