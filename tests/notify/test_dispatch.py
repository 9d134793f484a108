"""The dispatcher against real receivers: retries with backoff until one success, dead
letters that block nothing, and two dispatchers that send a burst exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from bedboard import database, notify
from bedboard.notify import Channel, Recipient
from tests.notify.conftest import Receiver, config, db_now

REFERENCE = "PL-2026-000123"


def _message(reference: str = REFERENCE) -> notify.Message:
    return notify.referral_arrived(
        reference=reference, facility="Hillcrest Behavioral", unit="Adult Acute", deadline_at=None
    )


async def _endpoint(conn: Any, receiver: Receiver, path: str = "/hook") -> Recipient:
    made = await notify.create_endpoint(
        conn,
        url=receiver.url + path,
        events=[notify.Event.REFERRAL_ARRIVED],
        facility_id=None,
        by=None,
    )
    receiver.secrets_by_path[path] = made.secret
    return Recipient(Channel.WEBHOOK, made.url, endpoint_id=made.id)


async def _row(conn: Any, delivery_id: int) -> Any:
    return await conn.fetchrow("SELECT * FROM deliveries WHERE id = $1", delivery_id)


async def test_a_receiver_failing_three_times_gets_one_delivery_after_retries(
    conn: Any, pool: Any, receiver: Receiver
) -> None:
    target = await _endpoint(conn, receiver)
    receiver.statuses = [500, 502, 503]
    now = await db_now(conn)
    (did,) = await notify.enqueue(
        conn, key="k", message=_message(), recipients=[target], critical=False, now=now
    )
    outcomes = []
    at = now
    for _ in range(6):
        outcomes.append(await notify.dispatch_due(pool, config(), now=at))
        row = await _row(conn, did)
        if row["status"] == "pending":
            # The next attempt waits: nothing is sent a second before it is due.
            early = await notify.dispatch_due(
                pool, config(), now=row["next_attempt_at"] - timedelta(seconds=1)
            )
            assert early == notify.Dispatched()
            at = row["next_attempt_at"]
    assert [o.sent for o in outcomes] == [0, 0, 0, 1, 0, 0]
    assert [o.retried for o in outcomes] == [1, 1, 1, 0, 0, 0]
    row = await _row(conn, did)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 4, None)
    assert receiver.ok_ids == [f"delivery-{did}"]
    # Every attempt carried the same webhook-id, so a receiver can deduplicate.
    assert {h["webhook-id"] for h, _ in receiver.requests} == {f"delivery-{did}"}
    assert len(receiver.requests) == 4


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    low = [notify.backoff(n, lambda: 0.0).total_seconds() for n in range(1, 10)]
    high = [notify.backoff(n, lambda: 0.999999).total_seconds() for n in range(1, 10)]
    assert low[:4] == [15, 30, 60, 120]
    assert all(h < 2 * lo + 1e-3 for lo, h in zip(low, high, strict=True))
    assert max(high) <= 3600


async def test_an_always_failing_receiver_ends_dead_and_blocks_no_one(
    conn: Any, pool: Any, receiver: Receiver
) -> None:
    bad = await _endpoint(conn, receiver, "/down")
    receiver.always_fail_paths.add("/down")
    good = await _endpoint(conn, receiver, "/up")
    now = await db_now(conn)
    ids = await notify.enqueue(
        conn, key="k", message=_message(), recipients=[bad, good], critical=False, now=now
    )
    first = await notify.dispatch_due(pool, config(max_attempts=3), now=now)
    assert (first.sent, first.retried) == (1, 1)
    at = now
    for _ in range(4):
        at += timedelta(hours=2)
        await notify.dispatch_due(pool, config(max_attempts=3), now=at)
    rows = {r["endpoint_id"]: r for r in await conn.fetch("SELECT * FROM deliveries")}
    assert rows[bad.endpoint_id]["status"] == "dead"
    assert rows[bad.endpoint_id]["attempts"] == 3
    assert rows[bad.endpoint_id]["last_error"] == "webhook: HTTP 503"
    assert rows[good.endpoint_id]["status"] == "sent"
    assert sorted(ids) == sorted(r["id"] for r in rows.values())
    dead = await notify.list_deliveries(conn, status=notify.Status.DEAD)
    assert [d.id for d in dead] == [rows[bad.endpoint_id]["id"]]
    # An administrator's retry starts its attempts over.
    await notify.retry(conn, dead[0].id, now=at)
    receiver.always_fail_paths.clear()
    assert (await notify.dispatch_due(pool, config(), now=at)).sent == 1


async def test_two_dispatchers_on_one_database_send_a_burst_of_1000_exactly_once(
    db_dsn: str, conn: Any, receiver: Receiver
) -> None:
    target = await _endpoint(conn, receiver)
    now = await db_now(conn)
    ids = []
    for n in range(1000):
        ids += await notify.enqueue(
            conn,
            key=f"burst:{n}",
            message=_message(f"PL-2026-{n:06d}"),
            recipients=[target],
            critical=False,
            now=now,
        )
    assert len(ids) == 1000
    pools = [await database.create_pool(db_dsn, min_size=1, max_size=4) for _ in range(2)]
    try:
        results = await asyncio.gather(
            *(notify.dispatch_due(p, config(), now=now, batch=10, max_batches=200) for p in pools)
        )
    finally:
        for p in pools:
            await p.close()
    assert sum(r.sent for r in results) == 1000
    assert all(r.sent > 0 for r in results)  # both took part
    counts = Counter(receiver.ok_ids)
    assert set(counts) == {f"delivery-{i}" for i in ids}
    assert set(counts.values()) == {1}
    assert await conn.fetchval("SELECT count(*) FROM deliveries WHERE status = 'sent'") == 1000


async def test_an_email_without_a_smtp_server_fails_with_a_reason(
    conn: Any, pool: Any, make_user: Any
) -> None:
    user = await make_user(password=None)
    now: datetime = await db_now(conn)
    (did,) = await notify.enqueue(
        conn,
        key="k",
        message=_message(),
        recipients=[Recipient(Channel.EMAIL, user.email, user_id=user.id)],
        critical=False,
        now=now,
    )
    assert (await notify.dispatch_due(pool, config(None, max_attempts=1), now=now)).dead == 1
    row = await _row(conn, did)
    assert row["last_error"] == "no SMTP server configured (BEDBOARD_SMTP_URL)"
