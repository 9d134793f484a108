"""Feed ingest: reports identical to the stored census are set aside before validation and
SQL; everything else is validated, quarantined, counted and applied as before."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bedboard import census, feeds
from bedboard.census import StoredCensus
from bedboard.feeds.ingest import _to_census, _unchanged
from facility_adapters.base import Parsed, SourceReport

CENTRAL = timezone(timedelta(hours=-6))


class World:
    def __init__(self, conn: Any, feed_id: int, units: list[int]) -> None:
        self.conn = conn
        self.feed_id = feed_id
        self.units = units

    async def ingest(self, reports: list[SourceReport]) -> feeds.IngestResult:
        return await feeds.ingest(self.conn, self.feed_id, Parsed(reports=reports))

    async def count(self, table: str) -> int:
        return int(await self.conn.fetchval(f"SELECT count(*) FROM {table}"))

    async def statements(self, reports: list[SourceReport]) -> tuple[list[str], Any]:
        seen: list[str] = []

        def log(record: Any) -> None:
            seen.append(record.query)

        self.conn.add_query_logger(log)
        try:
            result = await self.ingest(reports)
            await asyncio.sleep(0)  # loggers are called soon after each statement
        finally:
            self.conn.remove_query_logger(log)
        return seen, result


async def _world(conn: Any, make_facility: Any, tmp_path: Path, units: int) -> World:
    facility = await make_facility()
    ids = [
        r["id"]
        for r in await conn.fetch(
            "INSERT INTO units (facility_id, name, population, licensed_beds)"
            " SELECT $1, 'Unit ' || g, 'adult', 20 FROM generate_series(1, $2) g"
            " ORDER BY g RETURNING id",
            facility.id,
            units,
        )
    ]
    feed = await feeds.create_feed(
        conn,
        feeds.FeedIn(
            facility_id=facility.id,
            kind="csv",
            name="ingest test feed",
            config={"source": str(tmp_path)},
            mappings={f"WARD-{uid}": uid for uid in ids},
        ),
    )
    return World(conn, feed.id, ids)


@pytest.fixture
async def world(conn: Any, make_facility: Any, tmp_path: Path) -> World:
    return await _world(conn, make_facility, tmp_path, 1000)


@pytest.fixture
async def small(conn: Any, make_facility: Any, tmp_path: Path) -> World:
    return await _world(conn, make_facility, tmp_path, 3)


def minutes_ago(minutes: float) -> datetime:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).replace(microsecond=0)


def reports_for(units: list[int], as_of: datetime, occupied: int = 5) -> list[SourceReport]:
    return [
        SourceReport(f"WARD-{uid}", as_of, staffed=20, occupied=occupied, blocked=1)
        for uid in units
    ]


async def test_an_unchanged_poll_writes_no_history_or_events_and_counts_every_unit_duplicate(
    world: World,
) -> None:
    first = reports_for(world.units, minutes_ago(10))
    assert (await world.ingest(first)).applied == 1000
    history, events = await world.count("census_history"), await world.count("board_outbox")

    statements, result = await world.statements(first)

    assert result == feeds.IngestResult(duplicate=1000)
    assert await world.count("census_history") == history
    assert await world.count("board_outbox") == events
    # Only reads: no transaction, no lock, no write of any table.
    assert [q for q in statements if not q.lstrip().upper().startswith("SELECT")] == []
    assert not [q for q in statements if "FOR UPDATE" in q]
    record = await feeds.get_feed(world.conn, world.feed_id)
    assert record.health.reports_applied == 1000


async def test_an_unchanged_poll_costs_the_same_statements_for_1000_units_as_for_3(
    world: World, small: World
) -> None:
    as_of = minutes_ago(10)
    await world.ingest(reports_for(world.units, as_of))
    await small.ingest(reports_for(small.units, as_of))
    many, _ = await world.statements(reports_for(world.units, as_of))
    few, _ = await small.statements(reports_for(small.units, as_of))
    assert len(many) == len(few)


async def test_a_poll_with_a_tenth_changed_applies_exactly_those_units(world: World) -> None:
    before = minutes_ago(10)
    await world.ingest(reports_for(world.units, before))
    history, events = await world.count("census_history"), await world.count("board_outbox")
    changed = set(world.units[::10])
    after = minutes_ago(5)
    poll = [
        SourceReport(f"WARD-{uid}", after, staffed=20, occupied=6, blocked=1)
        if uid in changed
        else SourceReport(f"WARD-{uid}", before, staffed=20, occupied=5, blocked=1)
        for uid in world.units
    ]

    result = await world.ingest(poll)

    assert result == feeds.IngestResult(applied=100, duplicate=900)
    new_history = await world.conn.fetch(
        "SELECT unit_id, occupied, available, as_of FROM census_history ORDER BY id DESC LIMIT $1",
        await world.count("census_history") - history,
    )
    assert {r["unit_id"] for r in new_history} == changed
    assert {(r["occupied"], r["available"], r["as_of"]) for r in new_history} == {(6, 13, after)}
    unit_events = await world.conn.fetch(
        "SELECT payload FROM board_outbox WHERE payload->>'kind' = 'unit' ORDER BY seq DESC"
        " LIMIT $1",
        await world.count("board_outbox") - events,
    )
    assert {e["payload"]["unit"]["id"] for e in unit_events} == changed
    stored = await world.conn.fetch(
        "SELECT unit_id, occupied, as_of FROM unit_census WHERE unit_id = ANY($1::bigint[])",
        world.units,
    )
    assert {r["unit_id"] for r in stored if (r["occupied"], r["as_of"]) == (6, after)} == changed
    record = await feeds.get_feed(world.conn, world.feed_id)
    assert record.health.reports_applied == 1100


async def test_a_changed_report_for_a_unit_whose_stored_report_is_newer_counts_stale(
    small: World,
) -> None:
    stored_at = minutes_ago(10)
    await small.ingest(reports_for(small.units, stored_at))
    history = await small.count("census_history")
    a, b, c = small.units

    result = await small.ingest(
        [
            SourceReport(f"WARD-{a}", stored_at - timedelta(minutes=5), staffed=20, occupied=9),
            # As old as the stored one, but not the same counts.
            SourceReport(f"WARD-{b}", stored_at, staffed=20, occupied=9, blocked=1),
            # The same counts, but older.
            SourceReport(f"WARD-{c}", stored_at - timedelta(seconds=1), staffed=20, occupied=5),
        ]
    )

    assert result == feeds.IngestResult(stale=3)
    assert await small.count("census_history") == history
    rows = await small.conn.fetch("SELECT occupied, as_of FROM unit_census")
    assert {(r["occupied"], r["as_of"]) for r in rows} == {(5, stored_at)}


async def test_a_report_left_without_blocked_or_in_available_form_is_still_a_duplicate(
    small: World,
) -> None:
    as_of = minutes_ago(10)
    a, b, _ = small.units
    await small.ingest(
        [
            SourceReport(f"WARD-{a}", as_of, staffed=20, occupied=5, blocked=0),
            SourceReport(f"WARD-{b}", as_of, available=7),
        ]
    )
    result = await small.ingest(
        [
            SourceReport(f"WARD-{a}", as_of, staffed=20, occupied=5),  # blocked defaults to 0
            SourceReport(f"WARD-{b}", as_of.astimezone(CENTRAL), available=7, blocked=0),
        ]
    )
    assert result == feeds.IngestResult(duplicate=2)


async def test_a_report_with_the_stored_counts_in_both_forms_is_quarantined_not_a_duplicate(
    small: World,
) -> None:
    as_of = minutes_ago(10)
    (a, *_) = small.units
    await small.ingest([SourceReport(f"WARD-{a}", as_of, staffed=20, occupied=5, blocked=1)])

    result = await small.ingest(
        [
            SourceReport(
                f"WARD-{a}", as_of, staffed=20, occupied=5, blocked=1, available=14, location="r2"
            )
        ]
    )

    assert result == feeds.IngestResult(rejected=1)
    (entry,) = await feeds.quarantine(small.conn, small.feed_id)
    assert (entry.location, entry.reason) == (
        "r2",
        "give either staffed and occupied, or available, not both",
    )


async def test_an_invalid_report_is_quarantined_even_when_the_stored_report_is_newer(
    small: World,
) -> None:
    stored_at = minutes_ago(10)
    await small.ingest(reports_for(small.units, stored_at))
    a, b, _ = small.units

    result = await small.ingest(
        [
            SourceReport(f"WARD-{a}", stored_at - timedelta(hours=1), staffed=5, occupied=9),
            SourceReport(f"WARD-{b}", stored_at.replace(tzinfo=None), staffed=20, occupied=5),
        ]
    )

    assert result == feeds.IngestResult(rejected=2)
    reasons = {(q.location, q.reason) for q in await feeds.quarantine(small.conn, small.feed_id)}
    naive = stored_at.replace(tzinfo=None).isoformat()
    assert reasons == {
        (
            f"WARD-{a} as of {(stored_at - timedelta(hours=1)).isoformat()}",
            "occupied cannot exceed staffed",
        ),
        (f"WARD-{b} as of {naive}", "Input should have timezone info"),
    }


async def test_a_report_identical_to_a_stored_one_dated_in_the_future_is_still_refused(
    small: World,
) -> None:
    (a, *_) = small.units
    ahead = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    await small.conn.execute(
        "INSERT INTO unit_census (unit_id, staffed, occupied, blocked, available, as_of, source)"
        " VALUES ($1, 20, 5, 1, 14, $2, 'api')",
        a,
        ahead,
    )

    result = await small.ingest(reports_for([a], ahead))

    assert result == feeds.IngestResult(rejected=1)
    (entry,) = await feeds.quarantine(small.conn, small.feed_id)
    assert entry.reason == "as_of is more than 5 minutes in the future"


async def test_the_newest_report_per_unit_decides_and_the_others_count_stale(
    small: World,
) -> None:
    as_of = minutes_ago(10)
    a, b, c = small.units
    await small.ingest(reports_for([a, b], as_of))

    result = await small.ingest(
        [
            # a: the same as stored first, then a changed report as old: both stale.
            SourceReport(f"WARD-{a}", as_of, staffed=20, occupied=9, blocked=1),
            SourceReport(f"WARD-{a}", as_of, staffed=20, occupied=5, blocked=1),
            # b: a copy of the stored report first, then an older one: duplicate + stale.
            SourceReport(f"WARD-{b}", as_of, staffed=20, occupied=5, blocked=1),
            SourceReport(f"WARD-{b}", as_of - timedelta(minutes=1), staffed=20, occupied=2),
            # c (no census yet): an older and a newer report: the newer applies.
            SourceReport(f"WARD-{c}", as_of - timedelta(minutes=1), available=3),
            SourceReport(f"WARD-{c}", as_of, available=4),
            SourceReport("NOWHERE", as_of, available=4),
        ]
    )

    assert result == feeds.IngestResult(applied=1, duplicate=1, stale=4, unmapped=1)
    assert await small.conn.fetchval("SELECT available FROM unit_census WHERE unit_id = $1", c) == 4


async def test_a_resent_report_after_an_admission_counts_stale_as_census_decides(
    small: World,
) -> None:
    as_of = minutes_ago(10)
    (a, *_) = small.units
    await small.ingest(reports_for([a], as_of))
    assert await census.hold_bed(small.conn, a)
    await census.occupy_held_bed(small.conn, a)  # occupied 6, available 13, same as_of

    assert await small.ingest(reports_for([a], as_of)) == feeds.IngestResult(stale=1)


# --------------------------------------------------------------------------- the fast path


_COUNT = st.one_of(
    st.none(),
    st.integers(min_value=-2, max_value=2003),
    st.sampled_from([0, 1, 5, 14, 20, True, False, 5.0]),
)
_AT = datetime(2026, 11, 28, 22, 15, tzinfo=UTC)
_AS_OF = st.sampled_from(
    [_AT, _AT.astimezone(), _AT.replace(tzinfo=None), _AT + timedelta(seconds=1), _AT.isoformat()]
)


_SMALL = st.integers(min_value=0, max_value=2000)


@st.composite
def _stored(draw: st.DrawFn) -> StoredCensus:
    """A stored census as the table's CHECK constraints allow it."""
    if draw(st.booleans()):
        return StoredCensus(_AT, None, None, draw(st.sampled_from([0, 0, 2])), draw(_SMALL))
    staffed = draw(st.integers(min_value=0, max_value=2000))
    occupied = draw(st.integers(min_value=0, max_value=staffed))
    blocked = draw(st.integers(min_value=0, max_value=staffed - occupied))
    available = staffed - occupied - blocked
    if draw(st.integers(min_value=0, max_value=9)) == 0:  # an admission moved the counts
        available = max(available - 1, 0)
    return StoredCensus(_AT, staffed, occupied, blocked, available)


