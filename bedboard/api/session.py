"""Sign in and out with JSON; who am I."""

from __future__ import annotations

import math

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bedboard import audit, auth
from bedboard.api.registry import route
from bedboard.auth import Role
from bedboard.context import (
    POOL,
    SETTINGS,
    current_principal,
    origin,
    remote_addr,
    require_principal,
)
from bedboard.database import transaction
from bedboard.problems import Problem


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class Me(BaseModel):
    user_id: int
    email: str
    display_name: str
    role: Role
    facility_ids: list[int]
    court_id: int | None
    via: str
    csrf_token: str | None = Field(
        default=None,
        description="Send as X-CSRF-Token on unsafe requests made with the session cookie.",
    )


def me_of(principal: auth.Principal) -> Me:
    return Me(
        user_id=principal.user_id,
        email=principal.email,
        display_name=principal.display_name,
        role=principal.role,
        facility_ids=sorted(principal.facility_ids),
        court_id=principal.court_id,
        via=principal.via,
        csrf_token=principal.csrf_token,
    )


def set_session_cookie(request: web.Request, response: web.StreamResponse, value: str) -> None:
    settings = request.app[SETTINGS]
    response.set_cookie(
        auth.SESSION_COOKIE,
        value,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="Lax",
        path="/",
        max_age=settings.session_max_hours * 3600,
    )


async def password_login(
    request: web.Request, email: str, password: str
) -> tuple[auth.Principal, str]:
    """Check credentials (throttled, audited) and open a session: (principal, cookie value)."""
    settings = request.app[SETTINGS]
    remote = remote_addr(request)
    async with transaction(request.app[POOL]) as conn:
        result = await auth.check_password_login(conn, settings, email, password, remote)
        if result.principal is None:
            await audit.record(
                conn,
                actor=email.strip().lower()[:254],
                action="login",
                outcome="denied" if result.throttled else "failure",
                origin=origin(request),
                object_type="user",
                detail={"throttled": result.throttled},
            )
        else:
            session = await auth.create_session(
                conn,
                settings,
                result.principal.user_id,
                remote,
                request.headers.get("User-Agent", ""),
            )
            await audit.record(
                conn,
                actor=result.principal,
                action="login",
                outcome="success",
                origin=origin(request),
                object_type="user",
                object_id=result.principal.user_id,
            )
    if result.throttled:
        wait = result.retry_after_s
        raise Problem(
            429,
            f"Too many failed sign-ins from here. Wait {wait} seconds and try again."
            if wait < 120
            else f"Too many failed sign-ins from here. Wait {math.ceil(wait / 60)} minutes "
            "and try again.",
            code="login-throttled",
            headers={"Retry-After": str(wait)},
        )
    if result.principal is None:
        raise Problem(401, "Wrong email or password.", code="login-failed")
    principal = auth.Principal(**{**result.principal.__dict__, "csrf_token": session.csrf_token})
    return principal, session.cookie_value


@route(
    "POST",
    "/api/v1/login",
    summary="Sign in with email and password",
    tag="session",
    public=True,
    responses={401: "Wrong email or password", 429: "Too many failed sign-ins"},
)
async def login(request: web.Request, body: LoginIn) -> web.StreamResponse:
    """Opens a browser session (cookie ``bb_session``). The answer carries the CSRF token."""
    principal, cookie = await password_login(request, body.email, body.password)
    response = web.json_response(me_of(principal).model_dump(mode="json"))
    set_session_cookie(request, response, cookie)
    return response


@route("POST", "/api/v1/logout", summary="End the current session", tag="session", status=204)
async def logout(request: web.Request) -> web.StreamResponse:
    principal = require_principal(request)
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    async with transaction(request.app[POOL]) as conn:
        if cookie:
            await auth.end_session(conn, cookie)
        await audit.record(
            conn,
            actor=principal,
            action="logout",
            outcome="success",
            origin=origin(request),
            object_type="user",
            object_id=principal.user_id,
        )
    response = web.Response(status=204)
    response.del_cookie(auth.SESSION_COOKIE, path="/")
    return response


@route("GET", "/api/v1/me", summary="The signed-in user", tag="session")
async def me(request: web.Request) -> Me:
    require_principal(request)
    principal = current_principal(request)
    assert principal is not None
    return me_of(principal)
