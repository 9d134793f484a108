"""Demo only: move the demo placements' histories to realistic times."""

from __future__ import annotations

import asyncpg

from bedboard.database import Connection


async def spread_demo_history(conn: Connection) -> bool:
    """Give the demo placements a history over realistic times: each step between the
    detention start and now, instead of all at the moment the demo loaded.

    The timeline is append-only by trigger, so this runs with triggers off for the one
    transaction (``session_replication_role = replica``), which needs a superuser: true
    for the embedded server. Elsewhere the history keeps its load times (returns False).
    """
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                """
                WITH steps AS (
                    SELECT e.id, p.id AS placement_id,
                           p.detention_start + (now() - p.detention_start)
                             * (0.15 + 0.8 * (row_number() OVER w - 1)
                                / GREATEST(count(*) OVER (PARTITION BY p.id) - 1, 1)) AS at
                      FROM placement_events e JOIN placements p ON p.id = e.placement_id
                    WINDOW w AS (PARTITION BY p.id ORDER BY e.id)
                )
                UPDATE placement_events e SET at = steps.at FROM steps WHERE steps.id = e.id
                """
            )
            await conn.execute(
                """
                UPDATE referrals r SET
                       created_at = (SELECT min(at) FROM placement_events e
                                      WHERE e.kind = 'referral_sent'
                                        AND (e.data->>'referral_id')::bigint = r.id),
                       responded_at = CASE WHEN r.responded_at IS NULL THEN NULL ELSE
                         (SELECT max(at) FROM placement_events e
                           WHERE e.kind <> 'referral_sent'
                             AND (e.data->>'referral_id')::bigint = r.id) END
                """
            )
            await conn.execute(
                """
                UPDATE placements p SET
                       created_at = (SELECT min(at) FROM placement_events WHERE placement_id = p.id),
                       updated_at = (SELECT max(at) FROM placement_events WHERE placement_id = p.id),
                       accepted_at = CASE WHEN p.accepted_at IS NULL THEN NULL ELSE
                         (SELECT max(at) FROM placement_events WHERE placement_id = p.id
                             AND kind = 'referral_accepted') END,
                       admitted_at = CASE WHEN p.admitted_at IS NULL THEN NULL ELSE
                         (SELECT max(at) FROM placement_events WHERE placement_id = p.id
                             AND to_state = 'admitted') END,
                       closed_at = CASE WHEN p.closed_at IS NULL THEN NULL ELSE
                         (SELECT max(at) FROM placement_events WHERE placement_id = p.id
                             AND to_state = 'closed') END,
                       discharged_at = CASE WHEN p.discharged_at IS NULL THEN NULL ELSE
                         (SELECT max(at) FROM placement_events WHERE placement_id = p.id
                             AND to_state = 'discharged') END
                """
            )
            await conn.execute("SET LOCAL session_replication_role = DEFAULT")
    except asyncpg.InsufficientPrivilegeError:
        return False
    return True
