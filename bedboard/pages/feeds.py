"""Administration pages for facility feeds: settings (validated by the adapter kind;
secrets never shown back), the mapping from source identifiers to units, health, check,
poll now, unmapped identifiers and the quarantine."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from aiohttp import web
from pydantic import ValidationError

from bedboard import facilities, feeds
from bedboard.access import Action, Resource
from bedboard.auth import Role
from bedboard.context import POOL, SETTINGS, authorize, path_id, record_success
from bedboard.database import acquire, transaction
from bedboard.errors import Invalid
from bedboard.feeds import FeedIn, FeedPatch
from bedboard.pages import field_errors, render, require_role
from bedboard.pages.forms import domain_errors
from facility_adapters.base import REGISTRY

MAX_MAPPING_ROWS = 5000


def _kinds() -> list[dict[str, Any]]:
    out = []
    for kind, adapter in sorted(REGISTRY.items()):
        schema = adapter.Config.model_json_schema()
        fields = [
            {
                "name": name,
                "required": name in schema.get("required", []),
                "description": prop.get("description", ""),
                "secret": name in adapter.SECRET_FIELDS,
                "default": prop.get("default"),
            }
            for name, prop in schema.get("properties", {}).items()
        ]
        out.append(
            {
                "kind": kind,
                "title": adapter.title,
                "polled": adapter.polled,
                "fields": fields,
                "secrets": sorted(adapter.SECRET_FIELDS),
            }
        )
    return out


def _form_settings(form: Any, kind: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings JSON and the secret inputs (blank secrets are left out: kept)."""
    errors: dict[str, str] = {}
    text = str(form.get("config", "") or "{}")
    try:
        config = json.loads(text)
        if not isinstance(config, dict):
            raise ValueError("must be a JSON object")
    except ValueError as exc:
        errors["config"] = f"Settings must be a JSON object: {exc}"
        config = {}
    adapter = REGISTRY.get(kind)
    for secret in sorted(adapter.SECRET_FIELDS) if adapter else []:
        value = str(form.get(f"secret_{secret}", ""))
        if value:
            config[secret] = value
    return config, errors


def _form_mappings(form: Any) -> tuple[dict[str, int], dict[str, str]]:
    mappings: dict[str, int] = {}
    errors: dict[str, str] = {}
    i = -1
    while f"source_{i + 1}" in form and i < MAX_MAPPING_ROWS:
        i += 1
        source = str(form.get(f"source_{i}", "")).strip()
        unit = str(form.get(f"unit_{i}", "")).strip()
        if source and unit.isdigit():
            mappings[source] = int(unit)
        elif source and not unit:
            continue  # a source id without a unit stays unmapped
        elif unit and not source:
            errors["mappings"] = "Each mapped unit needs the source's identifier."
    return mappings, errors


async def feed_list(request: web.Request) -> web.StreamResponse:
    require_role(request, Role.ADMIN)
    authorize(request, Action.FEED_READ, Resource("feed"))
    async with acquire(request.app[POOL]) as conn:
        items = await feeds.list_feeds(conn)
    return render(request, "admin/feeds.html", feeds=items, kinds=_kinds())


async def _form(
    request: web.Request,
    *,
    feed: feeds.Feed | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
    notice: str = "",
) -> web.Response:
    async with acquire(request.app[POOL]) as conn:
        facility_options = [(str(f.id), f.name) for f in await facilities.list_facilities(conn)]
        facility_id = feed.facility_id if feed else int(values.get("facility_id") or 0)
        units = await facilities.list_units(conn, facility_id) if facility_id else []
        entries = await feeds.quarantine(conn, feed.id, limit=50) if feed else []
    rows: list[tuple[str, int | None]] = list((feed.mappings if feed else {}).items())
    if feed:
        rows += [(u.source_id, None) for u in feed.unmapped if u.source_id not in feed.mappings]
    rows += [("", None)] * 5  # room for new identifiers
    return render(
        request,
        "admin/feed_form.html",
        status=status,
        feed=feed,
        values=values,
        errors=errors,
        facility_options=facility_options,
        units=units,
        rows=rows,
        kinds=_kinds(),
        kind_options=[(k["kind"], f"{k['kind']}: {k['title']}") for k in _kinds()],
        quarantine=entries,
        notice=notice or request.query.get("notice", ""),
    )


async def feed_new(request: web.Request) -> web.StreamResponse:
    require_role(request, Role.ADMIN)
    values = {
        "kind": request.query.get("kind", "csv"),
        "facility_id": request.query.get("facility_id", ""),
        "config": "{}",
        "poll_interval_s": 300,
        "enabled": True,
        "name": "",
    }
    return await _form(request, feed=None, values=values, errors={})


