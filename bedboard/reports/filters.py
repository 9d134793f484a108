"""What every report is filtered by, and who sees which part of it.

Dates are the users' local days (America/Chicago by default): ``from`` and ``to`` are
inclusive, and become the UTC instants ``[from 00:00 local, the day after to 00:00
local)``. Without them a report covers the last twelve local months up to today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bedboard.auth import Principal, Role
from bedboard.facilities import Population, Tag
from bedboard.fields import DbId

DEFAULT_DAYS = 365
MAX_DAYS = 3 * 366  # a report spans at most about three years


class Filters(BaseModel):
    """The filters of a report, as the query string (and the page's form) gives them."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: date | None = Field(
        default=None, alias="from", description="First local day (inclusive), YYYY-MM-DD."
    )
    to: date | None = Field(default=None, description="Last local day (inclusive), YYYY-MM-DD.")
    county: str | None = Field(
        default=None, pattern=r"^\d{5}$", description="County FIPS code (5 digits)."
    )
    region: DbId | None = Field(
        default=None,
        description="Region id: the county (as the county filter means it) is one of the "
        "region's counties. An unknown region matches nothing.",
    )
    court_id: DbId | None = Field(default=None, description="Court (placements it ordered).")
    facility_id: DbId | None = Field(
        default=None, description="Facility (its units; for placements: referred to it)."
    )
    order_type: str | None = Field(
        default=None, pattern=r"^[a-z0-9_]{1,40}$", description="Order type code."
    )
    population: Population | None = Field(
        default=None, description="Age group of the unit or person."
    )
    needs: Tag | None = Field(
        default=None,
        description="A need (specialty code): placements of a person with this need; "
        "units that serve it.",
    )
    format: str | None = Field(
        default=None, pattern=r"^(json|csv)$", description="csv for RFC 4180 CSV, else JSON."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Filters:
        if self.from_ and self.to:
            if self.from_ > self.to:
                raise ValueError("from must not be after to")
            if (self.to - self.from_).days > MAX_DAYS:
                raise ValueError(f"a report spans at most {MAX_DAYS} days")
        return self

    def span(self, today: date) -> tuple[date, date]:
        """The inclusive local days covered."""
        last = self.to or today
        first = self.from_ or (last - timedelta(days=DEFAULT_DAYS - 1))
        return first, last

    def instants(self, today: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        first, last = self.span(today)
        start = datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC)
        stop = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
        return start, stop

    def query_string(self) -> dict[str, str]:
        """The filters as query parameters (for links and the CSV download)."""
        out: dict[str, str] = {}
        for name, value in self.model_dump(by_alias=True, exclude_none=True).items():
            if name != "format":
                out[name] = str(value.value if hasattr(value, "value") else value)
        return out


@dataclass(frozen=True)
class Scope:
    """Whose figures a principal sees: everything (``facility_ids`` None), or its own
    facilities by name with every other facility combined into one row; a court user
    only its own court's placements."""

    role: Role
    facility_ids: frozenset[int] | None = None
    court_id: int | None = None

    @classmethod
    def of(cls, principal: Principal) -> Scope:
        if principal.role is Role.FACILITY:
            return cls(principal.role, frozenset(principal.facility_ids))
        if principal.role is Role.COURT:
            return cls(principal.role, court_id=principal.court_id)
        return cls(principal.role)

    def own(self) -> list[int] | None:
        return sorted(self.facility_ids) if self.facility_ids is not None else None


def sql_parameters(
    filters: Filters,
    scope: Scope,
    *,
    today: date,
    zone: ZoneInfo,
    zone_name: str,
    region_counties: list[str] | None = None,
) -> list[Any]:
    """The eleven parameters every figure's SQL takes, in order (``FILTER_CTE``).
    ``region_counties`` is the FIPS codes of the region filter's counties (the caller
    reads them in the report's snapshot), None without a region filter."""
    if filters.region is not None and region_counties is None:
        raise ValueError("a region filter needs the region's counties")
    start, stop = filters.instants(today, zone)
    # A court user sees only its own court's placements (0 matches none: a court account
    # without a court sees nothing, not everything).
    court = (scope.court_id or 0) if scope.role is Role.COURT else filters.court_id
    return [
        start,
        stop,
        zone_name,
        filters.county,
        court,
        filters.facility_id,
        filters.order_type,
        filters.population.value if filters.population else None,
        scope.own(),
        None if filters.region is None else list(region_counties or []),
        filters.needs,
    ]


# Every figure's SQL begins with this: the parameters, typed once, as one row ``f``.
FILTER_CTE = """
    f AS (
        SELECT $1::timestamptz AS start, $2::timestamptz AS stop, $3::text AS zone,
               $4::text AS county, $5::bigint AS court, $6::bigint AS facility,
               $7::text AS order_type, $8::text AS population, $9::bigint[] AS own,
               $10::text[] AS counties, $11::text AS needs
    )"""


def in_area(column: str) -> str:
    """The county and region filters on a county column (``f.county``, ``f.counties``)."""
    return (
        f"(f.county IS NULL OR {column} = f.county)"
        f" AND (f.counties IS NULL OR {column} = ANY(f.counties))"
    )


def rollup_in_area(column: str) -> str:
    """The same, on the parameters themselves ($4, $10: the roll-up statements)."""
    return (
        f"($4::text IS NULL OR {column} = $4::text)"
        f" AND ($10::text[] IS NULL OR {column} = ANY($10::text[]))"
    )
