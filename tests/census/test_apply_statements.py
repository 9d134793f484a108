"""How ``census.apply`` writes: one read (or the caller's) and one statement, and the row
lock it relies on.

A report is read without locks and written by a single statement; a bed hold committed
between the two is what the written state, the outbox event and the conflict rule see.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from bedboard import census, database, outbox
from bedboard.census import CensusReport, Outcome

GENEROUS_S = 60.0


def report(available: int, minutes_ago: float = 1) -> CensusReport:
    return CensusReport(
        as_of=datetime.now(UTC) - timedelta(minutes=minutes_ago), available=available
    )


async def statements(conn: Any, work: Any) -> tuple[list[str], Any]:
    seen: list[str] = []

    def log(record: Any) -> None:
        seen.append(record.query)

    conn.add_query_logger(log)
    try:
        result = await work()
        await asyncio.sleep(0)  # the connection calls its loggers soon after each query
    finally:
        conn.remove_query_logger(log)
    return seen, result


async def test_a_report_is_one_read_and_one_write_that_rings_the_doorbell_once(
    conn: Any, db_dsn: str, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility()
    warm, unit = await make_unit(facility.id), await make_unit(facility.id)
    await census.apply(conn, [(warm.id, report(1))], census.Source("api"))  # types introspected
    listener = await asyncpg.connect(db_dsn)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(outbox.CHANNEL, lambda *args: heard.put_nowait(args[-1]))
    try:
        before = await outbox.head(conn)
        seen, results = await statements(
            conn, lambda: census.apply(conn, [(unit.id, report(5))], census.Source("api"))
        )
        assert len(seen) == 2
        assert results[0].outcome is Outcome.APPLIED
        assert await asyncio.wait_for(heard.get(), GENEROUS_S) == str(before + 1)
        assert heard.empty()
    finally:
        await listener.close()
    changes = await outbox.since(conn, before)
    assert [c.seq for c in changes] == [before + 1]
    assert changes[0].payload["unit"]["available"] == 5
    assert changes[0].payload["unit"] == results[0].unit.model_dump(mode="json")  # type: ignore[union-attr]
    history = await conn.fetchval("SELECT count(*) FROM census_history WHERE unit_id = $1", unit.id)
    assert history == 1


async def test_a_report_with_the_read_made_by_the_caller_is_the_write_alone(
    conn: Any, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility()
    unit, other = await make_unit(facility.id), await make_unit(facility.id)
    await census.apply(conn, [(unit.id, report(1, 5))], census.Source("api"))
    prior = await census.read(conn, [unit.id])
    assert prior.stored(unit.id) is not None and prior.source(unit.id) == "api"
    seen, results = await statements(
        conn,
        lambda: census.apply(conn, [(unit.id, report(4))], census.Source("api"), prior=prior),
    )
    assert len(seen) == 1 and "INSERT INTO unit_census" in seen[0]
    assert results[0].outcome is Outcome.APPLIED
    assert results[0].unit is not None and results[0].unit.free == 4
    # A read that does not cover a reported unit is a programming error, not a silent read.
    with pytest.raises(ValueError, match="does not cover"):
        await census.apply(conn, [(other.id, report(2))], census.Source("api"), prior=prior)
    assert await conn.fetchval("SELECT count(*) FROM unit_census WHERE unit_id = $1", other.id) == 0


async def test_the_read_without_units_still_gives_the_clock(conn: Any) -> None:
    prior = await census.read(conn, [])
    assert prior.rows == {}
    assert abs((prior.now - datetime.now(UTC)).total_seconds()) < GENEROUS_S


async def test_a_duplicate_is_answered_from_the_read_alone(
    conn: Any, make_facility: Any, make_unit: Any
) -> None:
    unit = await make_unit((await make_facility()).id)
    same = report(3)
    await census.apply(conn, [(unit.id, same)], census.Source("api"))
    head = await outbox.head(conn)
    seen, results = await statements(
        conn, lambda: census.apply(conn, [(unit.id, same)], census.Source("api"))
    )
    assert len(seen) == 1
    assert results[0].outcome is Outcome.DUPLICATE
    assert await outbox.head(conn) == head


async def test_several_units_take_consecutive_seqs_in_unit_order(
    conn: Any, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility()
    units = [await make_unit(facility.id) for _ in range(3)]
    head = await outbox.head(conn)
    given = [(u.id, report(i + 1)) for i, u in reversed(list(enumerate(units)))]
    results = await census.apply(conn, given, census.Source("api"))
    assert [r.unit_id for r in results] == [uid for uid, _ in given]  # answered in given order
    changes = await outbox.since(conn, head)
    assert [c.seq for c in changes] == [head + 1, head + 2, head + 3]
    assert [c.payload["unit"]["id"] for c in changes] == sorted(u.id for u in units)


async def _hold_in_open_transaction(db_dsn: str, unit_id: int) -> asyncpg.Connection:
    """A bed held by another transaction that has not committed yet (it keeps the row lock)."""
    other = await database.connect(db_dsn)
    await other.execute("BEGIN")
    await other.execute("UPDATE unit_census SET held = held + 1 WHERE unit_id = $1", unit_id)
    return other


async def _wait_until_blocked(conn: Any, task: asyncio.Task[Any]) -> None:
    """Until some backend waits on a row lock (the apply's write behind the hold)."""
    deadline = asyncio.get_running_loop().time() + GENEROUS_S
    while not await conn.fetchval(
        "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND query LIKE '%unit_census%'"
    ):
        assert not task.done(), task
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)


