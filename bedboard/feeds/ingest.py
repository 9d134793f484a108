"""Where every adapter's output enters bedboard: source identifiers mapped to units
(unmapped ones counted), each report validated as the API would, the newest per unit
applied through ``census.apply``, the rest quarantined."""

from __future__ import annotations

from pydantic import ValidationError

from bedboard import board, census
from bedboard.census import CensusReport, Outcome
from bedboard.database import Connection
from bedboard.feeds import store
from bedboard.feeds.models import IngestResult
from facility_adapters.base import Parsed, Rejected, SourceReport

FUTURE_SKEW = census.FUTURE_SKEW


def _to_census(report: SourceReport) -> CensusReport:
    return CensusReport(
        as_of=report.as_of,
        staffed=report.staffed,
        occupied=report.occupied,
        blocked=report.blocked,
        available=report.available,
    )


async def ingest(conn: Connection, feed_id: int, parsed: Parsed) -> IngestResult:
    """Apply what an adapter delivered; quarantine what cannot be applied.

    Steps: quarantine the adapter's rejections; map source ids to units (record unmapped
    ones); validate each report as the API would (bad counts, future dates and naive
    timestamps go to quarantine); keep the newest report per unit; apply the rest in one
    ``census.apply`` transaction; count the outcomes on the feed.
    """
    result = IngestResult(rejected=len(parsed.rejected))
    rejected = list(parsed.rejected)
    mapping = await store.mappings(conn, feed_id)
    now = await board.db_now(conn)
    unmapped: dict[str, int] = {}
    newest: dict[int, tuple[SourceReport, CensusReport]] = {}
    for report in parsed.reports:
        unit_id = mapping.get(report.source_id)
        if unit_id is None:
            unmapped[report.source_id] = unmapped.get(report.source_id, 0) + 1
            continue
        where = (
            report.location
            or f"{report.source_id} as of {report.as_of.isoformat() if report.as_of else '?'}"
        )
        try:
            census_report = _to_census(report)
        except ValidationError as exc:
            reason = "; ".join(
                str(e["msg"]).removeprefix("Value error, ") for e in exc.errors(include_url=False)
            )
            rejected.append(Rejected.of(where, reason, repr(report)))
            continue
        if census_report.as_of > now + FUTURE_SKEW:
            rejected.append(
                Rejected.of(where, "as_of is more than 5 minutes in the future", repr(report))
            )
            continue
        kept = newest.get(unit_id)
        if kept is None or census_report.as_of > kept[1].as_of:
            if kept is not None:
                result.stale += 1
            newest[unit_id] = (report, census_report)
        else:
            result.stale += 1
    result.unmapped = sum(unmapped.values())
    result.rejected = len(rejected)
    async with conn.transaction():
        await store.add_to_quarantine(conn, feed_id, rejected)
        await store.count_unmapped(conn, feed_id, unmapped)
        if newest:
            outcomes = await census.apply(
                conn,
                [(uid, pair[1]) for uid, pair in newest.items()],
                census.Source(f"feed:{feed_id}"),
                with_states=False,  # only outcomes are needed here
            )
            for outcome in outcomes:
                if outcome.outcome is Outcome.APPLIED:
                    result.applied += 1
                elif outcome.outcome is Outcome.DUPLICATE:
                    result.duplicate += 1
                elif outcome.outcome is Outcome.CONFLICT:
                    result.conflict += 1
                else:
                    result.stale += 1
        await store.add_applied(conn, feed_id, result.applied)
    return result
