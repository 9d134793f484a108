"""The court's case-number lookup."""

from __future__ import annotations

from aiohttp import web

from bedboard import courts, placements
from bedboard.access import Action, Resource
from bedboard.auth import Role
from bedboard.context import POOL, authorize
from bedboard.database import acquire
from bedboard.pages import render, require_role

# --------------------------------------------------------------------------- court


async def court_page(request: web.Request) -> web.StreamResponse:
    principal = require_role(request, Role.COURT, Role.LIAISON, Role.ADMIN)
    case_number = request.query.get("case_number", "").strip()[:60]
    items = None
    court_name = ""
    async with acquire(request.app[POOL]) as conn:
        court_id = principal.court_id if principal.role is Role.COURT else None
        if court_id is not None:
            court_name = (await courts.get_court(conn, court_id)).name
        if case_number:
            authorize(request, Action.COURT_LOOKUP, Resource("court", court_id, court_id=court_id))
            items = await placements.look_up_case(conn, court_id, case_number, principal)
    return render(
        request,
        "placements/court.html",
        case_number=case_number,
        items=items,
        court_name=court_name,
    )
