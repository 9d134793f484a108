"""A feed's health record: what each attempt does to its state, a board ``feed`` event
when the state changes, and one log line then (not one per poll)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from bedboard import outbox
from bedboard.database import Connection
from bedboard.feeds import store

# The name operators know from docs/operations.md (the package, not this module).
log = logging.getLogger("bedboard.feeds")


@dataclass
class Attempt:
    """The outcome of one poll, for the feed's health record."""

    ok: bool
    error: str = ""
    permanent: bool = False
    retry_in: timedelta = field(default_factory=lambda: timedelta(0))


async def _publish_feed_state(conn: Connection, feed_id: int) -> None:
    """Board event: a facility's feeds started failing, or recovered (``state`` is the
    facility's worst enabled feed: ``failing``, ``stopped`` or ``ok``)."""
    facility_id, worst = await store.facility_state(conn, feed_id)
    async with conn.transaction():
        await outbox.append(
            conn,
            [
                (
                    outbox.BOARD,
                    {
                        "kind": "feed",
                        "facility_id": facility_id,
                        "feed_id": feed_id,
                        "state": worst,
                    },
                )
            ],
        )


async def record_attempt(conn: Connection, feed_id: int, attempt: Attempt) -> str:
    """Update the feed's health; return the new state. Logs only when the state changes."""
    before = await store.state(conn, feed_id) or "new"
    if attempt.ok:
        state = "ok"
        await store.mark_ok(conn, feed_id, attempt.retry_in)
    else:
        state = "stopped" if attempt.permanent else "failing"
        await store.mark_failed(conn, feed_id, state, attempt.error, attempt.retry_in)
    if state != before:
        await _publish_feed_state(conn, feed_id)
        if state == "ok" and before in ("failing", "stopped"):
            log.info("feed %s recovered", feed_id)
        elif state == "failing":
            log.warning("feed %s is failing: %s", feed_id, attempt.error)
        elif state == "stopped":
            log.error("feed %s stopped (fix its settings): %s", feed_id, attempt.error)
    return state
