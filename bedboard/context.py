"""Typed application state (``web.AppKey``) and per-request helpers shared by handlers.

The keys live here rather than in ``app.py`` so handler modules can import them
without importing the app factory (which imports every handler).
"""

from __future__ import annotations

import ipaddress
import logging
import weakref
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from bedboard import access, audit
from bedboard.access import Action, Resource
from bedboard.auth import Principal, TokenCache
from bedboard.board import BoardCache
from bedboard.database import Connection, Pool, acquire
from bedboard.live import Hub, OutboxListener
from bedboard.problems import Problem, forbidden, not_found, unauthenticated
from bedboard.public import CACHE_SECONDS, Cached, SummaryCache
from bedboard.ratelimit import TokenBuckets
from bedboard.settings import Settings

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", Pool)
DSN = web.AppKey("dsn", str)
SECRET = web.AppKey("secret", str)
METRICS = web.AppKey("metrics", CollectorRegistry)
HUB = web.AppKey("hub", Hub)
CENSUS_OUTCOMES = web.AppKey("census_outcomes", Counter)
LISTENER = web.AppKey("listener", OutboxListener)
TOKENS = web.AppKey("tokens", TokenCache)
BOARD_CACHE = web.AppKey("board_cache", BoardCache)
PUBLIC_SUMMARY = web.AppKey("public_summary", SummaryCache)
PUBLIC_LIMITER = web.AppKey("public_limiter", TokenBuckets)
WEBSOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("websockets")

REQUEST_ID = web.RequestKey("request_id", str)
PRINCIPAL = web.RequestKey("principal", Principal)
# A signed-in page view: the person's unacknowledged in-app alerts and the outbox head.
ALERTS = web.RequestKey("alerts", list)
ALERTS_SEQ = web.RequestKey("alerts_seq", int)
# A denial audit row that authorize() must not write inside the transaction it aborts.
PENDING_DENIAL = web.RequestKey("pending_denial", dict)


def settings(request: web.Request) -> Settings:
    return request.app[SETTINGS]


def pool(request: web.Request) -> Pool:
    return request.app[POOL]


def remote_addr(request: web.Request) -> str:
    """The client address; X-Forwarded-For's last hop (our proxy's) when the proxy is trusted."""
    if request.app[SETTINGS].trust_proxy_headers:
        # The last hop is the one our own proxy added; earlier ones are the client's word.
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return request.remote or "unknown"


def throttle_public(request: web.Request) -> None:
    """Take a token from the client address's bucket for the pages anyone may open
    (the public summary); when it is empty, 429 with Retry-After."""
    wait_s = request.app[PUBLIC_LIMITER].take(remote_addr(request))
    if wait_s:
        raise Problem(
            429,
            f"Too many requests from this address. Try again in {int(wait_s)} seconds.",
            code="rate-limited",
            headers={"Retry-After": str(int(wait_s))},
        )


def public_cache_headers(request: web.Request, cached: Cached) -> dict[str, str]:
    """Browsers and proxies may keep the public summary for the rest of its minute: the
    answer says how old it already is (``Age``), so no copy is kept past CACHE_SECONDS.
    ``security_headers`` keeps these on 200 answers of PUBLIC_CACHEABLE paths."""
    age = min(cached.age_s(request.app[PUBLIC_SUMMARY].clock()), CACHE_SECONDS)
    return {"Cache-Control": f"public, max-age={CACHE_SECONDS}", "Age": str(age)}


# Paths whose 200 answers are the same for everyone and may be cached (every other answer
# of a signed-in person, and every /api/ answer, is no-store).
PUBLIC_CACHEABLE = frozenset({"/public", "/api/v1/public/summary"})


def origin_allowed(request: web.Request) -> bool:
    """The Origin header, when sent, names this service (BEDBOARD_PUBLIC_URL, else the Host)."""
    value = request.headers.get("Origin")
    if value is None:
        return True
    given = urlsplit(value)
    public_url = request.app[SETTINGS].public_url
    if public_url is not None:
        expected = urlsplit(str(public_url))
        return (given.scheme, given.netloc) == (expected.scheme, expected.netloc)
    return given.netloc == request.host


def origin(request: web.Request) -> audit.Origin:
    return audit.Origin(remote_addr=remote_addr(request), request_id=request.get(REQUEST_ID))


def current_principal(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL)


def require_principal(request: web.Request) -> Principal:
    principal = current_principal(request)
    if principal is None:
        raise unauthenticated()
    return principal


def deny(
    request: web.Request,
    principal: Principal | None,
    action: str,
    object_type: str,
    object_id: object,
    reason: str,
) -> None:
    """Note a refusal for the audit trail. The errors middleware writes it once the
    request's own transaction (which the refusal rolls back) has released its connection."""
    log.warning(
        "denied %s on %s %s to %s: %s",
        action,
        object_type,
        object_id,
        principal.label if principal else "anonymous",
        reason,
    )
    request[PENDING_DENIAL] = {
        "actor": principal,
        "action": action,
        "outcome": "denied",
        "origin": origin(request),
        "object_type": object_type,
        "object_id": "" if object_id is None else object_id,
        "detail": {"reason": reason},
    }


def authorize(request: web.Request, action: Action, resource: Resource) -> Principal:
    """Ask the access policy; on denial audit it and raise 403 (or 404 to conceal)."""
    principal = require_principal(request)
    decision = access.decide(principal, action, resource)
    if decision.allowed:
        return principal
    deny(request, principal, action.value, resource.type, resource.id, decision.reason)
    if decision.conceal:
        raise not_found(resource.type)
    raise forbidden()


async def write_pending_denial(request: web.Request) -> None:
    """Write the refusal noted by ``deny`` (called by the errors middleware)."""
    entry = request.get(PENDING_DENIAL)
    if entry is not None:
        del request[PENDING_DENIAL]
        async with acquire(request.app[POOL]) as conn:
            await audit.record(conn, **entry)


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
