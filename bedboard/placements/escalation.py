"""The escalation ladder before the legal deadline (issue 13 §2).

Per order type, an administrator-kept ladder of rungs (``escalation_rungs``): each is due
``hours_before`` hours before a placement's legal deadline (0: at the deadline), goes to
its audiences (the supervisor of the placement's region, the liaison, the state's on-call, the state
hospital's intake, the court clerk), applies only while no referral is accepted
(``only_without_acceptance``) or until the placement is admitted or closed, may offer a
wider search on the placement page, and must be acknowledged by a person within
``ack_minutes``.

``run(conn, now)`` is the scheduler's entry point: one instance at a time (an advisory
lock), it raises each due rung once per placement under way (``escalations``, unique per
placement and position) and passes a rung nobody acknowledged in time on to the next
rung at once, even before that rung's own time, so an unanswered rung climbs the ladder.
It sends nothing: it returns one ``Raised`` record per rung raised (ids, the reference,
audiences, the deadline; nothing personal or clinical) for the notifier to deliver.

Every raise, pass-on and acknowledgement is one timeline event (``escalation_raised``,
``escalation_passed_on``, ``escalation_acknowledged``), one audit row and one outbox
event on the ``placements`` topic (ids only), in the transaction of the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bedboard import audit, outbox
from bedboard.auth import Origin, Principal
from bedboard.database import Connection
from bedboard.errors import FieldError, Invalid, NotFound
from bedboard.placements.errors import PlacementOver
from bedboard.placements.models import TERMINAL, UNDER_WAY_SQL, Status
from bedboard.placements.timeline import _event, _placement_event

ESCALATION_LOCK_KEY = 0x6265_6462_6573_636C  # "bedbescl"
MAX_HOURS_BEFORE = 336  # two weeks
MAX_ACK_MINUTES = 7 * 24 * 60
MAX_RUNGS = 20

# The clock's audit rows name this origin (no request: the scheduler raised them).
CLOCK_ORIGIN = Origin(remote_addr="scheduler")
CLOCK_ACTOR = "system"


class Audience(StrEnum):
    SUPERVISOR = "supervisor"
    LIAISON = "liaison"
    STATE_ON_CALL = "state_on_call"
    STATE_HOSPITAL = "state_hospital"
    COURT = "court"


# Who a rung goes to, in words (the placement page and the ladder form).
AUDIENCE_WORDS: dict[Audience, str] = {
    Audience.SUPERVISOR: "the region's supervisor",
    Audience.LIAISON: "the liaison",
    Audience.STATE_ON_CALL: "the state's on-call",
    Audience.STATE_HOSPITAL: "the state hospital's intake",
    Audience.COURT: "the court clerk",
}

_WORDS = {a.value: words for a, words in AUDIENCE_WORDS.items()}


def audience_words(audiences: Sequence[str]) -> str:
    """``["state_on_call", "state_hospital"]`` → "the state's on-call and the state
    hospital's intake"."""
    words = [_WORDS.get(str(a), str(a)) for a in audiences]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


# --------------------------------------------------------------------------- models


class RungIn(BaseModel):
    """One rung as an administrator writes it; positions follow from the hours (the
    earliest rung, most hours before the deadline, is position 1)."""

    model_config = ConfigDict(extra="forbid")
    hours_before: int = Field(
        ge=0, le=MAX_HOURS_BEFORE, description="Hours before the deadline (0: at the deadline)."
    )
    audiences: list[Audience] = Field(min_length=1, max_length=len(Audience))
    only_without_acceptance: bool = Field(
        default=True,
        description="true: only while no referral is accepted; false: until admitted or closed.",
    )
    offer_wider_search: bool = Field(
        default=False, description="The placement page offers refer-to-all and a wider search."
    )
    ack_minutes: int = Field(
        ge=1, le=MAX_ACK_MINUTES, description="Minutes to acknowledge before it passes on."
    )


class LadderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rungs: list[RungIn] = Field(max_length=MAX_RUNGS)


class Rung(BaseModel):
    position: int
    hours_before: int
    audiences: list[Audience]
    only_without_acceptance: bool
    offer_wider_search: bool
    ack_minutes: int


class Ladder(BaseModel):
    order_type: str
    deadline_hours: int | None = Field(description="null: no legal clock, the ladder never runs.")
    rungs: list[Rung]


class Escalation(BaseModel):
    """A rung raised for a placement."""

    id: int
    placement_id: int
    position: int
    audiences: list[Audience]
    offer_wider_search: bool
    raised_at: datetime
    ack_due_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    acknowledged_by_email: str | None
    escalated_at: datetime | None = Field(description="Passed to the next rung, unacknowledged.")
    escalated_from: int | None = Field(
        description="Raised early: the position that was not acknowledged in time."
    )


