"""The reports as people and programs reach them: the pages (filters in the address,
chart, table, CSV), the JSON API, and who may open which."""

from __future__ import annotations

import base64
import csv
import io
from typing import Any

import pytest

from bedboard import census
from tests.reports.conftest import World

AUTUMN = "from=2026-10-01&to=2026-11-30"


async def test_a_liaison_opens_a_figure_with_its_chart_table_and_csv(
    client: Any, world: World, make_user: Any, sign_in: Any
) -> None:
    await sign_in(await make_user("liaison"))
    index = await client.get("/reports")
    assert index.status == 200
    text = await index.text()
    for title in ("Time to placement", "Referrals and response times", "Reporter compliance"):
        assert title in text
    page = await client.get(f"/reports/time-to-placement?{AUTUMN}")
    html = await page.text()
    assert page.status == 200, html
    assert "October 2026" in html and "2.5\u00a0h" in html and "66.7\u00a0%" in html
    # The chart is drawn from the same rows as the table and embedded as an image.
    src = html.split('<img src="', 1)[1].split('"', 1)[0]
    assert src.startswith("data:image/svg+xml;base64,")
    svg = base64.b64decode(src.split(",", 1)[1])
    assert b"<svg" in svg and b"Request to admission, median (h)" in svg
    assert b"October 2026" in svg
    assert 'media="(max-width: 600px)" srcset="data:image/svg+xml;base64,' in html
    download = await client.get(f"/reports/time-to-placement?{AUTUMN}&format=csv")
    assert download.status == 200 and download.content_type == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(await download.text(), newline="")))
    assert table[0][0] == "Month" and [r[0] for r in table[1:]] == ["2026-10", "2026-11"]


async def test_a_bad_filter_is_a_sentence_next_to_the_field(
    client: Any, world: World, make_user: Any, sign_in: Any
) -> None:
    await sign_in(await make_user("liaison"))
    page = await client.get("/reports/outcomes?from=2026-11-30&to=2026-10-01")
    assert page.status == 422
    assert "must not be after" in await page.text()
    page = await client.get("/reports/outcomes?from=yesterday")
    assert page.status == 422
    assert 'id="f-from-error"' in await page.text()


async def test_the_api_answers_json_csv_and_problems(
    client: Any, world: World, make_user: Any, make_token: Any
) -> None:
    account = await make_user("liaison")
    auth = {"Authorization": f"Bearer {await make_token(account.id)}"}
    listed = await client.get("/api/v1/reports", headers=auth)
    assert len((await listed.json())["figures"]) == 16
    answer = await client.get(f"/api/v1/reports/outcomes?{AUTUMN}", headers=auth)
    body = await answer.json()
    assert answer.status == 200, body
    assert body["from"] == "2026-10-01" and body["time_zone"] == "America/Chicago"
    assert [r["requests"] for r in body["rows"]] == [3, 1]
    as_csv = await client.get(f"/api/v1/reports/outcomes?{AUTUMN}&format=csv", headers=auth)
    assert as_csv.content_type == "text/csv"
    lines = (await as_csv.text()).split("\r\n")
    assert lines[1].startswith("2026-10,3,2,")
    missing = await client.get("/api/v1/reports/nonsense", headers=auth)
    assert missing.status == 404 and missing.content_type == "application/problem+json"
    bad = await client.get("/api/v1/reports/outcomes?county=boone", headers=auth)
    assert bad.status == 422 and bad.content_type == "application/problem+json"
    unknown = await client.get("/api/v1/reports/outcomes?colour=red", headers=auth)
    assert unknown.status == 422
    anonymous = await client.get("/api/v1/reports/outcomes")
    assert anonymous.status == 401


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        ("viewer", ["capacity"], ["outcomes", "referrals", "program-counts"]),
        ("court", ["outcomes", "custody-hours", "capacity"], ["referrals", "compliance"]),
        ("facility", ["referrals", "declines", "compliance"], ["program-counts", "custody-hours"]),
    ],
)
async def test_each_role_opens_only_its_figures(
    client: Any,
    conn: Any,
    world: World,
    make_user: Any,
    sign_in: Any,
    role: str,
    allowed: list[str],
    refused: list[str],
) -> None:
    kwargs: dict[str, Any] = {}
    if role == "court":
        kwargs["court_id"] = world.court.id
    if role == "facility":
        kwargs["facility_ids"] = [world.a.id]
        # Its numbers current: an overdue facility's staff are sent to the census form first.
        now = await conn.fetchval("SELECT now()")
        report = census.CensusReport(as_of=now, staffed=10, occupied=7)
        await census.apply(conn, [(world.a1.id, report)], census.Source("test"))
    await sign_in(await make_user(role, **kwargs))
    index = await (await client.get("/reports")).text()
    for slug in allowed:
        assert f'href="/reports/{slug}"' in index
        assert (await client.get(f"/reports/{slug}?{AUTUMN}")).status == 200
    for slug in refused:
        assert f'href="/reports/{slug}"' not in index
        assert (await client.get(f"/reports/{slug}?{AUTUMN}")).status == 403
        page = await client.get(f"/reports/{slug}?{AUTUMN}&format=csv")
        assert page.status == 403  # nor as CSV


async def test_no_report_carries_person_level_data(
    client: Any, world: World, make_user: Any, sign_in: Any, conn: Any
) -> None:
    await conn.execute(
        "UPDATE placements SET person_initials = 'QZX', case_number = '26-CANARY-01',"
        " clinical_notes = 'canary clinical text'"
    )
    await sign_in(await make_user("admin"))
    from bedboard.reports import FIGURES

    for slug in FIGURES:
        for suffix in ("", "&format=csv"):
            text = await (await client.get(f"/reports/{slug}?{AUTUMN}{suffix}")).text()
            assert "QZX" not in text and "CANARY" not in text and "canary" not in text


async def test_a_rolled_up_figure_says_how_current_it_is(
    client: Any, conn: Any, world: World, make_user: Any, sign_in: Any, make_token: Any
) -> None:
    from bedboard.reports import rollups

    account = await make_user("liaison")
    await sign_in(account)
    page = await client.get(f"/reports/capacity?{AUTUMN}")
    assert "computed " in await page.text()  # no roll-up yet: from the records
    done = await rollups.refresh(conn, "America/Chicago")
    assert done is not None
    page = await client.get(f"/reports/capacity?{AUTUMN}")
    html = await page.text()
    assert page.status == 200 and "includes census reports received up to" in html
    token = await make_token(account.id)
    answer = await client.get(
        f"/api/v1/reports/compliance?{AUTUMN}", headers={"Authorization": f"Bearer {token}"}
    )
    body = await answer.json()
    assert answer.status == 200 and body["data_as_of"] is not None
