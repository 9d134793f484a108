"""Signing in and out: the use cases the API and the sign-in page share.

``password_login`` checks the credentials (throttled), opens a session and writes the
audit row in one transaction; ``sign_out`` ends the session and audits it; the session
cookie is set and cleared one way.
"""

from __future__ import annotations

import math

from aiohttp import web

from bedboard import audit, auth
from bedboard.context import POOL, SETTINGS, origin, remote_addr
from bedboard.database import transaction
from bedboard.errors import SignInRefused, SignInThrottled


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
        raise SignInThrottled(
            f"Too many failed sign-ins from here. Wait {wait} seconds and try again."
            if wait < 120
            else f"Too many failed sign-ins from here. Wait {math.ceil(wait / 60)} minutes "
            "and try again.",
            wait,
        )
    if result.principal is None:
        raise SignInRefused("Wrong email or password.")
    principal = auth.Principal(**{**result.principal.__dict__, "csrf_token": session.csrf_token})
    return principal, session.cookie_value


async def sign_out(
    request: web.Request, principal: auth.Principal, response: web.StreamResponse
) -> None:
    """End the request's session (if it has one), audit it, and clear the cookie."""
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
    response.del_cookie(auth.SESSION_COOKIE, path="/")
