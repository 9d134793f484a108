"""Facilities, units, courts and counties."""

from __future__ import annotations

from aiohttp import web

from bedboard import courts, facilities
from bedboard.access import Action, Resource
from bedboard.api.registry import model_response, route
from bedboard.auth import Role
from bedboard.context import (
    POOL,
    authorize,
    if_match_version,
    path_id,
    require_principal,
    with_etag,
)
from bedboard.courts import Court, CourtIn, CourtList, CourtPatch
from bedboard.database import acquire, transaction
from bedboard.facilities import (
    CountyList,
    Facility,
    FacilityIn,
    FacilityList,
    FacilityPatch,
    Unit,
    UnitIn,
    UnitList,
    UnitPatch,
)


def _json(model: Facility | Unit | Court, status: int = 200) -> web.StreamResponse:
    return with_etag(model_response(model, status), model.version)


@route("GET", "/api/v1/counties", summary="Missouri counties with centroids", tag="directory")
async def list_counties(request: web.Request) -> CountyList:
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.DIRECTORY_READ, Resource("county"))
        return CountyList(items=await facilities.list_counties(conn))


@route("GET", "/api/v1/facilities", summary="List facilities", tag="directory")
async def list_facilities(request: web.Request) -> FacilityList:
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.DIRECTORY_READ, Resource("facility"))
        return FacilityList(items=await facilities.list_facilities(conn))


@route("POST", "/api/v1/facilities", summary="Create a facility", tag="directory", status=201)
async def create_facility(request: web.Request, body: FacilityIn) -> web.StreamResponse:
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.FACILITY_CREATE, Resource("facility"))
        facility = await facilities.create_facility(conn, body, by=principal)
    return _json(facility, 201)


@route("GET", "/api/v1/facilities/{id}", summary="One facility", tag="directory")
async def get_facility(request: web.Request) -> web.StreamResponse:
    facility_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.DIRECTORY_READ, Resource("facility", facility_id, facility_id))
        return _json(await facilities.get_facility(conn, facility_id))


@route(
    "PATCH",
    "/api/v1/facilities/{id}",
    summary="Change a facility",
    tag="directory",
    responses={412: "If-Match does not match the current version"},
)
async def update_facility(request: web.Request, body: FacilityPatch) -> web.StreamResponse:
    """Administrators change anything; a facility's own staff change its contact fields."""
    facility_id = path_id(request)
    action = facilities.facility_update_action(body)
    async with transaction(request.app[POOL]) as conn:
        await facilities.get_facility(conn, facility_id)
        principal = authorize(request, action, Resource("facility", facility_id, facility_id))
        facility = await facilities.update_facility(
            conn, facility_id, body, if_match_version(request), by=principal
        )
    return _json(facility)


@route("GET", "/api/v1/facilities/{id}/units", summary="A facility's units", tag="directory")
async def list_facility_units(request: web.Request) -> UnitList:
    facility_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        await facilities.get_facility(conn, facility_id)
        authorize(request, Action.DIRECTORY_READ, Resource("facility", facility_id, facility_id))
        return UnitList(items=await facilities.list_units(conn, facility_id))


@route("GET", "/api/v1/units", summary="List all units", tag="directory")
async def list_units(request: web.Request) -> UnitList:
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.DIRECTORY_READ, Resource("unit"))
        return UnitList(items=await facilities.list_units(conn))


@route("POST", "/api/v1/units", summary="Create a unit", tag="directory", status=201)
async def create_unit(request: web.Request, body: UnitIn) -> web.StreamResponse:
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.UNIT_CREATE, Resource("unit", None, body.facility_id))
        unit = await facilities.create_unit(conn, body, by=principal)
    return _json(unit, 201)


@route("GET", "/api/v1/units/{id}", summary="One unit", tag="directory")
async def get_unit(request: web.Request) -> web.StreamResponse:
    unit_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        unit = await facilities.get_unit(conn, unit_id)
        authorize(request, Action.DIRECTORY_READ, Resource("unit", unit_id, unit.facility_id))
        return _json(unit)


@route(
    "PATCH",
    "/api/v1/units/{id}",
    summary="Change a unit",
    tag="directory",
    responses={412: "If-Match does not match the current version"},
)
async def update_unit(request: web.Request, body: UnitPatch) -> web.StreamResponse:
    """Administrators change anything; a facility's own staff change what the unit accepts."""
    unit_id = path_id(request)
    action = facilities.unit_update_action(body)
    async with transaction(request.app[POOL]) as conn:
        facility_id = await facilities.unit_facility_id(conn, unit_id)
        principal = authorize(request, action, Resource("unit", unit_id, facility_id))
        unit = await facilities.update_unit(
            conn, unit_id, body, if_match_version(request), by=principal
        )
    return _json(unit)


@route(
    "GET",
    "/api/v1/courts",
    summary="List courts (a court user sees only their own)",
    tag="directory",
)
async def list_courts(request: web.Request) -> CourtList:
    principal = require_principal(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.COURT_LIST, Resource("court"))
        only = principal.court_id if principal.role is Role.COURT else None
        return CourtList(items=await courts.list_courts(conn, only))


@route("POST", "/api/v1/courts", summary="Create a court", tag="directory", status=201)
async def create_court(request: web.Request, body: CourtIn) -> web.StreamResponse:
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.COURT_CREATE, Resource("court"))
        court = await courts.create_court(conn, body, by=principal)
    return _json(court, 201)


@route("GET", "/api/v1/courts/{id}", summary="One court", tag="directory")
async def get_court(request: web.Request) -> web.StreamResponse:
    court_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.COURT_READ, Resource("court", court_id, court_id=court_id))
        return _json(await courts.get_court(conn, court_id))


@route(
    "PATCH",
    "/api/v1/courts/{id}",
    summary="Change a court",
    tag="directory",
    responses={412: "If-Match does not match the current version"},
)
async def update_court(request: web.Request, body: CourtPatch) -> web.StreamResponse:
    court_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(
            request, Action.COURT_UPDATE, Resource("court", court_id, court_id=court_id)
        )
        court = await courts.update_court(
            conn, court_id, body, if_match_version(request), by=principal
        )
    return _json(court)
