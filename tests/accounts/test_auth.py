"""Identity: sign-in and sign-out, session cookies, throttling, CSRF, API tokens, passwords."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import AnyHttpUrl

from bedboard import auth, database
from bedboard.app import create_app
from bedboard.auth import Role
from bedboard.settings import Settings
from tests.conftest import DEFAULT_PASSWORD, TEST_SECRET, Account, Session

MakeUser = Callable[..., Awaitable[Account]]
MakeToken = Callable[[int], Awaitable[str]]
SignIn = Callable[[Account], Awaitable[Session]]
Client = TestClient[Any, Any]

NEW_PASSWORD = "an entirely different passphrase"
ARGON2ID = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[^$]+\$[^$]+$")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def set_cookie(resp: Any, name: str) -> dict[str, str] | None:
    """The attributes of the ``Set-Cookie`` header for ``name`` (keys lower-cased), if sent."""
    for header in resp.headers.getall("Set-Cookie", []):
        first, *attributes = [part.strip() for part in header.split(";")]
        key, _, value = first.partition("=")
        if key == name:
            parsed = {"value": value}
            for attribute in attributes:
                attr, _, attr_value = attribute.partition("=")
                parsed[attr.lower()] = attr_value
            return parsed
    return None


async def post_login(client: Client, email: str, password: str) -> Any:
    return await client.post("/api/v1/login", json={"email": email, "password": password})


async def assert_problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body: dict[str, Any] = await resp.json(content_type=None)
    assert body["status"] == status
    assert body["type"].endswith("/" + code), body
    return body


@pytest.fixture
async def admin_token(make_user: MakeUser, make_token: MakeToken) -> str:
    admin = await make_user(Role.ADMIN, password=None)
    return await make_token(admin.id)


# --------------------------------------------------------------------------- sign-in and out


async def test_login_opens_a_session_with_an_httponly_samesite_lax_cookie(
    client: Client, make_user: MakeUser
) -> None:
    user = await make_user(Role.LIAISON)
    resp = await post_login(client, user.email.upper(), DEFAULT_PASSWORD)
    assert resp.status == 200
    body = await resp.json()
    assert body["user_id"] == user.id
    assert body["role"] == "liaison"
    assert body["via"] == "session"
    assert len(body["csrf_token"]) >= 32

    cookie = set_cookie(resp, "bb_session")
    assert cookie is not None
    assert "httponly" in cookie
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert "secure" not in cookie  # no https public URL configured

    me = await client.get("/api/v1/me")
    assert me.status == 200
    assert (await me.json())["email"] == user.email


async def test_session_cookie_is_secure_when_the_public_url_is_https(
    aiohttp_client: Any, db_dsn: str, tmp_path: Path, make_user: MakeUser
) -> None:
    settings = Settings(
        database_url=db_dsn,
        data_dir=tmp_path,
        secret_key=TEST_SECRET,
        public_url=AnyHttpUrl("https://bedboard.example.org"),
    )
    client: Client = await aiohttp_client(create_app(settings))
    user = await make_user(Role.VIEWER)

    resp = await post_login(client, user.email, DEFAULT_PASSWORD)
    assert resp.status == 200
    cookie = set_cookie(resp, "bb_session")
    assert cookie is not None
    assert "secure" in cookie
    assert "httponly" in cookie
    assert cookie["samesite"].lower() == "lax"

    page = await client.get("/login")
    login_cookie = set_cookie(page, "bb_login")
    assert login_cookie is not None
    assert "secure" in login_cookie


async def test_session_cookie_value_is_stored_only_as_a_hash(
    client: Client, conn: database.Connection, make_user: MakeUser
) -> None:
    user = await make_user(Role.VIEWER)
    resp = await post_login(client, user.email, DEFAULT_PASSWORD)
    cookie = set_cookie(resp, "bb_session")
    assert cookie is not None
    rows = await conn.fetch("SELECT s.token_hash, s::text AS whole FROM sessions s")
    assert len(rows) == 1
    assert rows[0]["token_hash"] == hashlib.sha256(cookie["value"].encode()).digest()
    assert cookie["value"] not in rows[0]["whole"]


@pytest.mark.parametrize(
    "who", ["wrong-password", "unknown-email", "disabled-account", "tokens-only-account"]
)
async def test_failed_login_is_a_401_problem_that_does_not_say_why(
    client: Client, conn: database.Connection, make_user: MakeUser, who: str
) -> None:
    user = await make_user(Role.LIAISON)
    email, password = user.email, DEFAULT_PASSWORD
    if who == "wrong-password":
        password = "not the password at all"
    elif who == "unknown-email":
        email = "nobody@example.org"
    elif who == "disabled-account":
        await conn.execute("UPDATE users SET disabled = true WHERE id = $1", user.id)
    else:
        email = (await make_user(Role.LIAISON, password=None)).email

    resp = await post_login(client, email, password)
    body = await assert_problem(resp, 401, "login-failed")
    assert body["detail"] == "Wrong email or password."
    assert set_cookie(resp, "bb_session") is None
    assert await conn.fetchval("SELECT count(*) FROM sessions") == 0
    assert (await client.get("/api/v1/me")).status == 401


async def test_logout_ends_the_session_and_clears_the_cookie(
    client: Client, conn: database.Connection, make_user: MakeUser, sign_in: SignIn
) -> None:
    user = await make_user(Role.LIAISON)
    session = await sign_in(user)
    cookie_value = client.session.cookie_jar.filter_cookies(client.make_url("/"))["bb_session"]
    old_cookie = cookie_value.value

    resp = await client.post("/api/v1/logout", headers=session.headers())
    assert resp.status == 204
    cleared = set_cookie(resp, "bb_session")
    assert cleared is not None
    assert cleared["value"] in ("", '""')
    assert await conn.fetchval("SELECT count(*) FROM sessions") == 0
    assert (await client.get("/api/v1/me")).status == 401
    # Replaying the old cookie does not bring the session back.
    client.session.cookie_jar.clear()
    replay = await client.get("/api/v1/me", headers={"Cookie": f"bb_session={old_cookie}"})
    assert replay.status == 401


# --------------------------------------------------------------------------- throttling


async def _backdate_failures(conn: database.Connection, email: str, seconds: float) -> None:
    """Move this account's recorded failures into the past (instead of sleeping)."""
    await conn.execute(
        "UPDATE login_failures SET at = at - make_interval(secs => $2) WHERE email = $1",
        email,
        seconds,
    )


