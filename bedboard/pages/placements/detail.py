"""One placement's page and the liaison's actions on it: refer (one unit, or all that fit),
answer a facility's question, move on, links, notes, withdraw a referral, declare that no
bed was found, correct a no-bed record, acknowledge an escalation.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDict
from pydantic import ValidationError

from bedboard import access, board, courtlinks, facilities, nobed, outbox, placements, search
from bedboard.access import Action
from bedboard.auth import Principal, Role
from bedboard.context import POOL, SETTINGS, authorize, path_id, record_success
from bedboard.database import Connection, acquire, transaction
from bedboard.errors import Conflict, Invalid, StaleVersion
from bedboard.pages import field_errors, labels, render, require_role
from bedboard.pages.forms import FORM, domain_errors
from bedboard.pages.placements import calls as calls_page
from bedboard.pages.placements.messages import thread_context
from bedboard.pages.placements.packet import packet_context
from bedboard.pages.placements.shared import back_to, confirm_page, resource_of
from bedboard.placements import (
    DECLINE_LABELS,
    DISPOSITION_LABELS,
    OPEN_REFERRAL,
    OUTCOME_LABELS,
    REFERRAL_LABELS,
    AnswerIn,
    LinkIn,
    NoteIn,
    Status,
    TransitionIn,
    escalation,
    followups,
    messages,
    past_target,
    repeat,
    waited_words,
    waiting,
)
from bedboard.search import SearchQuery

# The sentence next to each field of the person form, by the field the form sends back
# (never the value).
WAIT_ERRORS = {
    "since": "Enter a time between the detention start and now.",
    "agency": "Enter the officer's agency.",
    "place": "Choose where the person is waiting.",
}
PERSON_ERRORS = {
    "full_name": "Enter the person's full name (first and last), not initials.",
    "birth_date": "Enter a date of birth between 1900 and today.",
}
# The after-admission forms' sentences (pages/placements/aftercare.py sends the field back).
DISCHARGE_ERRORS = {
    "disposition": "Choose where the person went.",
    "discharged_at": "Enter a time between the admission and now.",
    "note": "Keep the note to 2,000 characters.",
}
TASK_ERRORS = {
    "title": "Enter what is to be done (up to 200 characters).",
    "due_on": "Enter the day it is due: today or later.",
    "due_at": "That time has passed: enter a later time, or leave the time empty.",
    "assignee_id": "Choose a liaison or an administrator.",
}
COMMITMENT_ERRORS = {
    "court_date": "Enter the petition's court date.",
    "cmhc_name": "Enter the name of the CMHC responsible (up to 200 characters).",
}


def _after_context(request: web.Request) -> dict[str, Any]:
    """What the placement page's after-admission parts need besides the record."""
    q = request.query
    return {
        "dispositions": [(d.value, label) for d, label in DISPOSITION_LABELS.items()],
        "disposition_labels": {d.value: label for d, label in DISPOSITION_LABELS.items()},
        "discharge_error_field": q.get("discharge_error", ""),
        "discharge_error": DISCHARGE_ERRORS.get(q.get("discharge_error", ""), ""),
        "task_error_field": q.get("task_error", ""),
        "task_error": TASK_ERRORS.get(q.get("task_error", ""), ""),
        "commitment_error_field": q.get("commitment_error", ""),
        "commitment_error": COMMITMENT_ERRORS.get(q.get("commitment_error", ""), ""),
        "commitment_task": followups.COMMITMENT_TASK,
        "today": datetime.now(UTC).astimezone(request.app[SETTINGS].zone).date().isoformat(),
    }


# --------------------------------------------------------------------------- liaison: one placement


FIRST_MATCHES = 8
# "Refer to all that fit" and "show all" use the same search: every unit that fits.
ALL_MATCHES = 200


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


