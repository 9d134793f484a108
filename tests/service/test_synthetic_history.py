"""The synthetic history (``bedboard/synthetic.py``) on a small world: what it writes
holds the rules the real use cases keep, is the same for the same seed, and wakes no
board; and the demo loads it under its own records."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bedboard import census, courts, database, demo, facilities, feeds, matching, synthetic, users
from bedboard.auth import Role
from bedboard.placements import DeclineReason
from tests.conftest import TEMPLATE_DB, drop_database

NOW = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
DAYS = 60


async def _build_world(conn: Any, tmp: Path) -> dict[str, Any]:
    """Four facilities of different cadences, units of every age group, one unit fed by
    a feed, one inactive unit, one unit that already reported (before ``NOW``), courts,
    liaisons and a facility user. Built the same way in any fresh database."""
    units: dict[str, int] = {}
    fac_ids = []
    counties = ("29019", "29095", "29189", "29077")
    for i, cadence in enumerate((60, 240, 720, 1440)):
        fac = await facilities.create_facility(
            conn,
            facilities.FacilityIn(
                name=f"Synthetic Test Facility {i}",
                kind="psychiatric_hospital",
                county_fips=counties[i],
                report_cadence_minutes=cadence,
            ),
        )
        fac_ids.append(fac.id)
        for population, gender, beds in (
            ("adult", "any", 20),
            ("adult", "female", 12),
            ("adolescent", "any", 10),
            ("child", "any", 8),
            ("geriatric", "any", 16),
        ):
            unit = await facilities.create_unit(
                conn,
                facilities.UnitIn(
                    facility_id=fac.id,
                    name=f"{population} {gender}",
                    population=population,
                    gender=gender,
                    licensed_beds=beds,
                    payers=["medicaid", "medicare", "commercial", "uninsured"],
                ),
            )
            units[f"{i}-{population}-{gender}"] = unit.id
    inactive = await facilities.create_unit(
        conn,
        facilities.UnitIn(
            facility_id=fac_ids[0], name="closed", population="adult", licensed_beds=5, active=False
        ),
    )
    feed = await feeds.create_feed(
        conn,
        feeds.FeedIn(
            facility_id=fac_ids[1],
            kind="csv",
            name="synthetic test feed",
            config={"source": str(tmp)},
            mappings={"WARD-A": units["1-adult-any"]},
        ),
    )
    reported = units["2-adult-any"]
    await census.apply(
        conn,
        [(reported, census.CensusReport(as_of=NOW - timedelta(hours=2), staffed=18, occupied=15))],
        census.Source("api"),
    )
    for n, county in enumerate(("29019", "29095")):
        await courts.create_court(
            conn, courts.CourtIn(name=f"Synthetic Test Court {n}", circuit=13, county_fips=county)
        )
    for n in range(3):
        await users.create_user(
            conn, users.UserIn(email=f"liaison{n}@synthetic.test", role=Role.LIAISON)
        )
    await users.create_user(
        conn,
        users.UserIn(email="intake@synthetic.test", role=Role.FACILITY, facility_ids=[fac_ids[0]]),
    )
    return {"units": units, "inactive": inactive.id, "feed": feed.id, "reported": reported}


@pytest.fixture
async def world(conn: Any, tmp_path: Path) -> dict[str, Any]:
    return await _build_world(conn, tmp_path)


async def _generate(conn: Any, seed: int = 7, placements: int = 250) -> synthetic.HistoryCounts:
    return await synthetic.generate_history(
        conn,
        days=DAYS,
        placements=placements,
        census_changes_per_unit_per_day=None,
        seed=seed,
        now=NOW,
    )


async def test_history_writes_what_it_counts_and_no_board_event(conn: Any, world: Any) -> None:
    outbox_before = await conn.fetchval("SELECT seq FROM outbox_counter")
    rows_before = await conn.fetchval("SELECT count(*) FROM board_outbox")
    counts = await _generate(conn)
    assert await conn.fetchval("SELECT seq FROM outbox_counter") == outbox_before
    assert await conn.fetchval("SELECT count(*) FROM board_outbox") == rows_before
    assert counts.placements == await conn.fetchval("SELECT count(*) FROM placements") == 250
    assert counts.referrals == await conn.fetchval("SELECT count(*) FROM referrals")
    assert counts.events == await conn.fetchval("SELECT count(*) FROM placement_events")
    assert counts.alerts == await conn.fetchval("SELECT count(*) FROM placement_alerts")
    # The one report made before is in the history too.
    assert counts.census_rows + 1 == await conn.fetchval("SELECT count(*) FROM census_history")
    assert counts.units == 20  # the active units
    assert counts.censuses == 19  # all but the one that had reported
    assert not await conn.fetchval(
        "SELECT count(*) FROM census_history WHERE unit_id = $1", world["inactive"]
    )


async def test_census_history_stays_within_the_beds_and_ends_in_the_census(
    conn: Any, world: Any
) -> None:
    await _generate(conn)
    assert not await conn.fetch(
        """
        SELECT h.id FROM census_history h JOIN units u ON u.id = h.unit_id
         WHERE (h.staffed > u.licensed_beds OR h.occupied > h.staffed OR h.blocked < 0
                OR h.blocked > h.staffed - h.occupied OR h.occupied < 0
                OR h.available <> h.staffed - h.occupied - h.blocked OR h.as_of > $1
                OR h.received_at < h.as_of OR h.received_at > $1 OR h.as_of < $1 - $2::interval)
           -- not the report made before generating (received by the database's clock)
           AND NOT (h.unit_id = $3 AND h.as_of = $1 - interval '2 hours')
        """,
        NOW,
        timedelta(days=DAYS),
        world["reported"],
    )
    # Each unit's census is its newest history row, and holds no bed.
    mismatched = await conn.fetch(
        """
        SELECT c.unit_id FROM unit_census c
          JOIN LATERAL (SELECT * FROM census_history h WHERE h.unit_id = c.unit_id
                         ORDER BY as_of DESC LIMIT 1) h ON true
         WHERE (c.staffed, c.occupied, c.blocked, c.available, c.as_of, c.source)
               IS DISTINCT FROM (h.staffed, h.occupied, h.blocked, h.available, h.as_of, h.source)
            OR c.held <> 0
        """
    )
    assert mismatched == []
    assert await conn.fetchval("SELECT count(*) FROM unit_census") == 20
    # The unit that had reported: its history ends before that report, which stays.
    stored = await conn.fetchrow(
        "SELECT source, as_of FROM unit_census WHERE unit_id = $1", world["reported"]
    )
    assert stored["source"] == "api" and stored["as_of"] == NOW - timedelta(hours=2)
    # Occupancy is mostly 75-98 %; units report through form, API and their feed.
    share = await conn.fetchval(
        "SELECT avg((occupied::float8 / staffed BETWEEN 0.75 AND 0.98)::int) FROM census_history"
        " WHERE staffed >= 10"
    )
    assert share > 0.7
    sources = {r["source"] for r in await conn.fetch("SELECT DISTINCT source FROM census_history")}
    assert f"feed:{world['feed']}" in sources and sources & {"form", "api"}
    # Freshness is recorded as the job would have: at NOW, nothing to publish but the unit
    # whose report came in before, classed then by the database's clock (months later).
    seq = await conn.fetchval("SELECT seq FROM outbox_counter")
    await census.publish_freshness_changes(conn, NOW)
    changed = await conn.fetch("SELECT payload FROM board_outbox WHERE seq > $1", seq)
    assert [c["payload"]["unit_id"] for c in changed] == [world["reported"]]


async def test_reports_come_at_about_each_facility_cadence(conn: Any, world: Any) -> None:
    await _generate(conn)
    rows = await conn.fetch(
        """
        SELECT f.report_cadence_minutes AS cadence, count(*)::float8 / 20 / $1 AS per_unit_day
          FROM census_history h JOIN units u ON u.id = h.unit_id
          JOIN facilities f ON f.id = u.facility_id
         WHERE h.source <> 'api' OR u.id <> $2
         GROUP BY 1 ORDER BY 1
        """,
        DAYS,
        world["reported"],
    )
    per_day = {r["cadence"]: r["per_unit_day"] * 20 / 5 for r in rows}  # five units each
    for cadence, rate in per_day.items():
        expected = 1440 / cadence
        assert 0.6 * expected < rate < 1.6 * expected, (cadence, rate)


async def test_a_rate_sets_the_reports_per_unit_per_day(conn: Any, world: Any) -> None:
    await synthetic.generate_history(
        conn,
        days=DAYS,
        placements=0,
        census_changes_per_unit_per_day=2.0,
        seed=3,
        now=NOW,
    )
    rows = await conn.fetchval("SELECT count(*) FROM census_history") - 1
    assert 0.8 * 2.0 * 20 * DAYS < rows < 1.2 * 2.0 * 20 * DAYS


async def test_placement_timestamps_are_in_order_and_no_bed_is_held(conn: Any, world: Any) -> None:
    await _generate(conn)
    assert not await conn.fetch(
        """
        SELECT id FROM placements
         WHERE NOT (detention_start < created_at AND created_at <= updated_at
                    AND updated_at <= $1)
            OR accepted_at < created_at OR admitted_at < accepted_at OR closed_at < created_at
            OR (status = 'admitted') <> (admitted_at IS NOT NULL)
            OR (status = 'closed') <> (closed_at IS NOT NULL)
            OR status IN ('accepted', 'in_transit')
            OR clinical_notes <> '' OR person_initials !~ '^[A-Z]{2,3}$'
        """,
        NOW,
    )
    assert not await conn.fetch(
        "SELECT id FROM referrals WHERE hold_active OR hold_expires_at IS NOT NULL"
        " OR responded_at < created_at OR created_at > $1 OR decline_note <> ''",
        NOW,
    )
    assert await conn.fetchval("SELECT sum(held) FROM unit_census") == 0


async def test_every_person_waits_somewhere_from_detention_to_the_end(
    conn: Any, world: Any
) -> None:
    await _generate(conn)
    # One stay or two (a move), contiguous, from the detention to the admission or close;
    # still running only while the request is open; officer custody within the wait.
    assert not await conn.fetch(
        """
        SELECT p.id FROM placements p
          JOIN LATERAL (
              SELECT count(*) AS stays, min(w.started_at) AS began,
                     bool_and(w.ended_at IS NOT NULL) AS ended,
                     max(w.ended_at) AS last_end, count(*) FILTER (WHERE w.ended_at IS NULL) AS open,
                     sum(extract(epoch FROM w.ended_at - w.started_at)) AS seconds
                FROM placement_waits w WHERE w.placement_id = p.id) w ON true
         WHERE w.stays NOT IN (1, 2) OR w.began <> p.detention_start
            OR (p.status IN ('admitted', 'closed'))
               <> (w.ended AND w.last_end = COALESCE(p.admitted_at, p.closed_at))
            OR (w.ended AND w.seconds <> extract(epoch FROM w.last_end - w.began))
            OR w.open > 1 OR w.last_end > $1
            OR p.custody_started_at < p.detention_start OR p.custody_ended_at > $1
            OR (p.custody_started_at IS NOT NULL AND p.custody_agency = '')
        """,
        NOW,
    )
    places = Counter(r["place"] for r in await conn.fetch("SELECT place FROM placement_waits"))
    assert places.most_common(1)[0][0] == "emergency_department"
    assert await conn.fetchval(
        "SELECT count(*) FROM placements WHERE custody_started_at IS NOT NULL"
    )


async def test_every_admission_has_its_accepted_referral(conn: Any, world: Any) -> None:
    await _generate(conn)
    rows = await conn.fetch(
        """
        SELECT p.id, p.accepted_at, p.admitted_at, r.id AS referral_id, r.status,
               r.placement_id, r.responded_at
          FROM placements p LEFT JOIN referrals r ON r.id = p.accepted_referral_id
         WHERE p.status = 'admitted'
        """
    )
    assert len(rows) > 100
    for row in rows:
        assert row["referral_id"] is not None and row["placement_id"] == row["id"], dict(row)
        assert row["status"] == "accepted"
        assert row["responded_at"] == row["accepted_at"] <= row["admitted_at"]
    # Most admissions come within the legal deadline.
    within = await conn.fetchval(
        "SELECT avg((admitted_at <= deadline_at)::int) FROM placements"
        " WHERE status = 'admitted' AND deadline_at IS NOT NULL"
    )
    assert within > 0.9


async def test_referrals_go_to_units_that_admit_the_person(conn: Any, world: Any) -> None:
    await _generate(conn)
    rows = await conn.fetch(
        "SELECT p.person_age, p.person_sex, p.population AS wanted, p.gender AS genders,"
        " u.population, u.gender FROM referrals r JOIN placements p ON p.id = r.placement_id"
        " JOIN units u ON u.id = r.unit_id"
    )
    for row in rows:
        assert row["wanted"] == row["population"]
        assert row["population"] == matching.population_for_age(row["person_age"]).value
        assert row["genders"] == matching.unit_gender_for_sex(row["person_sex"])
        assert row["gender"] in matching.unit_genders(row["genders"])
    per_placement = await conn.fetch("SELECT count(*) AS n FROM referrals GROUP BY placement_id")
    assert {r["n"] for r in per_placement} <= set(range(1, 7))


async def test_declines_carry_reasons_and_no_bed_is_the_commonest(conn: Any, world: Any) -> None:
    await _generate(conn)
    reasons = Counter(
        r["decline_reason"]
        for r in await conn.fetch("SELECT decline_reason FROM referrals WHERE status = 'declined'")
    )
    assert set(reasons) <= {r.value for r in DeclineReason}
    assert reasons.most_common(1)[0][0] == "no_bed"
    outcomes = Counter(
        r["outcome"] or r["status"]
        for r in await conn.fetch("SELECT status, outcome FROM placements")
    )
    assert outcomes.most_common(1)[0][0] == "admitted"
    assert {"released", "order_expired", "withdrawn", "diverted_outpatient"} <= set(outcomes)


async def test_the_timeline_has_the_events_the_use_cases_write(conn: Any, world: Any) -> None:
    await _generate(conn)
    placements = await conn.fetch("SELECT * FROM placements ORDER BY id")
    events = await conn.fetch("SELECT * FROM placement_events ORDER BY placement_id, id")
    referrals = {r["id"]: r for r in await conn.fetch("SELECT * FROM referrals")}
    by_placement: dict[int, list[Any]] = {}
    for e in events:
        by_placement.setdefault(e["placement_id"], []).append(e)
    for p in placements:
        timeline = by_placement[p["id"]]
        times = [e["at"] for e in timeline]
        assert times == sorted(times) and times[0] == p["created_at"] and times[-1] <= NOW
        assert timeline[0]["kind"] == "created" and timeline[0]["to_state"] == "open"
        kinds = Counter(e["kind"] for e in timeline)
        mine = [r for r in referrals.values() if r["placement_id"] == p["id"]]
        assert kinds["referral_sent"] == len(mine)
        assert kinds["referral_declined"] == sum(r["status"] == "declined" for r in mine)
        for e in timeline:
            if e["kind"] == "referral_declined":
                ref = referrals[e["data"]["referral_id"]]
                assert (
                    ref["decline_reason"] == e["data"]["reason"] and ref["responded_at"] == e["at"]
                )
            if e["kind"] == "transition" and e["to_state"] == "admitted":
                assert e["at"] == p["admitted_at"]
            if e["kind"] == "transition" and e["to_state"] == "closed":
                assert e["at"] == p["closed_at"] and e["data"]["outcome"] == p["outcome"]
        # A state change per move: created, then each acceptance, reopening and transition.
        moves = kinds["referral_accepted"] + kinds["reopened"] + kinds["transition"]
        assert p["version"] == 1 + moves
    alerts = await conn.fetch(
        "SELECT a.point, a.raised_at, p.deadline_at, p.created_at FROM placement_alerts a"
        " JOIN placements p ON p.id = a.placement_id"
    )
    assert alerts
    for a in alerts:
        hours = 0 if a["point"] == "passed" else int(a["point"].removesuffix("h"))
        assert a["raised_at"] >= max(a["deadline_at"] - timedelta(hours=hours), a["created_at"])


# What must come out the same: every row, ids included (both databases start alike).
_SNAPSHOT = (
    "SELECT * FROM census_history ORDER BY id",
    "SELECT * FROM placements ORDER BY id",
    "SELECT * FROM referrals ORDER BY id",
    "SELECT * FROM placement_events ORDER BY id",
    "SELECT * FROM placement_alerts ORDER BY placement_id, point",
    "SELECT * FROM unit_census ORDER BY unit_id",
)


async def test_the_same_seed_gives_the_same_history(
    conn: Any, world: Any, pg_dsn: str, empty_db_factory: Any, tmp_path: Path
) -> None:
    await _generate(conn, seed=11, placements=80)
    other_dsn = await empty_db_factory(TEMPLATE_DB)
    other = await database.connect(other_dsn)
    try:
        await _build_world(other, tmp_path)
        await _generate(other, seed=11, placements=80)
        for query in _SNAPSHOT:
            # received_at of the report made before generating is the database's clock.
            mine, theirs = await conn.fetch(query), await other.fetch(query)
            assert [_without_clock(r) for r in mine] == [_without_clock(r) for r in theirs], query
        # Another seed, another story.
        first = await other.fetchval("SELECT max(id) FROM placements")
        await _generate(other, seed=12, placements=80)
        people = "SELECT detention_start, person_initials, person_age FROM placements"
        seed_11 = set(await other.fetch(people + " WHERE id <= $1", first))
        seed_12 = set(await other.fetch(people + " WHERE id > $1", first))
        assert len(seed_11 & seed_12) < 5
    finally:
        await other.close()
        await drop_database(pg_dsn, other_dsn)


def _without_clock(row: Any) -> dict[str, Any]:
    """A row without the times the database clock set (the report made before)."""
    values = dict(row)
    if values.get("source") == "api" and values.get("as_of") == NOW - timedelta(hours=2):
        values.pop("received_at", None)
    return values


async def test_the_demo_loads_months_of_history_under_its_own_records(
    conn: Any, tmp_path: Path
) -> None:
    await demo.ensure_demo(conn, tmp_path)
    now = await conn.fetchval("SELECT now()")
    assert now - await conn.fetchval("SELECT min(as_of) FROM census_history") > timedelta(days=85)
    # Every unit's census is still the demo's own first report, and its newest history row.
    assert await conn.fetchval("SELECT count(*) FROM unit_census WHERE source <> 'demo'") == 0
    assert not await conn.fetch(
        """
        SELECT c.unit_id FROM unit_census c
          JOIN LATERAL (SELECT as_of FROM census_history h WHERE h.unit_id = c.unit_id
                         ORDER BY as_of DESC LIMIT 1) h ON true
         WHERE h.as_of <> c.as_of
        """
    )
    # The demo's own placements keep their states and the beds they hold.
    stories = {
        r["case_number"]: r["status"]
        for r in await conn.fetch(
            "SELECT case_number, status FROM placements WHERE case_number LIKE '26P-MH-100_'"
        )
    }
    assert set(stories.values()) >= {"accepted", "in_transit", "admitted"}
    assert await conn.fetchval("SELECT sum(held) FROM unit_census") == 2
    # A few hundred placements over the months, every report has something to count.
    months = await conn.fetchval(
        "SELECT count(DISTINCT date_trunc('month', created_at)) FROM placements"
    )
    assert months >= 3
    assert await conn.fetchval("SELECT count(*) FROM placements") == demo.HISTORY_PLACEMENTS + 7
    assert await conn.fetchval("SELECT count(*) FROM referrals WHERE status = 'declined'") > 50


async def test_the_history_has_the_no_bed_records_its_placements_call_for(
    conn: Any, world: Any
) -> None:
    counts = await _generate(conn)
    closed = await conn.fetchval(
        "SELECT count(*) FROM placements p JOIN order_types o ON o.code = p.order_type"
        " WHERE p.admitted_at IS NULL AND p.outcome IN ('released', 'order_expired')"
        " AND (o.court_ordered OR o.deadline_hours IS NOT NULL)"
    )
    recorded = await conn.fetchval("SELECT count(*) FROM no_bed_reports WHERE trigger = 'closed'")
    assert closed > 0 and recorded == closed
    assert counts.no_bed_records == await conn.fetchval("SELECT count(*) FROM no_bed_reports")
    assert await conn.fetchval(
        "SELECT count(*) FROM no_bed_reports WHERE trigger = 'deadline_passed'"
    )
