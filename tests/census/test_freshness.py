"""Freshness is a pure function of last report, cadence and now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bedboard.freshness import Freshness, freshness, worst

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
CADENCE = timedelta(hours=12)


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (timedelta(0), Freshness.FRESH),
        (timedelta(hours=12), Freshness.FRESH),
        (timedelta(hours=12, seconds=1), Freshness.LATE),
        (timedelta(hours=24), Freshness.LATE),
        (timedelta(hours=24, seconds=1), Freshness.STALE),
        (timedelta(days=30), Freshness.STALE),
        (-timedelta(minutes=3), Freshness.FRESH),  # a little clock skew is still fresh
    ],
)
def test_freshness_by_age_against_a_twelve_hour_cadence(
    age: timedelta, expected: Freshness
) -> None:
    assert freshness(NOW - age, CADENCE, NOW) is expected


def test_a_unit_never_reported_is_never() -> None:
    assert freshness(None, CADENCE, NOW) is Freshness.NEVER


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        freshness(datetime(2026, 1, 1), CADENCE, NOW)  # noqa: DTZ001 -- the point of the test


def test_a_facility_is_as_fresh_as_its_least_fresh_unit() -> None:
    assert worst([Freshness.FRESH, Freshness.STALE, Freshness.LATE]) is Freshness.STALE
    assert worst([Freshness.FRESH, Freshness.NEVER]) is Freshness.NEVER
    assert worst([]) is Freshness.NEVER


@given(
    age_s=st.integers(min_value=0, max_value=10 * 86400),
    more_s=st.integers(min_value=0, max_value=86400),
    cadence_min=st.integers(min_value=5, max_value=10080),
)
def test_freshness_only_ever_worsens_as_time_passes(
    age_s: int, more_s: int, cadence_min: int
) -> None:
    order = [Freshness.FRESH, Freshness.LATE, Freshness.STALE]
    cadence = timedelta(minutes=cadence_min)
    report = NOW - timedelta(seconds=age_s)
    before = freshness(report, cadence, NOW)
    after = freshness(report, cadence, NOW + timedelta(seconds=more_s))
    assert order.index(after) >= order.index(before)
