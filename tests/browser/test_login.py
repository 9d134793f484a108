"""In a real browser: each role signs in through the form and sees its navigation."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from bedboard import regions
from bedboard.auth import Role
from bedboard.regions import RegionIn
from tests.conftest import DEFAULT_PASSWORD
from tests.pages.test_pages import EXPECTED_NAVIGATION

pytestmark = pytest.mark.browser


async def sign_in(page: Page, base: str, email: str, password: str = DEFAULT_PASSWORD) -> None:
    await page.goto(base + "/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def test_each_role_signs_in_and_sees_its_navigation(
    browser: Browser,
    live_url: str,
    conn: Any,
    make_user: Any,
    make_facility: Any,
    make_court: Any,
) -> None:
    facility = await make_facility(name="Riverbend Behavioral Health")
    court = await make_court()
    region = await regions.create_region(conn, RegionIn(name="Central", counties=["29019"]))
    expected = EXPECTED_NAVIGATION
    for role, labels in expected.items():
        account = await make_user(
            role,
            facility_ids=[facility.id] if role is Role.FACILITY else None,
            court_id=court.id if role is Role.COURT else None,
            region_id=region.id if role is Role.SUPERVISOR else None,
        )
        context = await browser.new_context()
        page = await context.new_page()
        await sign_in(page, live_url, account.email)
        await expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
        nav = page.get_by_role("navigation", name="Main").get_by_role("link")
        await expect(nav).to_have_text(labels)
        if role is Role.FACILITY:
            await expect(
                page.get_by_role("heading", name="Riverbend Behavioral Health")
            ).to_be_visible()
        await page.get_by_role("button", name="Sign out").click()
        await expect(page).to_have_url(live_url + "/login")
        await context.close()


async def test_a_wrong_password_is_announced_and_keeps_the_email(
    browser: Browser, live_url: str, make_user: Any
) -> None:
    account = await make_user(Role.LIAISON)
    page = await browser.new_page()
    await sign_in(page, live_url, account.email, "not the password")
    await expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    await expect(page.get_by_label("Email")).to_have_value(account.email)
    await page.close()


async def test_admin_pages_fit_a_phone_screen_and_work_by_keyboard(
    browser: Browser, live_url: str, make_user: Any, make_facility: Any
) -> None:
    await make_facility()
    admin = await make_user(Role.ADMIN)
    context = await browser.new_context(viewport={"width": 375, "height": 740})
    page = await context.new_page()
    await sign_in(page, live_url, admin.email)
    for path in ("/", "/admin/facilities", "/admin/users", "/admin/facilities/new"):
        await page.goto(live_url + path)
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
    # The first Tab reaches the skip link, which moves focus to the main content.
    await page.goto(live_url + "/admin/facilities")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"
    await context.close()


async def test_a_form_error_moves_focus_to_the_error_summary(
    browser: Browser, live_url: str, make_user: Any
) -> None:
    admin = await make_user(Role.ADMIN)
    page = await browser.new_page()
    await sign_in(page, live_url, admin.email)
    await page.goto(live_url + "/admin/courts/new")
    await page.get_by_role("button", name="Create court").click()
    summary = page.get_by_role("alert")
    await expect(summary).to_contain_text("Please correct")
    await expect(summary).to_be_focused()
    await expect(page.locator("#f-name-error")).to_be_visible()
    await page.close()
