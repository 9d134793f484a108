"""Program-level figures for the administrator's overview."""

from __future__ import annotations

from bedboard.database import Connection


async def counts(conn: Connection) -> dict[str, int]:
    row = await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM facilities) AS facilities,
               (SELECT count(*) FROM units) AS units,
               (SELECT count(*) FROM courts) AS courts,
               (SELECT count(*) FROM users WHERE NOT disabled) AS users,
               (SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL) AS tokens,
               (SELECT COALESCE(sum(licensed_beds), 0) FROM units WHERE active) AS licensed_beds
        """
    )
    assert row is not None
    return {key: int(value) for key, value in row.items()}
