"""Placement pages: liaisons' open placements and the placement page, facilities' incoming
referrals, and the court's case lookup. Every change goes through ``placements`` with the
same access policy and audit trail as the API."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web
from pydantic import ValidationError

from bedboard import courts, facilities, idempotency, placements, search
from bedboard.access import Action, Resource
from bedboard.auth import Principal, Role
from bedboard.context import POOL, SETTINGS, authorize, path_id, record_success
from bedboard.database import Connection, acquire, transaction
from bedboard.facilities import PAYERS, SPECIALTIES, Population, SecurityLevel
from bedboard.pages import field_errors, problem_errors, render, require_role
from bedboard.placements import (
    DECLINE_LABELS,
    OUTCOME_LABELS,
    DeclineIn,
    LinkIn,
    NoteIn,
    PlacementIn,
    Status,
    TransitionIn,
)
from bedboard.problems import Problem
from bedboard.search import SearchQuery


def _choices(values: Any) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ").capitalize()) for v in values]


def _back(placement_id: int, notice: str = "") -> web.HTTPSeeOther:
    suffix = f"?notice={quote(notice)}" if notice else ""
    return web.HTTPSeeOther(f"/placements/{placement_id}{suffix}")


async def _resource(conn: Connection, placement_id: int) -> Resource:
    court_id, facility_ids = await placements.scope(conn, placement_id)
    return Resource("placement", placement_id, court_id=court_id, facility_ids=facility_ids)


# --------------------------------------------------------------------------- liaison: list


async def placement_list(request: web.Request) -> web.StreamResponse:
    principal = require_role(request, Role.LIAISON, Role.ADMIN)
    return render(request, "placements/list.html", **await _list_context(request, principal))


async def placement_list_fragment(request: web.Request) -> web.StreamResponse:
    principal = require_role(request, Role.LIAISON, Role.ADMIN)
    return render(request, "placements/_list.html", **await _list_context(request, principal))


async def _list_context(request: web.Request, principal: Principal) -> dict[str, Any]:
    mine = principal.role is Role.LIAISON and request.query.get("all") != "1"
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.PLACEMENT_LIST, Resource("placement"))
        items = await placements.list_placements(
            conn, liaison_id=principal.user_id if mine else None, active_only=True
        )
        await record_success(
            request, conn, "placement.list", "placement", "", {"count": len(items)}
        )
    return {"items": items, "mine": mine}


# --------------------------------------------------------------------------- liaison: create


async def _new_context(conn: Connection) -> dict[str, Any]:
    return {
        "order_types": [(o.code, o.label) for o in await placements.order_types(conn)],
        "courts": [
            ("", "— none (voluntary) —"),
            *[(str(c.id), c.name) for c in await courts.list_courts(conn)],
        ],
        "counties": [
            ("", "— choose —"),
            *[(c.fips, c.name) for c in await facilities.list_counties(conn)],
        ],
        "populations": _choices([p.value for p in Population]),
        "genders": [("", "Any"), ("female", "Female"), ("male", "Male")],
        "sexes": [
            ("female", "Female"),
            ("male", "Male"),
            ("other", "Other"),
            ("unknown", "Unknown"),
        ],
        "securities": [("", "Any"), *_choices([s.value for s in SecurityLevel])],
        "specialties": _choices(SPECIALTIES),
        "payers": [("", "Unknown"), *_choices(PAYERS)],
    }


def _placement_input(form: Any) -> dict[str, Any]:
    """The new-placement form as the API's JSON shape."""
    local = str(form.get("detention_start", "")).strip()
    offset = str(form.get("tz_offset_minutes", "0")).strip() or "0"
    detention_start: Any = local
    try:
        naive = datetime.fromisoformat(local)
        # The browser's offset (minutes behind UTC, as JavaScript reports it); UTC without JS.
        detention_start = (naive + timedelta(minutes=int(offset))).replace(tzinfo=UTC).isoformat()
    except ValueError:
        pass
    text = {k: str(form.get(k, "")).strip() for k in ("initials", "age", "birth_year", "sex")}
    optional = {k: str(form.get(k, "")).strip() or None for k in ("gender", "security", "payer")}
    data: dict[str, Any] = {
        "order_type": str(form.get("order_type", "")),
        "court_id": str(form.get("court_id", "")) or None,
        "case_number": str(form.get("case_number", "")),
        "detention_start": detention_start,
        "county_fips": str(form.get("county_fips", "")),
        "person": {
            "initials": text["initials"],
            "sex": text["sex"] or "unknown",
            "age": text["age"] or None,
            "birth_year": text["birth_year"] or None,
        },
        "needs": {
            "population": str(form.get("population", "")),
            "gender": optional["gender"],
            "specialties": [str(v) for v in form.getall("needs", []) if str(v).strip()],
            "security_level": optional["security"],
            "payer": optional["payer"],
            "involuntary": str(form.get("involuntary", "")) == "true",
        },
        "clinical_notes": str(form.get("clinical_notes", "")),
        "requesting_agency": str(form.get("requesting_agency", "")),
        "requesting_officer": str(form.get("requesting_officer", "")),
        "links": [],
    }
    if str(form.get("link_url", "")).strip():
        data["links"].append(
            {
                "system": str(form.get("link_system", "")) or "Case record",
                "external_id": str(form.get("link_external_id", "")),
                "url": str(form.get("link_url", "")),
            }
        )
    return data


