"""Placement requests, referrals, the timeline, and the court's status lookup.

Every read and write of placement data is recorded in the audit trail.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints

from bedboard import board, courtlinks, idempotency, links, nobed, placements
from bedboard.access import Action, Resource, moved_to, region_scope
from bedboard.api.registry import model_response, read_json, route
from bedboard.auth import Principal, Role
from bedboard.board import db_now
from bedboard.context import (
    POOL,
    SECRET,
    SETTINGS,
    authorize,
    if_match_version,
    path_id,
    record_success,
    require_principal,
    with_etag,
)
from bedboard.database import Connection, acquire, transaction
from bedboard.errors import NotFound
from bedboard.fields import DbId
from bedboard.nobed import CorrectedReport, CorrectedReportList, CorrectionIn, NoBedReport
from bedboard.placements import (
    OPEN_REFERRAL,
    AnswerIn,
    CourtPlacementList,
    DeclineIn,
    FacilityPlacement,
    FacilityPlacementList,
    LinkIn,
    NoteIn,
    OrderType,
    OrderTypeList,
    OrderTypePatch,
    Placement,
    PlacementIn,
    PlacementList,
    PlacementPatch,
    QuestionIn,
    ReferralsIn,
    Status,
    Timeline,
    TransitionIn,
    escalation,
    followups,
)


class PlacementView(RootModel[Placement | FacilityPlacement]):
    """The whole record for liaisons; what a receiving facility needs, for facility staff."""


class PlacementQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Status | None = None
    court: DbId | None = Field(default=None, description="Court id.")
    liaison: DbId | None = Field(default=None, description="Assigned liaison's user id.")
    overdue: bool | None = Field(
        default=None, description="Past the legal deadline and not admitted."
    )
    active: bool = Field(default=False, description="Only placements not yet admitted or closed.")
    sort: Literal["deadline", "custody"] = Field(
        default="deadline",
        description="deadline: open placements nearest their deadline first; custody: those "
        "with an officer still on scene first, the longest in custody first.",
    )


class ReferralQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: (
        Literal[
            "pending",
            "acknowledged",
            "info_requested",
            "accepted",
            "declined",
            "withdrawn",
            "expired",
        ]
        | None
    ) = None


class CourtQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_number: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)
    ]
    court: int | None = Field(default=None, description="For liaisons: which court (default any).")


class Created(BaseModel):
    ids: list[int]


def _hold(request: web.Request) -> timedelta:
    return timedelta(hours=request.app[SETTINGS].hold_hours)


async def _placement_resource(conn: Connection, placement_id: int) -> Resource:
    scope = await placements.scope(conn, placement_id)
    return Resource(
        "placement",
        placement_id,
        court_id=scope.court_id,
        facility_ids=scope.facility_ids,
        county_fips=scope.county_fips,
    )


async def _view(
    request: web.Request, conn: Connection, principal: Principal, placement_id: int
) -> Placement | FacilityPlacement:
    if principal.role is Role.FACILITY:
        return await placements.facility_view(conn, placement_id, principal.facility_ids)
    return await placements.get_placement(conn, placement_id)


def _json(view: Placement | FacilityPlacement, status: int = 200) -> web.StreamResponse:
    response = model_response(view, status)
    return with_etag(response, view.version) if isinstance(view, Placement) else response


async def _read_back(request: web.Request, placement_id: int) -> web.StreamResponse:
    """After a write: the fresh record (its read is audited with the write)."""
    principal = require_principal(request)
    async with acquire(request.app[POOL]) as conn:
        view = await _view(request, conn, principal, placement_id)
    return _json(view)


@route(
    "GET", "/api/v1/order-types", summary="Order types and their deadline rules", tag="placements"
)
async def list_order_types(request: web.Request) -> OrderTypeList:
    authorize(request, Action.ORDER_TYPE_READ, Resource("order_type"))
    async with acquire(request.app[POOL]) as conn:
        return OrderTypeList(items=await placements.order_types(conn))


@route(
    "PATCH",
    "/api/v1/order-types/{code}",
    summary="Change an order type's deadline",
    tag="placements",
)
async def update_order_type(request: web.Request, body: OrderTypePatch) -> OrderType:
    """Applies to placements created or re-dated afterwards; existing deadlines stay."""
    authorize(request, Action.ORDER_TYPE_UPDATE, Resource("order_type"))
    code = request.match_info["code"]
    async with transaction(request.app[POOL]) as conn:
        updated = await placements.set_order_deadline(conn, code, body.deadline_hours)
        await record_success(
            request,
            conn,
            Action.ORDER_TYPE_UPDATE,
            "order_type",
            code,
            {"deadline_hours": body.deadline_hours},
        )
    return updated


@route(
    "GET",
    "/api/v1/order-types/{code}/ladder",
    summary="An order type's escalation ladder",
    tag="placements",
)
async def get_ladder(request: web.Request) -> escalation.Ladder:
    """The rungs raised before a placement's legal deadline, earliest first: hours before
    the deadline (0: at it), who each goes to, and the minutes to acknowledge it."""
    authorize(request, Action.ORDER_TYPE_READ, Resource("order_type"))
    async with acquire(request.app[POOL]) as conn:
        return await escalation.ladder(conn, request.match_info["code"])


@route(
    "PUT",
    "/api/v1/order-types/{code}/ladder",
    summary="Replace an order type's escalation ladder",
    tag="placements",
)
async def put_ladder(request: web.Request, body: escalation.LadderIn) -> escalation.Ladder:
    """Positions follow the hours (most hours before the deadline first); no two rungs at
    the same hour. Rungs already raised keep what they said."""
    principal = authorize(request, Action.ORDER_TYPE_UPDATE, Resource("order_type"))
    async with transaction(request.app[POOL]) as conn:
        return await escalation.set_ladder(conn, request.match_info["code"], body.rungs, principal)


@route(
    "GET",
    "/api/v1/placements/{id}/escalations",
    summary="A placement's escalations",
    tag="placements",
)
async def list_escalations(request: web.Request) -> escalation.EscalationList:
    """The rungs of its order type's ladder raised so far: when, to whom, acknowledged by
    whom and when, or passed on to the next rung."""
    placement_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.ESCALATION_READ, await _placement_resource(conn, placement_id))
        items = await escalation.escalations_of(conn, placement_id)
        await record_success(request, conn, "escalation.read", "placement", placement_id)
    return escalation.EscalationList(placement_id=placement_id, items=items)


@route(
    "POST",
    "/api/v1/escalations/{id}/acknowledge",
    summary="Acknowledge an escalation",
    tag="placements",
    responses={409: "The placement is admitted or closed"},
)
async def acknowledge_escalation(request: web.Request) -> escalation.Escalation:
    """Records who acknowledged it and when; it no longer passes to the next rung. A
    second acknowledgement changes nothing and answers the first."""
    escalation_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        placement_id = await escalation.escalation_placement(conn, escalation_id)
        principal = authorize(
            request, Action.ESCALATION_ACKNOWLEDGE, await _placement_resource(conn, placement_id)
        )
        return await escalation.acknowledge(
            conn, escalation_id, principal, await board.db_now(conn)
        )


@route(
    "POST",
    "/api/v1/placements",
    summary="Record a placement request",
    tag="placements",
    status=201,
    model=Placement,
    responses={409: "Conflict"},
)
async def create_placement(request: web.Request, body: PlacementIn) -> web.StreamResponse:
    """Send `Idempotency-Key` to make retries safe: the first answer is replayed."""
    principal = authorize(
        request, Action.PLACEMENT_CREATE, Resource("placement", county_fips=body.county_fips)
    )
    raw_key = request.headers.get("Idempotency-Key")
    key = idempotency.check_key(raw_key) if raw_key is not None else None
    digest = idempotency.request_hash(await read_json(request))
    async with transaction(request.app[POOL]) as conn:
        done = await placements.create_once(conn, body, principal, key=key, digest=digest)
    response = with_etag(web.json_response(done.body, status=201), int(done.body["version"]))
    response.headers["Location"] = f"/api/v1/placements/{done.placement_id}"
    if done.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@route("GET", "/api/v1/placements", summary="List placements", tag="placements")
async def list_placements(request: web.Request, query: PlacementQuery) -> PlacementList:
    """A supervisor gets the placements in their region's counties."""
    principal = authorize(request, Action.PLACEMENT_LIST, Resource("placement"))
    async with acquire(request.app[POOL]) as conn:
        items = await placements.list_placements(
            conn,
            status=query.status,
            court_id=query.court,
            liaison_id=query.liaison,
            overdue=query.overdue,
            active_only=query.active,
            by_custody=query.sort == "custody",
            counties=region_scope(principal),
        )
        await record_success(
            request,
            conn,
            "placement.list",
            "placement",
            "",
            {"count": len(items), "query": query.model_dump(mode="json")},
        )
    return PlacementList(items=items)


