"""Matching follows the person: the age group from the age, unit genders from the sex,
overrides only when deliberate (and recorded), and search never ranks a unit the person
cannot be admitted to."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bedboard import census, demo, matching
from bedboard.facilities import Population
from tests.placements.conftest import World


@pytest.mark.parametrize(
    ("age", "group"),
    [
        (0, "child"),
        (12, "child"),
        (13, "adolescent"),
        (17, "adolescent"),
        (18, "adult"),
        (64, "adult"),
        (65, "geriatric"),
        (100, "geriatric"),
    ],
)
def test_the_age_group_follows_the_documented_bands(age: int, group: str) -> None:
    assert matching.population_for_age(age) is Population(group)


def test_a_birth_year_at_a_band_edge_asks_for_the_age() -> None:
    with pytest.raises(matching.MatchingError) as caught:
        matching.resolve(
            age=None,
            birth_year=2008,
            sex="male",
            year=2026,
            population=None,
            gender=None,
            override=False,
        )
    assert caught.value.field == "age"
    assert "17 or 18" in caught.value.message


def test_a_man_is_matched_to_mens_or_mixed_units_and_unknown_sex_to_mixed_only() -> None:
    assert matching.unit_genders(matching.unit_gender_for_sex("male")) == {"male", "any"}
    assert matching.unit_genders(matching.unit_gender_for_sex("female")) == {"female", "any"}
    assert matching.unit_genders(matching.unit_gender_for_sex("unknown")) == {"any"}


def test_a_narrower_unit_gender_needs_no_override_but_a_wider_one_does() -> None:
    kept = matching.resolve(
        age=30,
        birth_year=None,
        sex="male",
        year=2026,
        population=None,
        gender="mixed",
        override=False,
    )
    assert (kept.gender, kept.gender_override) == ("mixed", False)
    with pytest.raises(matching.MatchingError):
        matching.resolve(
            age=30,
            birth_year=None,
            sex="male",
            year=2026,
            population=None,
            gender="any",
            override=False,
        )


async def _teen_world(world: World, make_unit: Any, conn: Any) -> dict[str, int]:
    """Beside the adult units: a boys' unit, a girls' unit, a mixed adolescent unit and a
    forensic adolescent unit, all with free beds, at the same facility."""
    units = {
        "boys": await make_unit(
            world.ids["facility_a"], name="Boys", population="adolescent", gender="male"
        ),
        "girls": await make_unit(
            world.ids["facility_a"], name="Girls", population="adolescent", gender="female"
        ),
        "mixed": await make_unit(world.ids["facility_b"], name="Teens", population="adolescent"),
        "forensic": await make_unit(
            world.ids["facility_b"],
            name="Teen forensic",
            population="adolescent",
            security_level="forensic",
        ),
    }
    now = await conn.fetchval("SELECT now()")
    await census.apply(
        conn,
        [(u.id, census.CensusReport(as_of=now, staffed=8, occupied=2)) for u in units.values()],
        census.Source("test"),
    )
    return {k: u.id for k, u in units.items()}


async def test_a_16_year_old_boy_saved_with_defaults_is_offered_only_units_that_admit_him(
    world: World, make_unit: Any, conn: Any
) -> None:
    units = await _teen_world(world, make_unit, conn)
    created = await world.create(
        person={"initials": "tb", "age": 16, "sex": "male"},
        needs={"specialties": [], "involuntary": True},
    )
    placement = await (
        await world.call("liaison", "GET", f"/api/v1/placements/{created['id']}")
    ).json()
    assert placement["needs"]["population"] == "adolescent"
    assert placement["needs"]["gender"] == "male"
    assert not placement["needs"]["population_override"]
    resp = await world.call(
        "liaison",
        "GET",
        "/api/v1/search",
        params={"county": "29019", "population": "adolescent", "gender": "male"},
    )
    found = {r["unit_id"] for r in (await resp.json())["results"]}
    assert found == {units["boys"], units["mixed"]}  # no girls', adult or forensic unit


async def test_search_by_age_and_sex_leaves_out_other_groups_and_genders(
    world: World, make_unit: Any, conn: Any
) -> None:
    units = await _teen_world(world, make_unit, conn)
    resp = await world.call(
        "liaison", "GET", "/api/v1/search", params={"county": "29019", "age": "16", "sex": "male"}
    )
    body = await resp.json()
    assert {r["unit_id"] for r in body["results"]} == {units["boys"], units["mixed"]}
    assert body["excluded"]["gender"] == 1
    assert body["excluded"]["forensic_only"] == 1
    assert body["excluded"]["population"] == 2  # the two adult units


async def test_search_refuses_an_age_group_the_age_contradicts(world: World) -> None:
    resp = await world.call(
        "liaison",
        "GET",
        "/api/v1/search",
        params={"county": "29019", "age": "40", "population": "adolescent"},
    )
    assert resp.status == 422
    problem = await resp.json()
    assert problem["errors"][0]["field"] == "population"
    assert "40-year-old is in the adult age group" in problem["errors"][0]["message"]


async def test_age_40_with_the_adolescent_group_is_refused_without_an_override(
    world: World,
) -> None:
    resp = await world.call(
        "liaison",
        "POST",
        "/api/v1/placements",
        json=world.placement_body(
            person={"initials": "ab", "age": 40, "sex": "male"},
            needs={"population": "adolescent", "involuntary": True},
        ),
    )
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["field"] == "needs.population"


async def test_a_deliberate_override_is_kept_shown_and_on_the_timeline(world: World) -> None:
    created = await world.create(
        person={"initials": "ab", "age": 17, "sex": "female"},
        needs={"population": "adult", "involuntary": True, "override": True},
    )
    placement = await (
        await world.call("liaison", "GET", f"/api/v1/placements/{created['id']}")
    ).json()
    assert placement["needs"]["population"] == "adult"
    assert placement["needs"]["population_override"] is True
    assert placement["needs"]["gender_override"] is False
    timeline = await (
        await world.call("liaison", "GET", f"/api/v1/placements/{created['id']}/timeline")
    ).json()
    assert timeline["items"][0]["data"]["override"] == ["population"]


async def test_changing_the_age_moves_a_derived_age_group_with_it(world: World) -> None:
    created = await world.create(
        person={"initials": "ab", "age": 34, "sex": "male"}, needs={"involuntary": True}
    )
    url = f"/api/v1/placements/{created['id']}"
    resp = await world.call(
        "liaison", "PATCH", url, json={"person": {"initials": "ab", "age": 15, "sex": "male"}}
    )
    assert resp.status == 200, await resp.text()
    placement = await (await world.call("liaison", "GET", url)).json()
    assert placement["needs"]["population"] == "adolescent"
    timeline = await (await world.call("liaison", "GET", url + "/timeline")).json()
    edited = timeline["items"][-1]
    assert edited["kind"] == "edited"
    assert set(edited["data"]["fields"]) == {"person_age", "population"}


async def test_a_96_hour_detention_on_application_needs_no_court_but_a_court_order_does(
    world: World,
) -> None:
    created = await world.create(
        order_type="emergency_96h_application", court_id=None, case_number=""
    )
    placement = await (
        await world.call("liaison", "GET", f"/api/v1/placements/{created['id']}")
    ).json()
    assert placement["court_id"] is None
    hours = (
        datetime.fromisoformat(placement["deadline_at"])
        - datetime.fromisoformat(placement["detention_start"])
    ).total_seconds() / 3600
    assert hours == 96
    refused = await world.call(
        "liaison",
        "POST",
        "/api/v1/placements",
        json=world.placement_body(order_type="emergency_96h", court_id=None),
    )
    assert refused.status == 422
    assert (await refused.json())["errors"][0]["field"] == "court_id"
    attached = await world.call(
        "liaison",
        "PATCH",
        f"/api/v1/placements/{created['id']}",
        json={"court_id": world.ids["court"], "case_number": "26P-MH-77"},
    )
    assert attached.status == 200, await attached.text()


async def test_patching_a_required_field_to_null_is_a_422_not_a_500(world: World) -> None:
    created = await world.create()
    for field in ("case_number", "county_fips", "detention_start"):
        resp = await world.call(
            "liaison", "PATCH", f"/api/v1/placements/{created['id']}", json={field: None}
        )
        assert resp.status == 422, (field, await resp.text())


async def test_demo_placements_are_all_at_units_that_admit_the_person(
    conn: Any, tmp_path: Path
) -> None:
    await demo.ensure_demo(conn, tmp_path)
    rows = await conn.fetch(
        """
        SELECT p.person_age, p.person_sex, p.population AS wanted, u.population, u.gender
          FROM referrals r JOIN placements p ON p.id = r.placement_id JOIN units u ON u.id = r.unit_id
        """
    )
    assert rows
    for row in rows:
        assert row["population"] == matching.population_for_age(row["person_age"]).value
        assert row["gender"] in matching.unit_genders(
            matching.unit_gender_for_sex(row["person_sex"])
        ), dict(row)


async def test_demo_placement_histories_are_spread_between_detention_and_now(
    conn: Any, tmp_path: Path
) -> None:
    await demo.ensure_demo(conn, tmp_path)
    rows = await conn.fetch(
        """
        SELECT p.reference, p.detention_start, p.created_at, min(e.at) AS first, max(e.at) AS last
          FROM placements p JOIN placement_events e ON e.placement_id = p.id
         GROUP BY p.id
        """
    )
    now = await conn.fetchval("SELECT now()")
    for row in rows:
        assert row["detention_start"] < row["first"] <= row["last"] <= now, dict(row)
        assert row["created_at"] == row["first"]
    # Not all at the moment the demo loaded: the longest case spans hours.
    assert max(r["last"] - r["first"] for r in rows).total_seconds() > 3600
