"""Fan-in: the outbox's referral and placement events become deliveries.

``fan_in`` reads the ``referrals`` and ``placements`` rows of ``board_outbox`` after the
stored cursor (one instance at a time: a transaction advisory lock), enqueues, and moves
the cursor in the same transaction, so an event is enqueued once even when the job runs
on every instance. The outbox carries ids and states only; the names a message shows are
read from the tables here.

- a referral sent (status ``pending``, first seen) → REFERRAL_ARRIVED to the facility's
  intake contact, its webhooks and its facility users;
- a referral accepted, declined or questioned → REFERRAL_ANSWERED to the placement's
  liaison (and the webhooks that list the event);
- a message on a referral's thread (``event: referral_message``) → REFERRAL_MESSAGE to
  the other side: the placement's liaison when the facility wrote, the facility's users,
  intake contact and webhooks when a liaison did (never the text: the frame has none);
- a placement of a court with a referral accepted, admitted, closed, or past its legal
  deadline before admission → COURT_UPDATE to the court's clerk address (when it has one)
  and the webhooks that list the event (the program's, and the accepted facility's).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bedboard import localtime, outbox
from bedboard.database import Connection
from bedboard.notify import models, store
from bedboard.notify.models import EVENTS, Event

log = logging.getLogger(__name__)

LOCK_KEY = 0x62626E66  # advisory lock: one fan-in at a time
BATCH = 500
ANSWERS = frozenset(models.ANSWER_WORDS)


@dataclass(frozen=True)
class FanIn:
    changes: int  # outbox rows read
    deliveries: int  # delivery rows made
    cursor: int


async def _names(conn: Connection, referral_id: int) -> Any:
    return await conn.fetchrow(
        """
        SELECT r.id, r.placement_id, un.facility_id, p.reference, p.deadline_at, p.liaison_id,
               f.name AS facility, un.name AS unit
          FROM referrals r JOIN units un ON un.id = r.unit_id
          JOIN facilities f ON f.id = un.facility_id
          JOIN placements p ON p.id = r.placement_id
         WHERE r.id = $1
        """,
        referral_id,
    )


async def _facility_users(conn: Connection, facility_id: int) -> list[int]:
    rows = await conn.fetch(
        "SELECT uf.user_id FROM user_facilities uf JOIN users u ON u.id = uf.user_id"
        " WHERE uf.facility_id = $1 AND u.role = 'facility' AND NOT u.disabled",
        facility_id,
    )
    return [int(r["user_id"]) for r in rows]


async def _message(
    conn: Connection, change: outbox.Change, *, now: datetime, zone: ZoneInfo
) -> int:
    data = change.payload
    row = await _names(conn, int(data["referral_id"]))
    if row is None:
        return 0
    event = Event.REFERRAL_MESSAGE
    to_facility = data.get("side") == "liaison"
    message = models.referral_message(
        reference=row["reference"],
        placement_id=row["placement_id"],
        facility=row["facility"],
        unit=row["unit"],
        to_facility=to_facility,
    )
    if to_facility:
        users = await _facility_users(conn, row["facility_id"])
        recipients = await store.contact_recipients(conn, event, row["facility_id"])
    else:
        users = [row["liaison_id"]] if row["liaison_id"] is not None else []
        recipients = await store.webhook_recipients(conn, event, None)
    recipients += await store.user_recipients(conn, event, users, now=now, zone=zone)
    made = await store.enqueue(
        conn,
        key=f"{event.value}:{data['message_id']}",
        message=message,
        recipients=recipients,
        critical=EVENTS[event].critical,
        now=now,
    )
    return len(made)


async def _one(conn: Connection, change: outbox.Change, *, now: datetime, zone: ZoneInfo) -> int:
    data = change.payload
    if data.get("event") == "referral_message":
        return await _message(conn, change, now=now, zone=zone)
    status = str(data.get("status", ""))
    if status != "pending" and status not in ANSWERS:
        return 0
    row = await _names(conn, int(data["referral_id"]))
    if row is None:
        return 0
    shown = localtime.format_datetime(row["deadline_at"], zone)
    if status == "pending":
        event = Event.REFERRAL_ARRIVED
        # Once per referral: a question answered takes it back to reviewing, not to new.
        key = f"{event.value}:{row['id']}"
        message = models.referral_arrived(
            reference=row["reference"],
            facility=row["facility"],
            unit=row["unit"],
            deadline_at=row["deadline_at"],
            deadline_shown=shown,
        )
        users = await _facility_users(conn, row["facility_id"])
    else:
        event = Event.REFERRAL_ANSWERED
        key = f"{event.value}:{row['id']}:{status}:{change.seq}"
        message = models.referral_answered(
            reference=row["reference"],
            placement_id=row["placement_id"],
            status=status,
            facility=row["facility"],
            unit=row["unit"],
            deadline_at=row["deadline_at"],
            deadline_shown=shown,
        )
        users = [row["liaison_id"]] if row["liaison_id"] is not None else []
    recipients = await store.contact_recipients(conn, event, row["facility_id"])
    recipients += await store.user_recipients(conn, event, users, now=now, zone=zone)
    made = await store.enqueue(
        conn,
        key=key,
        message=message,
        recipients=recipients,
        critical=EVENTS[event].critical,
        now=now,
    )
    return len(made)


async def _court_update(
    conn: Connection, change: outbox.Change, *, now: datetime, zone: ZoneInfo
) -> int:
    data = change.payload
    kind = str(data.get("event", ""))
    if kind not in models.COURT_UPDATES or data.get("court_id") is None:
        return 0
    status = str(data["status"])
    # The court's own view names the facility only while a bed is accepted or taken.
    shows_facility = status in ("accepted", "in_transit", "admitted")
    facility_id = data.get("accepted_facility_id") if shows_facility else None
    row = await conn.fetchrow(
        "SELECT p.reference, p.deadline_at, ct.clerk_email, f.name AS facility"
        " FROM placements p JOIN courts ct ON ct.id = p.court_id"
        " LEFT JOIN facilities f ON f.id = $2 WHERE p.id = $1",
        int(data["placement_id"]),
        facility_id,
    )
    if row is None:
        return 0
    message = models.court_update(
        reference=row["reference"],
        change=kind,
        status=status,
        facility=row["facility"] or "",
        deadline_at=row["deadline_at"],
        deadline_shown=localtime.format_datetime(row["deadline_at"], zone),
    )
    recipients = await store.webhook_recipients(conn, Event.COURT_UPDATE, facility_id)
    if row["clerk_email"]:
        recipients.append(models.Recipient(models.Channel.EMAIL, row["clerk_email"]))
    # Admitted, closed and the deadline passing happen once per placement; a referral can
    # be accepted again after a hold fell through, so each acceptance is its own occasion.
    key = f"court-update:{data['placement_id']}:{kind}"
    if kind == "accepted":
        key += f":{change.seq}"
    made = await store.enqueue(
        conn, key=key, message=message, recipients=recipients, critical=False, now=now
    )
    return len(made)


async def fan_in(
    conn: Connection, *, now: datetime, zone: ZoneInfo, batch: int = BATCH
) -> FanIn | None:
    """Enqueue the deliveries of the referral and placement events after the cursor (up to ``batch``
    outbox rows). None when another instance is doing it right now."""
    async with conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", LOCK_KEY):
            return None
        cursor = int(await conn.fetchval("SELECT seq FROM notify_cursor FOR UPDATE"))
        first = await outbox.oldest(conn)
        if first is not None and cursor < first - 1:
            log.warning(
                "notifications: outbox rows %d..%d were pruned unread", cursor + 1, first - 1
            )
            cursor = first - 1
        rows = await conn.fetch(
            "SELECT seq, at, topic, payload FROM board_outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
            cursor,
            batch,
        )
        made = 0
        for r in rows:
            change = outbox.Change(r["seq"], r["at"], r["topic"], r["payload"])
            if r["topic"] == outbox.REFERRALS:
                made += await _one(conn, change, now=now, zone=zone)
            elif r["topic"] == outbox.PLACEMENTS:
                made += await _court_update(conn, change, now=now, zone=zone)
        if rows:
            cursor = int(rows[-1]["seq"])
        await conn.execute("UPDATE notify_cursor SET seq = $1", cursor)
        return FanIn(len(rows), made, cursor)


async def skip_to_head(conn: Connection) -> int:
    """Move the cursor to the outbox head: what was written so far sends nothing (the
    demo's seeded placements). Returns the new position."""
    return int(
        await conn.fetchval(
            "UPDATE notify_cursor SET seq = (SELECT seq FROM outbox_counter) RETURNING seq"
        )
    )
