"""The signed-in home page (by role) and the read-only facility directory."""

from __future__ import annotations

from aiohttp import web

from bedboard import courts, facilities, overview, placements, regions
from bedboard.access import Action, Resource, region_scope
from bedboard.auth import Role
from bedboard.context import POOL, authorize, record_success
from bedboard.database import acquire
from bedboard.pages import render, require_role


async def home(request: web.Request) -> web.StreamResponse:
    principal = require_role(request)
    async with acquire(request.app[POOL]) as conn:
        # An overdue facility user never gets here without ?anyway=1: the overdue_first
        # middleware (app.py) sends them to the census form first, from any page.
        all_facilities = await facilities.list_facilities(conn, include_inactive=False)
        units = await facilities.list_units(conn)
        counts = await overview.counts(conn) if principal.role is Role.ADMIN else {}
        open_placements = []
        my_region = None
        if principal.role in (Role.LIAISON, Role.SUPERVISOR):
            # Their open placements (a supervisor's: their region's), the nearest deadline
            # (and so the raised alerts) first.
            authorize(request, Action.PLACEMENT_LIST, Resource("placement"))
            open_placements = await placements.list_placements(
                conn,
                liaison_id=principal.user_id if principal.role is Role.LIAISON else None,
                counties=region_scope(principal),
                active_only=True,
                limit=10,
            )
            await record_success(
                request, conn, "placement.list", "placement", "", {"count": len(open_placements)}
            )
        if principal.role is Role.SUPERVISOR and principal.region_id is not None:
            my_region = await regions.get_region(conn, principal.region_id)
        my_court = (
            await courts.get_court(conn, principal.court_id)
            if principal.role is Role.COURT and principal.court_id is not None
            else None
        )
    return render(
        request,
        "home.html",
        counts=counts,
        facilities=all_facilities,
        my_facilities=[f for f in all_facilities if f.id in principal.facility_ids],
        my_units=[u for u in units if u.facility_id in principal.facility_ids],
        my_court=my_court,
        my_region=my_region,
        items=open_placements,
        show="open",
        show_label="Open",
        values={"q": ""},
        licensed_beds=sum(u.licensed_beds for u in units if u.active),
    )


async def directory(request: web.Request) -> web.StreamResponse:
    require_role(request)
    async with acquire(request.app[POOL]) as conn:
        all_facilities = await facilities.list_facilities(conn, include_inactive=False)
        units = await facilities.list_units(conn)
    by_facility: dict[int, list[facilities.Unit]] = {}
    for unit in units:
        if unit.active:
            by_facility.setdefault(unit.facility_id, []).append(unit)
    return render(request, "directory.html", facilities=all_facilities, units=by_facility)


def setup(app: web.Application) -> None:
    app.router.add_get("/", home)
    app.router.add_get("/directory", directory)
