"""Recording a placement and editing it: the new and edit forms."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bedboard import courts, facilities, idempotency, localtime, matching, placements
from bedboard.access import Action, Resource, in_region, moved_to
from bedboard.auth import Principal, Role
from bedboard.context import POOL, SETTINGS, authorize, path_id, record_success
from bedboard.database import Connection, acquire, transaction
from bedboard.errors import Conflict, Invalid, KeyReused, StaleVersion
from bedboard.facilities import PAYERS, SPECIALTIES, SecurityLevel
from bedboard.pages import domain_errors, field_errors, labels, render, require_role
from bedboard.pages.placements.shared import back_to, resource_of
from bedboard.placements import (
    PlacementIn,
    PlacementPatch,
)

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


async def _form_context(
    conn: Connection, values: dict[str, Any], principal: Principal
) -> dict[str, Any]:
    """The form's choices; a supervisor chooses among their region's counties."""
    order_types = await placements.order_types(conn)
    counties = [(c.fips, c.name) for c in await facilities.list_counties(conn)]
    if principal.role is Role.SUPERVISOR:
        counties = [(fips, name) for fips, name in counties if in_region(principal, fips)]
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
        "counties": [("", "— choose —"), *counties],
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
    principal = require_role(request, Role.LIAISON, Role.SUPERVISOR, Role.ADMIN)
    values = {"order_type": "emergency_96h_application", "involuntary": True, "sex": "unknown"}
    async with acquire(request.app[POOL]) as conn:
        context = await _form_context(conn, values, principal)
    return render(
        request,
        "placements/new.html",
        values=values,
        errors={},
        form_key=secrets.token_urlsafe(16),
        **context,
    )


async def placement_create(request: web.Request) -> web.StreamResponse:
    principal = require_role(request, Role.LIAISON, Role.SUPERVISOR, Role.ADMIN)
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
        resource = Resource("placement", county_fips=data.county_fips)
        authorize(request, Action.PLACEMENT_CREATE, resource)
        # The form carries a one-time key: a double click or a resubmit finds the first one.
        key = idempotency.check_key(
            "form:" + str(form.get("form_key", "") or secrets.token_urlsafe(16))
        )
        digest = idempotency.request_hash(raw)
        async with transaction(request.app[POOL]) as conn:
            done = await placements.create_once(conn, data, principal, key=key, digest=digest)
        if done.replayed:
            raise back_to(done.placement_id, "This request was already recorded.")
        placement_id = done.placement_id
    except _FormInvalid:
        pass
    except ValidationError as exc:
        errors = {**_validation_errors(exc), **errors}
    except (Invalid, KeyReused) as exc:
        errors = {**_form_errors(domain_errors(exc)), **errors}
    if errors:
        values = _form_values(form)
        async with acquire(request.app[POOL]) as conn:
            context = await _form_context(conn, values, principal)
        return render(
            request,
            "placements/new.html",
            status=422,
            values=values,
            errors=errors,
            form_key=str(form.get("form_key", "")) or secrets.token_urlsafe(16),
            **context,
        )
    raise back_to(placement_id, "Placement recorded. Find a bed below.")


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
    principal = require_role(request, Role.LIAISON, Role.SUPERVISOR, Role.ADMIN)
    placement_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.PLACEMENT_WRITE, await resource_of(conn, placement_id))
        p = await placements.get_placement(conn, placement_id)
        values = _edit_values(p, request.app[SETTINGS].zone)
        context = await _form_context(conn, values, principal)
        await record_success(request, conn, "placement.read", "placement", placement_id)
    if p.status in placements.TERMINAL:
        raise back_to(placement_id, f"Not done: a placement that is {p.status.value} is final.")
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
    signed_in = require_role(request, Role.LIAISON, Role.SUPERVISOR, Role.ADMIN)
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
            resource = await resource_of(conn, placement_id)
            principal = authorize(request, Action.PLACEMENT_WRITE, resource)
            if patch.county_fips is not None and patch.county_fips != resource.county_fips:
                authorize(request, Action.PLACEMENT_CREATE, moved_to(patch.county_fips))
            await placements.update(
                conn, placement_id, patch, principal, int(version) if version.isdigit() else None
            )
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
            context = await _form_context(conn, values, signed_in)
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
    raise back_to(placement_id, "Changes saved.")