def _wider_search_url(placement: placements.Placement) -> str:
    """The search page with the placement's needs and no radius, stale units included."""
    query = _search_for(placement, ALL_MATCHES)
    pairs: list[tuple[str, str]] = [("county", query.county or "")]
    pairs += [
        (k, str(v))
        for k, v in (
            ("population", query.population),
            ("gender", query.gender),
            ("payer", query.payer),
            ("security", query.security),
        )
        if v
    ]
    pairs += [("needs", n) for n in query.needs]
    pairs += [
        (k, "true")
        for k, v in (("involuntary", query.involuntary), ("court_ordered", query.court_ordered))
        if v
    ]
    pairs += [("include_stale", "true"), ("limit", str(ALL_MATCHES))]
    return "/search?" + urlencode(pairs)


def _wider_search(
    placement: placements.Placement, raised: list[escalation.Escalation], now: datetime
) -> str:
    """The banner's sentence while a raised rung offers a wider search and no bed is
    accepted yet ("" otherwise)."""
    if placement.status is not Status.OPEN or not any(e.offer_wider_search for e in raised):
        return ""
    if placement.deadline_at is None or placement.deadline_at <= now:
        when = "Deadline passed"
    else:
        when = f"Deadline in {math.ceil((placement.deadline_at - now).total_seconds() / 3600)} h"
    return f"{when} and no bed accepted: refer to every unit that fits, or search a wider radius"


async def _detail_context(request: web.Request, placement_id: int) -> dict[str, Any]:
    async with acquire(request.app[POOL]) as conn:
        resource = await resource_of(conn, placement_id)
        principal = authorize(request, Action.PLACEMENT_READ, resource)
        if principal.role is Role.FACILITY:
            raise web.HTTPSeeOther("/referrals")
        live_seq = await outbox.head(conn)  # before the reads: the page is at least this new
        placement = await placements.get_placement(conn, placement_id)
        events = await placements.timeline(conn, placement_id)
        no_bed = await nobed.corrected_for_placement(conn, placement_id)
        correction_choices = await _correction_choices(conn) if no_bed else {}
        sees_ladder = access.decide(principal, Action.ESCALATION_READ, resource).allowed
        raised = await escalation.escalations_of(conn, placement_id) if sees_ladder else []
        now = await board.db_now(conn)
        person_known = await repeat.has_key(conn, placement_id)
        waits = await waiting.waits(conn, placement_id)
        custody = await waiting.custody(conn, placement_id)
        hospitals = [
            (f.id, f.name) for f in await facilities.list_facilities(conn, include_inactive=False)
        ]
        earlier = await repeat.earlier(conn, placement_id)
        zone = request.app[SETTINGS].zone
        follow_ups = await followups.follow_ups_of(conn, placement_id, zone)
        commitment = await followups.commitment_of(conn, placement_id)
        assignees = await followups.assignees(conn)
        threads = await messages.threads(conn, [r.id for r in placement.referrals])
        call_context = await calls_page.page_context(conn, placement_id, request.query)
        results = None
        show_all = request.query.get("matches") == "all"
        if placement.status is Status.OPEN:
            limit = ALL_MATCHES if show_all else FIRST_MATCHES
            results = await search.search(conn, _search_for(placement, limit))
        await record_success(request, conn, "placement.read", "placement", placement_id)
    referred = {r.unit_id for r in placement.referrals if r.status in OPEN_REFERRAL}
    unreferred = (
        0
        if results is None
        else sum(1 for r in results.results if r.unit_id not in referred)
        + results.excluded.get("beyond_limit", 0)
    )
    return {
        "now": datetime.now(UTC),
        "escalations": raised,
        "sees_ladder": sees_ladder,
        "audience_words": escalation.audience_words,
        "wider_search": _wider_search(placement, raised, now),
        "wider_search_url": _wider_search_url(placement),
        "waited": waited_words,
        "past_target": past_target,
        "referral_labels": {s.value: label for s, label in REFERRAL_LABELS.items()},
        "unreferred": unreferred,
        "answer_error": request.query.get("answer_error", ""),
        "person_known": person_known,
        "waits": waits,
        "custody": custody,
        "custody_hours": custody.hours(datetime.now(UTC)),
        "places": [(p.value, label) for p, label in waiting.PLACE_LABELS.items()],
        "hospitals": hospitals,
        "wait_error": WAIT_ERRORS.get(request.query.get("wait_error", ""), ""),
        "wait_error_field": request.query.get("wait_error", ""),
        "earlier": earlier,
        "follow_ups": follow_ups,
        "commitment": commitment,
        "assignees": assignees,
        **_after_context(request),
        **thread_context(
            request,
            threads,
            {
                r.id
                for r in placement.referrals
                if messages.takes_messages(r.status.value, placement.status.value)
            },
        ),
        **call_context,
        "person_error": PERSON_ERRORS.get(request.query.get("person_error", ""), ""),
        "person_error_field": request.query.get("person_error", ""),
        "answer_sentence": _ANSWER_SENTENCE,
        "live_seq": live_seq,
        "unit_names": {
            r.unit_id: f"{r.facility_name} — {r.unit_name}" for r in placement.referrals
        },
        "p": placement,
        "events": events,
        "no_bed": no_bed,
        "no_bed_declared": any(r.report.trigger is nobed.Trigger.DECLARED for r in no_bed),
        "no_bed_labels": {t.value: label for t, label in nobed.TRIGGER_LABELS.items()},
        "correction_choices": correction_choices,
        "correction_for": None,
        "correction_errors": {},
        "correction_values": {},
        "result": results,
        "referred": referred,
        "outcomes": [(o.value, label) for o, label in OUTCOME_LABELS.items()],
        "decline_labels": {r.value: label for r, label in DECLINE_LABELS.items()}
        | {"no_answer": "nobody at the facility answered"},
        "reason_text": search.reason_text,
        "show_all": show_all,
        "notice": request.query.get("notice", ""),
    }


