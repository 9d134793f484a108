"""The placement clock (the scheduler's entry points): holds about to run out and hold
expiry, deadline alerts, the no-bed records of deadlines that passed before admission, and
the referral response clock (referrals nobody answered expire; the response-target nudges
due)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from bedboard import nobed, outbox
from bedboard.database import Connection
from bedboard.placements.locks import _lock_referral
from bedboard.placements.models import UNDER_WAY_SQL
from bedboard.placements.referrals import _release_hold, _reopen_after_release
from bedboard.placements.timeline import _event, _events, _publish

ALERTS_LOCK_KEY = 0x6265_6462_616C_7274  # "bedbalrt"
NO_BED_LOCK_KEY = 0x6265_6462_6E6F_6264  # "bedbnobd"


class HoldExpired(BaseModel):
    """A bed hold that ran out: what a notification to the liaison may say (ids, names;
    nothing clinical or personal)."""

    referral_id: int
    placement_id: int
    reference: str
    facility_id: int
    facility_name: str
    unit_name: str


class HoldExpiring(BaseModel):
    """A bed hold still active that runs out soon: what a warning to the liaison may say."""

    referral_id: int
    placement_id: int
    reference: str
    facility_id: int
    facility_name: str
    unit_name: str
    expires_at: datetime


class DeadlineAlert(BaseModel):
    """A deadline point announced for a placement (``24h``…, ``passed``): what a
    notification may say."""

    placement_id: int
    reference: str
    point: str
    deadline_at: datetime


async def expire_holds(conn: Connection, now: datetime) -> int:
    """Expire accepted referrals whose hold ran out: the bed returns to the board and the
    placement is open again. Returns how many expired."""
    return len(await expired_holds(conn, now))


async def expired_holds(conn: Connection, now: datetime) -> list[HoldExpired]:
    """``expire_holds``, returning each hold expired (once: an expired hold is no longer
    active, so a second run finds it no more)."""
    due = await conn.fetch(
        "SELECT id FROM referrals WHERE hold_active AND hold_expires_at <= $1 ORDER BY id", now
    )
    expired: list[HoldExpired] = []
    for row in due:
        async with conn.transaction():
            placement, referral = await _lock_referral(conn, row["id"])
            if not (
                referral["hold_active"]
                and referral["hold_expires_at"]
                and referral["hold_expires_at"] <= now
            ):
                continue  # changed meanwhile
            await _release_hold(conn, referral)
            await conn.execute(
                "UPDATE referrals SET status = 'expired' WHERE id = $1", referral["id"]
            )
            await _event(
                conn,
                placement["id"],
                None,
                "hold_expired",
                data={"referral_id": referral["id"], "unit_id": referral["unit_id"]},
            )
            await _reopen_after_release(conn, placement, referral, "hold expired")
            await _publish(
                conn,
                placement["id"],
                "hold_expired",
                referral_ids=[referral["id"]],
                unit_ids=[referral["unit_id"]],
            )
            names = await conn.fetchrow(
                "SELECT f.id AS facility_id, f.name AS facility_name, un.name AS unit_name,"
                " p.reference"
                " FROM units un JOIN facilities f ON f.id = un.facility_id"
                " CROSS JOIN placements p WHERE un.id = $1 AND p.id = $2",
                referral["unit_id"],
                placement["id"],
            )
            assert names is not None
            expired.append(
                HoldExpired(
                    referral_id=referral["id"],
                    placement_id=placement["id"],
                    reference=names["reference"],
                    facility_id=names["facility_id"],
                    facility_name=names["facility_name"],
                    unit_name=names["unit_name"],
                )
            )
    return expired


async def holds_expiring(conn: Connection, now: datetime, within: timedelta) -> list[HoldExpiring]:
    """The active holds that run out after ``now`` and no later than ``within`` from it
    (a hold in transit has no end and is not among them). Reads only: every run in the
    window finds the hold again, and the notifier's key sends its warning once."""
    rows = await conn.fetch(
        """
        SELECT r.id AS referral_id, r.placement_id, p.reference, f.id AS facility_id,
               f.name AS facility_name, un.name AS unit_name, r.hold_expires_at AS expires_at
          FROM referrals r JOIN placements p ON p.id = r.placement_id
          JOIN units un ON un.id = r.unit_id
          JOIN facilities f ON f.id = un.facility_id
         WHERE r.hold_active AND r.hold_expires_at > $1 AND r.hold_expires_at <= $1 + $2
         ORDER BY r.hold_expires_at, r.id
        """,
        now,
        within,
    )
    return [HoldExpiring(**dict(r)) for r in rows]