@route(
    "GET", "/api/v1/placements/{id}", summary="One placement", tag="placements", model=PlacementView
)
async def get_placement(request: web.Request) -> web.StreamResponse:
    """Liaisons get the whole record; a facility that received a referral gets what it
    needs to decide (needs and clinical notes, and only its own referrals)."""
    placement_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        principal = authorize(
            request, Action.PLACEMENT_READ, await _placement_resource(conn, placement_id)
        )
        view = await _view(request, conn, principal, placement_id)
        await record_success(request, conn, "placement.read", "placement", placement_id)
    return _json(view)


@route(
    "PATCH",
    "/api/v1/placements/{id}",
    model=PlacementView,
    summary="Edit a placement",
    tag="placements",
    responses={409: "The placement is final", 412: "If-Match does not match the current version"},
)
async def update_placement(request: web.Request, body: PlacementPatch) -> web.StreamResponse:
    placement_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        resource = await _placement_resource(conn, placement_id)
        principal = authorize(request, Action.PLACEMENT_WRITE, resource)
        if body.county_fips is not None and body.county_fips != resource.county_fips:
            authorize(request, Action.PLACEMENT_CREATE, moved_to(body.county_fips))
        await placements.update(conn, placement_id, body, principal, if_match_version(request))
    return await _read_back(request, placement_id)


