"""Board, bed search and census-report pages."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bedboard import board, census, facilities, search
from bedboard.access import Action, Resource
from bedboard.auth import Role
from bedboard.census import CensusReport
from bedboard.context import CENSUS_OUTCOMES, POOL, authorize
from bedboard.database import acquire
from bedboard.errors import Invalid
from bedboard.facilities import PAYERS, SPECIALTIES, Population, SecurityLevel
from bedboard.pages import domain_errors, field_errors, labels, render, require_role
from bedboard.search import SearchQuery


def _choices(values: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ").capitalize()) for v in values]


SORTS = (("name", "Facility name"), ("free", "Most free beds"), ("distance", "Nearest first"))


@dataclass(frozen=True)
class BoardFilters:
    """What the board's filter form asks for (the same rules board.js applies in the page)."""

    population: str = ""
    county: str = ""
    need: str = ""
    beds: bool = False
    name: str = ""
    sort: str = "name"
    near: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> BoardFilters:
        sort = query.get("sort", "name")
        return cls(
            population=query.get("population", ""),
            county=query.get("county", ""),
            need=query.get("need", ""),
            beds=query.get("beds") == "1",
            name=query.get("name", "").strip(),
            sort=sort if sort in dict(SORTS) else "name",
            near=query.get("near", ""),
        )

    def shows(self, facility: board.FacilityState, unit: board.UnitState) -> bool:
        return (
            (not self.county or facility.county_fips == self.county)
            and (not self.name or self.name.casefold() in facility.name.casefold())
            and (not self.population or unit.population.value == self.population)
            and (not self.need or self.need in unit.specialties)
            and (not self.beds or unit.free > 0)
        )


def _miles_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance, as bed search measures it; not road distance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dlat, dlon = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dlat / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlon / 2) ** 2
    return 2 * search.EARTH_RADIUS_KM * math.asin(math.sqrt(h)) / search.KM_PER_MILE


async def board_page(request: web.Request) -> web.StreamResponse:
    """The board, filtered and sorted as the query string asks, so the page reads right before
    (or without) board.js, which applies the same rules as the user changes the form."""
    require_role(request)
    filters = BoardFilters.from_query(request.query)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.BOARD_READ, Resource("board"))
        snapshot = await board.snapshot(conn)
        counties = await facilities.list_counties(conn)
    origin = next((c for c in counties if c.fips == filters.near), None)
    miles = {
        f.id: _miles_between(origin.latitude, origin.longitude, f.latitude, f.longitude)
        for f in snapshot.facilities
        if origin is not None
    }
    shown = {u.id for f in snapshot.facilities for u in f.units if filters.shows(f, u)}
    pairs = [(f, u) for f in snapshot.facilities for u in f.units]
    name_rank = {u.id: i for i, (_, u) in enumerate(pairs)}
    ordered = list(snapshot.facilities)
    if filters.sort == "free":
        ordered.sort(key=lambda f: -sum(u.free for u in f.units if u.id in shown))
        pairs.sort(key=lambda pair: -pair[1].free)
    elif filters.sort == "distance" and miles:
        ordered.sort(key=lambda f: miles[f.id])
        pairs.sort(key=lambda pair: (miles[pair[0].id], -pair[1].free))
    in_use = {f.county_fips for f in snapshot.facilities}
    return render(
        request,
        "board.html",
        board=snapshot,
        facilities_in_order=ordered,
        units_in_order=pairs,
        name_rank=name_rank,
        facility_rank={f.id: i for i, f in enumerate(snapshot.facilities)},
        shown=shown,
        miles=miles,
        filters=filters,
        sorts=SORTS,
        counties=[c for c in counties if c.fips in in_use],
        all_counties=counties,
        populations=labels.choices([p.value for p in Population], "population"),
        specialties=labels.choices(SPECIALTIES, "specialty"),
        totals={
            "free": sum(u.free for _, u in pairs if u.id in shown),
            "facilities": len({f.id for f, u in pairs if u.id in shown}),
            "overdue": sum(1 for f in snapshot.facilities if f.overdue),
        },
    )