async def test_after_five_failures_each_try_from_that_address_waits_twice_as_long(
    client: Client, conn: database.Connection, make_user: MakeUser
) -> None:
    user = await make_user(Role.LIAISON)
    neighbour = await make_user(Role.LIAISON)
    for attempt in range(5):
        # Throttling is per account, whatever case the email is typed in.
        email = user.email.upper() if attempt % 2 else user.email
        resp = await post_login(client, email, f"wrong password {attempt}")
        await assert_problem(resp, 401, "login-failed")

    resp = await post_login(client, user.email, DEFAULT_PASSWORD)
    await assert_problem(resp, 429, "login-throttled")
    assert int(resp.headers["Retry-After"]) == 1
    assert set_cookie(resp, "bb_session") is None
    assert await conn.fetchval("SELECT count(*) FROM sessions") == 0

    # A second later the next try is judged; another failure doubles the wait.
    await _backdate_failures(conn, user.email, 1.5)
    await assert_problem(await post_login(client, user.email, "wrong again"), 401, "login-failed")
    resp = await post_login(client, user.email, DEFAULT_PASSWORD)
    await assert_problem(resp, 429, "login-throttled")
    assert int(resp.headers["Retry-After"]) == 2
    # Once the wait has passed, the owner's right password works (no lockout).
    await _backdate_failures(conn, user.email, 2.5)
    assert (await post_login(client, user.email, DEFAULT_PASSWORD)).status == 200
    assert (
        await conn.fetchval("SELECT count(*) FROM login_failures WHERE email = $1", user.email) == 0
    )

    # Another account from the same address was never affected.
    client.session.cookie_jar.clear()
    assert (await post_login(client, neighbour.email, DEFAULT_PASSWORD)).status == 200


