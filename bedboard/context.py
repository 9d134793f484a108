"""Typed application state (``web.AppKey``) and per-request helpers shared by handlers.

The keys live here rather than in ``app.py`` so handler modules can import them
without importing the app factory (which imports every handler).
"""

from __future__ import annotations

import ipaddress
import logging

from aiohttp import web
from prometheus_client import CollectorRegistry

from bedboard import access, audit
from bedboard.access import Action, Resource
from bedboard.auth import Principal
from bedboard.database import Connection, Pool
from bedboard.problems import Problem, forbidden, not_found, unauthenticated
from bedboard.settings import Settings

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", Pool)
DSN = web.AppKey("dsn", str)
SECRET = web.AppKey("secret", str)
METRICS = web.AppKey("metrics", CollectorRegistry)

REQUEST_ID = web.RequestKey("request_id", str)
PRINCIPAL = web.RequestKey("principal", Principal)


def settings(request: web.Request) -> Settings:
    return request.app[SETTINGS]


def pool(request: web.Request) -> Pool:
    return request.app[POOL]


def remote_addr(request: web.Request) -> str:
    """The client address; X-Forwarded-For's first hop only when the proxy is trusted."""
    if request.app[SETTINGS].trust_proxy_headers:
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return request.remote or "unknown"


def origin(request: web.Request) -> audit.Origin:
    return audit.Origin(remote_addr=remote_addr(request), request_id=request.get(REQUEST_ID))


def current_principal(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL)


def require_principal(request: web.Request) -> Principal:
    principal = current_principal(request)
    if principal is None:
        raise unauthenticated()
    return principal


async def authorize(
    request: web.Request,
    conn: Connection,
    action: Action,
    resource: Resource,
) -> Principal:
    """Ask the access policy; on denial write the audit row and raise 403 (or 404)."""
    principal = require_principal(request)
    decision = access.decide(principal, action, resource)
    if decision.allowed:
        return principal
    log.warning(
        "denied %s on %s %s to %s: %s",
        action.value,
        resource.type,
        resource.id,
        principal.label,
        decision.reason,
    )
    await audit.record(
        conn,
        actor=principal,
        action=action.value,
        outcome="denied",
        origin=origin(request),
        object_type=resource.type,
        object_id=resource.id if resource.id is not None else "",
        detail={"reason": decision.reason},
    )
    if decision.conceal:
        raise not_found(resource.type)
    raise forbidden()


def path_id(request: web.Request, name: str = "id") -> int:
    """An integer path parameter; anything else is a 404 (the route cannot exist)."""
    raw = request.match_info.get(name, "")
    if not raw.isdigit() or len(raw) > 18:
        raise Problem(
            404, f"No such resource: {name} must be a positive integer.", code="not-found"
        )
    return int(raw)


async def record_success(
    request: web.Request,
    conn: Connection,
    action: Action | str,
    object_type: str,
    object_id: object,
    detail: dict[str, object] | None = None,
) -> None:
    """Audit a successful change (or a read of protected data)."""
    await audit.record(
        conn,
        actor=current_principal(request),
        action=action.value if isinstance(action, Action) else action,
        outcome="success",
        origin=origin(request),
        object_type=object_type,
        object_id=object_id,
        detail=dict(detail or {}),
    )


def if_match_version(request: web.Request) -> int | None:
    """The version in an ``If-Match: "N"`` header (ETag of a versioned record), if any."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise Problem(
            412, "If-Match must be an ETag this API returned.", code="precondition-failed"
        )
    return int(value)


def with_etag(response: web.StreamResponse, version: int) -> web.StreamResponse:
    response.headers["ETag"] = f'"{version}"'
    return response
