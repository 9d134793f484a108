"""The directory of facilities and their inpatient units (what beds exist, and for whom)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from bedboard import audit
from bedboard.access import Action
from bedboard.auth import Principal
from bedboard.database import Connection
from bedboard.errors import (
    BadReference,
    DomainError,
    Duplicate,
    FieldError,
    Invalid,
    NotFound,
    StaleVersion,
)
from bedboard.fields import DbId

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=40, pattern=r"^[0-9+()\-. x]*$")
]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Fips = Annotated[str, StringConstraints(pattern=r"^[0-9]{5}$")]
Tag = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[a-z0-9_]{1,40}$")
]


class FacilityKind(StrEnum):
    PSYCHIATRIC_HOSPITAL = "psychiatric_hospital"
    GENERAL_HOSPITAL = "general_hospital"
    STATE_HOSPITAL = "state_hospital"
    CRISIS_STABILIZATION = "crisis_stabilization"
    RESIDENTIAL_TREATMENT = "residential_treatment"


class Population(StrEnum):
    ADULT = "adult"
    ADOLESCENT = "adolescent"
    CHILD = "child"
    GERIATRIC = "geriatric"


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"
    ANY = "any"


class SecurityLevel(StrEnum):
    OPEN = "open"
    STANDARD = "standard"
    SECURE = "secure"
    FORENSIC = "forensic"


# Suggested vocabularies; units may carry others (lower-case tags).
SPECIALTIES = (
    "co_occurring_substance_use",
    "developmental_disability",
    "eating_disorder",
    "forensic",
    "medical_psychiatric",
    "dementia",
    "trauma",
    "autism_spectrum",
)
PAYERS = ("medicaid", "medicare", "commercial", "tricare", "uninsured", "county_funded")

_STRICT = ConfigDict(extra="forbid")


class FacilityIn(BaseModel):
    model_config = _STRICT
    name: Name
    kind: FacilityKind
    address: Text200 = ""
    city: Text200 = ""
    county_fips: Fips
    latitude: float | None = Field(
        default=None, ge=-90, le=90, description="Default: county centroid."
    )
    longitude: float | None = Field(default=None, ge=-180, le=180)
    phone_main: Phone = ""
    phone_intake: Phone = ""
    active: StrictBool = True
    report_cadence_minutes: int = Field(default=720, ge=5, le=10080)
    response_target_minutes: int = Field(
        default=30,
        ge=5,
        le=1440,
        description="How soon the facility answers a referral; past it the liaison sees "
        '"no answer for …" (5 minutes to 24 hours).',
    )


class FacilityPatch(BaseModel):
    model_config = _STRICT
    name: Name | None = None
    kind: FacilityKind | None = None
    address: Text200 | None = None
    city: Text200 | None = None
    county_fips: Fips | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    phone_main: Phone | None = None
    phone_intake: Phone | None = None
    active: StrictBool | None = None
    report_cadence_minutes: int | None = Field(default=None, ge=5, le=10080)
    response_target_minutes: int | None = Field(default=None, ge=5, le=1440)


# Fields a facility's own staff may change; everything else is the administrator's.
FACILITY_CONTACT_FIELDS = frozenset({"phone_main", "phone_intake", "address"})


class Facility(BaseModel):
    id: int
    name: str
    kind: FacilityKind
    address: str
    city: str
    county_fips: str
    county_name: str
    latitude: float
    longitude: float
    phone_main: str
    phone_intake: str
    active: bool
    report_cadence_minutes: int
    response_target_minutes: int
    created_at: datetime
    updated_at: datetime
    version: int


class FacilityList(BaseModel):
    items: list[Facility]


class UnitIn(BaseModel):
    model_config = _STRICT
    facility_id: DbId
    name: Name
    population: Population
    gender: Gender = Gender.ANY
    security_level: SecurityLevel = SecurityLevel.STANDARD
    specialties: list[Tag] = Field(default_factory=list, max_length=30)
    accepts_involuntary: StrictBool = True
    accepts_court_ordered: StrictBool = True
    payers: list[Tag] = Field(default_factory=list, max_length=30)
    licensed_beds: int = Field(ge=0, le=2000)
    active: StrictBool = True


class UnitPatch(BaseModel):
    model_config = _STRICT
    name: Name | None = None
    population: Population | None = None
    gender: Gender | None = None
    security_level: SecurityLevel | None = None
    specialties: list[Tag] | None = Field(default=None, max_length=30)
    accepts_involuntary: StrictBool | None = None
    accepts_court_ordered: StrictBool | None = None
    payers: list[Tag] | None = Field(default=None, max_length=30)
    licensed_beds: int | None = Field(default=None, ge=0, le=2000)
    active: StrictBool | None = None


# What a unit accepts may be kept current by its own facility's staff.
UNIT_PROFILE_FIELDS = frozenset(
    {
        "gender",
        "security_level",
        "specialties",
        "accepts_involuntary",
        "accepts_court_ordered",
        "payers",
    }
)


class Unit(BaseModel):
    id: int
    facility_id: int
    facility_name: str
    name: str
    population: Population
    gender: Gender
    security_level: SecurityLevel
    specialties: list[str]
    accepts_involuntary: bool
    accepts_court_ordered: bool
    payers: list[str]
    licensed_beds: int
    active: bool
    created_at: datetime
    updated_at: datetime
    version: int


class UnitList(BaseModel):
    items: list[Unit]


_FACILITY_SELECT = """
    SELECT f.id, f.name, f.kind, f.address, f.city, f.county_fips, c.name AS county_name,
           f.latitude, f.longitude, f.phone_main, f.phone_intake, f.active,
           f.report_cadence_minutes, f.response_target_minutes, f.created_at, f.updated_at,
           f.version
      FROM facilities f JOIN counties c ON c.fips = f.county_fips