@route(
    "POST",
    "/api/v1/placements/{id}/referrals",
    summary="Refer to one or more units",
    tag="placements",
    status=201,
    responses={409: "The placement is not open, or a unit already has an open referral"},
)
async def create_referrals(request: web.Request, body: ReferralsIn) -> Created:
    placement_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(
            request, Action.PLACEMENT_WRITE, await _placement_resource(conn, placement_id)
        )
        ids = await placements.refer(conn, placement_id, body.unit_ids, principal)
    return Created(ids=ids)


async def _respond(
    request: web.Request,
    action: str,
    decline: DeclineIn | None = None,
    text: QuestionIn | AnswerIn | None = None,
) -> web.StreamResponse:
    referral_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        if action in ("withdraw", "answer"):
            placement_id, _facility = await placements.referral_scope(conn, referral_id)
            resource = await _placement_resource(conn, placement_id)
            principal = authorize(request, Action.PLACEMENT_WRITE, resource)
        else:
            placement_id, resource = await placements.referral_resource(conn, referral_id)
            principal = authorize(request, Action.REFERRAL_RESPOND, resource)
        if action == "accept":
            await placements.accept(conn, referral_id, principal, _hold(request))
        elif action == "acknowledge":
            await placements.acknowledge(conn, referral_id, principal)
        elif isinstance(text, QuestionIn):
            await placements.ask(conn, referral_id, text.question, principal)
        elif isinstance(text, AnswerIn):
            await placements.answer(conn, referral_id, text.answer, principal)
        elif decline is not None:
            await placements.decline(conn, referral_id, decline.reason, decline.note, principal)
        else:
            await placements.withdraw(conn, referral_id, principal)
    return await _read_back(request, placement_id)


@route(
    "POST",
    "/api/v1/referrals/{id}/accept",
    model=PlacementView,
    summary="Accept a referral and hold a bed",
    tag="referrals",
    responses={409: "The bed was just taken, or the referral or placement is no longer open"},
)
async def accept_referral(request: web.Request) -> web.StreamResponse:
    """Holds one bed on the unit until the hold expires; other pending referrals of the
    placement are withdrawn."""
    return await _respond(request, "accept")


@route(
    "POST",
    "/api/v1/referrals/{id}/decline",
    model=PlacementView,
    summary="Decline a referral with a reason",
    tag="referrals",
    responses={409: "The referral cannot be declined now"},
)
async def decline_referral(request: web.Request, body: DeclineIn) -> web.StreamResponse:
    return await _respond(request, "decline", body)


@route(
    "POST",
    "/api/v1/referrals/{id}/withdraw",
    model=PlacementView,
    summary="Withdraw a referral",
    tag="referrals",
    responses={409: "The referral cannot be withdrawn now"},
)
async def withdraw_referral(request: web.Request) -> web.StreamResponse:
    return await _respond(request, "withdraw")


