"""Feeds through the API and the admin pages: validation, secrets never shown, access."""

from __future__ import annotations

from typing import Any

import pytest

from bedboard import feeds
from bedboard.auth import Role
from facility_adapters.base import REGISTRY
from tests.conftest import login
from tests.feeds.test_coordinator import Scripted, ScriptedConfig


class SecretConfig(ScriptedConfig):
    api_token: str | None = None


class SecretScripted(Scripted):
    kind = "secretive"
    Config = SecretConfig
    SECRET_FIELDS = frozenset({"api_token"})


@pytest.fixture(autouse=True)
def secretive_kind() -> Any:
    REGISTRY[SecretScripted.kind] = SecretScripted
    yield
    REGISTRY.pop(SecretScripted.kind, None)


@pytest.fixture
async def setup(make_facility: Any, make_unit: Any, make_user: Any, make_token: Any) -> Any:
    facility = await make_facility()
    unit = await make_unit(facility.id)
    admin = await make_user(Role.ADMIN)
    staff = await make_user(Role.FACILITY, facility_ids=[facility.id])
    return {
        "facility": facility,
        "unit": unit,
        "admin_user": admin,
        "admin": {"Authorization": f"Bearer {await make_token(admin.id)}"},
        "staff": {"Authorization": f"Bearer {await make_token(staff.id)}"},
    }


async def test_secrets_are_stored_but_never_shown_back(client: Any, setup: Any, conn: Any) -> None:
    body = {
        "facility_id": setup["facility"].id,
        "kind": "secretive",
        "name": "EHR feed",
        "config": {"script": "ok", "api_token": "s3cr3t-token-value"},
        "mappings": {"4E": setup["unit"].id},
    }
    resp = await client.post("/api/v1/feeds", json=body, headers=setup["admin"])
    assert resp.status == 201, await resp.text()
    feed = await resp.json()
    assert feed["secrets_set"] == ["api_token"] and "s3cr3t" not in await resp.text()
    for path in (f"/api/v1/feeds/{feed['id']}", "/api/v1/feeds"):
        assert "s3cr3t" not in await (await client.get(path, headers=setup["admin"])).text()
    # Changing other settings keeps the secret.
    patched = await client.patch(
        f"/api/v1/feeds/{feed['id']}", json={"config": {"script": "ok"}}, headers=setup["admin"]
    )
    assert patched.status == 200
    assert await conn.fetchval("SELECT secrets->>'api_token' FROM feeds") == "s3cr3t-token-value"
    await login(client, setup["admin_user"].email)
    page = await (await client.get(f"/admin/feeds/{feed['id']}")).text()
    assert "s3cr3t" not in page and "leave blank to keep" in page


async def test_settings_are_validated_by_the_adapter_kind(client: Any, setup: Any) -> None:
    resp = await client.post(
        "/api/v1/feeds",
        json={
            "facility_id": setup["facility"].id,
            "kind": "secretive",
            "name": "x",
            "config": {"scrip": "typo"},
        },
        headers=setup["admin"],
    )
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["field"] == "config.scrip"
    unknown = await client.post(
        "/api/v1/feeds",
        json={"facility_id": setup["facility"].id, "kind": "telepathy", "name": "x"},
        headers=setup["admin"],
    )
    assert unknown.status == 422


async def test_a_mapping_cannot_point_at_another_facilitys_unit(
    client: Any, setup: Any, make_facility: Any, make_unit: Any
) -> None:
    other = await make_facility()
    foreign = await make_unit(other.id)
    resp = await client.post(
        "/api/v1/feeds",
        json={
            "facility_id": setup["facility"].id,
            "kind": "secretive",
            "name": "x",
            "mappings": {"4E": foreign.id},
        },
        headers=setup["admin"],
    )
    assert resp.status == 422


async def test_only_administrators_manage_feeds(client: Any, setup: Any) -> None:
    assert (await client.get("/api/v1/feeds", headers=setup["staff"])).status == 403
    resp = await client.post(
        "/api/v1/feeds",
        json={"facility_id": setup["facility"].id, "kind": "secretive", "name": "x"},
        headers=setup["staff"],
    )
    assert resp.status == 403


async def test_poll_now_and_check_from_the_admin_page(client: Any, setup: Any, conn: Any) -> None:
    resp = await client.post(
        "/api/v1/feeds",
        json={
            "facility_id": setup["facility"].id,
            "kind": "secretive",
            "name": "EHR",
            "mappings": {"EAST": setup["unit"].id},
        },
        headers=setup["admin"],
    )
    feed_id = (await resp.json())["id"]
    session = await login(client, setup["admin_user"].email)
    polled = await client.post(
        f"/admin/feeds/{feed_id}",
        data={"csrf_token": session.csrf, "action": "poll"},
        allow_redirects=False,
    )
    assert "Polled:%201%20applied" in polled.headers["Location"]
    checked = await client.post(
        f"/admin/feeds/{feed_id}",
        data={"csrf_token": session.csrf, "action": "check"},
        allow_redirects=False,
    )
    assert "Check%20passed" in checked.headers["Location"]
    page = await (await client.get(f"/admin/feeds/{feed_id}")).text()
    assert "occupied cannot exceed staffed" in page  # the quarantine
    assert "WEST" in page and "unmapped" in page
    listing = await (await client.get("/admin/feeds")).text()
    assert "EHR" in listing


