"""In a real browser, the whole path: request → referrals → decline and accept → held bed
on the board → in transit → admitted → the court sees it."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from bedboard.auth import Role
from tests.browser.conftest import DESKTOP, assert_no_horizontal_overflow, north_and_south
from tests.browser.test_login import sign_in

pytestmark = pytest.mark.browser


async def as_user(
    browser: Browser, base: str, email: str, viewport: dict[str, int] | None = None
) -> Page:
    context = await browser.new_context(viewport=viewport or DESKTOP)  # type: ignore[arg-type]
    page = await context.new_page()
    await sign_in(page, base, email)
    return page


async def test_a_court_ordered_placement_from_request_to_admission(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_court: Any,
    make_user: Any,
) -> None:
    north, _north_unit, south, south_unit = await north_and_south(conn, make_facility, make_unit)
    court = await make_court(name="Boone Probate Division")
    liaison = await make_user(Role.LIAISON)
    north_staff = await make_user(Role.FACILITY, facility_ids=[north.id])
    south_staff = await make_user(Role.FACILITY, facility_ids=[south.id])
    clerk = await make_user(Role.COURT, court_id=court.id)

    # The liaison records the request.
    page = await as_user(browser, live_url, liaison.email, viewport)
    await page.goto(live_url + "/placements/new")
    await page.get_by_label("Order type").select_option(label="96-hour detention, court-ordered")
    await page.get_by_label("Court", exact=True).select_option(label="Boone Probate Division")
    await page.get_by_label("Court case number").fill("26P-MH-4242")
    await page.get_by_label("Detention started (Central time)").fill("2026-11-28T22:15")
    await page.get_by_label("County where the person is").select_option(label="Boone")
    await page.get_by_label("Initials").fill("RB")
    await page.get_by_label("Age", exact=True).fill("41")
    await page.get_by_label("Sex", exact=True).select_option("male")
    await page.get_by_role("button", name="Record and find a bed").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("PL-")
    # Typed in Central time, shown back in it (10:15 PM CST is 04:15 UTC the next day).
    await expect(page.get_by_text("Nov 28, 2026 10:15 PM CST")).to_be_visible()
    await assert_no_horizontal_overflow(page)
    await expect(page.get_by_role("status").first).to_be_visible()

    # One click per referral, straight from the ranked results.
    await page.get_by_role("button", name="Refer to Northgate Behavioral — North Adult").click()
    await expect(page.get_by_text("Referral sent.")).to_be_visible()
    await page.get_by_role("button", name="Refer to Southfork Psychiatric — South Adult").click()
    await expect(page.locator("[data-referral-status=pending]")).to_have_count(2)

    # The first facility declines with a reason; the second accepts.
    north_page = await as_user(browser, live_url, north_staff.email, viewport)
    await north_page.goto(live_url + "/referrals")
    await expect(north_page.get_by_text("for Northgate Behavioral, North Adult")).to_be_visible()
    await assert_no_horizontal_overflow(north_page)
    await north_page.get_by_label("Reason for declining").select_option("aggression_safety")
    await north_page.get_by_label("Note to the liaison (optional)").fill("No 1:1 staff tonight")
    await north_page.get_by_role("button", name="Decline").click()
    await expect(north_page.get_by_text("cannot be undone")).to_be_visible()
    await north_page.get_by_role("button", name="Yes, decline").click()
    await expect(north_page.get_by_text("Declined.")).to_be_visible()

    south_page = await as_user(browser, live_url, south_staff.email, viewport)
    await south_page.goto(live_url + "/referrals")
    await expect(south_page.get_by_text("RB, 41, male")).to_be_visible()
    await south_page.get_by_role("button", name="Accept and hold a bed").click()
    await expect(south_page.get_by_text("Accepted: a bed is held")).to_be_visible()

    # The board shows the held bed.
    await south_page.goto(live_url + "/board")
    row = south_page.locator(f'tr[data-unit-id="{south_unit.id}"]')
    await expect(row.locator('[data-field="held"]')).to_have_text("1")
    await expect(row.locator('[data-field="free"]')).to_have_text("0")

    # Back on the liaison's page (it refreshed itself): declined and accepted, then onward.
    await expect(page.locator("[data-referral-status=declined]")).to_have_count(1)
    await expect(page.locator("[data-referral-status=accepted]")).to_have_count(1)
    await page.get_by_role("button", name="Mark in transit").click()
    await expect(page.locator("h1 [data-status]")).to_have_text("in transit")
    await page.get_by_role("button", name="Mark admitted").click()
    await expect(page.get_by_text("cannot be undone")).to_be_visible()
    await page.get_by_role("button", name="Yes, mark admitted").click()
    await expect(page.locator("h1 [data-status]")).to_have_text("admitted")

    # The court clerk looks the case up.
    clerk_page = await as_user(browser, live_url, clerk.email, viewport)
    await clerk_page.goto(live_url + "/court")
    await clerk_page.get_by_label("Case number").fill("26P-MH-4242")
    await clerk_page.get_by_role("button", name="Look up").click()
    result = clerk_page.locator(".court-result")
    await expect(result.locator("[data-status]")).to_have_text("admitted")
    await expect(result).to_contain_text("Nov 28, 2026 10:15 PM CST")  # the detention start
    await expect(result.locator(".court-facility")).to_have_text("Southfork Psychiatric")
    assert "aggression" not in (await clerk_page.content()).lower()
