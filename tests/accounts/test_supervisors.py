"""Supervisor accounts: a region is required (and only for them), on the API and the admin
form; the principal carries the region and its counties; the region's supervisors keep it
from being deleted."""

from __future__ import annotations

import html as htmllib
import re
from typing import Any

import asyncpg
import pytest

from bedboard import auth, regions, users
from bedboard.auth import Role
from bedboard.regions import RegionHasSupervisors, RegionIn
from bedboard.users import UserPatch
from tests.conftest import login


async def _region(conn: Any, name: str, *counties: str) -> regions.Region:
    return await regions.create_region(conn, RegionIn(name=name, counties=list(counties)))


def _field_error(html: str, field: str) -> str:
    found = re.search(rf'id="f-{field}-error"[^>]*>(.*?)</', html, re.S)
    assert found is not None, f"no error next to {field}"
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", "", found.group(1))).split())


# --------------------------------------------------------------------------- the API


async def test_the_api_creates_a_supervisor_with_a_region_and_refuses_one_without(
    client: Any, conn: Any, make_user: Any, make_token: Any
) -> None:
    central = await _region(conn, "Central", "29019")
    admin = await make_user(Role.ADMIN, password=None)
    headers = {"Authorization": f"Bearer {await make_token(admin.id)}"}
    missing = await client.post(
        "/api/v1/users", json={"email": "lead@example.org", "role": "supervisor"}, headers=headers
    )
    assert missing.status == 422
    assert missing.content_type == "application/problem+json"
    (error,) = (await missing.json())["errors"]
    assert error["field"] == "region_id" and "Choose the supervisor's region" in error["message"]
    liaison_with_region = await client.post(
        "/api/v1/users",
        json={"email": "l@example.org", "role": "liaison", "region_id": central.id},
        headers=headers,
    )
    assert liaison_with_region.status == 422
    assert [e["field"] for e in (await liaison_with_region.json())["errors"]] == ["region_id"]
    unknown = await client.post(
        "/api/v1/users",
        json={"email": "lead@example.org", "role": "supervisor", "region_id": 987654},
        headers=headers,
    )
    assert unknown.status == 422
    assert [e["field"] for e in (await unknown.json())["errors"]] == ["region_id"]
    assert await conn.fetchval("SELECT count(*) FROM users WHERE email <> $1", admin.email) == 0

    made = await client.post(
        "/api/v1/users",
        json={"email": "lead@example.org", "role": "supervisor", "region_id": central.id},
        headers=headers,
    )
    assert made.status == 201, await made.text()
    body = await made.json()
    assert body["role"] == "supervisor" and body["region_id"] == central.id


async def test_changing_a_user_into_a_supervisor_needs_a_region_and_leaving_drops_it(
    client: Any, conn: Any, make_user: Any, make_token: Any
) -> None:
    central = await _region(conn, "Central", "29019")
    admin = await make_user(Role.ADMIN, password=None)
    headers = {"Authorization": f"Bearer {await make_token(admin.id)}"}
    person = await make_user(Role.LIAISON, password=None)
    url = f"/api/v1/users/{person.id}"
    refused = await client.patch(url, json={"role": "supervisor"}, headers=headers)
    assert refused.status == 422
    assert [e["field"] for e in (await refused.json())["errors"]] == ["region_id"]
    promoted = await client.patch(
        url, json={"role": "supervisor", "region_id": central.id}, headers=headers
    )
    assert promoted.status == 200 and (await promoted.json())["region_id"] == central.id
    renamed = await client.patch(url, json={"display_name": "Lead"}, headers=headers)
    assert (await renamed.json())["region_id"] == central.id  # kept while a supervisor
    back = await client.patch(url, json={"role": "liaison"}, headers=headers)
    assert back.status == 200 and (await back.json())["region_id"] is None


async def test_the_database_refuses_a_supervisor_without_a_region(conn: Any) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(
            "INSERT INTO users (email, role) VALUES ('lead@example.org', 'supervisor')"
        )


async def test_the_principal_carries_the_region_and_follows_its_counties(
    client: Any, conn: Any, make_user: Any, make_token: Any
) -> None:
    central = await _region(conn, "Central", "29019", "29051")
    lead = await make_user(Role.SUPERVISOR, region_id=central.id, password=None)
    principal = await auth.principal_for_user(conn, lead.id)
    assert principal is not None
    assert principal.region_id == central.id
    assert principal.region_counties == {"29019", "29051"}
    headers = {"Authorization": f"Bearer {await make_token(lead.id)}"}
    me = await (await client.get("/api/v1/me", headers=headers)).json()
    assert me["role"] == "supervisor" and me["region_id"] == central.id
    # A county leaves the region: the next request (the token's principal is not kept).
    await regions.update_region(conn, central.id, RegionIn(name="Central", counties=["29019"]))
    again = await auth.principal_for_user(conn, lead.id)
    assert again is not None and again.region_counties == {"29019"}


