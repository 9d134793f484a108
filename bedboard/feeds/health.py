"""A feed's health record: what each attempt does to its state, a board ``feed`` event
when the state changes, and one log line then (not one per poll)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
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
    event = {"kind": "feed", "facility_id": facility_id, "feed_id": feed_id, "state": worst}
    if conn.is_in_transaction():  # the caller's (HL7 begins its own, without asyncpg's help)
        await outbox.append(conn, [(outbox.BOARD, event)])
        return
    async with conn.transaction():
        await outbox.append(conn, [(outbox.BOARD, event)])


async def record_attempt(conn: Connection, feed_id: int, attempt: Attempt) -> str:
    """Update the feed's health; return the new state. Logs only when the state changes."""
    before = await store.state(conn, feed_id) or "new"
    if attempt.ok:
        state = "ok"
        await store.mark_ok(conn, feed_id, attempt.retry_in)
    else:
        state = "stopped" if attempt.permanent else "failing"
        await store.mark_failed(conn, feed_id, state, attempt.error, attempt.retry_in)
    await _changed(conn, feed_id, before, state, attempt.error)
    return state


async def _changed(conn: Connection, feed_id: int, before: str, state: str, error: str) -> None:
    if state == before:
        return
    await _publish_feed_state(conn, feed_id)
    if state == "ok" and before in ("failing", "stopped"):
        log.info("feed %s recovered", feed_id)
    elif state == "failing":
        log.warning("feed %s is failing: %s", feed_id, error)
    elif state == "stopped":
        log.error("feed %s stopped (fix its settings): %s", feed_id, error)


def _state(attempt: Attempt) -> str:
    if attempt.ok:
        return "ok"
    return "stopped" if attempt.permanent else "failing"


def settles(before: str | None, attempts: Sequence[Attempt]) -> bool:
    """Whether ``attempts`` (at least one) leave a feed in ``before`` as it was, all
    successes with no wait: then ``store.mark_ok_and_commit`` records them (no event, no
    log line)."""
    return bool(attempts) and before == "ok" and all(a.ok and not a.retry_in for a in attempts)


async def record_attempts(
    conn: Connection, feed_id: int, attempts: Sequence[Attempt], applied: int = 0
) -> str | None:
    """Record several attempts, in order, in one statement (with ``applied`` reports
    added to the feed's count): the row ends as ``record_attempt`` one after the other
    would leave it. One board event and one log line when the state after the last differs
    from the state before the first (a change and its reversal within the batch are not
    reported). Returns the new state (None when there was nothing to record)."""
    if not attempts:
        if applied:
            await store.add_applied(conn, feed_id, applied)
        return None
    last = attempts[-1]
    state = _state(last)
    successes = [i for i, a in enumerate(attempts) if a.ok]
    failed = [a for a in attempts[(successes[-1] + 1 if successes else 0) :] if not a.ok]
    errors = [a.error for a in attempts if not a.ok]
    before = await store.mark_attempts(
        conn,
        feed_id,
        state=state,
        succeeded=bool(successes),
        failures=len(failed),
        error=errors[-1] if errors else None,
        next_in=None if state == "stopped" else last.retry_in,
        applied=applied,
    )
    await _changed(conn, feed_id, before or "new", state, last.error)
    return state
