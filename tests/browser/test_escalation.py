"""The escalation ladder in a real browser at a phone's width: the placement page's
banner and Acknowledge button, and the administrator's ladder form (add a rung)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from bedboard import board, census
from bedboard.auth import Role
from bedboard.placements import escalation
from tests.browser.test_layout import PHONE_PX, overflow_problems
from tests.browser.test_login import sign_in

pytestmark = pytest.mark.browser


async def test_a_liaison_sees_the_banner_and_acknowledges_a_rung_on_a_phone(
    browser: Browser, live_url: str, conn: Any, make_facility: Any, make_unit: Any,
    make_court: Any, make_user: Any, make_token: Any,
) -> None:  # fmt: skip
    facility = await make_facility(name="Hillcrest Behavioral")
    unit = await make_unit(facility.id, name="Adult Acute")
    now = await conn.fetchval("SELECT now()")
    await census.apply(
        conn,
        [(unit.id, census.CensusReport(as_of=now, staffed=10, occupied=8))],
        census.Source("test"),
    )
    court = await make_court(name="Boone Probate (test)")
    liaison = await make_user(Role.LIAISON)
    headers = {"Authorization": f"Bearer {await make_token(liaison.id)}"}
    body = {
        "order_type": "emergency_96h",
        "court_id": court.id,
        "detention_start": (datetime.now(UTC) - timedelta(hours=85)).isoformat(),
        "county_fips": "29019",
        "person": {"initials": "JD", "age": 34, "sex": "male"},
        "needs": {"population": "adult", "gender": "male", "involuntary": True},
    }
    async with aiohttp.ClientSession(headers=headers) as http:
        resp = await http.post(f"{live_url}/api/v1/placements", json=body)
        assert resp.status == 201, await resp.text()
        placement_id = (await resp.json())["id"]
    assert len(await escalation.run(conn, await board.db_now(conn))) == 2

    context = await browser.new_context(viewport={"width": PHONE_PX, "height": 800})
    page = await context.new_page()
    await sign_in(page, live_url, liaison.email)
    await page.goto(f"{live_url}/placements/{placement_id}")
    banner = page.locator("[data-wider-search]")
    await expect(banner).to_contain_text("Deadline in 11 h and no bed accepted")
    await expect(banner.get_by_role("link", name="Search a wider radius")).to_be_visible()
    assert not await overflow_problems(page, "placement page with escalations")
    section = page.locator("#escalations")
    await section.get_by_role(
        "button", name="Acknowledge the escalation to the region's supervisor"
    ).click()
    await expect(page.get_by_role("status").first).to_contain_text("Escalation acknowledged")
    await expect(section).to_contain_text(f"acknowledged by {liaison.email}")
    await expect(section.get_by_role("button")).to_have_count(1)
    await context.close()


async def test_an_administrator_adds_a_rung_to_a_ladder_on_a_phone(
    browser: Browser, live_url: str, make_user: Any
) -> None:
    admin = await make_user(Role.ADMIN)
    context = await browser.new_context(viewport={"width": PHONE_PX, "height": 800})
    page = await context.new_page()
    await sign_in(page, live_url, admin.email)
    await page.goto(f"{live_url}/admin/order-types")
    await page.get_by_role("link", name="4 rungs").first.click()
    await expect(page.locator("fieldset.ladder-rung")).to_have_count(4)
    assert not await overflow_problems(page, "ladder form")
    await page.get_by_role("button", name="Add a rung").click()
    await expect(page.locator("fieldset.ladder-rung")).to_have_count(5)
    rung = page.locator("#rung-4")
    await rung.get_by_label("Hours before the deadline").fill("48")
    await rung.get_by_label("the region's supervisor").check()
    await page.get_by_role("button", name="Save the ladder").click()
    await expect(page.get_by_role("status").first).to_contain_text("Saved")
    await expect(page.locator("#f-0-hours_before")).to_have_value("48")
    assert not await overflow_problems(page, "ladder form after saving")
    await context.close()
