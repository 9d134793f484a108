"""Reporter nudges (issue 13 §3): records made on schedule with frozen time, and the
one-time census form a nudge link opens."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bedboard import census, nudges, scheduler
from bedboard.auth import Role
from bedboard.context import POOL
from bedboard.links import Signer
from tests.conftest import TEST_SECRET, login

SIGNER = Signer(TEST_SECRET)
BASE = "http://bedboard.test"


async def _report(conn: Any, unit_id: int, as_of: datetime, occupied: int = 3) -> None:
    await census.apply(
        conn,
        [(unit_id, census.CensusReport(as_of=as_of, staffed=10, occupied=occupied))],
        census.Source("test"),
    )


async def _due(conn: Any, now: datetime, **kw: Any) -> list[nudges.Due]:
    return await nudges.make_due(conn, now, signer=SIGNER, base_url=BASE, **kw)


@pytest.fixture
async def late_facility(conn: Any, make_facility: Any, make_unit: Any) -> tuple[Any, Any, datetime]:
    """A facility with an hourly cadence whose one unit reported at ``t0``."""
    facility = await make_facility(name="Cedar Ridge Behavioral", report_cadence_minutes=60)
    unit = await make_unit(facility.id, name="Adult Acute")
    t0 = (await conn.fetchval("SELECT now()")) - timedelta(hours=3)
    await _report(conn, unit.id, t0)
    return facility, unit, t0


async def test_a_facility_is_nudged_once_its_numbers_are_late_then_every_interval_up_to_the_max(
    conn: Any, late_facility: tuple[Any, Any, datetime]
) -> None:
    facility, _, t0 = late_facility
    assert await _due(conn, t0 + timedelta(minutes=59)) == []  # still fresh
    first_at = t0 + timedelta(minutes=61)
    (first,) = await _due(conn, first_at)
    assert (first.facility_id, first.facility_name, first.attempt) == (
        facility.id,
        "Cedar Ridge Behavioral",
        1,
    )
    assert first.url.startswith(f"{BASE}/n/")
    assert first.expires_at == first_at + timedelta(minutes=30)
    assert await _due(conn, first_at + timedelta(minutes=29)) == []  # before the interval
    (second,) = await _due(conn, first_at + timedelta(minutes=30))
    (third,) = await _due(conn, first_at + timedelta(minutes=60))
    assert (second.attempt, third.attempt) == (2, 3)
    assert await _due(conn, first_at + timedelta(minutes=90)) == []  # the maximum reached
    assert await _due(conn, first_at + timedelta(hours=9)) == []
    rows = await conn.fetch(
        "SELECT n.attempt, l.purpose, l.single_use, l.subject_id, l.expires_at - l.created_at AS life"
        " FROM nudges n JOIN signed_links l ON l.id = n.link_id ORDER BY n.attempt"
    )
    assert [r["attempt"] for r in rows] == [1, 2, 3]
    assert all(
        r["purpose"] == "census_nudge" and r["single_use"] and r["subject_id"] == facility.id
        and r["life"] == timedelta(minutes=30)
        for r in rows
    )  # fmt: skip


async def test_the_interval_and_maximum_come_from_the_caller(
    conn: Any, late_facility: tuple[Any, Any, datetime]
) -> None:
    _, _, t0 = late_facility
    at = t0 + timedelta(minutes=61)
    kw = {"interval": timedelta(minutes=10), "max_attempts": 2}
    assert [d.attempt for d in await _due(conn, at, **kw)] == [1]
    assert [d.attempt for d in await _due(conn, at + timedelta(minutes=10), **kw)] == [2]
    assert await _due(conn, at + timedelta(minutes=20), **kw) == []


async def test_nudges_stop_when_a_report_lands_and_a_later_lateness_starts_again_at_one(
    conn: Any, late_facility: tuple[Any, Any, datetime]
) -> None:
    _, unit, t0 = late_facility
    (first,) = await _due(conn, t0 + timedelta(minutes=61))
    assert first.attempt == 1
    reported = t0 + timedelta(minutes=70)
    await _report(conn, unit.id, reported)
    assert await _due(conn, t0 + timedelta(minutes=91)) == []  # fresh again
    (again,) = await _due(conn, reported + timedelta(minutes=61))
    assert again.attempt == 1


async def test_a_facility_that_never_reported_or_is_inactive_is_not_nudged(
    conn: Any, make_facility: Any, make_unit: Any
) -> None:
    never = await make_facility(report_cadence_minutes=60)
    await make_unit(never.id)
    now = await conn.fetchval("SELECT now()")
    assert await _due(conn, now + timedelta(days=2)) == []


# --------------------------------------------------------------------------- the nudge form


async def _nudge_path(conn: Any, late_facility: tuple[Any, Any, datetime]) -> str:
    _, _, t0 = late_facility
    (due,) = await _due(conn, datetime.now(UTC).replace(microsecond=0))
    assert t0 < due.expires_at
    return due.url.removeprefix(BASE)


async def test_the_nudge_link_opens_the_facilitys_census_form_without_a_password(
    client: Any, conn: Any, late_facility: tuple[Any, Any, datetime], make_unit: Any,
    make_facility: Any,
) -> None:  # fmt: skip
    facility, unit, _ = late_facility
    other = await make_unit((await make_facility(name="Elsewhere")).id, name="Other Unit")
    path = await _nudge_path(conn, late_facility)
    resp = await client.get(path)
    assert resp.status == 200
    html = await resp.text()
    assert facility.name in html and f'name="staffed-{unit.id}"' in html
    assert f'name="staffed-{other.id}"' not in html and "Elsewhere" not in html
    assert f'action="{path}"' in html
    assert resp.headers["Cache-Control"] == "no-store"


async def test_submitting_the_nudge_form_reports_through_census_apply_and_the_link_is_spent(
    client: Any, conn: Any, late_facility: tuple[Any, Any, datetime]
) -> None:
    _, unit, _ = late_facility
    path = await _nudge_path(conn, late_facility)
    link_id = await conn.fetchval("SELECT link_id FROM nudges")
    saved = await client.post(path, data={f"staffed-{unit.id}": "12", f"occupied-{unit.id}": "5"})
    assert saved.status == 200
    assert "census saved" in await saved.text()
    row = await conn.fetchrow(
        "SELECT staffed, occupied, source FROM census_history WHERE unit_id = $1"
        " ORDER BY id DESC LIMIT 1",
        unit.id,
    )
    assert (row["staffed"], row["occupied"], row["source"]) == (12, 5, f"nudge:{link_id}")
    assert await conn.fetchval("SELECT used_at FROM signed_links WHERE id = $1", link_id)
    again = await client.post(path, data={f"staffed-{unit.id}": "12", f"occupied-{unit.id}": "6"})
    assert again.status == 410
    assert "used already" in await again.text()
    assert (await client.get(path)).status == 410
    assert await conn.fetchval(
        "SELECT count(*) FROM census_history WHERE unit_id = $1", unit.id
    ) == 2  # fmt: skip


async def test_an_invalid_nudge_form_saves_nothing_and_keeps_the_link(
    client: Any, conn: Any, late_facility: tuple[Any, Any, datetime]
) -> None:
    _, unit, _ = late_facility
    path = await _nudge_path(conn, late_facility)
    bad = await client.post(path, data={f"staffed-{unit.id}": "4", f"occupied-{unit.id}": "9"})
    assert bad.status == 422
    assert "Nothing was saved." in await bad.text()
    empty = await client.post(path, data={})
    assert empty.status == 422
    assert await conn.fetchval("SELECT used_at FROM signed_links") is None
    ok = await client.post(path, data={f"staffed-{unit.id}": "9", f"occupied-{unit.id}": "4"})
    assert ok.status == 200


async def test_an_altered_nudge_link_is_refused(
    client: Any, conn: Any, late_facility: tuple[Any, Any, datetime]
) -> None:
    path = await _nudge_path(conn, late_facility)
    resp = await client.get(path[:-4] + "AAAA")
    assert resp.status == 403
    assert (await client.post(path[:-4] + "AAAA", data={})).status == 403


# --------------------------------------------------------------------------- forced update


async def test_an_overdue_facility_user_is_sent_to_the_census_form_from_any_page(
    client: Any, conn: Any, late_facility: tuple[Any, Any, datetime], make_user: Any
) -> None:
    facility, unit, _ = late_facility
    staff = await make_user(Role.FACILITY, facility_ids=[facility.id])
    session = await login(client, staff.email)
    for page in ("/", "/board", "/directory", "/referrals", "/reports", "/public"):
        resp = await client.get(page, allow_redirects=False)
        assert resp.status == 303, page
        assert resp.headers["Location"] == "/census?overdue=1"
    for page in ("/census", "/census?overdue=1", "/help", "/api/v1/me", "/?anyway=1"):
        assert (await client.get(page, allow_redirects=False)).status == 200, page
    static = await client.get("/static/app.js", allow_redirects=False)
    assert static.status == 200
    # A form post is never redirected (nothing typed is lost); reporting ends it.
    saved = await client.post("/census", data={
        "csrf_token": session.csrf, f"staffed-{unit.id}": "10", f"occupied-{unit.id}": "4",
    })  # fmt: skip
    assert saved.status == 200
    assert (await client.get("/board", allow_redirects=False)).status == 200
    signed_out = await client.post("/logout", data={"csrf_token": session.csrf},
                                   allow_redirects=False)  # fmt: skip
    assert signed_out.status in (302, 303)


async def test_a_facility_user_with_fresh_numbers_and_other_roles_are_not_redirected(
    client: Any, conn: Any, late_facility: tuple[Any, Any, datetime], make_user: Any,
    make_facility: Any, make_unit: Any,
) -> None:  # fmt: skip
    fresh = await make_facility(report_cadence_minutes=60)
    unit = await make_unit(fresh.id)
    await _report(conn, unit.id, await conn.fetchval("SELECT now()"))
    staff = await make_user(Role.FACILITY, facility_ids=[fresh.id])
    await login(client, staff.email)
    assert (await client.get("/board", allow_redirects=False)).status == 200
    liaison = await make_user(Role.LIAISON)
    await login(client, liaison.email)
    assert (await client.get("/board", allow_redirects=False)).status == 200


async def test_the_scheduler_job_records_nudges_and_logs_one_line_each_without_names(
    client: Any,
    conn: Any,
    settings: Any,
    late_facility: tuple[Any, Any, datetime],
    caplog: pytest.LogCaptureFixture,
) -> None:
    facility, _, _ = late_facility
    caplog.set_level(logging.INFO, logger="bedboard.scheduler")
    due = await scheduler.make_nudges(client.app[POOL], settings)
    assert [(d.facility_id, d.attempt) for d in due] == [(facility.id, 1)]
    assert due[0].url.startswith(settings.base_url + "/n/")
    lines = [r.getMessage() for r in caplog.records if r.name == "bedboard.scheduler"]
    assert lines == [f"census nudge due: facility {facility.id}, attempt 1"]
    assert await scheduler.make_nudges(client.app[POOL], settings) == []  # interval not yet
    assert "nudges" in {job.id for job in scheduler.build(client.app[POOL], settings).get_jobs()}
