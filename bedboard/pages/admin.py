"""Administration pages: facilities, units, courts, users, API tokens and the audit trail.

Forms are validated by the same pydantic models as the JSON API, and every change
goes through the same domain functions, access policy and audit trail.
"""

from __future__ import annotations

import typing
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, ValidationError

from bedboard import audit, auth, courts, facilities, users
from bedboard.access import Action, Resource
from bedboard.auth import Role
from bedboard.context import POOL, authorize, path_id, record_success
from bedboard.courts import CourtIn, CourtPatch
from bedboard.database import Connection, acquire, transaction
from bedboard.errors import Conflict, Invalid, NotFound
from bedboard.facilities import (
    PAYERS,
    SPECIALTIES,
    FacilityIn,
    FacilityKind,
    FacilityPatch,
    Gender,
    Population,
    SecurityLevel,
    UnitIn,
    UnitPatch,
)
from bedboard.pages import domain_errors, field_errors, labels, render, require_role
from bedboard.problems import status_for
from bedboard.users import TokenIn, UserIn, UserPatch

Form = MultiDictProxy[str | bytes | Any]


def _label(value: str) -> str:
    return value.replace("_", " ").capitalize()


def _choices(values: typing.Iterable[str]) -> list[tuple[str, str]]:
    return [(v, _label(v)) for v in values]


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) is list:
        return True
    return any(typing.get_origin(a) is list for a in typing.get_args(annotation))


