"""Periodic jobs (APScheduler): freshness publishing, the placement clock, the escalation
ladder, feed polling, the report roll-ups, notifications (fan-in from the outbox, the
dispatcher), reporter nudges, follow-up reminders, and retention.

Jobs that must run on one instance at a time take PostgreSQL advisory locks inside.
A failing job logs once and runs again at its next interval; it never stops the service.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bedboard import (
    auth,
    board,
    census,
    database,
    feeds,
    idempotency,
    links,
    logsafe,
    notify,
    nudges,
    outbox,
    placements,
)
from bedboard.reports import rollups
from bedboard.settings import Settings

log = logging.getLogger(__name__)

FRESHNESS_INTERVAL_S = 30
PLACEMENT_CLOCK_INTERVAL_S = 30
ESCALATION_INTERVAL_S = 60
OUTBOX_KEEP_HOURS = 48
HOUSEKEEPING_INTERVAL_S = 3600
NUDGE_INTERVAL_S = 60
FOLLOW_UP_INTERVAL_S = 60


async def publish_freshness(pool: database.Pool) -> int:
    async with database.acquire(pool) as conn:
        now = await board.db_now(conn)
        return await census.publish_freshness_changes(conn, now)


async def placement_clock(pool: database.Pool, settings: Settings) -> None:
    """Expire bed holds that ran out and referrals nobody answered, raise legal-deadline
    alerts, and make the no-bed records of deadlines that passed before admission; the
    holds about to run out, the expired holds and the deadline alerts are enqueued to the
    placement's liaison."""
    async with database.acquire(pool) as conn:
        now = await board.db_now(conn)
        expired = await placements.expired_holds(conn, now)
        await notify.occasions.holds_expired(conn, expired, now=now, zone=settings.zone)
        expiring = await placements.holds_expiring(
            conn, now, timedelta(minutes=settings.hold_warning_minutes)
        )
        await notify.occasions.holds_expiring(conn, expiring, now=now, zone=settings.zone)
        await placements.expire_unanswered(
            conn, now, timedelta(hours=settings.referral_expire_hours)
        )
        alerts = await placements.deadline_alerts(conn, now, settings.deadline_alert_hours)
        await notify.occasions.deadline_alerts(conn, alerts, now=now, zone=settings.zone)
        await placements.record_passed_deadlines(conn, now)
        unanswered = await placements.due_response_nudges(conn, now)
        await notify.occasions.unanswered_referrals(conn, unanswered, now=now, zone=settings.zone)


async def escalation_ladder(
    pool: database.Pool, settings: Settings
) -> list[placements.escalation.Raised]:
    """Raise the escalation rungs due and pass on the unacknowledged ones (one instance at
    a time), and enqueue each rung to its audiences; one log line per rung raised, naming
    the placement by its reference only."""
    async with database.acquire(pool) as conn:
        now = await board.db_now(conn)
        raised = await placements.escalation.run(conn, now)
        await notify.occasions.escalations(
            conn, raised, now=now, zone=settings.zone, on_call_email=settings.state_on_call_email
        )
    for rung in raised:
        log.info(
            "escalation: %s rung %d raised%s",
            rung.reference,
            rung.position,
            f" (rung {rung.escalated_from} not acknowledged)" if rung.escalated_from else "",
        )
    return raised


async def make_nudges(pool: database.Pool, settings: Settings) -> list[nudges.Due]:
    """Record the reporter nudges due now, enqueue each to the facility's census contacts
    and users, and log one line each (ids only)."""
    async with database.acquire(pool) as conn:
        now = await board.db_now(conn)
        due = await nudges.make_due(
            conn,
            now,
            signer=links.Signer(settings.resolved_secret_key()),
            base_url=settings.base_url,
            interval=timedelta(minutes=settings.nudge_interval_minutes),
            max_attempts=settings.nudge_max_attempts,
        )
        await notify.occasions.census_nudges(conn, due, now=now, zone=settings.zone)
    for item in due:
        log.info("census nudge due: facility %d, attempt %d", item.facility_id, item.attempt)
    return due


async def follow_up_reminders(pool: database.Pool, settings: Settings) -> int:
    """Claim the follow-up tasks whose time came and enqueue each one's reminder to its
    assignee, in one transaction (a task is reminded once, whichever instance runs it);
    one log line per run that found any, with a count only."""
    async with database.acquire(pool) as conn, conn.transaction():
        now = await board.db_now(conn)
        due = await placements.followups.due_follow_ups(conn, now)
        made = await notify.occasions.follow_ups_due(conn, due, now=now, zone=settings.zone)
    if due:
        log.info("follow-up reminders: %d tasks due, %d deliveries", len(due), made)
    return len(due)


