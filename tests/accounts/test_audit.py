"""The audit trail: what is written, with which fields, and that the database keeps it intact."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import time_machine
from aiohttp.test_utils import TestClient

from bedboard import auth, database
from bedboard.auth import Role
from tests.conftest import DEFAULT_PASSWORD, Account, Session

MakeUser = Callable[..., Awaitable[Account]]
MakeToken = Callable[[int], Awaitable[str]]
MakeFacility = Callable[..., Awaitable[Any]]
SignIn = Callable[[Account], Awaitable[Session]]
Client = TestClient[Any, Any]

CLIENT_ADDRESS = "127.0.0.1"  # where the test client connects from


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Trail:
    """Reads the rows a request added, bracketed by the database clock."""

    def __init__(self, conn: database.Connection) -> None:
        self.conn = conn
        self.last_id = 0
        self.started: datetime | None = None

    async def mark(self) -> None:
        self.last_id = int(await self.conn.fetchval("SELECT COALESCE(max(id), 0) FROM audit_log"))
        self.started = await self.conn.fetchval("SELECT clock_timestamp()")

    async def only_new_row(self, resp: Any) -> asyncpg.Record:
        """The one row written since ``mark``; checks the fields every row must carry."""
        finished = await self.conn.fetchval("SELECT clock_timestamp()")
        rows = await self.conn.fetch(
            "SELECT * FROM audit_log WHERE id > $1 ORDER BY id", self.last_id
        )
        assert len(rows) == 1, [dict(r) for r in rows]
        row: asyncpg.Record = rows[0]
        assert self.started is not None
        assert self.started <= row["at"] <= finished, "at comes from the database clock"
        assert row["remote_addr"] == CLIENT_ADDRESS
        assert row["request_id"]
        assert row["request_id"] == resp.headers["X-Request-Id"]
        return row


@pytest.fixture
def trail(conn: database.Connection) -> Trail:
    return Trail(conn)


# --------------------------------------------------------------------------- what is written


async def test_successful_login_is_audited(
    client: Client, make_user: MakeUser, trail: Trail
) -> None:
    user = await make_user(Role.LIAISON)
    await trail.mark()
    resp = await client.post(
        "/api/v1/login", json={"email": user.email, "password": DEFAULT_PASSWORD}
    )
    assert resp.status == 200
    row = await trail.only_new_row(resp)
    assert row["action"] == "login"
    assert row["outcome"] == "success"
    assert row["actor_id"] == user.id
    assert row["actor"] == user.email
    assert (row["object_type"], row["object_id"]) == ("user", str(user.id))


async def test_failed_login_is_audited_under_the_email_tried(
    client: Client, make_user: MakeUser, trail: Trail
) -> None:
    user = await make_user(Role.LIAISON)
    await trail.mark()
    resp = await client.post(
        "/api/v1/login", json={"email": f"  {user.email.upper()} ", "password": "wrong guess"}
    )
    assert resp.status == 401
    row = await trail.only_new_row(resp)
    assert row["action"] == "login"
    assert row["outcome"] == "failure"
    assert row["actor_id"] is None
    assert row["actor"] == user.email
    assert row["object_type"] == "user"
    assert row["detail"] == {"throttled": False}


async def test_throttled_login_is_audited_as_denied(
    client: Client, conn: database.Connection, make_user: MakeUser, trail: Trail
) -> None:
    user = await make_user(Role.LIAISON)
    # Five failures from this client's own address: the next try there must wait.
    await conn.executemany(
        "INSERT INTO login_failures (email, remote_addr) VALUES ($1, '127.0.0.1')",
        [(user.email,)] * 5,
    )
    await trail.mark()
    resp = await client.post(
        "/api/v1/login", json={"email": user.email, "password": DEFAULT_PASSWORD}
    )
    assert resp.status == 429
    row = await trail.only_new_row(resp)
    assert (row["action"], row["outcome"]) == ("login", "denied")
    assert row["detail"] == {"throttled": True}


async def test_logout_is_audited(
    client: Client, make_user: MakeUser, sign_in: SignIn, trail: Trail
) -> None:
    user = await make_user(Role.VIEWER)
    session = await sign_in(user)
    await trail.mark()
    resp = await client.post("/api/v1/logout", headers=session.headers())
    assert resp.status == 204
    row = await trail.only_new_row(resp)
    assert row["action"] == "logout"
    assert row["outcome"] == "success"
    assert row["actor_id"] == user.id
    assert (row["object_type"], row["object_id"]) == ("user", str(user.id))


async def test_an_administrators_change_is_audited_with_the_token_used(
    client: Client, conn: database.Connection, make_user: MakeUser, trail: Trail
) -> None:
    admin = await make_user(Role.ADMIN, password=None)
    token = await auth.create_token(conn, admin.id, "admin script")
    await trail.mark()
    resp = await client.post(
        "/api/v1/facilities",
        json={"name": "Audited Facility", "kind": "state_hospital", "county_fips": "29019"},
        headers=bearer(token.token),
    )
    assert resp.status == 201
    facility_id = (await resp.json())["id"]
    row = await trail.only_new_row(resp)
    assert row["action"] == "facility.create"
    assert row["outcome"] == "success"
    assert row["actor_id"] == admin.id
    assert row["actor"] == f"{admin.email} (token {token.id})"
    assert (row["object_type"], row["object_id"]) == ("facility", str(facility_id))
    assert row["detail"] == {"name": "Audited Facility"}


async def test_a_denied_write_is_audited_although_the_write_is_rolled_back(
    client: Client,
    conn: database.Connection,
    make_facility: MakeFacility,
    make_user: MakeUser,
    make_token: MakeToken,
    trail: Trail,
) -> None:
    own, other = await make_facility(), await make_facility()
    user = await make_user(Role.FACILITY, facility_ids=[own.id], password=None)
    token = await make_token(user.id)
    await trail.mark()
    resp = await client.patch(
        f"/api/v1/facilities/{other.id}", json={"name": "Taken Over"}, headers=bearer(token)
    )
    assert resp.status == 403
    row = await trail.only_new_row(resp)
    assert row["action"] == "facility.update"
    assert row["outcome"] == "denied"
    assert row["actor_id"] == user.id
    assert (row["object_type"], row["object_id"]) == ("facility", str(other.id))
    assert row["detail"]["reason"]
    assert await conn.fetchval("SELECT name FROM facilities WHERE id = $1", other.id) == other.name


async def test_a_request_id_sent_by_the_client_is_kept_in_the_trail(
    client: Client, make_user: MakeUser, trail: Trail
) -> None:
    user = await make_user(Role.LIAISON)
    await trail.mark()
    resp = await client.post(
        "/api/v1/login",
        json={"email": user.email, "password": DEFAULT_PASSWORD},
        headers={"X-Request-Id": "lb-7f3a9c21-0001"},
    )
    assert resp.headers["X-Request-Id"] == "lb-7f3a9c21-0001"
    row = await trail.only_new_row(resp)
    assert row["request_id"] == "lb-7f3a9c21-0001"


async def test_audit_time_comes_from_the_database_clock_not_the_apps(
    client: Client, conn: database.Connection, make_user: MakeUser, trail: Trail
) -> None:
    user = await make_user(Role.LIAISON)
    await trail.mark()
    # Put the app's clock (Python's time and datetime) years in the past; the database
    # server runs in another process and keeps the real time.
    with time_machine.travel(datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC), tick=True):
        resp = await client.post(
            "/api/v1/login", json={"email": user.email, "password": "wrong guess"}
        )
    assert resp.status == 401
    row = await trail.only_new_row(resp)
    db_now = await conn.fetchval("SELECT now()")
    assert abs(db_now - row["at"]) < timedelta(minutes=1)
    assert row["at"].year > 2001


# --------------------------------------------------------------------------- append-only


async def seed_trail(client: Client, make_user: MakeUser) -> None:
    user = await make_user(Role.LIAISON)
    for password in ("wrong guess", DEFAULT_PASSWORD):
        await client.post("/api/v1/login", json={"email": user.email, "password": password})


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        pytest.param(
            "UPDATE audit_log SET outcome = 'success', actor = 'someone else'",
            asyncpg.InsufficientPrivilegeError,
            id="update",
        ),
        pytest.param("DELETE FROM audit_log", asyncpg.InsufficientPrivilegeError, id="delete"),
        pytest.param("TRUNCATE audit_log", asyncpg.InsufficientPrivilegeError, id="truncate"),
    ],
)
async def test_the_database_refuses_to_change_or_remove_audit_rows(
    client: Client,
    conn: database.Connection,
    make_user: MakeUser,
    statement: str,
    error: type[asyncpg.PostgresError],
) -> None:
    await seed_trail(client, make_user)
    before = [dict(r) for r in await conn.fetch("SELECT * FROM audit_log ORDER BY id")]
    assert len(before) == 2

    with pytest.raises(error, match="append-only"):
        await conn.execute(statement)

    after = [dict(r) for r in await conn.fetch("SELECT * FROM audit_log ORDER BY id")]
    assert after == before


# --------------------------------------------------------------------------- reading it


async def test_administrators_read_the_trail_newest_first(
    client: Client,
    conn: database.Connection,
    make_facility: MakeFacility,
    make_user: MakeUser,
    make_token: MakeToken,
) -> None:
    admin = await make_user(Role.ADMIN, password=None)
    admin_token = await make_token(admin.id)
    facility = await make_facility()
    staff = await make_user(Role.FACILITY, facility_ids=[facility.id], password=None)
    staff_token = await make_token(staff.id)

    await seed_trail(client, make_user)  # a login failure, then a success
    client.session.cookie_jar.clear()
    for _ in range(2):
        resp = await client.get("/api/v1/users", headers=bearer(staff_token))
        assert resp.status == 403
    resp = await client.post(
        "/api/v1/courts",
        json={"name": "Newest Court", "circuit": 1, "county_fips": "29019"},
        headers=bearer(admin_token),
    )
    assert resp.status == 201

    resp = await client.get("/api/v1/audit", headers=bearer(admin_token))
    assert resp.status == 200
    items = (await resp.json())["items"]
    assert [i["action"] for i in items] == [
        "court.create",
        "user.read",
        "user.read",
        "login",
        "login",
    ]
    assert [i["outcome"] for i in items] == ["success", "denied", "denied", "success", "failure"]
    ids = [i["id"] for i in items]
    assert ids == sorted(ids, reverse=True)
    times = [datetime.fromisoformat(i["at"]) for i in items]
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize("outcome", ["success", "failure", "denied"])
async def test_the_trail_filters_by_outcome(
    client: Client,
    conn: database.Connection,
    make_user: MakeUser,
    make_token: MakeToken,
    outcome: str,
) -> None:
    viewer = await make_user(Role.VIEWER, password=None)
    viewer_token = await make_token(viewer.id)
    admin = await make_user(Role.ADMIN, password=None)
    admin_token = await make_token(admin.id)
    await seed_trail(client, make_user)  # one failure, one success
    client.session.cookie_jar.clear()
    assert (await client.get("/api/v1/audit", headers=bearer(viewer_token))).status == 403

    resp = await client.get(f"/api/v1/audit?outcome={outcome}", headers=bearer(admin_token))
    assert resp.status == 200
    items = (await resp.json())["items"]
    expected = await conn.fetch(
        "SELECT id FROM audit_log WHERE outcome = $1 ORDER BY id DESC", outcome
    )
    assert len(expected) >= 1
    assert [i["id"] for i in items] == [r["id"] for r in expected]
    assert {i["outcome"] for i in items} == {outcome}


async def test_the_trail_refuses_an_unknown_outcome_filter(
    client: Client, make_user: MakeUser, make_token: MakeToken
) -> None:
    admin = await make_user(Role.ADMIN, password=None)
    resp = await client.get(
        "/api/v1/audit?outcome=whatever", headers=bearer(await make_token(admin.id))
    )
    assert resp.status == 422
    body = await resp.json(content_type=None)
    assert body["errors"][0]["field"] == "outcome"


async def test_a_change_from_a_page_writes_the_same_audit_row_as_the_api(
    client: Client, conn: database.Connection, make_user: MakeUser, trail: Trail
) -> None:
    """The use case writes its own audit row, so the form and the API cannot drift."""
    from tests.conftest import login

    admin = await make_user(Role.ADMIN)
    token = await auth.create_token(conn, admin.id, "admin script")
    await trail.mark()
    resp = await client.post(
        "/api/v1/courts",
        json={"name": "Boone Probate (api)", "circuit": "13", "county_fips": "29019"},
        headers=bearer(token.token),
    )
    assert resp.status == 201
    by_api = await trail.only_new_row(resp)
    session = await login(client, admin.email)
    await trail.mark()
    resp = await client.post(
        "/admin/courts/new",
        data={
            "csrf_token": session.csrf,
            "name": "Boone Probate (page)",
            "circuit": "13",
            "county_fips": "29019",
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    by_page = await trail.only_new_row(resp)
    for row, name in ((by_api, "Boone Probate (api)"), (by_page, "Boone Probate (page)")):
        assert (row["action"], row["outcome"], row["object_type"]) == (
            "court.create",
            "success",
            "court",
        )
        assert row["actor_id"] == admin.id
        assert row["detail"] == {"name": name}
