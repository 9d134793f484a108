"""Administration of the directory: facilities, their units, courts."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bedboard import board, courtlinks, courts, facilities, notify
from bedboard.access import Action, Resource
from bedboard.context import POOL, SETTINGS, authorize, path_id
from bedboard.courts import Court, CourtIn, CourtPatch
from bedboard.database import Connection, acquire, transaction
from bedboard.facilities import (
    PAYERS,
    SPECIALTIES,
    Facility,
    FacilityIn,
    FacilityKind,
    FacilityPatch,
    Gender,
    Population,
    SecurityLevel,
    Unit,
    UnitIn,
    UnitPatch,
)
from bedboard.pages import labels, render
from bedboard.pages.admin.shared import (
    choices,
    form_data,
    list_county_options,
    list_facility_options,
    require_admin,
    save,
)

# --------------------------------------------------------------------------- facilities


async def facility_list(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    async with acquire(request.app[POOL]) as conn:
        items = await facilities.list_facilities(conn)
        units = await facilities.list_units(conn)
    unit_counts: dict[int, int] = {}
    for unit in units:
        unit_counts[unit.facility_id] = unit_counts.get(unit.facility_id, 0) + 1
    return render(request, "admin/facilities.html", facilities=items, unit_counts=unit_counts)


async def _facility_form(
    request: web.Request,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    facility_id: int | None = None,
    status: int = 200,
    intake: dict[str, str] | None = None,
    intake_errors: dict[str, str] | None = None,
) -> web.Response:
    async with acquire(request.app[POOL]) as conn:
        counties = await list_county_options(conn)
        units = await facilities.list_units(conn, facility_id) if facility_id else []
        if intake is None and facility_id:
            contact = await notify.intake_contact(conn, facility_id)
            intake = {"email": contact.email, "phone": contact.phone}
    return render(
        request,
        "admin/facility_form.html",
        status=status,
        values=values,
        errors=errors,
        facility_id=facility_id,
        counties=counties,
        units=units,
        kinds=choices(k.value for k in FacilityKind),
        intake=intake or {"email": "", "phone": ""},
        intake_errors=intake_errors or {},
    )


async def facility_form_with(
    request: web.Request,
    facility_id: int,
    *,
    intake: dict[str, str],
    intake_errors: dict[str, str],
    status: int,
) -> web.Response:
    """The facility's page again, with the intake contact as typed and its sentences."""
    async with acquire(request.app[POOL]) as conn:
        facility = await facilities.get_facility(conn, facility_id)
    return await _facility_form(
        request,
        values=facility.model_dump(mode="json"),
        errors={},
        facility_id=facility_id,
        status=status,
        intake=intake,
        intake_errors=intake_errors,
    )


