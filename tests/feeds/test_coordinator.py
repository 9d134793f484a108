"""The feed coordinator: health, backoff, permanent stops, one poll at a time, the board."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from bedboard import database, feeds
from bedboard.auth import Role
from bedboard.feeds import coordinator
from facility_adapters.base import (
    REGISTRY,
    Adapter,
    AdapterConfig,
    AdapterError,
    Fetched,
    Parsed,
    Rejected,
    SourceReport,
)


class ScriptedConfig(AdapterConfig):
    script: str = "ok"


class Scripted(Adapter):
    """A polled kind whose source is a script the test controls (the coordinator's peer)."""

    kind = "scripted"
    title = "Scripted source (tests)"
    Config = ScriptedConfig
    outcomes: ClassVar[list[Any]] = []
    started: ClassVar[asyncio.Event]
    release: ClassVar[asyncio.Event]
    calls: ClassVar[int] = 0
    as_of: ClassVar[datetime | None] = None  # when the source says it measured (None: now)

    async def check(self) -> None:
        if self.config.script == "bad-credentials":  # type: ignore[attr-defined]
            raise AdapterError("401 from the source", permanent=True)

    @classmethod
    def parse(cls, raw: bytes) -> Parsed:
        return Parsed()

    async def fetch(self, cursor: str | None) -> Fetched:
        Scripted.calls += 1
        outcome = Scripted.outcomes.pop(0) if Scripted.outcomes else "ok"
        if outcome == "slow":
            Scripted.started.set()
            await Scripted.release.wait()
            outcome = "ok"
        if isinstance(outcome, Exception):
            raise outcome
        now = Scripted.as_of or datetime.now(UTC) - timedelta(minutes=1)
        return Fetched(
            Parsed(
                reports=[
                    SourceReport("EAST", now, staffed=10, occupied=7),
                    SourceReport("WEST", now, available=2),
                ],
                rejected=[Rejected.of("row 3", "occupied cannot exceed staffed", "WEST,5,9")],
            ),
            cursor=None if outcome == "no-cursor" else f"c{Scripted.calls}",
        )


@pytest.fixture(autouse=True)
def scripted_kind() -> Any:
    REGISTRY[Scripted.kind] = Scripted
    Scripted.outcomes = []
    Scripted.calls = 0
    Scripted.as_of = None
    Scripted.started = asyncio.Event()
    Scripted.release = asyncio.Event()
    yield
    REGISTRY.pop(Scripted.kind, None)


@pytest.fixture
async def pool(db_dsn: str) -> Any:
    p = await database.create_pool(db_dsn, min_size=1, max_size=6)
    yield p
    await p.close()


@pytest.fixture
async def feed(conn: Any, make_facility: Any, make_unit: Any) -> feeds.Feed:
    facility = await make_facility(name="Scripted General")
    east = await make_unit(facility.id, name="East")
    return await feeds.create_feed(
        conn,
        feeds.FeedIn(
            facility_id=facility.id,
            kind="scripted",
            name="test feed",
            poll_interval_s=60,
            mappings={"EAST": east.id},
        ),
    )


async def test_a_poll_applies_reports_records_unmapped_and_quarantines_the_rest(
    pool: Any, conn: Any, feed: feeds.Feed
) -> None:
    outcome = await coordinator.poll_feed(pool, feed.id)
    assert outcome is not None and outcome.state == "ok"
    assert outcome.result is not None
    assert (outcome.result.applied, outcome.result.unmapped, outcome.result.rejected) == (1, 1, 1)
    now = await conn.fetchval("SELECT now()")
    record = await feeds.get_feed(conn, feed.id)
    assert record.cursor == "c1"
    assert [u.source_id for u in record.unmapped] == ["WEST"]
    assert record.health.reports_applied == 1
    assert record.health.next_attempt_at is not None
    assert timedelta(seconds=55) < record.health.next_attempt_at - now < timedelta(seconds=65)
    (entry,) = await feeds.quarantine(conn, feed.id)
    assert (entry.location, entry.reason) == ("row 3", "occupied cannot exceed staffed")
    source = await conn.fetchval("SELECT source FROM unit_census")
    assert source == f"feed:{feed.id}"


async def test_a_failing_feed_backs_off_logs_once_and_recovers(
    pool: Any, conn: Any, feed: feeds.Feed, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bedboard.feeds")
    Scripted.outcomes = [
        AdapterError("timeout talking to the source"),
        AdapterError("timeout again"),
        "ok",
    ]
    delays = []
    for _ in range(2):
        outcome = await coordinator.poll_feed(pool, feed.id)
        assert outcome is not None and outcome.state == "failing"
        health = (await feeds.get_feed(conn, feed.id)).health
        delays.append(health.next_attempt_at - await conn.fetchval("SELECT now()"))
    assert delays[1] > delays[0]  # exponential backoff
    assert (await feeds.get_feed(conn, feed.id)).health.consecutive_failures == 2
    outcome = await coordinator.poll_feed(pool, feed.id)
    assert outcome is not None and outcome.state == "ok"
    messages = [r.getMessage() for r in caplog.records if r.name == "bedboard.feeds"]
    assert len([m for m in messages if "is failing" in m]) == 1
    assert len([m for m in messages if "recovered" in m]) == 1


def test_backoff_doubles_from_the_interval_within_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    for failures, base in ((1, 60), (2, 120), (3, 240)):
        delay = coordinator.backoff(60, failures, rng).total_seconds()
        assert 0.75 * base <= delay <= 1.25 * base
    assert coordinator.backoff(60, 30, rng) <= timedelta(hours=1.25)


async def test_a_permanent_error_stops_the_feed_until_its_settings_change(
    pool: Any, conn: Any, feed: feeds.Feed
) -> None:
    Scripted.outcomes = [AdapterError("401 Unauthorized", permanent=True)]
    outcome = await coordinator.poll_feed(pool, feed.id)
    assert outcome is not None and outcome.state == "stopped"
    assert await coordinator.poll_due(pool) == 0  # stopped feeds are not polled
    await feeds.update_feed(conn, feed.id, feeds.FeedPatch(config={"script": "ok"}), None)
    assert (await feeds.get_feed(conn, feed.id)).health.state == "new"
    assert await coordinator.poll_due(pool) == 1


async def test_only_one_instance_polls_a_feed_at_a_time(
    db_dsn: str, conn: Any, feed: feeds.Feed
) -> None:
    pools = [await database.create_pool(db_dsn, min_size=1, max_size=4) for _ in range(2)]
    try:
        Scripted.outcomes = ["slow"]
        first = asyncio.create_task(coordinator.poll_feed(pools[0], feed.id))
        await asyncio.wait_for(Scripted.started.wait(), 10)
        assert await coordinator.poll_feed(pools[1], feed.id) is None  # the other instance skips
        Scripted.release.set()
        assert (await first) is not None
        assert Scripted.calls == 1
    finally:
        for p in pools:
            await p.close()


async def test_a_failing_feed_shows_on_the_board(
    pool: Any, client: Any, feed: feeds.Feed, make_user: Any, make_token: Any
) -> None:
    Scripted.outcomes = [AdapterError("connection refused")]
    await coordinator.poll_feed(pool, feed.id)
    viewer = await make_user(Role.VIEWER)
    headers = {"Authorization": f"Bearer {await make_token(viewer.id)}"}
    board = await (await client.get("/api/v1/board", headers=headers)).json()
    (facility,) = [f for f in board["facilities"] if f["id"] == feed.facility_id]
    assert facility["feed_state"] == "failing"


async def test_check_reports_permanent_problems(pool: Any, conn: Any, feed: feeds.Feed) -> None:
    assert await coordinator.check_feed(pool, feed.id) == ""
    await feeds.update_feed(
        conn, feed.id, feeds.FeedPatch(config={"script": "bad-credentials"}), None
    )
    assert (await coordinator.check_feed(pool, feed.id)).startswith("permanent problem: 401")


async def test_a_poll_needs_only_one_pooled_connection(db_dsn: str, feed: feeds.Feed) -> None:
    single = await database.create_pool(db_dsn, min_size=1, max_size=1)
    try:
        outcome = await coordinator.poll_feed(single, feed.id)
        assert outcome is not None and outcome.state == "ok"
        assert outcome.result is not None and outcome.result.applied == 1
    finally:
        await single.close()


async def test_a_poll_that_changes_nothing_leaves_the_cursor_and_the_counts_unwritten(
    pool: Any, conn: Any, feed: feeds.Feed
) -> None:
    Scripted.as_of = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    await coordinator.poll_feed(pool, feed.id)
    written = await conn.fetchval("SELECT xmin::text FROM feeds WHERE id = $1", feed.id)
    Scripted.outcomes = ["no-cursor", "ok"]

    outcome = await coordinator.poll_feed(pool, feed.id)

    assert outcome is not None and outcome.result is not None
    assert (outcome.result.applied, outcome.result.duplicate) == (0, 1)
    record = await feeds.get_feed(conn, feed.id)
    assert record.cursor == "c1"
    assert record.health.reports_applied == 1
    assert await conn.fetchval("SELECT xmin::text FROM feeds WHERE id = $1", feed.id) == written
    # A new cursor is stored.
    await coordinator.poll_feed(pool, feed.id)
    assert (await feeds.get_feed(conn, feed.id)).cursor == "c3"
