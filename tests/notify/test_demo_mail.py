"""The demo's mail: every facility gets a fictional intake address, and the local sink
keeps what the dispatcher sends (one log line, no body)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bedboard import demo, notify
from bedboard.notify import Channel, Recipient
from bedboard.notify.sink import start_sink
from tests.notify.conftest import config, db_now


async def test_every_demo_facility_gets_a_fictional_intake_address(
    conn: Any, make_facility: Any
) -> None:
    a = await make_facility(name="Cedar Bluff Behavioral Health")
    b = await make_facility(name="Ozark Pines (test)")
    await notify.set_intake_contact(conn, b.id, email="desk@example.org", phone="")
    await demo.load_intake_contacts(conn)
    assert (await notify.intake_contact(conn, a.id)).email == (
        "intake-cedar-bluff-behavioral-health@example.org"
    )
    assert (await notify.intake_contact(conn, b.id)).email == "desk@example.org"  # kept


async def test_the_demo_sink_keeps_mail_and_logs_one_line_without_the_body(
    conn: Any, pool: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, make_facility: Any
) -> None:
    caplog.set_level(logging.INFO, logger="bedboard.notify.sink")
    sink = await start_sink(tmp_path)
    try:
        now = await db_now(conn)
        facility = (await make_facility(name="Sink Test")).id
        contact = await notify.set_intake_contact(
            conn, facility, email="desk@example.org", phone=""
        )
        assert contact.email == "desk@example.org"
        (recipient,) = await notify.contact_recipients(
            conn, notify.Event.REFERRAL_ARRIVED, facility
        )
        message = notify.referral_arrived(
            reference="PL-2026-000555", facility="Sink Test", unit="Adult", deadline_at=None
        )
        await notify.enqueue(
            conn, key="sink", message=message, recipients=[recipient], critical=False, now=now
        )
        assert (await notify.dispatch_due(pool, config(sink.url), now=now)).sent == 1
    finally:
        await sink.stop()
    (kept,) = list((tmp_path / "demo-mail").glob("*.eml"))
    assert b"PL-2026-000555" in kept.read_bytes()
    lines = [r.getMessage() for r in caplog.records if r.name == "bedboard.notify.sink"]
    assert lines == ["demo mail: New referral PL-2026-000555 for Adult to desk@example.org"]
    assert recipient == Recipient(
        Channel.EMAIL, "desk@example.org", contact_id=recipient.contact_id
    )


async def test_the_demo_simulator_account_gets_no_referral_mail(
    conn: Any, make_facility: Any, tmp_path: Path
) -> None:
    await make_facility(name="Redbud Hospital")
    await demo.simulator_token(conn, tmp_path)
    robot = await conn.fetchval("SELECT id FROM users WHERE email LIKE 'simulator@%'")
    now = await db_now(conn)
    got = await notify.user_recipients(
        conn, notify.Event.REFERRAL_ARRIVED, [robot], now=now, zone=ZoneInfo("America/Chicago")
    )
    assert got == []
