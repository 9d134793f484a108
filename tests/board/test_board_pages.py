"""The board, search and census pages as served (server-side rendering and forms)."""

from __future__ import annotations

import re
from typing import Any

from bedboard import census
from bedboard.auth import Role
from tests.conftest import login


async def _report(conn: Any, unit_id: int, available: int, minutes_ago: int = 1) -> None:
    now = await conn.fetchval("SELECT now() - make_interval(mins => $1)", minutes_ago)
    await census.apply(conn, [(unit_id, census.CensusReport(as_of=now, available=available))],
                       census.Source("test"))  # fmt: skip


async def test_the_board_page_shows_counts_freshness_and_the_seq_to_follow(
    client: Any, conn: Any, make_user: Any, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility(name="Redbud Behavioral")
    unit = await make_unit(facility.id, name="Adult Acute")
    await _report(conn, unit.id, 4)
    viewer = await make_user(Role.VIEWER)
    await login(client, viewer.email)
    html = await (await client.get("/board")).text()
    seq = await conn.fetchval("SELECT seq FROM outbox_counter")
    assert f'data-seq="{seq}"' in html
    row = html.split(f'data-unit-id="{unit.id}"', 1)[1].split("</tr>", 1)[0]
    assert "<strong>4</strong>" in row and 'data-freshness="fresh"' in row


async def test_an_overdue_facility_user_lands_on_the_census_form(
    client: Any, conn: Any, make_user: Any, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility(report_cadence_minutes=60)
    unit = await make_unit(facility.id)
    await _report(conn, unit.id, 2, minutes_ago=300)
    staff = await make_user(Role.FACILITY, facility_ids=[facility.id])
    await login(client, staff.email)
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/census?overdue=1"
    html = await (await client.get("/census")).text()
    assert "Your census report is overdue." in html


async def test_an_overdue_facility_user_can_still_reach_home_before_or_after_reporting(
    client: Any, conn: Any, make_user: Any, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility(report_cadence_minutes=60)
    first = await make_unit(facility.id, name="First")
    second = await make_unit(facility.id, name="Second")
    await _report(conn, first.id, 2, minutes_ago=300)
    await _report(conn, second.id, 2, minutes_ago=300)
    staff = await make_user(Role.FACILITY, facility_ids=[facility.id])
    session = await login(client, staff.email)
    form = await (await client.get("/census?overdue=1")).text()
    assert '<a href="/?anyway=1">Go to home anyway</a>' in form
    home = await client.get("/?anyway=1", allow_redirects=False)
    assert home.status == 200
    assert '<nav class="site-nav"' in await home.text()

    # Reporting one unit leaves the other overdue: Home is still one link away.
    saved = await client.post("/census", data={
        "csrf_token": session.csrf, f"staffed-{first.id}": "10", f"occupied-{first.id}": "4",
    })  # fmt: skip
    assert saved.status == 200
    assert '<a href="/?anyway=1">Go to home</a>' in await saved.text()
    assert (await client.get("/", allow_redirects=False)).status == 303
    assert (await client.get("/?anyway=1", allow_redirects=False)).status == 200


async def test_the_census_form_saves_every_unit_together(
    client: Any, conn: Any, make_user: Any, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility()
    a = await make_unit(facility.id, name="A")
    b = await make_unit(facility.id, name="B")
    staff = await make_user(Role.FACILITY, facility_ids=[facility.id])
    session = await login(client, staff.email)
    page = await (await client.get("/census")).text()
    assert f'id="staffed-{a.id}"' in page and f'id="occupied-{b.id}"' in page

    bad = await client.post("/census", data={
        "csrf_token": session.csrf, f"staffed-{a.id}": "10", f"occupied-{a.id}": "4",
        f"staffed-{b.id}": "8", f"occupied-{b.id}": "9",
    })  # fmt: skip
    assert bad.status == 422
    html = await bad.text()
    assert "Nothing was saved." in html and "Occupied cannot exceed staffed." in html
    assert 'value="9"' in html  # what was typed stays in the form
    assert await conn.fetchval("SELECT count(*) FROM unit_census") == 0

    good = await client.post("/census", data={
        "csrf_token": session.csrf, f"staffed-{a.id}": "10", f"occupied-{a.id}": "4",
        f"blocked-{a.id}": "1", f"staffed-{b.id}": "8", f"occupied-{b.id}": "8",
    })  # fmt: skip
    assert good.status == 200
    assert "2 units updated" in await good.text()
    rows = dict(await conn.fetch("SELECT unit_id, available FROM unit_census"))
    assert rows == {a.id: 5, b.id: 0}
    sources = {r["source"] for r in await conn.fetch("SELECT source FROM census_history")}
    assert sources == {"form"}


async def test_the_census_form_only_reports_for_your_own_facility(
    client: Any, conn: Any, make_user: Any, make_facility: Any, make_unit: Any
) -> None:
    mine = await make_facility()
    theirs = await make_facility()
    await make_unit(mine.id)
    foreign = await make_unit(theirs.id)
    staff = await make_user(Role.FACILITY, facility_ids=[mine.id])
    session = await login(client, staff.email)
    await client.post("/census", data={"csrf_token": session.csrf, f"staffed-{foreign.id}": "5",
                                       f"occupied-{foreign.id}": "1"})  # fmt: skip
    assert (
        await conn.fetchval("SELECT count(*) FROM unit_census WHERE unit_id = $1", foreign.id) == 0
    )


async def test_the_search_page_lists_results_and_reasons(
    client: Any, conn: Any, make_user: Any, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility(name="Bluestem Hospital", county_fips="29019")
    adult = await make_unit(facility.id, name="Adult", population="adult")
    teen = await make_unit(facility.id, name="Teen", population="adolescent")
    await _report(conn, adult.id, 3)
    await _report(conn, teen.id, 3)
    liaison = await make_user(Role.LIAISON)
    await login(client, liaison.email)
    html = await (await client.get("/search?county=29019&population=adult")).text()
    assert "Bluestem Hospital — Adult" in html
    assert re.search(r'data-reason="population">1 unit serves another age group', html)
    fragment = await client.get("/search/results?county=29019&population=adult")
    assert "<html" not in await fragment.text()
    invalid = await client.get("/search?county=&population=adult")
    assert invalid.status == 422


def _between(html: str, start: str, end: str) -> str:
    return html.split(start, 1)[1].split(end, 1)[0]


async def test_the_board_total_counts_only_the_units_the_query_filters_show(
    client: Any, conn: Any, make_user: Any, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility(name="Redbud Behavioral")
    adult = await make_unit(facility.id, name="Adult Acute", population="adult")
    teen = await make_unit(facility.id, name="Teen Unit", population="adolescent")
    await _report(conn, adult.id, 4)
    await _report(conn, teen.id, 3)
    viewer = await make_user(Role.VIEWER)
    await login(client, viewer.email)

    everything = await (await client.get("/board")).text()
    assert '<span id="total-free">7</span>' in everything
    adults = await (await client.get("/board?population=adult")).text()
    assert '<span id="total-free">4</span>' in adults
    assert '<span id="total-facilities">1</span>' in adults
    teen_row = _between(adults, f'<tr data-unit-id="{teen.id}"', ">")
    assert " hidden" in teen_row
    assert " hidden" not in _between(adults, f'<tr data-unit-id="{adult.id}"', ">")
    nobody = await (await client.get("/board?name=nowhere")).text()
    assert '<span id="total-free">0</span>' in nobody
    assert " hidden" not in _between(nobody, '<p class="empty-state" id="board-empty"', ">")


async def test_the_phone_list_sorts_by_free_beds_or_distance_and_filters_by_name(
    client: Any, conn: Any, make_user: Any, make_facility: Any, make_unit: Any
) -> None:
    # Boone (Columbia) is central Missouri; Jackson is Kansas City, Greene is Springfield.
    near = await make_facility(name="Columbia Near Hospital", county_fips="29019")
    far = await make_facility(name="Joplin Far Hospital", county_fips="29097")
    near_unit = await make_unit(near.id, name="Near Adult")
    far_unit = await make_unit(far.id, name="Far Adult")
    await _report(conn, near_unit.id, 1)
    await _report(conn, far_unit.id, 5)
    viewer = await make_user(Role.VIEWER)
    await login(client, viewer.email)

    def order(html: str) -> list[int]:
        phone = _between(html, 'id="board-compact"', "</ol>")
        return [int(v) for v in re.findall(r'<li class="unit-line" data-unit-id="(\d+)"', phone)]

    by_free = await (await client.get("/board?sort=free")).text()
    assert order(by_free) == [far_unit.id, near_unit.id]
    by_distance = await (await client.get("/board?sort=distance&near=29019")).text()
    assert order(by_distance) == [near_unit.id, far_unit.id]
    assert re.search(r"data-distance> · \d+ mi<", by_distance)
    named = await (await client.get("/board?name=joplin")).text()
    assert '<span id="total-free">5</span>' in named
    near_line = _between(named, f'<li class="unit-line" data-unit-id="{near_unit.id}"', ">")
    assert " hidden" in near_line


async def test_favicon_ico_leads_to_the_svg_icon_the_pages_link(
    client: Any, make_user: Any
) -> None:
    resp = await client.get("/favicon.ico")
    assert resp.status == 200 and resp.content_type == "image/svg+xml"
    viewer = await make_user(Role.VIEWER)
    await login(client, viewer.email)
    html = await (await client.get("/board")).text()
    assert re.search(
        r'<link rel="icon" href="/static/favicon\.svg\?v=[^"]+" type="image/svg\+xml">', html
    )


async def test_the_search_page_shows_no_live_status_before_a_search(
    client: Any, make_user: Any, make_facility: Any
) -> None:
    await make_facility(county_fips="29019")
    liaison = await make_user(Role.LIAISON)
    await login(client, liaison.email)
    before = await (await client.get("/search")).text()
    assert "Not live yet" not in before
    assert " hidden" in _between(before, 'id="live-status"', ">")
    after = await (await client.get("/search?county=29019")).text()
    assert " hidden" not in _between(after, 'id="live-status"', ">")


async def test_the_search_page_ignores_parameters_that_are_not_its_fields(
    client: Any, make_user: Any
) -> None:
    """The checkboxes macro once added ``needs__shown`` and every search failed with 422."""
    liaison = await make_user(Role.LIAISON)
    await login(client, liaison.email)
    resp = await client.get("/search?county=29077&needs__shown=1&utm_source=mail")
    assert resp.status == 200
    assert "Please correct" not in await resp.text()
