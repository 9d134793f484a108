"""In a real browser, at a desktop width and at 390 px: the liaison writes to the referred
facility on the placement page, the facility reads it on its referrals and replies, and the
liaison sees the reply."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, expect

from bedboard.auth import Role
from tests.browser.conftest import assert_no_horizontal_overflow, record_placement
from tests.browser.test_placement_path import as_user
from tests.browser.test_response_clock import _units

pytestmark = pytest.mark.browser

TO_FACILITY = "Calling you at noon about transport; is a medical clearance needed first?"
TO_LIAISON = "Yes, please send the clearance with the labs before transport."


async def test_the_liaison_and_the_facility_write_on_the_referrals_thread(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    ((facility, _unit),) = await _units(conn, make_facility, make_unit, "Cedar Ridge Behavioral")
    liaison = await make_user(Role.LIAISON)
    staff = await make_user(Role.FACILITY, facility_ids=[facility.id])
    placement_id = await record_placement(
        conn, liaison.id, initials="KL", age=41, sex="male", county_fips="29019"
    )
    desk = await as_user(browser, live_url, liaison.email, viewport)
    await desk.goto(f"{live_url}/placements/{placement_id}")
    await desk.get_by_role("button", name="Refer to Cedar Ridge Behavioral — Adult Acute").click()
    await expect(desk.locator("[data-referral-status=pending]")).to_have_count(1)

    # An empty message: the sentence next to the field, nothing sent.
    await desk.get_by_role("button", name="Send", exact=True).click()
    await expect(desk.locator(".thread .field__error")).to_contain_text("Write the message")
    await desk.get_by_label("Message to Cedar Ridge Behavioral").fill(TO_FACILITY)
    await desk.get_by_role("button", name="Send", exact=True).click()
    await expect(desk.get_by_text("Message sent.")).to_be_visible()
    await expect(desk.locator("[data-message-body]")).to_have_text([TO_FACILITY])
    await expect(desk.locator("[data-event-kind=referral_message]")).to_contain_text(
        "Message from the liaison"
    )
    await assert_no_horizontal_overflow(desk)

    intake = await as_user(browser, live_url, staff.email, viewport)
    await intake.goto(f"{live_url}/referrals")
    thread = intake.locator("[data-thread]")
    await expect(thread.locator("[data-message-body]")).to_have_text([TO_FACILITY])
    await expect(thread.locator("[data-side=liaison]")).to_contain_text("Liaison")
    await intake.get_by_label("Message to the liaison").fill(TO_LIAISON)
    await intake.get_by_role("button", name="Send", exact=True).click()
    await expect(intake.get_by_text("Message sent.")).to_be_visible()
    await expect(thread.locator("[data-message-body]")).to_have_text([TO_FACILITY, TO_LIAISON])
    await assert_no_horizontal_overflow(intake)

    # The liaison's page refreshed itself with the reply.
    await expect(desk.locator("[data-message-body]")).to_have_text([TO_FACILITY, TO_LIAISON])
    await expect(desk.locator("[data-side=facility]")).to_contain_text("Cedar Ridge Behavioral")
    await assert_no_horizontal_overflow(desk)
