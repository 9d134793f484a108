"""Courts (probate divisions of circuit courts) that order placements."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

import asyncpg
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from bedboard import audit
from bedboard.access import Action
from bedboard.auth import Principal
from bedboard.database import Connection
from bedboard.errors import BadReference, DomainError, Duplicate, NotFound, StaleVersion
from bedboard.facilities import Fips, Name

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email_or_blank(value: str) -> str:
    """An email address (lower case), or "" for none."""
    value = value.strip().lower()
    if value and (len(value) > 254 or not _EMAIL.fullmatch(value)):
        raise ValueError("enter an email address like clerk@example.org, or leave it blank")
    return value


# The clerk's office address: status changes of the court's placements are emailed there.
# "" (or absent on create) means none.
ClerkEmail = Annotated[
    str,
    AfterValidator(_email_or_blank),
    Field(max_length=254, description='The clerk\'s email address; "" for none.'),
]


class CourtIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    circuit: int = Field(ge=1, le=99)
    county_fips: Fips
    clerk_email: ClerkEmail | None = None


class CourtPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    circuit: int | None = Field(default=None, ge=1, le=99)
    county_fips: Fips | None = None
    clerk_email: ClerkEmail | None = Field(
        default=None, description='The clerk\'s email address; "" removes it, absent keeps it.'
    )


class Court(BaseModel):
    id: int
    name: str
    circuit: int
    county_fips: str
    county_name: str
    clerk_email: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class CourtList(BaseModel):
    items: list[Court]


_SELECT = """
    SELECT ct.id, ct.name, ct.circuit, ct.county_fips, c.name AS county_name, ct.clerk_email,
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
            "INSERT INTO courts (name, circuit, county_fips, clerk_email)"
            " VALUES ($1, $2, $3, NULLIF($4, '')) RETURNING id",
            data.name,
            data.circuit,
            data.county_fips,
            data.clerk_email,
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
                   county_fips = COALESCE($4, county_fips),
                   clerk_email = CASE WHEN $5::text IS NULL THEN clerk_email
                                      ELSE NULLIF($5, '') END,
                   updated_at = now(), version = version + 1
             WHERE id = $1
            """,
            court_id,
            patch.name,
            patch.circuit,
            patch.county_fips,
            patch.clerk_email,
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
