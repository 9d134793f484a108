"""Order types (the legal rule set) and the deadline each gives."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bedboard.database import Connection
from bedboard.errors import NotFound
from bedboard.placements.errors import invalid
from bedboard.placements.models import OrderType


async def order_types(conn: Connection) -> list[OrderType]:
    rows = await conn.fetch(
        "SELECT code, label, statute, deadline_hours, court_ordered, court_required"
        " FROM order_types ORDER BY position"
    )
    return [OrderType(**dict(r)) for r in rows]


async def set_order_deadline(conn: Connection, code: str, hours: int | None) -> OrderType:
    row = await conn.fetchrow(
        "UPDATE order_types SET deadline_hours = $2, updated_at = now() WHERE code = $1"
        " RETURNING code, label, statute, deadline_hours, court_ordered, court_required",
        code,
        hours,
    )
    if row is None:
        raise NotFound("order type")
    return OrderType(**dict(row))


async def _order_type(conn: Connection, code: str) -> Any:
    row = await conn.fetchrow(
        "SELECT code, deadline_hours, court_ordered, court_required FROM order_types"
        " WHERE code = $1",
        code,
    )
    if row is None:
        raise invalid("order_type", "No such order type.", "reference")
    return row


def _deadline_for(order: Any, detention_start: datetime) -> datetime | None:
    hours = order["deadline_hours"]
    return detention_start + timedelta(hours=hours) if hours is not None else None


def _require_court(order: Any, court_id: int | None) -> None:
    if order["court_required"] and court_id is None:
        raise invalid(
            "court_id",
            "This order type needs the court that ordered it. If no court is involved yet, "
            "choose “96-hour detention, on application (no court yet)”; the "
            "court can be added later.",
            "missing",
        )
