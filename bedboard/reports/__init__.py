"""Program reports: the figures the program publishes, computed live from the records.

``figures`` holds each figure's one SQL statement and how it is shown; ``filters`` what
every report is filtered by and whose figures a principal sees. ``run`` is the use case
the API and the pages call: authorize, run the statement, type the values. ``to_csv``
writes the same rows as RFC 4180 CSV. ``rollups`` keeps the roll-ups the compliance and
capacity figures read once they exist. Nothing here carries person-level data: every
figure is a count, a duration or a rate over groups (the canary test checks).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from bedboard import regions
from bedboard.access import Action, Resource, decide
from bedboard.auth import Principal, Role
from bedboard.database import Connection, consistent_read
from bedboard.errors import NotFound
from bedboard.reports import rollups
from bedboard.reports.figures import FIGURES, Column, Figure
from bedboard.reports.filters import Filters, Scope, sql_parameters

Value = str | int | float | None

# What every report statement runs under (``run``; the benchmark's bare SQL too).
SESSION_SQL = (
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
    " set_config('work_mem', '64MB', true)"
)


class ReportColumn(BaseModel):
    key: str
    label: str
    kind: str = Field(
        description="text, int, hours, rate (0..1), month (YYYY-MM), day, beds, mean (beds)."
    )


class FigureInfo(BaseModel):
    slug: str
    title: str
    family: str
    summary: str
    filters: list[str]


class FigureList(BaseModel):
    figures: list[FigureInfo]


class Report(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
    figure: str
    title: str
    summary: str
    from_: date = Field(alias="from", description="First local day covered (inclusive).")
    to: date = Field(description="Last local day covered (inclusive).")
    time_zone: str = Field(description="The zone of the days and months.")
    filters: dict[str, str] = Field(description="The filters applied, as the query gave them.")
    generated_at: datetime
    data_as_of: datetime | None = Field(
        default=None,
        description=(
            "For a figure read from the roll-ups (compliance, capacity): it counts the "
            "reports received up to this instant (refreshed every few minutes). Null: "
            "computed from the records as they are now."
        ),
    )
    columns: list[ReportColumn]
    rows: list[dict[str, Value]]


def report_resource(slug: str) -> Resource:
    return Resource(f"report:{slug}")


def may_read(principal: Principal, figure: Figure) -> bool:
    return decide(principal, Action.REPORT_READ, report_resource(figure.slug)).allowed


def visible(principal: Principal) -> list[Figure]:
    """The figures this principal may open, in the order the index lists them."""
    return [figure for figure in FIGURES.values() if may_read(principal, figure)]


def audience(slug: str) -> frozenset[Role]:
    """Who may read a figure besides administrators and liaisons (``access.decide``)."""
    figure = FIGURES.get(slug)
    return figure.also if figure is not None else frozenset()


def figure_named(slug: str) -> Figure:
    figure = FIGURES.get(slug)
    if figure is None:
        raise NotFound("report", f"There is no report named {slug[:60]!r}.")
    return figure


def _typed(column: Column, value: Any) -> Value:
    if value is None:
        return None
    if column.kind in ("hours", "mean"):
        return round(float(value), 2)
    if column.kind == "rate":
        return round(float(value), 4)
    if column.kind in ("int", "beds"):
        return int(value)
    if column.kind == "day" and isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _area(county: str | None, region_counties: list[str] | None) -> frozenset[str] | None:
    """The counties the county and region filters leave (both: the county if it is in the
    region), None for every county."""
    area: frozenset[str] | None = None if county is None else frozenset({county})
    if region_counties is not None:
        area = frozenset(region_counties) if area is None else area & set(region_counties)
    return area


async def run(
    conn: Connection,
    slug: str,
    filters: Filters,
    principal: Principal,
    *,
    zone_name: str,
) -> Report:
    """One figure for ``principal`` under ``filters``, its scope applied (the caller has
    authorized ``Action.REPORT_READ`` on ``report_resource(slug)``). One statement, in a
    repeatable-read snapshot with its clock."""
    figure = figure_named(slug)
    zone = ZoneInfo(zone_name)
    async with consistent_read(conn):
        # Plan each report for its own period and filters: after five runs PostgreSQL may
        # cache a generic plan, and for these statements one took minutes where the custom
        # plan takes a quarter of a second (the benchmark's referrals figure at a year).
        # And sort in memory: a year's overdue episodes (half a million) are sorted for
        # their medians.
        await conn.execute(SESSION_SQL)
        now: datetime = await conn.fetchval("SELECT now()")
        today = now.astimezone(zone).date()
        # The region filter's counties, read in the same snapshot as the figure.
        region_counties = (
            await regions.counties_of_regions(conn, [filters.region])
            if filters.region is not None
            else None
        )
        params = sql_parameters(
            filters,
            Scope.of(principal),
            today=today,
            zone=zone,
            zone_name=zone_name,
            region_counties=region_counties,
        )
        records: Sequence[Any]
        data_as_of: datetime | None = None
        rollup = await rollups.state(conn) if figure.rollup_body else None
        if figure.computed is not None:
            start, stop = filters.instants(today, zone)
            records = await figure.computed(
                conn, start, stop, zone_name, _area(filters.county, region_counties)
            )
        elif rollup is not None and rollup.zone == zone_name:
            records = await conn.fetch(figure.rollup_sql, *params)
            data_as_of = rollup.refreshed_at
        else:  # before the first refresh, or just after a change of zone
            records = await conn.fetch(figure.sql, *params)
    first, last = filters.span(today)
    return Report.model_validate(
        {
            "figure": figure.slug,
            "title": figure.title,
            "summary": figure.summary,
            "from": first,
            "to": last,
            "time_zone": zone_name,
            "filters": filters.query_string(),
            "generated_at": now,
            "data_as_of": data_as_of,
            "columns": [
                ReportColumn(key=c.key, label=c.label, kind=c.kind) for c in figure.columns
            ],
            "rows": [{c.key: _typed(c, r[c.key]) for c in figure.columns} for r in records],
        }
    )


def to_csv(report: Report) -> bytes:
    """The report's rows as RFC 4180 CSV (CRLF line ends, a header row of the column
    labels, numbers as in the JSON, empty for no value)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.label for c in report.columns])
    for row in report.rows:
        writer.writerow(["" if row[c.key] is None else row[c.key] for c in report.columns])
    return out.getvalue().encode("utf-8")


def csv_filename(report: Report) -> str:
    return f"bedboard-{report.figure}-{report.from_.isoformat()}-{report.to.isoformat()}.csv"


__all__ = [
    "FIGURES",
    "SESSION_SQL",
    "Figure",
    "FigureInfo",
    "FigureList",
    "Filters",
    "Report",
    "audience",
    "csv_filename",
    "figure_named",
    "may_read",
    "report_resource",
    "run",
    "to_csv",
    "visible",
]