class EscalationList(BaseModel):
    placement_id: int
    items: list[Escalation]


class Raised(BaseModel):
    """A rung just raised, for the notifier: ids, the reference, who it goes to and the
    deadline. Nothing personal or clinical."""

    escalation_id: int
    placement_id: int
    reference: str
    position: int
    audiences: list[Audience]
    deadline: datetime
    offer_wider_search: bool
    escalated_from: int | None
    ack_due_at: datetime


# --------------------------------------------------------------------------- the ladder


_RUNG_COLUMNS = (
    "position, hours_before, audiences, only_without_acceptance, offer_wider_search, ack_minutes"
)


async def _rungs(conn: Connection, code: str) -> list[Rung]:
    rows = await conn.fetch(
        f"SELECT {_RUNG_COLUMNS} FROM escalation_rungs WHERE order_type = $1 ORDER BY position",  # noqa: S608 -- constant
        code,
    )
    return [Rung(**dict(r)) for r in rows]


async def ladder(conn: Connection, code: str) -> Ladder:
    """An order type's ladder, earliest rung first."""
    deadline = await conn.fetchrow("SELECT deadline_hours FROM order_types WHERE code = $1", code)
    if deadline is None:
        raise NotFound("order type")
    return Ladder(
        order_type=code, deadline_hours=deadline["deadline_hours"], rungs=await _rungs(conn, code)
    )


def _check_rungs(rungs: Sequence[RungIn]) -> None:
    """No two rungs at the same hour (each is named by its place in the request)."""
    seen: dict[int, int] = {}
    problems = []
    for index, rung in enumerate(rungs):
        if rung.hours_before in seen:
            problems.append(
                FieldError(
                    f"rungs.{index}.hours_before",
                    f"No two rungs at the same hour: rung {seen[rung.hours_before] + 1} is "
                    f"also {rung.hours_before} hours before the deadline.",
                    "duplicate",
                )
            )
        else:
            seen[rung.hours_before] = index
    if problems:
        raise Invalid("Two rungs of the ladder are at the same hour.", problems)


async def set_ladder(
    conn: Connection, code: str, rungs: Sequence[RungIn], by: Principal | None
) -> Ladder:
    """Replace an order type's ladder. Positions follow the hours (most hours before the
    deadline first). Rungs already raised for a placement keep what they said; the new
    ladder applies to the rungs not raised yet."""
    _check_rungs(rungs)
    async with conn.transaction():
        exists = await conn.fetchval("SELECT 1 FROM order_types WHERE code = $1 FOR UPDATE", code)
        if exists is None:
            raise NotFound("order type")
        await conn.execute("DELETE FROM escalation_rungs WHERE order_type = $1", code)
        ordered = sorted(rungs, key=lambda r: -r.hours_before)
        await conn.executemany(
            "INSERT INTO escalation_rungs (order_type, position, hours_before, audiences,"
            " only_without_acceptance, offer_wider_search, ack_minutes)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [
                (
                    code,
                    position,
                    r.hours_before,
                    [a.value for a in dict.fromkeys(r.audiences)],
                    r.only_without_acceptance,
                    r.offer_wider_search,
                    r.ack_minutes,
                )
                for position, r in enumerate(ordered, start=1)
            ],
        )
        await audit.changed(
            conn,
            by,
            "order_type.ladder",
            "order_type",
            code,
            {"rungs": [r.hours_before for r in ordered]},
        )
        return await ladder(conn, code)


# --------------------------------------------------------------------------- reads


_ESCALATION_SELECT = """
    SELECT e.id, e.placement_id, e.position, e.audiences, e.offer_wider_search, e.raised_at,
           e.ack_due_at, e.acknowledged_at, e.acknowledged_by, u.email AS acknowledged_by_email,
           e.escalated_at, e.escalated_from
      FROM escalations e LEFT JOIN users u ON u.id = e.acknowledged_by
"""


async def escalations_of(conn: Connection, placement_id: int) -> list[Escalation]:
    """A placement's raised rungs, in ladder order."""
    if await conn.fetchval("SELECT 1 FROM placements WHERE id = $1", placement_id) is None:
        raise NotFound("placement")
    rows = await conn.fetch(
        _ESCALATION_SELECT + " WHERE e.placement_id = $1 ORDER BY e.position", placement_id
    )
    return [Escalation(**dict(r)) for r in rows]


async def escalation_placement(conn: Connection, escalation_id: int) -> int:
    """The placement an escalation belongs to (for the access check)."""
    placement_id = await conn.fetchval(
        "SELECT placement_id FROM escalations WHERE id = $1", escalation_id
    )
    if placement_id is None:
        raise NotFound("escalation")
    return int(placement_id)


