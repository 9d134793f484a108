"""The public summary: what anyone may see without signing in (``GET /public`` and
``GET /api/v1/public/summary``).

- **Beds** (not about people, never suppressed): free beds of active units by region,
  age group and whether the unit accepts involuntary admissions, with how many of the
  units' numbers are fresh, late, stale or never reported (``freshness``). The region is
  the facility's county until an administrator defines regions (``regions.py``); from
  then on it is the region of the facility's county, and facilities in a county of no
  region are one group, "Not in a region" (``grouped_by`` and ``region_meaning`` say
  which). A reader of a regional summary thinks in the program's service areas, and a
  county left out of every region is still counted, under a name that says so.
- **Program counts** (about people, suppressed): for each of the 12 complete local months
  before the current one, placement requests recorded, placements admitted, and
  placements closed without a bed (outcome ``order_expired`` or ``released``, never
  admitted). A count of 1-10 is shown as ``<11`` (the CMS cell-size rule); 0 is shown.
  A total is shown only when none of the months it adds up is suppressed, so no
  suppressed month can be recovered by subtraction.
- **Facilities and units** only when ``BEDBOARD_PUBLIC_FACILITIES`` is on.

No person-level field is read: the program counts are ``count(*)`` over time columns and
the outcome. Computed at most once per ``CACHE_SECONDS`` per instance (``SummaryCache``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from bedboard.board import sql_free
from bedboard.database import Connection, Pool, acquire, consistent_read
from bedboard.facilities import Population
from bedboard.freshness import Freshness, sql_state

CACHE_SECONDS = 60
# Per client address (context.throttle_public): 30 requests at once, then one every 2 s.
# The answer may be cached by browsers and proxies for CACHE_SECONDS, so a person reading
# it never comes near this; a script polling it does.
RATE_BURST = 30
RATE_PER_S = 0.5
MONTHS = 12
# The CMS cell-size suppression policy: counts from 1 to 10 are not published.
SMALL_CELL_MAX = 10
SMALL_CELL_DISPLAY = "<11"
HIDDEN_TOTAL_DISPLAY = "not shown"
# Outcomes that end a placement without a bed (with admitted_at empty).
NO_BED_OUTCOMES = ("order_expired", "released")
# What a region is, as the answer says (region_meaning): the county until administrators
# define regions, then the region of the facility's county.
COUNTY_MEANING = (
    "county: the Missouri county (FIPS code) of the facility; no regions are defined, so "
    "free beds are grouped by county"
)
NOT_IN_A_REGION = "Not in a region"
REGION_MEANING = (
    "region: a named set of Missouri counties defined by the program's administrators "
    "(each county in one region at most); a facility counts in the region of its county, "
    f'and facilities in counties of no region are grouped as "{NOT_IN_A_REGION}"'
)
Grouping = Literal["county", "region"]
AGE_ORDER = (Population.CHILD, Population.ADOLESCENT, Population.ADULT, Population.GERIATRIC)


# --------------------------------------------------------------------------- suppression


class Suppressed(StrEnum):
    SMALL_CELL = "small_cell"
    COMPLEMENTARY = "complementary"


class PeopleCount(BaseModel):
    """A count of people, published under small-cell suppression. Read ``display``;
    ``value`` is null whenever ``suppressed`` is true."""

    value: int | None = Field(description="The count, or null when it is suppressed.")
    suppressed: bool = Field(description="True when the count is not published.")
    display: str = Field(
        description='What to show: the count; "<11" for a count of 1 to 10 (small cell); '
        '"not shown" for a total hidden because a count it adds up is suppressed.'
    )
    reason: Suppressed | None = Field(
        description="Why it is suppressed: small_cell (1 to 10) or complementary (a total "
        "that would let a suppressed count be recovered by subtraction); null when shown."
    )


def people_count(n: int) -> PeopleCount:
    """``n`` people, suppressed when 1 to ``SMALL_CELL_MAX``; 0 is published as 0."""
    if n < 0:
        raise ValueError("a count of people cannot be negative")
    if 1 <= n <= SMALL_CELL_MAX:
        return PeopleCount(
            value=None, suppressed=True, display=SMALL_CELL_DISPLAY, reason=Suppressed.SMALL_CELL
        )
    return PeopleCount(value=n, suppressed=False, display=str(n), reason=None)


def people_total(parts: Sequence[PeopleCount], total: int) -> PeopleCount:
    """The total of ``parts`` (whose true sum is ``total``): hidden when any part is
    suppressed (total minus the shown parts would give the suppressed ones, or their
    sum), otherwise published under the same small-cell rule."""
    if any(part.suppressed for part in parts):
        return PeopleCount(
            value=None,
            suppressed=True,
            display=HIDDEN_TOTAL_DISPLAY,
            reason=Suppressed.COMPLEMENTARY,
        )
    return people_count(total)


# --------------------------------------------------------------------------- models


class FreshnessCounts(BaseModel):
    """Units by how fresh their numbers are, and each state's share of them (0 to 1)."""

    fresh: int
    late: int
    stale: int
    never: int
    share_fresh: float = Field(ge=0, le=1)
    share_late: float = Field(ge=0, le=1)
    share_stale: float = Field(ge=0, le=1)
    share_never: float = Field(ge=0, le=1)


