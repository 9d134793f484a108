"""In a real browser, by the real controls, at desktop and phone widths: the forms not
walked elsewhere: the census form, a placement's case link, note, withdrawal and close,
and the administrator's facility, unit, court, user and token forms."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from bedboard import census, placements
from bedboard.auth import Principal, Role
from bedboard.placements import NoteIn
from tests.browser.conftest import assert_no_horizontal_overflow, record_placement
from tests.browser.test_placement_path import as_user

pytestmark = pytest.mark.browser


async def test_a_nurse_reports_census_on_the_form_and_a_mistake_is_named_beside_the_field(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    facility = await make_facility(name="Cedar Ridge Hospital")
    unit = await make_unit(facility.id, name="Adult Acute", population="adult")
    nurse = await make_user(Role.FACILITY, facility_ids=[facility.id])
    page = await as_user(browser, live_url, nurse.email, viewport)
    await page.get_by_role("link", name="Report census").first.click()
    await page.get_by_label("Staffed beds, Adult Acute").fill("10")
    await page.get_by_label("Occupied beds, Adult Acute").fill("12")
    await page.get_by_role("button", name="Save census").click()
    await expect(page.get_by_text("Occupied cannot exceed staffed.")).to_be_visible()
    await assert_no_horizontal_overflow(page)
    await page.get_by_label("Occupied beds, Adult Acute").fill("7")
    await page.get_by_role("button", name="Save census").click()
    await expect(page.get_by_text("1 unit updated")).to_be_visible()
    assert await conn.fetchval("SELECT occupied FROM unit_census WHERE unit_id = $1", unit.id) == 7


async def test_a_liaison_adds_a_link_and_a_note_withdraws_a_referral_and_closes_with_confirmation(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    facility = await make_facility(name="Cedar Ridge Hospital")
    unit = await make_unit(facility.id, name="Adult Acute", population="adult")
    now = await conn.fetchval("SELECT now()")
    await census.apply(
        conn,
        [(unit.id, census.CensusReport(as_of=now, staffed=10, occupied=5))],
        census.Source("test"),
    )
    liaison = await make_user(Role.LIAISON)
    placement_id = await record_placement(
        conn, liaison.id, initials="EF", age=44, sex="male", county_fips="29019"
    )
    page = await as_user(browser, live_url, liaison.email, viewport)
    await page.goto(f"{live_url}/placements/{placement_id}")
    await page.get_by_label("System").fill("CMHL case")
    await page.get_by_label("Record number").fill("C-881")
    await page.get_by_label("Address").fill("https://cases.example.org/C-881")
    await page.get_by_role("button", name="Add link").click()
    await expect(page.get_by_role("link", name="CMHL case C-881")).to_be_visible()
    await page.get_by_label("New note").fill("Called intake; waiting on medical clearance.")
    await page.get_by_role("button", name="Add note").click()
    await expect(page.get_by_text("waiting on medical clearance")).to_be_visible()

    await page.get_by_role("button", name="Refer to Cedar Ridge Hospital — Adult Acute").click()
    await expect(page.locator("[data-referral-status=pending]")).to_have_count(1)
    await page.get_by_role("button", name="Withdraw").click()
    await expect(page.get_by_text("Referral withdrawn.")).to_be_visible()
    await expect(page.locator("[data-referral-status=withdrawn]")).to_have_count(1)

    await page.get_by_label("Close with outcome").select_option("released")
    await page.get_by_role("button", name="Close", exact=True).click()
    await expect(page.get_by_text("This cannot be undone.")).to_be_visible()
    await assert_no_horizontal_overflow(page)
    await page.get_by_role("link", name="Cancel, go back").click()
    await expect(page.locator("h1 [data-status]")).to_have_text("open")
    await page.get_by_label("Close with outcome").select_option("released")
    await page.get_by_role("button", name="Close", exact=True).click()
    await page.get_by_role("button", name="Yes, close it").click()
    await expect(page.locator("h1 [data-status]")).to_have_text("closed")
    await assert_no_horizontal_overflow(page)


async def test_an_administrator_sets_up_a_facility_unit_court_user_and_token_by_the_forms(
    browser: Browser, viewport: dict[str, int], live_url: str, make_user: Any
) -> None:
    admin = await make_user(Role.ADMIN)
    page = await as_user(browser, live_url, admin.email, viewport)
    await page.get_by_role("link", name="Facilities").first.click()
    await page.get_by_role("link", name="Add a facility").first.click()
    await page.get_by_label(re.compile(r"^Name\b")).fill("Bluff City Behavioral")
    await page.get_by_label("Kind").select_option(index=1)
    await page.get_by_label(re.compile(r"^County\b")).select_option("29077")
    await page.get_by_label("Intake phone").fill("417-555-0100")
    await page.get_by_role("button", name="Create facility").click()
    await expect(page.get_by_text("Bluff City Behavioral").first).to_be_visible()
    await assert_no_horizontal_overflow(page)

    await page.get_by_role("link", name="Add a unit").first.click()  # the new facility page
    await page.get_by_label("Unit name").fill("Adolescent Boys")
    await page.get_by_label("Population").select_option("adolescent")
    await page.get_by_label("Gender").select_option("male")
    await page.get_by_label("Licensed beds").fill("12")
    await page.get_by_label("Co-occurring substance use").check()
    await page.get_by_role("button", name="Create unit").click()
    await expect(page.get_by_text("Adolescent Boys").first).to_be_visible()
    await assert_no_horizontal_overflow(page)

    await page.get_by_role("link", name="Courts").first.click()
    await page.get_by_role("link", name="Add a court").first.click()
    await page.get_by_label(re.compile(r"^Name\b")).fill("Greene County Probate Division")
    await page.get_by_label("Judicial circuit").fill("31")
    await page.get_by_label(re.compile(r"^County\b")).select_option("29077")
    await page.get_by_role("button", name="Create court").click()
    await expect(page.get_by_text("Greene County Probate Division").first).to_be_visible()

    await page.get_by_role("link", name="Users").first.click()
    await page.get_by_role("link", name="Add a user").first.click()
    await page.get_by_label("Email").fill("new.liaison@example.org")
    await page.get_by_label("Display name").fill("Pat Liaison")
    await page.get_by_label("Call-back phone").fill("417-555-0199")
    await page.get_by_label("Role").select_option("liaison")
    await page.get_by_label("Password", exact=True).fill("a long enough demo passphrase")
    await page.get_by_role("button", name="Create user").click()
    await expect(page.get_by_text("new.liaison@example.org").first).to_be_visible()
    await assert_no_horizontal_overflow(page)

    await page.get_by_role("link", name="API tokens").first.click()
    await page.get_by_label("User").select_option(label="new.liaison@example.org (liaison)")
    await page.get_by_label("Label").fill("Census interface (test)")
    await page.get_by_role("button", name="Create token").click()
    await expect(page.get_by_text("Census interface (test)").first).to_be_visible()
    await assert_no_horizontal_overflow(page)


async def test_an_administrator_adds_a_csv_feed_by_the_form_and_an_outside_folder_is_refused(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    settings: Any,
    make_facility: Any,
    make_user: Any,
) -> None:
    await make_facility(name="Riverbend Behavioral")
    drops = settings.data_dir / "feeds" / "riverbend"
    drops.mkdir(parents=True)
    admin = await make_user(Role.ADMIN)
    page = await as_user(browser, live_url, admin.email, viewport)
    await page.get_by_role("link", name="Feeds").first.click()
    await page.get_by_role("link", name=re.compile("Add a feed|New feed")).first.click()
    await page.get_by_label(re.compile(r"^Name\b")).fill("Nightly census file")
    await page.get_by_label(re.compile(r"^Facility\b")).select_option(label="Riverbend Behavioral")
    await page.get_by_label(re.compile(r"^Kind\b")).select_option("csv")
    await page.get_by_label("Settings (JSON)").fill('{"source": "/etc"}')
    await page.get_by_role("button", name=re.compile("Create|Save")).first.click()
    await expect(page.locator(".error-summary")).to_be_visible()
    await assert_no_horizontal_overflow(page)
    await page.get_by_label("Settings (JSON)").fill(json.dumps({"source": str(drops)}))
    await page.get_by_role("button", name=re.compile("Create|Save")).first.click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Nightly census file")
    await assert_no_horizontal_overflow(page)


async def test_a_placement_page_keeps_what_is_typed_right_after_it_opens(
    browser: Browser, viewport: dict[str, int], live_url: str, conn: Any, make_user: Any
) -> None:
    """The live connection starts from the position the page was rendered at: with nothing
    changed since, the page does not fetch the board or re-render its live region (which
    could swallow a field someone had just started to fill), and a later change still
    arrives."""
    liaison = await make_user(Role.LIAISON)
    placement_id = await record_placement(
        conn, liaison.id, initials="GH", age=52, sex="female", county_fips="29019"
    )
    page = await as_user(browser, live_url, liaison.email, viewport)
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    await page.goto(f"{live_url}/placements/{placement_id}")
    await page.get_by_label("System").fill("CMHL case")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await page.wait_for_timeout(300)  # a refresh after connecting would have started by now
    assert not [u for u in fetched if "/api/v1/board" in u or u.endswith("/live")]
    await expect(page.get_by_label("System")).to_have_value("CMHL case")

    # Someone else adds a note: the page refreshes for it (the typed field is kept too).
    other = await make_user(Role.LIAISON)
    author = Principal(user_id=other.id, email=other.email, display_name="", role=Role.LIAISON)
    await placements.add_note(conn, placement_id, NoteIn(body="Bed search widened."), author)
    await page.get_by_label("System").fill("")  # leaves nothing typed, so it may refresh
    await page.get_by_label("System").blur()
    await expect(page.get_by_text("Bed search widened.")).to_be_visible()