# --------------------------------------------------------------------------- search

SEARCH_LABELS = {
    "county": "The person's county",
    "age": "Age",
    "sex": "Sex",
    "population": "Age group",
    "gender": "Unit gender",
    "security": "Lowest security level",
    "payer": "Payer",
    "max_miles": "Distance",
    "needs": "Needs",
}
SEARCH_MESSAGES = {
    "county": "Choose the county where the person is.",
    "age": "Enter the age as a whole number from 0 to 130, or leave it blank.",
    "max_miles": "Enter a distance in miles greater than 0 (at most 1,900), or leave it blank.",
}
_SEARCH_FIELDS = ("county", "age", "sex", "population", "gender", "security", "payer", "max_miles")
SEARCH_PAGE_SIZE = 50


def _search_query(
    request: web.Request,
) -> tuple[SearchQuery | None, dict[str, str], dict[str, Any]]:
    """The search form's values, parsed (None before the first search) and any field
    errors. Only the form's own fields are read, so anything else in the address (a
    browser's or a macro's extra parameter) cannot fail the search."""
    q = request.query
    values: dict[str, Any] = {k: q[k] for k in _SEARCH_FIELDS if q.get(k, "") != ""}
    values["needs"] = [v for v in q.getall("needs", []) if v]
    for flag in ("involuntary", "court_ordered", "include_stale"):
        values[flag] = q.get(flag) == "true"
    limit = q.get("limit", "")
    if limit.isdigit():
        values["limit"] = min(int(limit), 500)
    if "county" not in q:
        return None, {}, values
    if not values.get("county"):  # the page searches from a county (lat/lon is for the API)
        return None, {"county": SEARCH_MESSAGES["county"]}, values
    try:
        return SearchQuery.model_validate(values), {}, values
    except ValidationError as exc:
        return None, field_errors(exc, SEARCH_LABELS, SEARCH_MESSAGES), values


async def _run_search(request: web.Request) -> dict[str, Any]:
    query, errors, values = _search_query(request)
    result = None
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.SEARCH, Resource("search"))
        counties = await facilities.list_counties(conn)
        if query is not None:
            try:
                result = await search.search(conn, query)
            except Invalid as exc:
                errors = domain_errors(exc)
    more = None
    if result is not None and result.excluded.get("beyond_limit"):
        more = request.rel_url.update_query(limit=min(len(result.results) + SEARCH_PAGE_SIZE, 500))
    return {
        "values": values,
        "errors": errors,
        "result": result,
        "more_url": str(more) if more else "",
        "counties": [("", "— choose —"), *[(c.fips, c.name) for c in counties]],
        "sexes": [("", "Not given"), *labels.SEX.items()],
        "populations": [("", "From the age (any if no age)"), *labels.POPULATION.items()],
        "genders": [("", "From the sex (any if not given)"), *labels.UNIT_GENDER.items()],
        "securities": [("", "Any"), *labels.choices([s.value for s in SecurityLevel], "security")],
        "specialties": labels.choices(SPECIALTIES, "specialty"),
        "payers": [("", "Any"), *labels.choices(PAYERS, "payer")],
        "reason_text": search.reason_text,
    }


async def search_page(request: web.Request) -> web.StreamResponse:
    require_role(request, Role.LIAISON, Role.SUPERVISOR, Role.ADMIN)
    context = await _run_search(request)
    status = 422 if context["errors"] else 200
    return render(request, "search.html", status=status, **context)


async def search_results_fragment(request: web.Request) -> web.StreamResponse:
    """Just the results, for the page to refresh itself when the board changes."""
    require_role(request, Role.LIAISON, Role.SUPERVISOR, Role.ADMIN)
    return render(request, "_search_results.html", **await _run_search(request))


# --------------------------------------------------------------------------- census form


