"""The timeline (append-only events) and the outbox payloads per audience: ``placements``,
``referrals`` and ``court``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bedboard import board, outbox
from bedboard.auth import Principal
from bedboard.database import Connection
from bedboard.outbox import COURT, PLACEMENTS, REFERRALS


def _actor(principal: Principal | None) -> tuple[int | None, str]:
    if principal is None:
        return None, "system"
    return principal.user_id, principal.label


async def _event(
    conn: Connection,
    placement_id: int,
    actor: Principal | None,
    kind: str,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    actor_id, label = _actor(actor)
    await conn.execute(
        "INSERT INTO placement_events (placement_id, actor_id, actor, kind, from_state, to_state, data)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        placement_id,
        actor_id,
        label,
        kind,
        from_state,
        to_state,
        data or {},
    )


async def _placement_event(
    conn: Connection, placement_id: int, event: str
) -> tuple[str, dict[str, Any]]:
    """The ``placements`` topic payload: ids and state only, never health information."""
    row = await conn.fetchrow(
        """
        SELECT p.id, p.reference, p.status, p.court_id, p.liaison_id, p.deadline_at,
               p.county_fips, au.facility_id AS accepted_facility_id,
               COALESCE((SELECT array_agg(DISTINCT un.facility_id) FROM referrals r
                           JOIN units un ON un.id = r.unit_id WHERE r.placement_id = p.id), '{}')
                 AS facility_ids
          FROM placements p
          LEFT JOIN referrals ar ON ar.id = p.accepted_referral_id
          LEFT JOIN units au ON au.id = ar.unit_id
         WHERE p.id = $1
        """,
        placement_id,
    )
    assert row is not None
    return PLACEMENTS, {
        "kind": "placement",
        "event": event,
        "placement_id": row["id"],
        "reference": row["reference"],
        "status": row["status"],
        "court_id": row["court_id"],
        "liaison_id": row["liaison_id"],
        "accepted_facility_id": row["accepted_facility_id"],
        "facility_ids": sorted(row["facility_ids"]),
        "deadline_at": row["deadline_at"].isoformat() if row["deadline_at"] else None,
        # Whose region it is in (supervisors hear of their region's placements only).
        "county_fips": row["county_fips"],
    }


async def _referral_event(conn: Connection, referral_id: int) -> tuple[str, dict[str, Any]]:
    row = await conn.fetchrow(
        "SELECT r.id, r.placement_id, r.unit_id, un.facility_id, r.status, p.county_fips"
        " FROM referrals r JOIN units un ON un.id = r.unit_id"
        " JOIN placements p ON p.id = r.placement_id WHERE r.id = $1",
        referral_id,
    )
    assert row is not None
    return REFERRALS, {
        "kind": "referral",
        "referral_id": row["id"],
        "placement_id": row["placement_id"],
        "unit_id": row["unit_id"],
        "facility_id": row["facility_id"],
        "status": row["status"],
        "county_fips": row["county_fips"],
    }


# Changes a court does not see at all (its lookup shows status, not the search for a bed).
_NOT_FOR_COURTS = frozenset(
    {
        "referred",
        "edited",
        "link_added",
        "note_added",
        "no_bed_declared",
        "no_bed_recorded",
        # The response clock: a referral's progress, not the placement's status.
        "referral_acknowledged",
        "referral_info_requested",
        "referral_info_answered",
        "referral_expired",
        # A referral's message thread: between the liaisons and that facility.
        "referral_message",
        # Repeat involvement: liaisons only.
        "person_identified",
        "person_linked",
        "person_unlinked",
        # Where the person waits and who holds them: the liaison's casework.
        "waiting_moved",
        "custody_started",
        "custody_ended",
        # After admission: the liaison's follow-up tasks and the outpatient commitment.
        "follow_up_added",
        "follow_up_done",
        "follow_up_cancelled",
        "commitment_recorded",
        # Phone calls (placements/calls.py); an acceptance by phone reaches the court as
        # the "accepted" of referrals.accept.
        "called",
        "accepted_by_phone",
        # The referral packet and its attachments (placements.packet, .attachments).
        "packet_updated",
        "attachment_added",
        "attachment_removed",
    }
)


async def _court_event(
    conn: Connection, placement_id: int, event: str
) -> tuple[str, dict[str, Any]] | None:
    """The ``court`` topic payload: the status the court's lookup shows, nothing more (no
    facility before acceptance, no referral or decline events)."""
    if event in _NOT_FOR_COURTS:
        return None
    row = await conn.fetchrow(
        "SELECT id, reference, status, court_id FROM placements WHERE id = $1", placement_id
    )
    if row is None or row["court_id"] is None:
        return None
    payload = {
        "kind": "placement",
        "placement_id": row["id"],
        "reference": row["reference"],
        "status": row["status"],
        "court_id": row["court_id"],
    }
    if event.startswith("deadline_"):
        payload["alert"] = event.removeprefix("deadline_")
    return COURT, payload


async def _events(
    conn: Connection,
    placement_id: int,
    event: str,
    *,
    referral_ids: Sequence[int] = (),
    unit_ids: Sequence[int] = (),
) -> list[tuple[str, dict[str, Any]]]:
    """Outbox events for a change: the placement (and its court's view), its touched
    referrals, and the units whose beds changed."""
    events = [await _placement_event(conn, placement_id, event)]
    court = await _court_event(conn, placement_id, event)
    if court is not None:
        events.append(court)
    events += [await _referral_event(conn, rid) for rid in referral_ids]
    if unit_ids:
        now = await board.db_now(conn)
        events += [board.unit_event(u) for u in await board.unit_states(conn, unit_ids, now=now)]
    return events


async def _publish(
    conn: Connection,
    placement_id: int,
    event: str,
    *,
    referral_ids: Sequence[int] = (),
    unit_ids: Sequence[int] = (),
) -> None:
    await outbox.append(
        conn, await _events(conn, placement_id, event, referral_ids=referral_ids, unit_ids=unit_ids)
    )