@route(
    "POST",
    "/api/v1/referrals/{id}/acknowledge",
    model=PlacementView,
    summary="Acknowledge a referral: we are reviewing",
    tag="referrals",
    responses={409: "The referral is not waiting for a first answer, or the placement is not open"},
)
async def acknowledge_referral(request: web.Request) -> web.StreamResponse:
    """The receiving facility has seen the referral and is deciding (from `pending` or
    `acknowledged`; a question waiting is answered by the liaison instead)."""
    return await _respond(request, "acknowledge")


@route(
    "POST",
    "/api/v1/referrals/{id}/question",
    model=PlacementView,
    summary="Ask the liaison a question about a referral",
    tag="referrals",
    responses={409: "The referral already has a question waiting, or is no longer open"},
)
async def ask_about_referral(request: web.Request, body: QuestionIn) -> web.StreamResponse:
    """The referral becomes `info_requested` until the liaison answers. The question is
    clinical text: only the liaisons and this facility see it, never in a live frame."""
    return await _respond(request, "ask", text=body)


@route(
    "POST",
    "/api/v1/referrals/{id}/answer",
    model=PlacementView,
    summary="Answer the facility's question about a referral",
    tag="referrals",
    responses={409: "The referral has no question waiting"},
)
async def answer_referral_question(request: web.Request, body: AnswerIn) -> web.StreamResponse:
    """For liaisons: the referral goes back to `acknowledged` and the facility decides."""
    return await _respond(request, "answer", text=body)


@route("GET", "/api/v1/referrals", summary="Referrals to your facilities", tag="referrals")
async def list_referrals(request: web.Request, query: ReferralQuery) -> FacilityPlacementList:
    """For facility staff: placements referred to their facilities, with what they need to
    decide. Open ones (awaiting an answer or accepted) by default."""
    principal = authorize(request, Action.REFERRAL_LIST, Resource("referral"))
    statuses = [query.status] if query.status else sorted(OPEN_REFERRAL)
    async with acquire(request.app[POOL]) as conn:
        facility_ids = principal.facility_ids
        if principal.role is not Role.FACILITY:
            facility_ids = await placements.all_facility_ids(conn)
        items = await placements.referrals_for_facilities(
            conn, facility_ids, statuses=statuses, under_way_only=query.status is None
        )
        await record_success(request, conn, "referral.list", "referral", "", {"count": len(items)})
    return FacilityPlacementList(items=items)


@route(
    "POST",
    "/api/v1/placements/{id}/transition",
    model=PlacementView,
    summary="Move a placement on",
    tag="placements",
    responses={
        409: "Not allowed from the current state (the allowed ones are named)",
        412: "If-Match does not match the current version",
    },
)
async def transition_placement(request: web.Request, body: TransitionIn) -> web.StreamResponse:
    """`in_transit` (from accepted), `admitted` (from in_transit: the held bed becomes
    occupied), `discharged` (from admitted, with a `disposition` and optionally
    `discharged_at`, not before the admission nor in the future), or `closed` with an
    outcome (releases any hold)."""
    placement_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(
            request, Action.PLACEMENT_WRITE, await _placement_resource(conn, placement_id)
        )
        await placements.transition(conn, placement_id, body, principal, if_match_version(request))
    return await _read_back(request, placement_id)


@route(
    "POST",
    "/api/v1/placements/{id}/no-bed",
    summary="Declare that no bed was found",
    tag="placements",
    status=201,
    model=NoBedReport,
    responses={
        200: "Already declared: the record made the first time",
        409: "The placement is not open (a bed accepted, in transit, admitted or closed)",
    },
)
async def declare_no_bed(request: web.Request) -> web.StreamResponse:
    """Makes the placement's no-bed record (`trigger` `declared`): a snapshot of the
    county, order type, age band, payer, the facilities referred and their declines, and
    the hours since the detention start. Only for an open placement, which stays open.
    Once per placement: a repeat answers 200 with the first record and writes nothing."""
    placement_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(
            request, Action.PLACEMENT_NO_BED, await _placement_resource(conn, placement_id)
        )
        done = await placements.declare_no_bed(conn, placement_id, principal)
    return model_response(done.report, 201 if done.created else 200)


