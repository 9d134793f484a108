"""Corrections of no-bed records (issue 12): the record stays as it was frozen, a
correction is a new row, the latest wins, and the aggregates count the corrected record.

The fixture, counted by hand (every record a ``deadline_passed`` one at its deadline, 96
hours after the detention start; Central time is UTC-6 in winter):

====  ======  ================  =================  ===========================
name  county  deadline (UTC)    local (Chicago)    declines
====  ======  ================  =================  ===========================
q1    Boone   2025-01-09 12:00  Jan 9              Hillcrest: no_bed
q2    Boone   2025-02-14 00:00  Feb 13 18:00       —
q3    Cole    2025-01-14 00:00  Jan 13 18:00       Lakeside: payer
q4    Boone   2025-04-02 00:00  Apr 1 (Q2)         — (then closed, order expired: now)
====  ======  ================  =================  ===========================

Uncorrected, over [2025-01-01, 2025-07-01) Chicago: January Boone 1 (q1), Cole 1 (q3);
February Boone 1 (q2); April Boone 1 (q4). Q1: 3 (Boone 2, Cole 1); Q2: 1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from bedboard import localtime, nobed, placements
from bedboard.auth import Role
from bedboard.nobed import CorrectionIn
from tests.conftest import login
from tests.placements.conftest import World

CHICAGO = ZoneInfo("America/Chicago")
START = datetime(2025, 1, 1, tzinfo=CHICAGO)
END = datetime(2025, 7, 1, tzinfo=CHICAGO)
BOONE, COLE, ADAIR = "29019", "29051", "29001"
FROZEN = datetime(2025, 8, 1, 15, 30, tzinfo=UTC)  # 10:30 in Chicago (CDT)


@pytest.fixture
async def fx(world: World) -> dict[str, Any]:
    async def placement(deadline: str, county: str, decline: tuple[str, str, str] | None) -> int:
        start = (datetime.fromisoformat(deadline) - timedelta(hours=96)).isoformat()
        pid: int = (await world.create(detention_start=start, county_fips=county))["id"]
        if decline is not None:
            unit, who, reason = decline
            (ref,) = await world.refer(pid, unit)
            resp = await world.call(
                who, "POST", f"/api/v1/referrals/{ref}/decline", json={"reason": reason}
            )
            assert resp.status == 200, await resp.text()
        return pid

    ids = {
        "q1": await placement("2025-01-09T12:00:00+00:00", BOONE, ("a1", "facility_a", "no_bed")),
        "q2": await placement("2025-02-14T00:00:00+00:00", BOONE, None),
        "q3": await placement("2025-01-14T00:00:00+00:00", COLE, ("b1", "facility_b", "payer")),
        "q4": await placement("2025-04-02T00:00:00+00:00", BOONE, None),
    }
    now = await world.conn.fetchval("SELECT now()")
    assert await placements.record_passed_deadlines(world.conn, now) == 4
    closed = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{ids['q4']}/transition",
        json={"to": "closed", "outcome": "order_expired"},
    )
    assert closed.status == 200, await closed.text()
    reports = {
        name: (await nobed.for_placement(world.conn, pid))[0].id for name, pid in ids.items()
    }
    return {"ids": ids, "reports": reports, "now": now}


def _url(fx: dict[str, Any], name: str) -> str:
    return f"/api/v1/placements/{fx['ids'][name]}/no-bed/{fx['reports'][name]}/correction"


async def _correct(world: World, fx: dict[str, Any], name: str, **body: Any) -> Any:
    resp = await world.call("liaison", "POST", _url(fx, name), json=body)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _months(world: World) -> dict[tuple[str, str], int]:
    rows = await nobed.by_county_month(world.conn, START, END, "America/Chicago")
    return {(r.month.strftime("%Y-%m"), r.county_fips): r.count for r in rows}


async def _quarters(world: World) -> list[tuple[int, int, dict[str, int]]]:
    rows = await nobed.quarterly_totals(world.conn, START, END, "America/Chicago")
    return [(q.quarter, q.count, {c.county_fips: c.count for c in q.counties}) for q in rows]


UNCORRECTED_MONTHS = {
    ("2025-01", BOONE): 1,
    ("2025-01", COLE): 1,
    ("2025-02", BOONE): 1,
    ("2025-04", BOONE): 1,
}


async def test_the_fixture_counts_as_counted_by_hand(world: World, fx: dict[str, Any]) -> None:
    assert await _months(world) == UNCORRECTED_MONTHS
    assert await _quarters(world) == [(1, 3, {BOONE: 2, COLE: 1}), (2, 1, {BOONE: 1})]


# --------------------------------------------------------------------------- the counts


async def test_a_retracted_record_drops_out_of_the_months_and_the_quarters(
    world: World, fx: dict[str, Any]
) -> None:
    await _correct(world, fx, "q1", kind="retract", reason="entered_in_error")
    assert await _months(world) == {
        ("2025-01", COLE): 1,
        ("2025-02", BOONE): 1,
        ("2025-04", BOONE): 1,
    }
    assert await _quarters(world) == [(1, 2, {BOONE: 1, COLE: 1}), (2, 1, {BOONE: 1})]
    # Its declines go with it: q1's Hillcrest no_bed is no longer counted.
    (q1,) = [
        q for q in await nobed.quarterly_totals(world.conn, START, END, "UTC") if q.quarter == 1
    ]
    assert q1.reasons == {"payer": 1}
    assert [f.name for f in q1.refusing_facilities] == ["Lakeside Psychiatric"]


async def test_an_amended_county_moves_the_count(world: World, fx: dict[str, Any]) -> None:
    await _correct(world, fx, "q3", kind="amend", reason="wrong_county", county_fips=BOONE)
    assert await _months(world) == {
        ("2025-01", BOONE): 2,
        ("2025-02", BOONE): 1,
        ("2025-04", BOONE): 1,
    }
    assert await _quarters(world) == [(1, 3, {BOONE: 3}), (2, 1, {BOONE: 1})]


async def test_a_second_correction_wins_over_the_first(world: World, fx: dict[str, Any]) -> None:
    await _correct(world, fx, "q3", kind="amend", reason="wrong_county", county_fips=BOONE)
    await _correct(world, fx, "q3", kind="amend", reason="wrong_county", county_fips=ADAIR)
    assert await _months(world) == {
        ("2025-01", BOONE): 1,
        ("2025-01", ADAIR): 1,
        ("2025-02", BOONE): 1,
        ("2025-04", BOONE): 1,
    }
    # A retraction, then an amendment: counted again; an amendment, then a retraction: not.
    await _correct(world, fx, "q2", kind="retract", reason="admitted_elsewhere")
    assert ("2025-02", BOONE) not in await _months(world)
    await _correct(world, fx, "q2", kind="amend", reason="other", age_band="65+")
    assert (await _months(world))[("2025-02", BOONE)] == 1
    await _correct(world, fx, "q3", kind="retract", reason="other")
    assert await _quarters(world) == [(1, 2, {BOONE: 2}), (2, 1, {BOONE: 1})]


async def test_a_placement_whose_first_record_is_retracted_counts_at_its_next(
    world: World, fx: dict[str, Any]
) -> None:
    now: datetime = fx["now"]
    await _correct(world, fx, "q4", kind="retract", reason="entered_in_error")
    assert ("2025-04", BOONE) not in await _months(world)
    # q4's other record (closed, order expired, just now) now counts it, once.
    around_now = await nobed.by_county_month(
        world.conn, now - timedelta(days=1), now + timedelta(days=1), "America/Chicago"
    )
    assert [(r.county_fips, r.count, r.triggers) for r in around_now] == [(BOONE, 1, {"closed": 1})]


async def test_the_no_bed_report_figures_read_the_corrected_records(
    world: World, fx: dict[str, Any]
) -> None:
    from bedboard.reports.figures import FIGURES

    await _correct(world, fx, "q1", kind="retract", reason="entered_in_error")
    await _correct(world, fx, "q3", kind="amend", reason="wrong_county", county_fips=BOONE)
    figure = FIGURES["no-bed"]
    assert figure.computed is not None
    rows = await figure.computed(world.conn, START, END, "America/Chicago", None)
    assert [(r["month"], r["county"], r["placements"]) for r in rows] == [
        ("2025-01", "Boone", 1),
        ("2025-02", "Boone", 1),
        ("2025-04", "Boone", 1),
    ]
    quarterly = FIGURES["no-bed-quarterly"]
    assert quarterly.computed is not None
    cole = await quarterly.computed(world.conn, START, END, "America/Chicago", COLE)
    assert cole == []


# --------------------------------------------------------------------------- the record


async def test_the_snapshot_row_is_byte_for_byte_unchanged(
    world: World, fx: dict[str, Any]
) -> None:
    report_id = fx["reports"]["q3"]
    sql = "SELECT xmin::text AS version, n::text AS row FROM no_bed_reports n WHERE id = $1"
    before = await world.conn.fetchrow(sql, report_id)
    await _correct(world, fx, "q3", kind="amend", reason="wrong_county", county_fips=BOONE)
    await _correct(world, fx, "q3", kind="retract", reason="other")
    after = await world.conn.fetchrow(sql, report_id)
    assert dict(after) == dict(before)  # same text, same row version: never rewritten
    (report,) = await nobed.for_placement(world.conn, fx["ids"]["q3"])
    assert report.county_fips == COLE


async def test_the_database_refuses_to_change_or_remove_a_correction(
    world: World, fx: dict[str, Any]
) -> None:
    await _correct(world, fx, "q1", kind="retract", reason="entered_in_error")
    for sql in (
        "UPDATE no_bed_corrections SET reason = 'other'",
        "DELETE FROM no_bed_corrections",
        "TRUNCATE no_bed_corrections",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await world.conn.execute(sql)
    assert await world.conn.fetchval("SELECT count(*) FROM no_bed_corrections") == 1


async def test_the_database_refuses_fields_that_do_not_fit_the_kind(
    world: World, fx: dict[str, Any]
) -> None:
    insert = (
        "INSERT INTO no_bed_corrections (no_bed_report_id, corrected_by, kind, reason,"
        " county_fips, order_type, age_band) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    report, user = fx["reports"]["q1"], world.ids["user_liaison"]
    for args in (
        ("retract", "entered_in_error", BOONE, None, None),
        ("amend", "wrong_county", BOONE, None, "26-44"),
        ("amend", "admitted_elsewhere", BOONE, "emergency_96h", "26-44"),
    ):
        with pytest.raises(asyncpg.CheckViolationError):
            await world.conn.execute(insert, report, user, *args)


async def test_the_frozen_clock_stamps_the_correction(world: World, fx: dict[str, Any]) -> None:
    liaison = await placements_principal(world)
    done = await nobed.correct(
        world.conn,
        fx["ids"]["q1"],
        fx["reports"]["q1"],
        CorrectionIn(kind="retract", reason="entered_in_error"),  # type: ignore[arg-type]
        liaison,
        now=FROZEN,
    )
    assert done.body["corrections"][0]["created_at"] == "2025-08-01T15:30:00Z"


async def placements_principal(world: World) -> Any:
    from bedboard import auth

    return await auth.principal_for_user(world.conn, world.ids["user_liaison"])


# --------------------------------------------------------------------------- the API


async def test_the_api_lists_each_record_with_its_snapshot_corrections_and_effective_values(
    world: World, fx: dict[str, Any]
) -> None:
    first = await _correct(world, fx, "q3", kind="amend", reason="wrong_county", county_fips=BOONE)
    assert first["effective"]["county_fips"] == BOONE
    await _correct(
        world, fx, "q3", kind="amend", reason="entered_in_error", age_band="65+", payer=None
    )
    pid = fx["ids"]["q3"]
    resp = await world.call("liaison", "GET", f"/api/v1/placements/{pid}/no-bed")
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    (item,) = body["items"]
    assert body["placement_id"] == pid
    assert item["report"]["county_fips"] == COLE and item["report"]["age_band"] == "26-44"
    assert [
        (c["kind"], c["reason"], c["county_fips"], c["age_band"]) for c in item["corrections"]
    ] == [
        ("amend", "wrong_county", BOONE, "26-44"),
        ("amend", "entered_in_error", BOONE, "65+"),  # the first amendment's county kept
    ]
    assert item["effective"] == {
        "counted": True,
        "county_fips": BOONE,
        "county_name": "Boone",
        "order_type": "emergency_96h",
        "age_band": "65+",
        "payer": None,
    }
    audit = await world.conn.fetch(
        "SELECT actor_id, object_id, detail FROM audit_log"
        " WHERE action = 'placement.no_bed_correction' ORDER BY id"
    )
    assert [(a["actor_id"], a["object_id"], a["detail"]["fields"]) for a in audit] == [
        (world.ids["user_liaison"], str(pid), ["county_fips"]),
        (world.ids["user_liaison"], str(pid), ["age_band"]),
    ]
    assert (
        await world.conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'placement.no_bed.read'"
        )
        == 1
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "undo", "reason": "other"}, "kind"),
        ({"kind": "retract"}, "reason"),
        ({"kind": "retract", "reason": "because I said so"}, "reason"),
        ({"kind": "retract", "reason": "other", "note": "admitted at St. Mary's"}, "note"),
        ({"kind": "retract", "reason": "wrong_county"}, "reason"),
        ({"kind": "retract", "reason": "other", "county_fips": BOONE}, "county_fips"),
        ({"kind": "amend", "reason": "other"}, "kind"),
        ({"kind": "amend", "reason": "admitted_elsewhere", "county_fips": BOONE}, "reason"),
        ({"kind": "amend", "reason": "wrong_county", "age_band": "65+"}, "county_fips"),
        ({"kind": "amend", "reason": "wrong_county", "county_fips": COLE}, "county_fips"),
        ({"kind": "amend", "reason": "other", "county_fips": "99999"}, "county_fips"),
        ({"kind": "amend", "reason": "other", "county_fips": "Boone"}, "county_fips"),
        ({"kind": "amend", "reason": "wrong_order_type", "order_type": "nope"}, "order_type"),
        ({"kind": "amend", "reason": "other", "order_type": None}, "order_type"),
        ({"kind": "amend", "reason": "other", "age_band": "30-40"}, "age_band"),
        ({"kind": "amend", "reason": "other", "payer": "cash"}, "payer"),
    ],
)
async def test_a_bad_correction_is_a_422_problem_naming_the_field(
    world: World, fx: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    resp = await world.call("liaison", "POST", _url(fx, "q3"), json=body)
    assert resp.status == 422, await resp.text()
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert field in str(problem), problem
    assert await world.conn.fetchval("SELECT count(*) FROM no_bed_corrections") == 0


async def test_a_record_not_of_that_placement_is_a_404(world: World, fx: dict[str, Any]) -> None:
    body = {"kind": "retract", "reason": "other"}
    other = f"/api/v1/placements/{fx['ids']['q1']}/no-bed/{fx['reports']['q3']}/correction"
    for url in (
        other,
        f"/api/v1/placements/{fx['ids']['q1']}/no-bed/987654/correction",
        f"/api/v1/placements/987654/no-bed/{fx['reports']['q3']}/correction",
        f"/api/v1/placements/{fx['ids']['q1']}/no-bed/abc/correction",
    ):
        resp = await world.call("liaison", "POST", url, json=body)
        assert resp.status == 404, (url, await resp.text())
        assert resp.content_type == "application/problem+json"
    missing = await world.call("liaison", "GET", "/api/v1/placements/987654/no-bed")
    assert missing.status == 404
    assert await world.conn.fetchval("SELECT count(*) FROM no_bed_corrections") == 0


async def test_retracting_a_retracted_record_is_a_409(world: World, fx: dict[str, Any]) -> None:
    await _correct(world, fx, "q1", kind="retract", reason="entered_in_error")
    again = await world.call(
        "liaison", "POST", _url(fx, "q1"), json={"kind": "retract", "reason": "other"}
    )
    assert again.status == 409 and again.content_type == "application/problem+json"
    assert await world.conn.fetchval("SELECT count(*) FROM no_bed_corrections") == 1


async def test_an_idempotency_key_replays_the_first_answer(
    world: World, fx: dict[str, Any]
) -> None:
    body = {"kind": "amend", "reason": "wrong_county", "county_fips": BOONE}
    key = {"Idempotency-Key": "fix-q3-county"}
    first = await world.call("liaison", "POST", _url(fx, "q3"), json=body, headers=key)
    again = await world.call("liaison", "POST", _url(fx, "q3"), json=body, headers=key)
    assert (first.status, again.status) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert await again.json() == await first.json()
    assert await world.conn.fetchval("SELECT count(*) FROM no_bed_corrections") == 1
    reused = await world.call(
        "liaison",
        "POST",
        _url(fx, "q3"),
        json={"kind": "retract", "reason": "other"},
        headers=key,
    )
    assert reused.status == 422 and reused.content_type == "application/problem+json"
    assert await world.conn.fetchval("SELECT count(*) FROM no_bed_corrections") == 1


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("facility_a", 403),  # the receiving facility: the answer of any write
        ("facility_b", 404),
        ("court", 404),
        ("other_court", 404),
        ("viewer", 404),
        ("anonymous", 401),
        ("admin", 201),
    ],
)
async def test_only_liaisons_and_admins_may_correct(
    world: World, fx: dict[str, Any], role: str, status: int
) -> None:
    (ref,) = await world.refer(fx["ids"]["q2"], "a1")  # q2 referred to facility a
    assert ref
    resp = await world.call(
        role, "POST", _url(fx, "q2"), json={"kind": "retract", "reason": "other"}
    )
    assert resp.status == status, await resp.text()
    listed = await world.call(role, "GET", f"/api/v1/placements/{fx['ids']['q2']}/no-bed")
    assert listed.status == (200 if status == 201 else status)
    expected = 1 if status == 201 else 0
    assert await world.conn.fetchval("SELECT count(*) FROM no_bed_corrections") == expected


# --------------------------------------------------------------------------- the page


async def test_a_liaison_corrects_a_record_on_the_placement_page(
    world: World, fx: dict[str, Any], client: Any, make_user: Any
) -> None:
    pid, report_id = fx["ids"]["q3"], fx["reports"]["q3"]
    liaison = await make_user(Role.LIAISON)
    session = await login(client, liaison.email)
    html = await (await client.get(f"/placements/{pid}")).text()
    action = f'action="/placements/{pid}/no-bed/{report_id}/correction"'
    assert action in html and "Correct this record" in html
    assert f'<option value="{COLE}" selected>' in html  # the effective county, preset

    form = {
        "csrf_token": session.csrf,
        "kind": "amend",
        "reason": "wrong_county",
        "county_fips": COLE,  # unchanged: wrong_county must change it
        "order_type": "emergency_96h",
        "age_band": "26-44",
        "payer": "",
    }
    refused = await client.post(f"/placements/{pid}/no-bed/{report_id}/correction", data=form)
    assert refused.status == 422
    text = await refused.text()
    assert f'id="correct-{report_id}-county_fips-error">Choose the correct county.</p>' in text
    assert await world.conn.fetchval("SELECT count(*) FROM no_bed_corrections") == 0

    done = await client.post(
        f"/placements/{pid}/no-bed/{report_id}/correction",
        data={**form, "county_fips": BOONE},
        allow_redirects=False,
    )
    assert done.status == 303, await done.text()
    html = await (await client.get(done.headers["Location"])).text()
    assert "Correction recorded" in html
    assert "(recorded: 29051)" in html and 'data-correction-kind="amend"' in html
    created = await world.conn.fetchval("SELECT created_at FROM no_bed_corrections")
    shown = localtime.format_datetime(created, CHICAGO)  # e.g. "Dec 2, 2026 10:41 AM CST"
    assert shown.endswith(("CST", "CDT"))
    assert f'<time datetime="{created.isoformat()}">{shown}</time> · {liaison.email}' in html


async def test_a_retraction_on_the_page_with_a_mismatched_reason_says_so_next_to_it(
    world: World, fx: dict[str, Any], client: Any, make_user: Any
) -> None:
    pid, report_id = fx["ids"]["q1"], fx["reports"]["q1"]
    liaison = await make_user(Role.LIAISON)
    session = await login(client, liaison.email)
    resp = await client.post(
        f"/placements/{pid}/no-bed/{report_id}/correction",
        data={"csrf_token": session.csrf, "kind": "retract", "reason": "wrong_county"},
    )
    assert resp.status == 422
    text = await resp.text()
    assert (
        f'id="correct-{report_id}-reason-error">For this kind of correction choose one of:' in text
    )
    ok = await client.post(
        f"/placements/{pid}/no-bed/{report_id}/correction",
        data={"csrf_token": session.csrf, "kind": "retract", "reason": "admitted_elsewhere"},
    )
    assert ok.status == 200
    html = await ok.text()
    assert 'data-no-bed-counted="no"' in html and "Retracted" in html


async def test_the_database_refuses_a_correction_of_no_record(world: World) -> None:
    with pytest.raises(asyncpg.ForeignKeyViolationError, match="no no-bed record"):
        await world.conn.execute(
            "INSERT INTO no_bed_corrections (no_bed_report_id, corrected_by, kind, reason)"
            " VALUES (987654, $1, 'retract', 'other')",
            world.ids["user_liaison"],
        )
