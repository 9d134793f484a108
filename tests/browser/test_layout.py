"""In a real browser at a laptop's and a phone's width: no page of any role's navigation
scrolls sideways, and the board's phone list filters, sorts, opens and follows reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from bedboard import census, regions
from bedboard.auth import Role
from bedboard.pages import NAVIGATION
from bedboard.regions import RegionIn
from tests.browser.test_login import sign_in

pytestmark = pytest.mark.browser

LAPTOP_PX = 1366
PHONE_PX = 390

# The page's width against the viewport's, and the elements that stick out past its right edge
# (innermost last), so a failure names the culprit.
OVERFLOW_JS = """() => {
  const width = window.innerWidth;
  const describe = (el) => {
    const id = el.id ? "#" + el.id : "";
    const cls = typeof el.className === "string" && el.className.trim()
      ? "." + el.className.trim().split(/\\s+/).join(".") : "";
    const text = (el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 50);
    const right = Math.round(el.getBoundingClientRect().right);
    return `<${el.tagName.toLowerCase()}${id}${cls}> right=${right}px "${text}"`;
  };
  const offenders = [];
  const hidden = (el) => el.closest(".visually-hidden") !== null; // clipped on purpose
  for (const el of document.body.querySelectorAll("*")) {
    if (hidden(el)) continue;
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 0.5) offenders.push(describe(el));
  }
  // Text can run out of a box that itself fits (a long word in a narrow cell).
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.textContent.trim() || hidden(node.parentElement)) continue;
    range.selectNodeContents(node);
    const box = range.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 0.5) {
      offenders.push(`text in ${describe(node.parentElement)} runs to ${Math.round(box.right)}px`);
    }
  }
  const sideways = [...document.querySelectorAll(".table-wrap")]
    .filter((el) => el.scrollWidth > el.clientWidth + 1)
    .map((el) => describe(el) + ` scrolls ${el.scrollWidth}px in ${el.clientWidth}px`);
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: width,
    offenders: offenders.slice(-8),
    sideways,
  };
}"""


async def overflow_problems(page: Page, what: str) -> list[str]:
    """What sticks out sideways on the page as it stands, one line per problem."""
    found: dict[str, Any] = await page.evaluate(OVERFLOW_JS)
    problems = []
    if found["scrollWidth"] > found["innerWidth"]:
        problems.append(
            f"{what}: page is {found['scrollWidth']}px wide in a {found['innerWidth']}px window; "
            f"past the edge: {'; '.join(found['offenders']) or 'nothing measurable'}"
        )
    if found["innerWidth"] <= PHONE_PX and found["sideways"]:
        # On a phone every table stacks; none should need sideways scrolling.
        problems.append(f"{what}: table scrolls sideways: {'; '.join(found['sideways'])}")
    return problems


async def _world(
    live_url: str, conn: Any, make_facility: Any, make_unit: Any, make_court: Any,
    make_user: Any, make_token: Any,
) -> dict[str, Any]:  # fmt: skip
    """Facilities with long names and units with census, a court, one account per role
    (with a long liaison address), and a placement referred to two units."""
    north = await make_facility(
        name="Northgate Regional Behavioral Health and Recovery Center",
        county_fips="29019",
        phone_intake="573-555-0101",
    )
    south = await make_facility(name="Southfork Psychiatric", county_fips="29097")
    units = [
        await make_unit(
            north.id,
            name="Adult Acute Stabilization Unit",
            population="adult",
            specialties=["co_occurring_substance_use"],
        ),
        await make_unit(north.id, name="Adolescent", population="adolescent"),
        await make_unit(south.id, name="Adult", population="adult"),
        await make_unit(south.id, name="Never Reported Unit", population="geriatric"),
    ]
    now = await conn.fetchval("SELECT now()")
    await census.apply(conn, [
        (units[0].id, census.CensusReport(as_of=now, staffed=24, occupied=19)),
        (units[1].id, census.CensusReport(as_of=now - timedelta(hours=30), staffed=8,
                                          occupied=8)),
        (units[2].id, census.CensusReport(as_of=now, staffed=12, occupied=10)),
    ], census.Source("test"))  # fmt: skip
    court = await make_court(name="Boone County Circuit Court Probate Division")
    accounts = {
        Role.ADMIN: await make_user(Role.ADMIN),
        Role.LIAISON: await make_user(
            Role.LIAISON, email="community.mental.health.liaison.boone@behavioral.example.org"
        ),
        Role.SUPERVISOR: await make_user(
            Role.SUPERVISOR,
            email="regional.liaison.supervisor.central@behavioral.example.org",
            region_id=(
                await regions.create_region(
                    conn, RegionIn(name="Central Missouri Region (test)", counties=["29019"])
                )
            ).id,
        ),
        Role.FACILITY: await make_user(Role.FACILITY, facility_ids=[north.id]),
        Role.COURT: await make_user(Role.COURT, court_id=court.id),
        Role.VIEWER: await make_user(Role.VIEWER),
    }
    headers = {"Authorization": f"Bearer {await make_token(accounts[Role.LIAISON].id)}"}
    body = {
        "order_type": "emergency_96h",
        "court_id": court.id,
        "case_number": "26P-MH-20260042",
        "detention_start": (datetime.now(UTC) - timedelta(hours=5)).isoformat(),
        "county_fips": "29019",
        "person": {"initials": "JD", "age": 34, "sex": "male"},
        "needs": {"population": "adult", "gender": "male", "involuntary": True},
        "clinical_notes": "Agitated on arrival; calmer after two hours. Needs 1:1 overnight.",
        "requesting_agency": "Boone County Sheriff's Office Crisis Intervention Team",
        "requesting_officer": "Deputy Alexandria Montgomery-Fitzgerald",
    }
    async with aiohttp.ClientSession(headers=headers) as http:
        resp = await http.post(f"{live_url}/api/v1/placements", json=body)
        assert resp.status == 201, await resp.text()
        placement_id = (await resp.json())["id"]
        resp = await http.post(f"{live_url}/api/v1/placements/{placement_id}/referrals",
                               json={"unit_ids": [units[0].id, units[2].id]})  # fmt: skip
        assert resp.status == 201, await resp.text()
    return {"accounts": accounts, "placement_id": placement_id, "case": body["case_number"]}


def _paths(role: Role, placement_id: int) -> list[str]:
    paths = [item.href for item in NAVIGATION[role]]
    if role in (Role.LIAISON, Role.SUPERVISOR):
        paths += ["/placements/new", f"/placements/{placement_id}"]
    return paths


@pytest.mark.parametrize("width", [LAPTOP_PX, PHONE_PX], ids=["laptop", "phone"])
async def test_no_page_in_any_role_navigation_scrolls_sideways(
    browser: Browser, live_url: str, conn: Any, make_facility: Any, make_unit: Any,
    make_court: Any, make_user: Any, make_token: Any, width: int,
) -> None:  # fmt: skip
    world = await _world(
        live_url, conn, make_facility, make_unit, make_court, make_user, make_token
    )
    problems: list[str] = []
    for role, account in world["accounts"].items():
        context = await browser.new_context(viewport={"width": width, "height": 800})
        page = await context.new_page()
        await sign_in(page, live_url, account.email)
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        for path in _paths(role, world["placement_id"]):
            response = await page.goto(live_url + path)
            assert response is not None and response.ok, f"{role.value} {path}: {response}"
            await expect(page.get_by_role("heading", level=1)).to_be_visible()
            problems += await overflow_problems(page, f"{role.value} {path} at {width}px")
            if path == "/court":  # the result card, reached through the form
                await page.get_by_label("Case number").fill(world["case"])
                await page.get_by_role("button", name="Look up").click()
                await expect(page.locator(".court-result")).to_be_visible()
                problems += await overflow_problems(page, f"{role.value} case lookup result")
            if path == "/search":
                await page.get_by_label("Person's county").select_option(label="Boone")
                await page.get_by_role("button", name="Search").click()
                await expect(page.locator("#live-status")).to_be_visible()
                problems += await overflow_problems(page, f"{role.value} search results")
        await context.close()
    assert not problems, "\n".join(problems)


async def test_the_phone_board_filters_by_name_sorts_opens_a_unit_and_follows_reports(
    browser: Browser, live_url: str, conn: Any, make_facility: Any, make_unit: Any,
    make_user: Any, make_token: Any,
) -> None:  # fmt: skip
    osage = await make_facility(name="Osage Hills Psychiatric", county_fips="29019")
    prairie = await make_facility(name="Prairie Rose Behavioral", county_fips="29097")
    osage_adult = await make_unit(osage.id, name="Adult Acute")
    osage_teen = await make_unit(osage.id, name="Teen Unit", population="adolescent")
    prairie_adult = await make_unit(prairie.id, name="Adult Unit")
    now = await conn.fetchval("SELECT now()")
    await census.apply(conn, [
        (osage_adult.id, census.CensusReport(as_of=now, staffed=12, occupied=10)),
        (osage_teen.id, census.CensusReport(as_of=now, staffed=6, occupied=6)),
        (prairie_adult.id, census.CensusReport(as_of=now, staffed=10, occupied=5)),
    ], census.Source("test"))  # fmt: skip
    staff = await make_user(Role.FACILITY, facility_ids=[osage.id])
    viewer = await make_user(Role.VIEWER)

    context = await browser.new_context(viewport={"width": PHONE_PX, "height": 800})
    page = await context.new_page()
    await sign_in(page, live_url, viewer.email)
    await page.goto(live_url + "/board")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    lines = page.locator("#board-compact > li:visible")
    await expect(page.locator("#board")).to_be_hidden()  # the phone sees the list, not cards
    await expect(lines).to_have_count(3)
    await expect(page.locator("#total-free")).to_have_text("7")
    await expect(page.get_by_label("Population")).to_be_hidden()  # folded on a phone
    await page.get_by_text("More filters").click()
    await expect(page.get_by_label("Population")).to_be_visible()

    # Typing part of a name narrows the list and the total.
    await page.get_by_label("Facility name").press_sequentially("osage")
    await expect(lines).to_have_count(2)
    await expect(lines.first).to_contain_text("Osage Hills Psychiatric")
    await expect(page.locator("#total-free")).to_have_text("2")
    assert "name=osage" in page.url
    await page.get_by_label("Facility name").fill("")
    await expect(lines).to_have_count(3)

    # Most free beds first.
    await page.get_by_label("Sort by").select_option(label="Most free beds")
    await expect(lines.first).to_contain_text("Prairie Rose Behavioral")
    await expect(lines.nth(1)).to_contain_text("Adult Acute")
    await expect(lines.nth(2)).to_contain_text("Teen Unit")

    # Tapping a line shows the unit's detail.
    osage_line = page.locator(f'#board-compact > li[data-unit-id="{osage_adult.id}"]')
    occupied = osage_line.locator('[data-field="occupied"]')
    await expect(occupied).to_be_hidden()
    await osage_line.locator("summary").click()
    await expect(occupied).to_be_visible()
    await expect(occupied).to_have_text("10")
    await expect(osage_line.locator('[data-field="staffed"]')).to_have_text("12")

    # A report arrives: the open line changes in place and moves to the top.
    await page.evaluate("window.__sameDocument = true")
    headers = {"Authorization": f"Bearer {await make_token(staff.id)}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        resp = await http.put(f"{live_url}/api/v1/units/{osage_adult.id}/census",
                              json={"as_of": datetime.now(UTC).isoformat(), "staffed": 12,
                                    "occupied": 4})  # fmt: skip
        assert resp.status == 200, await resp.text()
    await expect(osage_line.locator('[data-field="free"]')).to_have_text("8")
    await expect(occupied).to_have_text("4")
    await expect(lines.first).to_contain_text("Osage Hills Psychiatric")
    await expect(page.locator("#total-free")).to_have_text("13")
    assert await osage_line.locator("details").get_attribute("open") is not None

    # While a filter hides a unit, its reports still land, and the total leaves them out.
    await page.get_by_label("Facility name").press_sequentially("prairie")
    await expect(page.locator("#total-free")).to_have_text("5")
    async with aiohttp.ClientSession(headers=headers) as http:
        resp = await http.put(f"{live_url}/api/v1/units/{osage_adult.id}/census",
                              json={"as_of": datetime.now(UTC).isoformat(), "staffed": 12,
                                    "occupied": 11})  # fmt: skip
        assert resp.status == 200, await resp.text()
    await expect(osage_line.locator('[data-field="free"]')).to_have_text("1")
    await expect(page.locator("#total-free")).to_have_text("5")
    await expect(lines).to_have_count(1)
    await page.get_by_label("Facility name").fill("")
    await expect(page.locator("#total-free")).to_have_text("6")
    assert await page.evaluate("window.__sameDocument") is True

    # Nearest first from Jasper County puts the Jasper facility on top, with its distance.
    await page.get_by_label("Distance from").select_option(label="Jasper")
    await expect(page.get_by_label("Sort by")).to_have_value("distance")
    await expect(lines.first).to_contain_text("Prairie Rose Behavioral")
    await expect(lines.nth(1).locator("[data-distance]")).to_contain_text("mi")
    await context.close()