async def test_someone_guessing_from_elsewhere_does_not_hold_up_the_owner(
    aiohttp_client: Any, db_dsn: str, tmp_path: Path, make_user: MakeUser
) -> None:
    settings = Settings(
        database_url=db_dsn, data_dir=tmp_path, secret_key=TEST_SECRET, trust_proxy_headers=True
    )
    client: Client = await aiohttp_client(create_app(settings))
    user = await make_user(Role.LIAISON)
    guesser = {"X-Forwarded-For": "198.51.100.7"}
    for n in range(12):
        await client.post(
            "/api/v1/login", json={"email": user.email, "password": f"guess {n}"}, headers=guesser
        )
    owner = await client.post(
        "/api/v1/login",
        json={"email": user.email, "password": DEFAULT_PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.20"},
    )
    assert owner.status == 200


async def test_concurrent_wrong_passwords_are_each_counted_before_the_next_is_judged(
    client: Client, conn: database.Connection, make_user: MakeUser
) -> None:
    user = await make_user(Role.LIAISON)
    answers = await asyncio.gather(
        *(post_login(client, user.email, f"wrong {n}") for n in range(40))
    )
    statuses = [a.status for a in answers]
    evaluated = await conn.fetchval(
        "SELECT count(*) FROM login_failures WHERE email = $1", user.email
    )
    # Five free tries, then each waits; a very slow machine may let one more through.
    assert 5 <= evaluated <= 6, statuses
    assert statuses.count(401) == evaluated
    assert statuses.count(429) == 40 - evaluated


async def test_a_shared_address_keeps_signing_in_after_twenty_failures(
    client: Client, make_user: MakeUser
) -> None:
    """A hospital's staff share one NAT address: others' typos must not lock them out."""
    user = await make_user(Role.LIAISON)
    for n in range(20):
        resp = await post_login(client, f"colleague{n}@example.org", "typo")
        assert resp.status == 401
    assert (await post_login(client, user.email, DEFAULT_PASSWORD)).status == 200


async def test_the_per_address_limit_is_a_setting(
    aiohttp_client: Any, db_dsn: str, tmp_path: Path, make_user: MakeUser
) -> None:
    settings = Settings(
        database_url=db_dsn,
        data_dir=tmp_path,
        secret_key=TEST_SECRET,
        login_max_failures_per_address=3,
    )
    client: Client = await aiohttp_client(create_app(settings))
    user = await make_user(Role.LIAISON)
    for n in range(3):
        assert (await post_login(client, f"guess{n}@example.org", "guessing")).status == 401
    resp = await post_login(client, user.email, DEFAULT_PASSWORD)
    await assert_problem(resp, 429, "login-throttled")


# --------------------------------------------------------------------------- the login form


def login_token_of(html: str) -> str:
    match = re.search(r'name="login_token" value="([^"]+)"', html)
    assert match, "the login form carries a hidden login_token"
    return match.group(1)


async def test_login_form_signs_in_and_redirects(client: Client, make_user: MakeUser) -> None:
    user = await make_user(Role.LIAISON)
    page = await client.get("/login")
    assert page.status == 200
    login_cookie = set_cookie(page, "bb_login")
    assert login_cookie is not None
    assert "httponly" in login_cookie
    token = login_token_of(await page.text())

    resp = await client.post(
        "/login",
        data={
            "login_token": token,
            "email": user.email,
            "password": DEFAULT_PASSWORD,
            "next": "/directory",
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    assert resp.headers["Location"] == "/directory"
    session_cookie = set_cookie(resp, "bb_session")
    assert session_cookie is not None
    assert "httponly" in session_cookie
    me = await client.get("/api/v1/me")
    assert me.status == 200
    assert (await me.json())["user_id"] == user.id


async def test_login_form_never_redirects_off_site(client: Client, make_user: MakeUser) -> None:
    user = await make_user(Role.LIAISON)
    token = login_token_of(await (await client.get("/login")).text())
    resp = await client.post(
        "/login",
        data={
            "login_token": token,
            "email": user.email,
            "password": DEFAULT_PASSWORD,
            "next": "//evil.example/phish",
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    assert resp.headers["Location"] == "/"


@pytest.mark.parametrize("tamper", ["no-login-token", "token-of-another-form", "no-login-cookie"])
async def test_login_form_without_its_own_valid_login_token_is_refused(
    client: Client, conn: database.Connection, make_user: MakeUser, tamper: str
) -> None:
    user = await make_user(Role.LIAISON)
    token = login_token_of(await (await client.get("/login")).text())
    form = {"email": user.email, "password": DEFAULT_PASSWORD, "login_token": token}
    if tamper == "no-login-token":
        del form["login_token"]
    elif tamper == "token-of-another-form":
        await client.get("/login")  # a new nonce cookie replaces the one the token was made for
    else:
        client.session.cookie_jar.clear()

    resp = await client.post("/login", data=form, allow_redirects=False)
    assert resp.status == 403
    assert set_cookie(resp, "bb_session") is None
    assert await conn.fetchval("SELECT count(*) FROM sessions") == 0
    assert (await client.get("/api/v1/me")).status == 401


# --------------------------------------------------------------------------- sessions end


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"disabled": True}, id="disabled"),
        pytest.param({"password": NEW_PASSWORD}, id="password-changed"),
    ],
)
async def test_changing_a_users_password_or_disabling_them_ends_their_sessions_at_once(
    client: Client,
    conn: database.Connection,
    make_user: MakeUser,
    sign_in: SignIn,
    admin_token: str,
    change: dict[str, Any],
) -> None:
    user = await make_user(Role.LIAISON)
    await sign_in(user)
    assert (await client.get("/api/v1/me")).status == 200

    resp = await client.patch(f"/api/v1/users/{user.id}", json=change, headers=bearer(admin_token))
    assert resp.status == 200, await resp.text()

    assert (await client.get("/api/v1/me")).status == 401
    assert await conn.fetchval("SELECT count(*) FROM sessions WHERE user_id = $1", user.id) == 0


async def test_password_change_takes_effect_for_the_next_login(
    client: Client, make_user: MakeUser, admin_token: str
) -> None:
    user = await make_user(Role.LIAISON)
    resp = await client.patch(
        f"/api/v1/users/{user.id}", json={"password": NEW_PASSWORD}, headers=bearer(admin_token)
    )
    assert resp.status == 200
    assert (await post_login(client, user.email, DEFAULT_PASSWORD)).status == 401
    assert (await post_login(client, user.email, NEW_PASSWORD)).status == 200


async def test_renaming_a_user_keeps_their_session(
    client: Client, make_user: MakeUser, sign_in: SignIn, admin_token: str
) -> None:
    user = await make_user(Role.LIAISON)
    await sign_in(user)
    resp = await client.patch(
        f"/api/v1/users/{user.id}", json={"display_name": "New Name"}, headers=bearer(admin_token)
    )
    assert resp.status == 200
    me = await client.get("/api/v1/me")
    assert me.status == 200
    assert (await me.json())["display_name"] == "New Name"


# The session clock is the database's: expiry is decided by comparing sessions.expires_at
# with PostgreSQL's now(), never with the app's clock. So moving expires_at (or created_at)
# in the database is exactly what the passing of time looks like to bedboard.


async def test_idle_session_expires(
    client: Client, conn: database.Connection, make_user: MakeUser, sign_in: SignIn
) -> None:
    user = await make_user(Role.LIAISON)
    await sign_in(user)
    assert (await client.get("/api/v1/me")).status == 200

    await conn.execute("UPDATE sessions SET expires_at = now() - interval '1 second'")
    assert (await client.get("/api/v1/me")).status == 401


async def test_activity_slides_the_idle_expiry(
    client: Client, conn: database.Connection, make_user: MakeUser, sign_in: SignIn
) -> None:
    user = await make_user(Role.LIAISON)
    await sign_in(user)
    await conn.execute("UPDATE sessions SET expires_at = now() + interval '1 minute'")
    assert (await client.get("/api/v1/me")).status == 200
    remaining = await conn.fetchval("SELECT expires_at - now() FROM sessions")
    assert remaining > timedelta(minutes=59)  # idle timeout is 60 minutes


async def test_activity_cannot_extend_a_session_past_its_maximum_lifetime(
    client: Client, conn: database.Connection, make_user: MakeUser, sign_in: SignIn
) -> None:
    user = await make_user(Role.LIAISON)
    await sign_in(user)
    await conn.execute("UPDATE sessions SET created_at = now() - interval '11 hours 59 minutes'")
    assert (await client.get("/api/v1/me")).status == 200
    remaining = await conn.fetchval("SELECT expires_at - now() FROM sessions")
    assert remaining <= timedelta(minutes=1)  # 12 hours after login, however active


# --------------------------------------------------------------------------- CSRF


NEW_FACILITY = {"name": "Cookie Facility", "kind": "general_hospital", "county_fips": "29019"}


@pytest.mark.parametrize("csrf", [None, "not-the-token"], ids=["missing", "wrong"])
async def test_cookie_session_write_without_the_csrf_header_is_refused(
    client: Client,
    conn: database.Connection,
    make_user: MakeUser,
    sign_in: SignIn,
    csrf: str | None,
) -> None:
    admin = await make_user(Role.ADMIN)
    await sign_in(admin)
    headers = {} if csrf is None else {"X-CSRF-Token": csrf}
    resp = await client.post("/api/v1/facilities", json=NEW_FACILITY, headers=headers)
    await assert_problem(resp, 403, "csrf")
    assert await conn.fetchval("SELECT count(*) FROM facilities") == 0


async def test_cookie_session_write_with_the_csrf_header_is_allowed(
    client: Client, conn: database.Connection, make_user: MakeUser, sign_in: SignIn
) -> None:
    admin = await make_user(Role.ADMIN)
    session = await sign_in(admin)
    resp = await client.post("/api/v1/facilities", json=NEW_FACILITY, headers=session.headers())
    assert resp.status == 201, await resp.text()
    assert await conn.fetchval("SELECT count(*) FROM facilities") == 1


async def test_cookie_session_write_from_a_foreign_origin_is_refused(
    client: Client, conn: database.Connection, make_user: MakeUser, sign_in: SignIn
) -> None:
    admin = await make_user(Role.ADMIN)
    session = await sign_in(admin)
    foreign = session.headers({"Origin": "https://evil.example"})
    resp = await client.post("/api/v1/facilities", json=NEW_FACILITY, headers=foreign)
    await assert_problem(resp, 403, "csrf")
    assert await conn.fetchval("SELECT count(*) FROM facilities") == 0

    own = session.headers({"Origin": str(client.make_url("/")).rstrip("/")})
    resp = await client.post("/api/v1/facilities", json=NEW_FACILITY, headers=own)
    assert resp.status == 201, await resp.text()


async def test_bearer_token_requests_need_no_csrf_token(
    client: Client, conn: database.Connection, admin_token: str
) -> None:
    resp = await client.post("/api/v1/facilities", json=NEW_FACILITY, headers=bearer(admin_token))
    assert resp.status == 201, await resp.text()
    assert await conn.fetchval("SELECT count(*) FROM facilities") == 1


async def test_logout_form_without_csrf_token_is_refused(
    client: Client, conn: database.Connection, make_user: MakeUser, sign_in: SignIn
) -> None:
    user = await make_user(Role.LIAISON)
    session = await sign_in(user)

    resp = await client.post("/logout", data={}, allow_redirects=False)
    assert resp.status == 403
    assert (await client.get("/api/v1/me")).status == 200  # still signed in

    resp = await client.post("/logout", data={"csrf_token": session.csrf}, allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/login"
    assert (await client.get("/api/v1/me")).status == 401
    assert await conn.fetchval("SELECT count(*) FROM sessions") == 0


async def test_admin_form_without_csrf_token_is_refused(
    client: Client, conn: database.Connection, make_user: MakeUser, sign_in: SignIn
) -> None:
    admin = await make_user(Role.ADMIN)
    session = await sign_in(admin)
    form = {"name": "Form Court", "circuit": "22", "county_fips": "29510"}

    resp = await client.post("/admin/courts/new", data=form, allow_redirects=False)
    assert resp.status == 403
    assert await conn.fetchval("SELECT count(*) FROM courts") == 0

    resp = await client.post(
        "/admin/courts/new", data={**form, "csrf_token": session.csrf}, allow_redirects=False
    )
    assert resp.status == 303
    assert await conn.fetchval("SELECT name FROM courts") == "Form Court"


# --------------------------------------------------------------------------- API tokens


async def test_bearer_token_signs_in_and_records_its_last_use(
    client: Client, conn: database.Connection, make_user: MakeUser, make_token: MakeToken
) -> None:
    user = await make_user(Role.VIEWER, password=None)
    token = await make_token(user.id)
    assert await conn.fetchval("SELECT last_used_at FROM api_tokens") is None

    resp = await client.get("/api/v1/me", headers=bearer(token))
    assert resp.status == 200
    body = await resp.json()
    assert body["user_id"] == user.id
    assert body["via"] == "token"
    assert set_cookie(resp, "bb_session") is None

    since = await conn.fetchval("SELECT now() - last_used_at FROM api_tokens")
    assert timedelta(0) <= since < timedelta(seconds=30)


async def test_revoked_token_is_refused(
    client: Client, make_user: MakeUser, admin_token: str
) -> None:
    user = await make_user(Role.VIEWER, password=None)
    resp = await client.post(
        "/api/v1/tokens", json={"user_id": user.id, "name": "feed"}, headers=bearer(admin_token)
    )
    assert resp.status == 201
    created = await resp.json()
    assert (await client.get("/api/v1/me", headers=bearer(created["token"]))).status == 200

    resp = await client.delete(f"/api/v1/tokens/{created['id']}", headers=bearer(admin_token))
    assert resp.status == 204
    resp = await client.get("/api/v1/me", headers=bearer(created["token"]))
    await assert_problem(resp, 401, "invalid-token")
    assert "invalid_token" in resp.headers["WWW-Authenticate"]


async def test_a_disabled_users_tokens_are_revoked_and_stay_revoked_when_enabled_again(
    client: Client, make_user: MakeUser, make_token: MakeToken, admin_token: str
) -> None:
    user = await make_user(Role.VIEWER, password=None)
    token = await make_token(user.id)
    assert (await client.get("/api/v1/me", headers=bearer(token))).status == 200

    resp = await client.patch(
        f"/api/v1/users/{user.id}", json={"disabled": True}, headers=bearer(admin_token)
    )
    assert resp.status == 200
    await assert_problem(
        await client.get("/api/v1/me", headers=bearer(token)), 401, "invalid-token"
    )

    resp = await client.patch(
        f"/api/v1/users/{user.id}", json={"disabled": False}, headers=bearer(admin_token)
    )
    assert resp.status == 200
    await assert_problem(
        await client.get("/api/v1/me", headers=bearer(token)), 401, "invalid-token"
    )
    fresh = await make_token(user.id)  # an administrator issues a new one deliberately
    assert (await client.get("/api/v1/me", headers=bearer(fresh))).status == 200


async def test_a_token_has_no_more_rights_than_its_user(
    client: Client,
    conn: database.Connection,
    make_facility: Callable[..., Awaitable[Any]],
    make_user: MakeUser,
    make_token: MakeToken,
) -> None:
    facility = await make_facility()
    user = await make_user(Role.FACILITY, facility_ids=[facility.id], password=None)
    token = await make_token(user.id)

    resp = await client.post("/api/v1/facilities", json=NEW_FACILITY, headers=bearer(token))
    await assert_problem(resp, 403, "forbidden")
    assert await conn.fetchval("SELECT count(*) FROM facilities") == 1
    # ... and exactly the user's rights: its own facility's contact details.
    resp = await client.patch(
        f"/api/v1/facilities/{facility.id}",
        json={"phone_intake": "573-555-0142"},
        headers=bearer(token),
    )
    assert resp.status == 200


async def test_token_secret_is_stored_only_as_a_hash(
    client: Client, conn: database.Connection, make_user: MakeUser, admin_token: str
) -> None:
    user = await make_user(Role.VIEWER, password=None)
    resp = await client.post(
        "/api/v1/tokens", json={"user_id": user.id, "name": "feed"}, headers=bearer(admin_token)
    )
    assert resp.status == 201
    created = await resp.json()
    secret: str = created["token"]
    random_part = secret.split("_", 2)[2]  # bbt_<prefix>_<random>; the random part may hold "_"
    assert len(random_part) >= 32

    stored = await conn.fetchval("SELECT token_hash FROM api_tokens WHERE id = $1", created["id"])
    assert stored == hashlib.sha256(secret.encode()).digest()
    for table in ("api_tokens", "audit_log"):
        for row in await conn.fetch(f"SELECT t::text AS whole FROM {table} t"):
            assert random_part not in row["whole"], table

    listing = await client.get("/api/v1/tokens", headers=bearer(admin_token))
    assert random_part not in await listing.text()


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Basic YWRtaW5AZXhhbXBsZS5vcmc6cGFzc3dvcmQ=", id="basic"),
        pytest.param("Bearer", id="bearer-without-token"),
        pytest.param("Bearer bbt_00000000_not-a-real-token", id="unknown-token"),
        pytest.param("Token {token}", id="real-token-under-another-scheme"),
    ],
)
async def test_anything_but_a_valid_bearer_token_is_a_401(
    client: Client, make_user: MakeUser, make_token: MakeToken, authorization: str
) -> None:
    user = await make_user(Role.ADMIN, password=None)
    token = await make_token(user.id)
    resp = await client.get(
        "/api/v1/users", headers={"Authorization": authorization.format(token=token)}
    )
    assert resp.status == 401
    assert resp.content_type == "application/problem+json"


