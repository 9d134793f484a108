"""Notifications: one's own preferences and in-app alerts; delivery history, retries and
webhook endpoints for administrators."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bedboard import board, notify
from bedboard.access import Action, Resource
from bedboard.api.registry import route
from bedboard.context import POOL, authorize, path_id
from bedboard.database import acquire, transaction
from bedboard.fields import DbId


@route(
    "GET",
    "/api/v1/me/notification-preferences",
    summary="My notification preferences (channels per event, quiet hours)",
    tag="notifications",
)
async def get_preferences(request: web.Request) -> notify.Preferences:
    """Events the caller's role may subscribe to, each with its channels (the role's
    defaults until chosen), and quiet hours in the program's local time (``HH:MM``)."""
    async with acquire(request.app[POOL]) as conn:
        principal = authorize(request, Action.NOTIFY_SELF, Resource("notify_preferences"))
        return await notify.preferences(conn, principal.user_id, principal.role)


@route(
    "PUT",
    "/api/v1/me/notification-preferences",
    summary="Replace my notification preferences",
    tag="notifications",
)
async def put_preferences(request: web.Request, body: notify.Preferences) -> notify.Preferences:
    """Events left out go back to their defaults. Critical events (legal deadlines) reach
    you during quiet hours; others wait until they end."""
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.NOTIFY_SELF, Resource("notify_preferences"))
        return await notify.save_preferences(
            conn, principal.user_id, principal.role, body, by=principal
        )


class AlertList(BaseModel):
    items: list[notify.Alert]


@route("GET", "/api/v1/me/alerts", summary="My unacknowledged in-app alerts", tag="notifications")
async def list_alerts(request: web.Request) -> AlertList:
    async with acquire(request.app[POOL]) as conn:
        principal = authorize(request, Action.NOTIFY_SELF, Resource("alert"))
        return AlertList(items=await notify.unacknowledged(conn, principal.user_id, limit=50))


@route(
    "POST",
    "/api/v1/me/alerts/{id}/acknowledge",
    summary="Acknowledge one of my in-app alerts (its sound stops)",
    tag="notifications",
    status=204,
)
async def acknowledge_alert(request: web.Request) -> web.StreamResponse:
    delivery_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.NOTIFY_SELF, Resource("alert", delivery_id))
        await notify.acknowledge(conn, delivery_id, principal.user_id)
    return web.Response(status=204)


class DeliveryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: notify.Status | None = None
    before_id: DbId | None = Field(default=None, description="Page backwards from this id.")
    limit: int = Field(default=100, ge=1, le=1000)


class DeliveryList(BaseModel):
    items: list[notify.Delivery]


@route("GET", "/api/v1/deliveries", summary="Delivery history, newest first", tag="notifications")
async def list_deliveries(request: web.Request, query: DeliveryQuery) -> DeliveryList:
    """Every notification sent, waiting or dead-lettered (``status=dead``), with its
    attempts and last error. Messages carry references and names, never clinical text."""
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.DELIVERY_READ, Resource("delivery"))
        items = await notify.list_deliveries(
            conn, status=query.status, before=query.before_id, limit=query.limit
        )
    return DeliveryList(items=items)


@route(
    "POST",
    "/api/v1/deliveries/{id}/retry",
    summary="Send a dead-lettered delivery again",
    tag="notifications",
    status=204,
)
async def retry_delivery(request: web.Request) -> web.StreamResponse:
    delivery_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.DELIVERY_RETRY, Resource("delivery", delivery_id))
        await notify.retry(conn, delivery_id, now=await board.db_now(conn), by=principal)
    return web.Response(status=204)


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2000, description="https:// (http:// only to loopback).")
    events: list[notify.Event] = Field(min_length=1)
    facility_id: DbId | None = Field(
        default=None, description="One facility's referrals only; null: the whole program's."
    )


class WebhookList(BaseModel):
    items: list[notify.WebhookEndpoint]


@route(
    "GET",
    "/api/v1/webhooks",
    summary="Webhook endpoints (never their secrets)",
    tag="notifications",
)
async def list_webhooks(request: web.Request) -> WebhookList:
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.WEBHOOK_MANAGE, Resource("webhook_endpoint"))
        return WebhookList(items=await notify.list_endpoints(conn))


@route(
    "POST",
    "/api/v1/webhooks",
    summary="Add a webhook endpoint (Standard Webhooks signing)",
    tag="notifications",
    status=201,
)
async def create_webhook(request: web.Request, body: WebhookIn) -> notify.NewWebhookEndpoint:
    """The answer is the only time the endpoint's ``whsec_`` secret is shown."""
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.WEBHOOK_MANAGE, Resource("webhook_endpoint"))
        return await notify.create_endpoint(
            conn, url=body.url, events=body.events, facility_id=body.facility_id, by=principal
        )
