"""HL7 v2: the database side of the ``hl7`` feed kind (the listener is ``mllp.py``).

For each MLLP block, ``handle`` reads the message once (``facility_adapters.hl7.
read_message``: the header and python-hl7's parse) and answers with an ACK built from
that same reading, after one database transaction:

1. Route: the enabled ``hl7`` feed whose ``sending_facility`` equals MSH-4.1 and whose
   ``allowed_addresses`` admit the peer. No feed: AE (AR when unreadable, judged in UTC:
   without a feed there is no time zone), logged once. Address not allowed, or several
   feeds admit it: AE, quarantined on the feed(s).
2. The bed event, from the parse, with times read in the feed's time zone.
   Unreadable: AR, quarantined. Not a bed event (A04, A08, …): AA, nothing applied.
   MSH-11 not in the feed's ``processing_ids``: AE, quarantined.
3. Under a per-feed transaction advisory lock (messages of one feed apply one at a
   time, across instances):

   - dedupe: ``(MSH-4, MSH-10)`` goes into ``hl7_messages``; already there: AA, not
     applied again. Only messages that were processed (AA) are remembered, so a message
     refused with AE can be resent under the same control id once the cause is fixed;
   - an event time more than 5 minutes ahead of the database clock: AE, quarantined;
   - each bed change is applied to ``hl7_beds`` unless the bed already has a *newer*
     event (ties apply, in arrival order). A change older than the bed's last event is
     not an error: the information is superseded, so the message is acknowledged AA
     (MSA-3 says what was skipped) and not quarantined; resending it would not help;
   - the census of every affected unit is derived from all its beds (staffed = beds
     known for its point(s) of care, configured or learnt; occupied = O; blocked =
     C/H/I/K) and applied through ``feeds.ingest`` (mapping, validation, ``census.apply``).
     Several points of care may map to one unit: their beds are counted together.
     The report's ``as_of`` is the newest event among the unit's beds; when a late
     (reordered) event changes the counts without being the newest, the report is dated
     1 µs after the unit's stored report *from this feed*, so the correction applies
     (a newer report from another source still wins);
   - no affected point of care mapped to a unit: AE, nothing applied (the points of
     care are listed on the feed's page as unmapped). Some mapped: AA, applied to those.

Whatever happens, the message gets an ACK echoing MSH-10. The feed's health records a
success for every AA, a failure for AR, a future-dated message or an apply error (not
for addresses, mappings or processing ids, which a stranger or a misrouted message
could otherwise use to mark a working feed failing). An unexpected error or an
unreachable database answers AE ("resend later"): the message may well be fine.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError

from bedboard import board, census, database, logsafe
from bedboard.census import FUTURE_SKEW
from bedboard.database import Connection
from bedboard.errors import DomainError
from bedboard.feeds import store
from bedboard.feeds.health import Attempt, record_attempt
from bedboard.feeds.ingest import ingest
from facility_adapters.base import Parsed, Rejected, SourceReport
from facility_adapters.hl7 import (
    ACCEPT,
    BLOCKED_STATUSES,
    ERROR,
    OCCUPIED,
    REJECT,
    AckCode,
    BedChange,
    Hl7Config,
    Hl7Event,
    Hl7Ignored,
    Hl7Message,
    Hl7Rejected,
    read_message,
    redact,
)

# The name operators know from docs/operations.md (this was bedboard/hl7_ingest.py).
log = logging.getLogger("bedboard.hl7_ingest")

HL7_LOCK_CLASS = 0x6268  # advisory lock namespace: (HL7_LOCK_CLASS, feed id)
MESSAGE_RETENTION = timedelta(days=30)
LOG_ONCE_KEEP = 10_000


@dataclass(frozen=True)
class Reply:
    code: AckCode
    text: str


@dataclass
class _Refused(Exception):
    """Undo the message's own changes (savepoint) and answer ``code``."""

    code: AckCode
    reason: str
    failing: bool
    reports: list[SourceReport] = field(default_factory=list)


_logged: set[tuple[str, ...]] = set()


def log_once(key: tuple[str, ...], message: str, *args: object) -> None:
    if key in _logged:
        return
    if len(_logged) >= LOG_ONCE_KEEP:
        _logged.clear()
    _logged.add(key)
    log.warning(message, *args)


# --------------------------------------------------------------------------- handling


async def handle(pool: database.Pool, raw: bytes, peer_ip: str) -> bytes:
    """Process one MLLP block's content from ``peer_ip``; return the ACK bytes. Never raises
    (except cancellation): every message gets an answer."""
    message = read_message(raw)  # the header and the parse, once, for the event and the ACK
    try:
        async with database.transaction(pool) as conn:
            reply = await _handle(conn, message, peer_ip)
    except database.DOWN_ERRORS as exc:
        log_once(("down",), "HL7: database unavailable, answering AE: %s", exc)
        reply = Reply(ERROR, "bedboard cannot reach its database; resend later")
    except Exception as exc:  # noqa: BLE001 -- logged by logsafe
        logsafe.log_failure(log, "HL7 %s from %s: failed", message.header.where, peer_ip, exc=exc)
        reply = Reply(ERROR, "bedboard failed to process the message; resend later")
    else:
        _logged.discard(("down",))
    return message.ack(reply.code, reply.text)