# --------------------------------------------------------------------------- passwords


def assert_owasp_argon2id(password_hash: str) -> None:
    match = ARGON2ID.match(password_hash)
    assert match, password_hash
    memory_kib, iterations, lanes = (int(g) for g in match.groups())
    assert memory_kib >= 19456
    assert iterations >= 2
    assert lanes >= 1


async def test_passwords_are_stored_as_argon2id_with_at_least_owasp_parameters(
    client: Client, conn: database.Connection, make_user: MakeUser, admin_token: str
) -> None:
    made = await make_user(Role.LIAISON)
    resp = await client.post(
        "/api/v1/users",
        json={"email": "api-made@example.org", "role": "viewer", "password": DEFAULT_PASSWORD},
        headers=bearer(admin_token),
    )
    assert resp.status == 201
    via_api = (await resp.json())["id"]
    resp = await client.patch(
        f"/api/v1/users/{made.id}", json={"password": NEW_PASSWORD}, headers=bearer(admin_token)
    )
    assert resp.status == 200

    hashes = await conn.fetch(
        "SELECT password_hash FROM users WHERE id = ANY($1::bigint[])", [made.id, via_api]
    )
    assert len(hashes) == 2
    for row in hashes:
        assert_owasp_argon2id(row["password_hash"])
        assert DEFAULT_PASSWORD not in row["password_hash"]
        assert NEW_PASSWORD not in row["password_hash"]


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Borrow:
    """What ``TokenCache.load`` opens: the test's connection, counting each lookup."""

    def __init__(self, conn: database.Connection) -> None:
        self.conn = conn
        self.lookups = 0

    def __call__(self) -> Any:
        self.lookups += 1
        return _Borrowed(self.conn)


