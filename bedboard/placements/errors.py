"""Refusals of placement and referral changes, in the domain's words (no HTTP).

The kinds are the shared ones of ``bedboard.errors`` (a stale version or a missing row is
the same refusal for a placement as for a unit); this module builds the placement-specific
ones, with the allowed moves taken from the state tables in ``models``.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from bedboard.errors import BadReference, Conflict, IllegalTransition, Invalid
from bedboard.placements.models import REFERRAL_TRANSITIONS, ReferralStatus


class NotOpen(IllegalTransition):
    """The placement already has a bed (or is over): it takes no acceptance."""

    code = "placement-not-open"


def illegal(current: str, wanted: str, allowed: Sequence[str]) -> IllegalTransition:
    names = ", ".join(allowed) if allowed else "none (it is final)"
    return IllegalTransition(
        f"A placement that is {current} cannot become {wanted}. Allowed from {current}: {names}.",
        current,
        allowed,
    )


def final(current: str) -> IllegalTransition:
    return IllegalTransition(
        f"A placement that is {current} is final and cannot be edited.", current
    )


def referral_illegal(current: str, wanted: str) -> IllegalTransition:
    allowed = sorted(REFERRAL_TRANSITIONS.get(ReferralStatus(current), frozenset()))
    return IllegalTransition(
        f"A referral that is {current} cannot become {wanted}."
        + (f" Allowed: {', '.join(allowed)}." if allowed else " It is final."),
        current,
        allowed,
    )


def invalid(field: str, message: str, kind: str = "value") -> Invalid:
    """A refusal naming one field of the request body (dotted path)."""
    return Invalid.field(field, message, kind)


def bad_reference(exc: asyncpg.ForeignKeyViolationError) -> BadReference:
    detail = str(exc.detail or "")
    field = next(
        (f for f in ("court_id", "county_fips", "liaison_id", "unit_id") if f in detail),
        "reference",
    )
    return BadReference(field)


class PlacementOver(Conflict):
    """The placement is admitted or closed: nothing about its search for a bed (an
    escalation's acknowledgement) can change any more."""

    code = "placement-over"
