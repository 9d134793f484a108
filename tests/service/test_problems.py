"""Bad input gets RFC 9457 problem details, never a 500; a lost database is a 503."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bedboard.app import create_app
from bedboard.auth import Role
from bedboard.settings import Settings
from tests.conftest import TEST_SECRET, drop_database
from tests.support.pgproxy import PgProxy

PROBLEM = "application/problem+json"


@pytest.fixture
async def admin_headers(make_user: Any, make_token: Any) -> dict[str, str]:
    admin = await make_user(Role.ADMIN)
    return {"Authorization": f"Bearer {await make_token(admin.id)}"}


async def test_malformed_json_is_a_400_problem(client: Any, admin_headers: dict[str, str]) -> None:
    resp = await client.post(
        "/api/v1/facilities",
        data=b'{"name": ',
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert resp.status == 400
    assert resp.content_type == PROBLEM
    body = await resp.json()
    assert body["type"].endswith("/malformed-json")
    assert body["status"] == 400
    assert body["instance"] == "/api/v1/facilities"
    assert body["request_id"] == resp.headers["X-Request-Id"]


async def test_non_utf8_body_is_a_400_problem(client: Any, admin_headers: dict[str, str]) -> None:
    resp = await client.post(
        "/api/v1/facilities",
        data=b"\xff\xfe\x00garbage",
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert resp.status == 400
    assert resp.content_type == PROBLEM


async def test_wrong_types_list_every_invalid_field(
    client: Any, admin_headers: dict[str, str]
) -> None:
    resp = await client.post(
        "/api/v1/facilities",
        json={"name": "", "kind": "spaceship", "county_fips": 29019, "report_cadence_minutes": "x"},
        headers=admin_headers,
    )
    assert resp.status == 422
    assert resp.content_type == PROBLEM
    body = await resp.json()
    fields = {e["field"] for e in body["errors"]}
    assert {"name", "kind", "county_fips", "report_cadence_minutes"} <= fields
    assert all(e["in"] == "body" and e["message"] for e in body["errors"])


async def test_unknown_fields_are_refused(client: Any, admin_headers: dict[str, str]) -> None:
    resp = await client.post(
        "/api/v1/courts",
        json={"name": "X", "circuit": 1, "county_fips": "29019", "judge": "nobody"},
        headers=admin_headers,
    )
    assert resp.status == 422
    assert [e["field"] for e in (await resp.json())["errors"]] == ["judge"]


async def test_a_json_array_body_is_a_422_not_a_500(
    client: Any, admin_headers: dict[str, str]
) -> None:
    resp = await client.post("/api/v1/courts", json=[1, 2, 3], headers=admin_headers)
    assert resp.status == 422
    assert resp.content_type == PROBLEM


async def test_unknown_county_reference_is_a_field_error(
    client: Any, admin_headers: dict[str, str]
) -> None:
    resp = await client.post(
        "/api/v1/facilities",
        json={"name": "Nowhere Hospital", "kind": "general_hospital", "county_fips": "99999"},
        headers=admin_headers,
    )
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["field"] == "county_fips"


async def test_oversize_body_is_a_413_problem(client: Any, admin_headers: dict[str, str]) -> None:
    resp = await client.post(
        "/api/v1/facilities",
        data=b'{"name": "' + b"a" * (2 * 1024 * 1024) + b'"}',
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert resp.status == 413
    assert resp.content_type == PROBLEM


async def test_wrong_media_type_is_a_415_problem(
    client: Any, admin_headers: dict[str, str]
) -> None:
    resp = await client.post(
        "/api/v1/courts", data="name=x", headers={**admin_headers, "Content-Type": "text/plain"}
    )
    assert resp.status == 415
    assert resp.content_type == PROBLEM


async def test_unknown_api_route_is_a_404_problem(client: Any) -> None:
    resp = await client.get("/api/v1/no-such-thing")
    assert resp.status == 404
    assert resp.content_type == PROBLEM


async def test_wrong_method_is_a_405_problem_with_allow(client: Any) -> None:
    resp = await client.put("/api/v1/login", json={})
    assert resp.status == 405
    assert resp.content_type == PROBLEM
    assert "POST" in resp.headers["Allow"]


async def test_non_numeric_id_is_a_404_problem(client: Any, admin_headers: dict[str, str]) -> None:
    resp = await client.get("/api/v1/facilities/abc", headers=admin_headers)
    assert resp.status == 404
    assert resp.content_type == PROBLEM
    resp = await client.get("/api/v1/facilities/99999999999999999999999", headers=admin_headers)
    assert resp.status == 404


async def test_bad_query_parameters_are_a_422_problem(
    client: Any, admin_headers: dict[str, str]
) -> None:
    resp = await client.get("/api/v1/audit?limit=-5&outcome=maybe", headers=admin_headers)
    assert resp.status == 422
    body = await resp.json()
    assert {e["field"] for e in body["errors"]} == {"limit", "outcome"}
    assert {e["in"] for e in body["errors"]} == {"query"}


async def test_stale_if_match_is_a_412_and_changes_nothing(
    client: Any, admin_headers: dict[str, str], make_court: Any, conn: Any
) -> None:
    court = await make_court()
    resp = await client.get(f"/api/v1/courts/{court.id}", headers=admin_headers)
    etag = resp.headers["ETag"]
    ok = await client.patch(
        f"/api/v1/courts/{court.id}",
        json={"circuit": 14},
        headers={**admin_headers, "If-Match": etag},
    )
    assert ok.status == 200
    stale = await client.patch(
        f"/api/v1/courts/{court.id}",
        json={"circuit": 15},
        headers={**admin_headers, "If-Match": etag},
    )
    assert stale.status == 412
    assert await conn.fetchval("SELECT circuit FROM courts WHERE id = $1", court.id) == 14


async def test_bad_input_never_changes_stored_data(
    client: Any, admin_headers: dict[str, str], make_facility: Any, conn: Any
) -> None:
    facility = await make_facility(name="Keep Me")
    for body in ({"name": None}, {"name": ""}, {"report_cadence_minutes": -1}, {"kind": 3}):
        resp = await client.patch(
            f"/api/v1/facilities/{facility.id}", json=body, headers=admin_headers
        )
        assert resp.status == 422, body
    row = await conn.fetchrow("SELECT name, version FROM facilities WHERE id = $1", facility.id)
    assert (row["name"], row["version"]) == ("Keep Me", 1)


async def test_security_headers_are_on_every_response(client: Any) -> None:
    for path in ("/login", "/api/v1/me", "/healthz", "/static/app.css"):
        resp = await client.get(path)
        csp = resp.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "same-origin"


async def test_pages_show_a_readable_error_page_not_json(client: Any) -> None:
    resp = await client.get("/no/such/page")
    assert resp.status == 404
    assert resp.content_type == "text/html"
    assert "There is no page at this address." in await resp.text()


# --------------------------------------------------------------------------- database outage


@pytest.fixture
async def proxied(
    pg_dsn: str, empty_db_factory: Any, tmp_path: Path
) -> AsyncIterator[tuple[PgProxy, str]]:
    dsn = await empty_db_factory("bedboard_template")
    proxy = PgProxy(pg_dsn)
    await proxy.start()
    yield proxy, proxy.dsn(urlsplit(dsn).path.lstrip("/"))
    await proxy.close()
    await drop_database(pg_dsn, dsn)


async def test_database_outage_is_a_503_with_retry_after_and_recovers(
    aiohttp_client: Any, proxied: tuple[PgProxy, str], tmp_path: Path
) -> None:
    proxy, dsn = proxied
    settings = Settings(database_url=dsn, data_dir=tmp_path, secret_key=TEST_SECRET)
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/readyz")).status == 200

    await proxy.cut()
    for path in ("/api/v1/facilities", "/readyz"):
        resp = await client.get(path, headers={"Authorization": "Bearer bbt_x_y"})
        assert resp.status == 503, path
        assert resp.headers["Retry-After"].isdigit()
    resp = await client.get("/api/v1/me", headers={"Authorization": "Bearer bbt_x_y"})
    assert resp.content_type == PROBLEM
    assert (await resp.json())["type"].endswith("/database-unavailable")
    page = await client.get("/login", cookies={"bb_session": "whatever"})
    assert page.status == 503
    assert "database is unreachable" in await page.text()
    assert (await client.get("/healthz")).status == 200

    await proxy.restore()
    assert (await client.get("/readyz")).status == 200
    resp = await client.get("/api/v1/me", headers={"Authorization": "Bearer bbt_x_y"})
    assert resp.status == 401


async def test_a_request_that_cannot_get_a_connection_soon_answers_503_not_a_hang(
    aiohttp_client: Any, db_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bedboard import database
    from bedboard.context import POOL

    monkeypatch.setattr(database, "ACQUIRE_TIMEOUT_S", 0.2)
    settings = Settings(
        database_url=db_dsn,
        data_dir=tmp_path,
        secret_key=TEST_SECRET,
        db_pool_min_size=1,
        db_pool_max_size=1,
    )
    client = await aiohttp_client(create_app(settings))
    async with client.app[POOL].acquire():  # the only connection, held elsewhere
        resp = await client.get("/readyz")
        assert resp.status == 503
        login = await client.post("/api/v1/login", json={"email": "a@b.org", "password": "x"})
        assert login.status == 503
        assert login.headers["Retry-After"]
