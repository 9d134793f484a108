"""A placement's phone calls: record one (no bed, has a bed, call back at…, no answer)
and list them. For the liaison side only (the rule of ``placement.write`` and
``placement.timeline``): facilities, courts and viewers see none of it."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from bedboard import placements
from bedboard.access import Action, Resource
from bedboard.api.registry import route
from bedboard.context import POOL, SETTINGS, authorize, path_id, record_success
from bedboard.database import Connection, acquire, transaction
from bedboard.placements import calls


async def _resource(conn: Connection, placement_id: int) -> Resource:
    scope = await placements.scope(conn, placement_id)
    return Resource(
        "placement",
        placement_id,
        court_id=scope.court_id,
        facility_ids=scope.facility_ids,
        county_fips=scope.county_fips,
    )


@route(
    "POST",
    "/api/v1/placements/{id}/calls",
    summary="Record a phone call to a facility about a placement",
    tag="placements",
    status=201,
    responses={
        409: "The placement is admitted, discharged or closed; or, with record_acceptance, "
        "it is no longer open or the unit has no free bed on the board"
    },
)
async def record_call(request: web.Request, body: calls.CallIn) -> calls.Recorded:
    """`outcome` is `no_bed`, `has_bed`, `call_back` (with `call_back_at`, a future time)
    or `no_answer`. `no_bed` is also kept as a census observation by phone, shown on the
    board as “confirmed by phone” while newer than the facility's last report; it never
    changes the reported counts. `has_bed` with `record_acceptance` also refers the
    placement to `unit_id` (unless it is waiting for an answer there already) and records
    the acceptance on the facility's behalf: a bed is held, as when the facility accepts."""
    placement_id = path_id(request)
    hold = timedelta(hours=request.app[SETTINGS].hold_hours)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.PLACEMENT_WRITE, await _resource(conn, placement_id))
        return await calls.record(conn, placement_id, body, principal, hold=hold)


@route(
    "GET", "/api/v1/placements/{id}/calls", summary="A placement's phone calls", tag="placements"
)
async def list_calls(request: web.Request) -> calls.CallList:
    """Newest first."""
    placement_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.PLACEMENT_TIMELINE, await _resource(conn, placement_id))
        items = await calls.calls_of(conn, placement_id)
        await record_success(request, conn, "placement.calls", "placement", placement_id)
    return calls.CallList(items=items)
