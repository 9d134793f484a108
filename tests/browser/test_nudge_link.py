"""In a real browser, at desktop and phone widths: a late facility's census nudge link
(issue 13 §3) opens the census form without a password, saving it reaches the board, and
the spent link is refused with a readable page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, expect

from bedboard import nudges
from bedboard.auth import Role
from bedboard.links import Signer
from tests.browser.conftest import assert_no_horizontal_overflow
from tests.browser.test_placement_path import as_user
from tests.conftest import TEST_SECRET

pytestmark = pytest.mark.browser


async def test_a_nudge_link_opens_the_census_form_once_and_the_board_shows_the_numbers(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    late_facility: tuple[Any, Any],
    make_user: Any,
) -> None:
    facility, unit = late_facility
    now = await conn.fetchval("SELECT now()")
    # The link the nudge job issues (and the notifier mails) for this late facility.
    (due,) = await nudges.make_due(conn, now, signer=Signer(TEST_SECRET), base_url=live_url)
    assert due.facility_id == facility.id

    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(due.url)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Report census")
    await expect(page.get_by_role("heading", name="Cedar Ridge Behavioral")).to_be_visible()
    await expect(page.locator("#overdue")).to_be_visible()
    await expect(page.get_by_role("link", name="Go to home anyway")).to_have_count(0)
    await assert_no_horizontal_overflow(page)

    # A mistake is named beside the field, and the link is not spent by it.
    await page.get_by_label("Staffed beds, Adult Acute").fill("12")
    await page.get_by_label("Occupied beds, Adult Acute").fill("14")
    await page.get_by_role("button", name="Save census").click()
    await expect(page.get_by_text("Occupied cannot exceed staffed.")).to_be_visible()
    await assert_no_horizontal_overflow(page)
    await page.get_by_label("Occupied beds, Adult Acute").fill("8")
    await page.get_by_role("button", name="Save census").click()
    await expect(page.get_by_role("heading", name="Thank you: census saved")).to_be_visible()
    await expect(page.get_by_text("1 unit of Cedar Ridge Behavioral updated")).to_be_visible()
    await assert_no_horizontal_overflow(page)

    # A liaison's board shows the new numbers: 12 staffed, 8 occupied, 4 free.
    liaison = await make_user(Role.LIAISON)
    board = await as_user(browser, live_url, liaison.email, viewport)
    await board.goto(live_url + "/board")
    row = board.locator(f'tr[data-unit-id="{unit.id}"]')
    await expect(row.locator('[data-field="free"]')).to_have_text("4")
    await expect(row.locator("[data-freshness]")).to_have_text("Fresh")

    # The same link again: refused, with a sentence, not a form.
    response = await page.goto(due.url)
    assert response is not None and response.status == 410
    await expect(page.get_by_text("This link has been used already")).to_be_visible()
    await expect(page.get_by_role("button", name="Save census")).to_have_count(0)
    await assert_no_horizontal_overflow(page)
    row_db = await conn.fetchrow(
        "SELECT staffed, occupied FROM unit_census WHERE unit_id = $1", unit.id
    )
    assert (row_db["staffed"], row_db["occupied"]) == (12, 8)
