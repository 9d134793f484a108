"""Regions: named sets of counties that administrators define (issue 12, issue 13 §2).

A region groups Missouri counties (``counties``, the reference data) under one name,
such as a state agency's service areas. A county is in at most one region (the key of
``region_counties``), so "the region of a county" has one answer. Reports filter by a
region (the placement's county, or the facility's, is one of its counties) and the
public summary groups free beds by region once any is defined.

A supervisor (``users.region_id``) coordinates the placements in their region's counties,
so a region that still has supervisors cannot be deleted (``RegionHasSupervisors``,
naming them) and changing a region's counties changes what its supervisors see.

This module owns ``regions`` and ``region_counties``. Every change is audited
(``region.create``, ``region.update``, ``region.delete``) with the counties added and
removed as FIPS codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from bedboard import audit, auth
from bedboard.access import Action
from bedboard.auth import Principal
from bedboard.database import Connection
from bedboard.errors import BadReference, Conflict, DomainError, Duplicate, NotFound
from bedboard.facilities import Fips, Name

NAME_TAKEN = "That name is taken."


class RegionIn(BaseModel):
    """A region as created or replaced: its name and its whole set of counties."""

    model_config = ConfigDict(extra="forbid")
    name: Name
    counties: list[Fips] = Field(
        default_factory=list,
        max_length=200,
        description="FIPS codes of the region's counties (the whole set; a county may be "
        "in one region only).",
    )


class RegionCounty(BaseModel):
    fips: str
    name: str


class Region(BaseModel):
    id: int
    name: str
    created_at: datetime
    counties: list[RegionCounty] = Field(description="By county name.")


class RegionList(BaseModel):
    items: list[Region]


class CountyInAnotherRegion(Conflict):
    """A county asked for is already in another region."""

    code = "county-in-another-region"

    def __init__(self, county: str, region: str | None, fips: str) -> None:
        if region is None:
            detail = "A county can be in one region only."
        else:
            detail = f"A county can be in one region only: {county} is in {region}."
        super().__init__(detail, county_fips=fips, region=region)


class RegionHasSupervisors(Conflict):
    """The region still has supervisors: each needs another region first."""

    code = "region-has-supervisors"

    def __init__(self, region: str, emails: Sequence[str]) -> None:
        who = ", ".join(emails)
        many = len(emails) != 1
        detail = (
            f"{region} still has {len(emails)} {'supervisors' if many else 'supervisor'} ({who}):"
            f" give {'them' if many else 'the supervisor'} another region, or another role,"
            " before deleting it."
        )
        super().__init__(detail, supervisors=list(emails))


_SELECT = """
    SELECT r.id, r.name, r.created_at,
           COALESCE(jsonb_agg(jsonb_build_object('fips', c.fips, 'name', c.name)
                              ORDER BY c.name) FILTER (WHERE c.fips IS NOT NULL),
                    '[]'::jsonb) AS counties
      FROM regions r
      LEFT JOIN region_counties rc ON rc.region_id = r.id
      LEFT JOIN counties c ON c.fips = rc.county_fips
