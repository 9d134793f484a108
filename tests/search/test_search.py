"""Bed search: fit, distance, freshness, and an honest account of what was left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bedboard import census
from bedboard.auth import Role

BOONE = "29019"  # Columbia
CALLAWAY = "29027"  # next door
JACKSON = "29095"  # Kansas City, ~190 km west
ST_LOUIS = "29510"


async def report(conn: Any, unit_id: int, available: int, minutes_ago: float = 5) -> None:
    as_of = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    await census.apply(
        conn,
        [(unit_id, census.CensusReport(as_of=as_of, available=available))],
        census.Source("test"),
    )


@pytest.fixture
async def liaison(make_user: Any, make_token: Any) -> dict[str, str]:
    user = await make_user(Role.LIAISON)
    return {"Authorization": f"Bearer {await make_token(user.id)}"}


@pytest.fixture
async def world(conn: Any, make_facility: Any, make_unit: Any) -> dict[str, Any]:
    near = await make_facility(name="Near", county_fips=BOONE, phone_intake="573-555-0101")
    next_door = await make_facility(name="Next Door", county_fips=CALLAWAY)
    far = await make_facility(name="Far", county_fips=JACKSON)
    units = {
        "near_adult": await make_unit(near.id, name="Adult", population="adult"),
        "near_teen": await make_unit(near.id, name="Teen", population="adolescent"),
        "next_adult_women": await make_unit(next_door.id, name="Women", population="adult", gender="female"),
        "next_adult_full": await make_unit(next_door.id, name="Full", population="adult"),
        "far_adult_sud": await make_unit(far.id, name="SUD", population="adult",
                                         specialties=["co_occurring_substance_use"], payers=["medicaid"]),
        "far_adult_stale": await make_unit(far.id, name="Stale", population="adult"),
        "far_adult_never": await make_unit(far.id, name="Never", population="adult"),
    }  # fmt: skip
    await report(conn, units["near_adult"].id, 2)
    await report(conn, units["near_teen"].id, 4)
    await report(conn, units["next_adult_women"].id, 1)
    await report(conn, units["next_adult_full"].id, 0)
    await report(conn, units["far_adult_sud"].id, 3)
    await report(conn, units["far_adult_stale"].id, 5, minutes_ago=3 * 24 * 60)
    return units


async def search(client: Any, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    resp = await client.get("/api/v1/search", params=params, headers=headers)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_results_are_nearest_first_and_left_out_units_are_counted(
    client: Any, liaison: dict[str, str], world: dict[str, Any]
) -> None:
    body = await search(client, liaison, county=BOONE, population="adult")
    names = [r["unit_name"] for r in body["results"]]
    assert names == ["Adult", "Women", "SUD"]
    first = body["results"][0]
    assert first["facility_name"] == "Near" and first["phone_intake"] == "573-555-0101"
    assert (
        first["distance_km"] < body["results"][1]["distance_km"] < body["results"][2]["distance_km"]
    )
    assert first["distance_miles"] == pytest.approx(first["distance_km"] / 1.609344, abs=0.1)
    assert first["freshness"] == "fresh" and first["free"] == 2 and first["as_of"]
    assert body["excluded"] == {"population": 1, "stale": 2, "no_beds": 1}
    assert body["total_units"] == 7
    assert body["origin"]["county_name"] == "Boone"


async def test_a_gender_specific_unit_fits_better_than_a_mixed_one(
    client: Any, liaison: dict[str, str], world: dict[str, Any]
) -> None:
    body = await search(client, liaison, county=BOONE, population="adult", gender="female")
    assert [r["unit_name"] for r in body["results"]][:2] == ["Women", "Adult"]
    men = await search(client, liaison, county=BOONE, population="adult", gender="male")
    assert "Women" not in [r["unit_name"] for r in men["results"]]
    assert men["excluded"]["gender"] == 1


async def test_needs_and_payer_filter_and_are_explained(
    client: Any, liaison: dict[str, str], world: dict[str, Any]
) -> None:
    body = await search(
        client,
        liaison,
        county=BOONE,
        population="adult",
        needs="co_occurring_substance_use",
        payer="medicaid",
    )
    assert [r["unit_name"] for r in body["results"]] == ["SUD"]
    assert body["excluded"]["needs_not_served"] == 5


async def test_max_km_leaves_out_far_units(
    client: Any, liaison: dict[str, str], world: dict[str, Any]
) -> None:
    body = await search(client, liaison, county=BOONE, population="adult", max_km=80)
    assert [r["unit_name"] for r in body["results"]] == ["Adult", "Women"]
    assert body["excluded"]["too_far"] == 3


async def test_stale_units_appear_only_when_asked(
    client: Any, liaison: dict[str, str], world: dict[str, Any]
) -> None:
    body = await search(client, liaison, county=BOONE, population="adult", include_stale="true")
    stale = [r for r in body["results"] if r["unit_name"] == "Stale"]
    assert stale and stale[0]["freshness"] == "stale"
    assert "Never" not in [r["unit_name"] for r in body["results"]]  # no beds reported at all
    assert body["excluded"]["no_beds"] == 2


async def test_a_point_can_replace_the_county(
    client: Any, liaison: dict[str, str], world: dict[str, Any]
) -> None:
    body = await search(client, liaison, lat=39.0, lon=-94.5, population="adult")
    assert body["results"][0]["unit_name"] == "SUD"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"county": BOONE, "lat": 1, "lon": 2},
        {"lat": 38.9},
        {"county": "Boone"},
        {"county": BOONE, "population": "toddler"},
        {"county": BOONE, "max_km": -5},
        {"county": "99999"},
    ],
)
async def test_bad_search_parameters_are_explained(
    client: Any, liaison: dict[str, str], params: dict[str, Any]
) -> None:
    resp = await client.get("/api/v1/search", params=params, headers=liaison)
    assert resp.status == 422
    assert (await resp.json())["errors"]


async def test_only_liaisons_and_admins_search(
    client: Any, make_user: Any, make_token: Any, make_facility: Any
) -> None:
    facility = await make_facility()
    for role, status in (
        (Role.VIEWER, 403),
        (Role.FACILITY, 403),
        (Role.ADMIN, 200),
        (Role.LIAISON, 200),
    ):
        user = await make_user(role, facility_ids=[facility.id] if role is Role.FACILITY else None)
        headers = {"Authorization": f"Bearer {await make_token(user.id)}"}
        resp = await client.get("/api/v1/search", params={"county": BOONE}, headers=headers)
        assert resp.status == status, role
