"""Reporter nudges (issue 13 §3): a facility whose numbers became late gets a one-time
census link, again every ``interval`` until it reports or ``max_attempts`` is reached.

Nothing is sent here. ``make_due`` records each nudge (a ``nudges`` row and a
``census_nudge`` signed link: 30 minutes, single use, scoped to the facility's census)
and returns one ``Due`` per facility for the notifier to deliver to the facility's census
contacts. ``Due`` carries the facility's name, the link and the attempt: nothing clinical
or personal.

**Late, and the episode.** A facility is late when one of its active units' reports is
past the facility's cadence (``freshness``: late or stale; a unit that never reported
does not count: it is not reporting yet). The episode starts at ``late_since``: the
oldest of those reports' ``as_of`` plus the cadence. A report of that unit moves
``late_since`` (or ends the episode), so the attempts count again from 1 only after a
report landed; within one episode attempt *n + 1* is due ``interval`` after attempt *n*.

**The form.** ``open_form`` (GET ``/n/{token}``) checks the link (audited) and names the
facility; ``report`` (POST) checks it again, applies the census through
``census.apply`` (source ``nudge:<link id>``) and spends the link in the same
transaction, so a second submit is refused.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta

from bedboard import census, links
from bedboard.auth import Origin
from bedboard.census import CensusReport
from bedboard.database import Connection
from bedboard.errors import Invalid
from bedboard.links import Link, Purpose, Signer

__all__ = ["LINK_MINUTES", "NUDGE_LOCK_KEY", "Due", "make_due", "open_form", "report"]

LINK_MINUTES = 30
NUDGE_LOCK_KEY = 0x6E75_6467  # "nudg": one instance makes the nudges at a time


@dataclass(frozen=True)
class Due:
    """One nudge for the notifier: deliver ``url`` to the facility's census contacts."""

    facility_id: int
    facility_name: str
    url: str
    attempt: int
    expires_at: datetime


# Per active facility with a reported active unit past its cadence: when the episode
# began (the oldest such report plus the cadence) and the episode's last nudge.
_LATE_SQL = """
    WITH late AS (
        SELECT f.id AS facility_id, f.name AS facility_name,
               min(c.as_of) + make_interval(mins => f.report_cadence_minutes) AS late_since
          FROM facilities f
          JOIN units u ON u.facility_id = f.id AND u.active
          JOIN unit_census c ON c.unit_id = u.id
         WHERE f.active
         GROUP BY f.id, f.name, f.report_cadence_minutes
        HAVING min(c.as_of) + make_interval(mins => f.report_cadence_minutes) < $1
    )
    SELECT late.*, last.attempt AS last_attempt, last.created_at AS last_at
      FROM late
      LEFT JOIN LATERAL (
          SELECT n.attempt, n.created_at FROM nudges n
           WHERE n.facility_id = late.facility_id AND n.late_since = late.late_since
           ORDER BY n.attempt DESC LIMIT 1
      ) last ON true
     ORDER BY late.facility_id
"""


async def make_due(
    conn: Connection,
    now: datetime,
    *,
    signer: Signer,
    base_url: str,
    interval: timedelta = timedelta(minutes=30),
    max_attempts: int = 3,
) -> list[Due]:
    """Record the nudges due at ``now`` and return them (one transaction; one instance
    at a time: another caller meanwhile gets ``[]``)."""
    out: list[Due] = []
    async with conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", NUDGE_LOCK_KEY):
            return []
        for row in await conn.fetch(_LATE_SQL, now):
            last = row["last_attempt"]
            if last is not None and (last >= max_attempts or now < row["last_at"] + interval):
                continue
            attempt = 1 if last is None else last + 1
            link, token = await links.issue(
                conn,
                signer,
                Purpose.CENSUS_NUDGE,
                row["facility_id"],
                by=None,
                now=now,
                expires_at=now + timedelta(minutes=LINK_MINUTES),
                single_use=True,
            )
            await conn.execute(
                "INSERT INTO nudges (facility_id, late_since, attempt, link_id, created_at)"
                " VALUES ($1, $2, $3, $4, $5)",
                row["facility_id"],
                row["late_since"],
                attempt,
                link.id,
                now,
            )
            out.append(
                Due(
                    facility_id=row["facility_id"],
                    facility_name=row["facility_name"],
                    url=f"{base_url.rstrip('/')}/n/{token}",
                    attempt=attempt,
                    expires_at=link.expires_at,
                )
            )
    return out


async def open_form(
    conn: Connection, signer: Signer, token: str, *, now: datetime, origin: Origin
) -> Link:
    """The nudge link's row (its ``subject_id`` is the facility), or a refusal. Audited;
    call outside a transaction."""
    opened = await links.verify(conn, signer, Purpose.CENSUS_NUDGE, token, now=now, origin=origin)
    return opened.link


async def report(
    conn: Connection,
    link: Link,
    reports: Sequence[tuple[int, CensusReport]],
    *,
    now: datetime,
) -> list[census.ApplyResult]:
    """Report the facility's census through the nudge link ``open_form`` returned and
    spend the link, in one transaction (``LinkGone`` if another submit spent it first).
    Only the link's facility's units may be reported (``Invalid`` otherwise)."""
    facility_id = link.subject_id

    def only_this_facility(facility_ids: Set[int]) -> None:
        if facility_ids != {facility_id}:
            raise Invalid("A nudge link reports only its own facility's units.")

    async with conn.transaction():
        await links.mark_used(conn, link, now=now)
        return await census.apply(
            conn, reports, census.Source(f"nudge:{link.id}"), check=only_this_facility
        )
