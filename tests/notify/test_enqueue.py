"""Enqueue: one row per recipient and channel, a repeated event makes nothing, the
users' choices and quiet hours decide channels and times."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bedboard import notify
from bedboard.auth import Role
from bedboard.errors import Invalid
from bedboard.notify import Channel, Event, Preferences

CHICAGO = ZoneInfo("America/Chicago")
# 23:30 in Chicago (CST, UTC-6) on 10 December 2026.
LATE = datetime(2026, 12, 11, 5, 30, tzinfo=UTC)
NOON = datetime(2026, 12, 10, 18, 0, tzinfo=UTC)


def _message(event: Event = Event.REFERRAL_ARRIVED) -> notify.Message:
    return notify.Message(
        event=event,
        subject="Placement PL-2026-000123",
        body="Sign in to bedboard.",
        link_path="/placements/1",
        reference="PL-2026-000123",
        status="open",
    )


async def test_the_same_event_enqueued_twice_makes_one_delivery(conn: Any, make_user: Any) -> None:
    user = await make_user(Role.LIAISON, password=None)
    recipients = await notify.user_recipients(
        conn, Event.DEADLINE_PASSED, [user.id], now=NOON, zone=CHICAGO
    )
    assert {r.channel for r in recipients} == {Channel.IN_APP, Channel.EMAIL}
    first = await notify.enqueue(
        conn, key="deadline:7", message=_message(), recipients=recipients, critical=True, now=NOON
    )
    again = await notify.enqueue(
        conn, key="deadline:7", message=_message(), recipients=recipients, critical=True, now=NOON
    )
    assert len(first) == 2 and again == []
    assert await conn.fetchval("SELECT count(*) FROM deliveries") == 2


def test_quiet_hours_across_midnight_end_at_their_local_end() -> None:
    start, end = time(22, 0), time(7, 0)
    until = notify.quiet_until(start, end, now=LATE, zone=CHICAGO)
    assert until == datetime(2026, 12, 11, 13, 0, tzinfo=UTC)  # 07:00 CST
    assert notify.quiet_until(start, end, now=NOON, zone=CHICAGO) is None
    early = datetime(2026, 12, 11, 11, 0, tzinfo=UTC)  # 05:00 CST, same morning
    assert notify.quiet_until(start, end, now=early, zone=CHICAGO) == until
    assert notify.quiet_until(time(12, 0), time(13, 0), now=NOON, zone=CHICAGO) == datetime(
        2026, 12, 10, 19, 0, tzinfo=UTC
    )


async def test_quiet_hours_delay_ordinary_alerts_but_not_critical_ones(
    conn: Any, make_user: Any
) -> None:
    user = await make_user(Role.LIAISON, password=None)
    await notify.save_preferences(
        conn,
        user.id,
        Role.LIAISON,
        Preferences(channels={}, quiet_start="22:00", quiet_end="07:00"),
    )
    for event, critical in ((Event.REFERRAL_ANSWERED, False), (Event.DEADLINE_PASSED, True)):
        recipients = await notify.user_recipients(conn, event, [user.id], now=LATE, zone=CHICAGO)
        await notify.enqueue(
            conn,
            key=event.value,
            message=_message(event),
            recipients=recipients,
            critical=critical,
            now=LATE,
        )
    rows = await conn.fetch("SELECT event, channel, next_attempt_at FROM deliveries ORDER BY id")
    due = {(r["event"], r["channel"]): r["next_attempt_at"] for r in rows}
    morning = datetime(2026, 12, 11, 13, 0, tzinfo=UTC)
    assert due == {
        ("referral_answered", "in_app"): morning,
        ("deadline_passed", "in_app"): LATE,
        ("deadline_passed", "email"): LATE,
    }


async def test_a_users_choices_replace_their_roles_defaults(conn: Any, make_user: Any) -> None:
    user = await make_user(Role.LIAISON, password=None)
    defaults = await notify.preferences(conn, user.id, Role.LIAISON)
    assert defaults.channels[Event.DEADLINE_APPROACHING] == [Channel.IN_APP, Channel.EMAIL]
    assert Event.REFERRAL_ARRIVED not in defaults.channels  # facilities' event
    saved = await notify.save_preferences(
        conn,
        user.id,
        Role.LIAISON,
        Preferences(
            channels={Event.DEADLINE_APPROACHING: [Channel.EMAIL], Event.HOLD_EXPIRING: []}
        ),
    )
    assert saved.channels[Event.DEADLINE_APPROACHING] == [Channel.EMAIL]
    assert saved.channels[Event.HOLD_EXPIRING] == []
    assert saved.channels[Event.DEADLINE_PASSED] == [Channel.IN_APP, Channel.EMAIL]
    got = await notify.user_recipients(conn, Event.HOLD_EXPIRING, [user.id], now=NOON, zone=CHICAGO)
    assert got == []
    got = await notify.user_recipients(
        conn, Event.DEADLINE_APPROACHING, [user.id], now=NOON, zone=CHICAGO
    )
    assert [(r.channel, r.address) for r in got] == [(Channel.EMAIL, user.email)]


async def test_preferences_refuse_other_roles_events_webhooks_and_half_quiet_hours(
    conn: Any, make_user: Any, make_facility: Any
) -> None:
    facility = await make_facility()
    user = await make_user(Role.FACILITY, facility_ids=[facility.id], password=None)
    with pytest.raises(Invalid) as refused:
        await notify.save_preferences(
            conn,
            user.id,
            Role.FACILITY,
            Preferences(
                channels={
                    Event.DEADLINE_PASSED: [Channel.EMAIL],
                    Event.REFERRAL_ARRIVED: [Channel.WEBHOOK],
                },
                quiet_start="22:00",
            ),
        )
    assert {f.field for f in refused.value.fields} == {
        "channels.deadline_passed",
        "channels.referral_arrived",
        "quiet_end",
    }
    assert await conn.fetchval("SELECT count(*) FROM notify_preferences") == 0


async def test_disabled_users_and_other_roles_get_nothing(conn: Any, make_user: Any) -> None:
    viewer = await make_user(Role.VIEWER, password=None)
    liaison = await make_user(Role.LIAISON, password=None)
    await conn.execute("UPDATE users SET disabled = true WHERE id = $1", liaison.id)
    got = await notify.user_recipients(
        conn, Event.DEADLINE_PASSED, [viewer.id, liaison.id], now=NOON, zone=CHICAGO
    )
    assert got == []


def test_a_message_refuses_free_text_in_its_fields() -> None:
    with pytest.raises(ValueError, match="reference"):
        notify.referral_arrived(
            reference="jd, 34, agitated", facility="Hillcrest", unit="Adult", deadline_at=None
        )
    with pytest.raises(ValueError, match="unit"):
        notify.referral_arrived(
            reference="PL-2026-000001", facility="Hillcrest", unit="A\nnotes", deadline_at=None
        )
