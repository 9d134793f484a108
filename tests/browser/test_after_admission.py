"""In a real browser, at desktop and phone widths: after admission. A liaison discharges an
admitted placement choosing a disposition (confirmed first), adds a follow-up task, finds
it on the Follow-ups page and marks it done there."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, expect

from bedboard import auth, census, placements
from bedboard.auth import Role
from tests.browser.conftest import assert_no_horizontal_overflow, record_placement
from tests.browser.test_placement_path import as_user

pytestmark = pytest.mark.browser

CHICAGO = ZoneInfo("America/Chicago")


async def _admitted(conn: Any, liaison_id: int, make_facility: Any, make_unit: Any) -> int:
    """A placement referred, accepted, in transit and admitted (as the liaison would)."""
    facility = await make_facility(name="Northgate Behavioral", county_fips="29019")
    unit = await make_unit(facility.id, name="North Adult", population="adult")
    now = await conn.fetchval("SELECT now()")
    await census.apply(
        conn,
        [(unit.id, census.CensusReport(as_of=now, staffed=12, occupied=10))],
        census.Source("test"),
    )
    placement_id = await record_placement(
        conn, liaison_id, initials="RW", age=44, sex="male", county_fips="29019"
    )
    liaison = await auth.principal_for_user(conn, liaison_id)
    assert liaison is not None
    (referral,) = await placements.refer(conn, placement_id, [unit.id], liaison)
    await placements.accept(conn, referral, liaison, timedelta(hours=4))
    for to in ("in_transit", "admitted"):
        change = placements.TransitionIn.model_validate({"to": to})
        await placements.transition(conn, placement_id, change, liaison, None)
    return placement_id


async def test_a_liaison_discharges_adds_a_follow_up_and_marks_it_done_on_the_task_list(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    liaison = await make_user(Role.LIAISON)
    placement_id = await _admitted(conn, liaison.id, make_facility, make_unit)
    page = await as_user(browser, live_url, liaison.email, viewport)
    await page.goto(f"{live_url}/placements/{placement_id}")
    await expect(page.locator("h1 [data-status]")).to_have_text("admitted")
    discharge = page.locator("form", has=page.locator("#discharge-title"))
    await assert_no_horizontal_overflow(page)

    # A time before the admission is refused, next to the field.
    await discharge.get_by_label("Discharged at").fill("2001-01-01T10:00")
    await discharge.get_by_label("Disposition").select_option(
        label="Outpatient commitment (RSMo 632.330 / 632.355)"
    )
    await discharge.get_by_role("button", name="Mark discharged").click()
    await page.get_by_role("button", name="Yes, mark discharged").click()
    discharge = page.locator("form", has=page.locator("#discharge-title"))
    await expect(discharge.locator("#discharge-error")).to_have_text(
        "Enter a time between the admission and now."
    )
    await expect(discharge.get_by_label("Discharged at")).to_have_attribute("aria-invalid", "true")
    await assert_no_horizontal_overflow(page)

    # Left empty, the time is now; the confirmation names the disposition.
    await discharge.get_by_label("Disposition").select_option(
        label="Outpatient commitment (RSMo 632.330 / 632.355)"
    )
    await discharge.get_by_label("Discharge note (optional)").fill("Seen by the CMHC Monday.")
    await discharge.get_by_role("button", name="Mark discharged").click()
    await expect(page.get_by_text("Confirm that the person was discharged")).to_be_visible()
    await assert_no_horizontal_overflow(page)
    await page.get_by_role("button", name="Yes, mark discharged").click()
    await expect(page.get_by_text("Marked discharged.")).to_be_visible()
    await expect(page.locator("h1 [data-status]")).to_have_text("discharged")
    await expect(page.locator("dd.discharged")).to_contain_text(
        "Outpatient commitment (RSMo 632.330 / 632.355)"
    )
    await expect(page.locator("[data-discharge-note]")).to_have_text("Seen by the CMHC Monday.")
    await expect(page.get_by_role("button", name="Mark discharged")).to_have_count(0)
    await assert_no_horizontal_overflow(page)

    # A follow-up task, due in a week, for the liaison (the default assignee).
    tasks = page.locator("section", has=page.locator("#follow-ups-title"))
    due = datetime.now(CHICAGO).date() + timedelta(days=7)
    await tasks.get_by_label("New task").fill("Call CMHC intake")
    await tasks.get_by_label("Due on").fill(due.isoformat())
    await tasks.get_by_role("button", name="Add follow-up task").click()
    await expect(page.get_by_text("Follow-up task added.")).to_be_visible()
    tasks = page.locator("section", has=page.locator("#follow-ups-title"))
    row = tasks.locator("tr[data-follow-up-status='open']")
    await expect(row).to_contain_text("Call CMHC intake")
    await expect(row).to_contain_text(f"{due.strftime('%b')} {due.day}, {due.year}")
    await assert_no_horizontal_overflow(page)

    # The navigation's Follow-ups page lists it, linked to the placement; Done closes it.
    await page.locator(".site-nav").get_by_role("link", name="Follow-ups").click()
    await expect(page.get_by_role("heading", name="My follow-up tasks")).to_be_visible()
    listed = page.locator("tr", has=page.get_by_text("Call CMHC intake"))
    await expect(listed.get_by_role("link")).to_have_attribute(
        "href", f"/placements/{placement_id}#follow-ups"
    )
    await assert_no_horizontal_overflow(page)
    await listed.get_by_label("Note on Call CMHC intake").fill("Intake booked for Tuesday.")
    await listed.get_by_role("button", name="Mark done: Call CMHC intake").click()
    await expect(page.get_by_text("Follow-up marked done.")).to_be_visible()
    await expect(page.get_by_text("Call CMHC intake")).to_have_count(0)
    await assert_no_horizontal_overflow(page)
    await page.get_by_role("link", name="Done", exact=True).click()
    await expect(page.locator("tr", has=page.get_by_text("Call CMHC intake"))).to_contain_text(
        "Intake booked for Tuesday."
    )
    await assert_no_horizontal_overflow(page)
