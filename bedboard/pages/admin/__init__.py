"""Administration pages: facilities, units, courts, regions, order types and their
escalation ladders, users, API tokens and the audit trail.

Forms are validated by the same pydantic models as the JSON API, and every change
goes through the same domain functions, access policy and audit trail. Rooms: ``shared``
(form reading, choices, the administrator check), ``directory`` (facilities, units,
courts), ``regions`` (regions of counties), ``order_types`` (the order types and their
escalation ladders), ``accounts`` (users, tokens, audit).
"""

from __future__ import annotations

from aiohttp import web

from bedboard.pages.admin.accounts import (
    audit_list,
    token_create,
    token_list,
    token_revoke,
    user_create,
    user_edit,
    user_list,
    user_new,
    user_update,
)
from bedboard.pages.admin.directory import (
    court_calendar_rotate,
    court_create,
    court_edit,
    court_list,
    court_new,
    court_update,
    facility_create,
    facility_edit,
    facility_list,
    facility_new,
    facility_update,
    unit_create,
    unit_edit,
    unit_new,
    unit_update,
)
from bedboard.pages.admin.order_types import ladder_edit, ladder_update, order_type_list
from bedboard.pages.admin.regions import (
    region_create,
    region_delete,
    region_delete_confirm,
    region_edit,
    region_list,
    region_new,
    region_update,
)
from bedboard.pages.admin.shared import require_admin


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
    r.add_get("/admin/regions", region_list)
    r.add_get("/admin/regions/new", region_new)
    r.add_post("/admin/regions/new", region_create)
    r.add_get("/admin/regions/{id}", region_edit)
    r.add_post("/admin/regions/{id}", region_update)
    r.add_get("/admin/regions/{id}/delete", region_delete_confirm)
    r.add_post("/admin/regions/{id}/delete", region_delete)
    r.add_get("/admin/order-types", order_type_list)
    r.add_get("/admin/order-types/{code}/ladder", ladder_edit)
    r.add_post("/admin/order-types/{code}/ladder", ladder_update)
    r.add_post("/admin/courts/{id}/calendar", court_calendar_rotate)
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
    require_admin(request)
    raise web.HTTPSeeOther("/admin/facilities")
