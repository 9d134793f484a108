"""Bed search: units that fit a person's needs, ranked by fit, then distance, then freshness.

Distance is the great-circle (haversine) distance between the facility and the person's
county centroid (or a given point), not road distance. Every unit that is left out is
counted under the first reason it fails, so an empty result can be trusted.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bedboard import matching
from bedboard.board import sql_free
from bedboard.database import Connection, consistent_read
from bedboard.errors import BadReference, Invalid
from bedboard.facilities import Fips, Population, SecurityLevel, Tag
from bedboard.freshness import Freshness, freshness, sql_current
from bedboard.matching import MatchingError, Sex, UnitGender

KM_PER_MILE = 1.609344
EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE_LAT = 111.0
BOX_MARGIN = 1.05
SECURITY_ORDER = [level.value for level in SecurityLevel]

# Why a unit was left out, in the order they are checked.
REASONS = (
    "inactive",
    "population",
    "gender",
    "involuntary_not_accepted",
    "court_ordered_not_accepted",
    "security",
    "forensic_only",
    "needs_not_served",
    "payer_not_accepted",
    "too_far",
    "stale",
    "no_beds",
)

# How a page says why units were left out: (one unit, several units).
REASON_LABELS = {
    "population": ("serves another age group", "serve another age group"),
    "gender": ("serves another gender", "serve another gender"),
    "involuntary_not_accepted": (
        "does not take involuntary admissions",
        "do not take involuntary admissions",
    ),
    "court_ordered_not_accepted": (
        "does not take court-ordered admissions",
        "do not take court-ordered admissions",
    ),
    "security": ("has a lower security level", "have a lower security level"),
    "forensic_only": (
        "is a forensic unit (choose the forensic level or need to include it)",
        "are forensic units (choose the forensic level or need to include them)",
    ),
    "needs_not_served": ("does not serve the needs", "do not serve the needs"),
    "payer_not_accepted": ("does not take the payer", "do not take the payer"),
    "too_far": ("is too far", "are too far"),
    "stale": ("has stale or no reports", "have stale or no reports"),
    "no_beds": ("has no free beds", "have no free beds"),
    "beyond_limit": (
        "also fits but is beyond the first results",
        "also fit but are beyond the first results",
    ),
}


def reason_text(reason: str, count: int) -> str:
    """``1 unit does not take the payer``, ``3 units have no free beds``."""
    one, many = REASON_LABELS.get(reason, (reason.replace("_", " "), reason.replace("_", " ")))
    return f"{count} unit {one}" if count == 1 else f"{count} units {many}"


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    county: Fips | None = Field(
        default=None, description="FIPS code of the county the person is in."
    )
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    age: int | None = Field(
        default=None,
        ge=0,
        le=130,
        description="The person's age: gives the age group when `population` is not set.",
    )
    sex: Sex | None = Field(
        default=None,
        description="The person's sex: gives the unit genders when `gender` is not set "
        "(male: men's or mixed units; female: women's or mixed; other or unknown: mixed only).",
    )
    population: Population | None = None
    gender: UnitGender | None = Field(
        default=None,
        description="Unit genders to match: male (men's or mixed units), female (women's or "
        "mixed), mixed (mixed only) or any.",
    )
    needs: list[Tag] = Field(
        default_factory=list, max_length=10, description="Specialties required."
    )
    involuntary: bool | None = Field(
        default=None, description="true: only units taking involuntary."
    )
    court_ordered: bool | None = Field(default=None, description="true: only court-ordered units.")
    payer: Tag | None = None
    security: SecurityLevel | None = Field(default=None, description="The lowest level acceptable.")
    max_km: float | None = Field(default=None, gt=0, le=3000)
    max_miles: float | None = Field(
        default=None, gt=0, le=1900, description="The same radius in miles (give one of the two)."
    )
    include_stale: bool = Field(
        default=False, description="Include stale and never-reported units."
    )
    limit: int = Field(default=50, ge=1, le=500)

    @model_validator(mode="after")
    def _one_location(self) -> SearchQuery:
        point = self.lat is not None or self.lon is not None
        if point and (self.lat is None or self.lon is None):
            raise ValueError("lat and lon go together")
        if point and self.county is not None:
            raise ValueError("give county or lat+lon, not both")
        if not point and self.county is None:
            raise ValueError("give the person's county (FIPS) or lat+lon")
        if self.max_km is not None and self.max_miles is not None:
            raise ValueError("give max_km or max_miles, not both")
        return self

    @property
    def radius_km(self) -> float | None:
        if self.max_miles is not None:
            return self.max_miles * KM_PER_MILE
        return self.max_km

    def matched(self) -> tuple[Population | None, UnitGender | None]:
        """The age group and unit genders to search: as given, else from the age and sex.
        A given value the age or sex contradicts is refused (MatchingError); overriding
        is for the placement record, where it is deliberate and recorded."""
        population, gender = self.population, self.gender
        if self.age is not None:
            population, _ = matching.choose_population(
                self.age, self.age, population, override=False, birth_year=None
            )
        if self.sex is not None:
            gender, _ = matching.choose_gender(self.sex, gender, override=False)
        return population, gender


class SearchResult(BaseModel):
    unit_id: int
    unit_name: str
    facility_id: int
    facility_name: str
    city: str
    county_name: str
    population: Population
    gender: str
    security_level: SecurityLevel
    specialties: list[str]
    payers: list[str]
    free: int = Field(description="Beds available for a new placement (available minus held).")
    available: int
    held: int
    freshness: Freshness
    as_of: datetime | None = Field(description="When the hospital last measured these counts.")
    received_at: datetime | None
    distance_km: float
    distance_miles: float
    phone_intake: str
    fit: int = Field(
        description="How specifically the unit fits (gender-specific, exact security)."
    )


class SearchResponse(BaseModel):
    origin: dict[str, Any]
    results: list[SearchResult]
    excluded: dict[str, int] = Field(description="Units left out, by the first reason they failed.")
    total_units: int
    generated_at: datetime


_DISTANCE = f"""
    2 * {EARTH_RADIUS_KM} * asin(sqrt(
        power(sin(radians(f.latitude - $1) / 2), 2)
        + cos(radians($1)) * cos(radians(f.latitude)) * power(sin(radians(f.longitude - $2) / 2), 2)
    ))
