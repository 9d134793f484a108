"""RFC 9457 problem details: the one error shape of the JSON API."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import ValidationError

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


def validation_problem(exc: ValidationError, where: str = "body") -> Problem:
    """422 with one entry per invalid field: ``{"field": "a.b", "message": ..., "type": ...}``."""
    errors = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = ".".join(str(part) for part in err["loc"])
        errors.append(
            {"field": loc or where, "in": where, "message": err["msg"], "type": err["type"]}
        )
    return Problem(422, "The request has invalid fields.", code="validation-error", errors=errors)


def problem_response(
    problem: Problem, *, instance: str | None = None, request_id: str | None = None
) -> web.Response:
    return web.Response(
        status=problem.status,
        text=json.dumps(problem.body(instance, request_id)),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=problem.headers,
    )