class _Borrowed:
    def __init__(self, conn: database.Connection) -> None:
        self.conn = conn

    async def __aenter__(self) -> database.Connection:
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_a_token_is_looked_up_once_per_cache_period(
    conn: database.Connection, make_user: MakeUser, make_token: MakeToken
) -> None:
    token = await make_token((await make_user(Role.VIEWER, password=None)).id)
    clock, borrow = _Clock(), _Borrow(conn)
    cache = auth.TokenCache(5.0, clock=clock)
    first = await cache.load(borrow, token)
    assert first is not None
    assert await cache.load(borrow, token) == first
    assert borrow.lookups == 1
    clock.now += 5.0
    assert await cache.load(borrow, token) == first
    assert borrow.lookups == 2


async def test_a_token_revoked_by_another_instance_stops_working_within_the_cache_period(
    conn: database.Connection, make_user: MakeUser, make_token: MakeToken
) -> None:
    token = await make_token((await make_user(Role.VIEWER, password=None)).id)
    clock, borrow = _Clock(), _Borrow(conn)
    cache = auth.TokenCache(5.0, clock=clock)
    assert await cache.load(borrow, token) is not None
    # another instance revokes it: nothing on this one hears of it
    await conn.execute("UPDATE api_tokens SET revoked_at = now()")
    clock.now += 4.9
    assert await cache.load(borrow, token) is not None
    clock.now += 0.1
    assert await cache.load(borrow, token) is None


