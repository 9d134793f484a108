"""Every figure against the small world of conftest.py, with the numbers worked out by
hand there; filters narrow; a facility user sees its own facility and the rest combined;
a court user its own court only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bedboard import reports
from bedboard.auth import Principal, Role
from bedboard.reports import Filters
from tests.reports.conftest import T0, D, H, World, referral

ZONE = "America/Chicago"
AUTUMN = {"from": "2026-10-01", "to": "2026-11-30"}


def liaison() -> Principal:
    return Principal(user_id=1, role=Role.LIAISON, email="l@example.org", display_name="")


async def rows(
    conn: Any, slug: str, who: Principal | None = None, **filters: Any
) -> list[dict[str, Any]]:
    query = Filters.model_validate({**AUTUMN, **filters})
    report = await reports.run(conn, slug, query, who or liaison(), zone_name=ZONE)
    return report.rows


async def test_time_to_placement_by_month_of_request(conn: Any, world: World) -> None:
    october, november = await rows(conn, "time-to-placement")
    assert october == {
        "month": "2026-10",
        "requests": 3,
        "accepted": 2,  # P1 after 3 h, P2 after 2 h
        "admitted": 2,
        "to_acceptance_median_h": 2.5,
        "to_acceptance_p90_h": 2.9,  # 2 + 0.9 * (3 - 2)
        "to_admission_median_h": 8.0,  # 10 h and 6 h
        "to_admission_p90_h": 9.6,
        "detention_to_admission_median_h": 9.0,  # 12 h and 6 h
        "admitted_before_deadline": 0.6667,  # 2 of 3 with a deadline
    }
    assert november["requests"] == 1 and november["admitted"] == 0
    assert november["to_admission_median_h"] is None
    assert november["admitted_before_deadline"] == 0.0


async def test_outcomes_count_the_no_bed_closes(conn: Any, world: World) -> None:
    october, november = await rows(conn, "outcomes")
    assert (october["requests"], october["admitted"], october["order_expired"]) == (3, 2, 1)
    assert october["no_bed_rate"] == 0.3333
    assert (november["released"], november["no_bed_rate"], november["still_open"]) == (1, 1.0, 0)


async def testreferrals_per_facility_with_response_times(conn: Any, world: World) -> None:
    alpha, beta = await rows(conn, "referrals")
    assert alpha == {
        "facility": "Alpha Hospital",
        "referrals": 3,
        "accepted": 1,
        "declined": 2,
        "never_answered": 0,
        "acceptance_rate": 0.3333,
        "decline_rate": 0.6667,
        "response_median_h": 2.0,  # answered after 1, 2 and 4 h
        "response_p90_h": 3.6,  # 2 + 0.8 * (4 - 2)
    }
    assert beta["facility"] == "Beta Hospital"
    assert (beta["referrals"], beta["accepted"], beta["never_answered"]) == (2, 1, 1)
    # Beta's one response: "we are reviewing" 15 minutes after sending, before it accepted
    assert (beta["response_median_h"], beta["decline_rate"]) == (0.25, 0.0)


async def test_an_acknowledgement_is_a_response_even_without_an_answer(
    conn: Any, world: World
) -> None:
    # A third referral to Beta in October: "we are reviewing" after 45 minutes, then the
    # liaison withdrew it (placed elsewhere) before Beta accepted or declined.
    sent = datetime(2026, 10, 20, 14, 0, tzinfo=UTC)
    await referral(
        conn, world.placements["P2"], world.b1.id, sent=sent, status="withdrawn",
        acknowledged=sent + 0.75 * H,
    )  # fmt: skip
    beta = (await rows(conn, "referrals"))[1]
    assert (beta["referrals"], beta["accepted"], beta["never_answered"]) == (3, 1, 1)
    assert beta["response_median_h"] == 0.5  # 15 and 45 minutes
    assert beta["response_p90_h"] == 0.7  # 0.25 + 0.9 * (0.75 - 0.25)


async def test_declines_by_reason_facility_age_group_and_needs(conn: Any, world: World) -> None:
    found = await rows(conn, "declines")
    key = [(r["reason"], r["facility"], r["population"], r["needs"], r["declines"]) for r in found]
    assert sorted(key) == [
        ("acuity", "Alpha Hospital", "adult", "none", 1),
        ("no_bed", "Alpha Hospital", "adult", "none", 1),
    ]
    assert all(r["share_of_declines"] == 0.5 for r in found)
    # P4's person needs forensic care and has autism (given in any order, one twice).
    await conn.execute(
        "UPDATE placements SET specialties = '{forensic,autism_spectrum,forensic}' WHERE id = $1",
        world.placements["P4"],
    )
    profiles = {r["reason"]: r["needs"] for r in await rows(conn, "declines")}
    assert profiles == {"acuity": "autism_spectrum, forensic", "no_bed": "none"}


async def test_the_needs_filter_counts_the_people_with_that_need(conn: Any, world: World) -> None:
    await conn.execute(
        "UPDATE placements SET specialties = '{forensic}' WHERE id = ANY($1::bigint[])",
        [world.placements["P1"], world.placements["P4"]],
    )
    outcomes = await rows(conn, "outcomes", needs="forensic")
    assert {r["month"]: r["requests"] for r in outcomes} == {"2026-10": 1, "2026-11": 1}
    declines = await rows(conn, "declines", needs="forensic")
    assert sorted(r["reason"] for r in declines) == ["acuity", "no_bed"]
    await conn.execute(
        "UPDATE placements SET specialties = '{}' WHERE id = $1", world.placements["P1"]
    )
    declines = await rows(conn, "declines", needs="forensic")
    assert [r["reason"] for r in declines] == ["acuity"]  # P1's no-bed decline is not
    referrals = await rows(conn, "referrals", needs="forensic")
    assert [(r["facility"], r["referrals"]) for r in referrals] == [("Alpha Hospital", 1)]
    assert await rows(conn, "outcomes", needs="eating_disorder") == []


async def test_the_needs_filter_counts_the_units_that_serve_it(conn: Any, world: World) -> None:
    await conn.execute("UPDATE units SET specialties = '{trauma}' WHERE id = $1", world.a1.id)
    day = {"from": "2026-10-10", "to": "2026-10-10"}
    serving = await rows(conn, "compliance", needs="trauma", **day)
    assert [(r["facility"], r["units"]) for r in serving] == [("Alpha Hospital", 1)]
    days = await rows(conn, "capacity", needs="trauma", **day)
    assert [(d["units_reported"], d["staffed"]) for d in days] == [(1, 10)]
    assert await rows(conn, "compliance", needs="dementia", **day) == []


async def test_compliance_counts_the_reminders_each_facility_was_sent(
    conn: Any, world: World
) -> None:
    day = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)  # 07:00 Central on 10-10
    for at in (day, day + H, day + 30 * H):  # the third is on 10-11
        link = await conn.fetchval(
            "INSERT INTO signed_links (purpose, subject_id, created_at, expires_at,"
            " single_use, token_hash) VALUES ('census_nudge', $1, $2::timestamptz,"
            " $2::timestamptz + interval '30 min', true, sha256($2::timestamptz::text::bytea))"
            " RETURNING id",
            world.a.id, at,
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO nudges (facility_id, late_since, attempt, link_id, created_at)"
            " VALUES ($1, $2, 1, $3, $2)",
            world.a.id, at, link,
        )  # fmt: skip
    alpha, beta = await rows(conn, "compliance", **{"from": "2026-10-10", "to": "2026-10-10"})
    assert (alpha["facility"], alpha["nudges"], beta["nudges"]) == ("Alpha Hospital", 2, 0)
    both_days = {"from": "2026-10-10", "to": "2026-10-11"}
    assert (await rows(conn, "compliance", **both_days))[0]["nudges"] == 3


async def test_custody_hours_from_detention_to_admission_or_close(conn: Any, world: World) -> None:
    october, november = await rows(conn, "custody-hours")
    assert october["agency"] == "Boone County Sheriff" and october["placements"] == 3
    assert october["waiting_median_h"] == 12.0  # 12 h, 6 h and 96 h
    assert october["waiting_p90_h"] == 79.2  # 12 + 0.8 * (96 - 12)
    assert october["waiting_total_h"] == 114.0
    assert (november["agency"], november["waiting_total_h"]) == ("Columbia Police", 20.0)


async def _p4_in_cole_county(conn: Any, world: World) -> None:
    """P4 (Boone Probate's, released) moved to Cole County: counties and courts differ."""
    await conn.execute(
        "UPDATE placements SET county_fips = '29051' WHERE id = $1", world.placements["P4"]
    )


async def test_custody_hours_by_the_county_of_detention(conn: Any, world: World) -> None:
    await _p4_in_cole_county(conn, world)
    boone, cole = await rows(conn, "custody-hours-by-county")
    assert (boone["county"], boone["placements"], boone["waiting_median_h"]) == ("Boone", 3, 12.0)
    assert (boone["waiting_p90_h"], boone["waiting_total_h"]) == (79.2, 114.0)  # 12, 6, 96 h
    assert (cole["county"], cole["placements"], cole["waiting_total_h"]) == ("Cole", 1, 20.0)


async def test_outcomes_by_county_and_by_court(conn: Any, world: World) -> None:
    await _p4_in_cole_county(conn, world)
    boone, cole = await rows(conn, "outcomes-by-county")
    # Boone County: P1, P2 admitted, P3 order expired; Cole County: P4 released.
    assert (boone["county"], boone["requests"], boone["admitted"]) == ("Boone", 3, 2)
    assert (boone["order_expired"], boone["released"], boone["no_bed_rate"]) == (1, 0, 0.3333)
    assert (cole["county"], cole["requests"], cole["released"]) == ("Cole", 1, 1)
    assert cole["no_bed_rate"] == 1.0
    # Boone Probate: P1, P2 admitted, P4 released; Cole Probate: P3 order expired.
    boone_court, cole_court = await rows(conn, "outcomes-by-court")
    assert (boone_court["court"], boone_court["requests"]) == ("Boone Probate", 3)
    assert (boone_court["admitted"], boone_court["released"]) == (2, 1)
    assert (cole_court["court"], cole_court["order_expired"]) == ("Cole Probate", 1)
    clerk = Principal(
        user_id=4, role=Role.COURT, email="c@example.org", display_name="",
        court_id=world.other_court.id,
    )  # fmt: skip
    assert [r["court"] for r in await rows(conn, "outcomes-by-court", clerk)] == ["Cole Probate"]
    assert [r["county"] for r in await rows(conn, "outcomes-by-county", clerk)] == ["Boone"]


async def test_waiting_hours_by_place_sum_each_stay(conn: Any, world: World) -> None:
    stays = [
        ("P1", "emergency_department", T0 - 2 * H, T0 + H),  # 3 h, then moved
        ("P1", "jail", T0 + H, T0 + 10 * H),  # 9 h
        ("P2", "emergency_department", T0 + D, T0 + D + 6 * H),  # 6 h
        ("P4", "community", datetime(2026, 11, 3, 15, 0, tzinfo=UTC), None),  # still running
    ]
    for ref, place, began, ended in stays:
        await conn.execute(
            "INSERT INTO placement_waits (placement_id, place, started_at, ended_at)"
            " VALUES ($1, $2, $3, $4)",
            world.placements[ref], place, began, ended,
        )  # fmt: skip
    ed, jail, community = await rows(conn, "waiting-places")
    assert ed == {
        "place": "emergency_department",
        "placements": 2,
        "stays": 2,
        "still_waiting": 0,
        "stay_median_h": 4.5,
        "stay_p90_h": 5.7,  # 3 + 0.9 * (6 - 3)
        "total_h": 9.0,
    }
    assert (jail["place"], jail["placements"], jail["total_h"]) == ("jail", 1, 9.0)
    assert (community["still_waiting"], community["total_h"]) == (1, None)
    assert await rows(conn, "waiting-places", court_id=world.other_court.id) == []


async def test_program_counts_per_month_and_court(conn: Any, world: World) -> None:
    found = await rows(conn, "program-counts")
    counts = {(r["month"], r["court"]): r["placements"] for r in found}
    assert counts == {
        ("2026-10", "Boone Probate"): 2,
        ("2026-10", "Cole Probate"): 1,
        ("2026-11", "Boone Probate"): 1,
    }
    assert {r["liaison"] for r in found} == {"Unassigned"}


async def test_compliance_splits_the_day_into_fresh_late_and_stale(conn: Any, world: World) -> None:
    day = {"from": "2026-10-10", "to": "2026-10-10"}
    alpha, beta = await rows(conn, "compliance", **day)
    # The local day is 24 h. Reported 03:00Z (before it), 07:00Z and 07:30Z, cadence 1 h:
    # stale 05:00-07:00, fresh 07:00-08:30, late 08:30-09:30, stale 09:30-05:00.
    assert alpha["facility"] == "Alpha Hospital" and alpha["units"] == 1
    assert (alpha["fresh"], alpha["late"], alpha["stale"], alpha["never"]) == (
        0.0625, 0.0417, 0.8958, 0.0,
    )  # fmt: skip
    assert alpha["overdue_episodes"] == 2  # 3 h and 20.5 h overdue
    assert alpha["overdue_median_h"] == 11.75
    assert alpha["reporting_paths"] == "api, form"
    assert (beta["never"], beta["fresh"], beta["overdue_episodes"]) == (1.0, 0.0, 0)


async def test_capacity_takes_each_units_last_report_of_the_day(conn: Any, world: World) -> None:
    days = await rows(conn, "capacity", **{"from": "2026-10-08", "to": "2026-10-11"})
    assert [d["day"] for d in days] == ["2026-10-08", "2026-10-09", "2026-10-10", "2026-10-11"]
    assert days[0]["units_reported"] == 0 and days[0]["occupancy"] is None
    # 10-10 03:00Z is 22:00 on 10-09 in Central time: that day already has the report.
    assert days[1]["units_reported"] == 1
    assert days[2] == {
        "day": "2026-10-10",
        "units_reported": 1,
        "staffed": 10,
        "occupied": 7,
        "blocked": 1,
        "available": 2,
        "occupancy": 0.7,
    }
    assert days[3]["units_reported"] == 1  # the last report still stands


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"facility_id": "b"}, 2),  # P1 and P3 were referred to Beta
        ({"county": "29051"}, 0),
        ({"court_id": "other"}, 1),
        ({"population": "adolescent"}, 0),
        ({"order_type": "voluntary"}, 0),
        ({"from": "2026-10-06", "to": "2026-10-31"}, 2),  # P2 and P3
    ],
)
async def test_filters_narrow_the_placements_counted(
    conn: Any, world: World, filters: dict[str, str], expected: int
) -> None:
    ids = {"b": world.b.id, "other": world.other_court.id}
    given = {k: ids.get(v, v) for k, v in filters.items()}
    found = await rows(conn, "outcomes", **given)
    october = [r for r in found if r["month"] == "2026-10"]
    assert (october[0]["requests"] if october else 0) == expected