"""

_UNIT_SELECT = """
    SELECT u.id, u.facility_id, f.name AS facility_name, u.name, u.population, u.gender,
           u.security_level, u.specialties, u.accepts_involuntary, u.accepts_court_ordered,
           u.payers, u.licensed_beds, u.active, u.created_at, u.updated_at, u.version
      FROM units u JOIN facilities f ON f.id = u.facility_id
"""


def _dedupe(tags: list[str]) -> list[str]:
    return sorted(set(tags))


def _translate(exc: asyncpg.PostgresError, what: str) -> DomainError:
    if isinstance(exc, asyncpg.UniqueViolationError):
        return Duplicate(f"A {what} with that name already exists.")
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return BadReference(
            _fk_field(exc), detail=f"The {what} refers to something that does not exist."
        )
    raise exc


def _fk_field(exc: asyncpg.PostgresError) -> str:
    detail = str(getattr(exc, "detail", "") or "")
    if "county_fips" in detail:
        return "county_fips"
    if "facility_id" in detail:
        return "facility_id"
    return "reference"


async def list_facilities(conn: Connection, *, include_inactive: bool = True) -> list[Facility]:
    rows = await conn.fetch(
        _FACILITY_SELECT + " WHERE $1 OR f.active ORDER BY f.name", include_inactive
    )
    return [Facility(**dict(r)) for r in rows]


async def get_facility(conn: Connection, facility_id: int) -> Facility:
    row = await conn.fetchrow(_FACILITY_SELECT + " WHERE f.id = $1", facility_id)
    if row is None:
        raise NotFound("facility")
    return Facility(**dict(row))


async def _county_centroid(conn: Connection, fips: str) -> tuple[float, float]:
    row = await conn.fetchrow("SELECT latitude, longitude FROM counties WHERE fips = $1", fips)
    if row is None:
        raise BadReference("county_fips", "no county with this FIPS code", "Unknown county.")
    return float(row["latitude"]), float(row["longitude"])


async def _create_facility(conn: Connection, data: FacilityIn) -> Facility:
    lat, lon = data.latitude, data.longitude
    if lat is None or lon is None:
        lat, lon = await _county_centroid(conn, data.county_fips)
    try:
        facility_id = await conn.fetchval(
            """
            INSERT INTO facilities (name, kind, address, city, county_fips, latitude, longitude,
                                    phone_main, phone_intake, active, report_cadence_minutes,
                                    response_target_minutes)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id
            """,
            data.name,
            data.kind.value,
            data.address,
            data.city,
            data.county_fips,
            lat,
            lon,
            data.phone_main,
            data.phone_intake,
            data.active,
            data.report_cadence_minutes,
            data.response_target_minutes,
        )
    except asyncpg.PostgresError as exc:
        raise _translate(exc, "facility") from None
    return await get_facility(conn, facility_id)


def _changes(patch: BaseModel) -> dict[str, Any]:
    """The fields a PATCH sets; an explicit null is refused (no column here is nullable)."""
    values = patch.model_dump(exclude_unset=True)
    for key, value in values.items():
        if value is None:
            raise Invalid(fields=[FieldError(key, "cannot be null", "null")])
    return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in values.items()}


_UPDATE_FACILITY = """
    UPDATE facilities
       SET name = COALESCE($3, name), kind = COALESCE($4, kind), address = COALESCE($5, address),
           city = COALESCE($6, city), county_fips = COALESCE($7, county_fips),
           latitude = COALESCE($8, latitude), longitude = COALESCE($9, longitude),
           phone_main = COALESCE($10, phone_main), phone_intake = COALESCE($11, phone_intake),
           active = COALESCE($12, active),
           report_cadence_minutes = COALESCE($13, report_cadence_minutes),
           response_target_minutes = COALESCE($14, response_target_minutes),
           updated_at = now(), version = version + 1
     WHERE id = $1 AND ($2::int IS NULL OR version = $2)
 RETURNING id