"""

# $1 lat, $2 lon, $3 population, $4 gender, $5 involuntary, $6 court_ordered, $7 security rank,
# $8 needs, $9 payer, $10 max_km, $11 include_stale, $12 now.
_FREE = sql_free("c")
_CURRENT = sql_current("c.as_of", "f.report_cadence_minutes", "$12::timestamptz")
_REASON = f"""
    CASE
      WHEN NOT (u.active AND f.active) THEN 'inactive'
      WHEN $3::text IS NOT NULL AND u.population <> $3 THEN 'population'
      WHEN $4::text[] IS NOT NULL AND NOT (u.gender = ANY ($4::text[])) THEN 'gender'
      WHEN $5::bool AND NOT u.accepts_involuntary THEN 'involuntary_not_accepted'
      WHEN $6::bool AND NOT u.accepts_court_ordered THEN 'court_ordered_not_accepted'
      WHEN array_position($13::text[], u.security_level) < $7::int THEN 'security'
      WHEN u.security_level = 'forensic' AND $7::int < cardinality($13::text[])
            AND NOT ('forensic' = ANY ($8::text[])) THEN 'forensic_only'
      WHEN NOT (u.specialties @> $8::text[]) THEN 'needs_not_served'
      WHEN $9::text IS NOT NULL AND NOT ($9 = ANY (u.payers)) THEN 'payer_not_accepted'
      WHEN $10::float8 IS NOT NULL AND {_DISTANCE} > $10 THEN 'too_far'
      WHEN NOT $11::bool AND NOT COALESCE({_CURRENT}, false) THEN 'stale'
      WHEN {_FREE} = 0 THEN 'no_beds'
    END
"""

_FROM = """
      FROM units u
      JOIN facilities f ON f.id = u.facility_id
      LEFT JOIN unit_census c ON c.unit_id = u.id
"""

# The ranked results: every hard filter in the WHERE clause, so the indexes are usable.
RESULTS_SQL = f"""
    SELECT u.id AS unit_id, u.name AS unit_name, f.id AS facility_id, f.name AS facility_name,
           f.city, co.name AS county_name, u.population, u.gender, u.security_level,
           u.specialties, u.payers,
           {_FREE} AS free, c.available, c.held, c.as_of,
           c.received_at, f.report_cadence_minutes, f.phone_intake,
           {_DISTANCE} AS distance_km,
           (CASE WHEN u.gender <> 'any' AND u.gender = ANY ($4::text[]) THEN 1 ELSE 0 END
            + CASE WHEN array_position($13::text[], u.security_level) = $7::int THEN 1 ELSE 0 END)
             AS fit
      {_FROM}
      JOIN counties co ON co.fips = f.county_fips
     WHERE u.active AND f.active
       AND ($3::text IS NULL OR u.population = $3)
       AND ($4::text[] IS NULL OR u.gender = ANY ($4::text[]))
       AND (NOT $5::bool OR u.accepts_involuntary)
       AND (NOT $6::bool OR u.accepts_court_ordered)
       AND array_position($13::text[], u.security_level) >= $7::int
       AND (u.security_level <> 'forensic' OR $7::int = cardinality($13::text[])
            OR 'forensic' = ANY ($8::text[]))
       AND u.specialties @> $8::text[]
       AND ($9::text IS NULL OR $9 = ANY (u.payers))
       AND ($10::float8 IS NULL OR (
             f.latitude BETWEEN $1 - $14::float8 AND $1 + $14::float8
             AND f.longitude BETWEEN $2 - $15::float8 AND $2 + $15::float8
             AND {_DISTANCE} <= $10))
       AND ($11::bool OR {_CURRENT})
       AND {_FREE} > 0
     ORDER BY fit DESC, distance_km, c.as_of DESC NULLS LAST, u.id
     LIMIT $16