async def _census_context(request: web.Request) -> dict[str, Any]:
    principal = require_role(request, Role.FACILITY, Role.ADMIN)
    async with acquire(request.app[POOL]) as conn:
        snapshot = await board.snapshot(conn)
    wanted = request.query.get("facility_id", "")
    if principal.role is Role.ADMIN:
        mine = [f for f in snapshot.facilities if str(f.id) == wanted]
    else:
        mine = [f for f in snapshot.facilities if f.id in principal.facility_ids]
    return {"facilities": mine, "overdue": any(f.overdue for f in mine)}


async def census_page(request: web.Request) -> web.StreamResponse:
    context = await _census_context(request)
    return render(
        request, "census.html", errors={}, results={}, values={}, submitted=False, **context
    )


def _row_values(form: Any, unit_id: int) -> dict[str, str]:
    return {
        k: str(form.get(f"{k}-{unit_id}", "")).strip() for k in ("staffed", "occupied", "blocked")
    }


def read_census_rows(
    form: Any, shown: list[board.FacilityState], now: datetime
) -> tuple[list[tuple[int, CensusReport]], dict[int, dict[str, str]], dict[int, dict[str, str]]]:
    """The census form's rows of the facilities ``shown``, as of ``now``: the reports to
    apply, the sentences of invalid rows by unit, and the values typed (to show again).
    Blank rows are not reported. The nudge form (pages/links.py) reads the same rows."""
    reports: list[tuple[int, CensusReport]] = []
    errors: dict[int, dict[str, str]] = {}
    values: dict[int, dict[str, str]] = {}
    for facility in shown:
        for unit in facility.units:
            row = _row_values(form, unit.id)
            values[unit.id] = row
            if not row["staffed"] and not row["occupied"]:
                continue  # left blank: not reported
            try:
                reports.append(
                    (
                        unit.id,
                        CensusReport.model_validate(
                            {
                                "as_of": now,
                                "staffed": row["staffed"] or None,
                                "occupied": row["occupied"] or None,
                                "blocked": row["blocked"] or 0,
                            }
                        ),
                    )
                )
            except ValidationError as exc:
                errors[unit.id] = field_errors(exc)
    return reports, errors, values


async def census_submit(request: web.Request) -> web.StreamResponse:
    """All rows of the form in one transaction; any invalid row keeps every row unapplied."""
    principal = require_role(request, Role.FACILITY, Role.ADMIN)
    context = await _census_context(request)
    form = await request.post()
    async with acquire(request.app[POOL]) as conn:
        now = await board.db_now(conn)  # the same clock the future-date check uses
    reports, errors, values = read_census_rows(form, context["facilities"], now)
    results: dict[int, census.ApplyResult] = {}
    if not errors and reports:
        async with acquire(request.app[POOL]) as conn:
            for facility_id in sorted({f.id for f in context["facilities"]}):
                scope = Resource("facility", facility_id, facility_id)
                authorize(request, Action.CENSUS_REPORT, scope)
            applied = await census.apply(conn, reports, census.Source("form", principal.user_id))
        for result in applied:
            request.app[CENSUS_OUTCOMES].labels(result.outcome.value).inc()
            results[result.unit_id] = result
        context = await _census_context(request)
        values = {}
    status = 422 if errors else 200
    return render(
        request,
        "census.html",
        status=status,
        errors=errors,
        results=results,
        values=values,
        submitted=True,
        **context,
    )


async def favicon(request: web.Request) -> web.StreamResponse:
    """Browsers and tools that ask for /favicon.ico get the SVG icon the pages link to."""
    raise web.HTTPFound(request.app.router["static"].url_for(filename="favicon.svg"))


def setup(app: web.Application) -> None:
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/board", board_page)
    app.router.add_get("/search", search_page)
    app.router.add_get("/search/results", search_results_fragment)
    app.router.add_get("/census", census_page)
    app.router.add_post("/census", census_submit)