async def _handle(conn: Connection, message: Hl7Message, peer_ip: str) -> Reply:
    routed = await _route(conn, message, peer_ip)
    if isinstance(routed, Reply):
        return routed
    feed_id, config = routed
    result = message.event(config.zone)
    if isinstance(result, Hl7Rejected):
        return await _refuse(conn, feed_id, message, REJECT, result.reason, failing=True)
    processing_id = message.header.processing_id or "P"
    if processing_id not in config.processing_ids:
        return await _refuse(
            conn,
            feed_id,
            message,
            ERROR,
            f"processing id (MSH-11) {processing_id[:3]} is not accepted by this feed",
            failing=False,
        )
    if isinstance(result, Hl7Ignored):
        await record_attempt(conn, feed_id, Attempt(ok=True))
        return Reply(ACCEPT, f"{result.trigger} does not change beds; nothing applied")
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", HL7_LOCK_CLASS, feed_id)
    try:
        async with conn.transaction():  # savepoint: a refusal undoes the message's changes
            reply = await _apply(conn, feed_id, config, result)
    except _Refused as refused:
        return await _refuse(
            conn,
            feed_id,
            message,
            refused.code,
            refused.reason,
            failing=refused.failing,
            reports=refused.reports,
        )
    await record_attempt(conn, feed_id, Attempt(ok=True))
    return reply


def _unreadable(message: Hl7Message) -> str | None:
    """Why a message no feed takes cannot be a bed event (read in UTC: there is no feed
    whose time zone could apply), or None when it can."""
    result = message.event()
    return result.reason if isinstance(result, Hl7Rejected) else None


async def _route(
    conn: Connection, message: Hl7Message, peer_ip: str
) -> tuple[int, Hl7Config] | Reply:
    header = message.header
    facility = header.sending_facility
    if not facility:
        unreadable = _unreadable(message)
        log_once(
            ("no-facility", peer_ip),
            "HL7 from %s without a sending facility (MSH-4): %s",
            peer_ip,
            unreadable or "no feed can be chosen",
        )
        return Reply(REJECT, unreadable or "MSH-4 (sending facility) is empty")
    candidates: list[tuple[int, Hl7Config]] = []
    for fid, settings in await store.enabled_settings(
        conn, "hl7", key="sending_facility", value=facility
    ):
        try:
            candidates.append((fid, Hl7Config.model_validate(settings)))
        except ValidationError as exc:
            log_once(("config", str(fid)), "HL7 feed %s: invalid settings: %s", fid, exc)
    if not candidates:
        log_once(
            ("unknown", facility, peer_ip),
            "HL7 from %s: no enabled hl7 feed has sending_facility %r",
            peer_ip,
            facility,
        )
        unreadable = _unreadable(message)
        if unreadable:
            return Reply(REJECT, unreadable)
        return Reply(ERROR, f"no bedboard feed accepts sending facility {facility}")
    admitted = [(fid, cfg) for fid, cfg in candidates if cfg.admits(peer_ip)]
    if len(admitted) == 1:
        return admitted[0]
    if not admitted:
        reason = f"address {peer_ip} is not in allowed_addresses for {facility}"
    else:
        ids = ", ".join(str(fid) for fid, _ in admitted)
        reason = f"several feeds ({ids}) accept {facility} from {peer_ip}; make one"
        log.warning("HL7: %s", reason)
    log_once(("refused", facility, peer_ip), "HL7 from %s: %s", peer_ip, reason)
    for fid, _ in admitted or candidates:
        await store.add_to_quarantine(
            conn, fid, [Rejected.of(header.where, reason, redact(message.raw))]
        )
    return Reply(ERROR, reason)


async def _refuse(
    conn: Connection,
    feed_id: int,
    message: Hl7Message,
    code: AckCode,
    reason: str,
    *,
    failing: bool,
    reports: Sequence[SourceReport] = (),
) -> Reply:
    """Quarantine the message (and record unmapped points of care); note a failure."""
    where = message.header.where
    rejected = [Rejected.of(where, f"{code}: {reason}", redact(message.raw))]
    if reports:
        await ingest(conn, feed_id, Parsed(reports=list(reports), rejected=rejected))
    else:
        await store.add_to_quarantine(conn, feed_id, rejected)
    if failing:
        await record_attempt(conn, feed_id, Attempt(ok=False, error=f"{where}: {reason}"))
    return Reply(code, reason)


# --------------------------------------------------------------------------- beds → census

_UPSERT_BED = """
    INSERT INTO hl7_beds AS b (feed_id, bed, point_of_care, status, last_event_at)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (feed_id, bed) DO UPDATE
       SET status = EXCLUDED.status, point_of_care = EXCLUDED.point_of_care,
           last_event_at = EXCLUDED.last_event_at
     WHERE b.last_event_at <= EXCLUDED.last_event_at
    RETURNING true
"""


