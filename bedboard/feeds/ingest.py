"""Where every adapter's output enters bedboard: source identifiers mapped to units
(unmapped ones counted), reports identical to the stored census set aside as duplicates,
each other report validated as the API would, the newest per unit that is newer than the
stored one applied through ``census.apply``, the rest quarantined or counted."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from bedboard import census
from bedboard.census import CensusReport, Outcome, Prior, StoredCensus
from bedboard.database import Connection
from bedboard.feeds import store
from bedboard.feeds.models import IngestResult
from facility_adapters.base import Parsed, Rejected, SourceReport

FUTURE_SKEW = census.FUTURE_SKEW


@dataclass(frozen=True)
class Known:
    """What a caller read already, in its own transaction, so ``ingest`` reads nothing:
    the feed's mappings, and ``census.apply``'s read (the clock, the stored census) of (at
    least) every mapped unit the reports name."""

    mapping: Mapping[str, int]
    prior: Prior


def _to_census(report: SourceReport) -> CensusReport:
    return CensusReport(
        as_of=report.as_of,
        staffed=report.staffed,
        occupied=report.occupied,
        blocked=report.blocked,
        available=report.available,
    )


def _where(report: SourceReport) -> str:
    """Where a rejected report came from, for its quarantine entry."""
    as_of = report.as_of.isoformat() if report.as_of else "?"
    return report.location or f"{report.source_id} as of {as_of}"


def _unchanged(report: SourceReport, stored: StoredCensus) -> bool:
    """``report`` states exactly the stored census: the same ``as_of`` and the same counts
    as ``census._same`` compares them (``available`` derived, ``blocked`` 0 by default).

    Such a report is a duplicate and needs no validation: its counts are the stored ones,
    which the table's CHECK constraints hold to the rules of ``CensusReport`` (0 to 2000,
    occupied ≤ staffed, blocked ≤ staffed - occupied), and it must have the stored shape
    (staffed + occupied, or ``available`` alone) with plain ``int`` counts and a plain
    aware ``datetime`` (anything else pydantic would coerce or refuse is left to it). A
    test keeps this in step with ``CensusReport`` and ``census._same``.
    """
    if report.as_of != stored.as_of or type(report.as_of) is not datetime:
        return False
    blocked = report.blocked
    if blocked is not None and type(blocked) is not int:
        return False
    if stored.staffed is None:  # stored as `available` alone
        return (
            report.staffed is None
            and report.occupied is None
            and not blocked
            and stored.blocked == 0
            and type(report.available) is int
            and report.available == stored.available
        )
    return (
        report.available is None
        and type(report.staffed) is int
        and type(report.occupied) is int
        and report.staffed == stored.staffed
        and report.occupied == stored.occupied
        and (blocked or 0) == stored.blocked
        and stored.occupied is not None
        and stored.available == stored.staffed - stored.occupied - stored.blocked
    )


def _validation_reason(exc: ValidationError) -> str:
    return "; ".join(
        str(e["msg"]).removeprefix("Value error, ") for e in exc.errors(include_url=False)
    )


async def ingest(
    conn: Connection,
    feed_id: int,
    parsed: Parsed,
    *,
    known: Known | None = None,
    count_applied: bool = True,
) -> IngestResult:
    """Apply what an adapter delivered; quarantine what cannot be applied.

    Steps: quarantine the adapter's rejections; map source ids to units (record unmapped
    ones); read the clock and the stored counts of the mapped units (one query) and set
    aside every report identical to them (a duplicate: no validation, no SQL); validate
    the others as the API would (bad counts, future dates and naive timestamps go to
    quarantine); keep the newest report per unit; count a kept report that is not newer
    than the stored one as a duplicate or stale, as ``census.apply`` would; apply the rest
    in one ``census.apply`` transaction; count the outcomes on the feed.

    With ``known`` (the HL7 side, inside its own transaction) nothing is read: the caller
    made ``census.apply``'s read (``census.read_sql``) within its own statement, and
    ``apply`` reads nothing either. The writes then need no savepoint of their own: a
    failure leaves the caller's transaction to be rolled back. With
    ``count_applied=False`` the caller adds ``applied`` to the feed's count itself.
    """
    rejected = list(parsed.rejected)
    mapping = known.mapping if known is not None else await store.mappings(conn, feed_id)
    unmapped: dict[str, int] = {}
    mapped: list[tuple[int, SourceReport]] = []
    for report in parsed.reports:
        unit_id = mapping.get(report.source_id)
        if unit_id is None:
            unmapped[report.source_id] = unmapped.get(report.source_id, 0) + 1
        else:
            mapped.append((unit_id, report))
    prior: Prior | None = None
    stored: Mapping[int, StoredCensus | None]
    if known is not None:  # census.apply's own read, made by the caller
        prior = known.prior
        now, stored = prior.now, {uid: prior.stored(uid) for uid, _ in mapped}
    else:  # the counts alone: apply reads the full rows of the few that changed
        now, stored = await census.stored_counts(conn, {uid for uid, _ in mapped})
    latest = now + FUTURE_SKEW
    applied = duplicate = stale = conflict = 0
    # unit -> (as_of, the validated report, or None when it is identical to the stored one)
    newest: dict[int, tuple[datetime, CensusReport | None]] = {}
    for unit_id, report in mapped:
        current = stored.get(unit_id)
        checked: CensusReport | None = None
        if current is not None and _unchanged(report, current) and report.as_of <= latest:
            as_of = report.as_of
        else:
            try:
                checked = _to_census(report)
            except ValidationError as exc:
                rejected.append(Rejected.of(_where(report), _validation_reason(exc), repr(report)))
                continue
            if checked.as_of > latest:
                rejected.append(
                    Rejected.of(
                        _where(report), "as_of is more than 5 minutes in the future", repr(report)
                    )
                )
                continue
            as_of = checked.as_of
        kept = newest.get(unit_id)
        if kept is None or as_of > kept[0]:
            if kept is not None:
                stale += 1
            newest[unit_id] = (as_of, checked)
        else:
            stale += 1
    # What census.apply would set aside (it too reads the stored rows unlocked) is counted here.
    to_apply: list[tuple[int, CensusReport]] = []
    for unit_id, (as_of, checked) in newest.items():
        if checked is None:
            duplicate += 1
            continue
        current = stored.get(unit_id)
        if current is not None and as_of <= current.as_of:
            if current.same_as(checked):
                duplicate += 1
            else:
                stale += 1
            continue
        to_apply.append((unit_id, checked))
    if not (rejected or unmapped or to_apply):
        return IngestResult(duplicate=duplicate, stale=stale)  # nothing to write
    atomic = known is None or not conn.is_in_transaction()
    async with conn.transaction() if atomic else contextlib.nullcontext():
        await store.add_to_quarantine(conn, feed_id, rejected)
        await store.count_unmapped(conn, feed_id, unmapped)
        if to_apply:
            outcomes = await census.apply(
                conn,
                to_apply,
                census.Source(f"feed:{feed_id}"),
                with_states=False,  # only outcomes are needed here
                prior=prior,
            )
            for outcome in outcomes:
                if outcome.outcome is Outcome.APPLIED:
                    applied += 1
                elif outcome.outcome is Outcome.DUPLICATE:
                    duplicate += 1
                elif outcome.outcome is Outcome.CONFLICT:
                    conflict += 1
                else:
                    stale += 1
        if count_applied:
            await store.add_applied(conn, feed_id, applied)
    return IngestResult(
        applied=applied,
        duplicate=duplicate,
        stale=stale,
        conflict=conflict,
        unmapped=sum(unmapped.values()),
        rejected=len(rejected),
    )
