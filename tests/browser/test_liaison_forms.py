"""In a real browser, by the real controls, at desktop and phone widths: the liaison's
search form, the new-placement form for a 16-year-old boy, a contradiction and a
deliberate override, the edit form, and a referral arriving on the facility's page."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from bedboard import auth, census, database, placements
from bedboard.auth import Role
from tests.browser.conftest import assert_no_horizontal_overflow, record_placement
from tests.browser.test_placement_path import as_user

pytestmark = pytest.mark.browser


async def _greene_county(conn: Any, make_facility: Any, make_unit: Any) -> dict[str, Any]:
    """Springfield (Greene County): a boys' unit, a girls' unit, an adult unit and a
    forensic adolescent unit, every one with free beds."""
    facility = await make_facility(name="Ozarks Behavioral", county_fips="29077")
    units = {
        "boys": await make_unit(
            facility.id,
            name="Boys Adolescent",
            population="adolescent",
            gender="male",
            payers=["medicaid", "commercial"],
        ),
        "girls": await make_unit(
            facility.id, name="Girls Adolescent", population="adolescent", gender="female"
        ),
        "adult": await make_unit(facility.id, name="Adult Acute", population="adult"),
        "forensic": await make_unit(
            facility.id, name="Youth Forensic", population="adolescent", security_level="forensic"
        ),
    }
    now = await conn.fetchval("SELECT now()")
    await census.apply(
        conn,
        [(u.id, census.CensusReport(as_of=now, staffed=10, occupied=4)) for u in units.values()],
        census.Source("test"),
    )
    return {"facility": facility, **units}


async def test_the_search_form_finds_beds_for_a_16_year_old_boy(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    await _greene_county(conn, make_facility, make_unit)
    liaison = await make_user(Role.LIAISON)
    page = await as_user(browser, live_url, liaison.email, viewport)
    await page.get_by_role("link", name="Find a bed").first.click()
    await page.get_by_label("Person's county").select_option(label="Greene")
    await page.get_by_label("Age", exact=True).fill("16")
    await page.get_by_label("Sex", exact=True).select_option("male")
    await page.get_by_label("Co-occurring substance use").check()
    await page.get_by_label("Co-occurring substance use").uncheck()
    await page.get_by_role("button", name="Search").click()
    results = page.locator("#search-results")
    await expect(results.get_by_text("Ozarks Behavioral — Boys Adolescent")).to_be_visible()
    await expect(page.get_by_text("Please correct")).to_have_count(0)
    text = await results.inner_text()
    assert "Girls Adolescent" not in text and "Adult Acute" not in text
    assert "Youth Forensic" not in text
    await expect(results.get_by_text("1 unit serves another gender")).to_be_visible()
    await expect(results.get_by_text("mi (")).to_be_visible()
    await assert_no_horizontal_overflow(page)


async def test_a_search_with_a_contradiction_names_the_field_in_a_sentence(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    await _greene_county(conn, make_facility, make_unit)
    liaison = await make_user(Role.LIAISON)
    page = await as_user(browser, live_url, liaison.email, viewport)
    await page.goto(live_url + "/search")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("#f-county-error")).to_have_text(
        "Choose the county where the person is."
    )
    await page.get_by_label("Person's county").select_option(label="Greene")
    await page.get_by_label("Age", exact=True).fill("40")
    await page.get_by_label("Age group", exact=True).select_option("adolescent")
    await page.get_by_role("button", name="Search").click()
    error = page.locator("#f-population-error")
    await expect(error).to_contain_text("A 40-year-old is in the adult age group")
    assert await page.get_by_label("Age group", exact=True).get_attribute("aria-describedby") == (
        "f-population-error"
    )
    summary_link = page.locator(".error-summary a")
    await expect(summary_link).to_have_attribute("href", "#f-population")
    await assert_no_horizontal_overflow(page)


async def test_a_16_year_old_boy_recorded_with_the_defaults_is_matched_as_an_adolescent_male(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    await _greene_county(conn, make_facility, make_unit)
    liaison = await make_user(Role.LIAISON)
    page = await as_user(browser, live_url, liaison.email, viewport)
    await page.goto(live_url + "/placements/new")
    # A 96-hour detention on an officer's application: no court yet.
    await page.get_by_label("Order type").select_option(
        label="96-hour detention, on application (no court yet)"
    )
    await page.get_by_label("County where the person is").select_option(label="Greene")
    await page.get_by_label("Detention started (Central time)").fill("2026-11-30T23:40")
    await page.get_by_label("Initials").fill("tb")
    await page.get_by_label("Age", exact=True).fill("16")
    await page.get_by_label("Sex", exact=True).select_option("male")
    await expect(page.locator("#derived-match")).to_contain_text("adolescent (13-17)")
    await assert_no_horizontal_overflow(page)
    await page.get_by_role("button", name="Record and find a bed").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("PL-")
    await expect(page.get_by_text("Adolescent (13-17)")).to_be_visible()
    await expect(page.get_by_text("Men's or mixed units")).to_be_visible()
    matches = page.locator(".results")
    await expect(
        matches.get_by_role("heading", name="Ozarks Behavioral — Boys Adolescent")
    ).to_be_visible()
    text = await matches.inner_text()
    assert "Girls" not in text and "Adult Acute" not in text and "Forensic" not in text

    # The liaison learns the age was wrong and edits it: the match follows.
    await page.get_by_role("link", name="Edit details and needs").click()
    await page.get_by_label("Age", exact=True).fill("19")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_text("Changes saved.")).to_be_visible()
    await expect(page.get_by_text("Adult (18-64)")).to_be_visible()
    await expect(page.locator(".timeline")).to_contain_text("edited: person age, population")
    await assert_no_horizontal_overflow(page)


async def test_an_age_group_against_the_age_is_refused_unless_deliberately_overridden(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    await _greene_county(conn, make_facility, make_unit)
    liaison = await make_user(Role.LIAISON)
    page = await as_user(browser, live_url, liaison.email, viewport)
    await page.goto(live_url + "/placements/new")
    await page.get_by_label("County where the person is").select_option(label="Greene")
    await page.get_by_label("Detention started (Central time)").fill("2026-11-30T23:40")
    await page.get_by_label("Initials").fill("QX")
    await page.get_by_label("Age", exact=True).fill("40")
    await page.get_by_label("Sex", exact=True).select_option("female")
    await page.get_by_label("Age group", exact=True).select_option("adolescent")
    await page.get_by_role("button", name="Record and find a bed").click()
    await expect(page.locator("#f-population-error")).to_contain_text(
        "A 40-year-old is in the adult age group, not adolescent"
    )
    await assert_no_horizontal_overflow(page)
    # What was typed is kept; the liaison ticks the override on purpose.
    await expect(page.get_by_label("Initials")).to_have_value("QX")
    await page.get_by_label("Override: I am deliberately choosing").check()
    await page.get_by_role("button", name="Record and find a bed").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("PL-")
    await expect(page.locator(".override").first).to_be_visible()
    await expect(page.locator(".timeline")).to_contain_text("override of the age group")


async def test_a_referral_arriving_on_an_open_referrals_page_is_announced_until_acknowledged(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    world = await _greene_county(conn, make_facility, make_unit)
    liaison = await make_user(Role.LIAISON, phone="417-555-0142")
    staff = await make_user(Role.FACILITY, facility_ids=[world["facility"].id])
    intake = await as_user(browser, live_url, staff.email, viewport)
    await intake.get_by_role("link", name="Referrals").first.click()
    await expect(intake.locator("#live-status")).to_have_attribute("data-state", "live")

    page = await as_user(browser, live_url, liaison.email)
    await page.goto(live_url + "/placements/new")
    await page.get_by_label("County where the person is").select_option(label="Greene")
    await page.get_by_label("Detention started (Central time)").fill("2026-11-30T23:40")
    await page.get_by_label("Initials").fill("TB")
    await page.get_by_label("Age", exact=True).fill("16")
    await page.get_by_label("Sex", exact=True).select_option("male")
    await page.get_by_label("Payer").select_option("medicaid")
    await page.get_by_role("button", name="Record and find a bed").click()
    await page.get_by_role("button", name="Refer to Ozarks Behavioral — Boys Adolescent").click()
    await expect(page.get_by_text("Referral sent.")).to_be_visible()

    await expect(intake.locator("#referral-alert")).to_be_visible()
    await expect(intake).to_have_title("(1) New referral · Referrals · bedboard")
    card = intake.locator("article.referral")
    await expect(card).to_contain_text("for Ozarks Behavioral, Boys Adolescent")
    await expect(card).to_contain_text("417-555-0142")
    await expect(card).to_contain_text("Medicaid")
    await expect(card).to_contain_text("96-hour detention, on application (no court yet)")
    await assert_no_horizontal_overflow(intake)
    await intake.get_by_role("button", name="Acknowledge").click()
    await expect(intake.locator("#referral-alert")).to_be_hidden()
    await expect(intake).to_have_title("Referrals · bedboard")


async def test_the_placements_history_filters_by_status_and_finds_by_initials(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_user: Any,
) -> None:
    liaison = await make_user(Role.LIAISON)
    principal = await auth.principal_for_user(conn, liaison.id)
    assert principal is not None
    ids = {
        initials: await record_placement(
            conn, liaison.id, initials=initials, age=age, sex="female", county_fips="29077"
        )
        for initials, age in (("AB", 30), ("CD", 50))
    }
    await placements.transition(
        conn,
        ids["CD"],
        placements.TransitionIn(to="closed", outcome=placements.Outcome.RELEASED),
        principal,
        None,
    )
    page = await as_user(browser, live_url, liaison.email, viewport)
    await page.get_by_role("link", name="Placements").first.click()
    rows = page.locator("#live-region tbody tr")
    await expect(rows).to_have_count(1)  # open ones first: AB
    await page.get_by_label("Show").select_option("closed")
    await page.get_by_role("button", name="Apply").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("CD")
    await page.get_by_label("Show").select_option("all")
    await page.get_by_label("Reference, initials or case number").fill("ab")
    await page.get_by_role("button", name="Apply").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("AB")
    await assert_no_horizontal_overflow(page)


async def test_an_acceptance_reaches_the_open_placement_page_while_the_board_is_busy(
    browser: Browser,
    live_url: str,
    conn: Any,
    db_dsn: str,
    make_facility: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    """Board frames arrive every 100 ms for the whole wait; before, each one postponed the
    placement page's refresh by another 3 s, so the acceptance never showed."""
    world = await _greene_county(conn, make_facility, make_unit)
    liaison = await make_user(Role.LIAISON)
    staff = await make_user(Role.FACILITY, facility_ids=[world["facility"].id])
    principal = await auth.principal_for_user(conn, liaison.id)
    intake = await auth.principal_for_user(conn, staff.id)
    assert principal is not None and intake is not None
    placement_id = await record_placement(
        conn, liaison.id, initials="GH", age=16, sex="male", county_fips="29077"
    )
    [referral_id] = await placements.refer(conn, placement_id, [world["boys"].id], principal)
    page = await as_user(browser, live_url, liaison.email)
    await page.goto(f"{live_url}/placements/{placement_id}")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")

    busy = await database.connect(db_dsn)
    stop = asyncio.Event()

    async def keep_the_board_busy() -> None:
        occupied = 0
        while not stop.is_set():
            occupied = (occupied + 1) % 5
            at = await busy.fetchval("SELECT now()")
            report = census.CensusReport(as_of=at, staffed=10, occupied=occupied)
            await census.apply(busy, [(world["adult"].id, report)], census.Source("test"))
            await asyncio.sleep(0.1)

    task = asyncio.create_task(keep_the_board_busy())
    try:
        await asyncio.sleep(1)  # the board is busy before the acceptance, and stays busy
        await placements.accept(conn, referral_id, intake, timedelta(hours=4))
        await expect(page.locator("[data-referral-status=accepted]")).to_have_count(1)
        await expect(page.locator("h1 [data-status]")).to_have_text("accepted")
    finally:
        stop.set()
        await task
        await busy.close()
