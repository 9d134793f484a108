"""How pages word things: vocabularies, counties, hours, reasons and local times."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bedboard import localtime, search
from bedboard.pages import labels

CENTRAL = ZoneInfo("America/Chicago")


def test_st_louis_city_is_not_called_a_county() -> None:
    assert labels.county("St. Louis City") == "St. Louis City"
    assert labels.county("Greene") == "Greene County"


def test_hold_hours_read_as_people_say_them() -> None:
    assert labels.hours(4.0) == "4 hours"
    assert labels.hours(1.5) == "1.5 hours"
    assert labels.hours(1) == "1 hour"


def test_vocabularies_have_their_proper_names() -> None:
    assert labels.label("co_occurring_substance_use", "specialty") == "Co-occurring substance use"
    assert labels.label("secure", "security") == "Secure unit"  # not "secure security"
    assert labels.label("medicaid", "payer") == "Medicaid"
    assert labels.label("new_local_tag", "specialty") == "New local tag"


def test_exclusion_reasons_agree_with_their_count() -> None:
    assert search.reason_text("payer_not_accepted", 1) == "1 unit does not take the payer"
    assert search.reason_text("payer_not_accepted", 3) == "3 units do not take the payer"


def test_times_show_in_central_time_with_the_zone_abbreviation() -> None:
    winter = datetime(2026, 11, 29, 4, 15, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 17, 5, tzinfo=UTC)
    assert localtime.format_datetime(winter, CENTRAL) == "Nov 28, 2026 10:15 PM CST"
    assert localtime.format_time(summer, CENTRAL) == "12:05 PM CDT"
    assert localtime.format_input(winter, CENTRAL) == "2026-11-28T22:15"


def test_a_typed_local_time_is_stored_in_utc() -> None:
    assert localtime.parse_local("2026-11-28T22:15", CENTRAL) == datetime(
        2026, 11, 29, 4, 15, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("2026-03-08T02:30", "does not exist"),  # the spring change skips 2:00-3:00
        ("1900-01-01T00:00", "between 2000 and 2099"),
        ("yesterday", "Enter a date and time"),
    ],
)
def test_a_typed_time_that_cannot_be_a_real_moment_is_refused_in_a_sentence(
    typed: str, message: str
) -> None:
    with pytest.raises(localtime.LocalTimeError, match=message):
        localtime.parse_local(typed, CENTRAL)
