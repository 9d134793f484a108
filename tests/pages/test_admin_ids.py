"""The ids integration engineers and the command line need are on the admin pages."""

from __future__ import annotations

from typing import Any

from bedboard.auth import Role
from tests.conftest import login


async def test_facility_pages_show_facility_and_unit_ids(
    client: Any, make_user: Any, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility(name="Riverbend")
    unit = await make_unit(facility.id, name="Adult Acute")
    await login(client, (await make_user(Role.ADMIN)).email)
    listing = await (await client.get("/admin/facilities")).text()
    assert f'<td data-label="ID" class="num"><code>{facility.id}</code></td>' in listing
    page = await (await client.get(f"/admin/facilities/{facility.id}")).text()
    assert f"Facility ID <code>{facility.id}</code>" in page
    assert f'<td data-label="Unit ID" class="num"><code>{unit.id}</code></td>' in page
    unit_page = await (await client.get(f"/admin/units/{unit.id}")).text()
    assert f"Unit ID <code>{unit.id}</code>" in unit_page


async def test_courts_page_shows_the_court_id_that_user_add_takes(
    client: Any, make_user: Any, make_court: Any
) -> None:
    court = await make_court()
    await login(client, (await make_user(Role.ADMIN)).email)
    listing = await (await client.get("/admin/courts")).text()
    assert f'<td data-label="ID" class="num"><code>{court.id}</code></td>' in listing


async def test_tokens_page_shows_the_id_that_token_revoke_takes(
    client: Any, make_user: Any, make_token: Any, conn: Any
) -> None:
    admin = await make_user(Role.ADMIN)
    await make_token(admin.id)
    token_id = await conn.fetchval("SELECT id FROM api_tokens")
    await login(client, admin.email)
    page = await (await client.get("/admin/tokens")).text()
    assert f'<td data-label="ID" class="num"><code>{token_id}</code></td>' in page
    assert "bedboard token revoke ID" in page