"""

EXCLUDED_SQL = f"""
    SELECT reason, count(*) AS n FROM (SELECT {_REASON} AS reason {_FROM}) r
     GROUP BY reason
"""  # noqa: S608 -- composed only of the constant fragments above


async def origin_of(conn: Connection, query: SearchQuery) -> tuple[float, float, dict[str, Any]]:
    if query.county is not None:
        row = await conn.fetchrow(
            "SELECT name, latitude, longitude FROM counties WHERE fips = $1", query.county
        )
        if row is None:
            raise BadReference(
                "county", "no county with this FIPS code", "Unknown county.", where="query"
            )
        lat, lon = float(row["latitude"]), float(row["longitude"])
        return (
            lat,
            lon,
            {"county": query.county, "county_name": row["name"], "lat": lat, "lon": lon},
        )
    assert query.lat is not None and query.lon is not None
    return query.lat, query.lon, {"lat": query.lat, "lon": query.lon}


def parameters(query: SearchQuery, lat: float, lon: float, now: datetime) -> list[Any]:
    """Positional parameters shared by RESULTS_SQL and EXCLUDED_SQL (the latter uses $1-$13).
    Raises MatchingError when the age or sex contradicts the given group or gender."""
    population, gender = query.matched()
    genders = sorted(matching.unit_genders(gender)) if gender not in (None, "any") else None
    # A box a little larger than the circle: it only lets the index narrow the rows; the
    # exact great-circle test decides.
    dlat = (query.radius_km or 0) / KM_PER_DEGREE_LAT * BOX_MARGIN
    widest = min(abs(lat) + dlat, 89.0)
    dlon = dlat / max(math.cos(math.radians(widest)), 0.01)
    security_rank = SECURITY_ORDER.index(query.security.value) + 1 if query.security else 1
    return [
        lat,
        lon,
        population.value if population else None,
        genders,
        bool(query.involuntary),
        bool(query.court_ordered),
        security_rank,
        sorted(set(query.needs)),
        query.payer,
        query.radius_km,
        query.include_stale,
        now,
        SECURITY_ORDER,
        dlat,
        dlon,
        query.limit,
    ]


async def search(conn: Connection, query: SearchQuery) -> SearchResponse:
    async with consistent_read(conn):
        # Plan each search for its own parameters: a cached generic plan cannot use the
        # location index (the radius filter is optional), and is much slower at scale.
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        now: datetime = await conn.fetchval("SELECT now()")
        lat, lon, origin = await origin_of(conn, query)
        try:
            params = parameters(query, lat, lon, now)
        except MatchingError as exc:
            raise Invalid.field(exc.field, exc.message, "matching", where="query") from None
        rows = await conn.fetch(RESULTS_SQL, *params)
        excluded_rows = await conn.fetch(EXCLUDED_SQL, *params[:13])
    results = []
    for row in rows:
        data = dict(row)
        cadence = timedelta(minutes=data.pop("report_cadence_minutes"))
        km = float(data.pop("distance_km"))
        results.append(
            SearchResult(
                **data,
                freshness=freshness(data["as_of"], cadence, now),
                distance_km=round(km, 1),
                distance_miles=round(km / KM_PER_MILE, 1),
            )
        )
    counts = {r["reason"]: int(r["n"]) for r in excluded_rows}
    matched = counts.pop(None, 0)
    excluded = {reason: counts[reason] for reason in REASONS if counts.get(reason)}
    excluded_inactive = excluded.pop("inactive", 0)
    if matched > len(results):
        excluded["beyond_limit"] = matched - len(results)
    return SearchResponse(
        origin=origin,
        results=results,
        excluded=excluded,
        total_units=matched + sum(counts.values()) - excluded_inactive,
        generated_at=now,
    )
