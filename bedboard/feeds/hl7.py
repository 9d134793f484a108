"""HL7 v2: the database side of the ``hl7`` feed kind (the listener is ``mllp.py``).

``handle_batch`` takes the MLLP blocks a connection has ready (``handle``: one block),
reads each once (``facility_adapters.hl7.read_message``: the header and python-hl7's
parse) and answers each with an ACK built from that same reading, once the transaction
holding its effect has committed:

1. Route, from the listener's cache (``feeds.routes``; no read per message): the enabled
   ``hl7`` feed whose ``sending_facility`` equals MSH-4.1 and whose ``allowed_addresses``
   admit the peer. No feed: AE (AR when unreadable, judged in UTC: without a feed there
   is no time zone), logged once. Address not allowed, or several feeds admit it: AE,
   quarantined on the feed(s). A refusal is decided only after checking that the cache
   is current (one cheap read).
2. The bed event, from the parse, with times read in the feed's time zone.
   Unreadable: AR, quarantined. Not a bed event (A04, A08, …): AA, nothing applied.
   MSH-11 not in the feed's ``processing_ids``: AE, quarantined.
3. Consecutive messages of one feed (at most ``MAX_BATCH``) make a *run*, applied in one
   transaction under the feed's transaction advisory lock (messages of one feed apply one
   at a time, across instances), in arrival order:

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
     C/H/I/K) and applied through ``feeds.ingest`` (validation, ``census.apply``), once
     per run with the beds as the run leaves them. Several points of care may map to one
     unit: their beds are counted together. The report's ``as_of`` is the newest event
     among the unit's beds; when a late (reordered) event changes the counts without
     being the newest, the report is dated 1 µs after the unit's stored report *from
     this feed*, so the correction applies (a newer report from another source wins);
   - no affected point of care mapped to a unit: AE, nothing applied (the points of
     care are listed on the feed's page as unmapped). Some mapped: AA, applied to those.

   The statements of a run: ``BEGIN`` with the lock (one round trip); one statement
   that checks the routing version, inserts the control ids, writes the beds and reads
   what the census needs (the beds of the affected units before the write, the clock,
   the feed's state, and ``census.apply``'s own read of the units); ``census.apply``
   (its write alone); the feed's health and count with ``COMMIT`` (one round trip). A run that must undo one
   message's changes (no point of care mapped, the census refused) or fails is rolled
   back and its messages are applied again one by one, so each gets its own answer.

Whatever happens, every message gets an ACK echoing MSH-10. The feed's health records a
success for every AA, a failure for AR, a future-dated message or an apply error (not
for addresses, mappings or processing ids, which a stranger or a misrouted message
could otherwise use to mark a working feed failing). An unexpected error or an
unreachable database answers AE ("resend later"): the message may well be fine.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bedboard import census, database, logsafe
from bedboard.census import FUTURE_SKEW
from bedboard.database import Connection
from bedboard.errors import DomainError
from bedboard.feeds import health, routes, store
from bedboard.feeds.health import Attempt
from bedboard.feeds.ingest import Known, ingest
from bedboard.feeds.models import IngestResult
from bedboard.feeds.routes import Route, Routes
from facility_adapters.base import Parsed, Rejected, SourceReport
from facility_adapters.hl7 import (
    ACCEPT,
    BLOCKED_STATUSES,
    ERROR,
    OCCUPIED,
    REJECT,
    AckCode,
    BedChange,
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
# The most messages of one feed applied in one transaction (the first one's ACK waits for
# the last one's work).
MAX_BATCH = 32
# A run routed with an outdated cache is rolled back, the cache reloaded and the run
# routed again; feeds that change this often during one batch answer AE.
MAX_STALE = 5

DOWN_REPLY = "bedboard cannot reach its database; resend later"
FAILED_REPLY = "bedboard failed to process the message; resend later"


@dataclass(frozen=True)
class Reply:
    code: AckCode
    text: str


_logged: set[tuple[str, ...]] = set()


def log_once(key: tuple[str, ...], message: str, *args: object) -> None:
    if key in _logged:
        return
    if len(_logged) >= LOG_ONCE_KEEP:
        _logged.clear()
    _logged.add(key)
    log.warning(message, *args)


class _Stale(Exception):
    """The run was routed with an older routing version than the database's."""

    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


