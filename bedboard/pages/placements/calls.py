"""The *Called* control on the placement page: next to each bed that fits and each
referral, record what the facility said on the phone (no bed, has a bed, call back at…,
no answer). *Has a bed* comes back with an offer on the page (a confirmation step) to
refer and record the acceptance on the facility's behalf. A refused call comes back as a
sentence next to the field at fault (``?call_error=<field>&call_row=<row>``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web
from pydantic import ValidationError

from bedboard import localtime
from bedboard.access import Action
from bedboard.context import POOL, SETTINGS, authorize, path_id
from bedboard.database import Connection, transaction
from bedboard.errors import Conflict, Invalid
from bedboard.pages.placements.shared import back_to, resource_of
from bedboard.placements import calls

# The sentence next to the field the call's form sent wrong (never the value).
CALL_ERRORS = {
    "call_back_at": "Enter the time to call back: a date and time later than now.",
    "outcome": "Choose what the facility said.",
    "facility_id": "That facility is not on the board any more.",
    "unit_id": "That unit is not on the board any more.",
}


async def page_context(conn: Connection, placement_id: int, query: Any) -> dict[str, Any]:
    """What the placement page's calls need: the calls made, the call-back reminders, a
    "has a bed" call waiting for its offer, and a refused form's sentence."""
    made = await calls.calls_of(conn, placement_id)
    offer = None
    wanted = str(query.get("bed_offer", ""))
    if wanted.isdigit():
        offer = next(
            (
                c
                for c in made
                if c.id == int(wanted)
                and c.outcome is calls.Outcome.HAS_BED
                and c.unit_id is not None
                and c.referral_id is None
            ),
            None,
        )
    field = str(query.get("call_error", ""))
    return {
        "calls_made": made,
        "call_words": {o.value: words for o, words in calls.OUTCOME_WORDS.items()},
        "call_backs": calls.call_backs(made),
        "bed_offer": offer,
        "call_row": str(query.get("call_row", "")),
        "call_error_field": field if field in CALL_ERRORS else "",
        "call_error": CALL_ERRORS.get(field, ""),
    }


def _row(form: Any) -> str:
    """Which row's control sent the form (``result-12``, ``referral-5``), to answer there."""
    row = str(form.get("row", ""))
    kind, _, number = row.partition("-")
    return row if kind in ("result", "referral") and number.isdigit() else ""


def _refused(placement_id: int, field: str, row: str) -> web.HTTPSeeOther:
    field = field if field in CALL_ERRORS else "outcome"
    anchor = f"called-{row}" if row else "calls-title"
    return web.HTTPSeeOther(
        f"/placements/{placement_id}?call_error={field}&call_row={quote(row)}#{anchor}"
    )


async def placement_call(request: web.Request) -> web.StreamResponse:
    placement_id = path_id(request)
    form = await request.post()
    row = _row(form)
    outcome = str(form.get("outcome", ""))
    when = str(form.get("call_back_at", "")).strip()
    call_back_at: datetime | None = None
    if outcome == calls.Outcome.CALL_BACK:
        if not when:
            raise _refused(placement_id, "call_back_at", row)
        try:
            call_back_at = localtime.parse_local(when, request.app[SETTINGS].zone)
        except localtime.LocalTimeError:
            raise _refused(placement_id, "call_back_at", row) from None
    unit = str(form.get("unit_id", "")).strip()
    try:
        call = calls.CallIn.model_validate(
            {
                "facility_id": str(form.get("facility_id", "")),
                "unit_id": unit or None,
                "outcome": outcome,
                "call_back_at": call_back_at,
            }
        )
    except ValidationError as exc:
        fields = [str(e["loc"][0]) for e in exc.errors() if e["loc"]]
        raise _refused(placement_id, fields[0] if fields else "outcome", row) from None
    hold = timedelta(hours=request.app[SETTINGS].hold_hours)
    try:
        async with transaction(request.app[POOL]) as conn:
            principal = authorize(
                request, Action.PLACEMENT_WRITE, await resource_of(conn, placement_id)
            )
            done = await calls.record(conn, placement_id, call, principal, hold=hold)
    except Invalid as exc:
        raise _refused(placement_id, exc.fields[0].field if exc.fields else "", row) from None
    except Conflict as exc:
        raise _back(placement_id, f"Not done: {exc.detail}") from None
    if done.call.outcome is calls.Outcome.HAS_BED and done.call.unit_id is not None:
        raise web.HTTPSeeOther(
            f"/placements/{placement_id}?bed_offer={done.call.id}#bed-offer-title"
        )
    raise _back(placement_id, f"Call recorded: {done.call.summary}.")


def _back(placement_id: int, notice: str) -> web.HTTPSeeOther:
    """To the placement page's calls, with a notice."""
    return back_to(placement_id, notice, "calls-title")


async def placement_call_accept(request: web.Request) -> web.StreamResponse:
    """The offer's confirmation: refer (unless referred) and record the acceptance."""
    placement_id = path_id(request)
    call_id = path_id(request, "call_id")
    hold = timedelta(hours=request.app[SETTINGS].hold_hours)
    try:
        async with transaction(request.app[POOL]) as conn:
            principal = authorize(
                request, Action.PLACEMENT_WRITE, await resource_of(conn, placement_id)
            )
            await calls.accept_by_phone(conn, placement_id, call_id, principal, hold=hold)
    except (Conflict, Invalid) as exc:
        raise _back(placement_id, f"Not done: {exc.detail}") from None
    raise back_to(
        placement_id,
        "Acceptance recorded on the facility's behalf: a bed is held for this person for "
        f"{request.app[SETTINGS].hold_hours} hours.",
    )
