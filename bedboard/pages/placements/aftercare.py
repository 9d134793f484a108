"""After admission, on the placement page and the liaison's task list: the discharge (a
disposition, when, a note; after a confirmation), follow-up tasks (add, done, cancelled),
the outpatient commitment, and ``/tasks``. A refusal comes back as a sentence next to
the field that caused it (``?discharge_error=``, ``?task_error=``, ``?commitment_error=``
name the field, never its value; the sentences are below)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal
from urllib.parse import urlencode

from aiohttp import web
from pydantic import ValidationError

from bedboard import localtime, placements
from bedboard.access import Action, Resource
from bedboard.auth import Principal, Role
from bedboard.context import POOL, SETTINGS, authorize, path_id, record_success
from bedboard.database import Connection, acquire, transaction
from bedboard.errors import Conflict, Invalid
from bedboard.pages import render, require_role
from bedboard.pages.placements.detail import (
    COMMITMENT_ERRORS,
    DISCHARGE_ERRORS,
    TASK_ERRORS,
    _act,
)
from bedboard.pages.placements.shared import back_to, confirm_page, resource_of
from bedboard.placements import DISPOSITION_LABELS, TransitionIn, followups


def _errored(placement_id: int, form: str, field: str, anchor: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/placements/{placement_id}?{form}_error={field}#{anchor}")


def _field(exc: Invalid | ValidationError, known: dict[str, str], default: str) -> str:
    if isinstance(exc, ValidationError):
        names = [str(e["loc"][-1]) for e in exc.errors() if e["loc"]]
    else:
        names = [f.field for f in exc.fields]
    return next((n for n in names if n in known), default)


# --------------------------------------------------------------------------- discharge


async def placement_discharge(request: web.Request) -> web.StreamResponse:
    """*Discharge*: where the person went, when (empty: now) and a note; a confirmation
    step first (a discharge is final), then ``placements.transition`` to ``discharged``."""
    placement_id = path_id(request)
    form = await request.post()
    anchor = "discharge-title"
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.PLACEMENT_WRITE, await resource_of(conn, placement_id))
    when = str(form.get("discharged_at", "")).strip()
    discharged_at = None
    if when:
        try:
            discharged_at = localtime.parse_local(when, request.app[SETTINGS].zone)
        except localtime.LocalTimeError:
            raise _errored(placement_id, "discharge", "discharged_at", anchor) from None
    try:
        change = TransitionIn.model_validate(
            {
                "to": "discharged",
                "disposition": form.get("disposition") or None,
                "discharged_at": discharged_at,
                "note": form.get("note", ""),
            }
        )
    except ValidationError as exc:
        field = _field(exc, DISCHARGE_ERRORS, "disposition")
        raise _errored(placement_id, "discharge", field, anchor) from None
    assert change.disposition is not None
    if form.get("confirmed") != "1":
        async with acquire(request.app[POOL]) as conn:
            p = await placements.get_placement(conn, placement_id)
        where = DISPOSITION_LABELS[change.disposition].lower()
        return confirm_page(
            request,
            reference=p.reference,
            back=f"/placements/{placement_id}",
            title=f"Mark {p.reference} discharged?",
            question=f"Confirm that the person was discharged: {where}.",
            consequence="The placement is final: it can no longer be edited, and the reports "
            "keep counting it as admitted. Follow-up tasks and the outpatient commitment can "
            "still be recorded.",
            confirm_label="Yes, mark discharged",
            form=form,
        )

    async def work(conn: Connection, principal: Principal) -> None:
        try:
            await placements.transition(conn, placement_id, change, principal, None)
        except Invalid as exc:
            field = _field(exc, DISCHARGE_ERRORS, "discharged_at")
            raise _errored(placement_id, "discharge", field, anchor) from None

    return await _act(request, placement_id, work, "Marked discharged.")


# --------------------------------------------------------------------------- follow-up tasks


def _task_input(form: Any, zone: Any, placement_id: int) -> followups.FollowUpIn:
    """The form's task: a day (``due_on``) and an optional time (``due_time``)."""
    anchor = "follow-ups-title"
    day, clock = str(form.get("due_on", "")).strip(), str(form.get("due_time", "")).strip()
    assignee = str(form.get("assignee_id", "")).strip()
    data: dict[str, Any] = {
        "title": form.get("title", ""),
        "assignee_id": int(assignee) if assignee.isdigit() and len(assignee) < 19 else None,
    }
    try:
        due_day = date.fromisoformat(day)
    except ValueError:
        raise _errored(placement_id, "task", "due_on", anchor) from None
    if clock:
        try:
            data["due_at"] = localtime.parse_local(f"{due_day.isoformat()}T{clock}", zone)
        except localtime.LocalTimeError:
            raise _errored(placement_id, "task", "due_at", anchor) from None
    else:
        data["due_on"] = due_day
    try:
        return followups.FollowUpIn.model_validate(data)
    except ValidationError as exc:
        raise _errored(placement_id, "task", _field(exc, TASK_ERRORS, "title"), anchor) from None


