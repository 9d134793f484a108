"""The regions administration pages through the aiohttp test client: the list, the form
with its inline sentences, deleting after confirmation, and who may open them."""

from __future__ import annotations

from typing import Any

from bedboard import regions
from bedboard.auth import Role
from bedboard.regions import RegionIn
from tests.conftest import login

BOONE, COLE, GREENE = "29019", "29051", "29077"


async def test_an_administrator_creates_a_region_and_sees_it_listed(
    client: Any, make_user: Any, conn: Any
) -> None:
    session = await login(client, (await make_user(Role.ADMIN)).email)
    form = await client.get("/admin/regions/new")
    html = await form.text()
    assert form.status == 200
    assert 'value="29019"' in html and "Boone County" in html and "St. Louis City" in html
    resp = await client.post(
        "/admin/regions/new",
        data={"csrf_token": session.csrf, "name": "Central", "counties": [BOONE, COLE]},
        allow_redirects=False,
    )
    assert resp.status == 303
    assert resp.headers["Location"].startswith("/admin/regions?saved=")
    listing = await (await client.get(resp.headers["Location"])).text()
    assert "Saved." in listing
    assert "Central" in listing and "Boone County, Cole County" in listing
    assert '<td data-label="Counties" class="num">2</td>' in listing
    [row] = await conn.fetch("SELECT action, outcome FROM audit_log WHERE object_type = 'region'")
    assert (row["action"], row["outcome"]) == ("region.create", "success")


async def test_a_taken_name_and_a_county_of_another_region_are_sentences_next_to_the_fields(
    client: Any, make_user: Any, conn: Any
) -> None:
    await regions.create_region(conn, RegionIn(name="Central", counties=[BOONE]))
    session = await login(client, (await make_user(Role.ADMIN)).email)
    resp = await client.post(
        "/admin/regions/new",
        data={"csrf_token": session.csrf, "name": "central", "counties": [GREENE]},
    )
    assert resp.status == 409
    html = await resp.text()
    assert '<p class="field__error" id="f-name-error">That name is taken.</p>' in html
    assert 'value="central"' in html
    resp = await client.post(
        "/admin/regions/new",
        data={"csrf_token": session.csrf, "name": "Mid", "counties": [GREENE, BOONE]},
    )
    assert resp.status == 409
    html = await resp.text()
    assert (
        '<p class="field__error" id="f-counties-error">'
        "A county can be in one region only: Boone is in Central.</p>"
    ) in html
    # what was ticked stays ticked; the county of the other region says where it is
    assert f'value="{GREENE}" checked' in html
    assert "(in Central)" in html
    resp = await client.post("/admin/regions/new", data={"csrf_token": session.csrf, "name": " "})
    assert resp.status == 422
    assert 'id="f-name-error">Enter name.</p>' in await resp.text()
    assert [r.name for r in await regions.list_regions(conn)] == ["Central"]


async def test_editing_replaces_the_counties_and_deleting_asks_first(
    client: Any, make_user: Any, conn: Any
) -> None:
    region = await regions.create_region(conn, RegionIn(name="Central", counties=[BOONE, COLE]))
    session = await login(client, (await make_user(Role.ADMIN)).email)
    edit = await (await client.get(f"/admin/regions/{region.id}")).text()
    assert f'value="{BOONE}" checked' in edit and f'value="{GREENE}">' in edit
    resp = await client.post(
        f"/admin/regions/{region.id}",
        data={"csrf_token": session.csrf, "name": "Mid-Missouri", "counties": [COLE]},
        allow_redirects=False,
    )
    assert resp.status == 303
    assert [c.fips for c in (await regions.get_region(conn, region.id)).counties] == [COLE]
    confirm = await client.get(f"/admin/regions/{region.id}/delete")
    html = await confirm.text()
    assert confirm.status == 200 and "This cannot be undone." in html
    assert await regions.list_regions(conn) != []  # opening the confirmation deletes nothing
    refused = await client.post(f"/admin/regions/{region.id}/delete", data={})
    assert refused.status == 403  # no CSRF token
    resp = await client.post(
        f"/admin/regions/{region.id}/delete",
        data={"csrf_token": session.csrf},
        allow_redirects=False,
    )
    assert (resp.status, resp.headers["Location"]) == (303, "/admin/regions?deleted=1")
    assert await regions.list_regions(conn) == []
    missing = await client.get(f"/admin/regions/{region.id}")
    assert missing.status == 404


async def test_only_administrators_open_the_regions_pages(client: Any, make_user: Any) -> None:
    await login(client, (await make_user(Role.LIAISON)).email)
    for path in ("/admin/regions", "/admin/regions/new"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 403, path