"""


def _region(row: asyncpg.Record) -> Region:
    return Region(**dict(row))


async def list_regions(conn: Connection) -> list[Region]:
    """Every region, by name."""
    rows = await conn.fetch(_SELECT + " GROUP BY r.id ORDER BY lower(r.name), r.id")
    return [_region(r) for r in rows]


async def get_region(conn: Connection, region_id: int) -> Region:
    row = await conn.fetchrow(_SELECT + " WHERE r.id = $1 GROUP BY r.id", region_id)
    if row is None:
        raise NotFound("region")
    return _region(row)


async def counties_of_regions(conn: Connection, region_ids: Sequence[int]) -> list[str]:
    """The FIPS codes of the counties in any of ``region_ids`` (sorted; none for an
    unknown region)."""
    rows = await conn.fetch(
        "SELECT county_fips FROM region_counties WHERE region_id = ANY($1::bigint[])"
        " ORDER BY county_fips",
        list(region_ids),
    )
    return [r["county_fips"] for r in rows]


async def region_of_county(conn: Connection, fips: str) -> Region | None:
    """The region the county is in, or None."""
    region_id = await conn.fetchval(
        "SELECT region_id FROM region_counties WHERE county_fips = $1", fips
    )
    return None if region_id is None else await get_region(conn, region_id)


async def any_regions(conn: Connection) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM regions)"))


async def _check_counties(conn: Connection, counties: Sequence[str], region_id: int | None) -> None:
    """Every county exists and is in no other region (the first one that is, by name)."""
    rows = await conn.fetch(
        """
        SELECT want.fips, c.name AS county, r.id AS region_id, r.name AS region
          FROM unnest($1::text[]) AS want(fips)
          LEFT JOIN counties c ON c.fips = want.fips
          LEFT JOIN region_counties rc ON rc.county_fips = want.fips
          LEFT JOIN regions r ON r.id = rc.region_id
         ORDER BY c.name NULLS FIRST, want.fips
        """,
        list(counties),
    )
    for row in rows:
        if row["county"] is None:
            raise BadReference(
                "counties",
                f"There is no county with the FIPS code {row['fips']}.",
                "Unknown county.",
            )
    for row in rows:
        if row["region_id"] is not None and row["region_id"] != region_id:
            raise CountyInAnotherRegion(row["county"], row["region"], row["fips"])


def _translate(exc: asyncpg.PostgresError) -> DomainError:
    if isinstance(exc, asyncpg.UniqueViolationError):
        if exc.constraint_name == "regions_name_key":
            return Duplicate(NAME_TAKEN)
        # Another transaction put the county in a region after the check above.
        return CountyInAnotherRegion("", None, "")
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return BadReference("counties", "Unknown county.", "Unknown county.")
    raise exc


async def _name_taken(conn: Connection, name: str, region_id: int | None) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM regions WHERE lower(name) = lower($1)"
            " AND id IS DISTINCT FROM $2)",
            name,
            region_id,
        )
    )


async def _set_counties(conn: Connection, region_id: int, counties: Sequence[str]) -> None:
    await conn.execute(
        "DELETE FROM region_counties WHERE region_id = $1 AND NOT (county_fips = ANY($2::text[]))",
        region_id,
        list(counties),
    )
    await conn.execute(
        """
        INSERT INTO region_counties (county_fips, region_id)
        SELECT fips, $1 FROM unnest($2::text[]) AS want(fips)
        ON CONFLICT (county_fips) DO UPDATE SET region_id = EXCLUDED.region_id
         WHERE region_counties.region_id = EXCLUDED.region_id
        """,
        region_id,
        list(counties),
    )
    held = await conn.fetchval(
        "SELECT count(*) FROM region_counties WHERE region_id = $1", region_id
    )
    if held != len(counties):  # a county another transaction took meanwhile
        raise CountyInAnotherRegion("", None, "")


async def create_region(conn: Connection, data: RegionIn, by: Principal | None = None) -> Region:
    """Create a region with its counties, audited as ``by``. Refused: a name taken (any
    case), an unknown county, a county already in another region."""
    counties = sorted(set(data.counties))
    if await _name_taken(conn, data.name, None):
        raise Duplicate(NAME_TAKEN)
    await _check_counties(conn, counties, None)
    try:
        async with conn.transaction():
            region_id = await conn.fetchval(
                "INSERT INTO regions (name) VALUES ($1) RETURNING id", data.name
            )
            await _set_counties(conn, region_id, counties)
    except asyncpg.PostgresError as exc:
        raise _translate(exc) from None
    region = await get_region(conn, region_id)
    detail = {"name": region.name, "counties": counties}
    await audit.changed(conn, by, Action.REGION_CREATE, "region", region.id, detail)
    return region


async def update_region(
    conn: Connection, region_id: int, data: RegionIn, by: Principal | None = None
) -> Region:
    """Replace a region's name and its whole set of counties, audited as ``by`` (the
    counties added and removed)."""
    await conn.execute("SELECT 1 FROM regions WHERE id = $1 FOR UPDATE", region_id)
    current = await get_region(conn, region_id)
    counties = sorted(set(data.counties))
    if await _name_taken(conn, data.name, region_id):
        raise Duplicate(NAME_TAKEN)
    await _check_counties(conn, counties, region_id)
    # Its supervisors' principals carry its counties: API tokens' cached ones are forgotten.
    await auth.principals_changed(conn)
    try:
        async with conn.transaction():
            await conn.execute("UPDATE regions SET name = $2 WHERE id = $1", region_id, data.name)
            await _set_counties(conn, region_id, counties)
    except asyncpg.PostgresError as exc:
        raise _translate(exc) from None
    region = await get_region(conn, region_id)
    before = {c.fips for c in current.counties}
    detail = {
        "name": region.name,
        "renamed": current.name != region.name,
        "added": sorted(set(counties) - before),
        "removed": sorted(before - set(counties)),
    }
    await audit.changed(conn, by, Action.REGION_UPDATE, "region", region_id, detail)
    return region


async def supervisors_of(conn: Connection, region_id: int) -> list[str]:
    """The emails of the region's supervisors, disabled ones too (they keep the region)."""
    rows = await conn.fetch(
        "SELECT email FROM users WHERE region_id = $1 ORDER BY email", region_id
    )
    return [r["email"] for r in rows]


async def delete_region(conn: Connection, region_id: int, by: Principal | None = None) -> None:
    """Delete a region (its counties are then in none), audited as ``by``. Refused while
    it has supervisors (``RegionHasSupervisors``)."""
    row = await conn.fetchrow("SELECT name FROM regions WHERE id = $1 FOR UPDATE", region_id)
    if row is None:
        raise NotFound("region")
    supervisors = await supervisors_of(conn, region_id)
    if supervisors:
        raise RegionHasSupervisors(row["name"], supervisors)
    try:
        async with conn.transaction():
            name = await conn.fetchval(
                "DELETE FROM regions WHERE id = $1 RETURNING name", region_id
            )
    except asyncpg.ForeignKeyViolationError:  # a supervisor given the region meanwhile
        raise RegionHasSupervisors(row["name"], await supervisors_of(conn, region_id)) from None
    if name is None:
        raise NotFound("region")
    await audit.changed(conn, by, Action.REGION_DELETE, "region", region_id, {"name": name})