async def placement_add_follow_up(request: web.Request) -> web.StreamResponse:
    placement_id = path_id(request)
    form = await request.post()
    zone = request.app[SETTINGS].zone
    async with acquire(request.app[POOL]) as conn:
        # Refuse a caller who may not before telling them anything about the form.
        authorize(request, Action.FOLLOW_UP_WRITE, await resource_of(conn, placement_id))
    task = _task_input(form, zone, placement_id)

    async def work(conn: Connection, principal: Principal) -> None:
        try:
            await followups.add_follow_up(conn, placement_id, task, principal, zone)
        except Invalid as exc:
            field = _field(exc, TASK_ERRORS, "title")
            raise _errored(placement_id, "task", field, "follow-ups-title") from None

    return await _act(request, placement_id, work, "Follow-up task added.", Action.FOLLOW_UP_WRITE)


async def _close(request: web.Request, to: Literal["done", "cancelled"]) -> web.StreamResponse:
    follow_up_id = path_id(request)
    form = await request.post()
    to_tasks = form.get("next") == "tasks"
    async with acquire(request.app[POOL]) as conn:
        placement_id = await followups.follow_up_placement(conn, follow_up_id)
    try:
        close = followups.FollowUpCloseIn.model_validate({"note": form.get("note", "")})
    except ValidationError:
        close = None
    success = "Follow-up marked done." if to == "done" else "Follow-up cancelled."
    try:
        async with transaction(request.app[POOL]) as conn:
            principal = authorize(
                request, Action.FOLLOW_UP_WRITE, await resource_of(conn, placement_id)
            )
            if close is None:
                raise Invalid.field("note", "Keep the note to 2,000 characters.")
            await followups.close_follow_up(conn, follow_up_id, to, close.note, principal)
    except (Conflict, Invalid) as exc:
        notice = f"Not done: {exc.detail}"
    else:
        notice = success
    if to_tasks:
        raise web.HTTPSeeOther("/tasks?" + urlencode({"notice": notice}))
    raise back_to(placement_id, notice)


async def follow_up_done(request: web.Request) -> web.StreamResponse:
    return await _close(request, "done")


async def follow_up_cancel(request: web.Request) -> web.StreamResponse:
    return await _close(request, "cancelled")


# --------------------------------------------------------------------------- commitment


async def placement_commitment(request: web.Request) -> web.StreamResponse:
    """The outpatient commitment: the petition's court date and the CMHC; the first time,
    the default task unless unticked."""
    placement_id = path_id(request)
    form = await request.post()
    anchor = "commitment-title"
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.FOLLOW_UP_WRITE, await resource_of(conn, placement_id))
    try:
        data = followups.CommitmentIn.model_validate(
            {
                "court_date": str(form.get("court_date", "")).strip() or None,
                "cmhc_name": form.get("cmhc_name", ""),
                "add_follow_up": form.get("add_follow_up") == "1",
            }
        )
    except ValidationError as exc:
        field = _field(exc, COMMITMENT_ERRORS, "court_date")
        raise _errored(placement_id, "commitment", field, anchor) from None

    async def work(conn: Connection, principal: Principal) -> str:
        done = await followups.record_commitment(
            conn, placement_id, data, principal, request.app[SETTINGS].zone
        )
        if done.follow_up_id is not None:
            return f"Outpatient commitment recorded, with the task “{followups.COMMITMENT_TASK}”."
        return "Outpatient commitment recorded."

    return await _act(request, placement_id, work, "", Action.FOLLOW_UP_WRITE)


# --------------------------------------------------------------------------- /tasks

SHOW = {
    "open": ("Open", followups.FollowUpStatus.OPEN),
    "done": ("Done", followups.FollowUpStatus.DONE),
    "cancelled": ("Cancelled", followups.FollowUpStatus.CANCELLED),
}


async def tasks_page(request: web.Request) -> web.StreamResponse:
    """The liaison's follow-up tasks, soonest due first, overdue ones marked; ``?all=1``
    everyone's, ``?show=done|cancelled`` the closed ones."""
    principal = require_role(request, Role.LIAISON, Role.ADMIN)
    q = request.query
    mine = q.get("all") != "1"
    show = q.get("show", "open") if q.get("show", "open") in SHOW else "open"
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.FOLLOW_UP_LIST, Resource("follow_up"))
        items = await followups.tasks(
            conn,
            request.app[SETTINGS].zone,
            assignee_id=principal.user_id if mine else None,
            statuses=(SHOW[show][1],),
        )
        await record_success(
            request, conn, "follow_up.list", "follow_up", "", {"count": len(items)}
        )
    return render(
        request,
        "placements/tasks.html",
        items=items,
        mine=mine,
        show=show,
        show_label=SHOW[show][0],
        shows=[(k, v[0]) for k, v in SHOW.items()],
        notice=q.get("notice", ""),
    )
