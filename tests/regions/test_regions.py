"""Regions: create, replace, delete, one region per county, and the audit trail of each
change (domain functions against the real database)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from bedboard import audit, database, regions
from bedboard.auth import Origin, Principal, Role
from bedboard.errors import BadReference, Duplicate, NotFound
from bedboard.regions import CountyInAnotherRegion, RegionIn

BOONE, CALLAWAY, COLE, GREENE = "29019", "29027", "29051", "29077"


@pytest.fixture
async def admin(conn: database.Connection, make_user: Any) -> Principal:
    account = await make_user(Role.ADMIN)
    return Principal(
        user_id=account.id,
        email=account.email,
        display_name="",
        role=Role.ADMIN,
        origin=Origin(remote_addr="192.0.2.1", request_id="req-1"),
    )


async def _audit_rows(conn: database.Connection) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT action, object_type, object_id, outcome, actor_id, detail FROM audit_log"
            " WHERE object_type = 'region' ORDER BY id"
        )
    )


async def test_a_region_is_created_with_its_counties_by_name(
    conn: database.Connection, admin: Principal
) -> None:
    region = await regions.create_region(
        conn, RegionIn(name=" Central ", counties=[COLE, BOONE, CALLAWAY, BOONE]), by=admin
    )
    assert region.name == "Central"
    assert [c.name for c in region.counties] == ["Boone", "Callaway", "Cole"]
    assert await regions.get_region(conn, region.id) == region
    assert await regions.list_regions(conn) == [region]
    rows = await _audit_rows(conn)
    assert [(r["action"], r["object_id"], r["outcome"], r["actor_id"]) for r in rows] == [
        ("region.create", str(region.id), "success", admin.user_id)
    ]
    assert rows[0]["detail"] == {"name": "Central", "counties": [BOONE, CALLAWAY, COLE]}


async def test_a_county_can_be_in_one_region_only(
    conn: database.Connection, admin: Principal
) -> None:
    central = await regions.create_region(conn, RegionIn(name="Central", counties=[BOONE]))
    with pytest.raises(CountyInAnotherRegion) as refused:
        await regions.create_region(conn, RegionIn(name="Mid", counties=[GREENE, BOONE]), by=admin)
    assert refused.value.detail == "A county can be in one region only: Boone is in Central."
    assert refused.value.extra == {"county_fips": BOONE, "region": "Central"}
    southwest = await regions.create_region(conn, RegionIn(name="Southwest", counties=[GREENE]))
    with pytest.raises(CountyInAnotherRegion):
        await regions.update_region(
            conn, southwest.id, RegionIn(name="Southwest", counties=[GREENE, BOONE]), by=admin
        )
    assert await regions.region_of_county(conn, BOONE) == central
    assert [c.fips for c in (await regions.get_region(conn, southwest.id)).counties] == [GREENE]
    assert await _audit_rows(conn) == []


async def test_a_name_is_taken_whatever_its_case(conn: database.Connection) -> None:
    central = await regions.create_region(conn, RegionIn(name="Central"))
    other = await regions.create_region(conn, RegionIn(name="Eastern"))
    with pytest.raises(Duplicate, match="That name is taken"):
        await regions.create_region(conn, RegionIn(name="central"))
    with pytest.raises(Duplicate, match="That name is taken"):
        await regions.update_region(conn, other.id, RegionIn(name="CENTRAL"))
    renamed = await regions.update_region(conn, central.id, RegionIn(name="CENTRAL"))
    assert renamed.name == "CENTRAL"


async def test_an_unknown_county_is_a_bad_reference(conn: database.Connection) -> None:
    with pytest.raises(BadReference) as refused:
        await regions.create_region(conn, RegionIn(name="Nowhere", counties=["29999"]))
    assert refused.value.fields[0].field == "counties"
    assert await regions.list_regions(conn) == []


async def test_update_replaces_the_name_and_the_whole_county_set_and_audits_the_difference(
    conn: database.Connection, admin: Principal
) -> None:
    region = await regions.create_region(conn, RegionIn(name="Central", counties=[BOONE, COLE]))
    updated = await regions.update_region(
        conn, region.id, RegionIn(name="Mid-Missouri", counties=[COLE, CALLAWAY]), by=admin
    )
    assert updated.name == "Mid-Missouri"
    assert [c.fips for c in updated.counties] == [CALLAWAY, COLE]
    assert await regions.region_of_county(conn, BOONE) is None
    assert await regions.counties_of_regions(conn, [region.id]) == [CALLAWAY, COLE]
    [row] = await _audit_rows(conn)
    assert row["action"] == "region.update"
    assert row["detail"] == {
        "name": "Mid-Missouri",
        "renamed": True,
        "added": [CALLAWAY],
        "removed": [BOONE],
    }


async def test_counties_of_regions_unions_the_regions_and_ignores_unknown_ids(
    conn: database.Connection,
) -> None:
    a = await regions.create_region(conn, RegionIn(name="A", counties=[BOONE]))
    b = await regions.create_region(conn, RegionIn(name="B", counties=[GREENE, COLE]))
    assert await regions.counties_of_regions(conn, [b.id, a.id, 999_999]) == [BOONE, COLE, GREENE]
    assert await regions.counties_of_regions(conn, [999_999]) == []


async def test_deleting_a_region_frees_its_counties_and_is_audited(
    conn: database.Connection, admin: Principal
) -> None:
    region = await regions.create_region(conn, RegionIn(name="Central", counties=[BOONE]))
    await regions.delete_region(conn, region.id, by=admin)
    assert await regions.list_regions(conn) == []
    assert await regions.region_of_county(conn, BOONE) is None
    assert await conn.fetchval("SELECT count(*) FROM region_counties") == 0
    [row] = await _audit_rows(conn)
    assert (row["action"], row["detail"]) == ("region.delete", {"name": "Central"})
    with pytest.raises(NotFound):
        await regions.delete_region(conn, region.id, by=admin)
    with pytest.raises(NotFound):
        await regions.update_region(conn, region.id, RegionIn(name="Again"))


async def test_seeding_without_a_principal_writes_no_audit_row(conn: database.Connection) -> None:
    await regions.create_region(conn, RegionIn(name="Central", counties=[BOONE]))
    assert await audit.recent(conn) == []
