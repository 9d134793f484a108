"""The demo feeds: one facility per adapter kind, fed by a local simulated source."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bedboard import database, demo
from bedboard.feeds import coordinator
from bedboard.feeds import demo as demo_feeds
from bedboard.settings import Settings


async def test_each_adapter_kind_delivers_census_in_the_demo(
    db_dsn: str, conn: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo_feeds, "HL7_TICK_S", 0.05)
    await demo.ensure_demo(conn, tmp_path)
    pool = await database.create_pool(db_dsn, min_size=1, max_size=6)
    settings = Settings(database_url=db_dsn, data_dir=tmp_path, secret_key="k" * 40)
    sources = await demo_feeds.start(pool, settings)
    try:
        feeds = {r["kind"]: r["id"] for r in await conn.fetch("SELECT kind, id FROM feeds")}
        assert set(feeds) == {"csv", "have", "fhir", "hl7"}
        for kind in ("csv", "have", "fhir"):
            outcome = await coordinator.poll_feed(pool, feeds[kind])
            assert outcome is not None and outcome.result is not None, kind
            assert outcome.state == "ok" and outcome.result.applied >= 1, (kind, outcome.error)
            assert outcome.result.unmapped == 0 and outcome.result.rejected == 0, kind

        # The HL7 sender pushes on its own: wait (bounded) for its first applied message.
        for _ in range(400):
            if await conn.fetchval(
                "SELECT reports_applied > 0 FROM feed_status WHERE feed_id = $1", feeds["hl7"]
            ):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the demo HL7 sender applied nothing")
        sources_seen = {
            r["source"] for r in await conn.fetch("SELECT DISTINCT source FROM census_history")
        }
        assert {f"feed:{i}" for i in feeds.values()} <= sources_seen
    finally:
        await sources.stop()
        await pool.close()
