"""In a real browser, by the real controls, at desktop and phone widths: a liaison opens
Reports from the navigation, picks a figure, changes a filter and sees the chart and the
table change, and downloads the CSV."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from bedboard.auth import Role
from tests.browser.conftest import assert_no_horizontal_overflow
from tests.browser.test_placement_path import as_user
from tests.reports.conftest import World, world

pytestmark = pytest.mark.browser
__all__ = ["world"]


async def test_a_liaison_filters_a_report_and_downloads_it(
    browser: Browser, viewport: dict[str, int], live_url: str, world: World, make_user: Any
) -> None:
    liaison = await make_user(Role.LIAISON)
    page = await as_user(browser, live_url, liaison.email, viewport)
    nav = page.get_by_role("navigation", name="Main")
    async with page.expect_navigation():
        await nav.get_by_role("link", name="Reports").click()
    await assert_no_horizontal_overflow(page)
    async with page.expect_navigation():
        await page.get_by_role("link", name="Outcomes", exact=True).click()
    await page.get_by_label("From").fill("2026-10-01")
    await page.get_by_label("To").fill("2026-11-30")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Show").click()
    table = page.locator("#report-table")
    await expect(table.get_by_text("October 2026")).to_be_visible()
    await expect(table.get_by_text("November 2026")).to_be_visible()
    chart = page.locator(".report-chart img")
    before = await chart.get_attribute("src")
    assert await chart.evaluate("img => img.complete && img.naturalWidth > 0")
    await assert_no_horizontal_overflow(page)

    # Only the requests referred to Beta Hospital: P1 and P3 in October, none in November.
    await page.get_by_label("Facility").select_option(label="Beta Hospital")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Show").click()
    await expect(table.get_by_text("October 2026")).to_be_visible()
    await expect(table.get_by_text("November 2026")).to_have_count(0)
    first_row = table.locator("tbody tr").first
    await expect(first_row.locator('td[data-label="Requests"]')).to_have_text("2")
    after = await chart.get_attribute("src")
    assert after != before  # drawn again from the narrowed rows
    assert await chart.evaluate("img => img.complete && img.naturalWidth > 0")

    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="Download CSV").click()
    download = await downloading.value
    path = await download.path()
    lines = (await asyncio.to_thread(Path(path).read_text, encoding="utf-8")).splitlines()
    assert lines[0].startswith("Month,Requests,Admitted")
    assert lines[1].startswith("2026-10,2,")
    assert len(lines) == 2
    await page.context.close()


async def test_a_liaison_counts_the_declines_of_people_with_one_need(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    world: World,
    make_user: Any,
    conn: Any,
) -> None:
    # P4 (declined for acuity) needed forensic care; P1's decline (no bed) had no needs.
    await conn.execute(
        "UPDATE placements SET specialties = '{forensic}' WHERE id = $1", world.placements["P4"]
    )
    liaison = await make_user(Role.LIAISON)
    page = await as_user(browser, live_url, liaison.email, viewport)
    async with page.expect_navigation():
        await (
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
        )
    async with page.expect_navigation():
        await page.get_by_role("link", name="Declines by reason").click()
    await page.get_by_label("From").fill("2026-10-01")
    await page.get_by_label("To").fill("2026-11-30")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Show").click()
    table = page.locator("#report-table")
    await expect(table.locator("tbody tr")).to_have_count(2)
    await page.get_by_label("Needs", exact=True).select_option(label="Forensic")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Show").click()
    assert "needs=forensic" in page.url  # a link that can be shared
    await expect(table.locator("tbody tr")).to_have_count(1)
    row = table.locator("tbody tr").first
    await expect(row.locator('td[data-label="Needs"]')).to_have_text("Forensic")
    await expect(row.locator("th")).to_have_text("Acuity")
    await assert_no_horizontal_overflow(page)
    await page.context.close()


async def test_a_liaison_reads_the_beds_by_hour_of_the_week(
    browser: Browser, viewport: dict[str, int], live_url: str, world: World, make_user: Any
) -> None:
    # Unit a1 reported 10 staffed, 2 free on Friday 2026-10-09 at 22:00 (Central): all of
    # Saturday stands on it. Only adults are on the board.
    liaison = await make_user(Role.LIAISON)
    page = await as_user(browser, live_url, liaison.email, viewport)
    async with page.expect_navigation():
        await (
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
        )
    async with page.expect_navigation():
        await page.get_by_role("link", name="Capacity by hour of the week").click()
    await page.get_by_label("From").fill("2026-10-10")
    await page.get_by_label("To").fill("2026-10-10")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Show").click()
    table = page.locator("#report-table")
    await expect(table.locator("tbody tr")).to_have_count(168)
    saturday = table.locator("tbody tr", has_text="Sat 14:00")
    await expect(saturday.locator('td[data-label="Staffed, mean"]')).to_have_text("10.0")
    await expect(saturday.locator('td[data-label="Available, mean"]')).to_have_text("2.0")
    await expect(saturday.locator('td[data-label="Hours averaged"]')).to_have_text("1")
    monday = table.locator("tbody tr", has_text="Mon 14:00")
    await expect(monday.locator('td[data-label="Hours averaged"]')).to_have_text("0")
    chart = page.locator(".report-chart img")
    before = await chart.get_attribute("src")
    assert await chart.evaluate("img => img.complete && img.naturalWidth > 0")
    await assert_no_horizontal_overflow(page)

    await page.get_by_label("Age group").select_option(label="Adolescent (13-17)")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Show").click()
    await expect(saturday.locator('td[data-label="Staffed, mean"]')).to_have_text("0.0")
    assert await chart.get_attribute("src") != before
    await assert_no_horizontal_overflow(page)
    await page.context.close()