@route(
    "GET",
    "/api/v1/placements/{id}/no-bed",
    summary="A placement's no-bed records with their corrections",
    tag="placements",
)
async def list_no_bed(request: web.Request) -> CorrectedReportList:
    """Each no-bed record of the placement, oldest first: its frozen snapshot, its
    corrections oldest first, and the effective values the reports count (those of the
    latest amendment, or the snapshot's; `counted` is false when the latest correction
    retracts it). For liaisons and administrators."""
    placement_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.PLACEMENT_NO_BED, await _placement_resource(conn, placement_id))
        items = await nobed.corrected_for_placement(conn, placement_id)
        await record_success(
            request, conn, "placement.no_bed.read", "placement", placement_id, {"count": len(items)}
        )
    return CorrectedReportList(placement_id=placement_id, items=items)


@route(
    "POST",
    "/api/v1/placements/{id}/no-bed/{report_id}/correction",
    summary="Correct a no-bed record",
    tag="placements",
    status=201,
    model=CorrectedReport,
    responses={
        404: "No such placement, or the record is not one of this placement's",
        409: "The record is already retracted",
    },
)
async def correct_no_bed(request: web.Request, body: CorrectionIn) -> web.StreamResponse:
    """Adds a correction to one of the placement's no-bed records; the record itself never
    changes. `retract` (no fields) takes it out of the reports; `amend` corrects the coded
    fields given (the others keep their current value). The reason must fit the kind
    (`wrong_county` changes the county, `wrong_order_type` the order type). A later
    correction wins over an earlier one. Answers the record with all its corrections.
    Send `Idempotency-Key` to make retries safe: the first answer is replayed."""
    placement_id = path_id(request)
    report_id = path_id(request, "report_id")
    raw_key = request.headers.get("Idempotency-Key")
    key = idempotency.check_key(raw_key) if raw_key is not None else None
    digest = idempotency.request_hash(
        {
            "placement_id": placement_id,
            "report_id": report_id,
            "body": body.model_dump(mode="json", exclude_unset=True),
        }
    )
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(
            request,
            Action.PLACEMENT_NO_BED_CORRECT,
            await _placement_resource(conn, placement_id),
        )
        done = await nobed.correct(
            conn, placement_id, report_id, body, principal, key=key, digest=digest
        )
    response = web.json_response(done.body, status=201)
    if done.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@route(
    "POST",
    "/api/v1/placements/{id}/links",
    summary="Attach a case link",
    tag="placements",
    status=201,
)
async def add_link(request: web.Request, body: LinkIn) -> Created:
    placement_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(
            request, Action.PLACEMENT_WRITE, await _placement_resource(conn, placement_id)
        )
        link_id = await placements.add_link(conn, placement_id, body, principal)
    return Created(ids=[link_id])


@route(
    "POST",
    "/api/v1/placements/{id}/notes",
    summary="Add a dated follow-up note",
    tag="placements",
    status=201,
)
async def add_note(request: web.Request, body: NoteIn) -> Created:
    placement_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(
            request, Action.PLACEMENT_WRITE, await _placement_resource(conn, placement_id)
        )
        note_id = await placements.add_note(conn, placement_id, body, principal)
    return Created(ids=[note_id])


@route(
    "GET", "/api/v1/placements/{id}/timeline", summary="A placement's timeline", tag="placements"
)
async def get_timeline(request: web.Request) -> Timeline:
    placement_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.PLACEMENT_TIMELINE, await _placement_resource(conn, placement_id))
        items = await placements.timeline(conn, placement_id)
        await record_success(request, conn, "placement.timeline", "placement", placement_id)
    return Timeline(placement_id=placement_id, items=items)


@route(
    "GET", "/api/v1/court/placements", summary="Placement status by court case number", tag="court"
)
async def court_placements(request: web.Request, query: CourtQuery) -> CourtPlacementList:
    """Court staff see their own court's cases: status, order, detention start, deadline,
    the facility once accepted or admitted, and the status timeline. Nothing clinical."""
    principal = require_principal(request)
    court_id = principal.court_id if principal.role is Role.COURT else query.court
    authorize(request, Action.COURT_LOOKUP, Resource("court", court_id, court_id=court_id))
    async with acquire(request.app[POOL]) as conn:
        items = await placements.look_up_case(conn, court_id, query.case_number, principal)
    return CourtPlacementList(items=items)


# --------------------------------------------------------------------------- court status links