async def feed_create(request: web.Request) -> web.StreamResponse:
    require_role(request, Role.ADMIN)
    form = await request.post()
    kind = str(form.get("kind", ""))
    config, errors = _form_settings(form, kind)
    mappings, map_errors = _form_mappings(form)
    errors.update(map_errors)
    values = {k: v for k, v in form.items() if isinstance(v, str) and not k.startswith("secret_")}
    if not errors:
        try:
            data = FeedIn.model_validate(
                {
                    "facility_id": form.get("facility_id") or 0,
                    "kind": kind,
                    "name": form.get("name", ""),
                    "config": config,
                    "enabled": form.get("enabled") == "true",
                    "poll_interval_s": form.get("poll_interval_s") or 300,
                    "mappings": mappings,
                }
            )
            authorize(request, Action.FEED_MANAGE, Resource("feed", facility_id=data.facility_id))
            async with transaction(request.app[POOL]) as conn:
                feed = await feeds.create_feed(conn, data, request.app[SETTINGS].allowed_feed_dirs)
                await record_success(
                    request, conn, Action.FEED_MANAGE, "feed", feed.id, {"op": "create"}
                )
        except ValidationError as exc:
            errors = field_errors(exc)
        except Invalid as exc:
            errors = domain_errors(exc)
    if errors:
        return await _form(request, feed=None, values=values, errors=errors, status=422)
    raise web.HTTPSeeOther(f"/admin/feeds/{feed.id}?notice={quote('Feed created.')}")


async def feed_edit(request: web.Request) -> web.StreamResponse:
    require_role(request, Role.ADMIN)
    async with acquire(request.app[POOL]) as conn:
        feed = await feeds.get_feed(conn, path_id(request))
    values = {
        "kind": feed.kind,
        "facility_id": str(feed.facility_id),
        "name": feed.name,
        "config": json.dumps(feed.config, indent=2),
        "poll_interval_s": feed.poll_interval_s,
        "enabled": feed.enabled,
    }
    return await _form(request, feed=feed, values=values, errors={})


async def feed_update(request: web.Request) -> web.StreamResponse:
    require_role(request, Role.ADMIN)
    feed_id = path_id(request)
    form = await request.post()
    async with acquire(request.app[POOL]) as conn:
        current = await feeds.get_feed(conn, feed_id)
    action = str(form.get("action", "save"))
    if action in ("check", "poll"):
        authorize(request, Action.FEED_MANAGE, Resource("feed", feed_id))
        if action == "check":
            problem = await feeds.check_feed(
                request.app[POOL], feed_id, allowed_dirs=request.app[SETTINGS].allowed_feed_dirs
            )
            notice = (
                "Check passed: the source answers." if not problem else f"Check failed: {problem}"
            )
        else:
            outcome = await feeds.poll_feed(
                request.app[POOL], feed_id, allowed_dirs=request.app[SETTINGS].allowed_feed_dirs
            )
            if outcome is None:
                notice = "Not polled: a listening feed, or another instance is polling it now."
            elif outcome.result is not None:
                r = outcome.result
                notice = (
                    f"Polled: {r.applied} applied, {r.duplicate} unchanged, {r.stale} older, "
                    f"{r.conflict} conflicting, {r.unmapped} unmapped, {r.rejected} quarantined."
                )
            else:
                notice = f"Poll failed: {outcome.error}"
        raise web.HTTPSeeOther(f"/admin/feeds/{feed_id}?notice={quote(notice)}")
    config, errors = _form_settings(form, current.kind)
    mappings, map_errors = _form_mappings(form)
    errors.update(map_errors)
    if not errors:
        try:
            patch = FeedPatch.model_validate(
                {
                    "name": form.get("name", ""),
                    "config": config,
                    "enabled": form.get("enabled") == "true",
                    "poll_interval_s": form.get("poll_interval_s") or current.poll_interval_s,
                    "mappings": mappings,
                }
            )
            authorize(request, Action.FEED_MANAGE, Resource("feed", feed_id))
            async with transaction(request.app[POOL]) as conn:
                await feeds.update_feed(
                    conn, feed_id, patch, None, request.app[SETTINGS].allowed_feed_dirs
                )
                await record_success(
                    request, conn, Action.FEED_MANAGE, "feed", feed_id, {"op": "update"}
                )
        except ValidationError as exc:
            errors = field_errors(exc)
        except Invalid as exc:
            errors = domain_errors(exc)
    if errors:
        values = {
            k: v for k, v in form.items() if isinstance(v, str) and not k.startswith("secret_")
        }
        values["kind"] = current.kind
        return await _form(request, feed=current, values=values, errors=errors, status=422)
    raise web.HTTPSeeOther(f"/admin/feeds/{feed_id}?notice={quote('Saved.')}")


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/feeds", feed_list)
    app.router.add_get("/admin/feeds/new", feed_new)
    app.router.add_post("/admin/feeds/new", feed_create)
    app.router.add_get("/admin/feeds/{id}", feed_edit)
    app.router.add_post("/admin/feeds/{id}", feed_update)
