"""Sign-in and sign-out pages.

Before a session exists, the sign-in form is protected from cross-site posting by a
double-submit token: a random cookie, and an HMAC of it (keyed by the secret key) in
the form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from aiohttp import web

from bedboard import auth, signin
from bedboard.context import SECRET, SETTINGS, current_principal
from bedboard.errors import SignInRefused, SignInThrottled
from bedboard.pages import render

LOGIN_CSRF_COOKIE = "bb_login"


def _login_token(secret: str, nonce: str) -> str:
    return hmac.new(secret.encode(), b"login:" + nonce.encode(), hashlib.sha256).hexdigest()


def _safe_next(value: str | None) -> str:
    """Only same-site relative paths are followed after sign-in."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    parts = urlsplit(value)
    return value if not parts.netloc and not parts.scheme else "/"


def _login_form(
    request: web.Request, *, status: int = 200, error: str = "", email: str = ""
) -> web.Response:
    nonce = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status=status,
        login_token=_login_token(request.app[SECRET], nonce),
        error=error,
        email=email,
        next=_safe_next(request.query.get("next")),
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        nonce,
        httponly=True,
        samesite="Strict",
        path="/login",
        secure=request.app[SETTINGS].secure_cookies,
        max_age=3600,
    )
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    if current_principal(request) is not None:
        raise web.HTTPSeeOther(_safe_next(request.query.get("next")))
    return _login_form(request)


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    given = str(form.get("login_token", ""))
    email = str(form.get("email", "")).strip()[:254]
    password = str(form.get("password", ""))
    if not nonce or not hmac.compare_digest(_login_token(request.app[SECRET], nonce), given):
        return _login_form(
            request, status=403, error="The form expired. Please sign in again.", email=email
        )
    if not email or not password:
        return _login_form(request, status=422, error="Enter your email and password.", email=email)
    try:
        _principal, cookie = await signin.password_login(request, email, password)
    except SignInRefused as exc:
        return _login_form(request, status=401, error=exc.detail, email=email)
    except SignInThrottled as exc:
        response = _login_form(request, status=429, error=exc.detail, email=email)
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", "/"))))
    signin.set_session_cookie(request, response, cookie)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    raise response


async def logout_submit(request: web.Request) -> web.StreamResponse:
    principal = current_principal(request)
    response = web.HTTPSeeOther("/login")
    if principal is not None and request.cookies.get(auth.SESSION_COOKIE):
        await signin.sign_out(request, principal, response)
    else:
        response.del_cookie(auth.SESSION_COOKIE, path="/")
    raise response


def setup(app: web.Application) -> None:
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout_submit)
