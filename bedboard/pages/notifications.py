"""Notification pages: the alert banner on every signed-in page (loaded by
``load_alerts``) and its acknowledgement, one's own preferences, and for administrators
the delivery history, webhook endpoints and a facility's intake contact."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bedboard import board, notify, outbox
from bedboard.access import Action, Resource
from bedboard.context import ALERTS, ALERTS_SEQ, POOL, authorize, current_principal, path_id
from bedboard.database import acquire, transaction
from bedboard.errors import Invalid
from bedboard.notify import USER_CHANNELS, Channel, Event, Preferences, Status
from bedboard.pages import domain_errors, field_errors, render, require_role
from bedboard.pages.admin.shared import list_facility_options, require_admin, see_other

_NOT_PAGES = ("/api/", "/static/", "/ws", "/healthz", "/readyz", "/metrics")

CHANNEL_LABELS = {Channel.IN_APP: "In bedboard", Channel.EMAIL: "Email", Channel.WEBHOOK: "Webhook"}


@web.middleware
async def load_alerts(request: web.Request, handler: Any) -> web.StreamResponse:
    """A signed-in page view carries the person's unacknowledged in-app alerts (the
    banner in base.html) and the outbox position the banner's script follows from."""
    principal = current_principal(request)
    if (
        principal is not None
        and request.method == "GET"
        and not request.path.startswith(_NOT_PAGES)
    ):
        async with acquire(request.app[POOL]) as conn:
            request[ALERTS] = await notify.unacknowledged(conn, principal.user_id)
            request[ALERTS_SEQ] = await outbox.head(conn)
    response: web.StreamResponse = await handler(request)
    return response


def _safe_next(value: object) -> str:
    text = str(value or "/")
    return text if text.startswith("/") and not text.startswith("//") else "/"


async def acknowledge(request: web.Request) -> web.StreamResponse:
    """The banner's Acknowledge button without JavaScript: store it, go back."""
    principal = require_role(request)
    delivery_id = path_id(request)
    form = await request.post()
    async with transaction(request.app[POOL]) as conn:
        authorize(request, Action.NOTIFY_SELF, Resource("alert", delivery_id))
        await notify.acknowledge(conn, delivery_id, principal.user_id)
    raise see_other(_safe_next(form.get("next")))


# --------------------------------------------------------------------------- preferences


def _rows(prefs: Preferences) -> list[dict[str, Any]]:
    return [
        {
            "event": event.value,
            "label": notify.EVENTS[event].label,
            "critical": notify.EVENTS[event].critical,
            "chosen": {c.value for c in chans},
        }
        for event, chans in prefs.channels.items()
    ]


async def _preferences_page(
    request: web.Request,
    prefs: Preferences,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
    saved: bool = False,
) -> web.Response:
    return render(
        request,
        "account/notifications.html",
        status=status,
        rows=_rows(prefs),
        channels=[(c.value, CHANNEL_LABELS[c]) for c in USER_CHANNELS],
        quiet_start=prefs.quiet_start or "",
        quiet_end=prefs.quiet_end or "",
        errors=errors or {},
        saved=saved,
    )


async def preferences_form(request: web.Request) -> web.StreamResponse:
    principal = require_role(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.NOTIFY_SELF, Resource("notify_preferences"))
        prefs = await notify.preferences(conn, principal.user_id, principal.role)
    return await _preferences_page(request, prefs, saved=request.query.get("saved") == "1")


async def preferences_save(request: web.Request) -> web.StreamResponse:
    principal = require_role(request)
    form = await request.post()
    offered = notify.events_for(principal.role)
    raw: dict[str, Any] = {
        "channels": {e.value: [str(v) for v in form.getall(f"ch__{e.value}", [])] for e in offered},
        "quiet_start": str(form.get("quiet_start", "")).strip() or None,
        "quiet_end": str(form.get("quiet_end", "")).strip() or None,
    }
    try:
        prefs = Preferences.model_validate(raw)
        async with transaction(request.app[POOL]) as conn:
            authorize(request, Action.NOTIFY_SELF, Resource("notify_preferences"))
            await notify.save_preferences(
                conn, principal.user_id, principal.role, prefs, by=principal
            )
    except ValidationError as exc:
        errors = field_errors(exc)
        for key in list(errors):
            if key.startswith(("quiet_start", "quiet_end")):
                errors[key.split(".")[0]] = "enter a time like 22:00"
        return await _preferences_page(request, _echo(raw, offered), errors=errors, status=422)
    except Invalid as exc:
        return await _preferences_page(
            request, _echo(raw, offered), errors=domain_errors(exc), status=422
        )
    raise see_other("/account/notifications?saved=1")


def _echo(raw: dict[str, Any], offered: list[Event]) -> Preferences:
    """What was typed, to show again beside the sentences (bad values left out)."""
    channels = {
        e: [Channel(c) for c in raw["channels"].get(e.value, []) if c in {"in_app", "email"}]
        for e in offered
    }
    return Preferences.model_construct(
        channels=channels, quiet_start=raw["quiet_start"], quiet_end=raw["quiet_end"]
    )


