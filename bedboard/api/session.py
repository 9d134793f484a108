"""Sign in and out with JSON; who am I."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bedboard import auth, signin
from bedboard.api.registry import model_response, route
from bedboard.auth import Role
from bedboard.context import (
    current_principal,
    require_principal,
)


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
    region_id: int | None = Field(default=None, description="A supervisor's region.")
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
        region_id=principal.region_id,
        via=principal.via,
        csrf_token=principal.csrf_token,
    )


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
    principal, cookie = await signin.password_login(request, body.email, body.password)
    response = model_response(me_of(principal))
    signin.set_session_cookie(request, response, cookie)
    return response


@route("POST", "/api/v1/logout", summary="End the current session", tag="session", status=204)
async def logout(request: web.Request) -> web.StreamResponse:
    principal = require_principal(request)
    response = web.Response(status=204)
    await signin.sign_out(request, principal, response)
    return response


@route("GET", "/api/v1/me", summary="The signed-in user", tag="session")
async def me(request: web.Request) -> Me:
    require_principal(request)
    principal = current_principal(request)
    assert principal is not None
    return me_of(principal)
