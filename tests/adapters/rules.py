"""What every adapter's parse must uphold, whatever it is fed."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from hypothesis import strategies as st

from bedboard.census import MAX_COUNT, CensusReport
from facility_adapters.base import Parsed

T = TypeVar("T")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def storable(text: str, limit: int) -> bool:
    """PostgreSQL text: no NUL, valid UTF-8; within the column's bound."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text and len(text) <= limit


def assert_census_rules(parsed: Parsed) -> None:
    """Every report is one the API would accept; every string can be stored."""
    assert isinstance(parsed, Parsed)
    for report in parsed.reports:
        assert report.source_id and storable(report.source_id, 200), report
        assert storable(getattr(report, "location", ""), 200), report
        assert report.as_of.tzinfo is not None and report.as_of.utcoffset() is not None, report
        counted = report.staffed is not None or report.occupied is not None
        if counted:
            assert report.available is None, report
            assert report.staffed is not None and report.occupied is not None, report
            assert 0 <= report.occupied <= report.staffed <= MAX_COUNT, report
            blocked = report.blocked or 0
            assert 0 <= blocked <= report.staffed - report.occupied, report
        else:
            assert report.blocked in (None, 0), report
            assert report.available is not None and 0 <= report.available <= MAX_COUNT, report
        CensusReport(
            as_of=report.as_of,
            staffed=report.staffed,
            occupied=report.occupied,
            blocked=report.blocked,
            available=report.available,
        )
    for item in parsed.rejected:
        assert storable(item.location, 200) and item.location, item
        assert storable(item.reason, 500) and item.reason, item
        assert storable(item.raw, 2000), item


def mostly(
    good: st.SearchStrategy[T], other: st.SearchStrategy[Any], odds: int = 8
) -> st.SearchStrategy[Any]:
    """``good`` ``odds - 1`` times in ``odds``, else ``other``: property tests should mostly
    reach the code that makes reports, and still see anything at all."""
    # n == 1: hypothesis favours the ends of a range, so the rare branch sits inside it.
    return st.integers(0, odds - 1).flatmap(lambda n: other if n == 1 else good)


def often(odds: int = 5) -> st.SearchStrategy[bool]:
    """True ``odds - 1`` times in ``odds``."""
    return st.sampled_from([True] * (odds - 1) + [False])