async def _apply(conn: Connection, feed_id: int, config: Hl7Config, event: Hl7Event) -> Reply:
    header = event.header
    fresh = await conn.fetchval(
        "INSERT INTO hl7_messages (sending_facility, control_id, feed_id) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING true",
        header.sending_facility,
        header.control_id,
        feed_id,
    )
    if not fresh:
        return Reply(
            ACCEPT, "duplicate (same MSH-4 and MSH-10 as an earlier message); not applied again"
        )
    now = await board.db_now(conn)
    if event.at > now + FUTURE_SKEW:
        raise _Refused(
            ERROR,
            f"event time {event.at:%Y-%m-%d %H:%M:%S}Z is more than 5 minutes ahead of"
            f" bedboard's clock ({now:%Y-%m-%d %H:%M:%S}Z); check the sender's clock",
            failing=True,
        )
    applied: list[BedChange] = []
    superseded: list[BedChange] = []
    for change in event.changes:
        done = await conn.fetchval(
            _UPSERT_BED, feed_id, change.bed, change.point_of_care, change.status, event.at
        )
        (applied if done else superseded).append(change)
    notes = list(event.notes)
    if superseded:
        beds = ", ".join(c.bed for c in superseded)
        notes.append(f"not applied to {beds}: a newer event is known")
    if not applied:
        return Reply(ACCEPT, "; ".join(notes))
    points_of_care = sorted({c.point_of_care for c in applied})
    reports, unmapped = await _reports(conn, feed_id, config, points_of_care)
    if not reports and unmapped == points_of_care:
        raise _Refused(
            ERROR,
            f"point of care {', '.join(unmapped)} is not mapped to a unit of this feed",
            failing=False,
            reports=[await _report(conn, feed_id, config, [poc]) for poc in unmapped],
        )
    if unmapped:
        notes.append(f"point of care {', '.join(unmapped)} is not mapped to a unit")
        reports += [await _report(conn, feed_id, config, [poc]) for poc in unmapped]
    if not reports:
        return Reply(ACCEPT, "; ".join(["applied (the census did not change)", *notes]))
    try:
        result = await ingest(conn, feed_id, Parsed(reports=reports))
    except DomainError as refused:
        raise _Refused(ERROR, f"census not applied: {refused.detail}", failing=True) from None
    if result.conflict:
        notes.append("a unit's census was not updated: beds are held for accepted placements")
    if result.rejected:
        notes.append("a unit's census was refused (see the feed's quarantine)")
    return Reply(ACCEPT, "; ".join(["applied", *notes]))


async def _reports(
    conn: Connection, feed_id: int, config: Hl7Config, points_of_care: list[str]
) -> tuple[list[SourceReport], list[str]]:
    """Census reports for the units of ``points_of_care`` (all points of care mapped to each
    unit counted together), and the points of care mapped to no unit."""
    mapping = await store.mappings(conn, feed_id)
    unmapped = [poc for poc in points_of_care if poc not in mapping]
    units = sorted({mapping[poc] for poc in points_of_care if poc in mapping})
    stored = await census.stored_reports(conn, units)
    reports: list[SourceReport] = []
    for unit_id in units:
        pocs = sorted(poc for poc, uid in mapping.items() if uid == unit_id)
        report = await _report(conn, feed_id, config, pocs)
        last = stored.get(unit_id)
        if last is not None and last.source == f"feed:{feed_id}" and report.as_of <= last.as_of:
            counts = (report.staffed, report.occupied, report.blocked)
            if counts == (last.staffed, last.occupied, last.blocked):
                continue  # a late event that changes nothing
            report = _dated(report, last.as_of + timedelta(microseconds=1))
        reports.append(report)
    return reports, unmapped


def _dated(report: SourceReport, as_of: datetime) -> SourceReport:
    return SourceReport(
        source_id=report.source_id,
        as_of=as_of,
        staffed=report.staffed,
        occupied=report.occupied,
        blocked=report.blocked,
    )


async def _report(
    conn: Connection, feed_id: int, config: Hl7Config, points_of_care: list[str]
) -> SourceReport:
    rows = await conn.fetch(
        "SELECT bed, status, last_event_at FROM hl7_beds"
        " WHERE feed_id = $1 AND point_of_care = ANY($2::text[])",
        feed_id,
        points_of_care,
    )
    statuses: dict[str, str] = {r["bed"]: r["status"] for r in rows}
    declared: set[str] = set()
    for poc in points_of_care:
        declared |= config.declared_beds(poc)
    newest: datetime = max(r["last_event_at"] for r in rows)
    return SourceReport(
        source_id=points_of_care[0],
        as_of=newest,
        staffed=len(statuses.keys() | declared),
        occupied=sum(1 for s in statuses.values() if s == OCCUPIED),
        blocked=sum(1 for s in statuses.values() if s in BLOCKED_STATUSES),
    )


async def prune_messages(conn: Connection, keep: timedelta = MESSAGE_RETENTION) -> int:
    """Forget control ids older than ``keep`` (the duplicate-detection window)."""
    status: str = await conn.execute(
        "DELETE FROM hl7_messages WHERE received_at < now() - $1::interval", keep
    )
    return int(status.rsplit(" ", 1)[-1])


__all__ = ["Reply", "handle", "log_once", "prune_messages"]
