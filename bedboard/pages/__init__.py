"""HTML pages: rendering helpers, navigation by role, and route registration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bedboard.auth import Principal, Role
from bedboard.context import ALERTS, ALERTS_SEQ, REQUEST_ID, current_principal, deny
from bedboard.pages.forms import domain_errors, field_errors
from bedboard.problems import Problem

__all__ = [
    "domain_errors",
    "field_errors",
    "render",
    "render_error",
    "require_role",
]


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str


# What each role sees in the navigation bar. Later features add their pages here.
NAVIGATION: dict[Role, tuple[NavItem, ...]] = {
    Role.ADMIN: (
        NavItem("/", "Home"),
        NavItem("/board", "Board"),
        NavItem("/search", "Find a bed"),
        NavItem("/placements", "Placements"),
        NavItem("/referrals", "Referrals"),
        NavItem("/court", "Case lookup"),
        NavItem("/reports", "Reports"),
        NavItem("/admin/facilities", "Facilities"),
        NavItem("/admin/courts", "Courts"),
        NavItem("/admin/regions", "Regions"),
        NavItem("/admin/order-types", "Order types"),
        NavItem("/admin/feeds", "Feeds"),
        NavItem("/admin/deliveries", "Deliveries"),
        NavItem("/admin/webhooks", "Webhooks"),
        NavItem("/admin/users", "Users"),
        NavItem("/admin/tokens", "API tokens"),
        NavItem("/admin/audit", "Audit trail"),
    ),
    Role.LIAISON: (
        NavItem("/", "Home"),
        NavItem("/placements", "Placements"),
        NavItem("/tasks", "Follow-ups"),
        NavItem("/board", "Board"),
        NavItem("/search", "Find a bed"),
        NavItem("/court", "Case lookup"),
        NavItem("/reports", "Reports"),
        NavItem("/directory", "Facilities"),
    ),
    # A liaison's pages, for their region's placements (no case lookup: it reaches every
    # region's cases).
    Role.SUPERVISOR: (
        NavItem("/", "Home"),
        NavItem("/placements", "Placements"),
        NavItem("/board", "Board"),
        NavItem("/search", "Find a bed"),
        NavItem("/reports", "Reports"),
        NavItem("/directory", "Facilities"),
    ),
    Role.FACILITY: (
        NavItem("/", "Home"),
        NavItem("/census", "Report census"),
        NavItem("/referrals", "Referrals"),
        NavItem("/board", "Board"),
        NavItem("/reports", "Reports"),
        NavItem("/directory", "Facilities"),
    ),
    # Court staff may read the board (every role may; it carries no health information).
    Role.COURT: (
        NavItem("/", "Home"),
        NavItem("/court", "Case lookup"),
        NavItem("/board", "Board"),
        NavItem("/reports", "Reports"),
    ),
    Role.VIEWER: (
        NavItem("/", "Home"),
        NavItem("/board", "Board"),
        NavItem("/reports", "Reports"),
        NavItem("/directory", "Facilities"),
    ),
}

ROLE_LABELS = {
    Role.ADMIN: "Administrator",
    Role.LIAISON: "Liaison",
    Role.SUPERVISOR: "Supervisor",
    Role.FACILITY: "Facility staff",
    Role.COURT: "Court staff",
    Role.VIEWER: "Viewer",
}


def page_context(request: web.Request, **values: Any) -> dict[str, Any]:
    from bedboard.pages.help import HELP_FOR_ROLE

    principal = current_principal(request)
    nav = NAVIGATION.get(principal.role, ()) if principal else ()
    return {
        "help_href": HELP_FOR_ROLE.get(principal.role, "/help") if principal else "",
        "principal": principal,
        "role_label": ROLE_LABELS.get(principal.role, "") if principal else "",
        "nav": nav,
        "current_path": request.path,
        "csrf_token": principal.csrf_token if principal else "",
        "request_id": request.get(REQUEST_ID, ""),
        "request_query": request.query,
        "alerts": request.get(ALERTS, []),
        "alerts_seq": request.get(ALERTS_SEQ, 0),
        **values,
    }


def render(request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
    response = aiohttp_jinja2.render_template(
        template, request, page_context(request, **values), status=status
    )
    return response


def render_error(request: web.Request, problem: Problem) -> web.Response:
    response = render(request, "error.html", status=problem.status, problem=problem)
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response


def require_role(request: web.Request, *roles: Role) -> Principal:
    principal = current_principal(request)
    if principal is None:
        raise Problem(401, "Sign in to continue.")
    if roles and principal.role not in roles:
        deny(request, principal, "page.open", "page", request.path, "role cannot open this page")
        raise Problem(403, "Your role cannot open this page.", code="forbidden")
    return principal


def setup_pages(app: web.Application) -> None:
    from bedboard.pages import (
        admin,
        board,
        feeds,
        help,
        home,
        links,
        login,
        notifications,
        placements,
        public,
        reports,
    )

    login.setup(app)
    home.setup(app)
    board.setup(app)
    placements.setup(app)
    links.setup(app)
    admin.setup(app)
    feeds.setup(app)
    help.setup(app)
    reports.setup(app)
    public.setup(app)
    notifications.setup(app)
