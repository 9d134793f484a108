"""User accounts and their scopes (a facility user's facilities, a court user's court, a
supervisor's region); API tokens as seen by administrators."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import asyncpg
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bedboard import audit, auth
from bedboard.access import Action
from bedboard.auth import Principal, Role
from bedboard.database import Connection
from bedboard.errors import BadReference, Duplicate, NotFound, StaleVersion
from bedboard.fields import DbId

Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
]


# A call-back number as people write it: digits, spaces, + ( ) - . and an extension.
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=40, pattern=r"^[0-9+()\-. xXextEXT]*$"),
]


def _password_ok(value: str | None) -> str | None:
    if value is not None:
        problem = auth.password_problem(value)
        if problem:
            raise ValueError(problem)
    return value


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    display_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    phone: Phone = ""
    role: Role
    password: str | None = Field(
        default=None, description="Omit for an integration account (tokens only)."
    )
    facility_ids: list[DbId] = Field(default_factory=list, max_length=200)
    court_id: DbId | None = None
    region_id: DbId | None = Field(
        default=None,
        validate_default=True,
        description="A supervisor's region (required for supervisors, only for them).",
    )

    _check_password = field_validator("password")(_password_ok)

    @field_validator("region_id")
    @classmethod
    def _region_matches_role(cls, value: int | None, info: ValidationInfo) -> int | None:
        # Checked on the field, so the sentence stands next to the region on the form.
        role = info.data.get("role")
        problem = region_problem(role, value) if isinstance(role, Role) else None
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _scope_matches_role(self) -> UserIn:
        check_scope(self.role, self.facility_ids, self.court_id)
        return self


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None
    ) = None
    phone: Phone | None = None
    role: Role | None = None
    password: str | None = None
    disabled: StrictBool | None = None
    facility_ids: list[DbId] | None = Field(default=None, max_length=200)
    court_id: DbId | None = None
    region_id: DbId | None = None

    _check_password = field_validator("password")(_password_ok)


SUPERVISOR_NEEDS_REGION = "Choose the supervisor's region."
ONLY_SUPERVISORS_HAVE_A_REGION = "Only supervisors have a region."


def region_problem(role: Role, region_id: int | None) -> str | None:
    """Why this region does not fit this role, or None: every supervisor has one region,
    nobody else has any."""
    if role is Role.SUPERVISOR and region_id is None:
        return SUPERVISOR_NEEDS_REGION
    if role is not Role.SUPERVISOR and region_id is not None:
        return ONLY_SUPERVISORS_HAVE_A_REGION
    return None


def check_scope(role: Role, facility_ids: list[int], court_id: int | None) -> None:
    if role is Role.FACILITY and not facility_ids:
        raise ValueError("a facility user needs at least one facility_ids entry")
    if role is not Role.FACILITY and facility_ids:
        raise ValueError("only facility users have facility_ids")
    if role is Role.COURT and court_id is None:
        raise ValueError("a court user needs court_id")
    if role is not Role.COURT and court_id is not None:
        raise ValueError("only court users have court_id")


class User(BaseModel):
    id: int
    email: str
    display_name: str
    phone: str
    role: Role
    facility_ids: list[int]
    court_id: int | None
    region_id: int | None
    disabled: bool
    has_password: bool
    created_at: datetime
    updated_at: datetime
    version: int


class UserList(BaseModel):
    items: list[User]


_SELECT = """
    SELECT u.id, u.email, u.display_name, u.phone, u.role, u.court_id, u.region_id, u.disabled,
           u.password_hash IS NOT NULL AS has_password, u.created_at, u.updated_at, u.version,
           COALESCE((SELECT array_agg(facility_id ORDER BY facility_id)
                       FROM user_facilities WHERE user_id = u.id), '{}') AS facility_ids
      FROM users u
