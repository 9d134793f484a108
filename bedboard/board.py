"""The board: current census of every active unit with its freshness, as a snapshot
(consistent with an outbox seq) and as per-unit change payloads."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic_core
from pydantic import BaseModel

from bedboard import outbox
from bedboard.database import Connection, consistent_read
from bedboard.facilities import FacilityKind, Gender, Population, SecurityLevel
from bedboard.freshness import STALE_AFTER_CADENCES, Freshness, freshness, is_overdue, worst


class UnitState(BaseModel):
    """One unit on the board. No protected health information ever goes here."""

    id: int
    facility_id: int
    name: str
    population: Population
    gender: Gender
    security_level: SecurityLevel
    specialties: list[str]
    accepts_involuntary: bool
    accepts_court_ordered: bool
    payers: list[str]
    licensed_beds: int
    staffed: int | None
    occupied: int | None
    blocked: int
    available: int
    held: int
    free: int
    as_of: datetime | None
    received_at: datetime | None
    freshness: Freshness


class FacilityState(BaseModel):
    id: int
    name: str
    kind: FacilityKind
    city: str
    county_fips: str
    county_name: str
    latitude: float
    longitude: float
    phone_intake: str
    report_cadence_minutes: int
    freshness: Freshness
    overdue: bool
    last_report_at: datetime | None
    feed_state: str | None = None  # "failing" or "stopped" when a census feed has trouble
    # "Confirmed by phone": a liaison heard "no bed" by phone at this time, after the
    # facility's last report and within PHONE_CHECK_SHOWN (census.record_phone_check).
    phone_checked_at: datetime | None = None
    units: list[UnitState]


class Board(BaseModel):
    seq: int
    generated_at: datetime
    facilities: list[FacilityState]


def sql_free(census: str = "c") -> str:
    """SQL: a unit's free beds, from its ``unit_census`` row under the alias ``census``:
    available less held, never below zero, and 0 when the unit has no census row."""
    return f"GREATEST(COALESCE({census}.available, 0) - COALESCE({census}.held, 0), 0)"


# A unit's board columns, from ``units u`` joined to ``facilities f`` and (left) to
# ``unit_census c``: what ``unit_state`` builds a UnitState from.
UNIT_COLUMNS = f"""
           u.id, u.facility_id, u.name, u.population, u.gender, u.security_level, u.specialties,
           u.accepts_involuntary, u.accepts_court_ordered, u.payers, u.licensed_beds,
           c.staffed, c.occupied, COALESCE(c.blocked, 0) AS blocked,
           COALESCE(c.available, 0) AS available, COALESCE(c.held, 0) AS held,
           {sql_free("c")} AS free,
           c.as_of, c.received_at, f.report_cadence_minutes"""

UNITS_SQL = f"""
    SELECT {UNIT_COLUMNS}
      FROM units u
      JOIN facilities f ON f.id = u.facility_id
      LEFT JOIN unit_census c ON c.unit_id = u.id
     WHERE u.active AND f.active AND ($1::bigint[] IS NULL OR u.id = ANY($1))
     ORDER BY u.facility_id, u.name
