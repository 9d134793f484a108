"""In a real browser, by the real controls, at desktop and phone widths: an administrator
adds a supervisor, is told beside the field that a region is needed, picks the region; the
supervisor signs in and sees their region's placement and not another region's."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, expect

from bedboard import regions
from bedboard.auth import Role
from bedboard.regions import RegionIn
from tests.browser.conftest import assert_no_horizontal_overflow, record_placement
from tests.browser.test_login import sign_in
from tests.browser.test_placement_path import as_user

pytestmark = pytest.mark.browser

PASSWORD = "a long enough supervisor passphrase"


async def test_an_administrator_adds_a_supervisor_for_a_region_who_sees_only_its_placements(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_user: Any,
) -> None:
    await regions.create_region(conn, RegionIn(name="Central (test)", counties=["29019"]))
    await regions.create_region(conn, RegionIn(name="Eastern (test)", counties=["29051"]))
    liaison = await make_user(Role.LIAISON)
    boone_id = await record_placement(
        conn, liaison.id, initials="BH", age=41, sex="female", county_fips="29019"
    )
    cole_id = await record_placement(
        conn, liaison.id, initials="CR", age=29, sex="male", county_fips="29051"
    )
    reference = {
        r["id"]: r["reference"] for r in await conn.fetch("SELECT id, reference FROM placements")
    }

    admin = await make_user(Role.ADMIN)
    page = await as_user(browser, live_url, admin.email, viewport)
    await page.get_by_role("link", name="Users").first.click()
    await page.get_by_role("link", name="Add a user").first.click()
    await page.get_by_label("Email").fill("regional.lead@example.org")
    await page.get_by_label("Display name").fill("Robin Regional")
    await page.get_by_label("Role").select_option("supervisor")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Create user").click()
    region = page.get_by_label("Region (supervisors only)")
    await expect(page.locator("#f-region_id-error")).to_have_text("Choose the supervisor's region.")
    await expect(region).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Display name")).to_have_value("Robin Regional")
    await assert_no_horizontal_overflow(page)

    await region.select_option(label="Central (test)")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)  # never sent back
    await page.get_by_role("button", name="Create user").click()
    row = page.get_by_role("row").filter(has_text="regional.lead@example.org")
    await expect(row).to_contain_text("Region: Central (test)")
    await expect(row).to_contain_text("supervisor")
    await assert_no_horizontal_overflow(page)
    await page.context.close()

    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    lead_page = await context.new_page()
    await sign_in(lead_page, live_url, "regional.lead@example.org", PASSWORD)
    await expect(lead_page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    await expect(
        lead_page.get_by_role("heading", name="Open placements in Central (test)")
    ).to_be_visible()
    await expect(lead_page.get_by_role("link", name=reference[boone_id])).to_be_visible()
    await expect(lead_page.get_by_role("link", name=reference[cole_id])).to_have_count(0)
    await assert_no_horizontal_overflow(lead_page)

    await (
        lead_page.get_by_role("navigation", name="Main")
        .get_by_role("link", name="Placements")
        .click()
    )
    await expect(
        lead_page.get_by_role("heading", level=1, name="Placements in Central (test)")
    ).to_be_visible()
    await expect(lead_page.get_by_role("link", name=reference[boone_id])).to_be_visible()
    await expect(lead_page.get_by_role("link", name=reference[cole_id])).to_have_count(0)
    await assert_no_horizontal_overflow(lead_page)

    await lead_page.get_by_role("link", name=reference[boone_id]).click()
    await expect(lead_page.get_by_role("heading", level=1)).to_contain_text(reference[boone_id])
    await assert_no_horizontal_overflow(lead_page)
    response = await lead_page.goto(f"{live_url}/placements/{cole_id}")
    assert response is not None and response.status == 404
    await lead_page.context.close()
