"""No free text of a placement reaches a log: not bedboard's (whatever fails, the errors
middleware logs kinds and places, never messages), not the embedded PostgreSQL's (its
errors are logged terse, without the DETAIL that holds a failing row)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bedboard.app import create_app
from bedboard.auth import Role
from bedboard.context import POOL
from bedboard.settings import Settings

CANARY = "CANARY-4b1d-free-text"


async def _boom(request: web.Request) -> web.Response:
    """A write the database refuses with the whole row in its DETAIL (as a PATCH with
    ``county_fips: null`` once did)."""
    async with request.app[POOL].acquire() as conn:
        await conn.execute(
            "UPDATE placements SET county_fips = NULL WHERE id = $1", int(request.match_info["id"])
        )
    return web.Response(text="unreachable")


async def test_no_error_path_logs_a_placements_free_text(
    aiohttp_client: Any,
    settings: Settings,
    make_user: Any,
    make_token: Any,
    make_facility: Any,
    make_unit: Any,
    make_court: Any,
    caplog: pytest.LogCaptureFixture,
    pg_log: Path | None,
) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(settings)
    app.router.add_post("/test/boom/{id}", _boom)
    client = await aiohttp_client(app)
    liaison = await make_user(Role.LIAISON, password=None)
    headers = {"Authorization": f"Bearer {await make_token(liaison.id)}"}
    facility = await make_facility()
    unit = await make_unit(facility.id, name="Adult", population="adult")
    court = await make_court()
    text = {
        "case_number": f"{CANARY}-case"[:60],
        "clinical_notes": f"notes {CANARY}",
        "requesting_agency": f"agency {CANARY}",
        "requesting_officer": f"officer {CANARY}",
    }
    body = {
        "order_type": "emergency_96h",
        "court_id": court.id,
        "detention_start": "2026-11-30T12:00:00Z",
        "county_fips": "29019",
        "person": {"initials": "ab", "age": 30, "sex": "male"},
        "needs": {"involuntary": True},
        "links": [{"system": f"sys {CANARY}", "external_id": CANARY, "url": "https://x.example/a"}],
        **text,
    }
    created = await client.post("/api/v1/placements", json=body, headers=headers)
    assert created.status == 201, await created.text()
    pid = (await created.json())["id"]
    url = f"/api/v1/placements/{pid}"
    await client.post(f"{url}/notes", json={"body": f"note {CANARY}"}, headers=headers)

    answers = [
        await client.patch(url, json={"case_number": None}, headers=headers),
        await client.patch(url, json={"county_fips": None}, headers=headers),
        await client.patch(url, json={"detention_start": None}, headers=headers),
        await client.patch(url, json={"court_id": 999_999}, headers=headers),
        await client.patch(url, json={"clinical_notes": "x" * 20_000 + CANARY}, headers=headers),
        await client.patch(url, json={"person": {"initials": CANARY}}, headers=headers),
        await client.post(f"{url}/referrals", json={"unit_ids": [999_999]}, headers=headers),
        await client.post(
            f"{url}/transition",
            json={"to": "admitted", "note": f"why {CANARY}"},
            headers=headers,
        ),
        await client.post(
            f"{url}/transition", json={"to": "closed", "note": CANARY}, headers=headers
        ),
        await client.post(
            "/api/v1/placements", json={**body, "county_fips": "00000"}, headers=headers
        ),
        await client.post(f"/test/boom/{pid}", headers=headers),
    ]
    statuses = [a.status for a in answers]
    assert all(400 <= s < 500 for s in statuses[:-1]), statuses
    assert statuses[-1] == 500  # the provoked database error
    referred = await client.post(f"{url}/referrals", json={"unit_ids": [unit.id]}, headers=headers)
    assert referred.status == 201

    assert CANARY not in caplog.text
    assert "Failing row" not in caplog.text
    if pg_log is not None:
        server_log = await asyncio.to_thread(pg_log.read_text, encoding="utf-8", errors="replace")
        assert "placements" in server_log or "violates" in server_log  # the error was logged
        assert CANARY not in server_log