"""  # noqa: S608 -- composed only of constant fragments


def unit_state(row: Any, now: datetime) -> UnitState:
    """A UnitState from a row with the ``UNIT_COLUMNS`` (other columns are ignored).

    Built without validation (``model_construct``), each value given its field's type
    here: the row comes from the schema's own constraints, and validating every unit of
    the board again was most of the snapshot's Python time. A test holds the result equal
    to the validated model."""
    cadence = timedelta(minutes=row["report_cadence_minutes"])
    return UnitState.model_construct(
        id=row["id"],
        facility_id=row["facility_id"],
        name=row["name"],
        population=Population(row["population"]),
        gender=Gender(row["gender"]),
        security_level=SecurityLevel(row["security_level"]),
        specialties=list(row["specialties"]),
        accepts_involuntary=row["accepts_involuntary"],
        accepts_court_ordered=row["accepts_court_ordered"],
        payers=list(row["payers"]),
        licensed_beds=row["licensed_beds"],
        staffed=row["staffed"],
        occupied=row["occupied"],
        blocked=row["blocked"],
        available=row["available"],
        held=row["held"],
        free=row["free"],
        as_of=row["as_of"],
        received_at=row["received_at"],
        freshness=freshness(row["as_of"], cadence, now),
    )


async def db_now(conn: Connection) -> datetime:
    value: datetime = await conn.fetchval("SELECT now()")
    return value


async def unit_states(
    conn: Connection, unit_ids: Sequence[int] | None = None, *, now: datetime
) -> list[UnitState]:
    rows = await conn.fetch(UNITS_SQL, list(unit_ids) if unit_ids is not None else None)
    return [unit_state(r, now) for r in rows]


def unit_event(unit: UnitState) -> tuple[str, dict[str, Any]]:
    """The outbox event for a changed unit (board topic)."""
    return outbox.BOARD, {"kind": "unit", "unit": unit.model_dump(mode="json")}


# The board's two statements (the benchmark's floor runs the very same SQL).
FACILITIES_SQL = """
    SELECT f.id, f.name, f.kind, f.city, f.county_fips, c.name AS county_name,
           f.latitude, f.longitude, f.phone_intake, f.report_cadence_minutes,
           (SELECT max(s.state) FROM feeds fd JOIN feed_status s ON s.feed_id = fd.id
             WHERE fd.facility_id = f.id AND fd.enabled AND s.state IN ('failing', 'stopped'))
             AS feed_state,
           (SELECT max(pc.observed_at) FROM census_phone_checks pc WHERE pc.facility_id = f.id)
             AS phone_checked_at
      FROM facilities f JOIN counties c ON c.fips = f.county_fips
     WHERE f.active
     ORDER BY f.name
"""


async def snapshot(conn: Connection, *, now: datetime | None = None) -> Board:
    """The whole board and the seq it reflects, read in one repeatable-read snapshot, as
    models (the pages): ``encoded_snapshot``'s JSON validated, so the pages and the API
    are built once and cannot show different boards."""
    body, _ = await encoded_snapshot(conn, now=now or await db_now(conn))
    return Board.model_validate_json(body)


# --------------------------------------------------------------------------- the encoded board

# Everything a snapshot's content depends on, read in the snapshot's own transaction: the
# outbox seq (census, holds, freshness and feed states all reach the outbox) and the
# directory version (facilities, units, counties, feeds enabled: bumped by triggers); and
# now(), since freshness is computed against it.
_KEY_SQL = """
    SELECT (SELECT seq FROM outbox_counter), (SELECT version FROM directory_version), now()
