"""Administration of the order types' escalation ladders: the list of order types, and one
ladder as form rows (hours before, audiences, only without acceptance, wider search,
minutes to acknowledge). Adding and removing a row re-show the form without saving, so
the page works without script; Save replaces the ladder through
``escalation.set_ladder`` (the same use case, access policy and audit as the API).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bedboard import placements
from bedboard.access import Action, Resource
from bedboard.context import POOL, authorize
from bedboard.database import acquire, transaction
from bedboard.errors import Invalid
from bedboard.pages import render
from bedboard.pages.admin.shared import Form, require_admin, see_other
from bedboard.pages.forms import FORM
from bedboard.placements import escalation
from bedboard.placements.escalation import MAX_ACK_MINUTES, MAX_HOURS_BEFORE, MAX_RUNGS

# Each field's sentence, whatever pydantic found wrong with it.
MESSAGES = {
    "hours_before": f"Hours before must be a whole number from 0 to {MAX_HOURS_BEFORE} "
    "(0 is at the deadline).",
    "audiences": "Choose at least one audience.",
    "ack_minutes": f"Minutes to acknowledge must be a whole number from 1 to {MAX_ACK_MINUTES:,}.",
}
AUDIENCE_CHOICES = [(a.value, words) for a, words in escalation.AUDIENCE_WORDS.items()]


def _blank_row() -> dict[str, Any]:
    return {
        "hours_before": "",
        "audiences": [],
        "only_without_acceptance": True,
        "offer_wider_search": False,
        "ack_minutes": "60",
    }


def _rows_of(ladder: escalation.Ladder) -> list[dict[str, Any]]:
    return [
        {
            "hours_before": str(r.hours_before),
            "audiences": [a.value for a in r.audiences],
            "only_without_acceptance": r.only_without_acceptance,
            "offer_wider_search": r.offer_wider_search,
            "ack_minutes": str(r.ack_minutes),
        }
        for r in ladder.rungs
    ]


def _form_rows(form: Form) -> list[dict[str, Any]]:
    raw = str(form.get("rows", "0"))
    count = min(int(raw), MAX_RUNGS + 1) if raw.isdigit() else 0
    return [
        {
            "hours_before": str(form.get(f"{i}-hours_before", "")).strip(),
            "audiences": [str(v) for v in form.getall(f"{i}-audiences", [])],
            "only_without_acceptance": form.get(f"{i}-only_without_acceptance") == "true",
            "offer_wider_search": form.get(f"{i}-offer_wider_search") == "true",
            "ack_minutes": str(form.get(f"{i}-ack_minutes", "")).strip(),
        }
        for i in range(count)
    ]


def _validate(rows: list[dict[str, Any]]) -> tuple[list[escalation.RungIn], dict[str, str]]:
    """The rows as rungs, and a sentence per bad field (``"<row>-<field>"``)."""
    rungs: list[escalation.RungIn] = []
    errors: dict[str, str] = {}
    if len(rows) > MAX_RUNGS:
        errors[FORM] = f"A ladder has at most {MAX_RUNGS} rungs; remove one."
    for i, row in enumerate(rows):
        try:
            rungs.append(escalation.RungIn.model_validate(row))
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                name = str(err["loc"][0]) if err["loc"] else FORM
                message = MESSAGES.get(name, f"Check {name}.")
                if name == "audiences" and len(err["loc"]) > 1:  # a value not on the list
                    message = "Choose the audiences from the list."
                errors.setdefault(f"{i}-{name}", message)
    return rungs, errors


async def order_type_list(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    async with acquire(request.app[POOL]) as conn:
        types = await placements.order_types(conn)
        ladders = {t.code: await escalation.ladder(conn, t.code) for t in types}
    return render(request, "admin/order_types.html", order_types=types, ladders=ladders)


async def _ladder_form(
    request: web.Request,
    code: str,
    rows: list[dict[str, Any]],
    errors: dict[str, str],
    status: int = 200,
) -> web.Response:
    async with acquire(request.app[POOL]) as conn:
        ladder = await escalation.ladder(conn, code)  # NotFound for an unknown code
        order = next(t for t in await placements.order_types(conn) if t.code == code)
    return render(
        request,
        "admin/ladder_form.html",
        status=status,
        order=order,
        ladder=ladder,
        rows=rows,
        errors=errors,
        audiences=AUDIENCE_CHOICES,
        max_rungs=MAX_RUNGS,
    )


async def ladder_edit(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    code = request.match_info["code"]
    async with acquire(request.app[POOL]) as conn:
        ladder = await escalation.ladder(conn, code)
    return await _ladder_form(request, code, _rows_of(ladder), {})


def _domain_errors(exc: Invalid) -> dict[str, str]:
    """``rungs.<i>.<field>`` from the use case → the form's ``<i>-<field>``."""
    errors: dict[str, str] = {}
    for f in exc.fields:
        parts = f.field.split(".")
        key = f"{parts[1]}-{parts[2]}" if len(parts) >= 3 and parts[0] == "rungs" else FORM
        errors.setdefault(key, f.message)
    return errors or {FORM: exc.detail}


async def ladder_update(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    code = request.match_info["code"]
    form = await request.post()
    rows = _form_rows(form)
    remove = str(form.get("remove", ""))
    if remove.isdigit():  # a row's Remove button: show the form without it, save nothing
        return await _ladder_form(
            request, code, [r for i, r in enumerate(rows) if i != int(remove)], {}
        )
    if form.get("action") == "add":
        return await _ladder_form(request, code, [*rows, _blank_row()][: MAX_RUNGS + 1], {})
    rungs, errors = _validate(rows)
    if errors:
        return await _ladder_form(request, code, rows, errors, 422)
    try:
        async with transaction(request.app[POOL]) as conn:
            principal = authorize(request, Action.ORDER_TYPE_UPDATE, Resource("order_type"))
            await escalation.set_ladder(conn, code, rungs, principal)
    except Invalid as exc:
        return await _ladder_form(request, code, rows, _domain_errors(exc), 422)
    raise see_other(f"/admin/order-types/{code}/ladder?saved=1")
