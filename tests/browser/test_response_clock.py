"""In a real browser, at a desktop width and at 390 px: the facility acknowledges a referral
and asks a question, the liaison answers on the placement page, the facility accepts; and
the liaison refers to all units that fit in one action."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, expect

from bedboard import census
from bedboard.auth import Role
from tests.browser.conftest import assert_no_horizontal_overflow, record_placement
from tests.browser.test_placement_path import as_user

pytestmark = pytest.mark.browser

QUESTION = "Has the person needed restraint in the last 72 hours?"
ANSWER = "No restraint; one as-needed medication dose yesterday evening."


async def _units(conn: Any, make_facility: Any, make_unit: Any, *names: str) -> list[Any]:
    now = await conn.fetchval("SELECT now()")
    units = []
    for name in names:
        facility = await make_facility(name=name)
        unit = await make_unit(facility.id, name="Adult Acute", population="adult")
        await census.apply(
            conn,
            [(unit.id, census.CensusReport(as_of=now, staffed=10, occupied=8))],
            census.Source("test"),
        )
        units.append((facility, unit))
    return units


async def test_the_facility_asks_the_liaison_answers_and_the_facility_accepts(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    ((facility, _unit),) = await _units(conn, make_facility, make_unit, "Cedar Ridge Behavioral")
    liaison = await make_user(Role.LIAISON)
    staff = await make_user(Role.FACILITY, facility_ids=[facility.id])
    placement_id = await record_placement(
        conn, liaison.id, initials="KL", age=41, sex="male", county_fips="29019"
    )
    desk = await as_user(browser, live_url, liaison.email, viewport)
    await desk.goto(f"{live_url}/placements/{placement_id}")
    await desk.get_by_role("button", name="Refer to Cedar Ridge Behavioral — Adult Acute").click()
    await expect(desk.locator("[data-referral-status=pending]")).to_have_count(1)

    intake = await as_user(browser, live_url, staff.email, viewport)
    await intake.goto(f"{live_url}/referrals")
    await expect(intake.locator("[data-waited]")).to_contain_text("Waiting")
    await intake.get_by_role("button", name="We are reviewing").click()
    await expect(intake.locator("[data-referral-status=acknowledged]")).to_have_count(1)
    await expect(desk.locator("[data-referral-status=acknowledged]")).to_have_count(1)  # live

    await intake.get_by_label("Ask the liaison a question").fill(QUESTION)
    await intake.get_by_role("button", name="Send question").click()
    await expect(intake.locator("[data-referral-status=info_requested]")).to_have_count(1)
    await expect(intake.locator("[data-question]")).to_have_text(QUESTION)
    await assert_no_horizontal_overflow(intake)

    # The liaison's page refreshed itself with the question; the answer goes back.
    await expect(desk.locator("[data-question]")).to_have_text(QUESTION)
    await assert_no_horizontal_overflow(desk)
    await desk.get_by_label("Your answer to Cedar Ridge Behavioral").fill(ANSWER)
    await desk.get_by_role("button", name="Send answer").click()
    await expect(desk.get_by_text("Answer sent")).to_be_visible()
    await expect(desk.locator("[data-answer]")).to_have_text(ANSWER)
    await expect(desk.locator("[data-referral-status=acknowledged]")).to_have_count(1)

    await intake.reload()
    await expect(intake.locator("[data-answer]")).to_have_text(ANSWER)
    await intake.get_by_role("button", name="Accept and hold a bed").click()
    await expect(intake.get_by_text("Accepted: a bed is held for this person.")).to_be_visible()
    await expect(desk.locator("[data-referral-status=accepted]")).to_have_count(1)
    await expect(desk.locator("h1 [data-status]")).to_have_text("accepted")
    await assert_no_horizontal_overflow(desk)
    await intake.context.close()
    await desk.context.close()


async def test_the_liaison_refers_to_all_units_that_fit_in_one_action(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    fits = await _units(
        conn, make_facility, make_unit, "Birch Hollow Hospital", "Elm Street Psychiatric"
    )
    youth = await make_facility(name="Willow Youth Center")
    young = await make_unit(youth.id, name="Adolescent Unit", population="adolescent")
    await census.apply(
        conn,
        [
            (
                young.id,
                census.CensusReport(
                    as_of=await conn.fetchval("SELECT now()"), staffed=8, occupied=2
                ),
            )
        ],
        census.Source("test"),
    )
    liaison = await make_user(Role.LIAISON)
    placement_id = await record_placement(
        conn, liaison.id, initials="MN", age=30, sex="female", county_fips="29019"
    )
    page = await as_user(browser, live_url, liaison.email, viewport)
    await page.goto(f"{live_url}/placements/{placement_id}")
    await page.get_by_role("button", name="Refer to all 2 that fit").click()
    confirm = page.locator("#confirm-what")
    await expect(confirm).to_contain_text("Birch Hollow Hospital — Adult Acute")
    await expect(confirm).to_contain_text("Elm Street Psychiatric — Adult Acute")
    await expect(confirm).not_to_contain_text("Willow Youth Center")
    await assert_no_horizontal_overflow(page)
    await page.get_by_role("button", name="Yes, refer to all 2 units").click()
    await expect(page.get_by_text("Referral sent to 2 units.")).to_be_visible()
    await expect(page.locator("[data-referral-status=pending]")).to_have_count(2)
    await expect(page.get_by_role("button", name="Refer to all 2 that fit")).to_have_count(0)
    await assert_no_horizontal_overflow(page)
    rows = await conn.fetch(
        "SELECT unit_id FROM referrals WHERE placement_id = $1 ORDER BY unit_id", placement_id
    )
    assert [r["unit_id"] for r in rows] == sorted(u.id for _f, u in fits)
    await page.context.close()