async def _apply_behind_a_hold(
    conn: Any, db_dsn: str, unit_id: int, given: CensusReport
) -> list[census.ApplyResult]:
    """Apply ``given`` on its own connection while another transaction holds a bed of the
    unit; commit the hold once the apply's write waits for its row lock."""
    other = await _hold_in_open_transaction(db_dsn, unit_id)
    writer = await database.connect(db_dsn)
    try:
        task = asyncio.create_task(census.apply(writer, [(unit_id, given)], census.Source("api")))
        await _wait_until_blocked(conn, task)
        await other.execute("COMMIT")
        return await asyncio.wait_for(task, GENEROUS_S)
    finally:
        await other.close()
        await writer.close()


async def test_a_hold_committed_between_read_and_write_shows_in_the_state_and_the_event(
    conn: Any, db_dsn: str, make_facility: Any, make_unit: Any
) -> None:
    unit = await make_unit((await make_facility()).id)
    await census.apply(conn, [(unit.id, report(4, minutes_ago=5))], census.Source("api"))
    head = await outbox.head(conn)
    results = await _apply_behind_a_hold(conn, db_dsn, unit.id, report(3))
    assert results[0].outcome is Outcome.APPLIED
    assert results[0].unit is not None
    assert (results[0].unit.held, results[0].unit.free) == (1, 2)
    event = (await outbox.since(conn, head))[0].payload["unit"]
    assert (event["held"], event["free"]) == (1, 2)


async def test_a_hold_committed_between_read_and_write_makes_a_report_below_it_a_conflict(
    conn: Any, db_dsn: str, make_facility: Any, make_unit: Any
) -> None:
    unit = await make_unit((await make_facility()).id)
    await census.apply(conn, [(unit.id, report(1, minutes_ago=5))], census.Source("api"))
    head = await outbox.head(conn)
    results = await _apply_behind_a_hold(conn, db_dsn, unit.id, report(0))
    assert results[0].outcome is Outcome.CONFLICT
    assert "1 beds are held" in results[0].detail
    assert await outbox.head(conn) == head
    stored = await conn.fetchrow(
        "SELECT available, held FROM unit_census WHERE unit_id = $1", unit.id
    )
    assert (stored["available"], stored["held"]) == (1, 1)


async def test_a_newer_report_committed_between_read_and_write_wins(
    conn: Any, db_dsn: str, make_facility: Any, make_unit: Any
) -> None:
    unit = await make_unit((await make_facility()).id)
    await census.apply(conn, [(unit.id, report(4, minutes_ago=10))], census.Source("api"))
    older, newer = report(2, minutes_ago=5), report(6, minutes_ago=1)
    other = await database.connect(db_dsn)
    writer = await database.connect(db_dsn)
    try:
        await other.execute("BEGIN")
        await census.apply(other, [(unit.id, newer)], census.Source("api"))  # not committed
        task = asyncio.create_task(census.apply(writer, [(unit.id, older)], census.Source("api")))
        await _wait_until_blocked(conn, task)
        await other.execute("COMMIT")
        results = await asyncio.wait_for(task, GENEROUS_S)
    finally:
        await other.close()
        await writer.close()
    assert results[0].outcome is Outcome.STALE
    assert "at the same time" in results[0].detail
    assert await conn.fetchval("SELECT available FROM unit_census WHERE unit_id = $1", unit.id) == 6