async def housekeeping(pool: database.Pool, settings: Settings) -> None:
    """Retention, hourly: expired sessions and old login failures, idempotency keys past
    7 days, HL7 control ids past the duplicate window, the outbox past 48 hours."""
    async with database.acquire(pool) as conn:
        await auth.purge_expired(conn, settings)
        await idempotency.prune(conn)
        await feeds.hl7.prune_messages(conn)
        await outbox.prune(conn, keep_hours=OUTBOX_KEEP_HOURS)


async def refresh_report_rollups(pool: database.Pool, settings: Settings) -> None:
    """The compliance and capacity roll-ups, up to now (one instance at a time)."""
    async with database.acquire(pool) as conn:
        done = await rollups.refresh(conn, settings.timezone)
    if done is not None and done.rebuilt:
        log.info(
            "report roll-ups: %d groups recomputed (%d from their first report) in %d ms",
            done.groups,
            done.rebuilt,
            done.took_ms,
        )


async def notify_fan_in(pool: database.Pool, settings: Settings) -> None:
    """Referral events of the outbox → deliveries (one instance at a time, a cursor)."""
    async with database.acquire(pool) as conn:
        now = await board.db_now(conn)
        while (done := await notify.fan_in(conn, now=now, zone=settings.zone)) is not None:
            if done.changes < notify.fanin.BATCH:
                break


async def notify_dispatch(pool: database.Pool, settings: Settings) -> None:
    """Send the deliveries that are due (every instance; each row is claimed once)."""
    async with database.acquire(pool) as conn:
        now = await board.db_now(conn)
    await notify.dispatch_due(pool, notify.Config.from_settings(settings), now=now)


def _guarded(name: str, job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
    failing = False

    async def run() -> None:
        nonlocal failing
        try:
            await job()
        except database.DOWN_ERRORS as exc:
            if not failing:
                log.warning("job %s failed: database unavailable (%s)", name, exc)
            failing = True
            return
        except Exception as exc:  # noqa: BLE001 -- logged by logsafe
            if not failing:
                logsafe.log_failure(log, "job %s failed", name, exc=exc)
            failing = True
            return
        if failing:
            log.info("job %s recovered", name)
        failing = False

    return run


def build(pool: database.Pool, settings: Settings) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        _guarded("freshness", lambda: publish_freshness(pool)),
        IntervalTrigger(seconds=FRESHNESS_INTERVAL_S),
        id="freshness",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        _guarded("placements", lambda: placement_clock(pool, settings)),
        IntervalTrigger(seconds=PLACEMENT_CLOCK_INTERVAL_S),
        id="placements",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        _guarded("escalations", lambda: escalation_ladder(pool, settings)),
        IntervalTrigger(seconds=ESCALATION_INTERVAL_S),
        id="escalations",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        _guarded("feeds", lambda: feeds.poll_due(pool, allowed_dirs=settings.allowed_feed_dirs)),
        IntervalTrigger(seconds=feeds.SCAN_INTERVAL_S),
        id="feeds",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        _guarded("report-rollups", lambda: refresh_report_rollups(pool, settings)),
        IntervalTrigger(seconds=rollups.INTERVAL_S),
        id="report-rollups",
        max_instances=1,
        coalesce=True,
    )
    if settings.notify_enabled:
        scheduler.add_job(
            _guarded("notify-fan-in", lambda: notify_fan_in(pool, settings)),
            IntervalTrigger(seconds=notify.dispatch.INTERVAL_S),
            id="notify-fan-in",
            max_instances=1,
            coalesce=True,
        )
        scheduler.add_job(
            _guarded("notify-dispatch", lambda: notify_dispatch(pool, settings)),
            IntervalTrigger(seconds=notify.dispatch.INTERVAL_S),
            id="notify-dispatch",
            max_instances=1,
            coalesce=True,
        )
    scheduler.add_job(
        _guarded("nudges", lambda: make_nudges(pool, settings)),
        IntervalTrigger(seconds=NUDGE_INTERVAL_S),
        id="nudges",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        _guarded("follow-ups", lambda: follow_up_reminders(pool, settings)),
        IntervalTrigger(seconds=FOLLOW_UP_INTERVAL_S),
        id="follow-ups",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        _guarded("housekeeping", lambda: housekeeping(pool, settings)),
        IntervalTrigger(seconds=HOUSEKEEPING_INTERVAL_S),
        id="housekeeping",
        max_instances=1,
        coalesce=True,
    )
    return scheduler