def alert_points(hours: Sequence[int]) -> list[tuple[str, timedelta]]:
    """Named points before a deadline, plus the deadline itself ("passed")."""
    return [(f"{h}h", timedelta(hours=h)) for h in sorted(set(hours), reverse=True)] + [
        ("passed", timedelta(0))
    ]


async def raise_deadline_alerts(conn: Connection, now: datetime, hours: Sequence[int]) -> int:
    """Raise each due alert once per placement that is not admitted or closed; return how
    many were announced. A point that had already passed when the placement was created
    is recorded without an announcement (its countdown already shows it)."""
    return len(await deadline_alerts(conn, now, hours))


async def deadline_alerts(
    conn: Connection, now: datetime, hours: Sequence[int]
) -> list[DeadlineAlert]:
    """``raise_deadline_alerts``, returning each alert announced (once per placement and
    point: ``placement_alerts`` keeps the points raised)."""
    announced: list[DeadlineAlert] = []
    pending: list[tuple[str, dict[str, Any]]] = []
    async with conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", ALERTS_LOCK_KEY):
            return []
        for point, before in alert_points(hours):
            rows = await conn.fetch(
                f"""
                WITH raised AS (
                    INSERT INTO placement_alerts (placement_id, point, raised_at)
                    SELECT p.id, $2, $3 FROM placements p
                     WHERE p.deadline_at IS NOT NULL AND {UNDER_WAY_SQL}
                       AND p.deadline_at - $1::interval <= $3
                    ON CONFLICT DO NOTHING
                    RETURNING placement_id
                )
                SELECT p.id AS placement_id, p.reference, p.deadline_at,
                       p.deadline_at - $1::interval >= p.created_at AS announce
                  FROM raised JOIN placements p ON p.id = raised.placement_id
                 ORDER BY p.id
                """,  # noqa: S608 -- constant fragments
                before,
                point,
                now,
            )
            for row in rows:
                if not row["announce"] and point != "passed":
                    continue
                await _event(
                    conn,
                    row["placement_id"],
                    None,
                    "deadline_alert",
                    data={"point": point, "at": now.isoformat()},
                )
                pending += await _events(conn, row["placement_id"], f"deadline_{point}")
                announced.append(
                    DeadlineAlert(
                        placement_id=row["placement_id"],
                        reference=row["reference"],
                        point=point,
                        deadline_at=row["deadline_at"],
                    )
                )
        await outbox.append(conn, pending)  # one NOTIFY for the whole run
    return announced


async def record_passed_deadlines(conn: Connection, now: datetime) -> int:
    """Make the ``deadline_passed`` no-bed record of every placement still under way whose
    deadline is at or before ``now``; return how many were made. One instance at a time
    (``pg_try_advisory_xact_lock``: another one at it means skip this round); the table's
    unique constraint keeps one record per placement whoever makes it (a transition that
    admits or closes a placement past its deadline makes it too). Each new record gets a
    ``placements`` outbox event, so an open placement page shows it."""
    made = 0
    pending: list[tuple[str, dict[str, Any]]] = []
    async with conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", NO_BED_LOCK_KEY):
            return 0
        due = await conn.fetch(
            f"""
            SELECT p.id FROM placements p
             WHERE p.deadline_at IS NOT NULL AND p.deadline_at <= $1 AND {UNDER_WAY_SQL}
               AND NOT EXISTS (SELECT 1 FROM no_bed_reports n
                                WHERE n.placement_id = p.id AND n.trigger = $2)
             ORDER BY p.id
            """,  # noqa: S608 -- constant fragments
            now,
            nobed.Trigger.DEADLINE_PASSED.value,
        )
        for row in due:
            report = await nobed.record(conn, row["id"], nobed.Trigger.DEADLINE_PASSED, now=now)
            if report is not None:
                pending += await _events(conn, row["id"], "no_bed_recorded")
                made += 1
        await outbox.append(conn, pending)  # one NOTIFY for the whole run
    return made


