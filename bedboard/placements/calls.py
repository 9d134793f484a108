"""Phone calls that count: a liaison's calls to facilities about a placement, recorded on
it with one-click outcomes — no bed, has a bed for this person, call back at…, no answer.

Owns ``placement_calls`` (migration ``…_placement_calls.sql``). Every call is one
transaction under the placement's lock: the call row, a timeline event ``called`` (the
facility, the outcome and the time to call back; never free text), an audit entry and a
``placements`` outbox event (ids and states only).

- *No bed* is also a labelled census observation (``census.record_phone_check``: source
  ``phone``, the liaison, the time). It never changes the facility's reported counts.
- *Has a bed* may go on to :func:`accept_by_phone`: the liaison refers the placement to
  the unit (unless it is referred already) and records the facility's acceptance on its
  behalf, with the same ``referrals.refer`` and ``referrals.accept`` a facility's own
  answer uses (the bed hold and the last-bed guard included). The timeline event
  ``accepted_by_phone`` and the audit entry say the liaison recorded it by phone.
- *Call back at…* needs a time in the future; the placement page shows it as a reminder
  until a later call to that facility.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from bedboard import audit, census
from bedboard.auth import Principal
from bedboard.database import Connection
from bedboard.errors import Conflict, Invalid, NotFound
from bedboard.fields import DbId, Moment
from bedboard.placements import referrals
from bedboard.placements.locks import _lock
from bedboard.placements.models import AWAITING
from bedboard.placements.timeline import _event, _publish


class Outcome(StrEnum):
    NO_BED = "no_bed"
    HAS_BED = "has_bed"
    CALL_BACK = "call_back"
    NO_ANSWER = "no_answer"


OUTCOME_LABELS = {
    Outcome.NO_BED: "No bed",
    Outcome.HAS_BED: "Has a bed for this person",
    Outcome.CALL_BACK: "Call back at…",
    Outcome.NO_ANSWER: "No answer",
}
# How an outcome reads after the facility's name: "Called St. Mary's: no bed".
OUTCOME_WORDS = {
    Outcome.NO_BED: "no bed",
    Outcome.HAS_BED: "has a bed for this person",
    Outcome.CALL_BACK: "call back",
    Outcome.NO_ANSWER: "no answer",
}
# Calls are about finding a bed: not once the person is admitted or the case is over.
_DONE = ("admitted", "discharged", "closed")


class CallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    facility_id: DbId
    unit_id: DbId | None = Field(default=None, description="The unit the call was about.")
    outcome: Outcome
    call_back_at: Moment | None = Field(
        default=None, description="For `call_back` only, and then required: a future time."
    )
    record_acceptance: bool = Field(
        default=False,
        description="For `has_bed` about a unit: also refer to it (unless referred) and "
        "record its acceptance on the facility's behalf (a bed is held).",
    )


def _check(call: CallIn, now: datetime) -> None:
    """What the model alone cannot say with the field at fault (the clock is the
    database's): a call back needs a time, in the future, and only a call back has one."""
    if call.outcome is Outcome.CALL_BACK:
        if call.call_back_at is None:
            raise Invalid.field("call_back_at", "Give the time to call back.", "missing")
        if call.call_back_at <= now:
            raise Invalid.field("call_back_at", "The time to call back must be in the future.")
    elif call.call_back_at is not None:
        raise Invalid.field("call_back_at", "A time to call back goes with “call back” only.")
    if call.record_acceptance and (call.outcome is not Outcome.HAS_BED or call.unit_id is None):
        raise Invalid.field(
            "record_acceptance", "Recording an acceptance needs “has a bed” and a unit."
        )


class Call(BaseModel):
    id: int
    placement_id: int
    facility_id: int
    facility_name: str
    unit_id: int | None
    unit_name: str | None
    outcome: Outcome
    outcome_label: str
    call_back_at: datetime | None
    referral_id: int | None = Field(
        description="The referral whose acceptance the liaison recorded after this call."
    )
    called_by: int | None
    called_by_name: str | None
    called_at: datetime

    @property
    def summary(self) -> str:
        """``Lakeside Psychiatric — Adult Unit: no bed``."""
        where = self.facility_name + (f" — {self.unit_name}" if self.unit_name else "")
        return f"{where}: {OUTCOME_WORDS[self.outcome]}"


class CallList(BaseModel):
    items: list[Call]


class Recorded(BaseModel):
    call: Call
    referral_id: int | None = Field(
        description="With record_acceptance: the referral accepted on the facility's behalf."
    )


async def record(
    conn: Connection,
    placement_id: int,
    call: CallIn,
    actor: Principal,
    *,
    hold: timedelta,
) -> Recorded:
    """Record a call about the placement. A call back time must be in the future; the unit
    must be one of the facility's. ``record_acceptance`` goes on to
    :func:`accept_by_phone` in the same transaction (all or nothing)."""
    async with conn.transaction():
        placement = await _lock(conn, placement_id)
        if placement["status"] in _DONE:
            raise Conflict(
                f"The placement is {placement['status']}: calls are recorded while a bed "
                "is being found."
            )
        _check(call, await conn.fetchval("SELECT now()"))
        facility = await conn.fetchrow(
            "SELECT id, name FROM facilities WHERE id = $1 AND active", call.facility_id
        )
        if facility is None:
            raise Invalid.field("facility_id", "No such facility.", "reference")
        if call.unit_id is not None:
            unit_facility = await conn.fetchval(
                "SELECT facility_id FROM units WHERE id = $1 AND active", call.unit_id
            )
            if unit_facility != call.facility_id:
                raise Invalid.field(
                    "unit_id", "That unit is not one of the facility's.", "reference"
                )
        call_id = int(
            await conn.fetchval(
                "INSERT INTO placement_calls (placement_id, facility_id, unit_id, outcome,"
                " call_back_at, called_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                placement_id,
                call.facility_id,
                call.unit_id,
                call.outcome.value,
                call.call_back_at,
                actor.user_id,
            )
        )
        if call.outcome is Outcome.NO_BED:
            await census.record_phone_check(
                conn,
                call.facility_id,
                call.unit_id,
                recorded_by=actor.user_id,
                placement_id=placement_id,
            )
        data: dict[str, object] = {
            "call_id": call_id,
            "facility_id": call.facility_id,
            "called_unit_id": call.unit_id,
            "outcome": call.outcome.value,
            "call_back_at": call.call_back_at.isoformat() if call.call_back_at else None,
            # The facility's name (directory data, not about the person) for the timeline.
            "called": f"{facility['name']}: {OUTCOME_WORDS[call.outcome]}",
        }
        await _event(conn, placement_id, actor, "called", data=data)
        await _publish(conn, placement_id, "called")
        detail = {k: data[k] for k in ("call_id", "facility_id", "called_unit_id", "outcome")}
        await audit.changed(conn, actor, "placement.call", "placement", placement_id, detail)
        referral_id = None
        if call.record_acceptance:
            referral_id = await accept_by_phone(conn, placement_id, call_id, actor, hold=hold)
        return Recorded(call=await get_call(conn, placement_id, call_id), referral_id=referral_id)


async def accept_by_phone(
    conn: Connection, placement_id: int, call_id: int, actor: Principal, *, hold: timedelta
) -> int:
    """After a *has a bed* call about a unit: refer the placement to it (unless a referral
    is waiting for an answer already) and accept that referral on the facility's behalf.
    Returns the referral id. Refused (409) once recorded for this call, when the placement
    is no longer open, or when the board shows no free bed there (the facility updates its
    census first)."""
    async with conn.transaction():
        await _lock(conn, placement_id)
        row = await conn.fetchrow(
            "SELECT c.outcome, c.unit_id, c.facility_id, c.referral_id"
            " FROM placement_calls c WHERE c.id = $1 AND c.placement_id = $2 FOR UPDATE",
            call_id,
            placement_id,
        )
        if row is None:
            raise NotFound("call")
        if row["outcome"] != Outcome.HAS_BED or row["unit_id"] is None:
            raise Conflict("Only a “has a bed” call about a unit can record an acceptance.")
        if row["referral_id"] is not None:
            raise Conflict("The acceptance of this call was recorded already.")
        waiting = await conn.fetchval(
            "SELECT id FROM referrals WHERE placement_id = $1 AND unit_id = $2"
            " AND status = ANY($3::text[])",
            placement_id,
            row["unit_id"],
            sorted(AWAITING),
        )
        if waiting is None:
            (referral_id,) = await referrals.refer(conn, placement_id, [row["unit_id"]], actor)
        else:
            referral_id = int(waiting)
        await referrals.accept(conn, referral_id, actor, hold)
        await conn.execute(
            "UPDATE placement_calls SET referral_id = $2 WHERE id = $1", call_id, referral_id
        )
        data = {
            "call_id": call_id,
            "referral_id": referral_id,
            "unit_id": row["unit_id"],
            "facility_id": row["facility_id"],
            "by_phone": True,
        }
        await _event(conn, placement_id, actor, "accepted_by_phone", data=data)
        await _publish(conn, placement_id, "accepted_by_phone", referral_ids=[referral_id])
        await audit.changed(
            conn,
            actor,
            "referral.accept_by_phone",
            "referral",
            referral_id,
            {
                "placement_id": placement_id,
                "call_id": call_id,
                "for_facility_id": row["facility_id"],
            },
        )
        return referral_id


_CALLS_SQL = """
    SELECT c.id, c.placement_id, c.facility_id, f.name AS facility_name, c.unit_id,
           u.name AS unit_name, c.outcome, c.call_back_at, c.referral_id, c.called_by,
           us.display_name AS called_by_name, c.called_at
      FROM placement_calls c
      JOIN facilities f ON f.id = c.facility_id
      LEFT JOIN units u ON u.id = c.unit_id
      LEFT JOIN users us ON us.id = c.called_by
     WHERE c.placement_id = $1 AND ($2::bigint IS NULL OR c.id = $2)
     ORDER BY c.called_at DESC, c.id DESC
"""


async def calls_of(conn: Connection, placement_id: int) -> list[Call]:
    """The placement's calls, newest first."""
    rows = await conn.fetch(_CALLS_SQL, placement_id, None)
    return [Call(**dict(r), outcome_label=OUTCOME_LABELS[Outcome(r["outcome"])]) for r in rows]


async def get_call(conn: Connection, placement_id: int, call_id: int) -> Call:
    row = await conn.fetchrow(_CALLS_SQL, placement_id, call_id)
    if row is None:
        raise NotFound("call")
    return Call(**dict(row), outcome_label=OUTCOME_LABELS[Outcome(row["outcome"])])


def call_backs(calls: list[Call]) -> list[Call]:
    """The reminders: each facility's newest call when it said "call back at…" (a later
    call to that facility settles it), soonest first."""
    newest: dict[int, Call] = {}
    for c in calls:  # newest first
        newest.setdefault(c.facility_id, c)
    due = [c for c in newest.values() if c.outcome is Outcome.CALL_BACK and c.call_back_at]
    return sorted(due, key=lambda c: (c.call_back_at, c.id))
