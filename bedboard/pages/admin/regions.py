"""Administration of regions: the list (name, how many counties, which), the form (a
name and the counties, ticked by letter), and deleting one after a confirmation step.

The form is validated by the API's model (``RegionIn``) and saved through the same
domain functions, access policy and audit trail. A taken name and a county already in
another region come back as a sentence next to the field.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bedboard import facilities, regions
from bedboard.access import Action, Resource
from bedboard.context import POOL, authorize, path_id
from bedboard.database import acquire, transaction
from bedboard.errors import Duplicate, Invalid
from bedboard.pages import domain_errors, field_errors, labels, render
from bedboard.pages.admin.shared import form_data, require_admin, see_other
from bedboard.problems import status_for
from bedboard.regions import CountyInAnotherRegion, Region, RegionHasSupervisors, RegionIn

LABELS = {"name": "Name", "counties": "Counties"}


async def region_list(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    async with acquire(request.app[POOL]) as conn:
        items = await regions.list_regions(conn)
    return render(request, "admin/regions.html", regions=items)


async def _region_form(
    request: web.Request,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    region_id: int | None = None,
    status: int = 200,
) -> web.Response:
    async with acquire(request.app[POOL]) as conn:
        counties = await facilities.list_counties(conn)
        defined = await regions.list_regions(conn)
    elsewhere = {c.fips: r.name for r in defined if r.id != region_id for c in r.counties}
    # Counties by first letter; each names the other region it is in, if any.
    groups = [
        (
            letter,
            [(c.fips, labels.county(c.name), elsewhere.get(c.fips)) for c in group],
        )
        for letter, group in groupby(counties, key=lambda c: c.name[:1].upper())
    ]
    return render(
        request,
        "admin/region_form.html",
        status=status,
        values=values,
        errors=errors,
        region_id=region_id,
        county_groups=groups,
        selected=set(values.get("counties", [])),
    )


def _errors(exc: Exception) -> tuple[dict[str, str], int]:
    if isinstance(exc, ValidationError):
        return field_errors(exc, LABELS), 422
    if isinstance(exc, Duplicate):
        return {"name": regions.NAME_TAKEN}, status_for(exc)
    if isinstance(exc, CountyInAnotherRegion):
        return {"counties": exc.detail}, status_for(exc)
    assert isinstance(exc, Invalid)
    return domain_errors(exc), status_for(exc)


async def _save(request: web.Request, region_id: int | None) -> web.StreamResponse:
    raw = form_data(await request.post(), RegionIn)
    try:
        data = RegionIn.model_validate(raw)
        async with transaction(request.app[POOL]) as conn:
            region: Region
            if region_id is None:
                principal = authorize(request, Action.REGION_CREATE, Resource("region"))
                region = await regions.create_region(conn, data, by=principal)
            else:
                resource = Resource("region", region_id)
                principal = authorize(request, Action.REGION_UPDATE, resource)
                region = await regions.update_region(conn, region_id, data, by=principal)
    except (ValidationError, Duplicate, CountyInAnotherRegion, Invalid) as exc:
        errors, status = _errors(exc)
        return await _region_form(
            request, values=raw, errors=errors, region_id=region_id, status=status
        )
    raise see_other(f"/admin/regions?saved={region.id}")


async def region_new(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    return await _region_form(request, values={"name": "", "counties": []}, errors={})


async def region_create(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    return await _save(request, None)


async def region_edit(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    region_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        region = await regions.get_region(conn, region_id)
    values = {"name": region.name, "counties": [c.fips for c in region.counties]}
    return await _region_form(request, values=values, errors={}, region_id=region_id)


async def region_update(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    return await _save(request, path_id(request))


async def _delete_page(
    request: web.Request, region_id: int, *, refused: str = "", status: int = 200
) -> web.Response:
    async with acquire(request.app[POOL]) as conn:
        region = await regions.get_region(conn, region_id)
        supervisors = await regions.supervisors_of(conn, region_id)
    return render(
        request,
        "admin/region_delete.html",
        status=status,
        region=region,
        supervisors=supervisors,
        refused=refused,
    )


async def region_delete_confirm(request: web.Request) -> web.StreamResponse:
    """The confirmation step (works without script): what deleting the region changes,
    or that its supervisors need another region first."""
    require_admin(request)
    return await _delete_page(request, path_id(request))


async def region_delete(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    region_id = path_id(request)
    await request.post()
    try:
        async with transaction(request.app[POOL]) as conn:
            principal = authorize(request, Action.REGION_DELETE, Resource("region", region_id))
            await regions.delete_region(conn, region_id, by=principal)
    except RegionHasSupervisors as exc:
        return await _delete_page(request, region_id, refused=exc.detail, status=status_for(exc))
    raise see_other("/admin/regions?deleted=1")
