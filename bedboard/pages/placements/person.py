"""Repeat involvement on the placement page: the liaison enters the person's full name
and date of birth once (only a keyed fingerprint is kept, ``placements.repeat``), sees
the person's earlier placements and links or unlinks them. The raw values go from the
form to the fingerprint and nowhere else: never into a redirect, a notice or a log."""

from __future__ import annotations

from datetime import date

from aiohttp import web
from pydantic import ValidationError

from bedboard.access import Action
from bedboard.auth import Principal
from bedboard.context import POOL, SETTINGS, authorize, path_id
from bedboard.database import Connection, acquire
from bedboard.errors import Invalid
from bedboard.pages.placements.detail import PERSON_ERRORS, _act
from bedboard.pages.placements.shared import resource_of
from bedboard.placements import repeat


def _errored(placement_id: int, field: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/placements/{placement_id}?person_error={field}#person-title")


async def placement_person(request: web.Request) -> web.StreamResponse:
    placement_id = path_id(request)
    form = await request.post()
    raw_date = str(form.get("birth_date", "")).strip()
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.PLACEMENT_WRITE, await resource_of(conn, placement_id))
    try:
        born = date.fromisoformat(raw_date)
    except ValueError:
        raise _errored(placement_id, "birth_date") from None
    try:
        person = repeat.PersonIn(full_name=str(form.get("full_name", "")), birth_date=born)
        key = repeat.person_key(request.app[SETTINGS].resolved_person_link_key(), person)
    except ValidationError:
        raise _errored(placement_id, "full_name") from None
    except Invalid as exc:
        field = exc.fields[0].field if exc.fields else "full_name"
        raise _errored(placement_id, field if field in PERSON_ERRORS else "full_name") from None
    del person, form  # nothing of the person outlives the fingerprint

    async def work(conn: Connection, principal: Principal) -> str:
        found = await repeat.remember(conn, placement_id, key, principal)
        if not found:
            return "Saved. No earlier placement of this person in the last 90 days."
        n = len(found)
        return f"Saved. {n} earlier placement{'s' if n > 1 else ''} of this person found below."

    return await _act(request, placement_id, work, "")


def _earlier_id(request: web.Request) -> int:
    raw = request.match_info.get("earlier", "")
    if not raw.isdigit():
        raise web.HTTPNotFound()
    return int(raw)


async def placement_person_link(request: web.Request) -> web.StreamResponse:
    placement_id, earlier_id = path_id(request), _earlier_id(request)

    async def work(conn: Connection, principal: Principal) -> None:
        await repeat.link(conn, placement_id, earlier_id, principal)

    return await _act(request, placement_id, work, "Linked to the earlier placement.")


async def placement_person_unlink(request: web.Request) -> web.StreamResponse:
    placement_id, earlier_id = path_id(request), _earlier_id(request)

    async def work(conn: Connection, principal: Principal) -> None:
        await repeat.unlink(conn, placement_id, earlier_id, principal)

    return await _act(request, placement_id, work, "Link removed.")