async def test_a_facility_user_sees_its_own_facility_and_the_others_combined(
    conn: Any, world: World
) -> None:
    alpha_staff = Principal(
        user_id=2,
        role=Role.FACILITY,
        email="f@example.org",
        display_name="",
        facility_ids=frozenset({world.a.id}),
    )
    found = await rows(conn, "referrals", alpha_staff)
    assert [r["facility"] for r in found] == ["Alpha Hospital", "All other facilities"]
    beta_staff = Principal(
        user_id=3,
        role=Role.FACILITY,
        email="g@example.org",
        display_name="",
        facility_ids=frozenset({world.b.id}),
    )
    found = await rows(conn, "referrals", beta_staff)
    assert [r["facility"] for r in found] == ["Beta Hospital", "All other facilities"]
    assert found[1]["referrals"] == 3


async def test_a_court_user_counts_only_its_own_courts_placements(conn: Any, world: World) -> None:
    clerk = Principal(
        user_id=4,
        role=Role.COURT,
        email="c@example.org",
        display_name="",
        court_id=world.other_court.id,
    )
    october = (await rows(conn, "outcomes", clerk, court_id=world.court.id))[0]
    assert (october["requests"], october["order_expired"]) == (1, 1)  # P3 only, whatever asked
    nobody = Principal(
        user_id=5, role=Role.COURT, email="d@example.org", display_name="", court_id=None
    )
    assert await rows(conn, "outcomes", nobody) == []