class BedGroup(BaseModel):
    """Active units of one region, age group and involuntary acceptance."""

    region: str = Field(
        description="The region's name: a Missouri county, or a region of counties, or "
        f'"{NOT_IN_A_REGION}" (see grouped_by and region_meaning).'
    )
    region_fips: str | None = Field(
        description="The county's FIPS code when grouped by county; null when grouped by region."
    )
    region_id: int | None = Field(
        default=None,
        description="The region's id (GET /api/v1/regions) when grouped by region; null "
        f'when grouped by county and for "{NOT_IN_A_REGION}".',
    )
    population: Population
    accepts_involuntary: bool
    units: int
    free_beds: int = Field(description="Available less held beds, summed (not suppressed).")
    freshness: FreshnessCounts


class BedTotals(BaseModel):
    units: int
    free_beds: int
    freshness: FreshnessCounts


class PublicUnit(BaseModel):
    name: str
    population: Population
    accepts_involuntary: bool
    free_beds: int
    freshness: Freshness
    as_of: datetime | None = Field(description="When the facility measured the numbers (UTC).")


class PublicFacility(BaseModel):
    name: str
    city: str
    region: str = Field(description="The facility's county (whatever beds are grouped by).")
    region_fips: str = Field(description="The facility's county's FIPS code.")
    units: list[PublicUnit]


class MonthCounts(BaseModel):
    """One local month (``BEDBOARD_TIMEZONE``, America/Chicago by default)."""

    month: str = Field(description="YYYY-MM in the program's time zone.")
    starts_at: datetime = Field(description="The month's first moment (UTC).")
    ends_at: datetime = Field(description="The next month's first moment (UTC).")
    placement_requests: PeopleCount = Field(description="Placements recorded in the month.")
    admitted: PeopleCount = Field(description="Placements admitted in the month.")
    closed_without_bed: PeopleCount = Field(
        description="Placements closed in the month as order_expired or released, never admitted."
    )


class MonthTotals(BaseModel):
    placement_requests: PeopleCount
    admitted: PeopleCount
    closed_without_bed: PeopleCount


class PublicSummary(BaseModel):
    """Bed capacity and program counts anyone may read. No person-level data; counts of
    people follow small-cell suppression (PeopleCount)."""

    generated_at: datetime = Field(
        description="When these figures were computed (database clock, UTC); at most "
        f"{CACHE_SECONDS} s before the answer on the instance that served it."
    )
    time_zone: str = Field(description="The zone the months are counted in.")
    grouped_by: Grouping = Field(
        default="county",
        description="What beds are grouped by: county (no regions are defined) or region.",
    )
    region_meaning: str = Field(description="What a region is.")
    small_cell_max: int = Field(
        default=SMALL_CELL_MAX, description="Counts of people from 1 to this are suppressed."
    )
    beds: list[BedGroup]
    bed_totals: BedTotals
    months: list[MonthCounts] = Field(description="Oldest first: the 12 complete months.")
    month_totals: MonthTotals = Field(
        description="Each measure over the 12 months; not shown when any month of it is."
    )
    facilities: list[PublicFacility] | None = Field(
        default=None,
        description="Facility- and unit-level figures; null unless the administrator sets "
        "BEDBOARD_PUBLIC_FACILITIES=true.",
    )


# --------------------------------------------------------------------------- queries

_STATE = sql_state("c.as_of", "f.report_cadence_minutes", "now()")

_BEDS_SQL = f"""
    SELECT f.county_fips AS region_fips, co.name AS region_name, NULL::bigint AS region_id,
           u.population, u.accepts_involuntary,
           count(*) AS units, sum({sql_free("c")}) AS free_beds,
           count(*) FILTER (WHERE s.state = 'fresh') AS fresh,
           count(*) FILTER (WHERE s.state = 'late') AS late,
           count(*) FILTER (WHERE s.state = 'stale') AS stale,
           count(*) FILTER (WHERE s.state = 'never') AS never
      FROM units u
      JOIN facilities f ON f.id = u.facility_id
      JOIN counties co ON co.fips = f.county_fips
      LEFT JOIN unit_census c ON c.unit_id = u.id
     CROSS JOIN LATERAL (SELECT {_STATE} AS state) s
     WHERE u.active AND f.active
     GROUP BY f.county_fips, co.name, u.population, u.accepts_involuntary
"""  # noqa: S608 -- composed only of constant fragments