@dataclass
class _Undo(Exception):
    """A message's own changes must be undone: the run rolls back and answers ``code``."""

    code: AckCode
    reason: str
    failing: bool
    unmapped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Refusal:
    """Routing found no one feed for the message (decided from the cache)."""

    reply: Reply
    log_key: tuple[str, ...]
    log_text: str
    quarantine_on: tuple[int, ...] = ()  # feeds whose quarantine keeps the message
    warn: bool = False  # logged every time, not once: a configuration to fix


# --------------------------------------------------------------------------- handling


async def handle(
    pool: database.Pool, raw: bytes, peer_ip: str, *, cache: Routes | None = None
) -> bytes:
    """Process one MLLP block's content from ``peer_ip``; return the ACK bytes. Never raises
    (except cancellation): every message gets an answer."""
    [ack] = await handle_batch(pool, [raw], peer_ip, cache=cache)
    return ack


async def handle_batch(
    pool: database.Pool, raws: Sequence[bytes], peer_ip: str, *, cache: Routes | None = None
) -> list[bytes]:
    """Process blocks that arrived together on one connection, in order; return their ACKs
    (in the same order), each answered once its effect is committed. ``cache``: the
    listener's routing cache (default: one per pool). Never raises (except cancellation)."""
    messages = [read_message(raw) for raw in raws]  # each read once, for its event and ACK
    replies: list[Reply | None] = [None] * len(messages)
    try:
        async with database.acquire(pool) as conn:
            await _process(conn, cache or routes.for_pool(pool), messages, peer_ip, replies)
    except database.DOWN_ERRORS as exc:
        log_once(("down",), "HL7: database unavailable, answering AE: %s", exc)
        down = Reply(ERROR, DOWN_REPLY)
        replies = [reply or down for reply in replies]
    except Exception as exc:  # noqa: BLE001 -- logged by logsafe
        first = next((m for m, r in zip(messages, replies, strict=True) if r is None), None)
        where = first.header.where if first is not None else "batch"
        logsafe.log_failure(log, "HL7 %s from %s: failed", where, peer_ip, exc=exc)
        failed = Reply(ERROR, FAILED_REPLY)
        replies = [reply or failed for reply in replies]
    else:
        _logged.discard(("down",))
    return [
        message.ack(reply.code, reply.text) if reply else message.ack(ERROR, FAILED_REPLY)
        for message, reply in zip(messages, replies, strict=True)
    ]


async def _process(
    conn: Connection,
    cache: Routes,
    messages: Sequence[Hl7Message],
    peer_ip: str,
    replies: list[Reply | None],
) -> None:
    """Fill ``replies``: runs of one feed's messages, each in one transaction; a run that
    fails is done again one message at a time."""
    await cache.ensure(conn)
    i = alone_until = stale = 0
    while i < len(messages):
        routed = _route(cache, messages[i], peer_ip)
        if isinstance(routed, _Refusal):
            if stale < MAX_STALE and await cache.refresh(conn):
                stale += 1
                continue  # the feeds changed: route it again
            await _refuse_routing(conn, routed, messages[i], peer_ip)
            replies[i] = routed.reply
            i += 1
            continue
        run = [messages[i]]
        limit = 1 if i < alone_until else MAX_BATCH
        while i + len(run) < len(messages) and len(run) < limit:
            nxt = _route(cache, messages[i + len(run)], peer_ip)
            if not isinstance(nxt, Route) or nxt.feed_id != routed.feed_id:
                break
            run.append(messages[i + len(run)])
        try:
            answers = await _apply_run(conn, cache.version, routed, run)
        except _Stale as exc:
            stale += 1
            if stale > MAX_STALE:
                raise RuntimeError("the HL7 feeds kept changing during one batch") from None
            await cache.reload(conn, exc.version)
            continue
        except _Undo as undo:
            if len(run) > 1:
                alone_until = i + len(run)  # one by one: only this message is undone
                continue
            answers = [await _refuse_alone(conn, routed, run[0], undo)]
        except database.DOWN_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 -- logged by logsafe
            if len(run) > 1:
                alone_until = i + len(run)
                continue
            logsafe.log_failure(
                log, "HL7 %s from %s: failed", run[0].header.where, peer_ip, exc=exc
            )
            answers = [Reply(ERROR, FAILED_REPLY)]
        replies[i : i + len(run)] = answers
        i += len(run)