def _is_bool(annotation: Any) -> bool:
    """``bool``, ``StrictBool`` (an Annotated bool), or either of them or None."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation is bool or any(_is_bool(a) for a in typing.get_args(annotation))


def form_data(form: Form, model: type[BaseModel], *, partial: bool = False) -> dict[str, Any]:
    """Form fields for ``model``: lists from repeated keys, booleans from checkboxes.

    A blank optional field is left out, so an edit form never nulls a field.
    ``partial`` (edit forms) also leaves out list fields the form did not show.
    """
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if _is_list(info.annotation):
            if partial and f"{name}__shown" not in form:
                continue
            data[name] = [str(v) for v in form.getall(name, []) if str(v).strip()]
        elif _is_bool(info.annotation):
            data[name] = str(form.get(name, "")) == "true"
        elif name in form:
            value = str(form.get(name, "")).strip()
            if value == "" and not info.is_required() and info.default is None:
                continue
            data[name] = value
    return data


async def _facility_options(conn: Connection) -> list[tuple[str, str]]:
    return [(str(f.id), f.name) for f in await facilities.list_facilities(conn)]


async def _county_options(conn: Connection) -> list[tuple[str, str]]:
    return [(c.fips, f"{c.name} ({c.fips})") for c in await facilities.list_counties(conn)]


async def _court_options(conn: Connection) -> list[tuple[str, str]]:
    return [(str(c.id), c.name) for c in await courts.list_courts(conn)]


def _admin(request: web.Request) -> None:
    require_role(request, Role.ADMIN)


def _see_other(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


# --------------------------------------------------------------------------- facilities


async def facility_list(request: web.Request) -> web.StreamResponse:
    _admin(request)
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
) -> web.Response:
    async with acquire(request.app[POOL]) as conn:
        counties = await _county_options(conn)
        units = await facilities.list_units(conn, facility_id) if facility_id else []
    return render(
        request,
        "admin/facility_form.html",
        status=status,
        values=values,
        errors=errors,
        facility_id=facility_id,
        counties=counties,
        units=units,
        kinds=_choices(k.value for k in FacilityKind),
    )


async def facility_new(request: web.Request) -> web.StreamResponse:
    _admin(request)
    defaults = FacilityIn.model_construct(
        name="", kind=FacilityKind.PSYCHIATRIC_HOSPITAL, county_fips=""
    )
    return await _facility_form(request, values=defaults.model_dump(mode="json"), errors={})


async def facility_create(request: web.Request) -> web.StreamResponse:
    _admin(request)
    form = await request.post()
    raw = form_data(form, FacilityIn)
    try:
        data = FacilityIn.model_validate(raw)
        async with transaction(request.app[POOL]) as conn:
            authorize(request, Action.FACILITY_CREATE, Resource("facility"))
            facility = await facilities.create_facility(conn, data)
            await record_success(
                request,
                conn,
                Action.FACILITY_CREATE,
                "facility",
                facility.id,
                {"name": facility.name},
            )
    except ValidationError as exc:
        return await _facility_form(request, values=raw, errors=field_errors(exc), status=422)
    except (Conflict, Invalid) as exc:
        return await _facility_form(
            request, values=raw, errors=domain_errors(exc), status=status_for(exc)
        )
    raise _see_other(f"/admin/facilities/{facility.id}?saved=1")


async def facility_edit(request: web.Request) -> web.StreamResponse:
    _admin(request)
    facility_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        facility = await facilities.get_facility(conn, facility_id)
    return await _facility_form(
        request, values=facility.model_dump(mode="json"), errors={}, facility_id=facility_id
    )


async def facility_update(request: web.Request) -> web.StreamResponse:
    _admin(request)
    facility_id = path_id(request)
    form = await request.post()
    raw = form_data(form, FacilityPatch, partial=True)
    try:
        patch = FacilityPatch.model_validate(raw)
        async with transaction(request.app[POOL]) as conn:
            authorize(
                request,
                Action.FACILITY_UPDATE,
                Resource("facility", facility_id, facility_id),
            )
            await facilities.update_facility(conn, facility_id, patch)
            await record_success(
                request,
                conn,
                Action.FACILITY_UPDATE,
                "facility",
                facility_id,
                {"fields": sorted(patch.model_fields_set)},
            )
    except ValidationError as exc:
        return await _facility_form(
            request, values=raw, errors=field_errors(exc), facility_id=facility_id, status=422
        )
    except (Conflict, Invalid) as exc:
        return await _facility_form(
            request,
            values=raw,
            errors=domain_errors(exc),
            facility_id=facility_id,
            status=status_for(exc),
        )
    raise _see_other(f"/admin/facilities/{facility_id}?saved=1")


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
        facility_options = await _facility_options(conn)
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
    _admin(request)
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
    _admin(request)
    form = await request.post()
    raw = form_data(form, UnitIn)
    try:
        data = UnitIn.model_validate(raw)
        async with transaction(request.app[POOL]) as conn:
            authorize(request, Action.UNIT_CREATE, Resource("unit", None, data.facility_id))
            unit = await facilities.create_unit(conn, data)
            await record_success(
                request,
                conn,
                Action.UNIT_CREATE,
                "unit",
                unit.id,
                {"facility_id": unit.facility_id, "name": unit.name},
            )
    except ValidationError as exc:
        return await _unit_form(request, values=raw, errors=field_errors(exc), status=422)
    except (Conflict, Invalid) as exc:
        return await _unit_form(
            request, values=raw, errors=domain_errors(exc), status=status_for(exc)
        )
    raise _see_other(f"/admin/facilities/{unit.facility_id}?saved=1")


async def unit_edit(request: web.Request) -> web.StreamResponse:
    _admin(request)
    unit_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        unit = await facilities.get_unit(conn, unit_id)
    return await _unit_form(
        request, values=unit.model_dump(mode="json"), errors={}, unit_id=unit_id
    )


async def unit_update(request: web.Request) -> web.StreamResponse:
    _admin(request)
    unit_id = path_id(request)
    form = await request.post()
    raw = form_data(form, UnitPatch, partial=True)
    try:
        patch = UnitPatch.model_validate(raw)
        async with transaction(request.app[POOL]) as conn:
            facility_id = await facilities.unit_facility_id(conn, unit_id)
            authorize(request, Action.UNIT_UPDATE, Resource("unit", unit_id, facility_id))
            await facilities.update_unit(conn, unit_id, patch)
            await record_success(
                request,
                conn,
                Action.UNIT_UPDATE,
                "unit",
                unit_id,
                {"fields": sorted(patch.model_fields_set)},
            )
    except ValidationError as exc:
        values = {**raw, "facility_id": form.get("facility_id", "")}
        return await _unit_form(
            request, values=values, errors=field_errors(exc), unit_id=unit_id, status=422
        )
    except (Conflict, Invalid) as exc:
        values = {**raw, "facility_id": form.get("facility_id", "")}
        return await _unit_form(
            request,
            values=values,
            errors=domain_errors(exc),
            unit_id=unit_id,
            status=status_for(exc),
        )
    raise _see_other(f"/admin/facilities/{facility_id}?saved=1")


# --------------------------------------------------------------------------- courts


async def court_list(request: web.Request) -> web.StreamResponse:
    _admin(request)
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
) -> web.Response:
    async with acquire(request.app[POOL]) as conn:
        counties = await _county_options(conn)
    return render(
        request,
        "admin/court_form.html",
        status=status,
        values=values,
        errors=errors,
        court_id=court_id,
        counties=counties,
    )


async def court_new(request: web.Request) -> web.StreamResponse:
    _admin(request)
    return await _court_form(
        request, values={"name": "", "circuit": "", "county_fips": ""}, errors={}
    )


async def court_create(request: web.Request) -> web.StreamResponse:
    _admin(request)
    raw = form_data(await request.post(), CourtIn)
    try:
        data = CourtIn.model_validate(raw)
        async with transaction(request.app[POOL]) as conn:
            authorize(request, Action.COURT_CREATE, Resource("court"))
            court = await courts.create_court(conn, data)
            await record_success(
                request, conn, Action.COURT_CREATE, "court", court.id, {"name": court.name}
            )
    except ValidationError as exc:
        return await _court_form(request, values=raw, errors=field_errors(exc), status=422)
    except (Conflict, Invalid) as exc:
        return await _court_form(
            request, values=raw, errors=domain_errors(exc), status=status_for(exc)
        )
    raise _see_other("/admin/courts?saved=1")


async def court_edit(request: web.Request) -> web.StreamResponse:
    _admin(request)
    court_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        court = await courts.get_court(conn, court_id)
    return await _court_form(
        request, values=court.model_dump(mode="json"), errors={}, court_id=court_id
    )


async def court_update(request: web.Request) -> web.StreamResponse:
    _admin(request)
    court_id = path_id(request)
    raw = form_data(await request.post(), CourtPatch, partial=True)
    try:
        patch = CourtPatch.model_validate(raw)
        async with transaction(request.app[POOL]) as conn:
            authorize(request, Action.COURT_UPDATE, Resource("court", court_id, court_id=court_id))
            await courts.update_court(conn, court_id, patch)
            await record_success(
                request,
                conn,
                Action.COURT_UPDATE,
                "court",
                court_id,
                {"fields": sorted(patch.model_fields_set)},
            )
    except ValidationError as exc:
        return await _court_form(
            request, values=raw, errors=field_errors(exc), court_id=court_id, status=422
        )
    except (Conflict, Invalid) as exc:
        return await _court_form(
            request,
            values=raw,
            errors=domain_errors(exc),
            court_id=court_id,
            status=status_for(exc),
        )
    raise _see_other("/admin/courts?saved=1")


# --------------------------------------------------------------------------- users


async def user_list(request: web.Request) -> web.StreamResponse:
    _admin(request)
    async with acquire(request.app[POOL]) as conn:
        items = await users.list_users(conn)
        facility_names = dict(await _facility_options(conn))
        court_names = dict(await _court_options(conn))
    return render(
        request,
        "admin/users.html",
        users=items,
        facility_names=facility_names,
        court_names=court_names,
    )


async def _user_form(
    request: web.Request,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    user_id: int | None = None,
    status: int = 200,
) -> web.Response:
    async with acquire(request.app[POOL]) as conn:
        facility_options = await _facility_options(conn)
        court_options = await _court_options(conn)
    return render(
        request,
        "admin/user_form.html",
        status=status,
        values=values,
        errors=errors,
        user_id=user_id,
        roles=[(r.value, r.value.capitalize()) for r in Role],
        facility_options=facility_options,
        court_options=[("", "— none —"), *court_options],
    )


def _user_scope(raw: dict[str, Any]) -> dict[str, Any]:
    """Drop scope fields that do not belong to the chosen role (the form shows all of them)."""
    role = raw.get("role")
    if role != Role.FACILITY.value:
        raw["facility_ids"] = []
    if role != Role.COURT.value:
        raw["court_id"] = None
    return raw


async def user_new(request: web.Request) -> web.StreamResponse:
    _admin(request)
    values = {
        "email": "",
        "display_name": "",
        "phone": "",
        "role": "liaison",
        "facility_ids": [],
        "court_id": "",
    }
    return await _user_form(request, values=values, errors={})


async def user_create(request: web.Request) -> web.StreamResponse:
    _admin(request)
    raw = _user_scope(form_data(await request.post(), UserIn))
    try:
        data = UserIn.model_validate(raw)
        async with transaction(request.app[POOL]) as conn:
            authorize(request, Action.USER_MANAGE, Resource("user"))
            user = await users.create_user(conn, data)
            await record_success(
                request,
                conn,
                Action.USER_MANAGE,
                "user",
                user.id,
                {"op": "create", "email": user.email, "role": user.role.value},
            )
    except ValidationError as exc:
        raw.pop("password", None)
        return await _user_form(request, values=raw, errors=field_errors(exc), status=422)
    except (Conflict, Invalid) as exc:
        raw.pop("password", None)
        return await _user_form(
            request, values=raw, errors=domain_errors(exc), status=status_for(exc)
        )
    raise _see_other("/admin/users?saved=1")


async def user_edit(request: web.Request) -> web.StreamResponse:
    _admin(request)
    user_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        user = await users.get_user(conn, user_id)
    return await _user_form(
        request, values=user.model_dump(mode="json"), errors={}, user_id=user_id
    )


async def user_update(request: web.Request) -> web.StreamResponse:
    _admin(request)
    user_id = path_id(request)
    form = await request.post()
    raw = _user_scope(form_data(form, UserPatch, partial=True))
    try:
        patch = UserPatch.model_validate(raw)
        async with transaction(request.app[POOL]) as conn:
            authorize(request, Action.USER_MANAGE, Resource("user", user_id))
            _user, ended = await users.update_user(conn, user_id, patch)
            await record_success(
                request,
                conn,
                Action.USER_MANAGE,
                "user",
                user_id,
                {"op": "update", "fields": sorted(patch.model_fields_set), "sessions_ended": ended},
            )
    except ValidationError as exc:
        raw.pop("password", None)
        return await _user_form(
            request,
            values={**raw, "email": form.get("email", "")},
            errors=field_errors(exc),
            user_id=user_id,
            status=422,
        )
    except (Conflict, Invalid) as exc:
        raw.pop("password", None)
        return await _user_form(
            request,
            values={**raw, "email": form.get("email", "")},
            errors=domain_errors(exc),
            user_id=user_id,
            status=status_for(exc),
        )
    raise _see_other("/admin/users?saved=1")


# --------------------------------------------------------------------------- tokens


async def _token_page(
    request: web.Request,
    *,
    created: users.TokenCreated | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    async with acquire(request.app[POOL]) as conn:
        tokens = await users.list_tokens(conn)
        user_options = [
            (str(u.id), f"{u.email} ({u.role.value})")
            for u in await users.list_users(conn)
            if not u.disabled
        ]
    return render(
        request,
        "admin/tokens.html",
        status=status,
        tokens=tokens,
        created=created,
        user_options=user_options,
        errors=errors or {},
    )


async def token_list(request: web.Request) -> web.StreamResponse:
    _admin(request)
    return await _token_page(request)


async def token_create(request: web.Request) -> web.StreamResponse:
    _admin(request)
    raw = form_data(await request.post(), TokenIn)
    try:
        data = TokenIn.model_validate(raw)
        async with transaction(request.app[POOL]) as conn:
            authorize(request, Action.TOKEN_MANAGE, Resource("token"))
            created = await users.issue_token(conn, data)
            await record_success(
                request,
                conn,
                Action.TOKEN_MANAGE,
                "token",
                created.id,
                {"op": "create", "user_id": data.user_id},
            )
    except ValidationError as exc:
        return await _token_page(request, errors=field_errors(exc), status=422)
    except (NotFound, Invalid) as exc:
        return await _token_page(request, errors=domain_errors(exc), status=422)
    # Rendered directly (not redirected) so the secret is shown once and never stored.
    return await _token_page(request, created=created, status=201)


async def token_revoke(request: web.Request) -> web.StreamResponse:
    _admin(request)
    token_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        authorize(request, Action.TOKEN_MANAGE, Resource("token", token_id))
        await users.get_token(conn, token_id)
        await auth.revoke_token(conn, token_id)
        await record_success(
            request, conn, Action.TOKEN_MANAGE, "token", token_id, {"op": "revoke"}
        )
    raise _see_other("/admin/tokens?revoked=1")


# --------------------------------------------------------------------------- audit


async def audit_list(request: web.Request) -> web.StreamResponse:
    _admin(request)
    before = request.query.get("before_id", "")
    outcome = request.query.get("outcome") or None
    if outcome not in (None, "success", "failure", "denied"):
        outcome = None
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.AUDIT_READ, Resource("audit"))
        rows = await audit.recent(
            conn, limit=100, before_id=int(before) if before.isdigit() else None, outcome=outcome
        )
    return render(request, "admin/audit.html", rows=rows, outcome=outcome or "")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin", admin_home)
    r.add_get("/admin/facilities", facility_list)
    r.add_get("/admin/facilities/new", facility_new)
    r.add_post("/admin/facilities/new", facility_create)
    r.add_get("/admin/facilities/{id}", facility_edit)
    r.add_post("/admin/facilities/{id}", facility_update)
    r.add_get("/admin/units/new", unit_new)
    r.add_post("/admin/units/new", unit_create)
    r.add_get("/admin/units/{id}", unit_edit)
    r.add_post("/admin/units/{id}", unit_update)
    r.add_get("/admin/courts", court_list)
    r.add_get("/admin/courts/new", court_new)
    r.add_post("/admin/courts/new", court_create)
    r.add_get("/admin/courts/{id}", court_edit)
    r.add_post("/admin/courts/{id}", court_update)
    r.add_get("/admin/users", user_list)
    r.add_get("/admin/users/new", user_new)
    r.add_post("/admin/users/new", user_create)
    r.add_get("/admin/users/{id}", user_edit)
    r.add_post("/admin/users/{id}", user_update)
    r.add_get("/admin/tokens", token_list)
    r.add_post("/admin/tokens", token_create)
    r.add_post("/admin/tokens/{id}/revoke", token_revoke)
    r.add_get("/admin/audit", audit_list)


async def admin_home(request: web.Request) -> web.StreamResponse:
    _admin(request)
    raise web.HTTPSeeOther("/admin/facilities")
