"""In a real browser, at desktop and phone widths: the referral packet. A liaison fills the
packet form and uploads a PDF through the file input; the facility referred signs in,
reads the packet (read-only) on its referrals page and downloads the file."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, expect

from bedboard import auth, census, placements
from bedboard.auth import Role
from tests.browser.conftest import assert_no_horizontal_overflow, record_placement
from tests.browser.test_placement_path import as_user
from tests.placements.test_attachments import PDF

pytestmark = pytest.mark.browser

CHICAGO = ZoneInfo("America/Chicago")


async def test_a_liaison_fills_the_packet_and_attaches_a_pdf_that_the_facility_reads(
    browser: Browser,
    viewport: dict[str, int],
    live_url: str,
    conn: Any,
    make_facility: Any,
    make_unit: Any,
    make_user: Any,
    tmp_path: Path,
) -> None:
    facility = await make_facility(name="Northgate Behavioral", county_fips="29019")
    unit = await make_unit(facility.id, name="North Adult", population="adult")
    now = await conn.fetchval("SELECT now()")
    await census.apply(
        conn,
        [(unit.id, census.CensusReport(as_of=now, staffed=12, occupied=10))],
        census.Source("test"),
    )
    liaison = await make_user(Role.LIAISON)
    staff = await make_user(Role.FACILITY, facility_ids=[facility.id])
    placement_id = await record_placement(
        conn, liaison.id, initials="KT", age=29, sex="female", county_fips="29019"
    )
    principal = await auth.principal_for_user(conn, liaison.id)
    assert principal is not None
    await placements.refer(conn, placement_id, [unit.id], principal)
    scan = tmp_path / "medical clearance.pdf"
    await asyncio.to_thread(scan.write_bytes, PDF)

    page = await as_user(browser, live_url, liaison.email, viewport)
    await page.goto(f"{live_url}/placements/{placement_id}")
    form = page.locator("#packet-form")
    await form.get_by_label("Medical clearance done").check()
    cleared = (datetime.now(CHICAGO) - timedelta(hours=1)).replace(second=0, microsecond=0)
    await form.get_by_label("When (Central time)").fill(cleared.strftime("%Y-%m-%dT%H:%M"))
    await form.get_by_label("Toxicology").fill("UDS negative, BAL 0.00")
    await form.get_by_label("Recent aggression", exact=True).select_option(label="No")
    await form.get_by_label("Current medications given").fill("Lorazepam 1 mg PO at 09:30")
    await form.get_by_label("Copy of the order received").check()
    await form.get_by_label("Pregnancy").select_option(label="No")
    await form.get_by_label("Mobility and medical needs").fill("Uses a cane")
    await assert_no_horizontal_overflow(page)
    await form.get_by_role("button", name="Save referral packet").click()
    await expect(page.get_by_text("Referral packet saved.")).to_be_visible()
    form = page.locator("#packet-form")
    await expect(form.get_by_label("Toxicology")).to_have_value("UDS negative, BAL 0.00")
    await expect(form.get_by_label("When (Central time)")).to_have_value(
        cleared.strftime("%Y-%m-%dT%H:%M")
    )
    await expect(page.locator("#timeline, body")).to_contain_text("packet updated")

    files = page.locator("#attachments")
    await files.get_by_label("File to attach").set_input_files(str(scan))
    await files.get_by_role("button", name="Upload").click()
    await expect(page.get_by_text("Attachment added.")).to_be_visible()
    row = page.locator("#attachments tr[data-attachment-id]")
    await expect(row).to_contain_text("medical clearance.pdf")
    await expect(row).to_contain_text("PDF")
    await assert_no_horizontal_overflow(page)
    await page.context.close()

    page = await as_user(browser, live_url, staff.email, viewport)
    await page.goto(f"{live_url}/referrals")
    packet = page.locator(f"[data-packet-for='{placement_id}']")
    await expect(packet.locator("[data-packet-field='toxicology']")).to_have_text(
        "UDS negative, BAL 0.00"
    )
    await expect(packet.locator("[data-packet-field='medical_clearance']")).to_contain_text("Done")
    await expect(packet.locator("[data-packet-field='pregnancy']")).to_have_text("No")
    await expect(packet.locator("textarea, select, input")).to_have_count(0)  # read-only
    await expect(packet.get_by_role("button", name="Remove")).to_have_count(0)
    await assert_no_horizontal_overflow(page)
    async with page.expect_download() as downloading:
        await packet.get_by_role("link", name="medical clearance.pdf").click()
    download = await downloading.value
    assert download.suggested_filename == "medical clearance.pdf"
    saved = Path(await download.path())
    assert await asyncio.to_thread(saved.read_bytes) == PDF
    downloads = await conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'placement.attachment_download'"
        " AND actor_id = $1",
        staff.id,
    )
    assert downloads == 1
    await page.context.close()