async def _escalation(conn: Connection, escalation_id: int) -> Escalation:
    row = await conn.fetchrow(_ESCALATION_SELECT + " WHERE e.id = $1", escalation_id)
    if row is None:
        raise NotFound("escalation")
    return Escalation(**dict(row))


# --------------------------------------------------------------------------- the clock


def _holds(rung: Rung, status: str) -> bool:
    """Whether the rung's condition holds for a placement in ``status`` (under way)."""
    return not rung.only_without_acceptance or status == Status.OPEN


async def _publish(
    conn: Connection,
    pending: list[tuple[str, dict[str, Any]]],
    placement_id: int,
    event: str,
    escalation_id: int,
    position: int,
) -> None:
    topic, payload = await _placement_event(conn, placement_id, event)
    pending.append((topic, {**payload, "escalation_id": escalation_id, "position": position}))


async def _raise(
    conn: Connection,
    placement: Any,
    rung: Rung,
    now: datetime,
    escalated_from: int | None,
    pending: list[tuple[str, dict[str, Any]]],
) -> Raised:
    audiences = [a.value for a in rung.audiences]
    row = await conn.fetchrow(
        "INSERT INTO escalations (placement_id, position, audiences, offer_wider_search,"
        " raised_at, ack_due_at, escalated_from) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " RETURNING id, ack_due_at",
        placement["id"],
        rung.position,
        audiences,
        rung.offer_wider_search,
        now,
        now + timedelta(minutes=rung.ack_minutes),
        escalated_from,
    )
    assert row is not None
    data = {
        "escalation_id": row["id"],
        "position": rung.position,
        "audiences": audiences,
        "escalated_from": escalated_from,
    }
    await _event(conn, placement["id"], None, "escalation_raised", data=data)
    await audit.record(
        conn,
        actor=CLOCK_ACTOR,
        action="escalation.raise",
        outcome="success",
        origin=CLOCK_ORIGIN,
        object_type="placement",
        object_id=placement["id"],
        detail=data,
    )
    await _publish(conn, pending, placement["id"], "escalation_raised", row["id"], rung.position)
    return Raised(
        escalation_id=row["id"],
        placement_id=placement["id"],
        reference=placement["reference"],
        position=rung.position,
        audiences=rung.audiences,
        deadline=placement["deadline_at"],
        offer_wider_search=rung.offer_wider_search,
        escalated_from=escalated_from,
        ack_due_at=row["ack_due_at"],
    )


async def _pass_on(
    conn: Connection,
    placement_id: int,
    waiting: Any,
    to: Rung,
    now: datetime,
    pending: list[tuple[str, dict[str, Any]]],
) -> bool:
    """Mark ``waiting`` passed on to rung ``to`` (unless it was acknowledged meanwhile)."""
    done = await conn.fetchval(
        "UPDATE escalations SET escalated_at = $2 WHERE id = $1"
        " AND acknowledged_at IS NULL AND escalated_at IS NULL RETURNING id",
        waiting["id"],
        now,
    )
    if done is None:
        return False
    data = {"escalation_id": waiting["id"], "position": waiting["position"], "to": to.position}
    await _event(conn, placement_id, None, "escalation_passed_on", data=data)
    await audit.record(
        conn,
        actor=CLOCK_ACTOR,
        action="escalation.pass_on",
        outcome="success",
        origin=CLOCK_ORIGIN,
        object_type="placement",
        object_id=placement_id,
        detail=data,
    )
    await _publish(
        conn, pending, placement_id, "escalation_passed_on", waiting["id"], waiting["position"]
    )
    return True


async def _climb(
    conn: Connection, placement_id: int, now: datetime, pending: list[tuple[str, dict[str, Any]]]
) -> list[Raised]:
    """One placement's ladder at ``now``: raise the rungs due by time whose condition
    holds, then pass the highest raised rung on if its window ran out unacknowledged."""
    placement = await conn.fetchrow(
        "SELECT id, reference, status, order_type, deadline_at FROM placements"
        " WHERE id = $1 FOR UPDATE",
        placement_id,
    )
    if placement is None or placement["deadline_at"] is None or placement["status"] in TERMINAL:
        return []
    status, deadline = placement["status"], placement["deadline_at"]
    rungs = await _rungs(conn, placement["order_type"])
    by_position = {r.position: r for r in rungs}
    raised_rows: dict[int, Any] = {
        r["position"]: r
        for r in await conn.fetch(
            "SELECT id, position, ack_due_at, acknowledged_at, escalated_at FROM escalations"
            " WHERE placement_id = $1 FOR UPDATE",
            placement_id,
        )
    }
    out: list[Raised] = []
    for rung in rungs:
        due = deadline - timedelta(hours=rung.hours_before) <= now
        if rung.position not in raised_rows and due and _holds(rung, status):
            out.append(await _raise(conn, placement, rung, now, None, pending))
            raised_rows[rung.position] = {"id": out[-1].escalation_id, "position": rung.position}
    if not raised_rows:
        return out
    top = max(raised_rows)
    waiting = raised_rows[top]
    if waiting.get("acknowledged_at") or waiting.get("escalated_at"):
        return out
    if "ack_due_at" not in waiting or waiting["ack_due_at"] > now:
        return out  # just raised, or its window is still open
    current = by_position.get(top)
    if current is not None and not _holds(current, status):
        return out  # a no-acceptance rung after an acceptance: nothing to pass on
    following = next((r for r in rungs if r.position > top and _holds(r, status)), None)
    if following is None:
        return out  # the last rung: it stays waiting for an acknowledgement
    if await _pass_on(conn, placement_id, waiting, following, now, pending):
        out.append(await _raise(conn, placement, following, now, top, pending))
    return out