async def test_a_signed_in_supervisor_is_one_of_their_region(
    client: Any, conn: Any, make_user: Any
) -> None:
    central = await _region(conn, "Central", "29019")
    lead = await make_user(Role.SUPERVISOR, region_id=central.id)
    await login(client, lead.email)
    me = await (await client.get("/api/v1/me")).json()
    assert me["role"] == "supervisor" and me["region_id"] == central.id


# --------------------------------------------------------------------------- the admin form


async def test_the_user_form_offers_the_supervisor_role_and_the_regions(
    client: Any, conn: Any, make_user: Any
) -> None:
    await _region(conn, "Central", "29019")
    await _region(conn, "Eastern", "29189")
    admin = await make_user(Role.ADMIN)
    await login(client, admin.email)
    page = await (await client.get("/admin/users/new")).text()
    assert '<option value="supervisor"' in page
    select = page.split('name="region_id"', 1)[1].split("</select>", 1)[0]
    assert re.findall(r">([^<]+)</option>", select) == ["— none —", "Central", "Eastern"]
    assert "Region (supervisors only)" in page


async def test_a_supervisor_without_a_region_comes_back_with_a_sentence_next_to_the_region(
    client: Any, conn: Any, make_user: Any
) -> None:
    central = await _region(conn, "Central", "29019")
    admin = await make_user(Role.ADMIN)
    session = await login(client, admin.email)
    form = {
        "csrf_token": session.csrf,
        "email": "lead@example.org",
        "display_name": "Regional lead",
        "phone": "",
        "role": "supervisor",
        "password": "",
        "court_id": "",
        "region_id": "",
        "facility_ids__shown": "1",
    }
    resp = await client.post("/admin/users/new", data=form, allow_redirects=False)
    assert resp.status == 422
    page = await resp.text()
    assert _field_error(page, "region_id") == "Choose the supervisor's region."
    assert 'value="Regional lead"' in page  # what was typed stays
    assert await conn.fetchval("SELECT count(*) FROM users WHERE email = 'lead@example.org'") == 0

    resp = await client.post(
        "/admin/users/new", data={**form, "region_id": str(central.id)}, allow_redirects=False
    )
    assert resp.status == 303
    made = await users.get_user_by_email(conn, "lead@example.org")
    assert made.role is Role.SUPERVISOR and made.region_id == central.id
    listing = htmllib.unescape(await (await client.get("/admin/users")).text())
    row = listing.split("lead@example.org", 1)[1].split("</tr>", 1)[0]
    assert "Region: Central" in row and "supervisor" in row


async def test_a_region_chosen_for_another_role_is_not_kept(
    client: Any, conn: Any, make_user: Any
) -> None:
    central = await _region(conn, "Central", "29019")
    admin = await make_user(Role.ADMIN)
    session = await login(client, admin.email)
    resp = await client.post(
        "/admin/users/new",
        data={
            "csrf_token": session.csrf,
            "email": "liaison@example.org",
            "role": "liaison",
            "region_id": str(central.id),
            "facility_ids__shown": "1",
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    assert (await users.get_user_by_email(conn, "liaison@example.org")).region_id is None


# --------------------------------------------------------------------------- regions


async def test_a_region_with_supervisors_is_not_deleted_and_says_who_they_are(
    client: Any, conn: Any, make_user: Any, make_token: Any
) -> None:
    central = await _region(conn, "Central", "29019")
    eastern = await _region(conn, "Eastern", "29189")
    lead = await make_user(
        Role.SUPERVISOR, region_id=central.id, password=None, email="lead@example.org"
    )
    with pytest.raises(RegionHasSupervisors) as refused:
        await regions.delete_region(conn, central.id)
    assert "lead@example.org" in refused.value.detail

    admin = await make_user(Role.ADMIN)
    headers = {"Authorization": f"Bearer {await make_token(admin.id)}"}
    resp = await client.delete(f"/api/v1/regions/{central.id}", headers=headers)
    assert resp.status == 409
    problem = await resp.json()
    assert "Central still has 1 supervisor (lead@example.org)" in problem["detail"]

    session = await login(client, admin.email)
    confirm = htmllib.unescape(
        await (await client.get(f"/admin/regions/{central.id}/delete")).text()
    )
    assert "It cannot be deleted yet." in confirm and "lead@example.org" in confirm
    assert "Delete the region</button>" not in confirm
    posted = await client.post(
        f"/admin/regions/{central.id}/delete",
        data={"csrf_token": session.csrf},
        allow_redirects=False,
    )
    assert posted.status == 409
    assert "give the supervisor another region" in htmllib.unescape(await posted.text())
    assert await conn.fetchval("SELECT count(*) FROM regions WHERE id = $1", central.id) == 1

    await users.update_user(conn, lead.id, UserPatch(region_id=eastern.id))
    await regions.delete_region(conn, central.id)
    assert await conn.fetchval("SELECT count(*) FROM regions WHERE id = $1", central.id) == 0
