"""In a real browser, at desktop and phone widths: a liaison issues a court status link on
the placement page, the court opens it without a password, and once revoked it is
refused with a readable page (issue 13 §5)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, expect

from bedboard import auth, placements
from bedboard.auth import Role
from bedboard.settings import Settings
from tests.browser.conftest import assert_no_horizontal_overflow
from tests.browser.test_placement_path import as_user

pytestmark = pytest.mark.browser


async def test_a_liaison_issues_a_court_link_the_court_opens_it_and_a_revoked_one_is_refused(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_court: Any,
    make_user: Any,
    settings: Settings,
) -> None:
    court = await make_court(name="Boone Probate Division")
    liaison = await make_user(Role.LIAISON)
    principal = await auth.principal_for_user(conn, liaison.id)
    assert principal is not None
    placement_id = await placements.create(
        conn,
        placements.PlacementIn(
            order_type="emergency_96h",
            detention_start=await conn.fetchval("SELECT now()"),
            county_fips="29019",
            court_id=court.id,
            case_number="26P-MH-5150",
            person=placements.PersonIn(initials="JK", age=37, sex="female"),
            needs=placements.NeedsIn(),
        ),
        principal,
    )
    page = await as_user(browser, live_url, liaison.email, viewport)
    await page.goto(f"{live_url}/placements/{placement_id}")
    section = page.locator("#court-links")
    await expect(section.get_by_text("No court link issued.")).to_be_visible()
    await section.get_by_role("button", name="Issue a court link").click()
    await expect(page.get_by_text("New court link.")).to_be_visible()
    issued = await page.get_by_label("Court link").input_value()
    assert issued.startswith(settings.absolute("/c/"))  # the configured public address
    url = live_url + urlsplit(issued).path  # ... which, here, is the test server
    await expect(section.locator("[data-court-link][data-state=active]")).to_have_count(1)
    await assert_no_horizontal_overflow(page)

    # The court, with no account, opens the link it was sent.
    court_context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    court_page = await court_context.new_page()
    response = await court_page.goto(url)
    assert response is not None and response.status == 200
    await expect(court_page.get_by_role("heading", level=1)).to_have_text("Placement status")
    card = court_page.locator(".court-result")
    await expect(card).to_contain_text("Case 26P-MH-5150")
    await expect(card).to_contain_text("Boone Probate Division")
    await expect(card.locator(".court-facility")).to_have_text("not yet placed")
    await expect(card).not_to_contain_text("JK")  # nothing personal
    await assert_no_horizontal_overflow(court_page)

    # Opening the placement page again does not show the link again; revoking stops it.
    await page.goto(f"{live_url}/placements/{placement_id}")
    await expect(page.get_by_text("New court link.")).to_have_count(0)
    await section.get_by_role("button", name="Revoke").click()
    await expect(page.get_by_text("Court link revoked; it no longer opens.")).to_be_visible()
    await expect(section.locator("[data-court-link][data-state=revoked]")).to_have_count(1)
    await expect(section.get_by_role("button", name="Revoke")).to_have_count(0)

    response = await court_page.goto(url)
    assert response is not None and response.status == 410
    await expect(court_page.get_by_text("This link was revoked")).to_be_visible()
    await expect(court_page.locator(".court-result")).to_have_count(0)
    await assert_no_horizontal_overflow(court_page)
