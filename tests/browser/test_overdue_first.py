"""In a real browser, at desktop and phone widths: a facility user whose facility is
overdue lands on the census form from every page the navigation offers, and, once the
numbers are reported, goes wherever they like (the ``overdue_first`` middleware)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from bedboard.auth import Role
from tests.browser.conftest import assert_no_horizontal_overflow
from tests.browser.test_placement_path import as_user

pytestmark = pytest.mark.browser

ELSEWHERE = ["Home", "Referrals", "Board", "Reports", "Facilities"]


async def _on_the_overdue_census_form(page: Page) -> None:
    await expect(page).to_have_url(re.compile(r"/census\?overdue=1$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Report census")
    await expect(page.locator("#overdue")).to_contain_text("Your census report is overdue.")


async def test_an_overdue_facility_user_reports_first_from_any_page_then_goes_anywhere(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    late_facility: tuple[Any, Any],
    make_user: Any,
) -> None:
    facility, unit = late_facility
    nurse = await make_user(Role.FACILITY, facility_ids=[facility.id])
    page = await as_user(browser, live_url, nurse.email, viewport)
    await _on_the_overdue_census_form(page)  # signing in lands on the form, not home
    await assert_no_horizontal_overflow(page)
    nav = page.get_by_role("navigation", name="Main")
    for label in ELSEWHERE:
        await nav.get_by_role("link", name=label, exact=True).click()
        await _on_the_overdue_census_form(page)
    await page.get_by_role("link", name="Notifications").click()
    await _on_the_overdue_census_form(page)

    # The form's deliberate way past it opens home, this once; the next page is the form again.
    await page.get_by_role("link", name="Go to home anyway").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    await nav.get_by_role("link", name="Board", exact=True).click()
    await _on_the_overdue_census_form(page)

    await page.get_by_label("Staffed beds, Adult Acute").fill("12")
    await page.get_by_label("Occupied beds, Adult Acute").fill("7")
    await page.get_by_role("button", name="Save census").click()
    await expect(page.get_by_text("1 unit updated")).to_be_visible()
    await assert_no_horizontal_overflow(page)

    # Reported: every page opens as itself.
    await nav.get_by_role("link", name="Board", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/board$"))
    row = page.locator(f'tr[data-unit-id="{unit.id}"]')
    await expect(row.locator('[data-field="free"]')).to_have_text("5")
    await nav.get_by_role("link", name="Referrals", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/referrals$"))
    await nav.get_by_role("link", name="Home", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    await expect(page.locator("#overdue")).to_have_count(0)
    await assert_no_horizontal_overflow(page)
