"""The user guides at /help: every guide renders, and each role's Help link opens its guide."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bedboard import regions
from bedboard.auth import Role
from bedboard.pages.help import GUIDES, HELP_FOR_ROLE
from bedboard.regions import RegionIn
from tests.conftest import login


def _footer_help(html: str) -> str:
    footer = html.split('<footer class="site-footer">', 1)[1]
    found = re.search(r'<a href="([^"]+)">Help</a>', footer)
    assert found is not None, footer
    return found.group(1)


async def test_every_guide_renders_from_its_markdown(client: Any, make_user: Any) -> None:
    await login(client, (await make_user(Role.VIEWER)).email)
    index = await (await client.get("/help")).text()
    for guide in GUIDES:
        assert f'href="/help/{guide.name}"' in index
        resp = await client.get(f"/help/{guide.name}")
        assert resp.status == 200, guide.name
        html = await resp.text()
        article = html.split('<article class="card prose"', 1)[1].split("</article>", 1)[0]
        assert "<h1>" in article and "<h2 id=" in article, guide.name
        assert ".md" not in article  # links between guides point at /help/...
    glossary = await (await client.get("/help/glossary")).text()
    assert "<table>" in glossary and "<td><strong>Stale</strong></td>" in glossary
    for band in ("0\u201312", "13\u201317", "18\u201364", "65+"):  # en dashes, as written
        assert band in glossary
    reports = await (await client.get("/help/reports")).text()
    assert '<h2 id="time-to-placement">' in reports  # the report pages link to it
    liaison = await (await client.get("/help/liaison")).text()
    assert 'href="/help/glossary"' in liaison


async def test_an_unknown_guide_is_not_found(client: Any, make_user: Any) -> None:
    await login(client, (await make_user(Role.VIEWER)).email)
    assert (await client.get("/help/architecture")).status == 404
    assert (await client.get("/help/..%2Fpyproject")).status == 404


async def test_help_needs_sign_in(client: Any) -> None:
    resp = await client.get("/help/liaison", allow_redirects=False)
    assert resp.status == 303


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.ADMIN, "/help"),
        (Role.LIAISON, "/help/liaison"),
        (Role.SUPERVISOR, "/help/liaison#supervisors"),
        (Role.FACILITY, "/help/intake"),
        (Role.COURT, "/help/court"),
        (Role.VIEWER, "/help/glossary"),
    ],
)
async def test_each_roles_help_link_opens_the_guide_for_that_role(
    client: Any,
    conn: Any,
    make_user: Any,
    make_facility: Any,
    make_court: Any,
    role: Role,
    expected: str,
) -> None:
    facility = await make_facility()
    court = await make_court()
    region = await regions.create_region(conn, RegionIn(name="Central"))
    account = await make_user(
        role,
        facility_ids=[facility.id] if role is Role.FACILITY else None,
        court_id=court.id if role is Role.COURT else None,
        region_id=region.id if role is Role.SUPERVISOR else None,
    )
    await login(client, account.email)
    home = await (await client.get("/directory")).text()
    href = _footer_help(home)
    assert href == expected == HELP_FOR_ROLE[role]
    page = await client.get(href)
    assert page.status == 200
    html = await page.text()
    assert "<h1>" in html
    if "#" in href:  # the section it points at is there
        assert f'id="{href.split("#", 1)[1]}"' in html
