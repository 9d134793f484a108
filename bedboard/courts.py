"""Courts (probate divisions of circuit courts) that order placements."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from bedboard import audit
from bedboard.access import Action
from bedboard.auth import Principal
from bedboard.database import Connection
from bedboard.errors import BadReference, DomainError, Duplicate, NotFound, StaleVersion
from bedboard.facilities import Fips, Name


class CourtIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    circuit: int = Field(ge=1, le=99)
    county_fips: Fips


class CourtPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    circuit: int | None = Field(default=None, ge=1, le=99)
    county_fips: Fips | None = None


class Court(BaseModel):
    id: int
    name: str
    circuit: int
    county_fips: str
    county_name: str
    created_at: datetime
    updated_at: datetime
    version: int


class CourtList(BaseModel):
    items: list[Court]


_SELECT = """
    SELECT ct.id, ct.name, ct.circuit, ct.county_fips, c.name AS county_name,
           ct.created_at, ct.updated_at, ct.version
      FROM courts ct JOIN counties c ON c.fips = ct.county_fips
"""


def _translate(exc: asyncpg.PostgresError) -> DomainError:
    if isinstance(exc, asyncpg.UniqueViolationError):
        return Duplicate("A court with that name already exists.")
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return BadReference("county_fips", "no county with this FIPS code", "Unknown county.")
    raise exc


async def list_courts(conn: Connection, only_id: int | None = None) -> list[Court]:
    rows = await conn.fetch(
        _SELECT + " WHERE ($1::bigint IS NULL OR ct.id = $1) ORDER BY ct.circuit, ct.name", only_id
    )
    return [Court(**dict(r)) for r in rows]


async def get_court(conn: Connection, court_id: int) -> Court:
    row = await conn.fetchrow(_SELECT + " WHERE ct.id = $1", court_id)
    if row is None:
        raise NotFound("court")
    return Court(**dict(row))


async def court_exists(conn: Connection, court_id: int) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM courts WHERE id = $1)", court_id))


async def _create_court(conn: Connection, data: CourtIn) -> Court:
    try:
        court_id = await conn.fetchval(
            "INSERT INTO courts (name, circuit, county_fips) VALUES ($1, $2, $3) RETURNING id",
            data.name,
            data.circuit,
            data.county_fips,
        )
    except asyncpg.PostgresError as exc:
        raise _translate(exc) from None
    return await get_court(conn, court_id)


async def _update_court(
    conn: Connection, court_id: int, patch: CourtPatch, expected_version: int | None = None
) -> Court:
    current = await get_court(conn, court_id)
    if expected_version is not None and current.version != expected_version:
        raise StaleVersion("court")
    try:
        await conn.execute(
            """
            UPDATE courts SET name = COALESCE($2, name), circuit = COALESCE($3, circuit),
                   county_fips = COALESCE($4, county_fips), updated_at = now(),
                   version = version + 1
             WHERE id = $1
            """,
            court_id,
            patch.name,
            patch.circuit,
            patch.county_fips,
        )
    except asyncpg.PostgresError as exc:
        raise _translate(exc) from None
    return await get_court(conn, court_id)


async def create_court(conn: Connection, data: CourtIn, by: Principal | None = None) -> Court:
    """Create a court, audited as ``by``."""
    court = await _create_court(conn, data)
    await audit.changed(conn, by, Action.COURT_CREATE, "court", court.id, {"name": court.name})
    return court


async def update_court(
    conn: Connection,
    court_id: int,
    patch: CourtPatch,
    expected_version: int | None = None,
    by: Principal | None = None,
) -> Court:
    """Change a court (412 when ``expected_version`` is not current), audited as ``by``."""
    court = await _update_court(conn, court_id, patch, expected_version)
    fields = {"fields": sorted(patch.model_fields_set)}
    await audit.changed(conn, by, Action.COURT_UPDATE, "court", court_id, fields)
    return court