async def expire_unanswered(conn: Connection, now: datetime, after: timedelta) -> int:
    """Expire the referrals still ``pending`` (nobody at the facility acknowledged, asked
    or answered) that were sent ``after`` ago or longer, so the liaison moves on. A
    referral the facility acknowledged or asked about does not expire here. Returns how
    many expired."""
    due = await conn.fetch(
        "SELECT id FROM referrals WHERE status = 'pending' AND created_at <= $1 ORDER BY id",
        now - after,
    )
    count = 0
    for row in due:
        async with conn.transaction():
            placement, referral = await _lock_referral(conn, row["id"])
            if referral["status"] != "pending" or referral["created_at"] > now - after:
                continue  # answered meanwhile
            await conn.execute(
                "UPDATE referrals SET status = 'expired', unanswered_expired_at = $2 WHERE id = $1",
                referral["id"],
                now,
            )
            await _event(
                conn,
                placement["id"],
                None,
                "referral_expired",
                from_state="pending",
                to_state="expired",
                data={
                    "referral_id": referral["id"],
                    "unit_id": referral["unit_id"],
                    "reason": "no_answer",
                },
            )
            await _publish(conn, placement["id"], "referral_expired", referral_ids=[referral["id"]])
            count += 1
    return count


# The response-target nudges: (threshold name, multiple of the facility's target).
NUDGE_THRESHOLDS: tuple[tuple[str, int], ...] = (("target", 1), ("twice_target", 2))


class ResponseNudge(BaseModel):
    """A pending referral past a threshold of its facility's response target: what a
    notification to the facility's intake contact may say (ids, names, times; nothing
    clinical or personal)."""

    referral_id: int
    placement_id: int
    reference: str
    facility_id: int
    facility_name: str
    unit_name: str
    phone_intake: str
    threshold: str
    target_minutes: int
    sent_at: datetime
    waited_minutes: int


async def due_response_nudges(conn: Connection, now: datetime) -> list[ResponseNudge]:
    """Claim and return the nudges due at ``now``: each referral still ``pending`` past
    each threshold of its facility's response target, once per referral and threshold
    (``referral_nudges``; an instance racing another claims each at most once). Sends
    nothing: the caller notifies."""
    nudges: list[ResponseNudge] = []
    async with conn.transaction():
        for name, multiple in NUDGE_THRESHOLDS:
            rows = await conn.fetch(
                """
                WITH claimed AS (
                    INSERT INTO referral_nudges (referral_id, threshold, raised_at)
                    SELECT r.id, $2, $3 FROM referrals r
                      JOIN units un ON un.id = r.unit_id
                      JOIN facilities f ON f.id = un.facility_id
                     WHERE r.status = 'pending'
                       AND r.created_at + make_interval(mins => f.response_target_minutes * $1)
                           <= $3
                    ON CONFLICT DO NOTHING
                    RETURNING referral_id
                )
                SELECT r.id AS referral_id, r.placement_id, p.reference, f.id AS facility_id,
                       f.name AS facility_name, un.name AS unit_name, f.phone_intake,
                       f.response_target_minutes AS target_minutes, r.created_at AS sent_at
                  FROM claimed c JOIN referrals r ON r.id = c.referral_id
                  JOIN placements p ON p.id = r.placement_id
                  JOIN units un ON un.id = r.unit_id
                  JOIN facilities f ON f.id = un.facility_id
                 ORDER BY r.id
                """,
                multiple,
                name,
                now,
            )
            nudges += [
                ResponseNudge(
                    **dict(r),
                    threshold=name,
                    waited_minutes=int((now - r["sent_at"]).total_seconds() // 60),
                )
                for r in rows
            ]
    return nudges
