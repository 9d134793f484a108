"""Shared field types for everything that arrives from outside (API bodies and queries,
forms): the checks every id, time and text share, so no input reaches the database in a
form it cannot store (and answers 500).

- ``DbId``: a database id, 1 to 2^63 - 1 (PostgreSQL's bigint).
- ``Moment``: an RFC 3339 date-time with a zone, in a plausible year (2000-2099): a
  detention start in 1900 or 2100 is a typing mistake, and a deadline computed from the
  year 9999 would overflow. A bare number is refused rather than read as epoch seconds.
- ``Instant``: a date-time with a zone that has a UTC equivalent (``0001-01-01T00:00+14:00``
  has none), for times machines report (census ``as_of``): an old one is merely stale and
  a future one is refused by the census rules, so no year bound.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

MAX_DB_ID = 2**63 - 1
MIN_YEAR = 2000
MAX_YEAR = 2099

DbId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]


_NUMBER = re.compile(r"\s*[-+]?\d+(\.\d*)?\s*")


def _not_a_number(value: Any) -> Any:
    """Pydantic would read ``1700000000`` or ``"0.5"`` as seconds since 1970; a client
    that sends a number meant something else."""
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if numeric or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("give a date and time in RFC 3339, e.g. 2026-11-28T22:15:00-06:00")
    return value


def _plausible_year(value: datetime) -> datetime:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


Moment = Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_plausible_year)]


def _has_utc(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date and time is out of range") from None
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_has_utc)]
