"""Administration: users, API tokens and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bedboard import audit, users
from bedboard.access import Action, Resource
from bedboard.api.registry import model_response, route
from bedboard.context import POOL, authorize, if_match_version, path_id, with_etag
from bedboard.database import acquire, transaction
from bedboard.fields import DbId
from bedboard.users import TokenCreated, TokenIn, TokenList, User, UserIn, UserList, UserPatch


def _user_json(user: User, status: int = 200) -> web.StreamResponse:
    return with_etag(model_response(user, status), user.version)


@route("GET", "/api/v1/users", summary="List users", tag="admin")
async def list_users(request: web.Request) -> UserList:
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.USER_READ, Resource("user"))
        return UserList(items=await users.list_users(conn))


@route(
    "POST",
    "/api/v1/users",
    summary="Create a user",
    tag="admin",
    status=201,
    responses={409: "Email already in use"},
)
async def create_user(request: web.Request, body: UserIn) -> web.StreamResponse:
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.USER_MANAGE, Resource("user"))
        user = await users.create_user(conn, body, by=principal)
    return _user_json(user, 201)


@route("GET", "/api/v1/users/{id}", summary="One user", tag="admin")
async def get_user(request: web.Request) -> web.StreamResponse:
    user_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.USER_READ, Resource("user", user_id))
        return _user_json(await users.get_user(conn, user_id))


@route(
    "PATCH",
    "/api/v1/users/{id}",
    summary="Change, disable or re-enable a user",
    tag="admin",
    responses={412: "If-Match does not match the current version"},
)
async def update_user(request: web.Request, body: UserPatch) -> web.StreamResponse:
    """Disabling a user, or changing their password, role or scope, ends their sessions at once."""
    user_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.USER_MANAGE, Resource("user", user_id))
        user, _ended = await users.update_user(
            conn, user_id, body, if_match_version(request), by=principal
        )
    return _user_json(user)


@route("GET", "/api/v1/tokens", summary="List API tokens (never their secrets)", tag="admin")
async def list_tokens(request: web.Request) -> TokenList:
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.TOKEN_READ, Resource("token"))
        return TokenList(items=await users.list_tokens(conn))


@route("POST", "/api/v1/tokens", summary="Issue an API token for a user", tag="admin", status=201)
async def create_token(request: web.Request, body: TokenIn) -> TokenCreated:
    """The answer is the only time the token's secret is shown."""
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.TOKEN_MANAGE, Resource("token"))
        created = await users.issue_token(conn, body, by=principal)
    return created


@route("DELETE", "/api/v1/tokens/{id}", summary="Revoke an API token", tag="admin", status=204)
async def revoke_token(request: web.Request) -> web.StreamResponse:
    token_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(request, Action.TOKEN_MANAGE, Resource("token", token_id))
        await users.revoke_token(conn, token_id, by=principal)
    return web.Response(status=204)


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=100, ge=1, le=1000)
    before_id: DbId | None = Field(default=None, description="Page backwards from this id.")
    action: str | None = Field(default=None, max_length=100)
    outcome: Literal["success", "failure", "denied"] | None = None


class AuditRow(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    outcome: str
    remote_addr: str | None
    request_id: str | None
    detail: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditRow]


@route("GET", "/api/v1/audit", summary="The audit trail, newest first", tag="admin")
async def list_audit(request: web.Request, query: AuditQuery) -> AuditPage:
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.AUDIT_READ, Resource("audit"))
        rows = await audit.recent(
            conn,
            limit=query.limit,
            before_id=query.before_id,
            action=query.action,
            outcome=query.outcome,
        )
    return AuditPage(items=[AuditRow(**row.__dict__) for row in rows])