async def placement_new(request: web.Request) -> web.StreamResponse:
    require_role(request, Role.LIAISON, Role.ADMIN)
    async with acquire(request.app[POOL]) as conn:
        context = await _new_context(conn)
    values = {
        "order_type": "emergency_96h",
        "population": "adult",
        "involuntary": True,
        "sex": "unknown",
    }
    return render(
        request,
        "placements/new.html",
        values=values,
        errors={},
        form_key=secrets.token_urlsafe(16),
        **context,
    )


async def placement_create(request: web.Request) -> web.StreamResponse:
    principal = require_role(request, Role.LIAISON, Role.ADMIN)
    form = await request.post()
    raw = _placement_input(form)
    errors: dict[str, str] = {}
    try:
        data = PlacementIn.model_validate(raw)
        authorize(request, Action.PLACEMENT_CREATE, Resource("placement"))
        # The form carries a one-time key: a double click or a resubmit finds the first one.
        key = idempotency.check_key(
            "form:" + str(form.get("form_key", "") or secrets.token_urlsafe(16))
        )
        digest = idempotency.request_hash(raw)
        async with transaction(request.app[POOL]) as conn:
            stored = await idempotency.lookup(conn, principal.user_id, key, digest)
            if stored is not None:
                raise _back(int(stored.body["id"]), "This request was already recorded.")
            placement_id = await placements.create(conn, data, principal)
            await idempotency.remember(
                conn, principal.user_id, key, digest, 303, {"id": placement_id}
            )
            await record_success(request, conn, "placement.create", "placement", placement_id)
    except ValidationError as exc:
        errors = {
            ".".join(str(p) for p in e["loc"][-1:]) or "__all__": str(e["msg"]).removeprefix(
                "Value error, "
            )
            for e in exc.errors(include_url=False)
        }
    except Problem as problem:
        if problem.status != 422:
            raise
        errors = problem_errors(problem)
    if errors:
        async with acquire(request.app[POOL]) as conn:
            context = await _new_context(conn)
        values: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
        values["needs"] = [str(v) for v in form.getall("needs", [])]
        values["involuntary"] = form.get("involuntary") == "true"
        return render(
            request,
            "placements/new.html",
            status=422,
            values=values,
            errors=errors,
            form_key=str(form.get("form_key", "")) or secrets.token_urlsafe(16),
            **context,
        )
    raise _back(placement_id, "Placement recorded. Find a bed below.")


# --------------------------------------------------------------------------- liaison: one placement


def _search_for(placement: placements.Placement) -> SearchQuery:
    needs = placement.needs
    return SearchQuery(
        county=placement.county_fips,
        population=needs.population,
        gender=needs.gender if needs.gender in ("male", "female") else None,  # type: ignore[arg-type]
        needs=needs.specialties,
        involuntary=needs.involuntary,
        court_ordered=placement.court_id is not None,
        payer=needs.payer,
        security=needs.security_level,
        limit=8,
    )


