"""Regions: named sets of counties (read by every signed-in role, defined by
administrators)."""

from __future__ import annotations

from aiohttp import web

from bedboard import regions
from bedboard.access import Action, Resource
from bedboard.api.registry import route
from bedboard.context import POOL, authorize, path_id
from bedboard.database import acquire, transaction
from bedboard.regions import Region, RegionIn, RegionList


@route("GET", "/api/v1/regions", summary="Regions and their counties", tag="directory")
async def list_regions(request: web.Request) -> RegionList:
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.DIRECTORY_READ, Resource("region"))
        return RegionList(items=await regions.list_regions(conn))


@route(
    "POST",
    "/api/v1/regions",
    summary="Create a region",
    tag="directory",
    status=201,
    responses={409: "The name is taken, or a county is already in another region"},
)
async def create_region(request: web.Request, body: RegionIn) -> Region:
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.REGION_CREATE, Resource("region"))
        region = await regions.create_region(conn, body, by=principal)
    return region


@route(
    "PUT",
    "/api/v1/regions/{id}",
    summary="Replace a region's name and counties",
    tag="directory",
    responses={409: "The name is taken, or a county is already in another region"},
)
async def update_region(request: web.Request, body: RegionIn) -> Region:
    region_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.REGION_UPDATE, Resource("region", region_id))
        return await regions.update_region(conn, region_id, body, by=principal)


@route(
    "DELETE",
    "/api/v1/regions/{id}",
    summary="Delete a region",
    tag="directory",
    status=204,
    responses={409: "The region still has supervisors (named in the detail)"},
)
async def delete_region(request: web.Request) -> web.StreamResponse:
    region_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.REGION_DELETE, Resource("region", region_id))
        await regions.delete_region(conn, region_id, by=principal)
    return web.Response(status=204)
