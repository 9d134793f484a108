"""In a real browser: a liaison declares "No bed found", confirms, and sees the record."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, expect

from bedboard import auth, census, placements
from bedboard.auth import Role
from tests.browser.conftest import assert_no_horizontal_overflow, record_placement
from tests.browser.test_placement_path import as_user

pytestmark = pytest.mark.browser


async def test_a_liaison_declares_no_bed_found_and_sees_the_record(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    facility = await make_facility(name="Maple Grove Behavioral")
    unit = await make_unit(facility.id, name="Adult Acute", population="adult")
    now = await conn.fetchval("SELECT now()")
    await census.apply(
        conn,
        [(unit.id, census.CensusReport(as_of=now, staffed=10, occupied=9))],
        census.Source("test"),
    )
    liaison = await make_user(Role.LIAISON)
    staff = await make_user(Role.FACILITY, facility_ids=[facility.id])
    placement_id = await record_placement(
        conn, liaison.id, initials="GH", age=19, sex="female", county_fips="29019"
    )
    page = await as_user(browser, live_url, liaison.email, viewport)
    await page.goto(f"{live_url}/placements/{placement_id}")
    await page.get_by_role("button", name="Refer to Maple Grove Behavioral — Adult Acute").click()
    await expect(page.locator("[data-referral-status=pending]")).to_have_count(1)

    # The facility declines (no bed); the page refreshes itself.
    (referral,) = await placements.referrals_of(conn, placement_id)
    principal = await auth.principal_for_user(conn, staff.id)
    assert principal is not None
    await placements.decline(conn, referral.id, placements.DeclineReason.NO_BED, "", principal)
    await expect(page.locator("[data-referral-status=declined]")).to_have_count(1)

    await page.get_by_role("button", name="No bed found").click()
    await expect(page.get_by_text("This cannot be undone.")).to_be_visible()
    await assert_no_horizontal_overflow(page)
    await page.get_by_role("button", name="Yes, record no bed found").click()

    await expect(page.get_by_text("No-bed record made.")).to_be_visible()
    record = page.locator("[data-no-bed-trigger=declared]")
    await expect(record).to_contain_text("No bed found (declared by a liaison)")
    await expect(page.get_by_role("button", name="No bed found")).to_have_count(0)
    await expect(page.locator("h1 [data-status]")).to_have_text("open")
    await assert_no_horizontal_overflow(page)

    (row,) = await conn.fetch("SELECT * FROM no_bed_reports WHERE placement_id = $1", placement_id)
    assert row["trigger"] == "declared" and row["age_band"] == "18-25"
    assert row["declined"] == [
        {"facility_id": facility.id, "name": "Maple Grove Behavioral", "reason": "no_bed"}
    ]
