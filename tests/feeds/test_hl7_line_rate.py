"""HL7 at line rate, against the real listener and database: a message costs a fixed few
statements (four) (routing comes from the listener's cache), messages a sender pipelines are
applied together in order and each ACKed after their commit, a bad one among them gets
its own answer, and a feed edited or disabled while its sender is connected is honoured
from the next message on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bedboard import database, feeds
from bedboard.feeds import FeedPatch, mllp
from bedboard.feeds.mllp import start_listener
from tests.feeds.hl7_support import Ack, Peer, Site, adt, read_ack, site_factory

__all__ = ["site_factory"]


def minutes_ago(n: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=n)


async def pipeline(peer: Peer, raws: list[bytes]) -> list[Ack]:
    """Send every message in one write, as a sender that does not wait for ACKs does, then
    read one ACK per message."""
    assert peer.writer is not None
    peer.writer.write(b"".join(b"\x0b" + raw + b"\x1c\r" for raw in raws))
    await peer.writer.drain()
    return [read_ack(await asyncio.wait_for(peer.reader.readblock(), timeout=30)) for _ in raws]


@pytest.fixture
async def counted(db_dsn: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """A listener on a one-connection pool whose statements are logged, and the list."""
    monkeypatch.setattr(mllp, "GATE_TTL_S", 3600.0)  # no gate check between the messages
    pool = await database.create_pool(db_dsn, min_size=1, max_size=1)
    logged: list[str] = []
    async with pool.acquire() as conn:
        conn.add_query_logger(lambda record: logged.append(" ".join(str(record.query).split())))
    listener = await start_listener(pool, "127.0.0.1", 0)
    yield listener.sockets[0].getsockname()[1], logged
    listener.close()
    await listener.wait_closed()
    await pool.close()


async def test_a_message_costs_four_statements_and_a_pipelined_batch_the_same(
    site_factory: Any, counted: Any
) -> None:
    site: Site = await site_factory(units=["4EAST"], config={"beds": {"4EAST": ["401^1"]}})
    port, logged = counted
    peer = await Peer(port).connect()
    for n in range(3):  # warm-up: the routing cache, type introspection, prepared statements
        assert (await peer.send(adt("A01", f"W{n}", minutes_ago(30 - n), here="4EAST^9^1"))).code
    await asyncio.sleep(0)  # asyncpg calls query loggers with call_soon
    logged.clear()

    for n in range(4):
        trigger = "A01" if n % 2 == 0 else "A03"
        ack = await peer.send(adt(trigger, f"S{n}", minutes_ago(20 - n), here="4EAST^401^1"))
        assert (ack.code, ack.text) == ("AA", "applied"), ack
    await asyncio.sleep(0)
    assert len(logged) == 4 * 4, logged
    first = logged[:4]
    assert first[0].startswith("BEGIN; SELECT pg_advisory_xact_lock(")
    # dedupe, beds, routing version, and census.apply's read: apply only writes
    assert first[1].startswith("WITH msg AS") and "LEFT JOIN unit_census c" in first[1]
    assert first[2].startswith("WITH input AS")
    assert first[3].startswith("UPDATE feed_status") and first[3].endswith("COMMIT")
    assert not any(s.startswith(("SELECT id, config FROM feeds", "SAVEPOINT")) for s in logged)

    logged.clear()
    raws = [
        adt("A20", f"B{n}", minutes_ago(10 - n), here=f"4EAST^401^{1 + n % 2}", status="OUCH"[n])
        for n in range(4)
    ]
    acks = await pipeline(peer, raws)
    assert [(a.code, a.control_id) for a in acks] == [("AA", f"B{n}") for n in range(4)]
    await asyncio.sleep(0)
    assert len(logged) == 4, logged  # one transaction and one census apply for the four
    assert await site.beds() == {"4EAST^9^1": "O", "4EAST^401^1": "C", "4EAST^401^2": "H"}
    await peer.close()


async def test_pipelined_messages_are_applied_in_order_and_acked_after_their_commit(
    site_factory: Any,
) -> None:
    site: Site = await site_factory(units=["4EAST", "4WEST"], config={"beds": {"4EAST": ["1^1"]}})
    peer = await site.peer()
    at = minutes_ago(5)  # one time for all: only arrival order tells them apart
    raws = [
        adt("A20", "P1", at, here="4EAST^1^1", status="C"),
        adt("A20", "P2", at, here="4EAST^1^1", status="O"),
        adt("A01", "P3", at, here="4WEST^2^1"),
        adt("A20", "P4", at, here="4EAST^1^1", status="H"),
        adt("A02", "P5", at, here="4WEST^2^2", prior="4WEST^2^1"),
        adt("A20", "P1", at, here="4EAST^1^1", status="U"),  # a resent control id
    ]
    assert peer.writer is not None
    peer.writer.write(b"".join(b"\x0b" + raw + b"\x1c\r" for raw in raws))
    await peer.writer.drain()
    first = read_ack(await asyncio.wait_for(peer.reader.readblock(), timeout=30))
    # The first ACK comes after the commit that holds every message of the batch.
    assert await site.beds() == {"4EAST^1^1": "H", "4WEST^2^1": "U", "4WEST^2^2": "O"}
    rest = [read_ack(await asyncio.wait_for(peer.reader.readblock(), 30)) for _ in raws[1:]]
    acks = [first, *rest]
    assert [(a.code, a.control_id) for a in acks] == [
        ("AA", "P1"),
        ("AA", "P2"),
        ("AA", "P3"),
        ("AA", "P4"),
        ("AA", "P5"),
        ("AA", "P1"),
    ]
    assert all(a.text == "applied" for a in acks[:5]), acks
    assert "duplicate" in acks[5].text
    assert await site.census("4EAST") == (1, 0, 1)
    assert await site.census("4WEST") == (2, 1, 0)
    history = await site.conn.fetchval(
        "SELECT count(*) FROM census_history WHERE unit_id = ANY($1::bigint[])",
        list(site.units.values()),
    )
    assert history == 2  # one census apply for the batch: one row per unit
    assert await site.conn.fetchval("SELECT count(*) FROM hl7_messages") == 5
    assert await site.health() == "ok"
    await peer.close()


async def test_a_bad_message_in_a_batch_gets_its_answer_and_the_others_are_applied(
    site_factory: Any,
) -> None:
    site: Site = await site_factory(units=["4EAST"])
    peer = await site.peer()
    at = minutes_ago(5)
    raws = [
        adt("A01", "G1", at, here="4EAST^401^1"),
        adt("A01", "BAD1", at, here="4EAST"),  # no bed: unreadable
        adt("A01", "BAD2", at, here="9NORTH^1^1"),  # not mapped: its bed change is undone
        adt("A01", "BAD3", datetime.now(UTC) + timedelta(hours=1), here="4EAST^402^1"),
        adt("A01", "BAD4", at, here="4EAST^403^1", facility="ELSEWHERE"),
        adt("A01", "BAD5", at, here="4EAST^404^1", processing="T"),
        adt("A01", "G2", at, here="4EAST^401^2"),
    ]
    acks = await pipeline(peer, raws)
    assert [(a.code, a.control_id) for a in acks] == [
        ("AA", "G1"),
        ("AR", "BAD1"),
        ("AE", "BAD2"),
        ("AE", "BAD3"),
        ("AE", "BAD4"),
        ("AE", "BAD5"),
        ("AA", "G2"),
    ], [a.text for a in acks]
    assert "9NORTH" in acks[2].text and "ahead" in acks[3].text and "ELSEWHERE" in acks[4].text
    assert await site.beds() == {"4EAST^401^1": "O", "4EAST^401^2": "O"}
    assert await site.census("4EAST") == (2, 2, 0)
    reasons = await site.quarantine()
    assert len(reasons) == 4  # unreadable, unmapped, future, training (not: unknown facility)
    assert sorted(r[:3] for r in reasons) == ["AE:", "AE:", "AE:", "AR:"]
    listed = await site.conn.fetchval(
        "SELECT source_id FROM feed_unmapped WHERE feed_id = $1", site.feed_id
    )
    assert listed == "9NORTH"
    remembered = await site.conn.fetch("SELECT control_id FROM hl7_messages ORDER BY 1")
    assert [r["control_id"] for r in remembered] == ["G1", "G2"]  # refused ones can be resent
    feed = await feeds.get_feed(site.conn, site.feed_id)
    assert feed.health.state == "ok" and feed.health.consecutive_failures == 0
    assert feed.health.last_error is not None and "BAD3" in feed.health.last_error
    assert feed.health.reports_applied >= 1
    await peer.close()


async def test_a_feed_edited_or_disabled_while_its_sender_is_connected_is_honoured(
    site_factory: Any, make_unit: Any
) -> None:
    site: Site = await site_factory(units=["4EAST"])
    peer = await site.peer()

    async def send(ctrl: str, **kw: Any) -> Ack:
        kw.setdefault("here", "4EAST^401^1")
        return await peer.send(adt(kw.pop("trigger", "A01"), ctrl, minutes_ago(30), **kw))

    async def edit(**patch: Any) -> None:
        await feeds.update_feed(site.conn, site.feed_id, FeedPatch(**patch), None)

    assert (await send("E1")).code == "AA"

    await edit(enabled=False)
    off = await send("E2")
    assert (off.code, "no bedboard feed accepts" in off.text) == ("AE", True)
    await edit(enabled=True)
    assert (await send("E2", trigger="A03")).code == "AA"

    base = {"sending_facility": "GOOD HEALTH HOSPITAL", "allowed_addresses": ["127.0.0.1"]}
    await edit(config={**base, "processing_ids": ["P", "T"]})
    assert (await send("E3", processing="T")).code == "AA"
    await edit(config={**base, "allowed_addresses": ["192.0.2.1"]})
    moved = await send("E4")
    assert (moved.code, "allowed_addresses" in moved.text) == ("AE", True)
    await edit(config=base)

    facility_id = (await feeds.get_feed(site.conn, site.feed_id)).facility_id
    other = await make_unit(facility_id, name="Unit 4EAST annex", licensed_beds=10)
    await edit(mappings={"4EAST": other.id})
    assert (await send("E5", here="4EAST^402^1")).code == "AA"
    annex = await site.conn.fetchrow(
        "SELECT staffed, occupied FROM unit_census WHERE unit_id = $1", other.id
    )
    assert annex is not None and (annex["staffed"], annex["occupied"]) == (2, 2)

    await edit(mappings={})
    unmapped = await send("E6", here="4EAST^403^1")
    assert (unmapped.code, "not mapped" in unmapped.text) == ("AE", True)
    await peer.close()


async def test_a_refusal_that_is_not_the_senders_fault_leaves_the_feeds_health_alone(
    site_factory: Any,
) -> None:
    site: Site = await site_factory(units=["4EAST"])
    peer = await site.peer()
    assert (await peer.send(adt("A01", "H1", minutes_ago(5), here="4EAST^401^1"))).code == "AA"
    before = (await feeds.get_feed(site.conn, site.feed_id)).health
    training = await peer.send(adt("A01", "H2", minutes_ago(4), here="4EAST^401^2", processing="T"))
    assert training.code == "AE"
    after = (await feeds.get_feed(site.conn, site.feed_id)).health
    assert after == before  # not an attempt: no success, no failure, no new attempt time
    await peer.close()


async def test_two_connections_pipelining_for_one_feed_lose_no_bed(site_factory: Any) -> None:
    """Their runs take the feed's lock in turn, and each reads the beds after taking it."""
    site: Site = await site_factory(units=["4EAST"])
    peers = [await site.peer(), await site.peer()]
    batches = [
        [adt("A01", f"C{p}-{n}", minutes_ago(5), here=f"4EAST^{p}^{n}") for n in range(20)]
        for p in range(2)
    ]
    for round_ in range(2):  # each connection sends two pipelined halves
        results = await asyncio.gather(
            *(
                pipeline(peer, batch[round_ * 10 : round_ * 10 + 10])
                for peer, batch in zip(peers, batches, strict=True)
            )
        )
        assert all(a.code == "AA" for acks in results for a in acks), results
    assert await site.census("4EAST") == (40, 40, 0)
    for peer in peers:
        await peer.close()