"""


def _bad(field: str, message: str) -> BadReference:
    return BadReference(field, message, "The request has invalid fields.")


def _missing_reference(exc: asyncpg.ForeignKeyViolationError) -> BadReference:
    if exc.constraint_name == "users_region_id_fkey":
        return _bad("region_id", "There is no such region.")
    return _bad("court_id", "no such court")


async def list_users(conn: Connection) -> list[User]:
    rows = await conn.fetch(_SELECT + " ORDER BY u.role, u.email")
    return [User(**dict(r)) for r in rows]


async def get_user(conn: Connection, user_id: int) -> User:
    row = await conn.fetchrow(_SELECT + " WHERE u.id = $1", user_id)
    if row is None:
        raise NotFound("user")
    return User(**dict(row))


async def get_user_by_email(conn: Connection, email: str) -> User:
    row = await conn.fetchrow(_SELECT + " WHERE u.email = $1", email.strip().lower())
    if row is None:
        raise NotFound("user")
    return User(**dict(row))


async def _set_facilities(conn: Connection, user_id: int, facility_ids: list[int]) -> None:
    unique = sorted(set(facility_ids))
    known = await conn.fetchval(
        "SELECT count(*) FROM facilities WHERE id = ANY($1::bigint[])", unique
    )
    if known != len(unique):
        raise _bad("facility_ids", "contains a facility that does not exist")
    await conn.execute("DELETE FROM user_facilities WHERE user_id = $1", user_id)
    await conn.executemany(
        "INSERT INTO user_facilities (user_id, facility_id) VALUES ($1, $2)",
        [(user_id, fid) for fid in unique],
    )


async def create_user(conn: Connection, data: UserIn, by: Principal | None = None) -> User:
    """Create a user with their scope, audited as ``by`` (call inside a transaction)."""
    password_hash = await auth.hash_password(data.password) if data.password else None
    try:
        user_id = await conn.fetchval(
            """
            INSERT INTO users (email, display_name, role, password_hash, court_id,
                               password_changed_at, phone, region_id)
            VALUES ($1, $2, $3, $4, $5, CASE WHEN $4::text IS NULL THEN NULL ELSE now() END, $6,
                    $7)
            RETURNING id
            """,
            data.email,
            data.display_name,
            data.role.value,
            password_hash,
            data.court_id,
            data.phone,
            data.region_id,
        )
    except asyncpg.UniqueViolationError:
        raise Duplicate("A user with that email already exists.") from None
    except asyncpg.ForeignKeyViolationError as exc:
        raise _missing_reference(exc) from None
    if data.facility_ids:
        await _set_facilities(conn, user_id, data.facility_ids)
    detail = {"op": "create", "email": data.email, "role": data.role.value}
    await audit.changed(conn, by, Action.USER_MANAGE, "user", user_id, detail)
    return await get_user(conn, user_id)


async def update_user(
    conn: Connection,
    user_id: int,
    patch: UserPatch,
    expected_version: int | None = None,
    by: Principal | None = None,
) -> tuple[User, int]:
    """Apply a change; return the user and how many sessions were ended.

    Disabling a user or changing their password (or role or scope) ends their sessions at
    once; disabling also revokes their API tokens. Call inside a transaction.
    """
    current = await get_user(conn, user_id)
    if expected_version is not None and current.version != expected_version:
        raise StaleVersion("user")
    fields = patch.model_fields_set
    role = patch.role if patch.role is not None else current.role
    facility_ids = (
        patch.facility_ids
        if "facility_ids" in fields and patch.facility_ids is not None
        else (current.facility_ids if role is Role.FACILITY else [])
    )
    court_id = (
        patch.court_id
        if "court_id" in fields
        else (current.court_id if role is Role.COURT else None)
    )
    region_id = (
        patch.region_id
        if "region_id" in fields
        else (current.region_id if role is Role.SUPERVISOR else None)
    )
    if role is not Role.FACILITY:
        facility_ids = []
    try:
        check_scope(role, facility_ids, court_id)
    except ValueError as exc:
        raise _bad("role", str(exc)) from None
    problem = region_problem(role, region_id)
    if problem:
        raise _bad("region_id", problem)
    password_hash = await auth.hash_password(patch.password) if patch.password else None
    await auth.principals_changed(
        conn
    )  # a cached token principal may have a role or scope from before
    try:
        await conn.execute(
            """
            UPDATE users SET display_name = COALESCE($2, display_name), role = $3, court_id = $4,
                   disabled = COALESCE($5, disabled), password_hash = COALESCE($6, password_hash),
                   password_changed_at = CASE WHEN $6::text IS NULL
                                              THEN password_changed_at ELSE now() END,
                   phone = COALESCE($7, phone), region_id = $8,
                   updated_at = now(), version = version + 1
             WHERE id = $1
            """,
            user_id,
            patch.display_name,
            role.value,
            court_id,
            patch.disabled,
            password_hash,
            patch.phone,
            region_id,
        )
    except asyncpg.ForeignKeyViolationError as exc:
        raise _missing_reference(exc) from None
    await _set_facilities(conn, user_id, facility_ids)
    ends_sessions = (
        bool(patch.disabled)
        or password_hash is not None
        or role is not current.role
        or sorted(facility_ids) != current.facility_ids
        or court_id != current.court_id
        or region_id != current.region_id
    )
    ended = await auth.end_user_sessions(conn, user_id) if ends_sessions else 0
    if patch.disabled:
        # Tokens die with the account; enabling it again does not revive them. A password
        # change ends sessions but keeps tokens: they belong to integrations, not to the
        # person's password (docs/operations.md).
        await auth.revoke_user_tokens(conn, user_id)
    detail = {"op": "update", "fields": sorted(fields), "sessions_ended": ended}
    await audit.changed(conn, by, Action.USER_MANAGE, "user", user_id, detail)
    return await get_user(conn, user_id), ended


class Token(BaseModel):
    id: int
    user_id: int
    user_email: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenList(BaseModel):
    items: list[Token]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: DbId
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""


class TokenCreated(Token):
    token: str = Field(description="The secret. Shown once; store it now.")


_TOKEN_SELECT = """
    SELECT t.id, t.user_id, u.email AS user_email, t.name, t.prefix, t.created_at,
           t.last_used_at, t.revoked_at
      FROM api_tokens t JOIN users u ON u.id = t.user_id
