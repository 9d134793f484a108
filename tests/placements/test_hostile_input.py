"""Malformed and hostile input gets a clear 4xx, never a 500: ids beyond bigint, times
at the edges, NUL characters, JSON too deep or numbers too long, a body that is not
what its Content-Encoding says."""

from __future__ import annotations

from typing import Any

import pytest

from tests.placements.conftest import World

HUGE = 100000000000000000000  # beyond int64


async def test_ids_beyond_bigint_are_refused_in_bodies_and_queries(world: World) -> None:
    placement = await world.create()
    refer = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{placement['id']}/referrals",
        json={"unit_ids": [HUGE]},
    )
    assert refer.status == 422, await refer.text()
    listed = await world.call("liaison", "GET", "/api/v1/placements?court=9999999999999999999999")
    assert listed.status == 422
    audit = await world.call("admin", "GET", f"/api/v1/audit?before_id={HUGE}")
    assert audit.status == 422
    user = await world.call(
        "admin",
        "POST",
        "/api/v1/users",
        json={"email": "x@example.org", "role": "facility", "facility_ids": [HUGE]},
    )
    assert user.status == 422
    token = await world.call("admin", "POST", "/api/v1/tokens", json={"user_id": HUGE, "name": "x"})
    assert token.status == 422


@pytest.mark.parametrize(
    "moment",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T00:00:00Z", "1900-01-01T00:00:00Z", 1700000000],
)
async def test_a_detention_start_outside_plausible_years_is_a_422(
    world: World, moment: Any
) -> None:
    created = await world.call(
        "liaison", "POST", "/api/v1/placements", json=world.placement_body(detention_start=moment)
    )
    assert created.status == 422, await created.text()
    assert created.headers["Content-Type"].startswith("application/problem+json")
    placement = await world.create()
    patched = await world.call(
        "liaison",
        "PATCH",
        f"/api/v1/placements/{placement['id']}",
        json={"detention_start": moment},
    )
    assert patched.status == 422


async def test_a_nul_character_in_text_is_refused_in_a_body_and_a_query(world: World) -> None:
    body = world.placement_body(clinical_notes="before\u0000after")
    created = await world.call("liaison", "POST", "/api/v1/placements", json=body)
    assert created.status == 400
    assert "NUL" in (await created.json())["detail"]
    lookup = await world.call("court", "GET", "/api/v1/court/placements?case_number=a%00b")
    assert lookup.status == 400


async def test_json_nested_too_deep_or_with_a_huge_number_is_a_400(world: World) -> None:
    deep = "[" * 50_000 + "]" * 50_000
    resp = await world.call(
        "liaison",
        "POST",
        "/api/v1/placements",
        data=deep,
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 400
    long_number = '{"unit_ids": [' + "9" * 5000 + "]}"
    placement = await world.create()
    resp = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{placement['id']}/referrals",
        data=long_number,
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 400


async def test_a_body_that_is_not_the_gzip_it_claims_is_a_400_and_the_connection_lives_on(
    world: World,
) -> None:
    resp = await world.call(
        "liaison",
        "POST",
        "/api/v1/placements",
        data=b'{"not": "gzip"}',
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert resp.status == 400, await resp.text()
    again = await world.call("liaison", "GET", "/api/v1/placements")
    assert again.status == 200


async def test_booleans_and_times_are_strict(world: World, client: Any) -> None:
    yes = await world.call(
        "admin", "PATCH", f"/api/v1/facilities/{world.ids['facility_a']}", json={"active": "yes"}
    )
    assert yes.status == 422
    history = await world.call("admin", "GET", f"/api/v1/units/{world.ids['a1']}/history?to=0.5")
    assert history.status == 422


async def test_the_api_document_names_the_answers_a_client_can_get(client: Any) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    login = doc["paths"]["/api/v1/login"]["post"]["responses"]
    assert {"200", "401", "429"} <= set(login)
    created = doc["paths"]["/api/v1/placements"]["post"]["responses"]
    assert "409" in created and "201" in created