# --------------------------------------------------------------------------- routing


def _unreadable(message: Hl7Message) -> str | None:
    """Why a message no feed takes cannot be a bed event (read in UTC: there is no feed
    whose time zone could apply), or None when it can."""
    result = message.event()
    return result.reason if isinstance(result, Hl7Rejected) else None


def _route(cache: Routes, message: Hl7Message, peer_ip: str) -> Route | _Refusal:
    """The one feed that takes the message, from the cache alone."""
    header = message.header
    facility = header.sending_facility
    if not facility:
        unreadable = _unreadable(message)
        return _Refusal(
            Reply(REJECT, unreadable or "MSH-4 (sending facility) is empty"),
            ("no-facility", peer_ip),
            f"without a sending facility (MSH-4): {unreadable or 'no feed can be chosen'}",
        )
    candidates = cache.candidates(facility)
    if not candidates:
        unreadable = _unreadable(message)
        return _Refusal(
            Reply(REJECT, unreadable)
            if unreadable
            else Reply(ERROR, f"no bedboard feed accepts sending facility {facility}"),
            ("unknown", facility, peer_ip),
            f"no enabled hl7 feed has sending_facility {facility!r}",
        )
    admitted = routes.admitted(candidates, peer_ip)
    if len(admitted) == 1:
        return admitted[0]
    if not admitted:
        reason = f"address {peer_ip} is not in allowed_addresses for {facility}"
    else:
        ids = ", ".join(str(route.feed_id) for route in admitted)
        reason = f"several feeds ({ids}) accept {facility} from {peer_ip}; make one"
    return _Refusal(
        Reply(ERROR, reason),
        ("refused", facility, peer_ip),
        reason,
        tuple(route.feed_id for route in admitted or candidates),
        warn=bool(admitted),
    )


async def _refuse_routing(
    conn: Connection, refusal: _Refusal, message: Hl7Message, peer_ip: str
) -> None:
    if refusal.warn:
        log.warning("HL7: %s", refusal.log_text)
    log_once(refusal.log_key, "HL7 from %s: %s", peer_ip, refusal.log_text)
    if not refusal.quarantine_on:
        return
    rejected = [Rejected.of(message.header.where, refusal.reply.text, redact(message.raw))]
    async with conn.transaction():
        for feed_id in refusal.quarantine_on:
            await store.add_to_quarantine(conn, feed_id, rejected)


# --------------------------------------------------------------------------- one run


@contextlib.asynccontextmanager
async def _locked(conn: Connection, feed_id: int) -> AsyncIterator[None]:
    """A transaction holding the feed's lock, begun in one round trip (asyncpg's own
    transactions spend one on ``BEGIN`` and one on ``COMMIT``). The body commits, with its
    last write; if it raises, or does not commit, the transaction is rolled back."""
    try:
        await conn.execute(
            # The simple query protocol (no parameters): two integers written into the text.
            f"BEGIN; SELECT pg_advisory_xact_lock({HL7_LOCK_CLASS:d}, {int(feed_id):d})"
        )
        yield
    except BaseException:
        await _rollback(conn)
        raise
    if not conn.is_closed() and conn.is_in_transaction():
        await _rollback(conn)
        raise RuntimeError("an HL7 transaction ended without COMMIT")


async def _rollback(conn: Connection) -> None:
    if not conn.is_closed() and conn.is_in_transaction():
        with contextlib.suppress(Exception):  # a broken connection: the pool discards it
            await conn.execute("ROLLBACK")


