"""The live board: snapshot, changes since a position, census reporting, history."""

from __future__ import annotations

from collections.abc import Set

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bedboard import census, facilities, outbox
from bedboard.access import Action, Resource
from bedboard.api.registry import route
from bedboard.board import Board
from bedboard.census import ApplyResults, CensusReport, FacilityCensusIn, HistoryPage, HistoryQuery
from bedboard.context import (
    BOARD_CACHE,
    CENSUS_OUTCOMES,
    POOL,
    authorize,
    path_id,
    require_principal,
)
from bedboard.database import acquire
from bedboard.errors import FieldError, Invalid
from bedboard.problems import Problem


@route(
    "GET",
    "/api/v1/board",
    summary="The whole board and the seq it reflects",
    tag="board",
    model=Board,
)
async def get_board(request: web.Request) -> web.Response:
    """Subscribe to the `board` topic with `since` = this `seq` to follow changes."""
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.BOARD_READ, Resource("board"))
        body = await request.app[BOARD_CACHE].encoded(conn)
    return web.Response(body=body, content_type="application/json")


class ChangesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: int = Field(ge=0, description="The last seq you have; changes after it are returned.")
    limit: int = Field(default=1000, ge=1, le=5000)


class ChangeOut(BaseModel):
    seq: int
    topic: str
    data: dict[str, object]


class ChangesPage(BaseModel):
    seq: int = Field(description="The last seq read: ask again from here (see `more`).")
    changes: list[ChangeOut]
    more: bool


@route(
    "GET",
    "/api/v1/changes",
    summary="Board changes after a seq",
    tag="board",
    responses={410: "Too old: take a snapshot (GET /api/v1/board)"},
)
async def get_changes(request: web.Request, query: ChangesQuery) -> ChangesPage:
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.BOARD_READ, Resource("board"))
        try:
            changes = await outbox.since(conn, query.since, limit=query.limit)
        except outbox.TooOld as exc:
            raise Problem(
                410,
                f"{exc}. Take a snapshot (GET /api/v1/board) and continue from its seq.",
                code="snapshot-required",
            ) from None
        current = await outbox.head(conn)
    board_changes = [
        ChangeOut(seq=c.seq, topic=c.topic, data=c.payload)
        for c in changes
        if c.topic == outbox.BOARD
    ]
    last = changes[-1].seq if changes else query.since
    return ChangesPage(seq=last, changes=board_changes, more=last < current)


async def _apply(
    request: web.Request, reports: list[tuple[int, CensusReport]], source: str
) -> ApplyResults:
    """Apply, once the principal may report for the units' facility (known from the
    apply's own read)."""
    principal = require_principal(request)

    def may_report(facility_ids: Set[int]) -> None:
        for facility_id in sorted(facility_ids):
            resource = Resource("facility", facility_id, facility_id)
            authorize(request, Action.CENSUS_REPORT, resource)

    async with acquire(request.app[POOL]) as conn:
        results = await census.apply(
            conn, reports, census.Source(source, principal.user_id), check=may_report
        )
    counter = request.app[CENSUS_OUTCOMES]
    for result in results:
        counter.labels(result.outcome.value).inc()
    return ApplyResults(results=results)


@route("PUT", "/api/v1/units/{id}/census", summary="Report one unit's census", tag="census")
async def put_unit_census(request: web.Request, body: CensusReport) -> ApplyResults:
    """Applied only when newer than the stored report; the answer says what happened."""
    return await _apply(request, [(path_id(request), body)], "api")


@route(
    "POST",
    "/api/v1/facilities/{id}/census",
    summary="Report several units of one facility",
    tag="census",
)
async def post_facility_census(request: web.Request, body: FacilityCensusIn) -> ApplyResults:
    """All reports are applied in one transaction, or none is (any invalid report refuses all)."""
    facility_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        await facilities.get_facility(conn, facility_id)
        owners = {u.id for u in await facilities.list_units(conn, facility_id)}
    strangers = [r.unit_id for r in body.reports if r.unit_id not in owners]
    if strangers:
        raise Invalid(
            "Some units do not belong to this facility.",
            [
                FieldError("reports.unit_id", f"unit {uid} is not here", "reference")
                for uid in strangers
            ],
        )
    reports = [(r.unit_id, CensusReport(**r.model_dump(exclude={"unit_id"}))) for r in body.reports]
    return await _apply(request, reports, "api")


@route("GET", "/api/v1/units/{id}/history", summary="A unit's applied reports", tag="census")
async def get_unit_history(request: web.Request, query: HistoryQuery) -> HistoryPage:
    unit_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        facility_id = await facilities.unit_facility_id(conn, unit_id)
        authorize(request, Action.BOARD_READ, Resource("unit", unit_id, facility_id))
        items = await census.history(conn, unit_id, query.from_, query.to, query.limit)
    return HistoryPage(unit_id=unit_id, items=items)
