"""The referral packet and attachments on the pages: the liaison's form and upload, the
refusals next to their fields, and the facility's read-only view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from bedboard.auth import Role
from bedboard.settings import Settings
from tests.conftest import login
from tests.placements.conftest import World
from tests.placements.test_attachments import HTML, LIMIT, PDF

CENTRAL = ZoneInfo("America/Chicago")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"attachment_max_bytes": LIMIT})


def _local(moment: datetime) -> str:
    return moment.astimezone(CENTRAL).strftime("%Y-%m-%dT%H:%M")


async def test_the_liaison_saves_the_packet_from_the_placement_page(
    world: World, client: Any, make_user: Any
) -> None:
    pid = (await world.create())["id"]
    liaison = await make_user(Role.LIAISON)
    session = await login(client, liaison.email)
    cleared = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)
    resp = await client.post(
        f"/placements/{pid}/packet",
        data={
            "csrf_token": session.csrf,
            "medical_clearance": "true",
            "medical_clearance_at": _local(cleared),
            "toxicology": "UDS negative",
            "recent_aggression": "false",
            "aggression_note": "",
            "medications_given": "Lorazepam 2 mg PO",
            "legal_note": "",
            "pregnancy": "not_applicable",
            "mobility_needs": "",
        },
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"].endswith("#packet")
    row = await world.conn.fetchrow("SELECT * FROM placement_packets WHERE placement_id = $1", pid)
    assert row["medical_clearance"] is True and row["medical_clearance_at"] == cleared
    assert row["recent_aggression"] is False and row["order_copy_received"] is None
    assert row["aggression_note"] is None and row["pregnancy"] == "not_applicable"
    html = await (await client.get(f"/placements/{pid}")).text()
    assert 'id="packet-form"' in html and "UDS negative</textarea>" in html
    assert f'value="{_local(cleared)}"' in html


async def test_a_refused_packet_keeps_the_typed_values_and_says_why_by_each_field(
    world: World, client: Any, make_user: Any
) -> None:
    pid = (await world.create())["id"]
    liaison = await make_user(Role.LIAISON)
    session = await login(client, liaison.email)
    resp = await client.post(
        f"/placements/{pid}/packet",
        data={
            "csrf_token": session.csrf,
            "medical_clearance_at": _local(datetime.now(UTC) - timedelta(hours=1)),
            "toxicology": "Pending",
        },
    )
    assert resp.status == 422
    html = await resp.text()
    assert 'id="packet-medical_clearance_at-error"' in html
    assert "Pending</textarea>" in html
    assert await world.conn.fetchval("SELECT count(*) FROM placement_packets") == 0
    again = await client.post(
        f"/placements/{pid}/packet",
        data={"csrf_token": session.csrf, "mobility_needs": "x" * 2001, "pregnancy": "perhaps"},
    )
    html = await again.text()
    assert again.status == 422
    assert 'id="packet-mobility_needs-error"' in html and 'id="packet-pregnancy-error"' in html
    late = await client.post(
        f"/placements/{pid}/packet",
        data={"csrf_token": session.csrf, "medical_clearance_at": "2026-02-30T10:00"},
    )
    assert late.status == 422 and 'id="packet-medical_clearance_at-error"' in await late.text()


async def test_the_liaison_uploads_and_removes_a_file_from_the_placement_page(
    world: World, client: Any, make_user: Any
) -> None:
    pid = (await world.create())["id"]
    liaison = await make_user(Role.LIAISON)
    session = await login(client, liaison.email)

    def form(content: bytes, name: str) -> aiohttp.FormData:
        data = aiohttp.FormData()
        data.add_field("csrf_token", session.csrf)
        data.add_field("file", content, filename=name, content_type="application/pdf")
        return data

    added = await client.post(
        f"/placements/{pid}/attachments", data=form(PDF, "order.pdf"), allow_redirects=False
    )
    assert added.status == 303, await added.text()
    html = await (await client.get(f"/placements/{pid}")).text()
    (aid,) = [r["id"] for r in await world.conn.fetch("SELECT id FROM placement_attachments")]
    assert f'href="/api/v1/attachments/{aid}"' in html and "order.pdf" in html

    refused = await client.post(
        f"/placements/{pid}/attachments", data=form(HTML, "fake.pdf"), allow_redirects=False
    )
    assert refused.headers["Location"].endswith("attachment_error=type#attachments")
    html = await (await client.get(refused.headers["Location"])).text()
    assert 'id="attachment-file-error"' in html and "PDF, PNG or JPEG" in html

    asked = await client.post(f"/attachments/{aid}/remove", data={"csrf_token": session.csrf})
    assert "Yes, remove it" in await asked.text()
    assert await world.conn.fetchval("SELECT content IS NOT NULL FROM placement_attachments")
    done = await client.post(
        f"/attachments/{aid}/remove",
        data={"csrf_token": session.csrf, "confirmed": "1"},
        allow_redirects=False,
    )
    assert done.status == 303
    assert await world.conn.fetchval("SELECT content IS NULL FROM placement_attachments")


async def test_the_facility_referred_reads_the_packet_and_files_and_the_other_does_not(
    world: World, client: Any, make_user: Any
) -> None:
    pid = (await world.create())["id"]
    await world.refer(pid, "a1")
    other = (await world.create())["id"]
    await world.refer(other, "b1")
    await world.call(
        "liaison", "PUT", f"/api/v1/placements/{pid}/packet", json={"toxicology": "UDS clean"}
    )
    upload = aiohttp.FormData()
    upload.add_field("file", PDF, filename="clearance.pdf", content_type="application/pdf")
    await world.call("liaison", "POST", f"/api/v1/placements/{pid}/attachments", data=upload)

    staff_a = await make_user(Role.FACILITY, facility_ids=[world.ids["facility_a"]])
    await login(client, staff_a.email)
    html = await (await client.get("/referrals")).text()
    assert "UDS clean" in html and "clearance.pdf" in html
    assert 'id="packet-form"' not in html and "Remove" not in html
    fragment = await (await client.get("/referrals/list")).text()
    assert "UDS clean" in fragment
    client.session.cookie_jar.clear()
    staff_b = await make_user(Role.FACILITY, facility_ids=[world.ids["facility_b"]])
    await login(client, staff_b.email)
    html = await (await client.get("/referrals")).text()
    assert "UDS clean" not in html and "clearance.pdf" not in html


async def test_a_file_over_the_limit_is_refused_on_the_page_with_a_sentence_or_a_413_page(
    world: World, client: Any, make_user: Any
) -> None:
    pid = (await world.create())["id"]
    liaison = await make_user(Role.LIAISON)
    session = await login(client, liaison.email)

    def form(size: int) -> aiohttp.FormData:
        data = aiohttp.FormData()
        data.add_field("csrf_token", session.csrf)
        data.add_field("file", PDF + b"0" * size, filename="big.pdf")
        return data

    just_over = await client.post(
        f"/placements/{pid}/attachments", data=form(LIMIT), allow_redirects=False
    )
    assert just_over.headers["Location"].endswith("attachment_error=size#attachments")
    html = await (await client.get(just_over.headers["Location"])).text()
    assert "The file is too large (at most 64 KB)." in html
    far_over = await client.post(f"/placements/{pid}/attachments", data=form(3 * 1024 * 1024))
    assert far_over.status == 413
    assert "text/html" in far_over.headers["Content-Type"]
    assert f"{LIMIT:,} bytes" in await far_over.text()
    assert await world.conn.fetchval("SELECT count(*) FROM placement_attachments") == 0