async def _detail_context(request: web.Request, placement_id: int) -> dict[str, Any]:
    async with acquire(request.app[POOL]) as conn:
        principal = authorize(request, Action.PLACEMENT_READ, await _resource(conn, placement_id))
        if principal.role is Role.FACILITY:
            raise web.HTTPSeeOther("/referrals")
        placement = await placements.get_placement(conn, placement_id)
        events = await placements.timeline(conn, placement_id)
        results = None
        if placement.status is Status.OPEN:
            results = await search.search(conn, _search_for(placement))
        await record_success(request, conn, "placement.read", "placement", placement_id)
    referred = {r.unit_id for r in placement.referrals if r.status in ("pending", "accepted")}
    return {
        "p": placement,
        "events": events,
        "result": results,
        "referred": referred,
        "outcomes": [(o.value, label) for o, label in OUTCOME_LABELS.items()],
        "decline_labels": {r.value: label for r, label in DECLINE_LABELS.items()},
        "reason_labels": search.REASON_LABELS,
        "notice": request.query.get("notice", ""),
    }


async def placement_page(request: web.Request) -> web.StreamResponse:
    require_role(request, Role.LIAISON, Role.ADMIN, Role.FACILITY)
    return render(
        request, "placements/detail.html", **await _detail_context(request, path_id(request))
    )


async def placement_live_fragment(request: web.Request) -> web.StreamResponse:
    require_role(request, Role.LIAISON, Role.ADMIN)
    return render(
        request, "placements/_live.html", **await _detail_context(request, path_id(request))
    )


async def _act(
    request: web.Request, placement_id: int, work: Any, success: str
) -> web.StreamResponse:
    """Run a liaison's change; a refusal comes back as a message on the placement page."""
    try:
        async with transaction(request.app[POOL]) as conn:
            principal = authorize(
                request, Action.PLACEMENT_WRITE, await _resource(conn, placement_id)
            )
            await work(conn, principal)
    except ValidationError as exc:
        message = "; ".join(f"{k}: {v}" for k, v in field_errors(exc).items())
        raise _back(placement_id, f"Not done: {message}") from None
    except Problem as problem:
        if problem.status in (409, 412, 422):
            raise _back(placement_id, f"Not done: {problem.detail}") from None
        raise
    raise _back(placement_id, success)


async def placement_refer(request: web.Request) -> web.StreamResponse:
    placement_id = path_id(request)
    form = await request.post()
    unit_ids = [int(str(v)) for v in form.getall("unit_id", []) if str(v).isdigit()]

    async def work(conn: Connection, principal: Principal) -> None:
        if not unit_ids:
            raise Problem(422, "Choose a unit to refer to.")
        ids = await placements.refer(conn, placement_id, unit_ids, principal)
        await record_success(
            request, conn, "placement.refer", "placement", placement_id, {"referral_ids": ids}
        )

    return await _act(request, placement_id, work, "Referral sent.")


async def placement_transition(request: web.Request) -> web.StreamResponse:
    placement_id = path_id(request)
    form = await request.post()

    async def work(conn: Connection, principal: Principal) -> None:
        change = TransitionIn.model_validate(
            {
                "to": form.get("to"),
                "outcome": form.get("outcome") or None,
                "note": form.get("note", ""),
            }
        )
        await placements.transition(conn, placement_id, change, principal, None)
        await record_success(
            request, conn, "placement.transition", "placement", placement_id, {"to": change.to}
        )

    labels = {
        "in_transit": "Marked in transit.",
        "admitted": "Marked admitted.",
        "closed": "Placement closed.",
    }
    return await _act(request, placement_id, work, labels.get(str(form.get("to")), "Done."))


async def placement_add_link(request: web.Request) -> web.StreamResponse:
    placement_id = path_id(request)
    form = await request.post()

    async def work(conn: Connection, principal: Principal) -> None:
        link = LinkIn.model_validate({k: form.get(k, "") for k in ("system", "external_id", "url")})
        link_id = await placements.add_link(conn, placement_id, link, principal)
        await record_success(
            request, conn, "placement.link", "placement", placement_id, {"link_id": link_id}
        )

    return await _act(request, placement_id, work, "Link added.")


