"""Where the person waits for a bed and the officer custody: "in the ED at Boone
Hospital since 02:10, officer on scene 6 h".

Owns ``placement_waits`` and the placement's ``custody_*`` columns (migration 0017).
Every change is one transaction under the placement's lock with a timeline event
(``waiting_moved``, ``custody_started``, ``custody_ended``: the place and the agency, no
free text about the person) and an outbox event. Admission or closing ends the current
wait and the custody at that moment (``record.transition`` calls :func:`end_all`).
Times are UTC; a time in the future, or before the detention started, is refused.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from bedboard import audit
from bedboard.auth import Principal
from bedboard.database import Connection
from bedboard.errors import Conflict, Invalid
from bedboard.fields import Moment
from bedboard.placements.locks import _lock
from bedboard.placements.timeline import _event, _publish


class Place(StrEnum):
    EMERGENCY_DEPARTMENT = "emergency_department"
    JAIL = "jail"
    POLICE_STATION = "police_station"
    CRISIS_CENTER = "crisis_center"
    COMMUNITY = "community"


PLACE_LABELS = {
    Place.EMERGENCY_DEPARTMENT: "Emergency department",
    Place.JAIL: "Jail",
    Place.POLICE_STATION: "Police station",
    Place.CRISIS_CENTER: "Crisis center",
    Place.COMMUNITY: "Home or community",
}


class WaitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    place: Place
    facility_id: int | None = None  # the emergency department's hospital, if listed
    since: Moment | None = None  # default: now


class CustodyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agency: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    since: Moment | None = None


class Wait(BaseModel):
    place: Place
    place_label: str
    facility_id: int | None
    facility_name: str | None
    started_at: datetime
    ended_at: datetime | None


class Custody(BaseModel):
    agency: str
    started_at: datetime | None
    ended_at: datetime | None

    def hours(self, now: datetime) -> float | None:
        """Hours an officer has been (or was) holding the person."""
        if self.started_at is None:
            return None
        return ((self.ended_at or now) - self.started_at).total_seconds() / 3600


async def _moment(conn: Connection, placement_id: int, at: datetime | None, field: str) -> datetime:
    row = await conn.fetchrow(
        "SELECT now() AS now, detention_start, status FROM placements WHERE id = $1",
        placement_id,
    )
    assert row is not None
    if row["status"] in ("admitted", "discharged", "closed"):
        raise Conflict(f"The placement is {row['status']}: the person is no longer waiting.")
    when: datetime = at or row["now"]
    if when > row["now"]:
        raise Invalid.field(field, "That time is in the future.")
    if when < row["detention_start"]:
        raise Invalid.field(field, "That time is before the detention started.")
    return when


async def move(conn: Connection, placement_id: int, wait: WaitIn, actor: Principal) -> None:
    """Record where the person is waiting now (since ``wait.since``)."""
    async with conn.transaction():
        await _lock(conn, placement_id)
        since = await _moment(conn, placement_id, wait.since, "since")
        if wait.facility_id is not None:
            if wait.place is not Place.EMERGENCY_DEPARTMENT:
                raise Invalid.field("facility_id", "Only an emergency department is a hospital.")
            if not await conn.fetchval(
                "SELECT true FROM facilities WHERE id = $1", wait.facility_id
            ):
                raise Invalid.field("facility_id", "No such hospital.", "reference")
        current = await conn.fetchval(
            "SELECT started_at FROM placement_waits WHERE placement_id = $1 AND ended_at IS NULL",
            placement_id,
        )
        if current is not None and since < current:
            raise Invalid.field("since", "That is before the person arrived where they are now.")
        await conn.execute(
            "UPDATE placement_waits SET ended_at = $2 WHERE placement_id = $1 AND ended_at IS NULL",
            placement_id,
            since,
        )
        await conn.execute(
            "INSERT INTO placement_waits (placement_id, place, facility_id, started_at, recorded_by)"
            " VALUES ($1, $2, $3, $4, $5)",
            placement_id,
            wait.place.value,
            wait.facility_id,
            since,
            actor.user_id,
        )
        data = {"place": wait.place.value, "facility_id": wait.facility_id}
        await _event(conn, placement_id, actor, "waiting_moved", data=data)
        await _publish(conn, placement_id, "waiting_moved")
        await audit.changed(conn, actor, "placement.waiting", "placement", placement_id, data)


async def start_custody(
    conn: Connection, placement_id: int, custody: CustodyIn, actor: Principal
) -> None:
    """An officer of ``custody.agency`` holds the person (since ``custody.since``)."""
    async with conn.transaction():
        await _lock(conn, placement_id)
        since = await _moment(conn, placement_id, custody.since, "since")
        await conn.execute(
            "UPDATE placements SET custody_agency = $2, custody_started_at = $3,"
            " custody_ended_at = NULL, updated_at = now(), version = version + 1 WHERE id = $1",
            placement_id,
            custody.agency,
            since,
        )
        data = {"agency": custody.agency}
        await _event(conn, placement_id, actor, "custody_started", data=data)
        await _publish(conn, placement_id, "custody_started")
        await audit.changed(conn, actor, "placement.custody", "placement", placement_id, data)


async def end_custody(
    conn: Connection, placement_id: int, actor: Principal, at: datetime | None = None
) -> None:
    """The officer was released (handed over, or left)."""
    async with conn.transaction():
        await _lock(conn, placement_id)
        started = await conn.fetchval(
            "SELECT custody_started_at FROM placements WHERE id = $1 AND custody_ended_at IS NULL",
            placement_id,
        )
        if started is None:
            raise Conflict("No officer is recorded as holding the person.")
        when = await _moment(conn, placement_id, at, "at")
        if when < started:
            raise Invalid.field("at", "That is before the custody started.")
        await conn.execute(
            "UPDATE placements SET custody_ended_at = $2, updated_at = now(),"
            " version = version + 1 WHERE id = $1",
            placement_id,
            when,
        )
        await _event(conn, placement_id, actor, "custody_ended")
        await _publish(conn, placement_id, "custody_ended")
        await audit.changed(conn, actor, "placement.custody_end", "placement", placement_id, {})


async def end_all(conn: Connection, placement_id: int) -> None:
    """At admission or closing (inside its transaction): the wait and custody end now."""
    await conn.execute(
        "UPDATE placement_waits SET ended_at = now() WHERE placement_id = $1 AND ended_at IS NULL",
        placement_id,
    )
    await conn.execute(
        "UPDATE placements SET custody_ended_at = now()"
        " WHERE id = $1 AND custody_started_at IS NOT NULL AND custody_ended_at IS NULL",
        placement_id,
    )


async def waits(conn: Connection, placement_id: int) -> list[Wait]:
    """Where the person has waited, newest first (the first one is current if not ended)."""
    rows = await conn.fetch(
        "SELECT w.place, w.facility_id, f.name AS facility_name, w.started_at, w.ended_at"
        " FROM placement_waits w LEFT JOIN facilities f ON f.id = w.facility_id"
        " WHERE w.placement_id = $1 ORDER BY w.started_at DESC, w.id DESC",
        placement_id,
    )
    return [
        Wait(
            place=Place(r["place"]),
            place_label=PLACE_LABELS[Place(r["place"])],
            facility_id=r["facility_id"],
            facility_name=r["facility_name"],
            started_at=r["started_at"],
            ended_at=r["ended_at"],
        )
        for r in rows
    ]


async def custody(conn: Connection, placement_id: int) -> Custody:
    row = await conn.fetchrow(
        "SELECT custody_agency, custody_started_at, custody_ended_at FROM placements WHERE id = $1",
        placement_id,
    )
    assert row is not None
    return Custody(
        agency=row["custody_agency"],
        started_at=row["custody_started_at"],
        ended_at=row["custody_ended_at"],
    )