"""

BoardKey = tuple[int, int]
# How long a phone "no bed" shows on the board (while no report is newer).
PHONE_CHECK_SHOWN = timedelta(hours=12)
# How long an encoded board may be served at one position: its generated_at is at most
# this old. Sooner when a unit's freshness would change (see encoded_snapshot).
BOARD_CACHE_MAX_AGE = timedelta(seconds=5)


_UNIT_KEYS = tuple(name for name in UnitState.model_fields if name != "freshness")


async def encoded_snapshot(conn: Connection, *, now: datetime) -> tuple[bytes, datetime]:
    """The board's JSON (``Board``'s schema: a test holds it to validate and dump back byte
    for byte), built from the rows as plain values with one ``pydantic_core.to_json``: no
    model per unit, which at 50,000 units was most of the answer's time. Also until when
    it stays true: its age plus the first moment a unit would cross from fresh to late or
    from late to stale."""
    async with consistent_read(conn):
        seq = await outbox.head(conn)
        facility_rows = await conn.fetch(FACILITIES_SQL)
        unit_rows = await conn.fetch(UNITS_SQL, None)
    until = now + BOARD_CACHE_MAX_AGE
    units: dict[int, list[dict[str, Any]]] = {}
    states: dict[int, list[Freshness]] = {}
    last: dict[int, datetime] = {}
    for row in unit_rows:
        cadence = timedelta(minutes=row["report_cadence_minutes"])
        as_of: datetime | None = row["as_of"]
        state = freshness(as_of, cadence, now)
        unit = {name: row[name] for name in _UNIT_KEYS}
        unit["freshness"] = state.value
        facility_id = row["facility_id"]
        units.setdefault(facility_id, []).append(unit)
        states.setdefault(facility_id, []).append(state)
        if as_of is not None:
            if facility_id not in last or as_of > last[facility_id]:
                last[facility_id] = as_of
            for boundary in (as_of + cadence, as_of + cadence * STALE_AFTER_CADENCES):
                if now < boundary < until:
                    until = boundary
    facilities = []
    for row in facility_rows:
        facility_id = row["id"]
        members = units.get(facility_id, [])
        state = worst(states.get(facility_id, []))
        phoned = _phone_checked(row["phone_checked_at"], last.get(facility_id), now)
        if phoned is not None and phoned + PHONE_CHECK_SHOWN < until:
            until = phoned + PHONE_CHECK_SHOWN
        facilities.append(
            {
                "id": facility_id,
                "name": row["name"],
                "kind": row["kind"],
                "city": row["city"],
                "county_fips": row["county_fips"],
                "county_name": row["county_name"],
                "latitude": row["latitude"],
                "longitude": row["longitude"],
                "phone_intake": row["phone_intake"],
                "report_cadence_minutes": row["report_cadence_minutes"],
                "freshness": state.value,
                "overdue": bool(members) and is_overdue(state),
                "last_report_at": last.get(facility_id),
                "feed_state": row["feed_state"],
                "phone_checked_at": phoned,
                "units": members,
            }
        )
    body = pydantic_core.to_json({"seq": seq, "generated_at": now, "facilities": facilities})
    return body, until


def _phone_checked(
    observed_at: datetime | None, last_report_at: datetime | None, now: datetime
) -> datetime | None:
    """The phone "no bed" the board shows: newer than the last report, and recent."""
    if observed_at is None or observed_at + PHONE_CHECK_SHOWN <= now:
        return None
    if last_report_at is not None and observed_at <= last_report_at:
        return None
    return observed_at


class BoardCache:
    """``GET /api/v1/board``'s answer, encoded once per (seq, directory version) for as
    long as its freshness states and generated_at hold (``encoded_snapshot``): clients asking
    at the same position get the same bytes, and while one request encodes, the others
    asking for that position wait for it instead of encoding too."""

    def __init__(self) -> None:
        self._key: BoardKey | None = None
        self._until = datetime.min.replace(tzinfo=UTC)
        self._body = b""
        self._building: tuple[BoardKey, asyncio.Future[bytes]] | None = None
        self.encodes = 0

    async def encoded(self, conn: Connection) -> bytes:
        async with consistent_read(conn):
            row = await conn.fetchrow(_KEY_SQL)
            assert row is not None  # one row, always
            key: BoardKey = (int(row[0]), int(row[1]))
            now: datetime = row[2]
            if key == self._key and now < self._until:
                return self._body
            building = self._building
            if building is None or building[0] != key:
                future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
                self._building = (key, future)
                try:
                    body, until = await encoded_snapshot(conn, now=now)
                except BaseException as exc:
                    future.set_exception(exc)
                    future.exception()  # retrieved: the waiters (if any) get it too
                    raise
                finally:
                    if self._building is not None and self._building[1] is future:
                        self._building = None
                self.encodes += 1
                if self._key is None or key >= self._key:
                    self._key, self._body, self._until = key, body, until
                future.set_result(body)
                return body
        return await asyncio.shield(building[1])
