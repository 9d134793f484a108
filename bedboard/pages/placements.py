"""Placement pages: liaisons' open placements and the placement page, facilities' incoming
referrals, and the court's case lookup. Every change goes through ``placements`` with the
same access policy and audit trail as the API."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web
from pydantic import ValidationError

from bedboard import courts, facilities, idempotency, localtime, matching, placements, search
from bedboard.access import Action, Resource
from bedboard.auth import Principal, Role
from bedboard.context import POOL, SETTINGS, authorize, path_id, record_success
from bedboard.database import Connection, acquire, transaction
from bedboard.errors import Conflict, Invalid, KeyReused, StaleVersion
from bedboard.facilities import PAYERS, SPECIALTIES, SecurityLevel
from bedboard.pages import domain_errors, field_errors, labels, render, require_role
from bedboard.placements import (
    DECLINE_LABELS,
    OUTCOME_LABELS,
    DeclineIn,
    LinkIn,
    NoteIn,
    PlacementIn,
    PlacementPatch,
    Status,
    TransitionIn,
)
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
    context = await _list_context(request, principal, audit=True)
    return render(
        request, "placements/list.html", status=422 if context["errors"] else 200, **context
    )


async def placement_list_fragment(request: web.Request) -> web.StreamResponse:
    """The list again for a live refresh; the page view that shows it was audited."""
    principal = require_role(request, Role.LIAISON, Role.ADMIN)
    return render(request, "placements/_list.html", **await _list_context(request, principal))


SHOW = {
    "open": ("Open", ("open", "accepted", "in_transit")),
    "admitted": ("Admitted", ("admitted",)),
    "closed": ("Closed", ("closed",)),
    "all": ("All", ()),
}


def _local_day(text: str, zone: Any, *, next_day: bool = False) -> datetime:
    day = date.fromisoformat(text)
    if next_day:
        day += timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


async def _list_context(
    request: web.Request, principal: Principal, *, audit: bool = False
) -> dict[str, Any]:
    """The placements list with its filters (all in the address, so a link can be shared):
    show (open, admitted, closed, all), from / to (local dates of the request), court,
    county, and q (a reference, initials or a case number)."""
    q = request.query
    mine = principal.role is Role.LIAISON and q.get("all") != "1"
    show = q.get("show", "open") if q.get("show", "open") in SHOW else "open"
    zone = request.app[SETTINGS].zone
    errors: dict[str, str] = {}
    bounds: dict[str, datetime | None] = {"from": None, "to": None}
    for name in ("from", "to"):
        if q.get(name):
            try:
                bounds[name] = _local_day(q[name], zone, next_day=name == "to")
            except ValueError:
                errors[name] = "Enter a date, for example 11/28/2026."
    court = q.get("court", "")
    county = q.get("county", "")
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.PLACEMENT_LIST, Resource("placement"))
        items = await placements.list_placements(
            conn,
            liaison_id=principal.user_id if mine else None,
            statuses=SHOW[show][1],
            court_id=int(court) if court.isdigit() and len(court) < 19 else None,
            county_fips=county if len(county) == 5 and county.isdigit() else None,
            created_from=bounds["from"],
            created_before=bounds["to"],
            text=q.get("q", "")[:60] or None,
        )
        court_choices = [(str(c.id), c.name) for c in await courts.list_courts(conn)]
        county_choices = [(c.fips, c.name) for c in await facilities.list_counties(conn)]
        if audit:
            await record_success(
                request, conn, "placement.list", "placement", "", {"count": len(items)}
            )
    return {
        "items": items,
        "mine": mine,
        "show": show,
        "show_label": SHOW[show][0],
        "errors": errors,
        "values": {k: q.get(k, "") for k in ("from", "to", "court", "county", "q")}
        | {"show": show},
        "shows": [(k, v[0]) for k, v in SHOW.items()],
        "court_choices": [("", "Any court"), *court_choices],
        "county_choices": [("", "Any county"), *county_choices],
        "live_query": request.query_string,
    }


# --------------------------------------------------------------------------- liaison: create, edit

FORM_LABELS = {
    "order_type": "Order type",
    "court_id": "Court",
    "case_number": "Court case number",
    "detention_start": "Detention start",
    "county_fips": "County",
    "initials": "Initials",
    "age": "Age",
    "birth_year": "Birth year",
    "sex": "Sex",
    "population": "Age group",
    "gender": "Unit gender",
    "security_level": "Lowest security level",
    "payer": "Payer",
    "specialties": "Specialties",
    "clinical_notes": "Clinical notes",
    "requesting_agency": "Requesting agency",
    "requesting_officer": "Requesting officer",
    "system": "Link system",
    "external_id": "Record number",
    "url": "Link address",
}
FORM_MESSAGES = {
    "initials": "Enter the person's initials: 1 to 4 letters, no name.",
    "age": "Enter the age as a whole number from 0 to 130.",
    "birth_year": "Enter a four-digit birth year, for example 1988.",
    "county_fips": "Choose the county where the person is.",
    "order_type": "Choose the order type.",
    "url": "Enter the link's address, starting with https://.",
    "case_number": "Enter the case number in at most 60 characters.",
}
# Form field → error key, where the model's name differs from the form's.
_FORM_KEYS = {
    "security_level": "security",
    "specialties": "needs",
    "system": "link_system",
    "external_id": "link_external_id",
    "url": "link_url",
}


def _form_errors(errors: dict[str, str]) -> dict[str, str]:
    return {_FORM_KEYS.get(k, k): v for k, v in errors.items()}


async def _form_context(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    order_types = await placements.order_types(conn)
    return {
        "order_types": [
            (o.code, o.label, {"court-required": "true" if o.court_required else "false"})
            for o in order_types
        ],
        "courts": [
            ("", "— none yet —", {"county": ""}),
            *[
                (str(c.id), c.name, {"county": c.county_fips})
                for c in await courts.list_courts(conn)
            ],
        ],
        "counties": [
            ("", "— choose —"),
            *[(c.fips, c.name) for c in await facilities.list_counties(conn)],
        ],
        "populations": [("", "From the person's age"), *labels.POPULATION.items()],
        "genders": [("", "From the person's sex"), *labels.UNIT_GENDER.items()],
        "sexes": list(labels.SEX.items()),
        "securities": [("", "Any"), *labels.choices([s.value for s in SecurityLevel], "security")],
        "specialties": labels.choices(SPECIALTIES, "specialty"),
        "payers": [("", "Unknown"), *labels.choices(PAYERS, "payer")],
        "derived_text": derived_text(values),
    }


def derived_text(values: dict[str, Any]) -> str:
    """What the person's age and sex give, as the form shows it beside the needs."""
    age, sex = str(values.get("age", "")).strip(), str(values.get("sex", "unknown"))
    parts = []
    if age.isdigit() and int(age) <= 130:
        group = matching.population_for_age(int(age))
        parts.append(f"Age {age}: {labels.label(group, 'population').lower()} units")
    gender = matching.unit_gender_for_sex(sex if sex in labels.SEX else "unknown")  # type: ignore[arg-type]
    parts.append(f"{labels.SEX.get(sex, 'Unknown')}: {labels.UNIT_GENDER[gender].lower()}")
    return "From the person: " + "; ".join(parts) + "."