async def facility_new(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    defaults = FacilityIn.model_construct(
        name="", kind=FacilityKind.PSYCHIATRIC_HOSPITAL, county_fips=""
    )
    return await _facility_form(request, values=defaults.model_dump(mode="json"), errors={})


async def facility_create(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    raw = form_data(await request.post(), FacilityIn)

    async def work(conn: Connection, data: FacilityIn) -> Facility:
        principal = authorize(request, Action.FACILITY_CREATE, Resource("facility"))
        return await facilities.create_facility(conn, data, by=principal)

    async def again(errors: dict[str, str], status: int) -> web.StreamResponse:
        return await _facility_form(request, values=raw, errors=errors, status=status)

    return await save(
        request, raw, FacilityIn, work, again, lambda f: f"/admin/facilities/{f.id}?saved=1"
    )


async def facility_edit(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    facility_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        facility = await facilities.get_facility(conn, facility_id)
    return await _facility_form(
        request, values=facility.model_dump(mode="json"), errors={}, facility_id=facility_id
    )


async def facility_update(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    facility_id = path_id(request)
    raw = form_data(await request.post(), FacilityPatch, partial=True)

    async def work(conn: Connection, patch: FacilityPatch) -> Facility:
        resource = Resource("facility", facility_id, facility_id)
        principal = authorize(request, Action.FACILITY_UPDATE, resource)
        return await facilities.update_facility(conn, facility_id, patch, by=principal)

    async def again(errors: dict[str, str], status: int) -> web.StreamResponse:
        return await _facility_form(
            request, values=raw, errors=errors, facility_id=facility_id, status=status
        )

    return await save(
        request, raw, FacilityPatch, work, again, lambda f: f"/admin/facilities/{f.id}?saved=1"
    )


# --------------------------------------------------------------------------- units


async def _unit_form(
    request: web.Request,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    unit_id: int | None = None,
    status: int = 200,
) -> web.Response:
    async with acquire(request.app[POOL]) as conn:
        facility_options = await list_facility_options(conn)
    extra_specialties = [s for s in values.get("specialties", []) if s not in SPECIALTIES]
    extra_payers = [p for p in values.get("payers", []) if p not in PAYERS]
    return render(
        request,
        "admin/unit_form.html",
        status=status,
        values=values,
        errors=errors,
        unit_id=unit_id,
        facility_options=facility_options,
        populations=labels.choices([p.value for p in Population], "population"),
        genders=labels.choices([g.value for g in Gender], "unit_serves"),
        security_levels=labels.choices([s.value for s in SecurityLevel], "security"),
        specialties=labels.choices([*SPECIALTIES, *extra_specialties], "specialty"),
        payers=labels.choices([*PAYERS, *extra_payers], "payer"),
    )


async def unit_new(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    values: dict[str, Any] = {
        "facility_id": request.query.get("facility_id", ""),
        "name": "",
        "population": "adult",
        "gender": "any",
        "security_level": "standard",
        "specialties": [],
        "payers": [],
        "accepts_involuntary": True,
        "accepts_court_ordered": True,
        "licensed_beds": "",
        "active": True,
    }
    return await _unit_form(request, values=values, errors={})


async def unit_create(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    raw = form_data(await request.post(), UnitIn)

    async def work(conn: Connection, data: UnitIn) -> Unit:
        resource = Resource("unit", None, data.facility_id)
        principal = authorize(request, Action.UNIT_CREATE, resource)
        return await facilities.create_unit(conn, data, by=principal)

    async def again(errors: dict[str, str], status: int) -> web.StreamResponse:
        return await _unit_form(request, values=raw, errors=errors, status=status)

    return await save(
        request, raw, UnitIn, work, again, lambda u: f"/admin/facilities/{u.facility_id}?saved=1"
    )


async def unit_edit(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    unit_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        unit = await facilities.get_unit(conn, unit_id)
    return await _unit_form(
        request, values=unit.model_dump(mode="json"), errors={}, unit_id=unit_id
    )


async def unit_update(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    unit_id = path_id(request)
    form = await request.post()
    raw = form_data(form, UnitPatch, partial=True)

    async def work(conn: Connection, patch: UnitPatch) -> Unit:
        facility_id = await facilities.unit_facility_id(conn, unit_id)
        resource = Resource("unit", unit_id, facility_id)
        principal = authorize(request, Action.UNIT_UPDATE, resource)
        return await facilities.update_unit(conn, unit_id, patch, by=principal)

    async def again(errors: dict[str, str], status: int) -> web.StreamResponse:
        values = {**raw, "facility_id": form.get("facility_id", "")}
        return await _unit_form(
            request, values=values, errors=errors, unit_id=unit_id, status=status
        )

    return await save(
        request, raw, UnitPatch, work, again, lambda u: f"/admin/facilities/{u.facility_id}?saved=1"
    )


# --------------------------------------------------------------------------- courts


async def court_list(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    async with acquire(request.app[POOL]) as conn:
        items = await courts.list_courts(conn)
    return render(request, "admin/courts.html", courts=items)


async def _court_form(
    request: web.Request,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    court_id: int | None = None,
    status: int = 200,
    calendar_url: str = "",
) -> web.Response:
    async with acquire(request.app[POOL]) as conn:
        counties = await list_county_options(conn)
        rotated_at = (
            await courtlinks.calendar_rotated_at(conn, court_id) if court_id is not None else None
        )
    return render(
        request,
        "admin/court_form.html",
        status=status,
        values=values,
        errors=errors,
        court_id=court_id,
        counties=counties,
        calendar_rotated_at=rotated_at,
        calendar_url=calendar_url,
    )


async def court_new(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    return await _court_form(
        request, values={"name": "", "circuit": "", "county_fips": "", "clerk_email": ""}, errors={}
    )


async def court_create(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    raw = form_data(await request.post(), CourtIn)

    async def work(conn: Connection, data: CourtIn) -> Court:
        principal = authorize(request, Action.COURT_CREATE, Resource("court"))
        return await courts.create_court(conn, data, by=principal)

    async def again(errors: dict[str, str], status: int) -> web.StreamResponse:
        return await _court_form(request, values=raw, errors=errors, status=status)

    return await save(request, raw, CourtIn, work, again, lambda _c: "/admin/courts?saved=1")


async def court_edit(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    court_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        court = await courts.get_court(conn, court_id)
    return await _court_form(
        request, values=court.model_dump(mode="json"), errors={}, court_id=court_id
    )


async def court_update(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    court_id = path_id(request)
    form = await request.post()
    raw = form_data(form, CourtPatch, partial=True)
    if "clerk_email" in form:
        # Blank is a value here: it removes the clerk's address (form_data leaves blanks out).
        raw["clerk_email"] = str(form.get("clerk_email", "")).strip()

    async def work(conn: Connection, patch: CourtPatch) -> Court:
        resource = Resource("court", court_id, court_id=court_id)
        principal = authorize(request, Action.COURT_UPDATE, resource)
        return await courts.update_court(conn, court_id, patch, by=principal)

    async def again(errors: dict[str, str], status: int) -> web.StreamResponse:
        return await _court_form(
            request, values=raw, errors=errors, court_id=court_id, status=status
        )

    return await save(request, raw, CourtPatch, work, again, lambda _c: "/admin/courts?saved=1")


async def court_calendar_rotate(request: web.Request) -> web.StreamResponse:
    """A new calendar secret for the court; its feed address is shown this once."""
    require_admin(request)
    court_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(
            request, Action.COURT_UPDATE, Resource("court", court_id, court_id=court_id)
        )
        now = await board.db_now(conn)
        secret = await courtlinks.rotate_calendar_secret(conn, court_id, by=principal, now=now)
        court = await courts.get_court(conn, court_id)
    url = request.app[SETTINGS].absolute(courtlinks.calendar_path(court_id, secret))
    return await _court_form(
        request,
        values=court.model_dump(mode="json"),
        errors={},
        court_id=court_id,
        calendar_url=url,
    )