"""


async def _update_facility(
    conn: Connection, facility_id: int, patch: FacilityPatch, expected_version: int | None = None
) -> Facility:
    changes = _changes(patch)
    if "county_fips" in changes and "latitude" not in changes:
        changes["latitude"], changes["longitude"] = await _county_centroid(
            conn, changes["county_fips"]
        )
    if not changes:
        return await get_facility(conn, facility_id)
    c = changes.get
    try:
        updated = await conn.fetchval(
            _UPDATE_FACILITY,
            facility_id,
            expected_version,
            c("name"),
            c("kind"),
            c("address"),
            c("city"),
            c("county_fips"),
            c("latitude"),
            c("longitude"),
            c("phone_main"),
            c("phone_intake"),
            c("active"),
            c("report_cadence_minutes"),
            c("response_target_minutes"),
        )
    except asyncpg.PostgresError as exc:
        raise _translate(exc, "facility") from None
    if updated is None:
        await get_facility(conn, facility_id)  # 404 when it does not exist
        raise StaleVersion("facility")
    return await get_facility(conn, facility_id)


async def list_units(conn: Connection, facility_id: int | None = None) -> list[Unit]:
    rows = await conn.fetch(
        _UNIT_SELECT + " WHERE ($1::bigint IS NULL OR u.facility_id = $1) ORDER BY f.name, u.name",
        facility_id,
    )
    return [Unit(**dict(r)) for r in rows]


async def get_unit(conn: Connection, unit_id: int) -> Unit:
    row = await conn.fetchrow(_UNIT_SELECT + " WHERE u.id = $1", unit_id)
    if row is None:
        raise NotFound("unit")
    return Unit(**dict(row))


async def unit_facility_id(conn: Connection, unit_id: int) -> int:
    facility_id = await conn.fetchval("SELECT facility_id FROM units WHERE id = $1", unit_id)
    if facility_id is None:
        raise NotFound("unit")
    return int(facility_id)


async def _create_unit(conn: Connection, data: UnitIn) -> Unit:
    try:
        unit_id = await conn.fetchval(
            """
            INSERT INTO units (facility_id, name, population, gender, security_level, specialties,
                               accepts_involuntary, accepts_court_ordered, payers, licensed_beds,
                               active)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id
            """,
            data.facility_id,
            data.name,
            data.population.value,
            data.gender.value,
            data.security_level.value,
            _dedupe(data.specialties),
            data.accepts_involuntary,
            data.accepts_court_ordered,
            _dedupe(data.payers),
            data.licensed_beds,
            data.active,
        )
    except asyncpg.PostgresError as exc:
        raise _translate(exc, "unit") from None
    return await get_unit(conn, unit_id)


_UPDATE_UNIT = """
    UPDATE units
       SET name = COALESCE($3, name), population = COALESCE($4, population),
           gender = COALESCE($5, gender), security_level = COALESCE($6, security_level),
           specialties = COALESCE($7, specialties),
           accepts_involuntary = COALESCE($8, accepts_involuntary),
           accepts_court_ordered = COALESCE($9, accepts_court_ordered),
           payers = COALESCE($10, payers), licensed_beds = COALESCE($11, licensed_beds),
           active = COALESCE($12, active), updated_at = now(), version = version + 1
     WHERE id = $1 AND ($2::int IS NULL OR version = $2)
 RETURNING id