# One statement, after the lock: the routing version, the clock and the feed's state; the
# control ids remembered (the first occurrence in the run of each that is not dated in the
# future); for the messages so remembered, each bed's last change in the run written where
# the bed has no newer event (ties: the later message); and, as they were before this
# statement, the control ids already known, the beds of the points of care that count for
# the affected units; and census.apply's read of those units, one row per unit (the rest
# of the row repeated on each; one row with no unit when there is none).
_RUN_SQL = f"""
    WITH msg AS (
        SELECT * FROM unnest($3::text[], $4::timestamptz[]) WITH ORDINALITY
                 AS m(control_id, at, ord)
    ), chosen AS (
        SELECT DISTINCT ON (control_id) control_id, ord
          FROM msg WHERE at <= now() + $5::interval
         ORDER BY control_id, ord
    ), fresh AS (
        INSERT INTO hl7_messages (sending_facility, control_id, feed_id)
        SELECT $1, control_id, $2 FROM chosen ORDER BY ord
        ON CONFLICT DO NOTHING
        RETURNING control_id
    ), change AS (
        SELECT c.bed, c.point_of_care, c.status, m.at, c.ord, c.k
          FROM unnest($6::bigint[], $7::int[], $8::text[], $9::text[], $10::text[])
               AS c(ord, k, bed, point_of_care, status)
          JOIN chosen ch ON ch.ord = c.ord
          JOIN fresh f ON f.control_id = ch.control_id
          JOIN msg m ON m.ord = c.ord
    ), last_change AS (
        SELECT DISTINCT ON (bed) bed, point_of_care, status, at
          FROM change ORDER BY bed, at DESC, ord DESC, k DESC
    ), written AS (
        INSERT INTO hl7_beds AS b (feed_id, bed, point_of_care, status, last_event_at)
        SELECT $2, bed, point_of_care, status, at FROM last_change ORDER BY bed
        ON CONFLICT (feed_id, bed) DO UPDATE
           SET status = EXCLUDED.status, point_of_care = EXCLUDED.point_of_care,
               last_event_at = EXCLUDED.last_event_at
         WHERE b.last_event_at <= EXCLUDED.last_event_at
        RETURNING b.bed
    )
    SELECT now() AS now,
           (SELECT version FROM feed_routing_version) AS version,
           (SELECT state FROM feed_status WHERE feed_id = $2) AS state,
           ARRAY(SELECT control_id FROM hl7_messages
                  WHERE sending_facility = $1 AND control_id = ANY($3::text[])) AS seen,
           ARRAY(SELECT control_id FROM fresh) AS fresh,
           ARRAY(SELECT bed FROM written) AS written,
           beds.*, prior.*
      FROM (SELECT array_agg(bed) AS bed_name, array_agg(point_of_care) AS bed_poc,
                   array_agg(status) AS bed_status, array_agg(last_event_at) AS bed_at
              FROM hl7_beds WHERE feed_id = $2 AND point_of_care = ANY($11::text[])) beds
      LEFT JOIN ({census.read_sql("$12")}) prior ON true
"""  # noqa: S608 -- composed only of constant fragments

_Bed = tuple[str, str, datetime]  # point of care, status, last event


def _quarantined(message: Hl7Message, code: AckCode, reason: str) -> Rejected:
    return Rejected.of(message.header.where, f"{code}: {reason}", redact(message.raw))


