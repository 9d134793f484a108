"""In a real browser: the board changes in place, and catches up by itself after a drop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from bedboard.auth import Role
from tests.browser.test_login import sign_in

pytestmark = pytest.mark.browser


async def test_two_open_boards_follow_reports_and_one_catches_up_after_a_drop(
    browser: Browser, live_url: str, make_user: Any, make_token: Any, make_facility: Any,
    make_unit: Any,
) -> None:  # fmt: skip
    facility = await make_facility(name="Osage Hills Psychiatric")
    unit = await make_unit(facility.id, name="Adult Acute")
    staff = await make_user(Role.FACILITY, facility_ids=[facility.id])
    viewer = await make_user(Role.VIEWER)
    headers = {"Authorization": f"Bearer {await make_token(staff.id)}"}
    as_of = datetime.now(UTC) - timedelta(minutes=10)

    pages = []
    for _ in range(2):
        context = await browser.new_context()
        page = await context.new_page()
        await sign_in(page, live_url, viewer.email)
        await page.goto(live_url + "/board")
        await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
        await page.evaluate("window.__sameDocument = true")
        pages.append(page)
    first, second = pages
    cell = f'tr[data-unit-id="{unit.id}"] [data-field="free"]'
    await expect(first.locator(cell)).to_have_text("0")

    async with aiohttp.ClientSession(headers=headers) as http:
        resp = await http.put(f"{live_url}/api/v1/units/{unit.id}/census",
                              json={"as_of": as_of.isoformat(), "staffed": 12, "occupied": 9})  # fmt: skip
        assert resp.status == 200
        for page in pages:
            await expect(page.locator(cell)).to_have_text("3")
            await expect(
                page.locator(f'tr[data-unit-id="{unit.id}"] [data-freshness]')
            ).to_have_text("Fresh")

        # The second page loses its connection; a report lands while it is away.
        await second.evaluate("window.bedboardLive.drop()")
        resp = await http.put(f"{live_url}/api/v1/units/{unit.id}/census",
                              json={"as_of": (as_of + timedelta(minutes=1)).isoformat(),
                                    "staffed": 12, "occupied": 11})  # fmt: skip
        assert resp.status == 200

    await expect(first.locator(cell)).to_have_text("1")
    await expect(second.locator(cell)).to_have_text("1")
    await expect(second.locator("#live-status")).to_have_attribute("data-state", "live")
    for page in pages:
        assert await page.evaluate("window.__sameDocument") is True  # no reload happened
        await expect(page.locator("#total-free")).to_have_text("1")


async def test_board_filters_hide_units_without_beds(
    browser: Browser, live_url: str, make_user: Any, make_facility: Any, make_unit: Any, conn: Any
) -> None:
    from bedboard import census

    facility = await make_facility(name="Prairie Rose")
    full = await make_unit(facility.id, name="Full Unit", population="adult")
    open_unit = await make_unit(facility.id, name="Open Teen Unit", population="adolescent")
    now = await conn.fetchval("SELECT now()")
    await census.apply(conn, [(full.id, census.CensusReport(as_of=now, available=0)),
                              (open_unit.id, census.CensusReport(as_of=now, available=2))],
                       census.Source("test"))  # fmt: skip
    viewer = await make_user(Role.VIEWER)
    page = await browser.new_page()
    await sign_in(page, live_url, viewer.email)
    await page.goto(live_url + "/board")
    await page.get_by_label("Only units with free beds").check()
    await expect(page.get_by_role("row", name="Full Unit")).to_be_hidden()
    await expect(page.get_by_role("row", name="Open Teen Unit")).to_be_visible()
    await expect(page.locator("#total-free")).to_have_text("2")
    await page.get_by_label("Population").select_option("adult")
    await expect(page.locator("#board-empty")).to_be_visible()
    await expect(page.locator("#total-free")).to_have_text("0")  # counts only what is shown
    assert "population=adult" in page.url
    await page.close()
