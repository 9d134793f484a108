"""RFC 9457 problem details: the one error shape of the JSON API."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bedboard import errors

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://bedboard.invalid/problems/"


class Problem(Exception):
    """An error a client can act on. ``code`` becomes the problem ``type`` URI."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        title: str | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")
        self.title = title or HTTPStatus(status).phrase
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self, instance: str | None = None, request_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if request_id:
            body["request_id"] = request_id
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def not_found(what: str = "resource") -> Problem:
    return Problem(404, f"No such {what}.", code="not-found")


def forbidden(detail: str = "You are not allowed to do this.") -> Problem:
    return Problem(403, detail, code="forbidden")


def unauthenticated() -> Problem:
    return Problem(
        401,
        "Sign in or send an API token (Authorization: Bearer <token>).",
        code="unauthenticated",
        headers={"WWW-Authenticate": 'Bearer realm="bedboard"'},
    )


def conflict(detail: str, **extra: Any) -> Problem:
    return Problem(409, detail, code="conflict", extra=extra)


def field_list(fields: Sequence[errors.FieldError]) -> list[dict[str, str]]:
    """A 422's ``errors`` member: ``{"field": "a.b", "in": ..., "message": ..., "type": ...}``."""
    return [{"field": f.field, "in": f.where, "message": f.message, "type": f.kind} for f in fields]


def validation_problem(exc: ValidationError, where: str = "body") -> Problem:
    """422 with one entry per invalid field."""
    fields = errors.fields_of(exc, where=where)
    return Problem(
        422, "The request has invalid fields.", code="validation-error", errors=field_list(fields)
    )


# Each kind of domain refusal has one status; a subclass takes its nearest ancestor's.
STATUS: dict[type[errors.DomainError], int] = {
    errors.NotFound: 404,
    errors.Invalid: 422,
    errors.Conflict: 409,
    errors.StaleVersion: 412,
    errors.KeyReused: 422,
    errors.BadKey: 400,
    errors.SignInRefused: 401,
    errors.SignInThrottled: 429,
    errors.LinkRefused: 403,
    errors.LinkGone: 410,
}


def status_for(exc: errors.DomainError) -> int:
    return next((STATUS[c] for c in type(exc).__mro__ if c in STATUS), 400)


def from_domain(exc: errors.DomainError) -> Problem:
    """The problem a domain refusal becomes on the wire (and on the error page)."""
    status = status_for(exc)
    headers: dict[str, str] = {}
    extra: Mapping[str, Any] = {}
    if isinstance(exc, errors.SignInThrottled):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, errors.Conflict):
        extra = exc.extra
    fields = field_list(exc.fields) if isinstance(exc, errors.Invalid) and exc.fields else None
    return Problem(status, exc.detail, code=exc.code, errors=fields, headers=headers, extra=extra)


def problem_response(
    problem: Problem, *, instance: str | None = None, request_id: str | None = None
) -> web.Response:
    return web.Response(
        status=problem.status,
        text=json.dumps(problem.body(instance, request_id)),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=problem.headers,
    )