async def test_csv_has_the_same_rows_as_json(conn: Any, world: World) -> None:
    import csv
    import io

    for slug in reports.FIGURES:
        query = Filters.model_validate(AUTUMN)
        report = await reports.run(conn, slug, query, liaison(), zone_name=ZONE)
        text = reports.to_csv(report).decode()
        assert "\r\n" in text or not report.rows
        table = list(csv.reader(io.StringIO(text, newline="")))
        assert table[0] == [c.label for c in report.columns]
        assert len(table) == 1 + len(report.rows)
        for line, row in zip(table[1:], report.rows, strict=True):
            assert line == ["" if row[c.key] is None else str(row[c.key]) for c in report.columns]


async def test_compliance_counts_a_unit_from_when_it_was_registered(
    conn: Any, world: World
) -> None:
    registered = datetime(2026, 10, 10, 17, 0, tzinfo=UTC)  # noon on 10-10, Central
    await conn.execute("UPDATE units SET created_at = $2 WHERE id = $1", world.b1.id, registered)
    before = await rows(conn, "compliance", **{"from": "2026-10-09", "to": "2026-10-09"})
    assert [r["facility"] for r in before] == ["Alpha Hospital"]  # b1 did not exist yet
    _, beta = await rows(conn, "compliance", **{"from": "2026-10-10", "to": "2026-10-10"})
    assert (beta["facility"], beta["units"], beta["never"]) == ("Beta Hospital", 1, 1.0)


