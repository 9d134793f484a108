"""Attachments: PDF and images only, judged by content; encrypted at rest; every download
audited; removal wipes the content; names and contents never logged or on the wire."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest

from bedboard.settings import Settings
from tests.placements.conftest import CANARY, World

LIMIT = 64 * 1024
PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    b"% Clearance note: " + CANARY.encode() + b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 16
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"attachment_max_bytes": LIMIT})


def upload_form(content: bytes, name: str, content_type: str = "application/pdf") -> Any:
    form = aiohttp.FormData()
    form.add_field("file", content, filename=name, content_type=content_type)
    return form


async def upload(
    world: World, pid: int, content: bytes = PDF, name: str = "clearance.pdf", **kw: Any
) -> Any:
    return await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{pid}/attachments",
        data=upload_form(content, name, **kw),
    )


async def test_a_pdf_round_trips_and_is_stored_encrypted(world: World) -> None:
    pid = (await world.create())["id"]
    resp = await upload(world, pid)
    assert resp.status == 201, await resp.text()
    added = await resp.json()
    assert added["media_type"] == "application/pdf" and added["size_bytes"] == len(PDF)
    assert added["file_name"] == "clearance.pdf"
    assert resp.headers["Location"] == f"/api/v1/attachments/{added['id']}"

    listed = await (
        await world.call("liaison", "GET", f"/api/v1/placements/{pid}/attachments")
    ).json()
    assert [a["id"] for a in listed["items"]] == [added["id"]]
    assert "content" not in listed["items"][0]

    got = await world.call("liaison", "GET", f"/api/v1/attachments/{added['id']}")
    assert got.status == 200
    assert await got.read() == PDF
    assert got.content_type == "application/pdf"
    assert got.headers["Content-Disposition"].startswith("attachment;")
    assert "clearance.pdf" in got.headers["Content-Disposition"]
    assert got.headers["X-Content-Type-Options"] == "nosniff"

    stored = bytes(
        await world.conn.fetchval(
            "SELECT content FROM placement_attachments WHERE id = $1", added["id"]
        )
    )
    assert stored != PDF and b"%PDF" not in stored and CANARY.encode() not in stored
    assert len(stored) == len(PDF) + 12 + 16  # nonce, ciphertext, tag


async def test_the_type_comes_from_the_content_not_the_name(world: World) -> None:
    pid = (await world.create())["id"]
    pdf_as_png = await (await upload(world, pid, PDF, "photo.png", content_type="image/png")).json()
    assert pdf_as_png["media_type"] == "application/pdf"
    got = await world.call("liaison", "GET", f"/api/v1/attachments/{pdf_as_png['id']}")
    assert got.content_type == "application/pdf"
    png = await (await upload(world, pid, PNG, "scan.pdf")).json()
    assert png["media_type"] == "image/png"


@pytest.mark.parametrize("content", [HTML, EXE, b"just some text\n"], ids=["html", "exe", "text"])
async def test_anything_else_renamed_pdf_is_refused_415(world: World, content: bytes) -> None:
    pid = (await world.create())["id"]
    resp = await upload(world, pid, content, "order.pdf")
    assert resp.status == 415
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    assert body["allowed"] == ["application/pdf", "image/png", "image/jpeg"]
    assert "application/pdf" in body["detail"]
    assert await world.conn.fetchval("SELECT count(*) FROM placement_attachments") == 0


async def test_a_body_that_is_not_a_multipart_file_is_refused(world: World) -> None:
    pid = (await world.create())["id"]
    url = f"/api/v1/placements/{pid}/attachments"
    as_json = await world.call("liaison", "POST", url, json={"file": "x"})
    assert as_json.status == 415 and as_json.content_type == "application/problem+json"
    form = aiohttp.FormData()
    form.add_field("other", "x")
    form.add_field("other2", b"y", filename="y.bin")
    no_file = await world.call("liaison", "POST", url, data=form)
    assert no_file.status == 422
    assert (await no_file.json())["errors"][0]["field"] == "file"


@pytest.mark.parametrize("size", [LIMIT + 1, LIMIT + 2 * 1024 * 1024], ids=["just", "far"])
async def test_a_file_over_the_limit_is_refused_413(world: World, size: int) -> None:
    pid = (await world.create())["id"]
    big = PDF + b"0" * (size - len(PDF))
    resp = await upload(world, pid, big, "big.pdf")
    assert resp.status == 413
    assert resp.content_type == "application/problem+json"
    assert f"{LIMIT:,}" in (await resp.json())["detail"]
    assert await world.conn.fetchval("SELECT count(*) FROM placement_attachments") == 0
    # The limit itself is accepted.
    assert (await upload(world, pid, PDF + b"0" * (LIMIT - len(PDF)), "ok.pdf")).status == 201


async def test_every_download_is_audited(world: World) -> None:
    pid = (await world.create())["id"]
    (rid,) = await world.refer(pid, "a1")
    aid = (await (await upload(world, pid)).json())["id"]
    for who in ("liaison", "facility_a", "facility_a"):
        assert (await world.call(who, "GET", f"/api/v1/attachments/{aid}")).status == 200
    rows = await world.conn.fetch(
        "SELECT actor_id, object_id, detail FROM audit_log"
        " WHERE action = 'placement.attachment_download' ORDER BY id"
    )
    assert [r["actor_id"] for r in rows] == [
        world.ids["user_liaison"],
        world.ids["user_facility_a"],
        world.ids["user_facility_a"],
    ]
    assert all(r["object_id"] == str(aid) and r["detail"] == {"placement_id": pid} for r in rows)
    assert rid


async def test_removal_wipes_the_content_and_is_logged(world: World) -> None:
    pid = (await world.create())["id"]
    aid = (await (await upload(world, pid)).json())["id"]
    removed = await world.call("liaison", "DELETE", f"/api/v1/attachments/{aid}")
    assert removed.status == 204
    row = await world.conn.fetchrow("SELECT * FROM placement_attachments WHERE id = $1", aid)
    assert row["content"] is None and row["removed_at"] is not None
    assert row["removed_by"] == world.ids["user_liaison"]
    listed = await (
        await world.call("liaison", "GET", f"/api/v1/placements/{pid}/attachments")
    ).json()
    assert listed["items"] == []
    assert (await world.call("liaison", "GET", f"/api/v1/attachments/{aid}")).status == 404
    assert (await world.call("liaison", "DELETE", f"/api/v1/attachments/{aid}")).status == 409
    kinds = [
        (r["kind"], r["data"])
        for r in await world.conn.fetch(
            "SELECT kind, data FROM placement_events WHERE placement_id = $1"
            " AND kind LIKE 'attachment_%' ORDER BY id",
            pid,
        )
    ]
    assert kinds == [
        ("attachment_added", {"attachment_id": aid}),
        ("attachment_removed", {"attachment_id": aid}),
    ]
    audited = await world.conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'placement.attachment_remove'"
        " AND object_id = $1",
        str(aid),
    )
    assert audited == 1


async def test_names_and_contents_reach_no_log_audit_frame_or_event(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pid = (await world.create(clinical_notes="No notes."))["id"]
    await world.refer(pid, "a1")
    name = f"{CANARY} psych eval.pdf"
    aid = (await (await upload(world, pid, PDF, name)).json())["id"]
    listed = await world.call("facility_a", "GET", f"/api/v1/placements/{pid}/attachments")
    assert CANARY in await listed.text()  # the referred facility sees the name
    await world.call("facility_a", "GET", f"/api/v1/attachments/{aid}")
    refused = await upload(world, pid, HTML + CANARY.encode(), f"{CANARY}.pdf")
    assert refused.status == 415 and CANARY not in await refused.text()
    hidden = await world.call("facility_b", "GET", f"/api/v1/placements/{pid}/attachments")
    assert hidden.status == 404 and CANARY not in await hidden.text()
    await world.call("liaison", "DELETE", f"/api/v1/attachments/{aid}")
    assert CANARY not in caplog.text
    for sql in (
        "SELECT payload::text FROM board_outbox",
        "SELECT data::text FROM placement_events",
        "SELECT detail::text FROM audit_log",
    ):
        assert all(CANARY not in row[0] for row in await world.conn.fetch(sql)), sql
