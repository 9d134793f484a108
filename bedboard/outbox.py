"""The outbox: every change others should see, appended in the writing transaction.

``append`` takes sequence numbers from the one-row ``outbox_counter`` (so they are
allocated in commit order), inserts the rows and issues a single ``NOTIFY`` carrying the
newest seq. Listeners treat the NOTIFY as a doorbell and read the outbox itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bedboard.database import Connection

CHANNEL = "bedboard_outbox"
# The topics, and who may see each, are decided in access.py (live_topics, sees_change).
BOARD = "board"  # beds and freshness: no health information
PLACEMENTS = "placements"  # placement ids and states
REFERRALS = "referrals"  # referral ids and states
COURT = "court"  # status changes of a court's placements, with nothing a court may not see
ALERTS = "alerts"  # a user's in-app alerts (delivery id, event, reference): that user only


@dataclass(frozen=True)
class Change:
    seq: int
    at: datetime
    topic: str
    payload: dict[str, Any]


async def append(conn: Connection, events: Sequence[tuple[str, dict[str, Any]]]) -> list[int]:
    """Append events; return their seqs. Call last in the transaction: the counter row
    lock is held until commit, and every other writer waits for it."""
    if not events:
        return []
    if not conn.is_in_transaction():
        raise RuntimeError("outbox.append must run inside the writing transaction")
    last = await conn.fetchval(
        "UPDATE outbox_counter SET seq = seq + $1 RETURNING seq", len(events)
    )
    seqs = list(range(int(last) - len(events) + 1, int(last) + 1))
    await conn.execute(
        """
        INSERT INTO board_outbox (seq, topic, payload)
        SELECT * FROM unnest($1::bigint[], $2::text[], $3::jsonb[])
        """,
        seqs,
        [topic for topic, _ in events],
        [payload for _, payload in events],
    )
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(seqs[-1]))
    return seqs


def appending(events: str) -> str:
    """WITH clauses that append, inside a larger statement, the rows of the CTE ``events``
    (columns ``topic``, ``payload`` and ``n``: 1, 2, … in the order they take seqs) and
    ring the doorbell once. The statement must read ``rang`` (e.g. ``CROSS JOIN (SELECT
    count(*) FROM rang)``) so the NOTIFY is sent. As with ``append``, the counter row stays
    locked until commit: let the statement end the transaction, or be last in it."""
    if not events.isidentifier():
        raise ValueError(f"not a CTE name: {events!r}")
    return f"""
    counter AS (
        UPDATE outbox_counter SET seq = seq + (SELECT count(*) FROM {events})
         WHERE EXISTS (SELECT 1 FROM {events})
        RETURNING seq
    ), appended AS (
        INSERT INTO board_outbox (seq, topic, payload)
        SELECT counter.seq - (SELECT count(*) FROM {events}) + e.n, e.topic, e.payload
          FROM {events} e CROSS JOIN counter
        RETURNING seq
    ), rang AS (
        SELECT pg_notify('{CHANNEL}', max(seq)::text) FROM appended HAVING count(*) > 0
    )"""  # noqa: S608 -- an identifier and constants


async def head(conn: Connection) -> int:
    """The newest committed seq visible to this connection's snapshot."""
    return int(await conn.fetchval("SELECT seq FROM outbox_counter"))


async def oldest(conn: Connection) -> int | None:
    value = await conn.fetchval("SELECT min(seq) FROM board_outbox")
    return int(value) if value is not None else None


class TooOld(Exception):
    """The requested position has been pruned; the client must take a snapshot."""


async def since(conn: Connection, after: int, *, limit: int = 1000) -> list[Change]:
    """Changes with seq > ``after``, oldest first. Raises TooOld when some were pruned."""
    first = await oldest(conn)
    current = await head(conn)
    if after > current:
        raise TooOld(f"position {after} is ahead of the newest change {current}")
    if after < current and (first is None or after < first - 1):
        raise TooOld(f"changes after {after} are no longer kept")
    rows = await conn.fetch(
        "SELECT seq, at, topic, payload FROM board_outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
        after,
        limit,
    )
    return [Change(r["seq"], r["at"], r["topic"], r["payload"]) for r in rows]


async def prune(conn: Connection, *, keep_hours: int, keep_min_rows: int = 10_000) -> int:
    """Delete changes older than ``keep_hours``, always keeping the newest rows."""
    result = await conn.execute(
        """
        DELETE FROM board_outbox
         WHERE at < now() - make_interval(hours => $1)
           AND seq <= (SELECT seq FROM outbox_counter) - $2
        """,
        keep_hours,
        keep_min_rows,
    )
    return int(result.split()[-1])
