"""The region filter against the small world of conftest.py, moved so that it spans two
regions: Beta Hospital and placement P3 are in Greene county (Southwest), everything
else stays in Boone (Central). Every expected number is worked out by hand from
conftest.py: a placement figure narrows by the placement's county, a referral or unit
figure by the facility's, the no-bed figures by the placement's county when recorded;
the roll-ups give the same numbers; CSV and JSON agree."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from bedboard import facilities, nobed, regions, reports
from bedboard.facilities import FacilityPatch
from bedboard.regions import RegionIn
from bedboard.reports import Filters, rollups
from tests.reports.conftest import World
from tests.reports.test_figures import AUTUMN, ZONE, liaison, rows

BOONE, COLE, GREENE, JASPER = "29019", "29051", "29077", "29097"


@pytest.fixture
async def areas(conn: Any, world: World) -> dict[str, int]:
    await facilities.update_facility(conn, world.b.id, FacilityPatch(county_fips=GREENE))
    await conn.execute(
        "UPDATE placements SET county_fips = $2 WHERE id = $1", world.placements["P3"], GREENE
    )
    central = await regions.create_region(conn, RegionIn(name="Central", counties=[BOONE, COLE]))
    southwest = await regions.create_region(
        conn, RegionIn(name="Southwest", counties=[GREENE, JASPER])
    )
    empty = await regions.create_region(conn, RegionIn(name="Northwest"))
    return {"central": central.id, "southwest": southwest.id, "empty": empty.id}


async def test_placement_figures_narrow_by_the_placements_county(
    conn: Any, world: World, areas: dict[str, int]
) -> None:
    # Central: P1 and P2 in October, P4 in November. Southwest: P3 only (order expired).
    october, november = await rows(conn, "outcomes", region=areas["central"])
    assert (october["requests"], october["admitted"], october["order_expired"]) == (2, 2, 0)
    assert (november["requests"], november["released"]) == (1, 1)
    (october,) = await rows(conn, "outcomes", region=areas["southwest"])
    assert (october["month"], october["requests"], october["order_expired"]) == ("2026-10", 1, 1)
    (custody,) = await rows(conn, "custody-hours", region=areas["southwest"])
    assert (custody["placements"], custody["waiting_total_h"]) == (1, 96.0)  # P3: 96 h
    counts = await rows(conn, "program-counts", region=areas["central"])
    assert {(r["month"], r["court"]): r["placements"] for r in counts} == {
        ("2026-10", "Boone Probate"): 2,
        ("2026-11", "Boone Probate"): 1,
    }
    assert await rows(conn, "outcomes", region=areas["empty"]) == []
    assert await rows(conn, "outcomes", region=999_999) == []  # no such region: nothing


async def test_referral_figures_narrow_by_the_facilitys_county(
    conn: Any, world: World, areas: dict[str, int]
) -> None:
    # Beta (Greene) received P1's accepted referral and P3's unanswered one.
    (beta,) = await rows(conn, "referrals", region=areas["southwest"])
    assert (beta["facility"], beta["referrals"], beta["accepted"], beta["never_answered"]) == (
        "Beta Hospital", 2, 1, 1,
    )  # fmt: skip
    (alpha,) = await rows(conn, "referrals", region=areas["central"])
    assert (alpha["facility"], alpha["referrals"], alpha["declined"]) == ("Alpha Hospital", 3, 2)
    assert await rows(conn, "declines", region=areas["southwest"]) == []
    assert len(await rows(conn, "declines", region=areas["central"])) == 2


async def test_the_county_and_the_region_filters_together_keep_what_both_allow(
    conn: Any, world: World, areas: dict[str, int]
) -> None:
    assert await rows(conn, "outcomes", region=areas["southwest"], county=BOONE) == []
    (october,) = await rows(conn, "outcomes", region=areas["southwest"], county=GREENE)
    assert october["requests"] == 1


async def _unit_figures(conn: Any, areas: dict[str, int]) -> None:
    day = {"from": "2026-10-10", "to": "2026-10-10"}
    (beta,) = await rows(conn, "compliance", **day, region=areas["southwest"])
    assert (beta["facility"], beta["units"], beta["never"]) == ("Beta Hospital", 1, 1.0)
    (alpha,) = await rows(conn, "compliance", **day, region=areas["central"])
    assert (alpha["facility"], alpha["fresh"], alpha["overdue_episodes"]) == (
        "Alpha Hospital", 0.0625, 2,
    )  # fmt: skip
    assert await rows(conn, "compliance", **day, region=areas["empty"]) == []
    (southwest,) = await rows(conn, "capacity", **day, region=areas["southwest"])
    assert (southwest["units_reported"], southwest["staffed"]) == (0, 0)  # b1 never reported
    (central,) = await rows(conn, "capacity", **day, region=areas["central"])
    assert (central["units_reported"], central["staffed"], central["available"]) == (1, 10, 2)


async def test_unit_figures_narrow_by_the_facilitys_county_live(
    conn: Any, world: World, areas: dict[str, int]
) -> None:
    await _unit_figures(conn, areas)


async def test_the_rolled_up_figures_honour_the_region_too(
    conn: Any, world: World, areas: dict[str, int]
) -> None:
    assert await rollups.refresh(conn, ZONE) is not None
    report = await reports.run(
        conn, "capacity", Filters.model_validate({"region": areas["central"]}), liaison(),
        zone_name=ZONE,
    )  # fmt: skip
    assert report.data_as_of is not None, "read from the roll-ups"
    await _unit_figures(conn, areas)


async def test_the_no_bed_figures_narrow_by_the_placements_county(
    conn: Any, world: World, areas: dict[str, int]
) -> None:
    assert await nobed.record(conn, world.placements["P3"], nobed.Trigger.CLOSED) is not None
    assert await nobed.record(conn, world.placements["P4"], nobed.Trigger.CLOSED) is not None
    (october,) = await rows(conn, "no-bed", region=areas["southwest"])
    assert (october["month"], october["county"], october["placements"]) == ("2026-10", "Greene", 1)
    (november,) = await rows(conn, "no-bed", region=areas["central"])
    assert (november["county"], november["placements"]) == ("Boone", 1)
    (quarter,) = await rows(conn, "no-bed-quarterly", region=areas["southwest"])
    assert (quarter["placements"], quarter["counties"], quarter["reasons"]) == (1, "Greene (1)", "")
    (statewide,) = await rows(conn, "no-bed-quarterly")
    assert (statewide["placements"], statewide["counties"]) == (2, "Boone (1), Greene (1)")
    assert await rows(conn, "no-bed", region=areas["empty"]) == []


async def test_csv_and_json_agree_with_the_region_filter(
    client: Any, world: World, areas: dict[str, int], make_user: Any, make_token: Any
) -> None:
    account = await make_user("liaison")
    auth = {"Authorization": f"Bearer {await make_token(account.id)}"}
    query = f"from={AUTUMN['from']}&to={AUTUMN['to']}&region={areas['southwest']}"
    for slug in reports.FIGURES:
        answer = await client.get(f"/api/v1/reports/{slug}?{query}", headers=auth)
        assert answer.status == 200, slug
        body = await answer.json()
        assert body["filters"]["region"] == str(areas["southwest"])
        download = await client.get(f"/api/v1/reports/{slug}?{query}&format=csv", headers=auth)
        table = list(csv.reader(io.StringIO(await download.text(), newline="")))
        assert table[0] == [c["label"] for c in body["columns"]]
        assert table[1:] == [
            ["" if row[c["key"]] is None else str(row[c["key"]]) for c in body["columns"]]
            for row in body["rows"]
        ], slug
    outcomes = await client.get(f"/api/v1/reports/outcomes?{query}", headers=auth)
    assert [r["requests"] for r in (await outcomes.json())["rows"]] == [1]


async def test_a_bad_region_is_a_422_problem(
    client: Any, world: World, make_user: Any, make_token: Any
) -> None:
    account = await make_user("liaison")
    auth = {"Authorization": f"Bearer {await make_token(account.id)}"}
    for bad in ("central", "0", "-1", "1.5"):
        answer = await client.get(f"/api/v1/reports/outcomes?region={bad}", headers=auth)
        assert answer.status == 422, bad
        assert answer.content_type == "application/problem+json"


async def test_the_reports_page_offers_the_region_select_only_when_regions_exist(
    client: Any, conn: Any, world: World, make_user: Any, sign_in: Any
) -> None:
    await sign_in(await make_user("liaison"))
    page = await (await client.get("/reports/outcomes")).text()
    assert 'name="region"' not in page
    region = await regions.create_region(conn, RegionIn(name="Central", counties=[BOONE]))
    page = await (await client.get(f"/reports/outcomes?region={region.id}")).text()
    assert 'name="region"' in page and "Central" in page