async def placement_page(request: web.Request) -> web.StreamResponse:
    require_role(request, Role.LIAISON, Role.SUPERVISOR, Role.ADMIN, Role.FACILITY)
    return await detail_page(request, path_id(request))


async def detail_page(
    request: web.Request,
    placement_id: int,
    *,
    new_court_link: str = "",
    status: int = 200,
    **overrides: Any,
) -> web.Response:
    """The placement page, with its court status links (and one just issued, shown
    this once); ``overrides`` replace parts of the page's context (a refused form's
    values and errors)."""
    context = await _detail_context(request, placement_id)
    async with acquire(request.app[POOL]) as conn:
        court_links = await courtlinks.court_links(conn, placement_id)
        context.update(await packet_context(request, conn, placement_id))
    context.update(overrides)
    return render(
        request,
        "placements/detail.html",
        status=status,
        court_links=court_links,
        new_court_link=new_court_link,
        court_link_days=request.app[SETTINGS].court_link_max_days,
        **context,
    )


async def placement_live_fragment(request: web.Request) -> web.StreamResponse:
    require_role(request, Role.LIAISON, Role.SUPERVISOR, Role.ADMIN)
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


async def _fitting(conn: Connection, placement: placements.Placement) -> dict[int, str]:
    """Every unit the placement's own search says fits now: id -> "Facility — Unit"."""
    result = await search.search(conn, _search_for(placement, ALL_MATCHES))
    return {r.unit_id: f"{r.facility_name} — {r.unit_name}" for r in result.results}


