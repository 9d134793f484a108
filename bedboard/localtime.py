"""Times as the users read them: in the configured zone (``BEDBOARD_TIMEZONE``), with the
zone's abbreviation. Storage and the API stay in UTC; only pages convert."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

# A wall-clock time that the user typed must name a plausible year (a detention in 1900
# or 2100 is a typing mistake, not an overdue placement).
MIN_YEAR = 2000
MAX_YEAR = 2099


def to_local(value: datetime, zone: ZoneInfo) -> datetime:
    return value.astimezone(zone)


def format_datetime(value: datetime | None, zone: ZoneInfo, *, seconds: bool = False) -> str:
    """``Nov 28, 2026 10:15 PM CST``: a date, a 12-hour time and the zone abbreviation."""
    if value is None:
        return ""
    local = value.astimezone(zone)
    clock = local.strftime("%I:%M:%S %p" if seconds else "%I:%M %p").lstrip("0")
    return f"{local.strftime('%b')} {local.day}, {local.year} {clock} {local.tzname()}"


def format_date(value: date | None, zone: ZoneInfo) -> str:
    """``Nov 28, 2026``: the local day of a moment (a task due on a day, no time), or a
    calendar date as it is (a court date)."""
    if value is None:
        return ""
    local = value.astimezone(zone) if isinstance(value, datetime) else value
    return f"{local.strftime('%b')} {local.day}, {local.year}"


def format_time(value: datetime | None, zone: ZoneInfo) -> str:
    """``10:15 PM CST`` for times within the day in view (holds, referrals sent)."""
    if value is None:
        return ""
    local = value.astimezone(zone)
    return f"{local.strftime('%I:%M %p').lstrip('0')} {local.tzname()}"


def format_input(value: datetime | None, zone: ZoneInfo) -> str:
    """The value of a ``datetime-local`` input: local wall-clock time to the minute."""
    if value is None:
        return ""
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


class LocalTimeError(ValueError):
    """A typed local time that cannot be a real moment; the message is a sentence."""


def parse_local(text: str, zone: ZoneInfo) -> datetime:
    """A ``datetime-local`` value typed in the users' zone, as an aware UTC datetime.

    A wall-clock time that occurs twice (the autumn change) is taken as the first one;
    one that never occurs (the spring change) is refused.
    """
    try:
        naive = datetime.fromisoformat(text.strip())
    except ValueError:
        raise LocalTimeError("Enter a date and time, for example 11/28/2026 10:15 PM.") from None
    if naive.tzinfo is not None:
        naive = naive.astimezone(zone).replace(tzinfo=None)
    if not MIN_YEAR <= naive.year <= MAX_YEAR:
        raise LocalTimeError(f"Enter a year between {MIN_YEAR} and {MAX_YEAR}.")
    aware = naive.replace(tzinfo=zone, fold=0)
    # A time skipped by the spring change does not survive a round trip through UTC.
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise LocalTimeError("That time does not exist here (the clocks moved forward).")
    return aware.astimezone(UTC)


_FRIENDLY = {
    "America/Chicago": "Central time",
    "America/New_York": "Eastern time",
    "America/Denver": "Mountain time",
    "America/Phoenix": "Arizona time",
    "America/Los_Angeles": "Pacific time",
}


def zone_label(name: str) -> str:
    """``Central time`` for America/Chicago; the zone's own name otherwise."""
    return _FRIENDLY.get(name, name.replace("_", " "))
