"""Browser fixtures: Playwright driving the system Chromium against a live in-process server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, async_playwright, expect

from bedboard import census
from bedboard.app import create_app
from bedboard.settings import Settings

# Generous waits: a loaded 2-core machine runs the server, the database and Chromium at once,
# and a page that takes 6 s to answer is slow, not broken. (Playwright's default is 5 s.)
expect.set_options(timeout=30_000)

CHROMIUM = Path(os.environ.get("BEDBOARD_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_PRESENT = CHROMIUM.exists()
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM_PRESENT:
        message = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
async def live_url(aiohttp_server: Any, settings: Settings) -> str:
    server = await aiohttp_server(create_app(settings))
    return str(server.make_url("")).rstrip("/")


DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def viewport(request: pytest.FixtureRequest) -> dict[str, int]:
    """Every form test runs at a desktop width and at a phone's 390 px."""
    value: dict[str, int] = request.param
    return value


@pytest.fixture
async def late_facility(conn: Any, make_facility: Any, make_unit: Any) -> tuple[Any, Any]:
    """A facility (cadence 60 minutes) whose one unit last reported 3 hours ago: late,
    so overdue for its staff and due a nudge. Its facility and unit."""
    facility = await make_facility(name="Cedar Ridge Behavioral", report_cadence_minutes=60)
    unit = await make_unit(facility.id, name="Adult Acute", population="adult")
    now = await conn.fetchval("SELECT now()")
    await census.apply(
        conn,
        [(unit.id, census.CensusReport(as_of=now - timedelta(hours=3), staffed=10, occupied=9))],
        census.Source("test"),
    )
    return facility, unit


async def assert_no_horizontal_overflow(page: Any) -> None:
    """Nothing sticks out past the right edge (a phone would scroll sideways)."""
    offenders = await page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            if (document.documentElement.scrollWidth <= width) return [];
            return [...document.querySelectorAll('body *')]
              .filter((el) => el.getBoundingClientRect().right > width + 1)
              .slice(0, 5)
              .map((el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                   + (typeof el.className === 'string' && el.className
                      ? '.' + el.className.split(' ').join('.') : ''));
        }"""
    )
    assert offenders == [], f"{page.url} overflows horizontally: {offenders}"


async def record_placement(
    conn: Any, user_id: int, *, initials: str, age: int, sex: str, county_fips: str
) -> int:
    """A placement recorded by the liaison ``user_id`` (a 96-hour detention on application,
    detained now, needs derived from the person), as the pages would record it."""
    from bedboard import auth, placements

    principal = await auth.principal_for_user(conn, user_id)
    assert principal is not None
    return await placements.create(
        conn,
        placements.PlacementIn(
            order_type="emergency_96h_application",
            detention_start=await conn.fetchval("SELECT now()"),
            county_fips=county_fips,
            person=placements.PersonIn(initials=initials, age=age, sex=sex),  # type: ignore[arg-type]
            needs=placements.NeedsIn(),
        ),
        principal,
    )


async def north_and_south(conn: Any, make_facility: Any, make_unit: Any) -> tuple[Any, ...]:
    """Two adult units in Boone County that reported just now: Northgate Behavioral's
    North Adult (2 free) and Southfork Psychiatric's South Adult (1 free). Returns
    (north, north_unit, south, south_unit)."""
    north = await make_facility(name="Northgate Behavioral", county_fips="29019")
    south = await make_facility(name="Southfork Psychiatric", county_fips="29019")
    north_unit = await make_unit(north.id, name="North Adult", population="adult")
    south_unit = await make_unit(south.id, name="South Adult", population="adult")
    now = await conn.fetchval("SELECT now()")
    await census.apply(
        conn,
        [
            (north_unit.id, census.CensusReport(as_of=now, staffed=12, occupied=10)),
            (south_unit.id, census.CensusReport(as_of=now, staffed=12, occupied=11)),
        ],
        census.Source("test"),
    )
    return north, north_unit, south, south_unit