async def _apply_run(
    conn: Connection, version: int | None, route: Route, run: Sequence[Hl7Message]
) -> list[Reply]:
    """Apply consecutive messages of one feed in one transaction; their replies."""
    feed_id, config = route.feed_id, route.config
    replies: list[Reply | None] = [None] * len(run)
    attempts: list[Attempt | None] = [None] * len(run)  # what each does to the feed's health
    quarantine: list[tuple[int, Rejected]] = []
    events: list[tuple[int, Hl7Event]] = []
    for n, message in enumerate(run):
        result = message.event(config.zone)
        if isinstance(result, Hl7Rejected):
            replies[n] = Reply(REJECT, result.reason)
            quarantine.append((n, _quarantined(message, REJECT, result.reason)))
            attempts[n] = Attempt(ok=False, error=f"{message.header.where}: {result.reason}")
            continue
        processing_id = message.header.processing_id or "P"
        if processing_id not in config.processing_ids:
            reason = f"processing id (MSH-11) {processing_id[:3]} is not accepted by this feed"
            replies[n] = Reply(ERROR, reason)
            quarantine.append((n, _quarantined(message, ERROR, reason)))
            continue
        if isinstance(result, Hl7Ignored):
            replies[n] = Reply(ACCEPT, f"{result.trigger} does not change beds; nothing applied")
            attempts[n] = Attempt(ok=True)
            continue
        events.append((n, result))

    touched = {change.point_of_care for _, event in events for change in event.changes}
    relevant, units = route.relevant(touched)
    changes = [
        (order, k, change)
        for order, (_, event) in enumerate(events, start=1)
        for k, change in enumerate(event.changes)
    ]
    async with _locked(conn, feed_id):
        rows = await conn.fetch(
            _RUN_SQL,
            run[0].header.sending_facility,
            feed_id,
            [event.header.control_id for _, event in events],
            [event.at for _, event in events],
            FUTURE_SKEW,
            [order for order, _, _ in changes],
            [k for _, k, _ in changes],
            [change.bed for _, _, change in changes],
            [change.point_of_care for _, _, change in changes],
            [change.status for _, _, change in changes],
            relevant,
            units,
        )
        row = rows[0]
        if row["version"] != version:
            raise _Stale(row["version"])
        now: datetime = row["now"]
        beds: dict[str, _Bed] = {
            bed: (poc, status, at)
            for bed, poc, status, at in zip(
                row["bed_name"] or (),
                row["bed_poc"] or (),
                row["bed_status"] or (),
                row["bed_at"] or (),
                strict=True,
            )
        }
        prior = census.Prior.of(now, rows)
        seen, fresh = set(row["seen"]), set(row["fresh"])
        taken: set[str] = set()
        changed: set[str] = set()
        applied_to: dict[int, tuple[set[int], list[str], bool]] = {}  # n -> units, notes, unmapped
        unmapped_reports: list[SourceReport] = []
        for n, event in events:
            control_id = event.header.control_id
            if control_id in taken or control_id in seen:
                replies[n] = Reply(
                    ACCEPT,
                    "duplicate (same MSH-4 and MSH-10 as an earlier message); not applied again",
                )
                attempts[n] = Attempt(ok=True)
                continue
            if event.at > now + FUTURE_SKEW:
                reason = (
                    f"event time {event.at:%Y-%m-%d %H:%M:%S}Z is more than 5 minutes ahead of"
                    f" bedboard's clock ({now:%Y-%m-%d %H:%M:%S}Z); check the sender's clock"
                )
                replies[n] = Reply(ERROR, reason)
                quarantine.append((n, _quarantined(run[n], ERROR, reason)))
                attempts[n] = Attempt(ok=False, error=f"{event.header.where}: {reason}")
                continue
            attempts[n] = Attempt(ok=True)
            if control_id not in fresh:  # remembered meanwhile by another feed's message
                replies[n] = Reply(
                    ACCEPT,
                    "duplicate (same MSH-4 and MSH-10 as an earlier message); not applied again",
                )
                continue
            taken.add(control_id)
            applied: list[BedChange] = []
            superseded: list[BedChange] = []
            for change in event.changes:
                known = beds.get(change.bed)
                if known is None or known[2] <= event.at:
                    beds[change.bed] = (change.point_of_care, change.status, event.at)
                    changed.add(change.bed)
                    applied.append(change)
                else:
                    superseded.append(change)
            notes = list(event.notes)
            if superseded:
                notes.append(
                    f"not applied to {', '.join(c.bed for c in superseded)}: a newer event is known"
                )
            if not applied:
                replies[n] = Reply(ACCEPT, "; ".join(notes))
                continue
            points_of_care = sorted({c.point_of_care for c in applied})
            unmapped = [poc for poc in points_of_care if poc not in route.mapping]
            if len(unmapped) == len(points_of_care):
                raise _Undo(
                    ERROR,
                    f"point of care {', '.join(unmapped)} is not mapped to a unit of this feed",
                    failing=False,
                    unmapped=unmapped,
                )
            if unmapped:
                notes.append(f"point of care {', '.join(unmapped)} is not mapped to a unit")
                unmapped_reports += [SourceReport(poc, event.at) for poc in unmapped]
            mapped_units = {route.mapping[p] for p in points_of_care if p in route.mapping}
            applied_to[n] = (mapped_units, notes, bool(unmapped))
        if changed != set(row["written"]):
            raise RuntimeError("hl7_beds changed under the feed's lock")

        reports: list[SourceReport] = []
        reported: set[int] = set()
        for unit_id in sorted({u for units_of, _, _ in applied_to.values() for u in units_of}):
            report = _report(route, beds, route.points_of_care[unit_id])
            last = prior.stored(unit_id)
            if (
                last is not None
                and prior.source(unit_id) == f"feed:{feed_id}"
                and report.as_of <= last.as_of
            ):
                counts = (report.staffed, report.occupied, report.blocked)
                if counts == (last.staffed, last.occupied, last.blocked):
                    continue  # a late event that changes nothing
                report = _dated(report, last.as_of + timedelta(microseconds=1))
            reports.append(report)
            reported.add(unit_id)
        ingested = IngestResult()
        if reports or unmapped_reports:
            try:
                ingested = await ingest(
                    conn,
                    feed_id,
                    Parsed(reports=reports + unmapped_reports),
                    known=Known(route.mapping, prior),
                    count_applied=False,
                )
            except DomainError as refused:
                raise _Undo(ERROR, f"census not applied: {refused.detail}", failing=True) from None
        for n, (units_of, notes, some_unmapped) in applied_to.items():
            if not (units_of & reported or some_unmapped):
                replies[n] = Reply(
                    ACCEPT, "; ".join(["applied (the census did not change)", *notes])
                )
                continue
            if units_of & reported:
                if ingested.conflict:
                    notes.append(
                        "a unit's census was not updated: beds are held for accepted placements"
                    )
                if ingested.rejected:
                    notes.append("a unit's census was refused (see the feed's quarantine)")
            replies[n] = Reply(ACCEPT, "; ".join(["applied", *notes]))

        await store.add_to_quarantine(conn, feed_id, [r for _, r in sorted(quarantine, key=_n)])
        recorded = [attempt for attempt in attempts if attempt is not None]
        if health.settles(row["state"], recorded):
            await store.mark_ok_and_commit(conn, feed_id, ingested.applied)
        else:
            await health.record_attempts(conn, feed_id, recorded, ingested.applied)
            await conn.execute("COMMIT")
    return [reply if reply is not None else Reply(ERROR, FAILED_REPLY) for reply in replies]


