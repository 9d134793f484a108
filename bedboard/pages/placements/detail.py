"""One placement's page and the liaison's actions on it: refer, move on, links, notes,
withdraw a referral, declare that no bed was found.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bedboard import nobed, outbox, placements, search
from bedboard.access import Action
from bedboard.auth import Principal, Role
from bedboard.context import POOL, authorize, path_id, record_success
from bedboard.database import Connection, acquire, transaction
from bedboard.errors import Conflict, Invalid, StaleVersion
from bedboard.pages import field_errors, render, require_role
from bedboard.pages.placements.shared import back_to, confirm_page, resource_of
from bedboard.placements import (
    DECLINE_LABELS,
    OUTCOME_LABELS,
    LinkIn,
    NoteIn,
    Status,
    TransitionIn,
)
from bedboard.search import SearchQuery

# --------------------------------------------------------------------------- liaison: one placement


FIRST_MATCHES = 8


def _search_for(placement: placements.Placement, limit: int = FIRST_MATCHES) -> SearchQuery:
    """The placement's own search: its age group and unit genders as recorded (derived
    from the person, or the liaison's recorded override)."""
    needs = placement.needs
    return SearchQuery(
        county=placement.county_fips,
        population=needs.population,
        gender=needs.gender,
        needs=needs.specialties,
        involuntary=needs.involuntary,
        court_ordered=placement.court_ordered,
        payer=needs.payer,
        security=needs.security_level,
        limit=limit,
    )


async def _detail_context(request: web.Request, placement_id: int) -> dict[str, Any]:
    async with acquire(request.app[POOL]) as conn:
        principal = authorize(request, Action.PLACEMENT_READ, await resource_of(conn, placement_id))
        if principal.role is Role.FACILITY:
            raise web.HTTPSeeOther("/referrals")
        live_seq = await outbox.head(conn)  # before the reads: the page is at least this new
        placement = await placements.get_placement(conn, placement_id)
        events = await placements.timeline(conn, placement_id)
        no_bed = await nobed.for_placement(conn, placement_id)
        results = None
        show_all = request.query.get("matches") == "all"
        if placement.status is Status.OPEN:
            limit = 200 if show_all else FIRST_MATCHES
            results = await search.search(conn, _search_for(placement, limit))
        await record_success(request, conn, "placement.read", "placement", placement_id)
    referred = {r.unit_id for r in placement.referrals if r.status in ("pending", "accepted")}
    return {
        "live_seq": live_seq,
        "unit_names": {
            r.unit_id: f"{r.facility_name} — {r.unit_name}" for r in placement.referrals
        },
        "p": placement,
        "events": events,
        "no_bed": no_bed,
        "no_bed_declared": any(r.trigger is nobed.Trigger.DECLARED for r in no_bed),
        "no_bed_labels": {t.value: label for t, label in nobed.TRIGGER_LABELS.items()},
        "result": results,
        "referred": referred,
        "outcomes": [(o.value, label) for o, label in OUTCOME_LABELS.items()],
        "decline_labels": {r.value: label for r, label in DECLINE_LABELS.items()},
        "reason_text": search.reason_text,
        "show_all": show_all,
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
    request: web.Request,
    placement_id: int,
    work: Any,
    success: str,
    action: Action = Action.PLACEMENT_WRITE,
) -> web.StreamResponse:
    """Run a liaison's change; a refusal comes back as a message on the placement page.
    ``work`` may return its own notice instead of ``success``."""
    try:
        async with transaction(request.app[POOL]) as conn:
            principal = authorize(request, action, await resource_of(conn, placement_id))
            notice = await work(conn, principal)
    except ValidationError as exc:
        message = "; ".join(f"{k}: {v}" for k, v in field_errors(exc).items())
        raise back_to(placement_id, f"Not done: {message}") from None
    except (Conflict, StaleVersion, Invalid) as exc:
        raise back_to(placement_id, f"Not done: {exc.detail}") from None
    raise back_to(placement_id, notice if isinstance(notice, str) else success)


async def placement_refer(request: web.Request) -> web.StreamResponse:
    placement_id = path_id(request)
    form = await request.post()
    unit_ids = [int(str(v)) for v in form.getall("unit_id", []) if str(v).isdigit()]

    async def work(conn: Connection, principal: Principal) -> None:
        if not unit_ids:
            raise Invalid.field("unit_ids", "Choose a unit to refer to.")
        await placements.refer(conn, placement_id, unit_ids, principal)

    return await _act(request, placement_id, work, "Referral sent.")


_OUTCOME_TEXT = {o.value: label.lower() for o, label in OUTCOME_LABELS.items()}