# The same by region of the facility's county (NULL: a county in no region).
_BEDS_BY_REGION_SQL = f"""
    SELECT NULL::text AS region_fips, COALESCE(r.name, '{NOT_IN_A_REGION}') AS region_name,
           r.id AS region_id, u.population, u.accepts_involuntary,
           count(*) AS units, sum({sql_free("c")}) AS free_beds,
           count(*) FILTER (WHERE s.state = 'fresh') AS fresh,
           count(*) FILTER (WHERE s.state = 'late') AS late,
           count(*) FILTER (WHERE s.state = 'stale') AS stale,
           count(*) FILTER (WHERE s.state = 'never') AS never
      FROM units u
      JOIN facilities f ON f.id = u.facility_id
      LEFT JOIN region_counties rc ON rc.county_fips = f.county_fips
      LEFT JOIN regions r ON r.id = rc.region_id
      LEFT JOIN unit_census c ON c.unit_id = u.id
     CROSS JOIN LATERAL (SELECT {_STATE} AS state) s
     WHERE u.active AND f.active
     GROUP BY r.id, r.name, u.population, u.accepts_involuntary
"""  # noqa: S608 -- composed only of constant fragments
_ANY_REGION_SQL = "SELECT EXISTS (SELECT 1 FROM regions)"

_FACILITY_UNITS_SQL = f"""
    SELECT f.id AS facility_id, f.name AS facility_name, f.city, f.county_fips,
           co.name AS county_name, u.name, u.population, u.accepts_involuntary,
           {sql_free("c")} AS free_beds, c.as_of, {_STATE} AS state
      FROM units u
      JOIN facilities f ON f.id = u.facility_id
      JOIN counties co ON co.fips = f.county_fips
      LEFT JOIN unit_census c ON c.unit_id = u.id
     WHERE u.active AND f.active
     ORDER BY f.name, f.id, u.name
"""  # noqa: S608 -- composed only of constant fragments

# The 12 complete local months before the current one, oldest first. Only counts of time
# columns and the outcome are read; nothing about the person.
_MONTHS_SQL = f"""
    WITH local_months AS (
        SELECT generate_series(
                   date_trunc('month', now() AT TIME ZONE $1) - make_interval(months => $2),
                   date_trunc('month', now() AT TIME ZONE $1) - interval '1 month',
                   interval '1 month') AS local_start
    ), months AS (
        SELECT local_start,
               local_start AT TIME ZONE $1 AS starts_at,
               (local_start + interval '1 month') AT TIME ZONE $1 AS ends_at
          FROM local_months
    )
    SELECT m.local_start::date AS month, m.starts_at, m.ends_at,
           (SELECT count(*) FROM placements p
             WHERE p.created_at >= m.starts_at AND p.created_at < m.ends_at) AS requests,
           (SELECT count(*) FROM placements p
             WHERE p.admitted_at >= m.starts_at AND p.admitted_at < m.ends_at) AS admitted,
           (SELECT count(*) FROM placements p
             WHERE p.closed_at >= m.starts_at AND p.closed_at < m.ends_at
               AND p.status = 'closed' AND p.admitted_at IS NULL
               AND p.outcome IN ({", ".join(f"'{o}'" for o in NO_BED_OUTCOMES)})) AS closed_without_bed
      FROM months m
     ORDER BY m.local_start
"""  # noqa: S608 -- composed only of constant fragments


def freshness_counts(fresh: int, late: int, stale: int, never: int) -> FreshnessCounts:
    units = fresh + late + stale + never

    def share(n: int) -> float:
        return round(n / units, 4) if units else 0.0

    return FreshnessCounts(
        fresh=fresh,
        late=late,
        stale=stale,
        never=never,
        share_fresh=share(fresh),
        share_late=share(late),
        share_stale=share(stale),
        share_never=share(never),
    )


def _bed_groups(rows: Sequence[Any]) -> tuple[list[BedGroup], BedTotals]:
    age = {p.value: i for i, p in enumerate(AGE_ORDER)}
    # By name ("Not in a region", whose id is null, after every region), then age group.
    ordered = sorted(
        rows,
        key=lambda r: (
            r["region_fips"] is None and r["region_id"] is None,
            r["region_name"].lower(),
            r["region_fips"] or "",
            r["region_id"] or 0,
            age[r["population"]],
            not r["accepts_involuntary"],
        ),
    )
    groups = [
        BedGroup(
            region=r["region_name"],
            region_fips=r["region_fips"],
            region_id=r["region_id"],
            population=Population(r["population"]),
            accepts_involuntary=r["accepts_involuntary"],
            units=r["units"],
            free_beds=r["free_beds"],
            freshness=freshness_counts(r["fresh"], r["late"], r["stale"], r["never"]),
        )
        for r in ordered
    ]
    totals = BedTotals(
        units=sum(g.units for g in groups),
        free_beds=sum(g.free_beds for g in groups),
        freshness=freshness_counts(
            *(sum(getattr(g.freshness, s.value) for g in groups) for s in Freshness)
        ),
    )
    return groups, totals


