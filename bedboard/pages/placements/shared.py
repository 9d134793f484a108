"""What the placement pages share: the way back to a placement, its access resource, choice
lists and the confirmation step.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from bedboard import placements
from bedboard.access import Resource
from bedboard.database import Connection
from bedboard.pages import render


def choices(values: Any) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ").capitalize()) for v in values]


def back_to(placement_id: int, notice: str = "", anchor: str = "") -> web.HTTPSeeOther:
    """To the placement page, with a notice, at a section (``anchor``: its element id)."""
    suffix = f"?notice={quote(notice)}" if notice else ""
    fragment = f"#{anchor}" if anchor else ""
    return web.HTTPSeeOther(f"/placements/{placement_id}{suffix}{fragment}")


async def resource_of(conn: Connection, placement_id: int) -> Resource:
    scope = await placements.scope(conn, placement_id)
    return Resource(
        "placement",
        placement_id,
        court_id=scope.court_id,
        facility_ids=scope.facility_ids,
        county_fips=scope.county_fips,
    )


def confirm_page(
    request: web.Request,
    *,
    reference: str,
    back: str,
    title: str,
    question: str,
    consequence: str,
    confirm_label: str,
    form: Any,
) -> web.StreamResponse:
    """A confirmation step before an action that cannot be undone; works without script."""
    fields = [(k, str(v)) for k, v in form.items() if k not in ("csrf_token", "confirmed")]
    return render(
        request,
        "placements/confirm.html",
        reference=reference,
        back=back,
        title=title,
        question=question,
        consequence=consequence,
        confirm_label=confirm_label,
        action=request.path,
        fields=fields,
    )
