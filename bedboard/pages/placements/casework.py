"""The liaison's casework on the placement page: where the person is waiting (a move is
a new entry) and the officer custody (started, officer released). A refusal comes back
as a sentence next to the field that caused it (``?wait_error=<field>``; the sentences
are in ``detail.WAIT_ERRORS``)."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import ValidationError

from bedboard import localtime
from bedboard.auth import Principal
from bedboard.context import SETTINGS, path_id
from bedboard.database import Connection
from bedboard.errors import Invalid
from bedboard.pages.placements.detail import WAIT_ERRORS, _act
from bedboard.placements import waiting


def _errored(placement_id: int, field: str, anchor: str) -> web.HTTPSeeOther:
    field = field if field in WAIT_ERRORS else "since"
    return web.HTTPSeeOther(f"/placements/{placement_id}?wait_error={field}#{anchor}")


def _since(request: web.Request, text: str, placement_id: int, anchor: str) -> datetime | None:
    if not text.strip():
        return None  # now
    try:
        return localtime.parse_local(text, request.app[SETTINGS].zone)
    except localtime.LocalTimeError:
        raise _errored(placement_id, "since", anchor) from None


async def placement_wait(request: web.Request) -> web.StreamResponse:
    placement_id = path_id(request)
    form = await request.post()
    anchor = "waiting-title"
    since = _since(request, str(form.get("since", "")), placement_id, anchor)
    place = str(form.get("place", ""))
    facility = str(form.get("facility_id", "")).strip()
    try:
        wait = waiting.WaitIn(
            place=place,  # type: ignore[arg-type]
            facility_id=int(facility) if facility.isdigit() else None,
            since=since,
        )
    except ValidationError:
        raise _errored(placement_id, "place", anchor) from None
    if wait.place is not waiting.Place.EMERGENCY_DEPARTMENT:
        wait = wait.model_copy(update={"facility_id": None})

    async def work(conn: Connection, principal: Principal) -> None:
        try:
            await waiting.move(conn, placement_id, wait, principal)
        except Invalid as exc:
            field = exc.fields[0].field if exc.fields else "since"
            raise _errored(placement_id, field, anchor) from None

    return await _act(request, placement_id, work, "Waiting place recorded.")


async def placement_custody(request: web.Request) -> web.StreamResponse:
    placement_id = path_id(request)
    form = await request.post()
    anchor = "waiting-title"
    since = _since(request, str(form.get("since", "")), placement_id, anchor)
    try:
        custody = waiting.CustodyIn(agency=str(form.get("agency", "")), since=since)
    except ValidationError:
        raise _errored(placement_id, "agency", anchor) from None

    async def work(conn: Connection, principal: Principal) -> None:
        try:
            await waiting.start_custody(conn, placement_id, custody, principal)
        except Invalid as exc:
            field = exc.fields[0].field if exc.fields else "since"
            raise _errored(placement_id, field, anchor) from None

    return await _act(request, placement_id, work, "Officer custody recorded.")


async def placement_custody_end(request: web.Request) -> web.StreamResponse:
    placement_id = path_id(request)

    async def work(conn: Connection, principal: Principal) -> None:
        await waiting.end_custody(conn, placement_id, principal)

    return await _act(request, placement_id, work, "Officer released.")