# --------------------------------------------------------------------------- deliveries


async def deliveries(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    wanted = request.query.get("status", "")
    status = Status(wanted) if wanted in {s.value for s in Status} else None
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.DELIVERY_READ, Resource("delivery"))
        items = await notify.list_deliveries(conn, status=status, limit=200)
    return render(
        request,
        "admin/deliveries.html",
        items=items,
        chosen=status.value if status else "",
        statuses=[s.value for s in Status],
        retried=request.query.get("retried") == "1",
    )


async def delivery_retry(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    delivery_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.DELIVERY_RETRY, Resource("delivery", delivery_id))
        await notify.retry(conn, delivery_id, now=await board.db_now(conn), by=principal)
    raise see_other("/admin/deliveries?status=pending&retried=1")


# --------------------------------------------------------------------------- webhooks


async def _webhooks_page(
    request: web.Request,
    *,
    created: notify.NewWebhookEndpoint | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    async with acquire(request.app[POOL]) as conn:
        endpoints = await notify.list_endpoints(conn)
        facility_options = await list_facility_options(conn)
    return render(
        request,
        "admin/webhooks.html",
        status=status,
        endpoints=endpoints,
        created=created,
        values=values or {"url": "", "events": [], "facility_id": ""},
        errors=errors or {},
        event_options=[(e.value, notify.EVENTS[e].label) for e in Event],
        facility_options=[("", "The whole program"), *facility_options],
        facility_names=dict(facility_options),
    )


async def webhooks(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    authorize(request, Action.WEBHOOK_MANAGE, Resource("webhook_endpoint"))
    return await _webhooks_page(request)


async def webhook_create(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    form = await request.post()
    url = str(form.get("url", "")).strip()
    chosen = [str(v) for v in form.getall("events", [])]
    facility = str(form.get("facility_id", "")).strip()
    values: dict[str, Any] = {"url": url, "events": chosen, "facility_id": facility}
    errors: dict[str, str] = {}
    events = []
    for v in chosen:
        try:
            events.append(Event(v))
        except ValueError:
            errors["events"] = "choose events from the list"
    facility_id = int(facility) if facility.isdigit() and len(facility) < 19 else None
    if facility and facility_id is None:
        errors["facility_id"] = "choose a facility from the list"
    if errors:
        return await _webhooks_page(request, values=values, errors=errors, status=422)
    try:
        async with transaction(request.app[POOL]) as conn:
            principal = authorize(request, Action.WEBHOOK_MANAGE, Resource("webhook_endpoint"))
            created = await notify.create_endpoint(
                conn, url=url, events=events, facility_id=facility_id, by=principal
            )
    except Invalid as exc:
        return await _webhooks_page(request, values=values, errors=domain_errors(exc), status=422)
    return await _webhooks_page(request, created=created)


async def webhook_toggle(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    endpoint_id = path_id(request)
    active = request.match_info["action"] == "enable"
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(
            request, Action.WEBHOOK_MANAGE, Resource("webhook_endpoint", endpoint_id)
        )
        await notify.set_endpoint_active(conn, endpoint_id, active, by=principal)
    raise see_other("/admin/webhooks")


# --------------------------------------------------------------------------- intake contact


async def intake_contact_save(request: web.Request) -> web.StreamResponse:
    """The intake contact form on the facility's administration page."""
    from bedboard.pages.admin.directory import facility_form_with

    require_admin(request)
    facility_id = path_id(request)
    form = await request.post()
    email = str(form.get("intake_email", ""))
    phone = str(form.get("intake_phone", ""))
    try:
        async with transaction(request.app[POOL]) as conn:
            principal = authorize(
                request, Action.FACILITY_UPDATE, Resource("facility", facility_id, facility_id)
            )
            await notify.set_intake_contact(
                conn, facility_id, email=email, phone=phone, by=principal
            )
    except Invalid as exc:
        return await facility_form_with(
            request,
            facility_id,
            intake={"email": email, "phone": phone},
            intake_errors=domain_errors(exc),
            status=422,
        )
    raise see_other(f"/admin/facilities/{facility_id}?saved=1")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/alerts/{id}/acknowledge", acknowledge)
    r.add_get("/account/notifications", preferences_form)
    r.add_post("/account/notifications", preferences_save)
    r.add_get("/admin/deliveries", deliveries)
    r.add_post("/admin/deliveries/{id}/retry", delivery_retry)
    r.add_get("/admin/webhooks", webhooks)
    r.add_post("/admin/webhooks", webhook_create)
    r.add_post("/admin/webhooks/{id}/{action:enable|disable}", webhook_toggle)
    r.add_post("/admin/facilities/{id}/intake-contact", intake_contact_save)