async def placement_add_note(request: web.Request) -> web.StreamResponse:
    placement_id = path_id(request)
    form = await request.post()

    async def work(conn: Connection, principal: Principal) -> None:
        note = NoteIn.model_validate({"body": form.get("body", "")})
        note_id = await placements.add_note(conn, placement_id, note, principal)
        await record_success(
            request, conn, "placement.note", "placement", placement_id, {"note_id": note_id}
        )

    return await _act(request, placement_id, work, "Note added.")


async def referral_withdraw(request: web.Request) -> web.StreamResponse:
    referral_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        placement_id, _facility = await placements.referral_scope(conn, referral_id)

    async def work(conn: Connection, principal: Principal) -> None:
        await placements.withdraw(conn, referral_id, principal)
        await record_success(request, conn, "referral.withdraw", "referral", referral_id)

    return await _act(request, placement_id, work, "Referral withdrawn.")


# --------------------------------------------------------------------------- facility: referrals


async def _referrals_context(request: web.Request) -> dict[str, Any]:
    principal = require_role(request, Role.FACILITY)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.REFERRAL_LIST, Resource("referral"))
        items = await placements.referrals_for_facilities(conn, principal.facility_ids)
        await record_success(request, conn, "referral.list", "referral", "", {"count": len(items)})
    return {
        "items": items,
        "reasons": [(r.value, label) for r, label in DECLINE_LABELS.items()],
        "facility_ids": principal.facility_ids,
        "notice": request.query.get("notice", ""),
        "hold_hours": request.app[SETTINGS].hold_hours,
    }


async def referrals_page(request: web.Request) -> web.StreamResponse:
    return render(request, "placements/referrals.html", **await _referrals_context(request))


async def referrals_fragment(request: web.Request) -> web.StreamResponse:
    return render(request, "placements/_referrals.html", **await _referrals_context(request))


async def referral_respond(request: web.Request) -> web.StreamResponse:
    """Accept (hold a bed) or decline (with a reason): two clicks on the referrals page."""
    require_role(request, Role.FACILITY)
    referral_id = path_id(request)
    action = request.match_info["action"]
    form = await request.post()
    try:
        async with transaction(request.app[POOL]) as conn:
            placement_id, facility_id = await placements.referral_scope(conn, referral_id)
            principal = authorize(
                request,
                Action.REFERRAL_RESPOND,
                Resource("referral", referral_id, facility_id=facility_id),
            )
            if action == "accept":
                hold = timedelta(hours=request.app[SETTINGS].hold_hours)
                await placements.accept(conn, referral_id, principal, hold)
                notice = "Accepted: a bed is held for this person."
            else:
                decline = DeclineIn.model_validate(
                    {"reason": form.get("reason") or None, "note": form.get("note", "")}
                )
                await placements.decline(conn, referral_id, decline.reason, decline.note, principal)
                notice = "Declined."
            await record_success(
                request,
                conn,
                f"referral.{action}",
                "referral",
                referral_id,
                {"placement_id": placement_id},
            )
    except ValidationError:
        notice = "Choose a reason to decline."
    except Problem as problem:
        if problem.status not in (409, 422):
            raise
        notice = f"Not done: {problem.detail}"
    raise web.HTTPSeeOther(f"/referrals?notice={quote(notice)}")


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
            items = await placements.court_lookup(conn, court_id, case_number)
            await record_success(
                request,
                conn,
                "court.lookup",
                "court",
                court_id or "",
                {"case_number": case_number, "count": len(items)},
            )
    return render(
        request,
        "placements/court.html",
        case_number=case_number,
        items=items,
        court_name=court_name,
    )


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/placements", placement_list)
    r.add_get("/placements/list", placement_list_fragment)
    r.add_get("/placements/new", placement_new)
    r.add_post("/placements/new", placement_create)
    r.add_get("/placements/{id}", placement_page)
    r.add_get("/placements/{id}/live", placement_live_fragment)
    r.add_post("/placements/{id}/refer", placement_refer)
    r.add_post("/placements/{id}/transition", placement_transition)
    r.add_post("/placements/{id}/links", placement_add_link)
    r.add_post("/placements/{id}/notes", placement_add_note)
    r.add_post("/referrals/{id}/withdraw", referral_withdraw)
    r.add_get("/referrals", referrals_page)
    r.add_get("/referrals/list", referrals_fragment)
    r.add_post("/referrals/{id}/{action:accept|decline}", referral_respond)
    r.add_get("/court", court_page)
