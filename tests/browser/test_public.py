"""In a real browser at a laptop's and a phone's width: the public summary, reached from
the sign-in page's footer by clicking, shows its tables and nothing scrolls sideways."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from bedboard import census
from bedboard.auth import Role
from tests.browser.conftest import record_placement
from tests.browser.test_layout import overflow_problems

pytestmark = pytest.mark.browser


async def test_the_public_summary_opens_from_the_sign_in_page_and_fits_the_screen(
    browser: Browser, live_url: str, conn: Any, make_facility: Any, make_unit: Any,
    make_user: Any, viewport: dict[str, int],
) -> None:  # fmt: skip
    north = await make_facility(
        name="Northgate Regional Behavioral Health and Recovery Center", county_fips="29510"
    )
    south = await make_facility(name="Southfork Psychiatric", county_fips="29077")
    units = [
        await make_unit(north.id, name="Adult Acute", population="adult"),
        await make_unit(north.id, name="Adolescent", population="adolescent"),
        await make_unit(south.id, name="Geriatric", population="geriatric",
                        accepts_involuntary=False),
    ]  # fmt: skip
    now = await conn.fetchval("SELECT now()")
    await census.apply(conn, [
        (units[0].id, census.CensusReport(as_of=now, staffed=24, occupied=19)),
        (units[1].id, census.CensusReport(as_of=now - timedelta(days=3), staffed=8, occupied=6)),
    ], census.Source("test"))  # fmt: skip
    liaison = await make_user(Role.LIAISON, password=None)
    ids = [
        await record_placement(conn, liaison.id, initials="ZQ", age=30, sex="male",
                               county_fips="29019")
        for _ in range(12)
    ]  # fmt: skip
    await conn.execute(
        "UPDATE placements SET created_at = created_at - interval '40 days' WHERE id = ANY($1)",
        ids,
    )

    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    await page.goto(live_url + "/login")
    await page.get_by_role("contentinfo").get_by_role("link", name="Public bed summary").click()
    await expect(page).to_have_url(live_url + "/public")
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Psychiatric beds in Missouri: public summary"
    )
    beds = page.get_by_role("table", name="Free beds by county")
    await expect(beds).to_be_visible()
    await expect(beds.get_by_role("rowheader", name="St. Louis City")).to_have_count(2)
    await expect(beds.get_by_role("rowheader", name="Greene County")).to_be_visible()
    months = page.get_by_role("table", name="Placement requests, admissions")
    await expect(months).to_be_visible()
    await expect(months.locator("tbody").get_by_role("rowheader")).to_have_count(12)
    # 12 requests in one month: shown, and so is the 12-month total.
    requests = months.locator('td[data-label="Requests"]')
    await expect(requests.filter(has_text=re.compile(r"^12$"))).to_have_count(2)
    await expect(months.locator('tfoot td[data-label="Requests"]')).to_have_text("12")
    await expect(page.get_by_text("Figures as of")).to_contain_text("(Central time)")
    problems = await overflow_problems(page, f"/public at {viewport['width']}px")
    assert not problems, "\n".join(problems)
    await context.close()
