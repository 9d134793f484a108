"""Administration of accounts: users, API tokens, and the audit trail."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bedboard import audit, regions, users
from bedboard.access import Action, Resource
from bedboard.auth import Role
from bedboard.context import POOL, authorize, path_id
from bedboard.database import Connection, acquire, transaction
from bedboard.errors import Invalid, NotFound
from bedboard.pages import domain_errors, field_errors, render
from bedboard.pages.admin.shared import (
    form_data,
    list_court_options,
    list_facility_options,
    require_admin,
    save,
    see_other,
)
from bedboard.users import TokenIn, UserIn, UserPatch

# --------------------------------------------------------------------------- users


async def user_list(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    async with acquire(request.app[POOL]) as conn:
        items = await users.list_users(conn)
        facility_names = dict(await list_facility_options(conn))
        court_names = dict(await list_court_options(conn))
        region_names = dict(await _region_options(conn))
    return render(
        request,
        "admin/users.html",
        users=items,
        facility_names=facility_names,
        court_names=court_names,
        region_names=region_names,
    )


async def _region_options(conn: Connection) -> list[tuple[str, str]]:
    return [(str(r.id), r.name) for r in await regions.list_regions(conn)]


async def _user_form(
    request: web.Request,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    user_id: int | None = None,
    status: int = 200,
) -> web.Response:
    async with acquire(request.app[POOL]) as conn:
        facility_options = await list_facility_options(conn)
        court_options = await list_court_options(conn)
        region_options = await _region_options(conn)
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
        region_options=[("", "— none —"), *region_options],
        no_regions=not region_options,
    )


def _user_scope(raw: dict[str, Any]) -> dict[str, Any]:
    """Drop scope fields that do not belong to the chosen role (the form shows all of them)."""
    role = raw.get("role")
    if role != Role.FACILITY.value:
        raw["facility_ids"] = []
    if role != Role.COURT.value:
        raw["court_id"] = None
    if role != Role.SUPERVISOR.value:
        raw["region_id"] = None
    return raw


async def user_new(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    values = {
        "email": "",
        "display_name": "",
        "phone": "",
        "role": "liaison",
        "facility_ids": [],
        "court_id": "",
        "region_id": "",
    }
    return await _user_form(request, values=values, errors={})


async def user_create(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    raw = _user_scope(form_data(await request.post(), UserIn))

    async def work(conn: Connection, data: UserIn) -> users.User:
        principal = authorize(request, Action.USER_MANAGE, Resource("user"))
        return await users.create_user(conn, data, by=principal)

    async def again(errors: dict[str, str], status: int) -> web.StreamResponse:
        values = {k: v for k, v in raw.items() if k != "password"}  # never sent back
        return await _user_form(request, values=values, errors=errors, status=status)

    return await save(request, raw, UserIn, work, again, lambda _u: "/admin/users?saved=1")


async def user_edit(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    user_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        user = await users.get_user(conn, user_id)
    return await _user_form(
        request, values=user.model_dump(mode="json"), errors={}, user_id=user_id
    )


async def user_update(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    user_id = path_id(request)
    form = await request.post()
    raw = _user_scope(form_data(form, UserPatch, partial=True))

    async def work(conn: Connection, patch: UserPatch) -> tuple[users.User, int]:
        principal = authorize(request, Action.USER_MANAGE, Resource("user", user_id))
        return await users.update_user(conn, user_id, patch, by=principal)

    async def again(errors: dict[str, str], status: int) -> web.StreamResponse:
        values = {k: v for k, v in raw.items() if k != "password"}  # never sent back
        values["email"] = form.get("email", "")
        return await _user_form(
            request, values=values, errors=errors, user_id=user_id, status=status
        )

    return await save(request, raw, UserPatch, work, again, lambda _u: "/admin/users?saved=1")


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
    require_admin(request)
    return await _token_page(request)


async def token_create(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    raw = form_data(await request.post(), TokenIn)
    try:
        data = TokenIn.model_validate(raw)
        async with transaction(request.app[POOL]) as conn:
            principal = authorize(request, Action.TOKEN_MANAGE, Resource("token"))
            created = await users.issue_token(conn, data, by=principal)
    except ValidationError as exc:
        return await _token_page(request, errors=field_errors(exc), status=422)
    except (NotFound, Invalid) as exc:
        return await _token_page(request, errors=domain_errors(exc), status=422)
    # Rendered directly (not redirected) so the secret is shown once and never stored.
    return await _token_page(request, created=created, status=201)


async def token_revoke(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    token_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.TOKEN_MANAGE, Resource("token", token_id))
        await users.revoke_token(conn, token_id, by=principal)
    raise see_other("/admin/tokens?revoked=1")


# --------------------------------------------------------------------------- audit


async def audit_list(request: web.Request) -> web.StreamResponse:
    require_admin(request)
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
