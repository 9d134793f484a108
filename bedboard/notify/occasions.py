"""The occasions the clocks find, turned into deliveries: escalation rungs (the ladder's
audiences), referrals past their facility's response target, and late census (the
reporter nudges with their one-time link). Each function takes what its job returned,
resolves the recipients and enqueues one message per occasion with a stable key, so a
job that runs twice sends nothing twice.

Every occasion also goes to the active webhook endpoints that list its event: the whole
program's, and the facility's own when the occasion is about that facility (a referral
unanswered, a late census, a hold at one of its units). Escalations and deadline alerts
are about a placement, not a facility: program-wide endpoints only. A webhook's census
nudge links to the census form through the sign-in page, never the one-time link (that
link opens the form without a password and goes only to the facility's own people).

Who gets what:

- **Escalation** (``placements.escalation.Raised``), per audience: ``liaison`` — the
  placement's liaison; ``supervisor`` — the active supervisors of the region the
  placement's county is in, or the program's administrators when that region has none
  (or the county is in no region), so the rung always reaches someone who may
  acknowledge it; ``state_on_call`` — the address
  in ``BEDBOARD_STATE_ON_CALL_EMAIL`` (nobody when unset); ``state_hospital`` — the
  intake contacts and users of every active state hospital; ``court`` — the court users
  of the placement's court and its clerk's address. Critical: it ignores quiet hours.
- **Referral unanswered** (``placements.ResponseNudge``): the facility's intake contact
  and its users.
- **Census nudge** (``nudges.Due``): the facility's census contacts (its intake contact
  when it has none) and its users, with the one-time link.
- **Deadline alerts** (``placements.DeadlineAlert``): the placement's liaison (in-app and
  email by default; critical). Once per placement and point.
- **Hold expiring** (``placements.HoldExpiring``): the placement's liaison (in-app by
  default), ``BEDBOARD_HOLD_WARNING_MINUTES`` before the hold runs out. Once per hold.
- **Hold expired** (``placements.HoldExpired``): the placement's liaison (in-app by
  default). Once per hold.
- **Follow-up due** (``placements.followups.FollowUpDue``): the task's assignee (in-app
  and email by default). Once per task.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bedboard import localtime
from bedboard.auth import Role
from bedboard.database import Connection
from bedboard.notify import models
from bedboard.notify.models import Channel, Event, Recipient
from bedboard.notify.store import enqueue, user_recipients, webhook_recipients
from bedboard.nudges import Due
from bedboard.placements.clock import DeadlineAlert, HoldExpired, HoldExpiring, ResponseNudge
from bedboard.placements.escalation import Raised
from bedboard.placements.followups import FollowUpDue


async def _contacts(
    conn: Connection, facility_ids: Sequence[int], purposes: Sequence[str]
) -> list[Recipient]:
    rows = await conn.fetch(
        "SELECT DISTINCT ON (facility_id) id, email FROM facility_contacts"
        " WHERE facility_id = ANY($1::bigint[]) AND purpose = ANY($2::text[]) AND email <> ''"
        " ORDER BY facility_id, array_position($2::text[], purpose), id",
        list(facility_ids),
        list(purposes),
    )
    return [Recipient(Channel.EMAIL, r["email"], contact_id=r["id"]) for r in rows]


async def _facility_users(conn: Connection, facility_ids: Sequence[int]) -> list[int]:
    return [
        r["user_id"]
        for r in await conn.fetch(
            "SELECT DISTINCT user_id FROM user_facilities WHERE facility_id = ANY($1::bigint[])"
            " ORDER BY user_id",
            list(facility_ids),
        )
    ]


async def _supervisors(conn: Connection, placement_id: int) -> list[int]:
    """The active supervisors of the region containing the placement's county; the
    active administrators when there are none (no supervisor there, or no region)."""
    rows = await conn.fetch(
        """
        SELECT u.id FROM placements p
          JOIN region_counties rc ON rc.county_fips = p.county_fips
          JOIN users u ON u.region_id = rc.region_id
         WHERE p.id = $1 AND u.role = $2 AND NOT u.disabled
         ORDER BY u.id
        """,
        placement_id,
        Role.SUPERVISOR.value,
    )
    if not rows:
        rows = await conn.fetch(
            "SELECT id FROM users WHERE role = $1 AND NOT disabled ORDER BY id", Role.ADMIN.value
        )
    return [r["id"] for r in rows]


async def _audience(
    conn: Connection, audience: str, placement_id: int, on_call_email: str | None
) -> tuple[list[int], list[Recipient]]:
    """(user ids, direct recipients) for one audience of a rung."""
    if audience == "liaison":
        liaison = await conn.fetchval(
            "SELECT liaison_id FROM placements WHERE id = $1", placement_id
        )
        return ([liaison] if liaison is not None else []), []
    if audience == "supervisor":
        return await _supervisors(conn, placement_id), []
    if audience == "state_on_call":
        return [], ([Recipient(Channel.EMAIL, on_call_email)] if on_call_email else [])
    if audience == "state_hospital":
        ids = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM facilities WHERE kind = 'state_hospital' AND active ORDER BY id"
            )
        ]
        return await _facility_users(conn, ids), await _contacts(conn, ids, ["intake"])
    if audience == "court":
        users = await conn.fetch(
            "SELECT u.id FROM users u JOIN placements p ON p.court_id = u.court_id"
            " WHERE p.id = $1 AND u.role = $2 AND NOT u.disabled ORDER BY u.id",
            placement_id,
            Role.COURT.value,
        )
        clerk = await conn.fetchval(
            "SELECT c.clerk_email FROM courts c JOIN placements p ON p.court_id = c.id"
            " WHERE p.id = $1",
            placement_id,
        )
        return [r["id"] for r in users], ([Recipient(Channel.EMAIL, clerk)] if clerk else [])
    return [], []


async def _send(
    conn: Connection,
    key: str,
    message: models.Message,
    recipients: list[Recipient],
    *,
    critical: bool,
    now: datetime,
) -> int:
    """Enqueue one occasion; the number of deliveries made (0 when already enqueued)."""
    made = await enqueue(
        conn, key=key, message=message, recipients=recipients, critical=critical, now=now
    )
    return len(made)


def _shown(at: datetime | None, zone: ZoneInfo) -> str:
    return localtime.format_datetime(at, zone) if at is not None else ""


async def escalations(
    conn: Connection,
    raised: Sequence[Raised],
    *,
    now: datetime,
    zone: ZoneInfo,
    on_call_email: str | None,
) -> int:
    """Enqueue each raised rung to its audiences; the number of deliveries made."""
    made = 0
    for rung in raised:
        user_ids: list[int] = []
        direct: list[Recipient] = []
        for audience in rung.audiences:
            users, others = await _audience(conn, audience, rung.placement_id, on_call_email)
            user_ids += users
            direct += others
        # A facility user reached as a state hospital's staff is not a subscriber of the
        # escalation event by role; their hospital's intake address is.
        recipients = await user_recipients(conn, Event.ESCALATION, user_ids, now=now, zone=zone)
        recipients += await webhook_recipients(conn, Event.ESCALATION, None)
        message = models.escalation_raised(
            reference=rung.reference,
            placement_id=rung.placement_id,
            position=rung.position,
            audiences=list(rung.audiences),
            deadline_at=rung.deadline,
            deadline_shown=_shown(rung.deadline, zone),
            ack_by_shown=_shown(rung.ack_due_at, zone),
            passed_on=rung.escalated_from is not None,
            offer_wider_search=rung.offer_wider_search,
        )
        made += await _send(
            conn,
            f"escalation:{rung.escalation_id}",
            message,
            recipients + direct,
            critical=True,
            now=now,
        )
    return made


async def unanswered_referrals(
    conn: Connection, nudges: Sequence[ResponseNudge], *, now: datetime, zone: ZoneInfo
) -> int:
    made = 0
    # A referral past several thresholds at once (the clock was down, or a first run)
    # gets one message, for the highest.
    latest = {n.referral_id: n for n in nudges}
    for nudge in latest.values():
        users = await _facility_users(conn, [nudge.facility_id])
        recipients = await user_recipients(
            conn, Event.REFERRAL_UNANSWERED, users, now=now, zone=zone
        ) + await _contacts(conn, [nudge.facility_id], ["intake"])
        recipients += await webhook_recipients(conn, Event.REFERRAL_UNANSWERED, nudge.facility_id)
        message = models.referral_unanswered(
            reference=nudge.reference,
            facility=nudge.facility_name,
            unit=nudge.unit_name,
            waited_minutes=nudge.waited_minutes,
        )
        made += await _send(
            conn,
            f"referral-unanswered:{nudge.referral_id}:{nudge.threshold}",
            message,
            recipients,
            critical=False,
            now=now,
        )
    return made


async def census_nudges(
    conn: Connection, due: Sequence[Due], *, now: datetime, zone: ZoneInfo
) -> int:
    made = 0
    for item in due:
        users = await _facility_users(conn, [item.facility_id])
        recipients = await user_recipients(
            conn, Event.CENSUS_NUDGE, users, now=now, zone=zone
        ) + await _contacts(conn, [item.facility_id], ["census", "intake"])
        message = models.census_nudge(
            facility=item.facility_name,
            link_path=urlsplit(item.url).path,
            expires_shown=localtime.format_time(item.expires_at, zone),
            attempt=item.attempt,
        )
        key = f"census-nudge:{item.facility_id}:{item.attempt}:{item.expires_at.isoformat()}"
        made += await _send(conn, key, message, recipients, critical=False, now=now)
        hooks = await webhook_recipients(conn, Event.CENSUS_NUDGE, item.facility_id)
        systems = models.census_late(facility=item.facility_name, attempt=item.attempt)
        made += await _send(conn, key, systems, hooks, critical=False, now=now)
    return made


async def _to_liaison(
    conn: Connection,
    key: str,
    message: models.Message,
    placement_id: int,
    *,
    facility_id: int | None = None,
    now: datetime,
    zone: ZoneInfo,
) -> int:
    """Enqueue ``message`` once (``key``) to the placement's liaison, on the channels the
    liaison chose for its event, and to the webhooks that list the event (the program's,
    and ``facility_id``'s); the number of deliveries made."""
    liaison = await conn.fetchval("SELECT liaison_id FROM placements WHERE id = $1", placement_id)
    users = [liaison] if liaison is not None else []
    recipients = await user_recipients(conn, message.event, users, now=now, zone=zone)
    recipients += await webhook_recipients(conn, message.event, facility_id)
    critical = models.EVENTS[message.event].critical
    return await _send(conn, key, message, recipients, critical=critical, now=now)


async def deadline_alerts(
    conn: Connection, alerts: Sequence[DeadlineAlert], *, now: datetime, zone: ZoneInfo
) -> int:
    """Enqueue each announced deadline point to the placement's liaison; the number of
    deliveries made."""
    made = 0
    for alert in alerts:
        message = models.deadline_alert(
            reference=alert.reference,
            placement_id=alert.placement_id,
            point=alert.point,
            deadline_at=alert.deadline_at,
            deadline_shown=_shown(alert.deadline_at, zone),
        )
        key = f"deadline:{alert.placement_id}:{alert.point}"
        made += await _to_liaison(conn, key, message, alert.placement_id, now=now, zone=zone)
    return made


async def holds_expiring(
    conn: Connection, expiring: Sequence[HoldExpiring], *, now: datetime, zone: ZoneInfo
) -> int:
    """Warn the placement's liaison of each hold about to run out, once per hold (the
    clock finds it on every run until it runs out); the number of deliveries made."""
    made = 0
    for hold in expiring:
        message = models.hold_expiring(
            reference=hold.reference,
            placement_id=hold.placement_id,
            facility=hold.facility_name,
            unit=hold.unit_name,
            expires_shown=localtime.format_time(hold.expires_at, zone),
        )
        key = f"hold-expiring:{hold.referral_id}:{hold.expires_at.isoformat()}"
        made += await _to_liaison(
            conn, key, message, hold.placement_id, facility_id=hold.facility_id, now=now, zone=zone
        )
    return made


async def holds_expired(
    conn: Connection, expired: Sequence[HoldExpired], *, now: datetime, zone: ZoneInfo
) -> int:
    """Enqueue each expired hold to the placement's liaison; the number of deliveries."""
    made = 0
    for hold in expired:
        message = models.hold_expired(
            reference=hold.reference,
            placement_id=hold.placement_id,
            facility=hold.facility_name,
            unit=hold.unit_name,
        )
        key = f"hold-expired:{hold.referral_id}"
        made += await _to_liaison(
            conn, key, message, hold.placement_id, facility_id=hold.facility_id, now=now, zone=zone
        )
    return made


async def follow_ups_due(
    conn: Connection, due: Sequence[FollowUpDue], *, now: datetime, zone: ZoneInfo
) -> int:
    """Enqueue each follow-up task whose time came to its assignee; the number of
    deliveries made. The message names the placement and the due time, never the task."""
    made = 0
    for task in due:
        shown = (
            localtime.format_date(task.due_at, zone)
            if task.due_all_day
            else localtime.format_datetime(task.due_at, zone)
        )
        message = models.follow_up_due(
            reference=task.reference, placement_id=task.placement_id, due_shown=shown
        )
        recipients = await user_recipients(
            conn, Event.FOLLOW_UP_DUE, [task.assignee_id], now=now, zone=zone
        )
        made += await _send(
            conn,
            f"follow-up-due:{task.follow_up_id}",
            message,
            recipients,
            critical=models.EVENTS[Event.FOLLOW_UP_DUE].critical,
            now=now,
        )
    return made
