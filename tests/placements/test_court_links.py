"""Court status links and court calendars (issue 13 §5): the court opens one case's
status without a password; a court's calendar lists its open placements' deadlines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import icalendar

from bedboard import courtlinks
from bedboard.auth import Principal, Role
from tests.conftest import login
from tests.placements.conftest import CANARY, World


async def _issue(world: World, pid: int, who: str = "liaison") -> dict[str, Any]:
    resp = await world.call(who, "POST", f"/api/v1/placements/{pid}/court-links")
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


def _path(url: str) -> str:
    assert url.startswith("http://127.0.0.1:")
    return "/" + url.split("/", 3)[3]


async def test_a_court_link_opens_the_court_view_of_its_placement_without_sign_in(
    world: World,
) -> None:
    placement = await world.create()
    (ref,) = await world.refer(placement["id"], "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    issued = await _issue(world, placement["id"])
    assert issued["state"] == "active"
    resp = await world.call("anonymous", "GET", _path(issued["url"]))
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    html = await resp.text()
    assert placement["reference"] in html and "26P-CV-0042" in html
    assert "Hillcrest Behavioral" in html  # accepted: the court sees where
    assert "accepted" in html
    # Status only: nothing clinical, nothing about the person or who brought them.
    for private in (CANARY, "Agitated", "Boone County Sheriff", "Deputy (demo)", "cases.example"):
        assert private not in html
    opened = await world.conn.fetch(
        "SELECT outcome, detail FROM audit_log WHERE action = 'link.open' ORDER BY id"
    )
    assert [(r["outcome"], r["detail"]["subject_id"]) for r in opened] == [
        ("success", placement["id"])
    ]


async def test_a_revoked_or_altered_court_link_is_refused_with_a_page_not_a_500(
    world: World,
) -> None:
    placement = await world.create()
    issued = await _issue(world, placement["id"])
    path = _path(issued["url"])
    tampered = await world.call("anonymous", "GET", path[:-3] + "abc")
    assert tampered.status == 403
    assert "not valid" in await tampered.text()
    listed = await world.call("liaison", "GET", f"/api/v1/placements/{placement['id']}/court-links")
    assert [i["id"] for i in (await listed.json())["items"]] == [issued["id"]]
    assert "url" not in (await listed.json())["items"][0]
    gone = await world.call(
        "liaison", "DELETE", f"/api/v1/placements/{placement['id']}/court-links/{issued['id']}"
    )
    assert gone.status == 204
    resp = await world.call("anonymous", "GET", path)
    assert resp.status == 410
    assert "revoked" in await resp.text()
    listed = await world.call("liaison", "GET", f"/api/v1/placements/{placement['id']}/court-links")
    assert (await listed.json())["items"][0]["state"] == "revoked"
    other = await world.create()
    wrong = await world.call(
        "liaison", "DELETE", f"/api/v1/placements/{other['id']}/court-links/{issued['id']}"
    )
    assert wrong.status == 404
    assert wrong.headers["Content-Type"].startswith("application/problem+json")


async def test_a_court_link_stops_opening_when_the_case_closes(world: World) -> None:
    placement = await world.create()
    issued = await _issue(world, placement["id"])
    closed = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{placement['id']}/transition",
        json={"to": "closed", "outcome": "withdrawn"},
    )
    assert closed.status == 200, await closed.text()
    resp = await world.call("anonymous", "GET", _path(issued["url"]))
    assert resp.status == 410
    assert "closed" in await resp.text()
    again = await world.call("liaison", "POST", f"/api/v1/placements/{placement['id']}/court-links")
    assert again.status == 409
    assert (await again.json())["status"] == 409


async def test_a_court_link_expires_after_the_configured_days(world: World) -> None:
    placement = await world.create()
    issued = await _issue(world, placement["id"])
    created = datetime.fromisoformat(issued["created_at"])
    expires = datetime.fromisoformat(issued["expires_at"])
    assert (expires - created).days == 14
    await world.conn.execute(
        "UPDATE signed_links SET created_at = created_at - interval '15 days',"
        " expires_at = expires_at - interval '15 days' WHERE id = $1",
        issued["id"],
    )
    resp = await world.call("anonymous", "GET", _path(issued["url"]))
    assert resp.status == 410
    assert "expired" in await resp.text()


async def test_the_placement_page_issues_a_link_once_lists_it_and_revokes_it(
    world: World, make_user: Any
) -> None:
    placement = await world.create()
    liaison = await make_user(Role.LIAISON)
    session = await login(world.client, liaison.email)
    resp = await world.client.post(
        f"/placements/{placement['id']}/court-links", data={"csrf_token": session.csrf}
    )
    assert resp.status == 200
    html = await resp.text()
    assert 'id="court-link-new"' in html
    token_url = html.split('id="court-link-url" class="copy-field" readonly value="', 1)[1]
    token_url = token_url.split('"', 1)[0]
    assert (await world.call("anonymous", "GET", _path(token_url))).status == 200
    page = await (await world.client.get(f"/placements/{placement['id']}")).text()
    assert 'data-state="active"' in page and 'id="court-link-new"' not in page
    assert _path(token_url) not in page  # shown once only
    link_id = await world.conn.fetchval("SELECT id FROM signed_links")
    revoked = await world.client.post(
        f"/placements/{placement['id']}/court-links/{link_id}/revoke",
        data={"csrf_token": session.csrf},
        allow_redirects=False,
    )
    assert revoked.status == 303
    page = await (await world.client.get(f"/placements/{placement['id']}")).text()
    assert 'data-state="revoked"' in page
    assert (await world.call("anonymous", "GET", _path(token_url))).status == 410


# --------------------------------------------------------------------------- calendars


async def test_a_court_calendar_lists_its_open_placements_deadlines_by_reference_only(
    world: World,
) -> None:
    mine = await world.create()
    other_court = await world.create(court_id=world.ids["other_court"])
    closed = await world.create()
    await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{closed['id']}/transition",
        json={"to": "closed", "outcome": "withdrawn"},
    )
    admin = Principal(
        user_id=world.ids["user_admin"], email="a@example.org", display_name="A", role=Role.ADMIN
    )
    now = datetime.now(UTC)
    secret = await courtlinks.rotate_calendar_secret(
        world.conn, world.ids["court"], by=admin, now=now
    )
    path = courtlinks.calendar_path(world.ids["court"], secret)
    resp = await world.call("anonymous", "GET", path)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/calendar")
    body = await resp.read()
    cal = icalendar.Calendar.from_ical(body)
    events = list(cal.walk("VEVENT"))
    assert [str(e["summary"]).split(" · ")[0] for e in events] == [mine["reference"]]
    (event,) = events
    assert "open" in str(event["summary"])
    start = event.decoded("dtstart")
    assert start.utcoffset().total_seconds() == 0
    assert start == datetime.fromisoformat(mine["deadline_at"]).replace(microsecond=0)
    assert b"DTSTART:" in body and b"Z\r\n" in body
    text = body.decode()
    for private in (CANARY, "26P-CV-0042", "Boone County Sheriff", "JD", "jd"):
        assert private not in text
    assert other_court["reference"] not in text and closed["reference"] not in text

    # A wrong secret, another court's id, and the secret before rotation: all 404.
    wrong = courtlinks.calendar_path(world.ids["court"], secret[:-1] + "x")
    assert (await world.call("anonymous", "GET", wrong)).status == 404
    cross = courtlinks.calendar_path(world.ids["other_court"], secret)
    assert (await world.call("anonymous", "GET", cross)).status == 404
    await courtlinks.rotate_calendar_secret(world.conn, world.ids["court"], by=admin, now=now)
    assert (await world.call("anonymous", "GET", path)).status == 404


async def test_an_administrator_rotates_a_courts_calendar_on_its_admin_page(
    world: World, make_user: Any
) -> None:
    admin = await make_user(Role.ADMIN)
    session = await login(world.client, admin.email)
    court = world.ids["court"]
    before = await (await world.client.get(f"/admin/courts/{court}")).text()
    assert "no calendar address yet" in before
    resp = await world.client.post(
        f"/admin/courts/{court}/calendar", data={"csrf_token": session.csrf}
    )
    assert resp.status == 200
    html = await resp.text()
    url = html.split('id="calendar-url" class="copy-field" readonly value="', 1)[1].split('"')[0]
    assert (await world.call("anonymous", "GET", _path(url))).status == 200
    after = await (await world.client.get(f"/admin/courts/{court}")).text()
    assert _path(url) not in after and "Rotate" in after
    rotated = await world.conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'court.calendar_rotate'"
    )
    assert rotated == 1