async def test_no_bed_figures_count_each_placement_once_by_county_and_month(
    conn: Any, world: World
) -> None:
    from bedboard import nobed

    # P3 (October) closed order_expired at its deadline; P4 (November) closed released.
    assert await nobed.record(conn, world.placements["P3"], nobed.Trigger.CLOSED) is not None
    assert await nobed.record(conn, world.placements["P4"], nobed.Trigger.CLOSED) is not None
    october, november = await rows(conn, "no-bed")
    assert (october["month"], october["county"], october["placements"]) == ("2026-10", "Boone", 1)
    assert october["triggers"] == "closed without a bed 1"
    assert october["refusing_facilities"] == ""  # P3's referral was never answered
    assert (november["placements"], november["refusing_facilities"]) == (1, "Alpha Hospital (1)")
    assert november["reasons"] == "acuity 1"
    (quarter,) = await rows(conn, "no-bed-quarterly")
    assert (quarter["quarter"], quarter["placements"], quarter["counties"]) == (
        "2026 Q4", 2, "Boone (2)",
    )  # fmt: skip
    assert await rows(conn, "no-bed", county="29051") == []


async def test_every_report_is_planned_for_its_own_parameters(conn: Any, world: World) -> None:
    """A cached generic plan took minutes for a year of referrals; the custom plan, 0.25 s."""
    import asyncio

    seen: list[str] = []

    def log(record: Any) -> None:
        seen.append(str(record.query))

    conn.add_query_logger(log)
    try:
        await rows(conn, "referrals")
        await asyncio.sleep(0)  # the connection calls its loggers soon after each query
    finally:
        conn.remove_query_logger(log)
    setting = [i for i, q in enumerate(seen) if "'plan_cache_mode', 'force_custom_plan'" in q]
    figure = [i for i, q in enumerate(seen) if "FROM referrals rf" in q]
    assert setting and figure and setting[0] < figure[0]