class CourtLinkOut(BaseModel):
    """A court status link as its issuers see it; the token is never shown again."""

    id: int
    created_at: datetime
    created_by: int | None
    expires_at: datetime
    revoked_at: datetime | None
    state: Literal["active", "expired", "revoked", "used"]


class CourtLinkCreated(CourtLinkOut):
    url: str = Field(description="The link for the court. Shown in this answer only.")


class CourtLinkList(BaseModel):
    items: list[CourtLinkOut]


def _court_link(link: links.Link, now: datetime) -> dict[str, object]:
    return {
        "id": link.id,
        "created_at": link.created_at,
        "created_by": link.created_by,
        "expires_at": link.expires_at,
        "revoked_at": link.revoked_at,
        "state": link.state(now),
    }


@route(
    "POST",
    "/api/v1/placements/{id}/court-links",
    summary="Issue a court status link (read-only, no password; expires with the case)",
    tag="placements",
    status=201,
)
async def create_court_link(request: web.Request) -> CourtLinkCreated:
    """The court opens ``url`` without signing in and sees what the court's case lookup
    shows of this one placement. Valid ``BEDBOARD_COURT_LINK_MAX_DAYS`` days, until the
    case closes, or until revoked. 409 for a closed case or one without a court."""
    placement_id = path_id(request)
    settings = request.app[SETTINGS]
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(
            request, Action.COURT_LINK_MANAGE, await _placement_resource(conn, placement_id)
        )
        now = await db_now(conn)
        issued = await courtlinks.issue_court_link(
            conn,
            links.Signer(request.app[SECRET]),
            placement_id,
            by=principal,
            now=now,
            max_days=settings.court_link_max_days,
        )
    return CourtLinkCreated(
        **_court_link(issued.link, now),  # type: ignore[arg-type]
        url=settings.absolute(issued.path),
    )


@route(
    "GET",
    "/api/v1/placements/{id}/court-links",
    summary="A placement's court status links",
    tag="placements",
)
async def list_court_links(request: web.Request) -> CourtLinkList:
    placement_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.COURT_LINK_MANAGE, await _placement_resource(conn, placement_id))
        now = await db_now(conn)
        items = await courtlinks.court_links(conn, placement_id)
    return CourtLinkList.model_validate({"items": [_court_link(i, now) for i in items]})


@route(
    "DELETE",
    "/api/v1/placements/{id}/court-links/{link_id}",
    summary="Revoke a court status link (it stops opening at once)",
    tag="placements",
    status=204,
)
async def revoke_court_link(request: web.Request) -> web.StreamResponse:
    placement_id = path_id(request)
    link_id = path_id(request, "link_id")
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(
            request, Action.COURT_LINK_MANAGE, await _placement_resource(conn, placement_id)
        )
        await courtlinks.revoke_court_link(conn, placement_id, link_id, by=principal)
    return web.Response(status=204)


# --------------------------------------------------------------------------- after admission


class FollowUpQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: followups.FollowUpStatus = Field(
        default=followups.FollowUpStatus.OPEN, description="open (default), done or cancelled."
    )
    assignee: DbId | None = Field(default=None, description="Whose tasks (default: yours).")
    everyone: bool = Field(default=False, description="Everyone's tasks.")


class CommitmentRecordedOut(BaseModel):
    commitment: followups.Commitment
    follow_up_id: int | None = Field(
        description="The task added with it (the first time, with add_follow_up), or null."
    )


@route(
    "GET",
    "/api/v1/follow-ups",
    summary="Follow-up tasks: yours, someone's or everyone's",
    tag="placements",
)
async def list_follow_ups(request: web.Request, query: FollowUpQuery) -> followups.FollowUpList:
    """Soonest due first, with each task's placement reference and `overdue`. The titles
    and notes are clinical text. For liaisons and administrators."""
    principal = authorize(request, Action.FOLLOW_UP_LIST, Resource("follow_up"))
    assignee = None if query.everyone else (query.assignee or principal.user_id)
    async with acquire(request.app[POOL]) as conn:
        items = await followups.tasks(
            conn, request.app[SETTINGS].zone, assignee_id=assignee, statuses=(query.status,)
        )
        await record_success(
            request, conn, "follow_up.list", "follow_up", "", {"count": len(items)}
        )
    return followups.FollowUpList(items=items)


