"""Facility staff: the referrals sent to their units: acknowledge ("we are reviewing"), ask
the liaison a question, accept and decline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web
from pydantic import ValidationError

from bedboard import outbox, placements
from bedboard.access import Action, Resource
from bedboard.auth import Role
from bedboard.context import POOL, SETTINGS, authorize, path_id, record_success
from bedboard.database import acquire, transaction
from bedboard.errors import Conflict, Invalid
from bedboard.pages import render, require_role
from bedboard.pages.placements.messages import thread_context
from bedboard.pages.placements.packet import packet_view_context, packets_for
from bedboard.pages.placements.shared import confirm_page
from bedboard.placements import (
    DECLINE_LABELS,
    OPEN_REFERRAL,
    REFERRAL_LABELS,
    DeclineIn,
    QuestionIn,
    messages,
    past_target,
    waited_words,
)

# --------------------------------------------------------------------------- facility: referrals


async def _referrals_context(request: web.Request, *, audit: bool = False) -> dict[str, Any]:
    """A facility's incoming referrals; an administrator sees every facility's (read-only:
    the receiving facility answers)."""
    principal = require_role(request, Role.FACILITY, Role.ADMIN)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.REFERRAL_LIST, Resource("referral"))
        live_seq = await outbox.head(conn)  # before the reads: the page is at least this new
        facility_ids = (
            await placements.all_facility_ids(conn)
            if principal.role is Role.ADMIN
            else principal.facility_ids
        )
        items = await placements.referrals_for_facilities(conn, facility_ids)
        threads = await messages.threads(conn, [r.id for p in items for r in p.referrals])
        packets = await packets_for(conn, (p.id for p in items))
        if audit:
            await record_success(
                request, conn, "referral.list", "referral", "", {"count": len(items)}
            )
    return {
        "live_seq": live_seq,
        "items": items,
        "can_answer": principal.role is Role.FACILITY,
        "reasons": [(r.value, label) for r, label in DECLINE_LABELS.items()],
        "facility_ids": facility_ids,
        "notice": request.query.get("notice", ""),
        "hold_hours": request.app[SETTINGS].hold_hours,
        "now": datetime.now(UTC),
        "question_error": request.query.get("question_error", ""),
        "question_sentence": _QUESTION_SENTENCE,
        "waited": waited_words,
        "past_target": past_target,
        "referral_labels": {s.value: label for s, label in REFERRAL_LABELS.items()},
        **thread_context(
            request,
            threads,
            {
                r.id
                for p in items
                for r in p.referrals
                if messages.takes_messages(r.status.value, p.status.value)
            },
        ),
        "packets": packets,
        **packet_view_context(),
    }


async def referrals_page(request: web.Request) -> web.StreamResponse:
    context = await _referrals_context(request, audit=True)
    return render(request, "placements/referrals.html", **context)


async def referrals_fragment(request: web.Request) -> web.StreamResponse:
    """The list again for a live refresh; the page view that shows it was audited."""
    return render(request, "placements/_referrals.html", **await _referrals_context(request))


_QUESTION_SENTENCE = "Write your question for the liaison (up to 2,000 characters)."


async def referral_respond(request: web.Request) -> web.StreamResponse:
    """Acknowledge ("we are reviewing"), ask the liaison a question, accept (hold a bed) or
    decline (with a reason): from the referrals page."""
    require_role(request, Role.FACILITY)
    referral_id = path_id(request)
    action = request.match_info["action"]
    form = await request.post()
    if action == "decline" and form.get("confirmed") != "1":
        confirmation = await _confirm_decline(request, referral_id, form)
        if confirmation is not None:
            return confirmation
    try:
        async with transaction(request.app[POOL]) as conn:
            _placement_id, facility_id = await placements.referral_scope(conn, referral_id)
            principal = authorize(
                request,
                Action.REFERRAL_RESPOND,
                Resource("referral", referral_id, facility_id=facility_id),
            )
            if action == "accept":
                hold = timedelta(hours=request.app[SETTINGS].hold_hours)
                await placements.accept(conn, referral_id, principal, hold)
                notice = "Accepted: a bed is held for this person."
            elif action == "acknowledge":
                await placements.acknowledge(conn, referral_id, principal)
                notice = "The liaison sees that you are reviewing this referral."
            elif action == "question":
                try:
                    asked = QuestionIn.model_validate({"question": form.get("question", "")})
                except ValidationError:
                    # The sentence goes next to this referral's question field.
                    raise web.HTTPSeeOther(
                        f"/referrals?question_error={referral_id}#question-{referral_id}"
                    ) from None
                await placements.ask(conn, referral_id, asked.question, principal)
                notice = "Question sent: the liaison answers here, then you accept or decline."
            else:
                decline = DeclineIn.model_validate(
                    {"reason": form.get("reason") or None, "note": form.get("note", "")}
                )
                await placements.decline(conn, referral_id, decline.reason, decline.note, principal)
                notice = "Declined."
    except ValidationError:
        notice = "Choose a reason to decline."
    except (Conflict, Invalid) as exc:
        notice = f"Not done: {exc.detail}"
    raise web.HTTPSeeOther(f"/referrals?notice={quote(notice)}")


async def _confirm_decline(
    request: web.Request, referral_id: int, form: Any
) -> web.StreamResponse | None:
    reason = str(form.get("reason", ""))
    labels_by_value = {r.value: label for r, label in DECLINE_LABELS.items()}
    if reason not in labels_by_value:
        raise web.HTTPSeeOther(f"/referrals?notice={quote('Choose a reason to decline.')}")
    async with acquire(request.app[POOL]) as conn:
        _placement_id, facility_id = await placements.referral_scope(conn, referral_id)
        principal = authorize(
            request,
            Action.REFERRAL_RESPOND,
            Resource("referral", referral_id, facility_id=facility_id),
        )
        items = await placements.referrals_for_facilities(
            conn, principal.facility_ids, statuses=tuple(sorted(OPEN_REFERRAL))
        )
    found = [(p, r) for p in items for r in p.referrals if r.id == referral_id]
    if not found:
        return None  # already answered: the decline itself says so
    p, r = found[0]
    return confirm_page(
        request,
        reference=p.reference,
        back="/referrals",
        title=f"Decline {p.reference} for {r.unit_name}?",
        question=f"Decline the referral of {p.person.initials} to {r.facility_name} — "
        f"{r.unit_name} because: {labels_by_value[reason].lower()}.",
        consequence="The liaison is told at once and looks elsewhere"
        + (" and the held bed is released to the board" if r.status.value == "accepted" else "")
        + ". The referral cannot be answered again.",
        confirm_label="Yes, decline",
        form=form,
    )