async def placement_refer_all(request: web.Request) -> web.StreamResponse:
    """*Refer to all that fit*: one confirmation naming the units (those the placement's
    search says fit and that have no open referral yet), then one action that refers to
    exactly those still fitting. A second submit of the same confirmation refers nobody."""
    placement_id = path_id(request)
    form = await request.post()
    if form.get("confirmed") != "1":
        async with acquire(request.app[POOL]) as conn:
            authorize(request, Action.PLACEMENT_WRITE, await resource_of(conn, placement_id))
            p = await placements.get_placement(conn, placement_id)
            if p.status is not Status.OPEN:
                raise back_to(placement_id, f"Not done: the placement is {p.status.value}.")
            fitting = await _fitting(conn, p)
        referred = {r.unit_id for r in p.referrals if r.status in OPEN_REFERRAL}
        todo = {u: name for u, name in fitting.items() if u not in referred}
        if not todo:
            raise back_to(placement_id, "Every unit that fits is already referred.")
        fields: MultiDict[str] = MultiDict([("unit_id", str(u)) for u in todo])
        count = f"{len(todo)} unit" + ("s" if len(todo) > 1 else "")
        return confirm_page(
            request,
            reference=p.reference,
            back=f"/placements/{placement_id}",
            title=f"Refer {p.reference} to all {count} that fit?",
            question="Send a referral to each of: " + "; ".join(todo.values()) + ".",
            consequence="Each facility sees the referral and the clinical notes at once; "
            "withdrawing a referral later does not take back what it has seen.",
            confirm_label=f"Yes, refer to all {count}",
            form=fields,
        )
    chosen = {int(str(v)) for v in form.getall("unit_id", []) if str(v).isdigit()}

    async def work(conn: Connection, principal: Principal) -> str:
        p = await placements.get_placement(conn, placement_id)
        still_fit = set(await _fitting(conn, p)) if p.status is Status.OPEN else set()
        ids = await placements.refer_all(conn, placement_id, sorted(chosen & still_fit), principal)
        if not ids:
            return "Every unit that fits is already referred."
        gone = len(chosen - still_fit)
        sent = f"Referral sent to {len(ids)} unit" + ("s." if len(ids) > 1 else ".")
        return sent + (f" {gone} no longer fit and were left out." if gone else "")

    return await _act(request, placement_id, work, "")


_ANSWER_SENTENCE = "Write the answer for the facility (up to 4,000 characters)."


async def referral_answer(request: web.Request) -> web.StreamResponse:
    """The liaison answers a facility's question; the facility then accepts or declines."""
    referral_id = path_id(request)
    form = await request.post()
    async with acquire(request.app[POOL]) as conn:
        placement_id, _facility = await placements.referral_scope(conn, referral_id)
    try:
        answer = AnswerIn.model_validate({"answer": form.get("answer", "")})
    except ValidationError:
        async with acquire(request.app[POOL]) as conn:
            authorize(request, Action.PLACEMENT_WRITE, await resource_of(conn, placement_id))
        raise web.HTTPSeeOther(
            f"/placements/{placement_id}?answer_error={referral_id}#answer-{referral_id}"
        ) from None

    async def work(conn: Connection, principal: Principal) -> None:
        await placements.answer(conn, referral_id, answer.answer, principal)

    return await _act(
        request, placement_id, work, "Answer sent: the facility now accepts or declines."
    )


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
            "referred and their decline reasons. It cannot be changed or removed, only "
            "corrected by a later correction kept beside it. The placement stays open: you "
            "can go on referring.",
            confirm_label="Yes, record no bed found",
            form=form,
        )

    async def work(conn: Connection, principal: Principal) -> str:
        done = await placements.declare_no_bed(conn, placement_id, principal)
        return "No-bed record made." if done.created else "No bed found was already recorded."

    return await _act(request, placement_id, work, "", Action.PLACEMENT_NO_BED)


# --------------------------------------------------------------------------- no-bed corrections

_CORRECTION_LABELS = {
    "kind": "Kind of correction",
    "reason": "Reason",
    "county_fips": "County",
    "order_type": "Order type",
    "age_band": "Age band",
    "payer": "Payer",
}


