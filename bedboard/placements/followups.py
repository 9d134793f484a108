"""After admission: a placement's follow-up tasks ("call CMHC intake in 7 days") and the
outpatient-commitment path (the petition's court date and the CMHC responsible).

Owns ``placement_follow_ups`` and ``placement_commitments`` (migration 0021). A task is
``open`` until it is ``done`` or ``cancelled`` (``FOLLOW_UP_TRANSITIONS``), each with an
optional note; it is due at a time, or on a day (``due_all_day``: reminded at
``ALL_DAY_REMINDER`` local time that day, overdue the day after), and assigned to a
liaison or an administrator (by default the placement's liaison). Every change is one
transaction under the placement's lock, with a timeline event (``follow_up_added``,
``follow_up_done``, ``follow_up_cancelled``, ``commitment_recorded``: ids and which fields,
never the text), an outbox event and an audit row. The titles, notes and the CMHC's name
are clinical text: only in these tables and the liaisons' views.

``due_follow_ups`` claims the open tasks whose time has come, once each
(``reminded_at``); the scheduler enqueues their reminders (``notify.occasions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from bedboard import audit
from bedboard.auth import Principal, Role
from bedboard.database import Connection
from bedboard.errors import BadReference, Conflict, IllegalTransition, Invalid, NotFound
from bedboard.fields import MAX_YEAR, MIN_YEAR, DbId, Moment
from bedboard.placements.locks import _lock
from bedboard.placements.models import Outcome, Status
from bedboard.placements.timeline import _event, _publish


class FollowUpStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


FOLLOW_UP_TRANSITIONS: dict[FollowUpStatus, frozenset[FollowUpStatus]] = {
    FollowUpStatus.OPEN: frozenset({FollowUpStatus.DONE, FollowUpStatus.CANCELLED}),
    FollowUpStatus.DONE: frozenset(),
    FollowUpStatus.CANCELLED: frozenset(),
}

FOLLOW_UP_LABELS = {
    FollowUpStatus.OPEN: "Open",
    FollowUpStatus.DONE: "Done",
    FollowUpStatus.CANCELLED: "Cancelled",
}

# A task due on a day (no time) is reminded at this local time that day.
ALL_DAY_REMINDER = time(8, 0)
# A task may be due this far behind the clock (a form filled in a minute ago).
PAST_SKEW = timedelta(minutes=5)
# The task the commitment offers: after the court date, check with the CMHC.
COMMITMENT_TASK = "Check with the CMHC after the court date"

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ClosingNote = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


def _plausible_day(value: date | None) -> date | None:
    if value is not None and not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


class FollowUpIn(BaseModel):
    """A follow-up task: a title (clinical text: never logged or sent), when it is due (a
    time, or a day) and who does it."""

    model_config = ConfigDict(extra="forbid")
    title: Title
    due_at: Moment | None = Field(default=None, description="Due at this time.")
    due_on: date | None = Field(
        default=None, description="Due on this day (local), with no time: reminded at 08:00."
    )
    assignee_id: DbId | None = Field(
        default=None,
        description="A liaison or administrator. Default: the placement's liaison (or you).",
    )

    @model_validator(mode="after")
    def _one_due(self) -> FollowUpIn:
        if (self.due_at is None) == (self.due_on is None):
            raise ValueError("give either due_at (a time) or due_on (a day)")
        _plausible_day(self.due_on)
        return self


class FollowUpCloseIn(BaseModel):
    """Done or cancelled, with an optional note (clinical text)."""

    model_config = ConfigDict(extra="forbid")
    note: ClosingNote = ""


class FollowUp(BaseModel):
    """A task as liaisons see it (the title and note are clinical text)."""

    id: int
    placement_id: int
    reference: str
    placement_status: Status
    title: str
    due_at: datetime
    due_all_day: bool = Field(description="Due on the day of due_at (local), no time.")
    overdue: bool = Field(description="Open, and past its time (or its day).")
    assignee_id: int
    assignee_name: str
    status: FollowUpStatus
    note: str
    created_at: datetime
    created_by_name: str | None
    closed_at: datetime | None
    closed_by_name: str | None


class FollowUpList(BaseModel):
    items: list[FollowUp]


class CommitmentIn(BaseModel):
    """The outpatient-commitment path: the petition's court date and the CMHC responsible
    (a name: the directory lists no CMHCs)."""

    model_config = ConfigDict(extra="forbid")
    court_date: date
    cmhc_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ]
    add_follow_up: StrictBool = Field(
        default=True,
        description=f"The first time: also add the task “{COMMITMENT_TASK}”, due the day "
        "after the court date, for the placement's liaison.",
    )

    @model_validator(mode="after")
    def _plausible(self) -> CommitmentIn:
        _plausible_day(self.court_date)
        return self


class Commitment(BaseModel):
    placement_id: int
    court_date: date
    cmhc_name: str = Field(description="Liaisons only.")
    recorded_at: datetime
    updated_at: datetime
    recorded_by_name: str | None


@dataclass(frozen=True)
class CommitmentRecorded:
    commitment: Commitment
    follow_up_id: int | None  # the task added with it, if any


@dataclass(frozen=True)
class FollowUpDue:
    """A task whose time came, claimed once for its reminder: ids, the placement's
    reference and the due time only (never the title)."""

    follow_up_id: int
    placement_id: int
    reference: str
    assignee_id: int
    due_at: datetime
    due_all_day: bool


# --------------------------------------------------------------------------- reads

_FOLLOW_UP_SQL = """
    SELECT t.id, t.placement_id, p.reference, p.status AS placement_status, t.title, t.due_at,
           t.due_all_day, t.assignee_id,
           COALESCE(NULLIF(a.display_name, ''), a.email) AS assignee_name, t.status, t.note,
           t.created_at, COALESCE(NULLIF(c.display_name, ''), c.email) AS created_by_name,
           t.closed_at, COALESCE(NULLIF(d.display_name, ''), d.email) AS closed_by_name,
           t.status = 'open' AND CASE WHEN t.due_all_day
               THEN (t.due_at AT TIME ZONE $1)::date < (now() AT TIME ZONE $1)::date
               ELSE t.due_at < now() END AS overdue
      FROM placement_follow_ups t
      JOIN placements p ON p.id = t.placement_id
      JOIN users a ON a.id = t.assignee_id
      LEFT JOIN users c ON c.id = t.created_by
      LEFT JOIN users d ON d.id = t.closed_by
