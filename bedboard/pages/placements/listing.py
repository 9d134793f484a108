"""The liaison's list of placements (and its live fragment)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from bedboard import courts, facilities, outbox, placements, regions
from bedboard.access import Action, Resource, region_scope
from bedboard.auth import Principal, Role
from bedboard.context import POOL, SETTINGS, authorize, record_success
from bedboard.database import acquire
from bedboard.pages import render, require_role

# --------------------------------------------------------------------------- liaison: list


async def placement_list(request: web.Request) -> web.StreamResponse:
    principal = require_role(request, Role.LIAISON, Role.SUPERVISOR, Role.ADMIN)
    context = await _list_context(request, principal, audit=True)
    return render(
        request, "placements/list.html", status=422 if context["errors"] else 200, **context
    )


async def placement_list_fragment(request: web.Request) -> web.StreamResponse:
    """The list again for a live refresh; the page view that shows it was audited."""
    principal = require_role(request, Role.LIAISON, Role.SUPERVISOR, Role.ADMIN)
    return render(request, "placements/_list.html", **await _list_context(request, principal))


SHOW = {
    "open": ("Open", ("open", "accepted", "in_transit")),
    "admitted": ("Admitted", ("admitted",)),
    "discharged": ("Discharged", ("discharged",)),
    "closed": ("Closed", ("closed",)),
    "all": ("All", ()),
}


SORTS = {
    "deadline": "Nearest deadline",
    "custody": "Longest with an officer",
}


def _local_day(text: str, zone: Any, *, next_day: bool = False) -> datetime:
    day = date.fromisoformat(text)
    if next_day:
        day += timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


async def _list_context(
    request: web.Request, principal: Principal, *, audit: bool = False
) -> dict[str, Any]:
    """The placements list with its filters (all in the address, so a link can be shared):
    show (open, admitted, discharged, closed, all), from / to (local dates of the request), court,
    county, q (a reference, initials or a case number) and sort. A supervisor's list is their
    region's placements (and its county filter, their region's counties)."""
    q = request.query
    mine = principal.role is Role.LIAISON and q.get("all") != "1"
    show = q.get("show", "open") if q.get("show", "open") in SHOW else "open"
    zone = request.app[SETTINGS].zone
    errors: dict[str, str] = {}
    bounds: dict[str, datetime | None] = {"from": None, "to": None}
    for name in ("from", "to"):
        if q.get(name):
            try:
                bounds[name] = _local_day(q[name], zone, next_day=name == "to")
            except ValueError:
                errors[name] = "Enter a date, for example 11/28/2026."
    sort = q.get("sort", "deadline") if q.get("sort") in SORTS else "deadline"
    court = q.get("court", "")
    county = q.get("county", "")
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.PLACEMENT_LIST, Resource("placement"))
        live_seq = await outbox.head(conn)  # before the reads: the page is at least this new
        items = await placements.list_placements(
            conn,
            liaison_id=principal.user_id if mine else None,
            statuses=SHOW[show][1],
            court_id=int(court) if court.isdigit() and len(court) < 19 else None,
            county_fips=county if len(county) == 5 and county.isdigit() else None,
            created_from=bounds["from"],
            created_before=bounds["to"],
            text=q.get("q", "")[:60] or None,
            by_custody=sort == "custody",
            counties=region_scope(principal),
        )
        court_choices = [(str(c.id), c.name) for c in await courts.list_courts(conn)]
        region = None
        if principal.role is Role.SUPERVISOR and principal.region_id is not None:
            region = await regions.get_region(conn, principal.region_id)
            county_choices = [(c.fips, c.name) for c in region.counties]
        else:
            county_choices = [(c.fips, c.name) for c in await facilities.list_counties(conn)]
        if audit:
            await record_success(
                request, conn, "placement.list", "placement", "", {"count": len(items)}
            )
    return {
        "live_seq": live_seq,
        "items": items,
        "now": datetime.now(UTC),
        "waited": placements.waited_words,
        "mine": mine,
        "region": region,
        "show": show,
        "show_label": SHOW[show][0],
        "errors": errors,
        "values": {k: q.get(k, "") for k in ("from", "to", "court", "county", "q")}
        | {"show": show, "sort": sort},
        "sorts": list(SORTS.items()),
        "shows": [(k, v[0]) for k, v in SHOW.items()],
        "court_choices": [("", "Any court"), *court_choices],
        "county_choices": [("", "Any county"), *county_choices],
        "live_query": request.query_string,
    }
