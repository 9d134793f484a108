"""The public summary over HTTP: anyone may read it, bed counts by county (by region once
regions are defined) are exact, program counts are counted in local months and
suppressed, facility-level figures appear only when the administrator turns them on, and
the answer is cached for a minute and limited per client address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import time_machine

from bedboard import auth, census, localtime, placements
from bedboard.app import create_app
from bedboard.auth import Role
from bedboard.context import PUBLIC_SUMMARY
from bedboard.public import RATE_BURST, PublicSummary
from bedboard.settings import Settings
from tests.conftest import login

CHICAGO = ZoneInfo("America/Chicago")
SUMMARY = "/api/v1/public/summary"


async def _summary(client: Any, **kwargs: Any) -> dict[str, Any]:
    resp = await client.get(SUMMARY, **kwargs)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    PublicSummary.model_validate(body)  # the documented response model
    return body


async def _report(conn: Any, unit_id: int, staffed: int, occupied: int, age: timedelta) -> None:
    now = await conn.fetchval("SELECT now()")
    await census.apply(
        conn,
        [(unit_id, census.CensusReport(as_of=now - age, staffed=staffed, occupied=occupied))],
        census.Source("test"),
    )


async def test_anyone_reads_free_beds_by_county_age_group_and_involuntary_exactly(
    client: Any, conn: Any, make_facility: Any, make_unit: Any
) -> None:
    boone = await make_facility(name="Boone Behavioral", county_fips="29019")
    greene = await make_facility(name="Greene Psychiatric", county_fips="29077")
    closed = await make_facility(name="Closed Hospital", county_fips="29019")
    a = await make_unit(boone.id, name="Adult A", population="adult")
    b = await make_unit(boone.id, name="Adult B", population="adult")
    vol = await make_unit(boone.id, name="Adult voluntary", accepts_involuntary=False)
    await make_unit(boone.id, name="Adult new", population="adult")  # never reported
    teen = await make_unit(greene.id, name="Teens", population="adolescent")
    gone = await make_unit(closed.id, name="Old unit")
    await conn.execute("UPDATE facilities SET active = false WHERE id = $1", closed.id)
    await _report(conn, a.id, 10, 7, timedelta(minutes=5))  # 3 free, fresh
    await _report(conn, b.id, 10, 8, timedelta(hours=13))  # 2 free, late (cadence 12 h)
    await _report(conn, vol.id, 6, 5, timedelta(days=2))  # 1 free, stale
    await _report(conn, teen.id, 4, 4, timedelta(minutes=1))  # 0 free, fresh
    await _report(conn, gone.id, 20, 0, timedelta(minutes=1))  # inactive facility

    body = await _summary(client)  # no credentials at all

    groups = {(g["region"], g["population"], g["accepts_involuntary"]): g for g in body["beds"]}
    assert list(groups) == [
        ("Boone", "adult", True),
        ("Boone", "adult", False),
        ("Greene", "adolescent", True),
    ]
    boone_invol = groups[("Boone", "adult", True)]
    # Bed counts are not about people: 1 to 10 free beds are shown as they are.
    assert boone_invol["units"] == 3 and boone_invol["free_beds"] == 5
    assert boone_invol["freshness"] == {
        "fresh": 1,
        "late": 1,
        "stale": 0,
        "never": 1,
        "share_fresh": 0.3333,
        "share_late": 0.3333,
        "share_stale": 0.0,
        "share_never": 0.3333,
    }
    assert groups[("Boone", "adult", False)]["free_beds"] == 1
    assert groups[("Boone", "adult", False)]["freshness"]["share_stale"] == 1.0
    assert groups[("Greene", "adolescent", True)]["free_beds"] == 0
    assert groups[("Boone", "adult", True)]["region_fips"] == "29019"
    totals = body["bed_totals"]
    assert totals["units"] == 5 and totals["free_beds"] == 6
    assert totals["freshness"]["fresh"] == 2 and totals["freshness"]["never"] == 1
    assert body["region_meaning"].startswith("county")
    assert body["facilities"] is None

    resp = await client.get("/public")
    assert resp.status == 200
    html = await resp.text()
    assert "Boone County" in html and "Greene County" in html
    assert '<td class="num" data-label="Free beds"><strong>5</strong></td>' in html
    assert "33%" in html


async def test_facility_and_unit_names_are_public_only_when_the_setting_is_on(
    aiohttp_client: Any, settings: Settings, conn: Any, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility(name="Riverside Mercy Behavioral", county_fips="29019")
    unit = await make_unit(facility.id, name="Geriatric Pavilion", population="geriatric")
    await _report(conn, unit.id, 8, 4, timedelta(minutes=2))
    names = ("Riverside Mercy Behavioral", "Geriatric Pavilion")

    off = await aiohttp_client(create_app(settings))
    body = await _summary(off)
    html = await (await off.get("/public")).text()
    assert body["facilities"] is None
    for name in names:
        assert name not in str(body) and name not in html
    assert "Free beds by facility" not in html

    on = await aiohttp_client(create_app(settings.model_copy(update={"public_facilities": True})))
    body = await _summary(on)
    html = await (await on.get("/public")).text()
    (listed,) = body["facilities"]
    assert listed["name"] == "Riverside Mercy Behavioral" and listed["region"] == "Boone"
    (public_unit,) = listed["units"]
    assert public_unit["name"] == "Geriatric Pavilion" and public_unit["free_beds"] == 4
    assert public_unit["freshness"] == "fresh"
    assert "Free beds by facility" in html
    assert "Riverside Mercy Behavioral: Geriatric Pavilion" in html
    as_of = datetime.fromisoformat(public_unit["as_of"])
    assert localtime.format_datetime(as_of, CHICAGO) in html  # shown in Central time


async def _placement(conn: Any, principal: auth.Principal) -> int:
    return await placements.create(
        conn,
        placements.PlacementIn(
            order_type="emergency_96h_application",
            detention_start=await conn.fetchval("SELECT now()"),
            county_fips="29019",
            person=placements.PersonIn(initials="QX", age=40, sex="female"),
            needs=placements.NeedsIn(),
        ),
        principal,
    )


async def test_program_counts_are_the_twelve_complete_local_months_suppressed_under_eleven(
    client: Any, conn: Any, make_user: Any
) -> None:
    liaison = await make_user(Role.LIAISON, password=None)
    principal = await auth.principal_for_user(conn, liaison.id)
    assert principal is not None
    now_local = (await conn.fetchval("SELECT now()")).astimezone(CHICAGO)
    this_month = now_local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)

    def months_ago(n: int) -> datetime:
        year, month = divmod(this_month.year * 12 + this_month.month - 1 - n, 12)
        return this_month.replace(year=year, month=month + 1)

    a_start, b_start, c_start = months_ago(2), months_ago(3), months_ago(1)

    async def record(n: int, created: datetime) -> list[int]:
        ids = [await _placement(conn, principal) for _ in range(n)]
        await conn.execute("UPDATE placements SET created_at = $2 WHERE id = ANY($1)", ids, created)
        return ids

    # Midnight local time on the 1st belongs to the new month; a minute before, to the old.
    in_a = await record(11, a_start)
    in_b = await record(12, a_start - timedelta(minutes=1))
    await record(1, this_month + timedelta(hours=1))  # the current month: not yet published
    await record(1, months_ago(13))  # before the 12 months
    await conn.execute(
        "UPDATE placements SET status = 'admitted', admitted_at = $2 WHERE id = ANY($1)",
        in_a,
        a_start + timedelta(days=3),
    )
    outcomes = ["order_expired"] * 6 + ["released"] * 5 + ["withdrawn"]
    for pid, outcome in zip(in_b, outcomes, strict=True):
        await conn.execute(
            "UPDATE placements SET status = 'closed', outcome = $2, closed_at = $3 WHERE id = $1",
            pid,
            outcome,
            a_start + timedelta(days=1),
        )

    body = await _summary(client)
    months = {m["month"]: m for m in body["months"]}
    assert len(body["months"]) == 12
    assert body["months"][-1]["month"] == f"{c_start.year:04d}-{c_start.month:02d}"
    assert body["time_zone"] == "America/Chicago"
    a = months[f"{a_start.year:04d}-{a_start.month:02d}"]
    b = months[f"{b_start.year:04d}-{b_start.month:02d}"]
    assert datetime.fromisoformat(a["starts_at"]) == a_start
    assert a["placement_requests"]["value"] == 11
    assert a["admitted"]["value"] == 11
    assert a["closed_without_bed"]["value"] == 11  # not the withdrawn one
    assert b["placement_requests"]["value"] == 12
    assert b["admitted"]["value"] == 0 and b["closed_without_bed"]["value"] == 0
    others = [m for m in body["months"] if m["month"] not in (a["month"], b["month"])]
    assert all(m["placement_requests"]["display"] == "0" for m in others)
    assert body["month_totals"]["placement_requests"]["value"] == 23
    assert body["month_totals"]["admitted"]["value"] == 11

    # One admission in the last month: that month shows <11, and its total is hidden.
    (late,) = await record(1, c_start + timedelta(days=2))
    await conn.execute(
        "UPDATE placements SET status = 'admitted', admitted_at = $2 WHERE id = $1",
        late,
        c_start + timedelta(days=2),
    )
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=61), tick=False):
        body = await _summary(client)  # a minute on: computed again
        html = await (await client.get("/public")).text()
    last = body["months"][-1]
    assert last["admitted"] == {
        "value": None,
        "suppressed": True,
        "display": "<11",
        "reason": "small_cell",
    }
    assert body["month_totals"]["admitted"] == {
        "value": None,
        "suppressed": True,
        "display": "not shown",
        "reason": "complementary",
    }
    assert body["month_totals"]["closed_without_bed"]["value"] == 11
    assert "&lt;11" in html and "not shown</abbr>" in html


async def test_an_empty_program_shows_clear_empty_states(client: Any) -> None:
    html = await (await client.get("/public")).text()
    assert "No beds reported yet" in html
    assert "No placements in these months" in html
    assert "<table" not in html


async def test_the_summary_is_computed_once_a_minute_and_cacheable_for_that_minute(
    client: Any, conn: Any, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility()
    unit = await make_unit(facility.id)
    await _report(conn, unit.id, 10, 8, timedelta(minutes=10))
    cache = client.app[PUBLIC_SUMMARY]
    with time_machine.travel(datetime(2026, 3, 2, 15, 0, tzinfo=CHICAGO), tick=False) as clock:
        first = await client.get(SUMMARY)
        body = await first.json()
        assert first.headers["Cache-Control"] == "public, max-age=60"
        assert first.headers["Age"] == "0"
        assert body["bed_totals"]["free_beds"] == 2

        await _report(conn, unit.id, 10, 4, timedelta(minutes=1))
        clock.shift(59)
        again = await client.get(SUMMARY)
        assert await again.json() == body  # the same answer, generated_at included
        assert again.headers["Age"] == "59"
        page = await client.get("/public")
        assert page.headers["Cache-Control"] == "public, max-age=60"
        assert "<strong>2</strong>" in await page.text()
        assert cache.computations == 1

        clock.shift(2)
        fresh = await (await client.get(SUMMARY)).json()
        assert fresh["bed_totals"]["free_beds"] == 6
        assert fresh["generated_at"] != body["generated_at"]
        assert cache.computations == 2


async def test_the_page_shows_when_the_figures_were_generated_in_central_time(
    client: Any,
) -> None:
    body = await _summary(client)
    html = await (await client.get("/public")).text()
    generated = datetime.fromisoformat(body["generated_at"])
    shown = localtime.format_datetime(generated, CHICAGO)
    assert shown in html and shown.endswith(("CST", "CDT"))
    assert "Central time" in html


async def test_too_many_requests_from_one_address_get_429_with_retry_after(
    aiohttp_client: Any, settings: Settings
) -> None:
    app = create_app(settings.model_copy(update={"trust_proxy_headers": True}))
    client = await aiohttp_client(app)
    mine = {"X-Forwarded-For": "203.0.113.7"}
    with time_machine.travel(datetime(2026, 3, 2, 15, 0, tzinfo=CHICAGO), tick=False) as clock:
        for _ in range(RATE_BURST - 1):
            assert (await client.get(SUMMARY, headers=mine)).status == 200
        assert (await client.get("/public", headers=mine)).status == 200  # one bucket for both
        refused = await client.get(SUMMARY, headers=mine)
        assert refused.status == 429
        assert refused.content_type == "application/problem+json"
        assert refused.headers["Retry-After"] == "2"
        assert refused.headers["Cache-Control"] == "no-store"
        problem = await refused.json()
        assert problem["status"] == 429 and problem["type"].endswith("/rate-limited")
        page = await client.get("/public", headers=mine)
        assert page.status == 429 and page.headers["Retry-After"] == "2"
        assert page.headers["Cache-Control"] == "no-store"
        assert "Too many requests" in await page.text()

        other = await client.get(SUMMARY, headers={"X-Forwarded-For": "198.51.100.20"})
        assert other.status == 200  # another address has its own bucket

        clock.shift(2)  # one token back
        assert (await client.get(SUMMARY, headers=mine)).status == 200
        assert (await client.get(SUMMARY, headers=mine)).status == 429


async def test_a_signed_in_person_gets_the_same_cacheable_page_without_their_account(
    client: Any, make_user: Any
) -> None:
    anonymous = await (await client.get("/public")).text()
    liaison = await make_user(Role.LIAISON, email="named.liaison@example.org")
    await login(client, liaison.email)
    resp = await client.get("/public")
    html = await resp.text()
    assert resp.headers["Cache-Control"] == "public, max-age=60"
    assert "named.liaison@example.org" not in html and "Sign out" not in html
    assert "csrf" not in html.lower()
    assert html == anonymous
    # Every other page of theirs stays no-store.
    assert (await client.get("/board")).headers["Cache-Control"] == "no-store"


async def test_the_sign_in_page_footer_links_to_the_public_summary(client: Any) -> None:
    html = await (await client.get("/login")).text()
    assert '<a href="/public">Public bed summary</a>' in html


async def test_once_regions_are_defined_free_beds_are_grouped_by_region(
    client: Any, conn: Any, make_facility: Any, make_unit: Any
) -> None:
    from bedboard import regions
    from bedboard.public import NOT_IN_A_REGION, REGION_MEANING
    from bedboard.regions import RegionIn

    boone = await make_facility(name="Boone Behavioral", county_fips="29019")
    cole = await make_facility(name="Cole Mental Health", county_fips="29051")
    greene = await make_facility(name="Greene Psychiatric", county_fips="29077")
    a = await make_unit(boone.id, name="Adult A", population="adult")
    b = await make_unit(cole.id, name="Adult B", population="adult")
    teen = await make_unit(greene.id, name="Teens", population="adolescent")
    await _report(conn, a.id, 10, 7, timedelta(minutes=5))  # 3 free, fresh
    await _report(conn, b.id, 10, 8, timedelta(hours=13))  # 2 free, late
    await _report(conn, teen.id, 4, 1, timedelta(minutes=1))  # 3 free, fresh
    central = await regions.create_region(
        conn, RegionIn(name="Central", counties=["29019", "29051"])
    )
    await regions.create_region(conn, RegionIn(name="Eastern", counties=["29189"]))  # no units

    body = await _summary(client)

    assert body["grouped_by"] == "region"
    assert body["region_meaning"] == REGION_MEANING
    assert [
        (g["region"], g["region_id"], g["region_fips"], g["population"], g["units"], g["free_beds"])
        for g in body["beds"]
    ] == [
        ("Central", central.id, None, "adult", 2, 5),  # Boone's 3 and Cole's 2
        (NOT_IN_A_REGION, None, None, "adolescent", 1, 3),  # Greene is in no region
    ]
    assert body["beds"][0]["freshness"]["late"] == 1
    assert body["bed_totals"]["free_beds"] == 8
    html = await (await client.get("/public")).text()
    assert '<th scope="col">Region</th>' in html
    assert (
        '<th scope="row">Central</th>' in html and f'<th scope="row">{NOT_IN_A_REGION}</th>' in html
    )
    assert "Boone County" not in html


async def test_without_regions_free_beds_stay_grouped_by_county(
    client: Any, conn: Any, make_facility: Any, make_unit: Any
) -> None:
    from bedboard import regions
    from bedboard.regions import RegionIn

    boone = await make_facility(name="Boone Behavioral", county_fips="29019")
    await _report(conn, (await make_unit(boone.id)).id, 10, 7, timedelta(minutes=5))
    region = await regions.create_region(conn, RegionIn(name="Central", counties=["29019"]))
    await regions.delete_region(conn, region.id)  # defined, then deleted: none again

    body = await _summary(client)

    assert body["grouped_by"] == "county"
    [group] = body["beds"]
    assert (group["region"], group["region_fips"], group["region_id"]) == ("Boone", "29019", None)
    assert '<th scope="col">County</th>' in await (await client.get("/public")).text()
