"""/public: the public summary as a page anyone may open (see bedboard.public).

Rendered the same for everyone, signed in or not (no navigation, no account, no CSRF
token), so browsers and proxies may cache it for the summary's minute."""

from __future__ import annotations

from datetime import date

from aiohttp import web

from bedboard.context import POOL, PUBLIC_SUMMARY, public_cache_headers, throttle_public
from bedboard.pages import render


def month_label(month: str) -> str:
    """``March 2026`` for ``2026-03``."""
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, 1).strftime("%B %Y")


async def public_page(request: web.Request) -> web.StreamResponse:
    throttle_public(request)
    cached = await request.app[PUBLIC_SUMMARY].get(request.app[POOL])
    summary = cached.summary
    response = render(
        request,
        "public.html",
        # The page is the same for everyone: never the signed-in person's header.
        principal=None,
        nav=(),
        csrf_token="",
        help_href="",
        role_label="",
        summary=summary,
        month_labels={m.month: month_label(m.month) for m in summary.months},
        any_people=any(
            count.value != 0
            for m in summary.months
            for count in (m.placement_requests, m.admitted, m.closed_without_bed)
        ),
    )
    response.headers.update(public_cache_headers(request, cached))
    return response


def setup(app: web.Application) -> None:
    app.router.add_get("/public", public_page)
