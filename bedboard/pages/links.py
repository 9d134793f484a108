"""Pages opened without a password, and where they are issued (issue 13 §3, §5).

- ``/c/{token}``: a court status link opens the court's view of one placement (the same
  card as the case-number lookup, ``placements/_court_case.html``).
- ``/n/{token}``: a census nudge link opens the census form for its facility's units
  (the census page's template and row reading); saving reports and spends the link.
- ``/calendar/courts/{court_id}/{secret}.ics``: a court's deadline calendar.
- ``POST /placements/{id}/court-links`` and ``.../{link_id}/revoke``: the placement page's
  "Court status links" section (liaisons and administrators).

A refused link (altered: 403; expired, revoked, used, case closed: 410) is the error page
with the domain's sentence. Nothing here is cached by the browser.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bedboard import board, census, courtlinks, links, nudges
from bedboard.access import Action
from bedboard.auth import Role
from bedboard.context import CENSUS_OUTCOMES, POOL, SECRET, SETTINGS, authorize, origin, path_id
from bedboard.database import acquire, transaction
from bedboard.errors import Conflict, LinkRefused, NotFound
from bedboard.pages import render, require_role
from bedboard.pages.board import read_census_rows
from bedboard.pages.placements.shared import back_to, resource_of

TOKEN_MAX = 400  # longer than any token we sign; anything longer is refused unread


def signer(request: web.Request) -> links.Signer:
    return links.Signer(request.app[SECRET])


def _token(request: web.Request) -> str:
    token = request.match_info.get("token", "")
    if len(token) > TOKEN_MAX:
        raise LinkRefused(links.REFUSED)
    return token


def _private(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


# --------------------------------------------------------------------------- court status


async def court_link_page(request: web.Request) -> web.StreamResponse:
    token = _token(request)
    async with acquire(request.app[POOL]) as conn:
        now = await board.db_now(conn)
        item = await courtlinks.open_court_link(
            conn, signer(request), token, now=now, origin=origin(request)
        )
    return _private(render(request, "placements/court_link.html", item=item))


async def court_link_issue(request: web.Request) -> web.StreamResponse:
    """Issue a link and show the placement page with it, this once (never in a URL)."""
    require_role(request, Role.LIAISON, Role.SUPERVISOR, Role.ADMIN)
    placement_id = path_id(request)
    settings = request.app[SETTINGS]
    try:
        async with transaction(request.app[POOL]) as conn:
            principal = authorize(
                request, Action.COURT_LINK_MANAGE, await resource_of(conn, placement_id)
            )
            now = await board.db_now(conn)
            issued = await courtlinks.issue_court_link(
                conn,
                signer(request),
                placement_id,
                by=principal,
                now=now,
                max_days=settings.court_link_max_days,
            )
    except Conflict as exc:
        raise back_to(placement_id, f"Not done: {exc.detail}") from None
    from bedboard.pages.placements.detail import detail_page

    return _private(
        await detail_page(request, placement_id, new_court_link=settings.absolute(issued.path))
    )


async def court_link_revoke(request: web.Request) -> web.StreamResponse:
    require_role(request, Role.LIAISON, Role.SUPERVISOR, Role.ADMIN)
    placement_id = path_id(request)
    link_id = path_id(request, "link_id")
    try:
        async with transaction(request.app[POOL]) as conn:
            principal = authorize(
                request, Action.COURT_LINK_MANAGE, await resource_of(conn, placement_id)
            )
            await courtlinks.revoke_court_link(conn, placement_id, link_id, by=principal)
    except NotFound:
        raise back_to(placement_id, "Not done: no such court link on this placement.") from None
    raise back_to(placement_id, "Court link revoked; it no longer opens.")


async def court_calendar(request: web.Request) -> web.StreamResponse:
    court_id = path_id(request, "court_id")
    secret = request.match_info.get("secret", "")[:200]
    async with acquire(request.app[POOL]) as conn:
        body = await courtlinks.court_calendar(
            conn, court_id, secret, now=datetime.now(UTC), origin=origin(request)
        )
    return _private(web.Response(body=body, content_type="text/calendar", charset="utf-8"))


# --------------------------------------------------------------------------- census nudge


async def _nudge_context(request: web.Request, facility_id: int) -> dict[str, Any]:
    async with acquire(request.app[POOL]) as conn:
        snapshot = await board.snapshot(conn)
    mine = [f for f in snapshot.facilities if f.id == facility_id]
    return {
        "facilities": mine,
        "overdue": any(f.overdue for f in mine),
        "form_action": request.path,
    }


async def nudge_page(request: web.Request) -> web.StreamResponse:
    token = _token(request)
    async with acquire(request.app[POOL]) as conn:
        now = await board.db_now(conn)
        link = await nudges.open_form(conn, signer(request), token, now=now, origin=origin(request))
    context = await _nudge_context(request, link.subject_id)
    return _private(
        render(request, "census.html", errors={}, results={}, values={}, submitted=False, **context)
    )


async def nudge_submit(request: web.Request) -> web.StreamResponse:
    """The census form's rules (all rows or none); the link is spent only by a report
    that was applied."""
    token = _token(request)
    form = await request.post()
    async with acquire(request.app[POOL]) as conn:
        now = await board.db_now(conn)
        link = await nudges.open_form(conn, signer(request), token, now=now, origin=origin(request))
    context = await _nudge_context(request, link.subject_id)
    reports, errors, values = read_census_rows(form, context["facilities"], now)
    if errors or not reports:
        return _private(
            render(
                request,
                "census.html",
                status=422,
                errors=errors,
                results={},
                values=values,
                submitted=True,
                nothing_entered=not reports,
                **context,
            )
        )
    async with acquire(request.app[POOL]) as conn:
        applied = await nudges.report(conn, link, reports, now=now)
    results: dict[int, census.ApplyResult] = {}
    for result in applied:
        request.app[CENSUS_OUTCOMES].labels(result.outcome.value).inc()
        results[result.unit_id] = result
    names = [f.name for f in context["facilities"]]
    return _private(
        render(
            request,
            "nudge_done.html",
            facility_name=names[0] if names else "",
            applied=sum(1 for r in applied if r.outcome is census.Outcome.APPLIED),
            results=list(results.values()),
        )
    )


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/c/{token}", court_link_page)
    r.add_get("/n/{token}", nudge_page)
    r.add_post("/n/{token}", nudge_submit)
    r.add_get("/calendar/courts/{court_id}/{secret}.ics", court_calendar)
    r.add_post("/placements/{id}/court-links", court_link_issue)
    r.add_post("/placements/{id}/court-links/{link_id}/revoke", court_link_revoke)
