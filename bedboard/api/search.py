"""Bed search for liaisons."""

from __future__ import annotations

from aiohttp import web

from bedboard import search
from bedboard.access import Action, Resource
from bedboard.api.registry import route
from bedboard.context import POOL, authorize
from bedboard.database import acquire
from bedboard.search import SearchQuery, SearchResponse


@route("GET", "/api/v1/search", summary="Find units that fit a person's needs", tag="search")
async def search_beds(request: web.Request, query: SearchQuery) -> SearchResponse:
    """Ranked by fit, then great-circle distance, then freshness. `excluded` counts every unit
    left out by the first reason it failed (wrong population, no beds, stale, too far, ...)."""
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.SEARCH, Resource("search"))
        return await search.search(conn, query)