def _n(item: tuple[int, Rejected]) -> int:
    return item[0]


async def _refuse_alone(conn: Connection, route: Route, message: Hl7Message, undo: _Undo) -> Reply:
    """A message whose own changes were undone: quarantine it (and count its unmapped
    points of care); note a failure when it is one."""
    where = message.header.where
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", HL7_LOCK_CLASS, route.feed_id)
        await store.add_to_quarantine(
            conn, route.feed_id, [_quarantined(message, undo.code, undo.reason)]
        )
        await store.count_unmapped(conn, route.feed_id, dict.fromkeys(undo.unmapped, 1))
        if undo.failing:
            await health.record_attempts(
                conn, route.feed_id, [Attempt(ok=False, error=f"{where}: {undo.reason}")]
            )
    return Reply(undo.code, undo.reason)


# --------------------------------------------------------------------------- beds → census


def _dated(report: SourceReport, as_of: datetime) -> SourceReport:
    return SourceReport(
        source_id=report.source_id,
        as_of=as_of,
        staffed=report.staffed,
        occupied=report.occupied,
        blocked=report.blocked,
    )


def _report(route: Route, beds: dict[str, _Bed], points_of_care: Sequence[str]) -> SourceReport:
    """The census of the unit of ``points_of_care`` (its beds, as the run leaves them)."""
    wanted = set(points_of_care)
    statuses: dict[str, str] = {}
    newest: datetime | None = None
    for bed, (poc, status, at) in beds.items():
        if poc in wanted:
            statuses[bed] = status
            newest = at if newest is None or at > newest else newest
    assert newest is not None  # a bed of the unit was just written
    declared: set[str] = set()
    for poc in points_of_care:
        declared |= route.declared.get(poc, frozenset())
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


__all__ = ["MAX_BATCH", "Reply", "handle", "handle_batch", "log_once", "prune_messages"]