async def test_file_feeds_may_only_read_the_configured_folders(
    client: Any, setup: Any, settings: Any
) -> None:
    drops = settings.data_dir / "feeds" / "riverbend"
    drops.mkdir(parents=True)
    outside = await client.post(
        "/api/v1/feeds",
        json={
            "facility_id": setup["facility"].id,
            "kind": "csv",
            "name": "sneaky",
            "config": {"source": "/etc"},
        },
        headers=setup["admin"],
    )
    assert outside.status == 422
    assert (await outside.json())["errors"][0]["field"] == "config.source"
    escape = await client.post(
        "/api/v1/feeds",
        json={
            "facility_id": setup["facility"].id,
            "kind": "csv",
            "name": "dotdot",
            "config": {"source": f"{drops}/../../../etc"},
        },
        headers=setup["admin"],
    )
    assert escape.status == 422
    inside = await client.post(
        "/api/v1/feeds",
        json={
            "facility_id": setup["facility"].id,
            "kind": "csv",
            "name": "nightly",
            "config": {"source": str(drops)},
        },
        headers=setup["admin"],
    )
    assert inside.status == 201, await inside.text()


async def test_feed_page_marks_the_last_error_resolved_once_a_later_poll_succeeded(
    client: Any, setup: Any, conn: Any
) -> None:
    body = {"facility_id": setup["facility"].id, "kind": "secretive", "name": "EHR feed",
            "config": {"script": "ok"}}  # fmt: skip
    resp = await client.post("/api/v1/feeds", json=body, headers=setup["admin"])
    feed_id = (await resp.json())["id"]
    await feeds.record_attempt(conn, feed_id, feeds.Attempt(ok=False, error="connection refused"))
    await conn.execute(
        "UPDATE feed_status SET last_error_at = '2026-11-30 15:00:00+00' WHERE feed_id = $1",
        feed_id,
    )
    await login(client, setup["admin_user"].email)
    failing = await (await client.get(f"/admin/feeds/{feed_id}")).text()
    assert "current</span> connection refused" in failing
    assert "Nov 30, 2026 9:00:00 AM CST" in failing
    listing = await (await client.get("/admin/feeds")).text()
    assert "connection refused" in listing

    await feeds.record_attempt(conn, feed_id, feeds.Attempt(ok=True))
    await conn.execute(
        "UPDATE feed_status SET last_success_at = '2026-11-30 15:05:00+00' WHERE feed_id = $1",
        feed_id,
    )
    recovered = await (await client.get(f"/admin/feeds/{feed_id}")).text()
    assert "resolved</span> connection refused" in recovered
    assert "current</span>" not in recovered
    assert "before the success at <time" in recovered
    assert "Nov 30, 2026 9:05:00 AM CST" in recovered
    listing = await (await client.get("/admin/feeds")).text()
    assert "connection refused" not in listing and "last error resolved" in listing


@pytest.mark.parametrize(
    ("kind", "config"),
    [
        ("csv", {"source": " /etc/passwd"}),
        ("csv", {"source": "\t/etc"}),
        ("have", {"path": " /etc/outside.xml"}),
    ],
)
async def test_a_path_with_leading_space_is_checked_as_the_adapter_reads_it(
    client: Any, setup: Any, settings: Any, kind: str, config: dict[str, Any]
) -> None:
    resp = await client.post(
        "/api/v1/feeds",
        json={"facility_id": setup["facility"].id, "kind": kind, "name": "x", "config": config},
        headers=setup["admin"],
    )
    assert resp.status == 422, await resp.text()
    assert (await resp.json())["errors"][0]["field"].startswith("config.")


async def test_a_symlink_in_a_drop_folder_that_leads_outside_is_not_followed(
    client: Any, setup: Any, settings: Any, tmp_path_factory: Any, conn: Any
) -> None:
    from bedboard.context import POOL
    from bedboard.feeds import coordinator

    outside = tmp_path_factory.mktemp("outside") / "secret.csv"
    outside.write_text("SECRET-OUTSIDE-FILE,1,1,0,2026-11-30T00:00:00Z\n", encoding="utf-8")
    drops = settings.data_dir / "feeds" / "linked"
    drops.mkdir(parents=True)
    (drops / "census.csv").symlink_to(outside)
    created = await client.post(
        "/api/v1/feeds",
        json={
            "facility_id": setup["facility"].id,
            "kind": "csv",
            "name": "linked",
            "config": {"source": str(drops)},
        },
        headers=setup["admin"],
    )
    assert created.status == 201, await created.text()
    feed_id = (await created.json())["id"]
    outcome = await coordinator.poll_feed(
        client.app[POOL], feed_id, allowed_dirs=settings.allowed_feed_dirs
    )
    assert outcome is not None and "outside the feed folders" in outcome.error
    quarantine = await conn.fetch("SELECT raw FROM feed_quarantine WHERE feed_id = $1", feed_id)
    assert all("SECRET-OUTSIDE-FILE" not in r["raw"] for r in quarantine)
    # Polling through the API (what an administrator's "poll now" does) is refused alike.
    polled = await client.post(f"/api/v1/feeds/{feed_id}/poll", headers=setup["admin"])
    assert "outside the feed folders" in await polled.text()
