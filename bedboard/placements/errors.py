"""Refusals of placement changes, as problems (the 409s, 412s and 422s)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from bedboard.problems import Problem


def _illegal(current: str, wanted: str, allowed: Sequence[str]) -> Problem:
    names = ", ".join(allowed) if allowed else "none (it is final)"
    return Problem(
        409,
        f"A placement that is {current} cannot become {wanted}. Allowed from {current}: {names}.",
        code="illegal-transition",
        extra={"current": current, "allowed": list(allowed)},
    )


def _stale(what: str = "placement") -> Problem:
    return Problem(
        412,
        f"The {what} was changed by someone else; reload and retry.",
        code="precondition-failed",
    )


def _invalid(field: str, message: str, kind: str = "value") -> Problem:
    """A 422 naming one field of the request body (dotted path)."""
    return Problem(
        422,
        message,
        code="validation-error",
        errors=[{"field": field, "in": "body", "message": message, "type": kind}],
    )


def _reference_problem(exc: asyncpg.ForeignKeyViolationError) -> Problem:
    detail = str(exc.detail or "")
    field = next(
        (f for f in ("court_id", "county_fips", "liaison_id", "unit_id") if f in detail),
        "reference",
    )
    return Problem(
        422,
        "The request refers to something that does not exist.",
        code="validation-error",
        errors=[{"field": field, "in": "body", "message": "does not exist", "type": "reference"}],
    )


def _referral_illegal(current: str, wanted: str) -> Problem:
    allowed = {
        "pending": ["accepted", "declined", "withdrawn"],
        "accepted": ["declined", "withdrawn"],
    }
    return Problem(
        409,
        f"A referral that is {current} cannot become {wanted}."
        + (f" Allowed: {', '.join(allowed[current])}." if current in allowed else " It is final."),
        code="illegal-transition",
        extra={"current": current, "allowed": allowed.get(current, [])},
    )
