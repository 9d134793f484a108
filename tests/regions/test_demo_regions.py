"""The demo's five regions: labelled as demo data, every county in exactly one, seeded on
the demo's first start only (an administrator's later changes are kept)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bedboard import demo, facilities, regions


async def test_the_demo_regions_cover_every_county_once_and_say_they_are_demo_data(
    conn: Any,
) -> None:
    await demo.load_regions(conn)
    found = await regions.list_regions(conn)
    assert [r.name for r in found] == [
        "Central (demo)",
        "Eastern (demo)",
        "Northwest (demo)",
        "Southeast (demo)",
        "Southwest (demo)",
    ]
    counties = [c.fips for r in found for c in r.counties]
    assert sorted(counties) == sorted(c.fips for c in await facilities.list_counties(conn))
    by_name = {r.name: {c.name for c in r.counties} for r in found}
    assert {"St. Louis", "St. Louis City"} <= by_name["Eastern (demo)"]
    assert "Boone" in by_name["Central (demo)"] and "Jackson" in by_name["Northwest (demo)"]
    assert "Greene" in by_name["Southwest (demo)"]
    assert "Cape Girardeau" in by_name["Southeast (demo)"]


async def test_the_demo_seeds_its_regions_on_first_start_only(conn: Any, tmp_path: Path) -> None:
    await demo.ensure_demo(conn, tmp_path)
    first = await regions.list_regions(conn)
    assert len(first) == 5
    # An administrator's change (of a region without the demo supervisor, who keeps theirs).
    doomed = next(r for r in first if r.name != demo.SUPERVISOR_REGION)
    await regions.delete_region(conn, doomed.id)
    await demo.ensure_demo(conn, tmp_path)
    kept = [r.name for r in first if r.id != doomed.id]
    assert [r.name for r in await regions.list_regions(conn)] == kept


async def test_the_demo_supervisor_leads_central_and_an_older_demo_gains_one(
    conn: Any, tmp_path: Path
) -> None:
    creds = await demo.ensure_demo(conn, tmp_path)
    lead = next(c for c in creds if c.role == "supervisor")
    assert lead.email == f"supervisor@{demo.DEMO_DOMAIN}" and lead.password.startswith("demo-")
    row = await conn.fetchrow(
        "SELECT r.name FROM users u JOIN regions r ON r.id = u.region_id WHERE u.email = $1",
        lead.email,
    )
    assert row["name"] == demo.SUPERVISOR_REGION
    # A demo loaded before supervisors existed: the next start adds one and prints it.
    await conn.execute("DELETE FROM users WHERE email = $1", lead.email)
    again = await demo.ensure_demo(conn, tmp_path)
    assert [c.role for c in again].count("supervisor") == 1
    assert await conn.fetchval("SELECT count(*) FROM users WHERE role = 'supervisor'") == 1
    assert demo._read_credentials(tmp_path) == again