async def _confirm_transition(
    request: web.Request, placement_id: int, form: Any
) -> web.StreamResponse | None:
    to = str(form.get("to", ""))
    if to not in ("admitted", "closed") or form.get("confirmed") == "1":
        return None
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.PLACEMENT_READ, await resource_of(conn, placement_id))
        p = await placements.get_placement(conn, placement_id)
    back = f"/placements/{placement_id}"
    if to == "admitted":
        where = f"{p.accepted_facility_name} — {p.accepted_unit_name}"
        return confirm_page(
            request,
            reference=p.reference,
            back=back,
            title=f"Mark {p.reference} admitted?",
            question=f"Confirm that the person was admitted to {where}.",
            consequence="The held bed becomes an occupied bed on the board and the placement "
            "is final: it can no longer be edited, referred or closed.",
            confirm_label="Yes, mark admitted",
            form=form,
        )
    outcome = _OUTCOME_TEXT.get(str(form.get("outcome", "")), "the chosen outcome")
    return confirm_page(
        request,
        reference=p.reference,
        back=back,
        title=f"Close {p.reference}?",
        question=f"Close this placement as “{outcome}”.",
        consequence="Pending referrals are withdrawn, a held bed is released to the board, "
        "and the placement is final: it can no longer be edited or reopened.",
        confirm_label="Yes, close it",
        form=form,
    )


async def placement_transition(request: web.Request) -> web.StreamResponse:
    placement_id = path_id(request)
    form = await request.post()
    confirmation = await _confirm_transition(request, placement_id, form)
    if confirmation is not None:
        return confirmation

    async def work(conn: Connection, principal: Principal) -> None:
        change = TransitionIn.model_validate(
            {
                "to": form.get("to"),
                "outcome": form.get("outcome") or None,
                "note": form.get("note", ""),
            }
        )
        await placements.transition(conn, placement_id, change, principal, None)

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
        await placements.add_link(conn, placement_id, link, principal)

    return await _act(request, placement_id, work, "Link added.")


async def placement_add_note(request: web.Request) -> web.StreamResponse:
    placement_id = path_id(request)
    form = await request.post()

    async def work(conn: Connection, principal: Principal) -> None:
        note = NoteIn.model_validate({"body": form.get("body", "")})
        await placements.add_note(conn, placement_id, note, principal)

    return await _act(request, placement_id, work, "Note added.")


async def referral_withdraw(request: web.Request) -> web.StreamResponse:
    referral_id = path_id(request)
    form = await request.post()
    async with acquire(request.app[POOL]) as conn:
        placement_id, _facility = await placements.referral_scope(conn, referral_id)
        if form.get("confirmed") != "1":
            authorize(request, Action.PLACEMENT_READ, await resource_of(conn, placement_id))
            p = await placements.get_placement(conn, placement_id)
            referral = next((r for r in p.referrals if r.id == referral_id), None)
            if referral is not None and referral.status.value == "accepted":
                return confirm_page(
                    request,
                    reference=p.reference,
                    back=f"/placements/{placement_id}",
                    title=f"Withdraw the accepted referral to {referral.facility_name}?",
                    question=f"{referral.facility_name} — {referral.unit_name} accepted and "
                    "holds a bed for this person. Withdraw the referral?",
                    consequence="The held bed is released to the board and the placement is "
                    "open again; the facility sees the withdrawal.",
                    confirm_label="Yes, withdraw and release the bed",
                    form=form,
                )

    async def work(conn: Connection, principal: Principal) -> None:
        await placements.withdraw(conn, referral_id, principal)

    return await _act(request, placement_id, work, "Referral withdrawn.")


async def placement_no_bed(request: web.Request) -> web.StreamResponse:
    """*No bed found*: after a confirmation step, the placement's no-bed record."""
    placement_id = path_id(request)
    form = await request.post()
    if form.get("confirmed") != "1":
        async with acquire(request.app[POOL]) as conn:
            authorize(request, Action.PLACEMENT_NO_BED, await resource_of(conn, placement_id))
            p = await placements.get_placement(conn, placement_id)
        return confirm_page(
            request,
            reference=p.reference,
            back=f"/placements/{placement_id}",
            title=f"Record “No bed found” for {p.reference}?",
            question="Confirm that no bed could be found for this person.",
            consequence="A no-bed record is kept for the program's reports with what is "
            "known now: the county, the order type, an age band, the payer, the facilities "
            "referred and their decline reasons. It cannot be changed or removed. The "
            "placement stays open: you can go on referring.",
            confirm_label="Yes, record no bed found",
            form=form,
        )

    async def work(conn: Connection, principal: Principal) -> str:
        done = await placements.declare_no_bed(conn, placement_id, principal)
        return "No-bed record made." if done.created else "No bed found was already recorded."

    return await _act(request, placement_id, work, "", Action.PLACEMENT_NO_BED)
