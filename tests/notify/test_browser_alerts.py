"""In a real browser: a critical in-app alert appears in the banner on the live
connection, its tone repeats until the liaison clicks Acknowledge, then stops."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from bedboard import notify
from bedboard.auth import Role
from bedboard.notify import Channel, Recipient
from tests.browser.conftest import browser, live_url  # noqa: F401 -- fixtures
from tests.browser.test_placement_path import as_user
from tests.notify.conftest import config, db_now

pytestmark = pytest.mark.browser

# Count the tones the page plays: every beep starts one oscillator.
COUNT_TONES = """
window.__tones = 0;
const original = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.__tones += 1;
  return original.call(this);
};
"""


async def test_a_critical_alert_sounds_until_acknowledged(
    browser: Browser,  # noqa: F811 -- the fixture imported above
    live_url: str,  # noqa: F811
    conn: Any,
    pool: Any,
    make_user: Any,
) -> None:
    liaison = await make_user(Role.LIAISON)
    page = await as_user(browser, live_url, liaison.email)
    await page.add_init_script(COUNT_TONES)
    await page.goto(f"{live_url}/placements")
    banner = page.locator("#alert-banner")
    await expect(banner).to_be_hidden()
    await page.wait_for_timeout(500)  # the live connection subscribes

    now = await db_now(conn)
    message = notify.Message(
        event=notify.Event.DEADLINE_APPROACHING,
        subject="Deadline in 4 hours for PL-2026-000321",
        body="Sign in to bedboard.",
        link_path="/placements",
        reference="PL-2026-000321",
        status="open",
    )
    (did,) = await notify.enqueue(
        conn,
        key="browser",
        message=message,
        recipients=[Recipient(Channel.IN_APP, user_id=liaison.id)],
        critical=True,
        now=now,
    )
    await notify.dispatch_due(pool, config(), now=now)

    await expect(banner).to_be_visible(timeout=10_000)
    await expect(banner).to_contain_text("Deadline in 4 hours for PL-2026-000321")
    first = await page.evaluate("window.__tones")
    assert first >= 1
    await page.wait_for_timeout(5_600)
    assert await page.evaluate("window.__tones") > first  # critical: it repeats

    await banner.get_by_role("button", name="Acknowledge").click()
    await expect(banner).to_be_hidden()
    for _ in range(50):
        if await conn.fetchval("SELECT count(*) FROM notify_acks WHERE delivery_id = $1", did):
            break
        await asyncio.sleep(0.1)
    assert await conn.fetchval("SELECT user_id FROM notify_acks WHERE delivery_id = $1", did) == (
        liaison.id
    )
    after = await page.evaluate("window.__tones")
    await page.wait_for_timeout(5_600)
    assert await page.evaluate("window.__tones") == after  # silent once acknowledged
    # A new page shows nothing more.
    await page.reload()
    await expect(banner).to_be_hidden()