async def run(conn: Connection, now: datetime) -> list[Raised]:
    """Raise every rung due at ``now`` and pass on the ones not acknowledged in time;
    return the rungs raised (for the notifier). One instance at a time: another one at
    it means this round is skipped (``[]``). Sends nothing."""
    raised: list[Raised] = []
    pending: list[tuple[str, dict[str, Any]]] = []
    async with conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", ESCALATION_LOCK_KEY):
            return []
        due = await conn.fetch(
            f"""
            SELECT p.id FROM placements p
             WHERE p.deadline_at IS NOT NULL AND {UNDER_WAY_SQL}
               AND (EXISTS (SELECT 1 FROM escalation_rungs r
                             WHERE r.order_type = p.order_type
                               AND p.deadline_at - make_interval(hours => r.hours_before) <= $1
                               AND (NOT r.only_without_acceptance OR p.status = 'open')
                               AND NOT EXISTS (SELECT 1 FROM escalations e
                                                WHERE e.placement_id = p.id
                                                  AND e.position = r.position))
                    OR EXISTS (SELECT 1 FROM escalations e
                                WHERE e.placement_id = p.id AND e.acknowledged_at IS NULL
                                  AND e.escalated_at IS NULL AND e.ack_due_at <= $1))
             ORDER BY p.id
            """,  # noqa: S608 -- constant fragments
            now,
        )
        for row in due:
            raised += await _climb(conn, row["id"], now, pending)
        await outbox.append(conn, pending)  # one NOTIFY for the whole run
    return raised


# --------------------------------------------------------------------------- acknowledge


async def acknowledge(
    conn: Connection, escalation_id: int, principal: Principal, now: datetime
) -> Escalation:
    """A person acknowledges a raised rung: who and when are kept, and the rung stops
    climbing. A second acknowledgement changes nothing. Refused once the placement is
    admitted or closed (``PlacementOver``). Who may is ``access``'s rule (one place)."""
    async with conn.transaction():
        placement_id = await escalation_placement(conn, escalation_id)
        placement = await conn.fetchrow(
            "SELECT id, reference, status FROM placements WHERE id = $1 FOR UPDATE", placement_id
        )
        assert placement is not None
        row = await conn.fetchrow(
            "SELECT id, position, acknowledged_at FROM escalations WHERE id = $1 FOR UPDATE",
            escalation_id,
        )
        assert row is not None
        if row["acknowledged_at"] is not None:
            return await _escalation(conn, escalation_id)  # already acknowledged: a no-op
        if placement["status"] in TERMINAL:
            raise PlacementOver(
                f"{placement['reference']} is {placement['status']}: its escalations are "
                "over and take no acknowledgement.",
                placement_status=placement["status"],
            )
        await conn.execute(
            "UPDATE escalations SET acknowledged_at = $2, acknowledged_by = $3 WHERE id = $1",
            escalation_id,
            now,
            principal.user_id,
        )
        data = {"escalation_id": escalation_id, "position": row["position"]}
        await _event(conn, placement_id, principal, "escalation_acknowledged", data=data)
        await audit.changed(
            conn, principal, "escalation.acknowledge", "placement", placement_id, data
        )
        pending: list[tuple[str, dict[str, Any]]] = []
        await _publish(
            conn, pending, placement_id, "escalation_acknowledged", escalation_id, row["position"]
        )
        await outbox.append(conn, pending)
        return await _escalation(conn, escalation_id)


__all__ = [
    "AUDIENCE_WORDS",
    "ESCALATION_LOCK_KEY",
    "Audience",
    "Escalation",
    "EscalationList",
    "Ladder",
    "LadderIn",
    "Raised",
    "Rung",
    "RungIn",
    "acknowledge",
    "audience_words",
    "escalation_placement",
    "escalations_of",
    "ladder",
    "run",
    "set_ladder",
]