"""


async def list_tokens(conn: Connection) -> list[Token]:
    rows = await conn.fetch(_TOKEN_SELECT + " ORDER BY t.revoked_at NULLS FIRST, t.id DESC")
    return [Token(**dict(r)) for r in rows]


async def get_token(conn: Connection, token_id: int) -> Token:
    row = await conn.fetchrow(_TOKEN_SELECT + " WHERE t.id = $1", token_id)
    if row is None:
        raise NotFound("token")
    return Token(**dict(row))


async def issue_token(conn: Connection, data: TokenIn, by: Principal | None = None) -> TokenCreated:
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", data.user_id):
        # A reference in the body to something missing is the body's fault (422), not a
        # missing resource at this address (404).
        raise _bad("user_id", "no such user")
    new = await auth.create_token(conn, data.user_id, data.name)
    token = await get_token(conn, new.id)
    detail = {"op": "create", "user_id": data.user_id}
    await audit.changed(conn, by, Action.TOKEN_MANAGE, "token", new.id, detail)
    return TokenCreated(**token.model_dump(), token=new.token)


async def revoke_token(conn: Connection, token_id: int, by: Principal | None = None) -> None:
    """Revoke an API token (404 when there is none), audited as ``by``."""
    await get_token(conn, token_id)
    await auth.revoke_token(conn, token_id)
    await audit.changed(conn, by, Action.TOKEN_MANAGE, "token", token_id, {"op": "revoke"})
