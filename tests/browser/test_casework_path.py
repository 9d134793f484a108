"""In a real browser, at desktop and phone widths, the liaison's whole case: the intake form,
a phone call that finds no answer, a referral and its message thread with the facility, the
facility's acceptance, admission, discharge, and a follow-up task marked done."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, expect

from bedboard.auth import Role
from tests.browser.conftest import assert_no_horizontal_overflow, north_and_south
from tests.browser.test_placement_path import as_user

pytestmark = pytest.mark.browser

CHICAGO = ZoneInfo("America/Chicago")
ASKED = "Has the person been medically cleared? We need the labs before transport."
ANSWERED = "Cleared at the ED at 9; labs normal. Sending them with the officer."


async def test_a_case_from_intake_through_a_call_a_thread_and_discharge_to_a_follow_up_done(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_user: Any,
) -> None:
    _north, north_unit, south, _south_unit = await north_and_south(conn, make_facility, make_unit)
    liaison = await make_user(Role.LIAISON)
    south_staff = await make_user(Role.FACILITY, facility_ids=[south.id])

    # Intake: the liaison records the request on the form.
    desk = await as_user(browser, live_url, liaison.email, viewport)
    await desk.goto(live_url + "/placements/new")
    await desk.get_by_label("Order type").select_option(
        label="96-hour detention, on application (no court yet)"
    )
    await desk.get_by_label("Detention started (Central time)").fill(
        (datetime.now(CHICAGO) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    )
    await desk.get_by_label("County where the person is").select_option(label="Boone")
    await desk.get_by_label("Initials").fill("TW")
    await desk.get_by_label("Age", exact=True).fill("37")
    await desk.get_by_label("Sex", exact=True).select_option("female")
    await desk.get_by_role("button", name="Record and find a bed").click()
    await expect(desk.get_by_role("heading", level=1)).to_contain_text("PL-")
    await assert_no_horizontal_overflow(desk)

    # The nearest unit does not pick up: "Called" → no answer, listed under Calls.
    north_result = desk.locator(f'li.result[data-unit-id="{north_unit.id}"]')
    await north_result.get_by_label("Called Northgate Behavioral — North Adult").click()
    await north_result.get_by_role(
        "button", name="No answer at Northgate Behavioral — North Adult"
    ).click()
    await expect(
        desk.get_by_text("Call recorded: Northgate Behavioral — North Adult: no answer.")
    ).to_be_visible()
    await expect(desk.locator('section#calls li[data-call-outcome="no_answer"]')).to_contain_text(
        "Northgate Behavioral"
    )
    await assert_no_horizontal_overflow(desk)

    # Refer to the other unit; the facility asks on the thread, the liaison answers.
    await desk.get_by_role("button", name="Refer to Southfork Psychiatric — South Adult").click()
    await expect(desk.get_by_text("Referral sent.")).to_be_visible()
    intake = await as_user(browser, live_url, south_staff.email, viewport)
    await intake.goto(live_url + "/referrals")
    await expect(intake.get_by_text("TW, 37, female")).to_be_visible()
    await intake.get_by_label("Message to the liaison").fill(ASKED)
    await intake.get_by_role("button", name="Send", exact=True).click()
    await expect(intake.get_by_text("Message sent.")).to_be_visible()
    await assert_no_horizontal_overflow(intake)

    # The liaison's page refreshed itself with the question.
    await expect(desk.locator("[data-message-body]")).to_have_text([ASKED])
    await desk.get_by_label("Message to Southfork Psychiatric").fill(ANSWERED)
    await desk.get_by_role("button", name="Send", exact=True).click()
    await expect(desk.get_by_text("Message sent.")).to_be_visible()
    await expect(desk.locator("[data-message-body]")).to_have_text([ASKED, ANSWERED])
    await assert_no_horizontal_overflow(desk)

    # The facility reads the answer and accepts.
    await intake.reload()
    await expect(intake.locator("[data-thread] [data-message-body]")).to_have_text(
        [ASKED, ANSWERED]
    )
    await intake.get_by_role("button", name="Accept and hold a bed").click()
    await expect(intake.get_by_text("Accepted: a bed is held")).to_be_visible()

    # In transit, admitted, then discharged home with outpatient follow-up.
    await expect(desk.locator("[data-referral-status=accepted]")).to_have_count(1)
    await desk.get_by_role("button", name="Mark in transit").click()
    await expect(desk.locator("h1 [data-status]")).to_have_text("in transit")
    await desk.get_by_role("button", name="Mark admitted").click()
    await desk.get_by_role("button", name="Yes, mark admitted").click()
    await expect(desk.locator("h1 [data-status]")).to_have_text("admitted")
    discharge = desk.locator("form", has=desk.locator("#discharge-title"))
    await discharge.get_by_label("Disposition").select_option(
        label="Home with outpatient follow-up"
    )
    await discharge.get_by_role("button", name="Mark discharged").click()
    await desk.get_by_role("button", name="Yes, mark discharged").click()
    await expect(desk.get_by_text("Marked discharged.")).to_be_visible()
    await expect(desk.locator("h1 [data-status]")).to_have_text("discharged")
    await assert_no_horizontal_overflow(desk)

    # A follow-up task, then done from the task list.
    tasks = desk.locator("section", has=desk.locator("#follow-ups-title"))
    due = datetime.now(CHICAGO).date() + timedelta(days=7)
    await tasks.get_by_label("New task").fill("Call CMHC intake")
    await tasks.get_by_label("Due on").fill(due.isoformat())
    await tasks.get_by_role("button", name="Add follow-up task").click()
    await expect(desk.get_by_text("Follow-up task added.")).to_be_visible()
    await desk.locator(".site-nav").get_by_role("link", name="Follow-ups").click()
    listed = desk.locator("tr", has=desk.get_by_text("Call CMHC intake"))
    await listed.get_by_label("Note on Call CMHC intake").fill("Intake booked for Tuesday.")
    await listed.get_by_role("button", name="Mark done: Call CMHC intake").click()
    await expect(desk.get_by_text("Follow-up marked done.")).to_be_visible()
    await assert_no_horizontal_overflow(desk)

    # The placement's timeline tells the whole case, without the thread's words.
    await desk.get_by_role("link", name="Done", exact=True).click()
    await desk.locator("tr", has=desk.get_by_text("Call CMHC intake")).get_by_role("link").click()
    timeline = desk.locator("section", has=desk.locator("#timeline-title"))
    for said in ("called", "Message from Southfork Psychiatric", "Message from the liaison"):
        await expect(timeline).to_contain_text(said)
    await expect(timeline).to_contain_text("discharged")
    await expect(timeline).not_to_contain_text(ASKED)
    await assert_no_horizontal_overflow(desk)