"""


async def follow_ups_of(conn: Connection, placement_id: int, zone: ZoneInfo) -> list[FollowUp]:
    """A placement's tasks: open ones first, soonest due first."""
    rows = await conn.fetch(
        _FOLLOW_UP_SQL + " WHERE t.placement_id = $2 ORDER BY t.status <> 'open', t.due_at, t.id",
        zone.key,
        placement_id,
    )
    return [FollowUp(**dict(r)) for r in rows]


async def get_follow_up(conn: Connection, follow_up_id: int, zone: ZoneInfo) -> FollowUp:
    row = await conn.fetchrow(_FOLLOW_UP_SQL + " WHERE t.id = $2", zone.key, follow_up_id)
    if row is None:
        raise NotFound("follow-up")
    return FollowUp(**dict(row))


async def tasks(
    conn: Connection,
    zone: ZoneInfo,
    *,
    assignee_id: int | None,
    statuses: tuple[FollowUpStatus, ...] = (FollowUpStatus.OPEN,),
    limit: int = 500,
) -> list[FollowUp]:
    """The task list: ``assignee_id``'s tasks (None: everyone's) in ``statuses``, soonest
    due first."""
    rows = await conn.fetch(
        _FOLLOW_UP_SQL + " WHERE ($2::bigint IS NULL OR t.assignee_id = $2)"
        " AND t.status = ANY($3::text[]) ORDER BY t.due_at, t.id LIMIT $4",
        zone.key,
        assignee_id,
        [s.value for s in statuses],
        limit,
    )
    return [FollowUp(**dict(r)) for r in rows]


async def follow_up_placement(conn: Connection, follow_up_id: int) -> int:
    """The placement a task belongs to (for access decisions)."""
    placement_id = await conn.fetchval(
        "SELECT placement_id FROM placement_follow_ups WHERE id = $1", follow_up_id
    )
    if placement_id is None:
        raise NotFound("follow-up")
    return int(placement_id)


async def commitment_of(conn: Connection, placement_id: int) -> Commitment | None:
    row = await conn.fetchrow(
        "SELECT m.placement_id, m.court_date, m.cmhc_name, m.recorded_at, m.updated_at,"
        " COALESCE(NULLIF(u.display_name, ''), u.email) AS recorded_by_name"
        " FROM placement_commitments m LEFT JOIN users u ON u.id = m.recorded_by"
        " WHERE m.placement_id = $1",
        placement_id,
    )
    return Commitment(**dict(row)) if row is not None else None


