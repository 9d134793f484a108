"""In a real browser, at desktop and phone widths: the placement page's *Where the person
is waiting* section (placements/waiting.py): where the person waits, a move, and the
officer custody, with a refused time or agency named by a sentence at the form."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, expect

from bedboard.auth import Role
from tests.browser.conftest import assert_no_horizontal_overflow, record_placement
from tests.browser.test_placement_path import as_user

pytestmark = pytest.mark.browser


async def test_a_liaison_records_where_the_person_waits_a_move_and_the_officer_custody(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_user: Any,
) -> None:
    hospital = await make_facility(name="Boone Hospital Center")
    liaison = await make_user(Role.LIAISON)
    placement_id = await record_placement(
        conn, liaison.id, initials="NP", age=29, sex="female", county_fips="29019"
    )
    page = await as_user(browser, live_url, liaison.email, viewport)
    await page.goto(f"{live_url}/placements/{placement_id}")
    section = page.locator("section", has=page.locator("#waiting-title"))
    await expect(section.locator(".waiting-now")).to_contain_text("Not recorded yet.")

    # A time in the future is refused with a sentence the field points to.
    await section.get_by_label("Waiting at").select_option(label="Emergency department")
    await section.get_by_label("Hospital (emergency department)").select_option(str(hospital.id))
    await section.get_by_label("Since", exact=True).fill("2099-01-01T10:00")
    await section.get_by_role("button", name="Record where the person is").click()
    section = page.locator("section", has=page.locator("#waiting-title"))
    await expect(section.locator("#wait-error")).to_have_text(
        "Enter a time between the detention start and now."
    )
    await expect(section.get_by_label("Since", exact=True)).to_have_attribute(
        "aria-describedby", "wait-error"
    )
    await expect(section.locator(".waiting-now")).to_contain_text("Not recorded yet.")
    await assert_no_horizontal_overflow(page)

    # Left empty, "since" is now.
    await section.get_by_label("Waiting at").select_option(label="Emergency department")
    await section.get_by_label("Hospital (emergency department)").select_option(str(hospital.id))
    await section.get_by_role("button", name="Record where the person is").click()
    await expect(page.get_by_text("Waiting place recorded.")).to_be_visible()
    section = page.locator("section", has=page.locator("#waiting-title"))
    await expect(section.locator(".waiting-now")).to_contain_text(
        "Emergency department, Boone Hospital Center since"
    )
    await expect(section.locator("#wait-error")).to_have_count(0)

    # A move is a new entry; the earlier place is kept.
    await section.get_by_label("Moved to").select_option(label="Jail")
    await section.get_by_role("button", name="Record where the person is").click()
    await expect(page.get_by_text("Waiting place recorded.")).to_be_visible()
    section = page.locator("section", has=page.locator("#waiting-title"))
    await expect(section.locator(".waiting-now strong").first).to_have_text("Jail")
    await section.get_by_text("Earlier places (1)").click()
    await expect(
        section.get_by_text("Emergency department, Boone Hospital Center:")
    ).to_be_visible()
    await assert_no_horizontal_overflow(page)

    # The officer's custody: an agency of spaces is refused, then recorded and released.
    await section.get_by_label("Officer's agency").fill("   ")
    await section.get_by_role("button", name="Officer on scene").click()
    section = page.locator("section", has=page.locator("#waiting-title"))
    await expect(section.locator("#wait-error")).to_have_text("Enter the officer's agency.")
    await expect(section.get_by_label("Officer's agency")).to_have_attribute("aria-invalid", "true")
    await section.get_by_label("Officer's agency").fill("Boone County Sheriff")
    await section.get_by_role("button", name="Officer on scene").click()
    await expect(page.get_by_text("Officer custody recorded.")).to_be_visible()
    section = page.locator("section", has=page.locator("#waiting-title"))
    await expect(section.locator(".waiting-now")).to_contain_text("Officer on scene 0 h")
    await expect(section.locator(".waiting-now")).to_contain_text("Boone County Sheriff")
    await assert_no_horizontal_overflow(page)
    await section.get_by_role("button", name="Officer released").click()
    await expect(page.get_by_text("Officer released.")).to_be_visible()
    section = page.locator("section", has=page.locator("#waiting-title"))
    await expect(section.locator(".waiting-now")).to_contain_text(
        "officer (Boone County Sheriff) released"
    )
    await expect(section.get_by_role("button", name="Officer on scene")).to_be_visible()
    await assert_no_horizontal_overflow(page)


async def test_the_list_sorted_by_custody_puts_the_longest_officer_wait_first(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_user: Any,
) -> None:
    liaison = await make_user(Role.LIAISON)
    ids = {}
    for initials, hours in (("AA", None), ("BB", 2), ("CC", 7)):
        ids[initials] = await record_placement(
            conn, liaison.id, initials=initials, age=30, sex="male", county_fips="29019"
        )
        if hours is not None:
            await conn.execute(
                "UPDATE placements SET custody_agency = 'Columbia Police',"
                " custody_started_at = now() - make_interval(hours => $2) WHERE id = $1",
                ids[initials], hours,
            )  # fmt: skip
    page = await as_user(browser, live_url, liaison.email, viewport)
    async with page.expect_navigation():
        await (
            page.get_by_role("navigation", name="Main")
            .get_by_role("link", name="Placements")
            .click()
        )
    await page.get_by_label("Sort by").select_option(label="Longest with an officer")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Apply").click()
    assert "sort=custody" in page.url
    await expect(page.locator(".lede")).to_contain_text(
        "Those with an officer still on scene first, the longest first."
    )
    rows = page.locator("table tbody tr")
    await expect(rows).to_have_count(3)
    first, second, third = (rows.nth(i) for i in range(3))
    await expect(first.locator("td[data-label=Person]")).to_contain_text("CC")
    await expect(first.locator("[data-custody]")).to_have_text("officer on scene 7 hr")
    await expect(second.locator("td[data-label=Person]")).to_contain_text("BB")
    await expect(third.locator("[data-custody]")).to_have_count(0)
    await assert_no_horizontal_overflow(page)
    await page.context.close()