async def test_a_token_revoked_on_this_instance_stops_working_at_once(
    conn: database.Connection, make_user: MakeUser, make_token: MakeToken
) -> None:
    user = await make_user(Role.VIEWER, password=None)
    token = await make_token(user.id)
    cache = auth.TokenCache(5.0, clock=_Clock())
    borrow = _Borrow(conn)
    assert await cache.load(borrow, token) is not None
    token_id = await conn.fetchval("SELECT id FROM api_tokens WHERE user_id = $1", user.id)
    await auth.revoke_token(conn, token_id)
    assert await cache.load(borrow, token) is None


async def test_unknown_tokens_are_not_kept_and_the_cache_stays_bounded(
    conn: database.Connection, make_user: MakeUser, make_token: MakeToken
) -> None:
    user = await make_user(Role.VIEWER, password=None)
    tokens = [await make_token(user.id) for _ in range(3)]
    borrow = _Borrow(conn)
    cache = auth.TokenCache(5.0, clock=_Clock(), max_entries=2)
    assert await cache.load(borrow, auth.TOKEN_PREFIX + "not-a-real-one") is None
    assert await cache.load(borrow, auth.TOKEN_PREFIX + "not-a-real-one") is None
    assert borrow.lookups == 2
    for token in tokens:
        assert await cache.load(borrow, token) is not None
    assert borrow.lookups == 5
    assert await cache.load(borrow, tokens[2]) is not None  # kept
    assert await cache.load(borrow, tokens[0]) is not None  # the oldest was let go
    assert borrow.lookups == 6
