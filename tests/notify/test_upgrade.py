"""Upgrading to migration 0020: the expiry notice of a bed hold becomes its own event
(hold_expired), so the choices people and webhooks made for hold_expiring (which carried
that notice until then) carry over to it."""

from __future__ import annotations

from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import pytest

from bedboard import database
from tests.conftest import drop_database


def _copy(entry: Traversable, folder: Path) -> None:
    (folder / entry.name).write_text(entry.read_text(encoding="utf-8"), encoding="utf-8")


@pytest.fixture
async def empty_dsn(pg_dsn: str, empty_db_factory: Any) -> Any:
    dsn = await empty_db_factory(None)
    yield dsn
    await drop_database(pg_dsn, dsn)


async def test_hold_expiring_choices_carry_over_to_hold_expired(
    empty_dsn: str, tmp_path: Path
) -> None:
    source = database.packaged_migrations()
    for entry in source.iterdir():
        if entry.name.endswith(".sql") and entry.name < "0020":
            _copy(entry, tmp_path)
    conn = await database.connect(empty_dsn)
    try:
        await database.migrate(conn, tmp_path)
        muted = await conn.fetchval(
            "INSERT INTO users (email, role) VALUES ('muted@example.org', 'liaison') RETURNING id"
        )
        other = await conn.fetchval(
            "INSERT INTO users (email, role) VALUES ('other@example.org', 'liaison') RETURNING id"
        )
        await conn.execute(
            "INSERT INTO notify_preferences (user_id, channels) VALUES ($1, $2), ($3, $4)",
            muted,
            {"hold_expiring": [], "deadline_passed": ["email"]},
            other,
            {"deadline_passed": ["in_app"]},
        )
        hook = await conn.fetchval(
            "INSERT INTO webhook_endpoints (url, events, secret)"
            " VALUES ('https://ehr.example.org/h', '{hold_expiring}', 'whsec_x') RETURNING id"
        )
        plain = await conn.fetchval(
            "INSERT INTO webhook_endpoints (url, events, secret)"
            " VALUES ('https://ehr.example.org/p', '{referral_arrived}', 'whsec_y') RETURNING id"
        )
        (upgrade,) = [e for e in source.iterdir() if e.name.startswith("0020_")]
        _copy(upgrade, tmp_path)
        assert await database.migrate(conn, tmp_path) == [upgrade.name.removesuffix(".sql")]
        channels = {
            r["user_id"]: r["channels"]
            for r in await conn.fetch("SELECT user_id, channels FROM notify_preferences")
        }
        assert channels[muted] == {
            "hold_expiring": [],
            "hold_expired": [],
            "deadline_passed": ["email"],
        }
        assert channels[other] == {"deadline_passed": ["in_app"]}  # defaults stay defaults
        events = {
            r["id"]: r["events"]
            for r in await conn.fetch("SELECT id, events FROM webhook_endpoints")
        }
        assert events == {hook: ["hold_expiring", "hold_expired"], plain: ["referral_arrived"]}
    finally:
        await conn.close()