async def assignees(conn: Connection) -> list[tuple[int, str]]:
    """Who may be assigned a task: active liaisons and administrators (id, name)."""
    rows = await conn.fetch(
        "SELECT id, COALESCE(NULLIF(display_name, ''), email) AS name FROM users"
        " WHERE role = ANY($1::text[]) AND NOT disabled ORDER BY role <> 'liaison', name, id",
        [Role.LIAISON.value, Role.ADMIN.value],
    )
    return [(r["id"], r["name"]) for r in rows]


# --------------------------------------------------------------------------- tasks


async def _assignee(
    conn: Connection, placement_id: int, wanted: int | None, actor: Principal
) -> int:
    if wanted is not None:
        role = await conn.fetchval("SELECT role FROM users WHERE id = $1 AND NOT disabled", wanted)
        if role not in (Role.LIAISON.value, Role.ADMIN.value):
            raise BadReference(
                "assignee_id",
                "not a liaison",
                "The task's assignee must be an active liaison or administrator.",
            )
        return wanted
    liaison = await conn.fetchval(
        "SELECT u.id FROM placements p JOIN users u ON u.id = p.liaison_id"
        " WHERE p.id = $1 AND NOT u.disabled AND u.role = ANY($2::text[])",
        placement_id,
        [Role.LIAISON.value, Role.ADMIN.value],
    )
    if liaison is not None:
        return int(liaison)
    if actor.role in (Role.LIAISON, Role.ADMIN):
        return actor.user_id
    raise Invalid.field("assignee_id", "The placement has no liaison: choose who does the task.")


def _all_day(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, ALL_DAY_REMINDER, tzinfo=zone)


async def _insert(
    conn: Connection,
    placement_id: int,
    title: str,
    due_at: datetime,
    all_day: bool,
    assignee_id: int,
    actor: Principal,
) -> int:
    follow_up_id = int(
        await conn.fetchval(
            "INSERT INTO placement_follow_ups"
            " (placement_id, title, due_at, due_all_day, assignee_id, created_by)"
            " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            placement_id,
            title,
            due_at,
            all_day,
            assignee_id,
            actor.user_id,
        )
    )
    data = {"follow_up_id": follow_up_id, "assignee_id": assignee_id}
    await _event(conn, placement_id, actor, "follow_up_added", data=data)
    await audit.changed(conn, actor, "placement.follow_up", "placement", placement_id, data)
    return follow_up_id


async def add_follow_up(
    conn: Connection, placement_id: int, task: FollowUpIn, actor: Principal, zone: ZoneInfo
) -> int:
    """Add a task to the placement (any state); its id. A due time in the past, or a due
    day before today (in ``zone``), is refused (422, naming the field)."""
    async with conn.transaction():
        await _lock(conn, placement_id)
        now: datetime = await conn.fetchval("SELECT now()")
        if task.due_on is not None:
            if task.due_on < now.astimezone(zone).date():
                raise Invalid.field("due_on", "That day is in the past.")
            due_at, all_day = _all_day(task.due_on, zone), True
        else:
            assert task.due_at is not None
            if task.due_at < now - PAST_SKEW:
                raise Invalid.field("due_at", "That time is in the past.")
            due_at, all_day = task.due_at, False
        assignee = await _assignee(conn, placement_id, task.assignee_id, actor)
        follow_up_id = await _insert(
            conn, placement_id, task.title, due_at, all_day, assignee, actor
        )
        await _publish(conn, placement_id, "follow_up_added")
        return follow_up_id


async def close_follow_up(
    conn: Connection,
    follow_up_id: int,
    to: Literal["done", "cancelled"],
    note: str,
    actor: Principal,
) -> int:
    """Mark a task done or cancelled (with an optional note); its placement's id. A task
    already done or cancelled is refused (409 ``illegal-transition``)."""
    wanted = FollowUpStatus(to)
    async with conn.transaction():
        placement_id = await follow_up_placement(conn, follow_up_id)
        await _lock(conn, placement_id)  # the placement first, then the task
        current = FollowUpStatus(
            await conn.fetchval(
                "SELECT status FROM placement_follow_ups WHERE id = $1 FOR UPDATE", follow_up_id
            )
        )
        allowed = sorted(FOLLOW_UP_TRANSITIONS[current])
        if wanted not in allowed:
            raise IllegalTransition(
                f"A follow-up that is {current.value} cannot be marked {wanted.value}; it is"
                " final.",
                current.value,
                allowed,
            )
        await conn.execute(
            "UPDATE placement_follow_ups SET status = $2, note = $3, closed_by = $4,"
            " closed_at = now() WHERE id = $1",
            follow_up_id,
            wanted.value,
            note,
            actor.user_id,
        )
        kind = f"follow_up_{wanted.value}"
        data: dict[str, Any] = {"follow_up_id": follow_up_id}
        if note:
            data["has_note"] = True  # the note stays in its row
        await _event(conn, placement_id, actor, kind, data=data)
        await _publish(conn, placement_id, kind)
        action = "placement.follow_up_" + ("done" if wanted is FollowUpStatus.DONE else "cancel")
        await audit.changed(conn, actor, action, "placement", placement_id, data)
        return placement_id


