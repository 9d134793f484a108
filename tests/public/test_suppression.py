"""Small-cell suppression of the public program counts: every count of 1 to 10 people
is hidden, 0 and 11 up are shown, and no hidden count can be worked out from a total in
the same answer."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bedboard import public
from bedboard.public import PeopleCount, Suppressed, people_count, people_total

MEASURES = {
    "placement_requests": "requests",
    "admitted": "admitted",
    "closed_without_bed": "closed_without_bed",
}


@pytest.mark.parametrize("n", range(31))
def test_a_count_of_one_to_ten_people_is_shown_as_under_eleven_and_others_as_themselves(
    n: int,
) -> None:
    count = people_count(n)
    if 1 <= n <= 10:
        assert count == PeopleCount(
            value=None, suppressed=True, display="<11", reason=Suppressed.SMALL_CELL
        )
    else:
        assert count == PeopleCount(value=n, suppressed=False, display=str(n), reason=None)
    # The JSON shape the API documents.
    dumped = count.model_dump(mode="json")
    assert set(dumped) == {"value", "suppressed", "display", "reason"}
    assert (dumped["value"] is None) == dumped["suppressed"]


def test_a_negative_count_of_people_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        people_count(-1)


def _rows(columns: dict[str, list[int]]) -> list[dict[str, Any]]:
    """Month rows as the summary's statement returns them."""
    rows = []
    for i in range(12):
        start = datetime(2025, 1 + i, 1, 6, tzinfo=UTC)
        rows.append(
            {
                "month": date(2025, 1 + i, 1),
                "starts_at": start,
                "ends_at": start,
                **{column: values[i] for column, values in columns.items()},
            }
        )
    return rows


def _published(columns: dict[str, list[int]]) -> dict[str, Any]:
    months, totals = public._months(_rows(columns))
    return {
        "months": [m.model_dump(mode="json") for m in months],
        "totals": totals.model_dump(mode="json"),
    }


month_counts = st.lists(st.integers(0, 30), min_size=12, max_size=12)


@settings(max_examples=300, deadline=None)
@given(requests=month_counts, admitted=month_counts, closed=month_counts)
def test_every_people_count_and_total_is_suppressed_and_no_hidden_count_is_recoverable(
    requests: list[int], admitted: list[int], closed: list[int]
) -> None:
    columns = {"requests": requests, "admitted": admitted, "closed_without_bed": closed}
    published = _published(columns)
    for measure, column in MEASURES.items():
        values = columns[column]
        cells = [m[measure] for m in published["months"]]
        total = published["totals"][measure]
        for value, cell in zip(values, cells, strict=True):
            assert cell == people_count(value).model_dump(mode="json")
        if any(1 <= v <= 10 for v in values):
            # Shown, the total less the shown months would give the hidden ones' sum.
            assert total["suppressed"] and total["reason"] == "complementary"
            assert total["value"] is None and total["display"] == "not shown"
        else:
            assert total["value"] == sum(values) and not total["suppressed"]
        # Whatever a hidden month really was (1 to 10), the answer reads the same: nothing
        # in it (cells or totals) tells the possibilities apart.
        hidden = [i for i, v in enumerate(values) if 1 <= v <= 10]
        for i in hidden[:2]:
            for other in (1, 10):
                changed = dict(columns)
                changed[column] = [other if j == i else v for j, v in enumerate(values)]
                assert _published(changed) == published


def test_a_total_of_months_that_are_all_zero_or_eleven_up_is_shown() -> None:
    parts = [people_count(n) for n in (0, 11, 0, 30)]
    assert people_total(parts, 41) == people_count(41)
    assert people_total([people_count(0)] * 12, 0).display == "0"


def test_one_hidden_month_hides_the_total_even_when_the_total_is_large() -> None:
    parts = [people_count(n) for n in (3, 40, 50)]
    total = people_total(parts, 93)
    assert total.suppressed and total.value is None and total.reason is Suppressed.COMPLEMENTARY