def _months(rows: Sequence[Any]) -> tuple[list[MonthCounts], MonthTotals]:
    months = []
    for r in rows:
        start: date = r["month"]
        months.append(
            MonthCounts(
                month=f"{start.year:04d}-{start.month:02d}",
                starts_at=r["starts_at"],
                ends_at=r["ends_at"],
                placement_requests=people_count(r["requests"]),
                admitted=people_count(r["admitted"]),
                closed_without_bed=people_count(r["closed_without_bed"]),
            )
        )
    sums = {
        name: sum(int(r[column]) for r in rows)
        for name, column in (
            ("placement_requests", "requests"),
            ("admitted", "admitted"),
            ("closed_without_bed", "closed_without_bed"),
        )
    }
    totals = MonthTotals(
        **{
            name: people_total([getattr(m, name) for m in months], total)
            for name, total in sums.items()
        }
    )
    return months, totals


def _facilities(rows: Sequence[Any]) -> list[PublicFacility]:
    facilities: dict[int, PublicFacility] = {}
    for r in rows:
        facility = facilities.get(r["facility_id"])
        if facility is None:
            facility = facilities[r["facility_id"]] = PublicFacility(
                name=r["facility_name"],
                city=r["city"],
                region=r["county_name"],
                region_fips=r["county_fips"],
                units=[],
            )
        facility.units.append(
            PublicUnit(
                name=r["name"],
                population=Population(r["population"]),
                accepts_involuntary=r["accepts_involuntary"],
                free_beds=r["free_beds"],
                freshness=Freshness(r["state"]),
                as_of=r["as_of"],
            )
        )
    return list(facilities.values())


async def summary(conn: Connection, *, zone: str, with_facilities: bool) -> PublicSummary:
    """The public summary, read in one repeatable-read snapshot (four statements, or
    three without facilities): free beds by region once regions are defined, by county
    until then."""
    async with consistent_read(conn):
        now: datetime = await conn.fetchval("SELECT now()")
        by_region = bool(await conn.fetchval(_ANY_REGION_SQL))
        bed_rows = await conn.fetch(_BEDS_BY_REGION_SQL if by_region else _BEDS_SQL)
        month_rows = await conn.fetch(_MONTHS_SQL, zone, MONTHS)
        facility_rows = await conn.fetch(_FACILITY_UNITS_SQL) if with_facilities else []
    beds, bed_totals = _bed_groups(bed_rows)
    months, month_totals = _months(month_rows)
    return PublicSummary(
        generated_at=now,
        time_zone=zone,
        grouped_by="region" if by_region else "county",
        region_meaning=REGION_MEANING if by_region else COUNTY_MEANING,
        beds=beds,
        bed_totals=bed_totals,
        months=months,
        month_totals=month_totals,
        facilities=_facilities(facility_rows) if with_facilities else None,
    )


# --------------------------------------------------------------------------- the cache


@dataclass(frozen=True)
class Cached:
    """One computed summary, its JSON (encoded once), and when (this instance's clock)."""

    summary: PublicSummary
    body: bytes
    at: float

    def age_s(self, now: float) -> int:
        return max(int(now - self.at), 0)


class SummaryCache:
    """The summary, computed at most once per ``CACHE_SECONDS`` on this instance: every
    request within that time gets the same answer (and while one request computes, the
    others wait for it). The clock is ``time.time`` so tests move it with time-machine."""

    def __init__(
        self,
        *,
        zone: str,
        with_facilities: bool,
        max_age_s: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.zone = zone
        self.with_facilities = with_facilities
        self.max_age_s = max_age_s
        self.clock = clock
        self.computations = 0
        self._cached: Cached | None = None
        self._building: asyncio.Future[Cached] | None = None

    def _current(self, now: float) -> Cached | None:
        cached = self._cached
        # A clock moved backwards makes the answer's age unknowable: compute again.
        if cached is not None and cached.at <= now < cached.at + self.max_age_s:
            return cached
        return None

    async def get(self, pool: Pool) -> Cached:
        cached = self._current(self.clock())
        if cached is not None:
            return cached
        if self._building is not None:
            return await asyncio.shield(self._building)
        future: asyncio.Future[Cached] = asyncio.get_running_loop().create_future()
        self._building = future
        try:
            async with acquire(pool) as conn:
                result = await summary(conn, zone=self.zone, with_facilities=self.with_facilities)
            cached = Cached(result, result.model_dump_json().encode(), self.clock())
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters (if any) get it too
            raise
        finally:
            self._building = None
        self.computations += 1
        self._cached = cached
        future.set_result(cached)
        return cached