@route(
    "GET",
    "/api/v1/placements/{id}/follow-ups",
    summary="A placement's follow-up tasks",
    tag="placements",
)
async def list_placement_follow_ups(request: web.Request) -> followups.FollowUpList:
    """Open tasks first, soonest due first; then the done and cancelled ones."""
    placement_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.FOLLOW_UP_READ, await _placement_resource(conn, placement_id))
        items = await followups.follow_ups_of(conn, placement_id, request.app[SETTINGS].zone)
        await record_success(request, conn, "follow_up.list", "placement", placement_id)
    return followups.FollowUpList(items=items)


@route(
    "POST",
    "/api/v1/placements/{id}/follow-ups",
    summary="Add a follow-up task",
    tag="placements",
    status=201,
)
async def add_follow_up(request: web.Request, body: followups.FollowUpIn) -> followups.FollowUp:
    """`due_at` (a time) or `due_on` (a day, reminded at 08:00 local time), not in the
    past; `assignee_id` a liaison or administrator (default: the placement's liaison). Its
    assignee is reminded once when it is due (docs/notifications.md)."""
    placement_id = path_id(request)
    zone = request.app[SETTINGS].zone
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(
            request, Action.FOLLOW_UP_WRITE, await _placement_resource(conn, placement_id)
        )
        follow_up_id = await followups.add_follow_up(conn, placement_id, body, principal, zone)
        return await followups.get_follow_up(conn, follow_up_id, zone)


async def _close_follow_up(
    request: web.Request, to: Literal["done", "cancelled"], note: str
) -> followups.FollowUp:
    follow_up_id = path_id(request)
    zone = request.app[SETTINGS].zone
    async with transaction(request.app[POOL]) as conn:
        placement_id = await followups.follow_up_placement(conn, follow_up_id)
        principal = authorize(
            request, Action.FOLLOW_UP_WRITE, await _placement_resource(conn, placement_id)
        )
        await followups.close_follow_up(conn, follow_up_id, to, note, principal)
        return await followups.get_follow_up(conn, follow_up_id, zone)


@route(
    "POST",
    "/api/v1/follow-ups/{id}/done",
    summary="Mark a follow-up task done",
    tag="placements",
    responses={409: "The task is already done or cancelled"},
)
async def follow_up_done(
    request: web.Request, body: followups.FollowUpCloseIn
) -> followups.FollowUp:
    """With an optional `note` (clinical text). A task done or cancelled is final."""
    return await _close_follow_up(request, "done", body.note)


@route(
    "POST",
    "/api/v1/follow-ups/{id}/cancel",
    summary="Cancel a follow-up task",
    tag="placements",
    responses={409: "The task is already done or cancelled"},
)
async def follow_up_cancel(
    request: web.Request, body: followups.FollowUpCloseIn
) -> followups.FollowUp:
    """With an optional `note` (clinical text). A task done or cancelled is final."""
    return await _close_follow_up(request, "cancelled", body.note)


@route(
    "GET",
    "/api/v1/placements/{id}/commitment",
    summary="A placement's outpatient commitment",
    tag="placements",
)
async def get_commitment(request: web.Request) -> followups.Commitment:
    """The petition's court date and the CMHC responsible; 404 when none is recorded."""
    placement_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.FOLLOW_UP_READ, await _placement_resource(conn, placement_id))
        found = await followups.commitment_of(conn, placement_id)
        await record_success(request, conn, "placement.commitment.read", "placement", placement_id)
    if found is None:
        raise NotFound("outpatient commitment")
    return found


@route(
    "PUT",
    "/api/v1/placements/{id}/commitment",
    summary="Record a placement's outpatient commitment",
    tag="placements",
    responses={409: "Not admitted (nor closed as diverted to outpatient care)"},
)
async def put_commitment(
    request: web.Request, body: followups.CommitmentIn
) -> CommitmentRecordedOut:
    """Once the person is admitted (or discharged), or for a placement closed as diverted
    to outpatient care. The first time, `add_follow_up` (default true) also adds the task
    “Check with the CMHC after the court date”, due the day after it. Recording again
    changes the court date or the CMHC."""
    placement_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(
            request, Action.FOLLOW_UP_WRITE, await _placement_resource(conn, placement_id)
        )
        done = await followups.record_commitment(
            conn, placement_id, body, principal, request.app[SETTINGS].zone
        )
    return CommitmentRecordedOut(commitment=done.commitment, follow_up_id=done.follow_up_id)
