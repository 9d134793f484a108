"""The regions API: what each call answers, its problem+json refusals, its audit rows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from bedboard import database, regions
from bedboard.auth import Role
from bedboard.regions import RegionIn
from tests.conftest import Account, Session

Client = TestClient[Any, Any]
MakeUser = Callable[..., Awaitable[Account]]
SignIn = Callable[[Account], Awaitable[Session]]
BOONE, COLE, GREENE = "29019", "29051", "29077"
PROBLEM = "application/problem+json"


async def _admin(make_user: MakeUser, sign_in: SignIn) -> Session:
    return await sign_in(await make_user(Role.ADMIN))


async def test_any_signed_in_user_lists_regions_with_their_counties(
    client: Client, conn: database.Connection, make_user: MakeUser, sign_in: SignIn
) -> None:
    await regions.create_region(conn, RegionIn(name="Central", counties=[COLE, BOONE]))
    viewer = await sign_in(await make_user(Role.VIEWER))
    resp = await viewer.client.get("/api/v1/regions")
    assert resp.status == 200
    [item] = (await resp.json())["items"]
    assert item["name"] == "Central"
    assert item["counties"] == [{"fips": BOONE, "name": "Boone"}, {"fips": COLE, "name": "Cole"}]


async def test_an_administrator_creates_replaces_and_deletes_a_region(
    client: Client, conn: database.Connection, make_user: MakeUser, sign_in: SignIn
) -> None:
    admin = await _admin(make_user, sign_in)
    resp = await client.post(
        "/api/v1/regions",
        json={"name": "Central", "counties": [BOONE]},
        headers=admin.headers(),
    )
    assert resp.status == 201, await resp.text()
    region_id = (await resp.json())["id"]
    resp = await client.put(
        f"/api/v1/regions/{region_id}",
        json={"name": "Mid", "counties": [COLE, GREENE]},
        headers=admin.headers(),
    )
    assert resp.status == 200
    body = await resp.json()
    assert (body["name"], [c["fips"] for c in body["counties"]]) == ("Mid", [COLE, GREENE])
    resp = await client.delete(f"/api/v1/regions/{region_id}", headers=admin.headers())
    assert resp.status == 204
    assert await regions.list_regions(conn) == []
    actions = await conn.fetch(
        "SELECT action, object_id, remote_addr, request_id FROM audit_log"
        " WHERE object_type = 'region' AND outcome = 'success' ORDER BY id"
    )
    assert [(r["action"], r["object_id"]) for r in actions] == [
        ("region.create", str(region_id)),
        ("region.update", str(region_id)),
        ("region.delete", str(region_id)),
    ]
    assert all(r["request_id"] for r in actions)


async def test_a_taken_name_and_a_county_of_another_region_are_409_problems(
    client: Client, conn: database.Connection, make_user: MakeUser, sign_in: SignIn
) -> None:
    await regions.create_region(conn, RegionIn(name="Central", counties=[BOONE]))
    admin = await _admin(make_user, sign_in)
    resp = await client.post("/api/v1/regions", json={"name": "CENTRAL"}, headers=admin.headers())
    assert resp.status == 409
    assert resp.content_type == PROBLEM
    assert (await resp.json())["detail"] == "That name is taken."
    resp = await client.post(
        "/api/v1/regions", json={"name": "East", "counties": [BOONE]}, headers=admin.headers()
    )
    assert resp.status == 409
    problem = await resp.json()
    assert problem["detail"] == "A county can be in one region only: Boone is in Central."
    assert problem["county_fips"] == BOONE
    assert problem["region"] == "Central"


async def test_bad_bodies_and_missing_regions_are_problems_not_500s(
    client: Client, make_user: MakeUser, sign_in: SignIn
) -> None:
    admin = await _admin(make_user, sign_in)
    for body in (
        {"name": ""},
        {"name": "   "},
        {"name": "X", "counties": ["abc"]},
        {"name": "X", "counties": "29019"},
        {"name": "X", "extra": 1},
        {"counties": []},
    ):
        resp = await client.post("/api/v1/regions", json=body, headers=admin.headers())
        assert resp.status == 422, body
        assert resp.content_type == PROBLEM
    resp = await client.post(
        "/api/v1/regions", json={"name": "X", "counties": ["29999"]}, headers=admin.headers()
    )
    assert resp.status == 422
    assert [e["field"] for e in (await resp.json())["errors"]] == ["counties"]
    for method in ("PUT", "DELETE"):
        resp = await client.request(
            method, "/api/v1/regions/424242", json={"name": "X"}, headers=admin.headers()
        )
        assert resp.status == 404, method
        assert resp.content_type == PROBLEM
    resp = await client.request(
        "PUT", "/api/v1/regions/not-a-number", json={"name": "X"}, headers=admin.headers()
    )
    assert resp.status in (400, 404)
    assert resp.content_type == PROBLEM
