"""Response headers: nothing a signed-in person sees is cached, no version numbers, HSTS
behind https."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bedboard.app import create_app
from bedboard.auth import Role
from bedboard.settings import Settings
from tests.conftest import METRICS_TOKEN, TEST_SECRET, login


async def test_every_page_for_a_signed_in_person_is_no_store_but_static_files_are_cacheable(
    client: Any, make_user: Any
) -> None:
    liaison = await make_user(Role.LIAISON)
    await login(client, liaison.email)
    for path in ("/", "/placements", "/court", "/board", "/placements/new"):
        resp = await client.get(path)
        assert resp.status == 200, path
        assert resp.headers["Cache-Control"] == "no-store", path
    static = await client.get("/static/app.css")
    assert static.status == 200
    assert static.headers.get("Cache-Control") != "no-store"


async def test_the_server_header_names_no_versions(client: Any) -> None:
    resp = await client.get("/login")
    assert resp.headers["Server"] == "bedboard"


async def test_hsts_is_sent_when_the_public_url_is_https(
    aiohttp_client: Any, db_dsn: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=db_dsn,
        data_dir=tmp_path,
        secret_key=TEST_SECRET,
        public_url="https://beds.example.org",  # type: ignore[arg-type]
    )
    client = await aiohttp_client(create_app(settings))
    resp = await client.get("/login")
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_metrics_need_the_metrics_token(client: Any) -> None:
    assert (await client.get("/metrics")).status == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer guess"})
    assert wrong.status == 401
    right = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert right.status == 200
    assert "bedboard_http_request" in await right.text() or "bedboard_" in await right.text()


async def test_metrics_are_off_without_a_metrics_token(
    aiohttp_client: Any, db_dsn: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=db_dsn, data_dir=tmp_path, secret_key=TEST_SECRET)
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/metrics")).status == 404