def _placement_input(form: Any, zone: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The placement form as the API's JSON shape, and errors found before validation
    (a typed local time that is no real moment)."""
    errors: dict[str, str] = {}
    detention_start: Any = None
    local = str(form.get("detention_start", "")).strip()
    if not local:
        errors["detention_start"] = "Enter when the detention started."
    else:
        try:
            detention_start = localtime.parse_local(local, zone).isoformat()
        except localtime.LocalTimeError as exc:
            errors["detention_start"] = str(exc)
    text = {k: str(form.get(k, "")).strip() for k in ("initials", "age", "birth_year", "sex")}
    optional = {
        k: str(form.get(k, "")).strip() or None
        for k in ("gender", "security", "payer", "population", "court_id")
    }
    data: dict[str, Any] = {
        "order_type": str(form.get("order_type", "")),
        "court_id": optional["court_id"],
        "case_number": str(form.get("case_number", "")),
        "detention_start": detention_start or "2000-01-01T00:00:00Z",
        "county_fips": str(form.get("county_fips", "")),
        "person": {
            "initials": text["initials"],
            "sex": text["sex"] or "unknown",
            "age": text["age"] or None,
            "birth_year": text["birth_year"] or None,
        },
        "needs": {
            "population": optional["population"],
            "gender": optional["gender"],
            "override": str(form.get("override", "")) == "true",
            "specialties": [str(v) for v in form.getall("needs", []) if str(v).strip()],
            "security_level": optional["security"],
            "payer": optional["payer"],
            "involuntary": str(form.get("involuntary", "")) == "true",
        },
        "clinical_notes": str(form.get("clinical_notes", "")),
        "requesting_agency": str(form.get("requesting_agency", "")),
        "requesting_officer": str(form.get("requesting_officer", "")),
    }
    return data, errors


def _form_values(form: Any) -> dict[str, Any]:
    values: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    values["needs"] = [str(v) for v in form.getall("needs", [])]
    values["involuntary"] = form.get("involuntary") == "true"
    values["override"] = form.get("override") == "true"
    return values


def _validation_errors(exc: ValidationError) -> dict[str, str]:
    return _form_errors(field_errors(exc, FORM_LABELS, FORM_MESSAGES))


async def placement_new(request: web.Request) -> web.StreamResponse:
    require_role(request, Role.LIAISON, Role.ADMIN)
    values = {"order_type": "emergency_96h_application", "involuntary": True, "sex": "unknown"}
    async with acquire(request.app[POOL]) as conn:
        context = await _form_context(conn, values)
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
    raw, errors = _placement_input(form, request.app[SETTINGS].zone)
    raw["links"] = []
    if str(form.get("link_url", "")).strip():
        raw["links"].append(
            {
                "system": str(form.get("link_system", "")) or "Case record",
                "external_id": str(form.get("link_external_id", "")),
                "url": str(form.get("link_url", "")),
            }
        )
    try:
        data = PlacementIn.model_validate(raw)
        if errors:
            when = datetime.now(UTC) if "detention_start" in errors else data.detention_start
            _also_matching(errors, data.person, data.needs, when)
            raise _FormInvalid
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
    except _FormInvalid:
        pass
    except ValidationError as exc:
        errors = {**_validation_errors(exc), **errors}
    except (Invalid, KeyReused) as exc:
        errors = {**_form_errors(domain_errors(exc)), **errors}
    if errors:
        values = _form_values(form)
        async with acquire(request.app[POOL]) as conn:
            context = await _form_context(conn, values)
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


class _FormInvalid(Exception):
    """The form had errors found before the model (already in ``errors``)."""


def _also_matching(errors: dict[str, str], person: Any, needs: Any, when: datetime) -> None:
    """With other errors on the form, name a matching contradiction too, so the liaison
    corrects everything in one pass."""
    if person is None or needs is None:
        return
    try:
        placements.match_person(person.age, person.birth_year, person.sex, needs, when)
    except Invalid as exc:
        for key, message in _form_errors(domain_errors(exc)).items():
            errors.setdefault(key, message)


def _edit_values(p: placements.Placement, zone: Any) -> dict[str, Any]:
    overridden = p.needs.population_override or p.needs.gender_override
    return {
        "order_type": p.order_type,
        "court_id": str(p.court_id or ""),
        "case_number": p.case_number,
        "detention_start": localtime.format_input(p.detention_start, zone),
        "county_fips": p.county_fips,
        "requesting_agency": p.requesting_agency,
        "requesting_officer": p.requesting_officer,
        "initials": p.person.initials,
        "age": "" if p.person.age is None else str(p.person.age),
        "birth_year": "" if p.person.birth_year is None else str(p.person.birth_year),
        "sex": p.person.sex,
        "population": p.needs.population.value if p.needs.population_override else "",
        "gender": p.needs.gender if p.needs.gender_override else "",
        "override": overridden,
        "security": p.needs.security_level.value if p.needs.security_level else "",
        "payer": p.needs.payer or "",
        "needs": p.needs.specialties,
        "involuntary": p.needs.involuntary,
        "clinical_notes": p.clinical_notes,
    }


async def placement_edit(request: web.Request) -> web.StreamResponse:
    require_role(request, Role.LIAISON, Role.ADMIN)
    placement_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.PLACEMENT_WRITE, await _resource(conn, placement_id))
        p = await placements.get_placement(conn, placement_id)
        values = _edit_values(p, request.app[SETTINGS].zone)
        context = await _form_context(conn, values)
        await record_success(request, conn, "placement.read", "placement", placement_id)
    if p.status in placements.TERMINAL:
        raise _back(placement_id, f"Not done: a placement that is {p.status.value} is final.")
    return render(
        request,
        "placements/edit.html",
        values=values,
        errors={},
        placement_id=placement_id,
        reference=p.reference,
        version=p.version,
        **context,
    )


async def placement_update(request: web.Request) -> web.StreamResponse:
    require_role(request, Role.LIAISON, Role.ADMIN)
    placement_id = path_id(request)
    form = await request.post()
    raw, errors = _placement_input(form, request.app[SETTINGS].zone)
    version = str(form.get("version", ""))
    try:
        patch = PlacementPatch.model_validate(raw)
        if errors:
            _also_matching(errors, patch.person, patch.needs, datetime.now(UTC))
            raise _FormInvalid
        async with transaction(request.app[POOL]) as conn:
            principal = authorize(
                request, Action.PLACEMENT_WRITE, await _resource(conn, placement_id)
            )
            await placements.update(
                conn, placement_id, patch, principal, int(version) if version.isdigit() else None
            )
            await record_success(request, conn, "placement.update", "placement", placement_id)
    except _FormInvalid:
        pass
    except ValidationError as exc:
        errors = {**_validation_errors(exc), **errors}
    except Invalid as exc:
        errors = {**_form_errors(domain_errors(exc)), **errors}
    except (Conflict, StaleVersion) as exc:
        errors = {"__all__": exc.detail}
    if errors:
        values = _form_values(form)
        async with acquire(request.app[POOL]) as conn:
            context = await _form_context(conn, values)
            p = await placements.get_placement(conn, placement_id)
        return render(
            request,
            "placements/edit.html",
            status=422,
            values=values,
            errors=errors,
            placement_id=placement_id,
            reference=p.reference,
            version=version,
            **context,
        )
    raise _back(placement_id, "Changes saved.")


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
        principal = authorize(request, Action.PLACEMENT_READ, await _resource(conn, placement_id))
        if principal.role is Role.FACILITY:
            raise web.HTTPSeeOther("/referrals")
        placement = await placements.get_placement(conn, placement_id)
        events = await placements.timeline(conn, placement_id)
        results = None
        show_all = request.query.get("matches") == "all"
        if placement.status is Status.OPEN:
            limit = 200 if show_all else FIRST_MATCHES
            results = await search.search(conn, _search_for(placement, limit))
        await record_success(request, conn, "placement.read", "placement", placement_id)
    referred = {r.unit_id for r in placement.referrals if r.status in ("pending", "accepted")}
    return {
        "unit_names": {
            r.unit_id: f"{r.facility_name} — {r.unit_name}" for r in placement.referrals
        },
        "p": placement,
        "events": events,
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
    except (Conflict, StaleVersion, Invalid) as exc:
        raise _back(placement_id, f"Not done: {exc.detail}") from None
    raise _back(placement_id, success)


async def placement_refer(request: web.Request) -> web.StreamResponse:
    placement_id = path_id(request)
    form = await request.post()
    unit_ids = [int(str(v)) for v in form.getall("unit_id", []) if str(v).isdigit()]

    async def work(conn: Connection, principal: Principal) -> None:
        if not unit_ids:
            raise Invalid.field("unit_ids", "Choose a unit to refer to.")
        ids = await placements.refer(conn, placement_id, unit_ids, principal)
        await record_success(
            request, conn, "placement.refer", "placement", placement_id, {"referral_ids": ids}
        )

    return await _act(request, placement_id, work, "Referral sent.")


def _confirm(
    request: web.Request,
    *,
    reference: str,
    back: str,
    title: str,
    question: str,
    consequence: str,
    confirm_label: str,
    form: Any,
) -> web.StreamResponse:
    """A confirmation step before an action that cannot be undone; works without script."""
    fields = [(k, str(v)) for k, v in form.items() if k not in ("csrf_token", "confirmed")]
    return render(
        request,
        "placements/confirm.html",
        reference=reference,
        back=back,
        title=title,
        question=question,
        consequence=consequence,
        confirm_label=confirm_label,
        action=request.path,
        fields=fields,
    )


_OUTCOME_TEXT = {o.value: label.lower() for o, label in OUTCOME_LABELS.items()}


async def _confirm_transition(
    request: web.Request, placement_id: int, form: Any
) -> web.StreamResponse | None:
    to = str(form.get("to", ""))
    if to not in ("admitted", "closed") or form.get("confirmed") == "1":
        return None
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.PLACEMENT_READ, await _resource(conn, placement_id))
        p = await placements.get_placement(conn, placement_id)
    back = f"/placements/{placement_id}"
    if to == "admitted":
        where = f"{p.accepted_facility_name} — {p.accepted_unit_name}"
        return _confirm(
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
    return _confirm(
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
    form = await request.post()
    async with acquire(request.app[POOL]) as conn:
        placement_id, _facility = await placements.referral_scope(conn, referral_id)
        if form.get("confirmed") != "1":
            authorize(request, Action.PLACEMENT_READ, await _resource(conn, placement_id))
            p = await placements.get_placement(conn, placement_id)
            referral = next((r for r in p.referrals if r.id == referral_id), None)
            if referral is not None and referral.status.value == "accepted":
                return _confirm(
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
        await record_success(request, conn, "referral.withdraw", "referral", referral_id)

    return await _act(request, placement_id, work, "Referral withdrawn.")


# --------------------------------------------------------------------------- facility: referrals


async def _referrals_context(request: web.Request, *, audit: bool = False) -> dict[str, Any]:
    """A facility's incoming referrals; an administrator sees every facility's (read-only:
    the receiving facility answers)."""
    principal = require_role(request, Role.FACILITY, Role.ADMIN)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.REFERRAL_LIST, Resource("referral"))
        facility_ids = (
            await placements.all_facility_ids(conn)
            if principal.role is Role.ADMIN
            else principal.facility_ids
        )
        items = await placements.referrals_for_facilities(conn, facility_ids)
        if audit:
            await record_success(
                request, conn, "referral.list", "referral", "", {"count": len(items)}
            )
    return {
        "items": items,
        "can_answer": principal.role is Role.FACILITY,
        "reasons": [(r.value, label) for r, label in DECLINE_LABELS.items()],
        "facility_ids": facility_ids,
        "notice": request.query.get("notice", ""),
        "hold_hours": request.app[SETTINGS].hold_hours,
    }


async def referrals_page(request: web.Request) -> web.StreamResponse:
    context = await _referrals_context(request, audit=True)
    return render(request, "placements/referrals.html", **context)


async def referrals_fragment(request: web.Request) -> web.StreamResponse:
    """The list again for a live refresh; the page view that shows it was audited."""
    return render(request, "placements/_referrals.html", **await _referrals_context(request))


async def referral_respond(request: web.Request) -> web.StreamResponse:
    """Accept (hold a bed) or decline (with a reason): two clicks on the referrals page."""
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
            conn, principal.facility_ids, statuses=("pending", "accepted")
        )
    found = [(p, r) for p in items for r in p.referrals if r.id == referral_id]
    if not found:
        return None  # already answered: the decline itself says so
    p, r = found[0]
    return _confirm(
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
    r.add_get("/placements/{id}/edit", placement_edit)
    r.add_post("/placements/{id}/edit", placement_update)
    r.add_post("/placements/{id}/refer", placement_refer)
    r.add_post("/placements/{id}/transition", placement_transition)
    r.add_post("/placements/{id}/links", placement_add_link)
    r.add_post("/placements/{id}/notes", placement_add_note)
    r.add_post("/referrals/{id}/withdraw", referral_withdraw)
    r.add_get("/referrals", referrals_page)
    r.add_get("/referrals/list", referrals_fragment)
    r.add_post("/referrals/{id}/{action:accept|decline}", referral_respond)
    r.add_get("/court", court_page)