async def due_follow_ups(conn: Connection, now: datetime) -> list[FollowUpDue]:
    """Claim the open tasks due by ``now`` that were not reminded yet, each once ever (of
    two instances claiming at once, the second finds them claimed). Run it in the same
    transaction as the enqueueing of their reminders."""
    rows = await conn.fetch(
        """
        UPDATE placement_follow_ups t SET reminded_at = $1
          FROM placements p
         WHERE p.id = t.placement_id AND t.status = 'open' AND t.reminded_at IS NULL
           AND t.due_at <= $1
        RETURNING t.id, t.placement_id, p.reference, t.assignee_id, t.due_at, t.due_all_day
        """,
        now,
    )
    return [
        FollowUpDue(
            follow_up_id=r["id"],
            placement_id=r["placement_id"],
            reference=r["reference"],
            assignee_id=r["assignee_id"],
            due_at=r["due_at"],
            due_all_day=r["due_all_day"],
        )
        for r in sorted(rows, key=lambda r: (r["due_at"], r["id"]))
    ]


# --------------------------------------------------------------------------- commitment


def _may_commit(row: Any) -> bool:
    """After admission, or for a placement closed as diverted to outpatient care."""
    status = Status(row["status"])
    if status in (Status.ADMITTED, Status.DISCHARGED):
        return True
    return status is Status.CLOSED and row["outcome"] == Outcome.DIVERTED_OUTPATIENT.value


async def record_commitment(
    conn: Connection, placement_id: int, data: CommitmentIn, actor: Principal, zone: ZoneInfo
) -> CommitmentRecorded:
    """Record (or change) the placement's outpatient commitment. The first time, with
    ``add_follow_up``, also add the task ``COMMITMENT_TASK`` due the day after the court
    date. Refused (409) before admission, unless the placement was closed as diverted to
    outpatient care."""
    async with conn.transaction():
        await _lock(conn, placement_id)
        row = await conn.fetchrow(
            "SELECT status, outcome FROM placements WHERE id = $1", placement_id
        )
        assert row is not None
        if not _may_commit(row):
            raise Conflict(
                "An outpatient commitment is recorded once the person is admitted, or for a"
                f" placement closed as diverted to outpatient care; this one is"
                f" {str(row['status']).replace('_', ' ')}."
            )
        before = await commitment_of(conn, placement_id)
        await conn.execute(
            """
            INSERT INTO placement_commitments (placement_id, court_date, cmhc_name, recorded_by)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (placement_id) DO UPDATE
               SET court_date = EXCLUDED.court_date, cmhc_name = EXCLUDED.cmhc_name,
                   updated_at = now()
            """,
            placement_id,
            data.court_date,
            data.cmhc_name,
            actor.user_id,
        )
        if before is None:
            fields = ["cmhc_name", "court_date"]
        else:
            fields = [
                name
                for name, old, new in (
                    ("cmhc_name", before.cmhc_name, data.cmhc_name),
                    ("court_date", before.court_date, data.court_date),
                )
                if old != new
            ]
        detail: dict[str, Any] = {"fields": fields, "first": before is None}
        await _event(conn, placement_id, actor, "commitment_recorded", data=detail)
        await audit.changed(conn, actor, "placement.commitment", "placement", placement_id, detail)
        follow_up_id = None
        if before is None and data.add_follow_up:
            assignee = await _assignee(conn, placement_id, None, actor)
            due = _all_day(data.court_date + timedelta(days=1), zone)
            follow_up_id = await _insert(
                conn, placement_id, COMMITMENT_TASK, due, True, assignee, actor
            )
        await _publish(conn, placement_id, "commitment_recorded")
        commitment = await commitment_of(conn, placement_id)
        assert commitment is not None
        return CommitmentRecorded(commitment, follow_up_id)
