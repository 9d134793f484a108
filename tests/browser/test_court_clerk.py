"""In a real browser, at desktop and phone widths: an administrator gives a court its
clerk's email on the court form; a malformed address is named beside the field."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, expect

from bedboard.auth import Role
from tests.browser.conftest import assert_no_horizontal_overflow
from tests.browser.test_placement_path import as_user

pytestmark = pytest.mark.browser


async def test_an_administrator_sets_the_clerks_email_and_a_bad_one_is_named_beside_it(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_court: Any,
    make_user: Any,
) -> None:
    court = await make_court(name="Boone County Probate Division (test)")
    admin = await make_user(Role.ADMIN)
    page = await as_user(browser, live_url, admin.email, viewport)
    await page.get_by_role("link", name="Courts").first.click()
    await page.get_by_role("link", name="Boone County Probate Division (test)").click()
    field = page.get_by_label("Clerk's email")
    await field.fill("clerk at boone county")
    await page.get_by_role("button", name="Save changes").click()
    error = page.locator("#f-clerk_email-error")
    await expect(error).to_have_text(
        "Enter an email address like clerk@example.org, or leave it blank."
    )
    await expect(field).to_have_attribute("aria-invalid", "true")
    await assert_no_horizontal_overflow(page)
    assert await conn.fetchval("SELECT clerk_email FROM courts WHERE id = $1", court.id) is None

    await field.fill("Probate.Clerk@boone-county-circuit-court.example.org")
    await page.get_by_role("button", name="Save changes").click()
    await expect(
        page.get_by_text("probate.clerk@boone-county-circuit-court.example.org")
    ).to_be_visible()
    await assert_no_horizontal_overflow(page)  # the courts list, with the long address
    assert (
        await conn.fetchval("SELECT clerk_email FROM courts WHERE id = $1", court.id)
        == "probate.clerk@boone-county-circuit-court.example.org"
    )
    await page.get_by_role("link", name="Boone County Probate Division (test)").click()
    await expect(page.get_by_label("Clerk's email")).to_have_value(
        "probate.clerk@boone-county-circuit-court.example.org"
    )
    await assert_no_horizontal_overflow(page)
