"""Server-rendered pages: sign-in, navigation by role, admin forms with inline errors."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from bedboard import regions
from bedboard.auth import Role
from bedboard.regions import RegionIn
from tests.conftest import DEFAULT_PASSWORD, login


def _nav_labels(html: str) -> list[str]:
    nav = html.split('<nav class="site-nav"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r'<a href="[^"]+"[^>]*>([^<]+)</a>', nav)


async def test_anonymous_visitors_are_sent_to_sign_in(client: Any) -> None:
    resp = await client.get("/admin/users", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/login?next=/admin/users"


async def test_login_page_has_labelled_fields_and_no_inline_script(client: Any) -> None:
    resp = await client.get("/login")
    html = await resp.text()
    assert '<label for="email">' in html and '<label for="password">' in html
    assert "<script>" not in html and "onclick" not in html
    assert resp.cookies["bb_login"]["samesite"] == "Strict"


async def test_sign_in_form_redirects_to_next_and_rejects_foreign_redirects(
    client: Any, make_user: Any
) -> None:
    account = await make_user(Role.LIAISON)
    page = await client.get("/login?next=/directory")
    token = re.search(r'name="login_token" value="([^"]+)"', await page.text())
    assert token is not None
    resp = await client.post(
        "/login",
        data={
            "login_token": token.group(1),
            "email": account.email,
            "password": DEFAULT_PASSWORD,
            "next": "//evil.example.org/",
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    assert resp.headers["Location"] == "/"
    assert "bb_session" in resp.cookies


async def test_wrong_password_on_the_form_shows_an_error_in_the_page(
    client: Any, make_user: Any
) -> None:
    account = await make_user(Role.LIAISON)
    page = await client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', await page.text())
    assert token is not None
    resp = await client.post(
        "/login", data={"login_token": token.group(1), "email": account.email, "password": "nope"}
    )
    assert resp.status == 401
    html = await resp.text()
    assert 'role="alert"' in html and "Wrong email or password." in html


# What each role's navigation bar shows, in order (the browser test checks it too).
EXPECTED_NAVIGATION: dict[Role, list[str]] = {
    Role.ADMIN: [
        "Home",
        "Board",
        "Find a bed",
        "Placements",
        "Referrals",
        "Case lookup",
        "Reports",
        "Facilities",
        "Courts",
        "Regions",
        "Order types",
        "Feeds",
        "Deliveries",
        "Webhooks",
        "Users",
        "API tokens",
        "Audit trail",
    ],
    Role.LIAISON: [
        "Home",
        "Placements",
        "Follow-ups",
        "Board",
        "Find a bed",
        "Case lookup",
        "Reports",
        "Facilities",
    ],
    # A liaison's, but for the case lookup (it reaches every region's cases).
    Role.SUPERVISOR: ["Home", "Placements", "Board", "Find a bed", "Reports", "Facilities"],
    Role.FACILITY: ["Home", "Report census", "Referrals", "Board", "Reports", "Facilities"],
    Role.COURT: ["Home", "Case lookup", "Board", "Reports"],
    Role.VIEWER: ["Home", "Board", "Reports", "Facilities"],
}


async def test_each_role_sees_its_own_navigation(
    client: Any, conn: Any, make_user: Any, make_facility: Any, make_court: Any
) -> None:
    facility = await make_facility()
    court = await make_court()
    region = await regions.create_region(conn, RegionIn(name="Central", counties=["29019"]))
    expected = EXPECTED_NAVIGATION
    assert set(expected) == set(Role)
    for role, labels in expected.items():
        account = await make_user(
            role,
            facility_ids=[facility.id] if role is Role.FACILITY else None,
            court_id=court.id if role is Role.COURT else None,
            region_id=region.id if role is Role.SUPERVISOR else None,
        )
        await login(client, account.email)
        html = await (await client.get("/")).text()
        assert _nav_labels(html) == labels, role
        client.session.cookie_jar.clear()


async def test_court_staff_can_open_the_board_from_their_navigation(
    client: Any, make_user: Any, make_court: Any
) -> None:
    clerk = await make_user(Role.COURT, court_id=(await make_court()).id)
    await login(client, clerk.email)
    resp = await client.get("/board")
    assert resp.status == 200
    assert 'href="/board" aria-current="page"' in await resp.text()


async def test_non_admins_get_a_403_page_on_admin_pages(client: Any, make_user: Any) -> None:
    account = await make_user(Role.LIAISON)
    await login(client, account.email)
    resp = await client.get("/admin/users")
    assert resp.status == 403
    assert resp.content_type == "text/html"


async def test_facility_form_shows_inline_errors_and_keeps_input(
    client: Any, make_user: Any, conn: Any
) -> None:
    admin = await make_user(Role.ADMIN)
    session = await login(client, admin.email)
    resp = await client.post(
        "/admin/facilities/new",
        data={
            "csrf_token": session.csrf,
            "name": "",
            "kind": "psychiatric_hospital",
            "county_fips": "29019",
            "phone_intake": "call us!",
            "report_cadence_minutes": "720",
        },
    )
    assert resp.status == 422
    html = await resp.text()
    assert 'id="f-name-error"' in html and 'id="f-phone_intake-error"' in html
    assert 'aria-invalid="true"' in html
    assert 'value="call us!"' in html
    assert await conn.fetchval("SELECT count(*) FROM facilities") == 0


async def test_admin_creates_a_facility_and_a_unit_through_the_forms(
    client: Any, make_user: Any, conn: Any
) -> None:
    admin = await make_user(Role.ADMIN)
    session = await login(client, admin.email)
    resp = await client.post(
        "/admin/facilities/new",
        data={
            "csrf_token": session.csrf,
            "name": "Hillside Psychiatric",
            "kind": "psychiatric_hospital",
            "county_fips": "29019",
            "phone_intake": "573-555-0100",
            "report_cadence_minutes": "240",
            "active": "true",
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    facility_id = int(resp.headers["Location"].split("/")[3].split("?")[0])
    resp = await client.post(
        "/admin/units/new",
        data={
            "csrf_token": session.csrf,
            "facility_id": str(facility_id),
            "name": "Adolescent",
            "population": "adolescent",
            "gender": "any",
            "security_level": "secure",
            "licensed_beds": "14",
            "specialties": ["trauma", "autism_spectrum"],
            "payers": ["medicaid"],
            "accepts_involuntary": "true",
            "active": "true",
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    row = await conn.fetchrow("SELECT * FROM units WHERE facility_id = $1", facility_id)
    assert row["licensed_beds"] == 14
    assert row["specialties"] == ["autism_spectrum", "trauma"]
    assert row["accepts_involuntary"] is True and row["accepts_court_ordered"] is False
    audit = await conn.fetch("SELECT action FROM audit_log WHERE outcome = 'success' ORDER BY id")
    assert [r["action"] for r in audit][-2:] == ["facility.create", "unit.create"]


async def test_unchecking_every_specialty_on_the_edit_form_clears_them(
    client: Any, make_user: Any, make_facility: Any, make_unit: Any, conn: Any
) -> None:
    admin = await make_user(Role.ADMIN)
    session = await login(client, admin.email)
    facility = await make_facility()
    unit = await make_unit(facility.id, specialties=["trauma"])
    resp = await client.post(
        f"/admin/units/{unit.id}",
        data={
            "csrf_token": session.csrf,
            "facility_id": str(facility.id),
            "name": unit.name,
            "population": "adult",
            "gender": "any",
            "security_level": "standard",
            "licensed_beds": "12",
            "specialties__shown": "1",
            "payers__shown": "1",
            "accepts_involuntary": "true",
            "accepts_court_ordered": "true",
            "active": "true",
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    assert await conn.fetchval("SELECT specialties FROM units WHERE id = $1", unit.id) == []


async def test_a_new_token_is_shown_once_on_the_tokens_page(
    client: Any, make_user: Any, conn: Any
) -> None:
    admin = await make_user(Role.ADMIN)
    integration = await make_user(Role.LIAISON, password=None)
    session = await login(client, admin.email)
    resp = await client.post(
        "/admin/tokens",
        data={"csrf_token": session.csrf, "user_id": str(integration.id), "name": "census feed"},
    )
    assert resp.status == 201
    token = re.search(r'id="new-token">(bbt_[^<]+)<', await resp.text())
    assert token is not None
    again = await (await client.get("/admin/tokens")).text()
    assert token.group(1) not in again
    assert "census feed" in again
    api = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert (await api.json())["email"] == integration.email


async def test_disabling_a_user_on_the_form_ends_their_session(client: Any, make_user: Any) -> None:
    admin = await make_user(Role.ADMIN)
    target = await make_user(Role.LIAISON)
    async with aiohttp.ClientSession(
        base_url=str(client.make_url("/")), cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as other:
        resp = await other.post(
            "/api/v1/login", json={"email": target.email, "password": DEFAULT_PASSWORD}
        )
        assert resp.status == 200
        assert (await other.get("/api/v1/me")).status == 200
        await _disable_through_form(client, admin.email, target)
        assert (await other.get("/api/v1/me")).status == 401


async def _disable_through_form(client: Any, admin_email: str, target: Any) -> None:
    session = await login(client, admin_email)
    resp = await client.post(
        f"/admin/users/{target.id}",
        data={
            "csrf_token": session.csrf,
            "email": target.email,
            "display_name": "",
            "role": "liaison",
            "court_id": "",
            "disabled": "true",
            "facility_ids__shown": "1",
        },
        allow_redirects=False,
    )
    assert resp.status == 303
