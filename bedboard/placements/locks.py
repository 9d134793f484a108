"""Row locks, always in one order: the placement row first, then a referral."""

from __future__ import annotations

from typing import Any

from bedboard.database import Connection
from bedboard.errors import NotFound


async def _lock(conn: Connection, placement_id: int) -> Any:
    row = await conn.fetchrow(
        "SELECT id, status, version, order_type, accepted_referral_id FROM placements"
        " WHERE id = $1 FOR UPDATE",
        placement_id,
    )
    if row is None:
        raise NotFound("placement")
    return row


async def _lock_referral(conn: Connection, referral_id: int) -> tuple[Any, Any]:
    """Lock the placement, then the referral (always in that order)."""
    placement_id = await conn.fetchval(
        "SELECT placement_id FROM referrals WHERE id = $1", referral_id
    )
    if placement_id is None:
        raise NotFound("referral")
    placement = await _lock(conn, placement_id)
    referral = await conn.fetchrow(
        "SELECT r.*, un.facility_id FROM referrals r JOIN units un ON un.id = r.unit_id"
        " WHERE r.id = $1 FOR UPDATE OF r",
        referral_id,
    )
    assert referral is not None
    return placement, referral
