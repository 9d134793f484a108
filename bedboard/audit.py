"""The append-only audit trail (the database refuses UPDATE, DELETE and TRUNCATE on it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bedboard.auth import Origin, Principal
from bedboard.database import Connection

Outcome = Literal["success", "failure", "denied"]

__all__ = ["CLI_ORIGIN", "Origin", "changed", "record"]


CLI_ORIGIN = Origin(remote_addr="cli")


async def changed(
    conn: Connection,
    by: Principal | None,
    action: str,
    object_type: str,
    object_id: object,
    detail: dict[str, Any] | None = None,
) -> None:
    """The audit row of a change a use case made for ``by``, from ``by.origin``, in the
    use case's transaction. Seeding (the demo, fixtures) passes ``by=None``: no row."""
    if by is not None:
        await record(
            conn,
            actor=by,
            action=str(action),
            outcome="success",
            origin=by.origin,
            object_type=object_type,
            object_id=object_id,
            detail=detail,
        )


async def record(
    conn: Connection,
    *,
    actor: Principal | str | None,
    action: str,
    outcome: Outcome,
    origin: Origin,
    object_type: str = "",
    object_id: object = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit row; ``at`` is the database clock."""
    if isinstance(actor, Principal):
        actor_id: int | None = actor.user_id
        label = actor.label
    else:
        actor_id = None
        label = actor or "anonymous"
    await conn.execute(
        """
        INSERT INTO audit_log (actor_id, actor, action, object_type, object_id, outcome,
                               remote_addr, request_id, detail)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        """,
        actor_id,
        label,
        action,
        object_type,
        "" if object_id is None else str(object_id),
        outcome,
        origin.remote_addr,
        origin.request_id,
        detail or {},
    )


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    outcome: str
    remote_addr: str | None
    request_id: str | None
    detail: dict[str, Any]


async def recent(
    conn: Connection,
    *,
    limit: int = 100,
    before_id: int | None = None,
    action: str | None = None,
    outcome: str | None = None,
) -> list[AuditEntry]:
    rows = await conn.fetch(
        """
        SELECT id, at, actor, action, object_type, object_id, outcome, remote_addr,
               request_id, detail
          FROM audit_log
         WHERE ($2::bigint IS NULL OR id < $2)
           AND ($3::text IS NULL OR action = $3)
           AND ($4::text IS NULL OR outcome = $4)
         ORDER BY id DESC
         LIMIT $1
        """,
        limit,
        before_id,
        action,
        outcome,
    )
    return [AuditEntry(**dict(r)) for r in rows]