"""


async def _update_unit(
    conn: Connection, unit_id: int, patch: UnitPatch, expected_version: int | None = None
) -> Unit:
    changes = _changes(patch)
    for key in ("specialties", "payers"):
        if key in changes:
            changes[key] = _dedupe(changes[key])
    if not changes:
        return await get_unit(conn, unit_id)
    c = changes.get
    try:
        updated = await conn.fetchval(
            _UPDATE_UNIT,
            unit_id,
            expected_version,
            c("name"),
            c("population"),
            c("gender"),
            c("security_level"),
            c("specialties"),
            c("accepts_involuntary"),
            c("accepts_court_ordered"),
            c("payers"),
            c("licensed_beds"),
            c("active"),
        )
    except asyncpg.PostgresError as exc:
        raise _translate(exc, "unit") from None
    if updated is None:
        await get_unit(conn, unit_id)
        raise StaleVersion("unit")
    return await get_unit(conn, unit_id)


def facility_update_action(patch: FacilityPatch) -> Action:
    """A facility's own staff may change its contact fields; anything else is the
    administrator's."""
    contact_only = patch.model_fields_set <= FACILITY_CONTACT_FIELDS
    return Action.FACILITY_UPDATE_CONTACT if contact_only else Action.FACILITY_UPDATE


def unit_update_action(patch: UnitPatch) -> Action:
    """A facility's own staff may change what a unit accepts; anything else is the
    administrator's."""
    profile_only = patch.model_fields_set <= UNIT_PROFILE_FIELDS
    return Action.UNIT_UPDATE_PROFILE if profile_only else Action.UNIT_UPDATE


async def create_facility(
    conn: Connection, data: FacilityIn, by: Principal | None = None
) -> Facility:
    """Create a facility, audited as ``by``."""
    facility = await _create_facility(conn, data)
    await audit.changed(
        conn, by, Action.FACILITY_CREATE, "facility", facility.id, {"name": facility.name}
    )
    return facility


async def update_facility(
    conn: Connection,
    facility_id: int,
    patch: FacilityPatch,
    expected_version: int | None = None,
    by: Principal | None = None,
) -> Facility:
    """Change a facility (412 when ``expected_version`` is not current), audited as ``by``."""
    facility = await _update_facility(conn, facility_id, patch, expected_version)
    fields = {"fields": sorted(patch.model_fields_set)}
    await audit.changed(conn, by, facility_update_action(patch), "facility", facility_id, fields)
    return facility


async def create_unit(conn: Connection, data: UnitIn, by: Principal | None = None) -> Unit:
    """Create a unit, audited as ``by``."""
    unit = await _create_unit(conn, data)
    detail = {"facility_id": unit.facility_id, "name": unit.name}
    await audit.changed(conn, by, Action.UNIT_CREATE, "unit", unit.id, detail)
    return unit


async def update_unit(
    conn: Connection,
    unit_id: int,
    patch: UnitPatch,
    expected_version: int | None = None,
    by: Principal | None = None,
) -> Unit:
    """Change a unit (412 when ``expected_version`` is not current), audited as ``by``."""
    unit = await _update_unit(conn, unit_id, patch, expected_version)
    fields = {"fields": sorted(patch.model_fields_set)}
    await audit.changed(conn, by, unit_update_action(patch), "unit", unit_id, fields)
    return unit


class County(BaseModel):
    fips: str
    name: str
    latitude: float
    longitude: float


class CountyList(BaseModel):
    items: list[County]


async def list_counties(conn: Connection) -> list[County]:
    rows = await conn.fetch("SELECT fips, name, latitude, longitude FROM counties ORDER BY name")
    return [County(**dict(r)) for r in rows]