@st.composite
def _report_near(draw: st.DrawFn, stored: StoredCensus) -> SourceReport:
    """Mostly the stored counts with a field or two changed to something odd."""
    report = SourceReport(
        "X",
        _AT,
        staffed=stored.staffed,
        occupied=stored.occupied,
        blocked=stored.blocked if draw(st.booleans()) else None,
        available=None if stored.staffed is not None else stored.available,
    )
    for field in draw(
        st.lists(st.sampled_from(["as_of", "staffed", "occupied", "blocked", "available"]))
    ):
        report = replace(report, **{field: draw(_AS_OF if field == "as_of" else _COUNT)})
    return report


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_the_unchanged_shortcut_agrees_with_validation_and_census_duplicates(
    data: st.DataObject,
) -> None:
    stored = data.draw(_stored())
    report = data.draw(_report_near(stored))
    try:
        checked = _to_census(report)
    except ValidationError:
        checked = None
    unchanged = _unchanged(report, stored)
    if unchanged:
        # Never skips a report validation would refuse, nor one census would not call
        # a duplicate.
        assert checked is not None and stored.same_as(checked)
    plain = type(report.as_of) is datetime and all(
        v is None or type(v) is int
        for v in (report.staffed, report.occupied, report.blocked, report.available)
    )
    if plain and checked is not None and stored.same_as(checked):
        # ...and skips every plain one that census would call a duplicate.
        assert unchanged
