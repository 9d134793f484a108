"""In a real browser, at desktop and phone widths: the *Called* control of the placement
page (placements/calls.py). A liaison records "no bed" on a bed that fits and sees the
call listed, is told next to the field when a call back has no time, records a call back
and sees the reminder, records "has a bed" on a referral and takes the offer to record
the acceptance, then sees "confirmed by phone" on the board."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from bedboard.auth import Role
from tests.browser.conftest import (
    PHONE,
    assert_no_horizontal_overflow,
    north_and_south,
    record_placement,
)
from tests.browser.test_placement_path import as_user

pytestmark = pytest.mark.browser


async def test_a_liaison_records_calls_and_the_board_shows_the_phone_confirmation(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    north, north_unit, _south, south_unit = await north_and_south(conn, make_facility, make_unit)
    liaison = await make_user(Role.LIAISON)
    placement_id = await record_placement(
        conn, liaison.id, initials="RC", age=41, sex="male", county_fips="29019"
    )
    page = await as_user(browser, live_url, liaison.email, viewport)
    await page.goto(f"{live_url}/placements/{placement_id}")

    # "No bed" on a bed that fits: one click, then listed under Calls.
    result = page.locator(f'li.result[data-unit-id="{north_unit.id}"]')
    await result.get_by_label("Called Northgate Behavioral — North Adult").click()
    await assert_no_horizontal_overflow(page)
    await result.get_by_role("button", name="No bed at Northgate Behavioral — North Adult").click()
    await expect(
        page.get_by_text("Call recorded: Northgate Behavioral — North Adult: no bed.")
    ).to_be_visible()
    calls = page.locator("section#calls")
    await expect(calls.locator('li[data-call-outcome="no_bed"]')).to_contain_text(
        "Called Northgate Behavioral — North Adult"
    )
    await expect(calls.locator('li[data-call-outcome="no_bed"]')).to_contain_text("no bed")

    # A call back without its time is refused with a sentence next to the field.
    result = page.locator(f'li.result[data-unit-id="{south_unit.id}"]')
    await result.get_by_label("Called Southfork Psychiatric — South Adult").click()
    await result.get_by_role(
        "button", name="Call Southfork Psychiatric — South Adult back at this time"
    ).click()
    result = page.locator(f'li.result[data-unit-id="{south_unit.id}"]')
    field = result.get_by_label("Call back at")
    await expect(field).to_have_attribute("aria-invalid", "true")
    error = result.locator(f"#call-back-result-{south_unit.id}-error")
    await expect(error).to_have_text("Enter the time to call back: a date and time later than now.")
    await assert_no_horizontal_overflow(page)
    await field.fill("2099-01-01T10:30")
    await result.get_by_role(
        "button", name="Call Southfork Psychiatric — South Adult back at this time"
    ).click()
    await expect(page.locator("[data-call-back]")).to_contain_text(
        "Call back Southfork Psychiatric — South Adult"
    )
    await expect(page.locator("[data-call-back]")).to_contain_text("Jan 1, 2099 10:30 AM CST")

    # Refer to the south unit; "has a bed" on its referral, then the offer.
    result = page.locator(f'li.result[data-unit-id="{south_unit.id}"]')
    await result.get_by_role("button", name="Refer to Southfork Psychiatric — South Adult").click()
    await expect(page.get_by_text("Referral sent.")).to_be_visible()
    referral = page.locator("tr[data-referral-id]")
    await referral.get_by_label("Called Southfork Psychiatric — South Adult").click()
    await referral.get_by_role(
        "button", name="Southfork Psychiatric — South Adult has a bed for this person"
    ).click()
    offer = page.locator("#bed-offer")
    await expect(offer).to_contain_text(
        "Southfork Psychiatric — South Adult has a bed for this person"
    )
    await assert_no_horizontal_overflow(page)
    await offer.get_by_role("button", name="Yes, refer and record the acceptance").click()
    await expect(page.get_by_text("Acceptance recorded on the facility's behalf")).to_be_visible()
    await expect(page.locator('tr[data-referral-status="accepted"]')).to_have_count(1)
    await expect(page.locator("section#calls")).to_contain_text("acceptance recorded by phone")
    await expect(page.locator("[data-call-back]")).to_have_count(0)  # a later call settled it
    await assert_no_horizontal_overflow(page)

    # The board: "confirmed by phone" next to the facility that said no bed.
    async with page.expect_navigation():
        await page.get_by_role("navigation", name="Main").get_by_role("link", name="Board").click()
    if viewport == PHONE:
        line = page.locator(f'li.unit-line[data-unit-id="{north_unit.id}"]')
        await line.locator("summary").click()
        badge = line.locator("[data-phone-checked]")
    else:
        badge = page.locator(f'article[data-facility-id="{north.id}"] [data-phone-checked]')
    await expect(badge).to_be_visible()
    await expect(badge).to_contain_text("confirmed by phone")
    await expect(page.locator("[data-phone-checked]:visible")).to_have_count(1)
    await assert_no_horizontal_overflow(page)
    await page.context.close()


async def test_an_open_board_picks_up_a_phone_confirmation(
    browser: Browser,
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    from bedboard import auth
    from bedboard.placements import calls

    north = await make_facility(name="Northgate Behavioral", county_fips="29019")
    await make_unit(north.id, name="North Adult", population="adult")
    liaison = await make_user(Role.LIAISON)
    placement_id = await record_placement(
        conn, liaison.id, initials="RC", age=41, sex="male", county_fips="29019"
    )
    page = await as_user(browser, live_url, liaison.email)
    await page.goto(f"{live_url}/board")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(page.locator("[data-phone-checked]")).to_have_count(0)
    principal = await auth.principal_for_user(conn, liaison.id)
    assert principal is not None
    call = calls.CallIn(facility_id=north.id, outcome=calls.Outcome.NO_BED)
    await calls.record(conn, placement_id, call, principal, hold=timedelta(hours=4))
    badge = page.locator(f'article[data-facility-id="{north.id}"] [data-phone-checked]')
    await expect(badge).to_contain_text("confirmed by phone")
    await page.context.close()