async def _correction_choices(conn: Connection) -> dict[str, Any]:
    """The selects of the *Correct this record* form, and the labels its history uses."""
    order_types = await placements.order_types(conn)
    return {
        "kinds": [(k.value, label) for k, label in nobed.CORRECTION_KIND_LABELS.items()],
        "reasons": [(r.value, label) for r, label in nobed.CORRECTION_REASON_LABELS.items()],
        "reasons_by_kind": {
            k.value: [r.value for r in rs] for k, rs in nobed.REASONS_BY_KIND.items()
        },
        "counties": [(c.fips, c.name) for c in await facilities.list_counties(conn)],
        "order_types": [(o.code, o.label) for o in order_types],
        "age_bands": [(b, b) for b in nobed.AGE_BAND_CODES],
        "payers": [("", "Not recorded"), *labels.choices(facilities.PAYERS, "payer")],
        "kind_labels": {k.value: label for k, label in nobed.CORRECTION_KIND_LABELS.items()},
        "reason_labels": {r.value: label for r, label in nobed.CORRECTION_REASON_LABELS.items()},
        "order_type_labels": {o.code: o.label for o in order_types},
    }


def _sentences(errors: dict[str, str]) -> dict[str, str]:
    """A refusal's phrases as sentences next to their fields (unknown fields: the form)."""
    out: dict[str, str] = {}
    for field, phrase in errors.items():
        key = field if field in _CORRECTION_LABELS else FORM
        if phrase[:1].isupper():
            text = phrase
        else:
            text = f"{_CORRECTION_LABELS.get(field, 'This correction')} {phrase}"
        out.setdefault(key, text if text.endswith(".") else text + ".")
    return out


def _correction_input(form: Any) -> dict[str, Any]:
    """The form as the API's body: the coded fields only for an amendment (the selects
    show every field, preset to its current value; payer "" is not recorded)."""
    data: dict[str, Any] = {k: str(form.get(k, "")) for k in ("kind", "reason")}
    if data["kind"] == nobed.CorrectionKind.AMEND.value:
        for name in nobed.AMENDABLE:
            data[name] = str(form.get(name, "")).strip() or None
    return data


async def placement_no_bed_correct(request: web.Request) -> web.StreamResponse:
    """*Correct this record*: a retraction or an amendment of one of the placement's
    no-bed records (a new correction; the record never changes). A refusal shows the page
    again with a sentence next to each field at fault (422)."""
    placement_id = path_id(request)
    report_id = path_id(request, "report_id")
    data = _correction_input(await request.post())
    errors: dict[str, str]
    try:
        async with transaction(request.app[POOL]) as conn:
            principal = authorize(
                request, Action.PLACEMENT_NO_BED_CORRECT, await resource_of(conn, placement_id)
            )
            correction = nobed.CorrectionIn.model_validate(data)
            await nobed.correct(conn, placement_id, report_id, correction, principal)
    except ValidationError as exc:
        errors = field_errors(exc, _CORRECTION_LABELS)
    except (Invalid, Conflict) as exc:
        errors = _sentences(domain_errors(exc))
    else:
        raise back_to(
            placement_id, "Correction recorded: the reports count the record as corrected."
        )
    return await detail_page(
        request,
        placement_id,
        status=422,
        correction_for=report_id,
        correction_errors=errors,
        correction_values=data,
        notice="Not done: the correction needs changes (see the record below).",
    )


async def escalation_acknowledge(request: web.Request) -> web.StreamResponse:
    """Acknowledge a raised rung of the escalation ladder (a form; works without script)."""
    escalation_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        placement_id = await escalation.escalation_placement(conn, escalation_id)

    async def work(conn: Connection, principal: Principal) -> str:
        done = await escalation.acknowledge(
            conn, escalation_id, principal, await board.db_now(conn)
        )
        if done.acknowledged_by != principal.user_id:
            return f"Already acknowledged by {done.acknowledged_by_email or 'someone else'}."
        return "Escalation acknowledged."

    return await _act(request, placement_id, work, "", Action.ESCALATION_ACKNOWLEDGE)
