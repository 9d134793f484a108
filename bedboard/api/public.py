"""GET /api/v1/public/summary: the public summary, with no sign-in (see bedboard.public)."""

from __future__ import annotations

from aiohttp import web

from bedboard.api.registry import route
from bedboard.context import POOL, PUBLIC_SUMMARY, public_cache_headers, throttle_public
from bedboard.public import PublicSummary


@route(
    "GET",
    "/api/v1/public/summary",
    summary="Bed capacity and program counts, for anyone",
    tag="public",
    public=True,
    model=PublicSummary,
    responses={429: "Too many requests from this address; wait Retry-After seconds"},
)
async def get_public_summary(request: web.Request) -> web.Response:
    """No sign-in. Free beds by county, age group and involuntary acceptance (with how
    fresh the units' numbers are), and monthly placement counts for the 12 complete
    months, with counts of 1 to 10 people suppressed (`PeopleCount`). Computed at most
    once a minute per instance (`generated_at`); cacheable for 60 s. Limited per client
    address (429 with Retry-After)."""
    throttle_public(request)
    cached = await request.app[PUBLIC_SUMMARY].get(request.app[POOL])
    return web.Response(
        body=cached.body,
        content_type="application/json",
        headers=public_cache_headers(request, cached),
    )
