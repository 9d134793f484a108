"""In a real browser, at desktop and phone widths: the placement page's *Correct this
record* form on a no-bed record: a reason that does not fit the kind is named beside the
field, an amendment shows the corrected county beside the recorded one, and a retraction
takes the record out of the reports."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, expect

from bedboard.auth import Role
from tests.browser.conftest import assert_no_horizontal_overflow, record_placement
from tests.browser.test_placement_path import as_user

pytestmark = pytest.mark.browser


async def test_a_liaison_amends_then_retracts_a_no_bed_record_by_the_correction_form(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_user: Any,
) -> None:
    liaison = await make_user(Role.LIAISON)
    placement_id = await record_placement(
        conn, liaison.id, initials="LM", age=52, sex="male", county_fips="29019"
    )
    page = await as_user(browser, live_url, liaison.email, viewport)
    await page.goto(f"{live_url}/placements/{placement_id}")
    await page.get_by_role("button", name="No bed found").click()
    await page.get_by_role("button", name="Yes, record no bed found").click()
    await expect(page.get_by_text("No-bed record made.")).to_be_visible()
    (report_id,) = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM no_bed_reports WHERE placement_id = $1", placement_id
        )
    ]
    record = page.locator(f"[data-no-bed-id='{report_id}']")
    await expect(record).to_have_attribute("data-no-bed-counted", "yes")

    # A retraction for a wrong county: the reason is refused beside its field.
    await record.get_by_text("Correct this record").click()
    await record.get_by_label("Kind of correction").select_option("retract")
    await record.get_by_label("Reason").select_option("wrong_county")
    await record.get_by_role("button", name="Record correction").click()
    await expect(page.get_by_text("Not done: the correction needs changes")).to_be_visible()
    record = page.locator(f"[data-no-bed-id='{report_id}']")
    error = record.locator(f"#correct-{report_id}-reason-error")
    await expect(error).to_contain_text("For this kind of correction choose one of")
    await expect(record.get_by_label("Reason")).to_have_attribute(
        "aria-describedby", f"correct-{report_id}-reason-error"
    )
    await assert_no_horizontal_overflow(page)

    # The same form, still open, amends the county.
    await record.get_by_label("Kind of correction").select_option("amend")
    await record.get_by_label("County").select_option("29051")
    await record.get_by_role("button", name="Record correction").click()
    await expect(page.get_by_text("Correction recorded")).to_be_visible()
    record = page.locator(f"[data-no-bed-id='{report_id}']")
    await expect(record.locator("[data-no-bed-effective]")).to_contain_text("(recorded: 29019)")
    await expect(record.locator("[data-correction-kind=amend]")).to_have_count(1)
    await expect(record).to_have_attribute("data-no-bed-counted", "yes")
    await assert_no_horizontal_overflow(page)

    # A retraction: not counted in the reports any more.
    await record.get_by_text("Correct this record").click()
    await record.get_by_label("Kind of correction").select_option("retract")
    await record.get_by_label("Reason").select_option("entered_in_error")
    await record.get_by_role("button", name="Record correction").click()
    await expect(page.get_by_text("Correction recorded")).to_be_visible()
    record = page.locator(f"[data-no-bed-id='{report_id}']")
    await expect(record).to_have_attribute("data-no-bed-counted", "no")
    await expect(record.get_by_text("Retracted")).to_be_visible()
    await expect(record.locator("[data-correction-kind]")).to_have_count(2)
    await assert_no_horizontal_overflow(page)
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM no_bed_corrections WHERE no_bed_report_id = $1", report_id
        )
        == 2
    )
