"""A follow-up task reminds its assignee once when it is due: in-app and by email
(through a real SMTP server on loopback), with the placement's reference and the due
time, never the task's title; however often the job runs, and never a task done first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bedboard import notify, outbox, placements, scheduler
from tests.notify.conftest import CANARY, Mailbox, World, config

CHICAGO = ZoneInfo("America/Chicago")


async def _remind(world: World, now: datetime) -> int:
    """The scheduler job's work at a frozen ``now``: claim, then enqueue."""
    async with world.conn.transaction():
        due = await placements.followups.due_follow_ups(world.conn, now)
        return await notify.occasions.follow_ups_due(world.conn, due, now=now, zone=CHICAGO)


async def _task(world: World, placement_id: int, due_at: datetime, **extra: Any) -> int:
    resp = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{placement_id}/follow-ups",
        json={"title": f"Call the CMHC {CANARY}", "due_at": due_at.isoformat(), **extra},
    )
    assert resp.status == 201, await resp.text()
    task_id: int = (await resp.json())["id"]
    return task_id


async def test_the_assignee_is_reminded_once_when_the_task_is_due(
    world: World, mailbox: Mailbox, pool: Any
) -> None:
    placement = await world.create()
    due = datetime.now(UTC) + timedelta(hours=2)
    await _task(world, placement["id"], due)
    liaison = world.ids["user_liaison"]
    email = await world.conn.fetchval("SELECT email FROM users WHERE id = $1", liaison)

    assert await _remind(world, due - timedelta(minutes=1)) == 0  # not yet
    assert await _remind(world, due) == 2  # in-app and email
    assert await _remind(world, due + timedelta(minutes=1)) == 0  # the next run
    assert await _remind(world, due + timedelta(days=1)) == 0
    before = await outbox.head(world.conn)
    result = await notify.dispatch_due(pool, config(mailbox.url), now=due + timedelta(minutes=2))
    assert result == notify.Dispatched(sent=2)

    reference = placement["reference"]
    (mail,) = mailbox.messages()
    assert mail["To"] == email
    assert mail["Subject"] == f"A follow-up task is due for {reference}"
    content = mail.get_content()
    shown = due.astimezone(CHICAGO)
    assert f"{shown.strftime('%b')} {shown.day}, {shown.year}" in content
    assert f"/login?next=/placements/{placement['id']}" in content
    (alert,) = await notify.unacknowledged(world.conn, liaison)
    assert (alert.event, alert.reference) == (notify.Event.FOLLOW_UP_DUE, reference)
    frames = [c.payload for c in await outbox.since(world.conn, before)]
    keys = await world.conn.fetch("SELECT dedupe_key FROM deliveries ORDER BY id")
    assert all(k["dedupe_key"].startswith("follow-up-due:") for k in keys)
    outgoing = [raw for _, raw in mailbox.received] + [repr(frames).encode()]
    outgoing += [
        r["m"].encode() for r in await world.conn.fetch("SELECT message::text AS m FROM deliveries")
    ]
    for data in outgoing:
        assert CANARY.encode() not in data
        assert b"Call the CMHC" not in data


async def test_a_task_due_on_a_day_is_reminded_at_eight_and_a_closed_one_never(
    world: World,
) -> None:
    placement = await world.create()
    day = datetime.now(CHICAGO).date() + timedelta(days=2)
    resp = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{placement['id']}/follow-ups",
        json={"title": "Send the records", "due_on": day.isoformat()},
    )
    task = await resp.json()
    eight = datetime(day.year, day.month, day.day, 8, 0, tzinfo=CHICAGO)
    done = await _task(world, placement["id"], eight - timedelta(hours=1))
    closed = await world.call("liaison", "POST", f"/api/v1/follow-ups/{done}/done", json={})
    assert closed.status == 200
    assert await _remind(world, eight - timedelta(seconds=1)) == 0
    assert await _remind(world, eight) == 2
    rows = await world.conn.fetch(
        "SELECT message->>'body' AS body FROM deliveries WHERE event = 'follow_up_due'"
    )
    assert {r["body"].split(": ", 1)[1].split(".\n")[0] for r in rows} == {
        f"{day.strftime('%b')} {day.day}, {day.year}"
    }
    reminded = await world.conn.fetch(
        "SELECT id FROM placement_follow_ups WHERE reminded_at IS NOT NULL"
    )
    assert [r["id"] for r in reminded] == [task["id"]]


async def test_the_scheduled_job_enqueues_a_due_task_once(
    world: World, pool: Any, settings: Any
) -> None:
    placement = await world.create()
    task_id = await _task(
        world,
        placement["id"],
        datetime.now(UTC) + timedelta(minutes=1),
        assignee_id=world.ids["user_liaison2"],
    )
    await world.conn.execute(
        "UPDATE placement_follow_ups SET due_at = now() - interval '1 minute' WHERE id = $1",
        task_id,
    )
    assert await scheduler.follow_up_reminders(pool, settings) == 1
    assert await scheduler.follow_up_reminders(pool, settings) == 0
    rows = await world.conn.fetch("SELECT channel, user_id FROM deliveries ORDER BY channel")
    assert [(r["channel"], r["user_id"]) for r in rows] == [
        ("email", world.ids["user_liaison2"]),
        ("in_app", world.ids["user_liaison2"]),
    ]
    assert "follow-ups" in {job.id for job in scheduler.build(pool, settings).get_jobs()}
