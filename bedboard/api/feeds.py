"""Facility feeds (administrators): settings, mapping, health, check, poll now, quarantine."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from bedboard import feeds
from bedboard.access import Action, Resource
from bedboard.api.registry import model_response, route
from bedboard.context import (
    POOL,
    SETTINGS,
    authorize,
    if_match_version,
    path_id,
    record_success,
    with_etag,
)
from bedboard.database import acquire, transaction
from bedboard.feeds import Feed, FeedIn, FeedList, FeedPatch, IngestResult, QuarantinePage
from facility_adapters.base import REGISTRY


class FeedKind(BaseModel):
    kind: str
    title: str
    polled: bool
    secret_fields: list[str]
    config_schema: dict[str, Any]


class FeedKindList(BaseModel):
    items: list[FeedKind]


class CheckResult(BaseModel):
    ok: bool
    problem: str


class PollResult(BaseModel):
    polled: bool
    state: str | None
    result: IngestResult | None
    error: str


def _json(feed: Feed, status: int = 200) -> web.StreamResponse:
    return with_etag(model_response(feed, status), feed.version)


@route("GET", "/api/v1/feed-kinds", summary="Adapter kinds and their settings", tag="feeds")
async def list_kinds(request: web.Request) -> FeedKindList:
    authorize(request, Action.FEED_READ, Resource("feed"))
    return FeedKindList(
        items=[
            FeedKind(
                kind=k,
                title=a.title,
                polled=a.polled,
                secret_fields=sorted(a.SECRET_FIELDS),
                config_schema=a.Config.model_json_schema(),
            )
            for k, a in sorted(REGISTRY.items())
        ]
    )


@route("GET", "/api/v1/feeds", summary="List feeds with their health", tag="feeds")
async def list_feeds(request: web.Request) -> FeedList:
    authorize(request, Action.FEED_READ, Resource("feed"))
    async with acquire(request.app[POOL]) as conn:
        return FeedList(items=await feeds.list_feeds(conn))


@route("POST", "/api/v1/feeds", summary="Create a feed", tag="feeds", status=201, model=Feed)
async def create_feed(request: web.Request, body: FeedIn) -> web.StreamResponse:
    """`config` is validated by the kind's model; secret settings are stored but never shown back."""
    authorize(request, Action.FEED_MANAGE, Resource("feed", facility_id=body.facility_id))
    async with transaction(request.app[POOL]) as conn:
        feed = await feeds.create_feed(conn, body, request.app[SETTINGS].allowed_feed_dirs)
        await record_success(
            request, conn, Action.FEED_MANAGE, "feed", feed.id, {"op": "create", "kind": feed.kind}
        )
    return _json(feed, 201)


@route("GET", "/api/v1/feeds/{id}", summary="One feed", tag="feeds", model=Feed)
async def get_feed(request: web.Request) -> web.StreamResponse:
    authorize(request, Action.FEED_READ, Resource("feed", path_id(request)))
    async with acquire(request.app[POOL]) as conn:
        return _json(await feeds.get_feed(conn, path_id(request)))


@route(
    "PATCH",
    "/api/v1/feeds/{id}",
    summary="Change a feed",
    tag="feeds",
    model=Feed,
    responses={412: "If-Match does not match the current version"},
)
async def update_feed(request: web.Request, body: FeedPatch) -> web.StreamResponse:
    feed_id = path_id(request)
    authorize(request, Action.FEED_MANAGE, Resource("feed", feed_id))
    async with transaction(request.app[POOL]) as conn:
        feed = await feeds.update_feed(
            conn,
            feed_id,
            body,
            if_match_version(request),
            request.app[SETTINGS].allowed_feed_dirs,
        )
        await record_success(
            request,
            conn,
            Action.FEED_MANAGE,
            "feed",
            feed_id,
            {"op": "update", "fields": sorted(body.model_fields_set)},
        )
    return _json(feed)


@route(
    "POST",
    "/api/v1/feeds/{id}/check",
    summary="Test a feed's connection and credentials",
    tag="feeds",
)
async def check_feed(request: web.Request) -> CheckResult:
    feed_id = path_id(request)
    authorize(request, Action.FEED_MANAGE, Resource("feed", feed_id))
    async with acquire(request.app[POOL]) as conn:
        await feeds.get_feed(conn, feed_id)
    problem = await feeds.check_feed(
        request.app[POOL], feed_id, allowed_dirs=request.app[SETTINGS].allowed_feed_dirs
    )
    return CheckResult(ok=not problem, problem=problem)


@route("POST", "/api/v1/feeds/{id}/poll", summary="Poll a feed now", tag="feeds")
async def poll_feed(request: web.Request) -> PollResult:
    """Runs the poll here and now (unless another instance is polling it this moment)."""
    feed_id = path_id(request)
    authorize(request, Action.FEED_MANAGE, Resource("feed", feed_id))
    async with acquire(request.app[POOL]) as conn:
        await feeds.get_feed(conn, feed_id)
    outcome = await feeds.poll_feed(
        request.app[POOL], feed_id, allowed_dirs=request.app[SETTINGS].allowed_feed_dirs
    )
    if outcome is None:
        return PollResult(
            polled=False,
            state=None,
            result=None,
            error="not polled: a listening feed, or another instance is polling it now",
        )
    return PollResult(polled=True, state=outcome.state, result=outcome.result, error=outcome.error)


@route(
    "GET",
    "/api/v1/feeds/{id}/quarantine",
    summary="What a feed sent that was not applied",
    tag="feeds",
)
async def get_quarantine(request: web.Request) -> QuarantinePage:
    feed_id = path_id(request)
    authorize(request, Action.FEED_READ, Resource("feed", feed_id))
    async with acquire(request.app[POOL]) as conn:
        await feeds.get_feed(conn, feed_id)
        return QuarantinePage(feed_id=feed_id, items=await feeds.quarantine(conn, feed_id))
