"""How fresh a reported number is: a pure function of last report, cadence and now.

- ``fresh``: reported within the facility's expected cadence;
- ``late``: past the cadence but within twice it (a grace window);
- ``stale``: older than twice the cadence; search leaves these out by default;
- ``never``: no report yet.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

STALE_AFTER_CADENCES = 2


class Freshness(StrEnum):
    FRESH = "fresh"
    LATE = "late"
    STALE = "stale"
    NEVER = "never"


# Worst first, for summarising a facility by its least fresh unit.
_SEVERITY = {Freshness.NEVER: 3, Freshness.STALE: 2, Freshness.LATE: 1, Freshness.FRESH: 0}


def freshness(last_report: datetime | None, cadence: timedelta, now: datetime) -> Freshness:
    """Classify a report measured at ``last_report`` for a source expected every ``cadence``."""
    if last_report is None:
        return Freshness.NEVER
    if last_report.tzinfo is None or now.tzinfo is None:
        raise ValueError("freshness needs timezone-aware datetimes")
    age = now - last_report
    if age <= cadence:
        return Freshness.FRESH
    if age <= cadence * STALE_AFTER_CADENCES:
        return Freshness.LATE
    return Freshness.STALE


def sql_state(as_of: str, cadence_minutes: str, now: str) -> str:
    """The same classification as ``freshness()``, as an SQL expression over the given
    columns or parameters (a test keeps the two in step)."""
    return f"""CASE WHEN {as_of} IS NULL THEN 'never'
                WHEN {now} - {as_of} <= make_interval(mins => {cadence_minutes}) THEN 'fresh'
                WHEN {now} - {as_of}
                     <= make_interval(mins => {STALE_AFTER_CADENCES} * {cadence_minutes})
                  THEN 'late'
                ELSE 'stale' END"""


def sql_current(as_of: str, cadence_minutes: str, now: str) -> str:
    """SQL: the report at ``as_of`` is not stale (fresh or late); false when there is none.
    What search shows by default."""
    return f"{as_of} >= {now} - make_interval(mins => {STALE_AFTER_CADENCES} * {cadence_minutes})"


def worst(states: list[Freshness]) -> Freshness:
    """The least fresh of several states (``never`` for none)."""
    if not states:
        return Freshness.NEVER
    return max(states, key=_SEVERITY.__getitem__)


def is_overdue(state: Freshness) -> bool:
    return state is not Freshness.FRESH
