"""The HL7 listener against a real peer: python-hl7's MLLP client over loopback TCP, a
test database, and the census that results."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import hl7
import pytest
from hl7.mllp import open_hl7_connection

import facility_adapters.hl7
from bedboard import database, feeds
from bedboard.feeds.hl7 import handle
from tests.feeds.hl7_support import Site, adt, read_ack, site_factory, stamp

__all__ = ["site_factory"]  # the fixture, used by name below

BEDS = {"4EAST": ["401^1", "401^2", "402^1"], "4WEST": ["412^1", "412^2"]}


UTC_NOW = datetime(2000, 1, 1, tzinfo=UTC)  # a placeholder stamp, replaced in the message


def minutes_ago(n: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=n)


async def test_adt_events_drive_the_census(site_factory: Any) -> None:
    site: Site = await site_factory(units=["4EAST", "4WEST"], config={"beds": BEDS})
    peer = await site.peer()
    t = [minutes_ago(60 - i) for i in range(12)]

    async def send(trigger: str, ctrl: str, at: datetime, **kw: str) -> None:
        ack = await peer.send(adt(trigger, ctrl, at, **kw))
        assert (ack.code, ack.control_id) == ("AA", ctrl), ack
        assert ack.text.startswith("applied"), ack

    await send("A01", "M1", t[0], here="4EAST^401^1")
    assert await site.census("4EAST") == (3, 1, 0)
    assert await site.census("4WEST") is None  # nothing happened there yet
    assert await site.as_of("4EAST") == t[0]

    await send("A02", "M2", t[1], here="4WEST^412^2", prior="4EAST^401^1")
    assert await site.census("4EAST") == (3, 0, 0)
    assert await site.census("4WEST") == (2, 1, 0)

    # Cancel transfer: PV1-3 is where the patient was before (occupied again),
    # PV1-6 where the transfer had put them (freed).
    await send("A12", "M3", t[2], here="4EAST^401^1", prior="4WEST^412^2")
    assert await site.census("4EAST") == (3, 1, 0)
    assert await site.census("4WEST") == (2, 0, 0)

    await send("A03", "M4", t[3], here="4EAST^401^1")
    assert await site.census("4EAST") == (3, 0, 0)
    await send("A13", "M5", t[4], here="4EAST^401^1")
    assert await site.census("4EAST") == (3, 1, 0)
    await send("A11", "M6", t[5], here="4EAST^401^1")
    assert await site.census("4EAST") == (3, 0, 0)

    await send("A20", "M7", t[6], here="4EAST^402^1", status="H")
    assert await site.census("4EAST") == (3, 0, 1)
    # A bed bedboard was not told about is learnt (and counted as staffed).
    await send("A20", "M8", t[7], here="4EAST^403^1", status="O")
    assert await site.census("4EAST") == (4, 1, 1)
    await send("A20", "M9", t[8], here="4EAST^402^1", status="U")
    assert await site.census("4EAST") == (4, 1, 0)

    assert await site.beds() == {
        "4EAST^401^1": "U",
        "4EAST^402^1": "U",
        "4EAST^403^1": "O",
        "4WEST^412^2": "U",
    }
    assert await site.health() == "ok"
    assert await site.quarantine() == []
    source = await site.conn.fetchval(
        "SELECT source FROM unit_census WHERE unit_id = $1", site.units["4EAST"]
    )
    assert source == f"feed:{site.feed_id}"
    await peer.close()


async def test_duplicates_are_acknowledged_and_applied_once(site_factory: Any) -> None:
    site: Site = await site_factory(units=["4EAST"])
    peer = await site.peer()
    message = adt("A01", "DUP1", minutes_ago(10), here="4EAST^401^1")
    first = await peer.send(message)
    again = await peer.send(message)
    assert (first.code, first.control_id) == ("AA", "DUP1")
    assert (again.code, again.control_id) == ("AA", "DUP1")
    assert "duplicate" in again.text
    # The same control id with other content is still a duplicate: not applied.
    other = await peer.send(adt("A03", "DUP1", minutes_ago(5), here="4EAST^401^1"))
    assert (other.code, "duplicate" in other.text) == ("AA", True)
    assert await site.census("4EAST") == (1, 1, 0)
    history = await site.conn.fetchval(
        "SELECT count(*) FROM census_history WHERE unit_id = $1", site.units["4EAST"]
    )
    assert history == 1
    assert await site.conn.fetchval("SELECT count(*) FROM hl7_messages") == 1
    await peer.close()


async def test_older_event_for_a_bed_is_not_applied(site_factory: Any) -> None:
    site: Site = await site_factory(units=["4EAST"])
    peer = await site.peer()
    await peer.send(adt("A03", "N1", minutes_ago(5), here="4EAST^401^1"))
    late = await peer.send(adt("A01", "N0", minutes_ago(30), here="4EAST^401^1"))
    assert (late.code, late.control_id) == ("AA", "N0")
    assert "newer event" in late.text
    assert await site.beds() == {"4EAST^401^1": "U"}
    assert await site.census("4EAST") == (1, 0, 0)
    assert await site.quarantine() == []  # superseded, not an error
    await peer.close()


async def test_events_at_the_same_time_apply_in_arrival_order(site_factory: Any) -> None:
    site: Site = await site_factory(units=["4EAST"])
    peer = await site.peer()
    at = minutes_ago(5)
    await peer.send(adt("A20", "T1", at, here="4EAST^401^1", status="C"))
    await peer.send(adt("A20", "T2", at, here="4EAST^401^1", status="O"))
    assert await site.beds() == {"4EAST^401^1": "O"}
    assert await site.census("4EAST") == (1, 1, 0)
    await peer.close()


async def test_late_event_for_another_bed_corrects_the_census(site_factory: Any) -> None:
    site: Site = await site_factory(units=["4EAST"])
    peer = await site.peer()
    newest = minutes_ago(5)
    await peer.send(adt("A01", "L2", newest, here="4EAST^401^2"))
    assert await site.census("4EAST") == (1, 1, 0)
    # An older event for a different bed arrives late: still news for that bed.
    ack = await peer.send(adt("A01", "L1", minutes_ago(20), here="4EAST^401^1"))
    assert ack.code == "AA"
    assert await site.census("4EAST") == (2, 2, 0)
    assert await site.as_of("4EAST") == newest + timedelta(microseconds=1)
    await peer.close()


async def test_points_of_care_mapped_to_one_unit_count_together(site_factory: Any) -> None:
    site: Site = await site_factory(
        units=["PSY"], mappings={"4EAST": "PSY", "4EASTA": "PSY"}, config={"beds": BEDS}
    )
    peer = await site.peer()
    await peer.send(adt("A01", "P1", minutes_ago(9), here="4EAST^401^1"))
    await peer.send(adt("A01", "P2", minutes_ago(8), here="4EASTA^1^1"))
    assert await site.census("PSY") == (4, 2, 0)
    await peer.close()


async def test_refusals(site_factory: Any) -> None:
    site: Site = await site_factory(units=["4EAST"])
    peer = await site.peer()
    at = minutes_ago(10)

    unknown = await peer.send(adt("A01", "U1", at, here="4EAST^401^1", facility="ELSEWHERE"))
    assert (unknown.code, unknown.control_id) == ("AE", "U1")
    assert "ELSEWHERE" in unknown.text

    unmapped = await peer.send(adt("A01", "U2", at, here="9NORTH^1^1"))
    assert (unmapped.code, unmapped.control_id) == ("AE", "U2")
    assert "9NORTH" in unmapped.text
    listed = await site.conn.fetchval(
        "SELECT source_id FROM feed_unmapped WHERE feed_id = $1", site.feed_id
    )
    assert listed == "9NORTH"
    assert await site.beds() == {}  # nothing applied

    future = datetime.now(UTC) + timedelta(hours=2)
    ahead = await peer.send(adt("A01", "U3", future, here="4EAST^401^1"))
    assert (ahead.code, ahead.control_id) == ("AE", "U3")
    assert "ahead" in ahead.text
    assert await site.health() == "failing"

    training = await peer.send(adt("A01", "U4", at, here="4EAST^401^1", processing="T"))
    assert (training.code, training.control_id) == ("AE", "U4")

    broken = await peer.send(adt("A01", "U5", at, here="4EAST"))
    assert (broken.code, broken.control_id) == ("AR", "U5")

    other = await peer.send(
        adt("A01", "U6", at, here="4EAST^401^1").replace(b"ADT^A01", b"ORU^R01")
    )
    assert (other.code, other.control_id) == ("AR", "U6")

    garbage = await peer.send(b"\xff\xfe\x00 this is not HL7")
    assert (garbage.code, garbage.control_id) == ("AR", "")

    ignored = await peer.send(adt("A08", "U7", at, here="4EAST^401^1"))
    assert (ignored.code, ignored.control_id) == ("AA", "U7")
    assert "nothing applied" in ignored.text

    # The listener still serves, and the feed recovers.
    good = await peer.send(adt("A01", "U8", at, here="4EAST^401^1"))
    assert (good.code, good.control_id) == ("AA", "U8")
    assert await site.census("4EAST") == (1, 1, 0)
    assert await site.health() == "ok"

    reasons = await site.quarantine()
    assert len(reasons) == 5  # unmapped, future, training, broken, ORU (not: unknown facility)
    assert all(r.startswith(("AE:", "AR:")) for r in reasons)
    # The quarantine keeps what bedboard reads, never the patient's identity.
    raws = [
        r["raw"]
        for r in await site.conn.fetch(
            "SELECT raw FROM feed_quarantine WHERE feed_id = $1", site.feed_id
        )
    ]
    assert any("PV1|1|I|4EAST" in raw for raw in raws)
    assert not any("EVERYMAN" in raw or "PATID1234" in raw for raw in raws)
    # Refused messages are not remembered: once fixed, the same control id is applied.
    fixed = await peer.send(adt("A01", "U2", at, here="4EAST^402^1"))
    assert (fixed.code, fixed.text) == ("AA", "applied")
    await peer.close()


async def test_address_not_allowed(site_factory: Any, make_facility: Any) -> None:
    """An address another feed admits may connect, but not send for this facility."""
    site: Site = await site_factory(
        units=["4EAST"], config={"allowed_addresses": ["10.0.0.0/8", "192.0.2.7"]}
    )
    other = await make_facility(name="Other hospital")
    await feeds.create_feed(
        site.conn,
        feeds.FeedIn(
            facility_id=other.id,
            kind="hl7",
            name="Other ADT",
            config={"sending_facility": "OTHERHOSP", "allowed_addresses": ["127.0.0.1"]},
        ),
    )
    peer = await site.peer()
    ack = await peer.send(adt("A01", "A1", minutes_ago(3), here="4EAST^401^1"))
    assert (ack.code, ack.control_id) == ("AE", "A1")
    assert "127.0.0.1" in ack.text
    assert await site.beds() == {}
    [reason] = await site.quarantine()
    assert "allowed_addresses" in reason
    assert await site.health() == "new"  # a stranger cannot mark the feed failing
    await peer.close()


async def test_framing_errors_close_the_connection(site_factory: Any) -> None:
    site: Site = await site_factory(units=["4EAST"], limit=4096)
    reader, writer = await open_hl7_connection("127.0.0.1", site.port)
    writer.write(b"MSH|no start block\x1c\r")  # no <VT>
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), timeout=10) == b""  # closed
    writer.close()

    reader, writer = await open_hl7_connection("127.0.0.1", site.port)
    writer.writeblock(b"MSH|^~\\&|" + b"x" * 10_000)
    await writer.drain()
    ack = read_ack(await asyncio.wait_for(reader.readblock(), timeout=10))
    assert ack.code == "AR"
    assert "larger than 4096" in ack.text
    writer.close()

    # A peer that hangs up mid-message does no harm either.
    reader, writer = await open_hl7_connection("127.0.0.1", site.port)
    writer.write(b"\x0bMSH|^~\\&|half a mess")
    await writer.drain()
    writer.close()

    peer = await site.peer()
    ack = await peer.send(adt("A01", "F1", minutes_ago(1), here="4EAST^401^1"))
    assert (ack.code, ack.control_id) == ("AA", "F1")
    await peer.close()


async def test_closing_the_listener_closes_connections(site_factory: Any) -> None:
    site: Site = await site_factory(units=["4EAST"])
    peer = await site.peer()
    assert (await peer.send(adt("A01", "C1", minutes_ago(1), here="4EAST^401^1"))).code == "AA"
    site.listener.close()
    await asyncio.wait_for(site.listener.wait_closed(), timeout=10)
    assert await asyncio.wait_for(peer.reader.read(), timeout=10) == b""
    await peer.close()


async def test_a_message_is_read_and_parsed_once_for_its_event_and_its_ack(
    site_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header is read and the message parsed once, before routing; its times are read
    in the feed's zone from that parse, and the ACK is built from it too."""
    site: Site = await site_factory(units=["4EAST"], config={"timezone": "America/Chicago"})
    headers: list[bytes] = []
    parsed: list[str] = []
    read_header, parse = facility_adapters.hl7.read_header, hl7.parse

    def counting_header(raw: bytes) -> Any:
        headers.append(raw)
        return read_header(raw)

    def counting_parse(text: str, *args: Any, **kwargs: Any) -> Any:
        parsed.append(text)
        return parse(text, *args, **kwargs)

    monkeypatch.setattr(facility_adapters.hl7, "read_header", counting_header)
    monkeypatch.setattr(facility_adapters.hl7.hl7, "parse", counting_parse)
    local = (datetime.now(UTC) - timedelta(minutes=2)).astimezone(ZoneInfo("America/Chicago"))
    raw = adt("A01", "ONCE1", UTC_NOW, here="4EAST^401^1").replace(
        stamp(UTC_NOW).encode(), local.strftime("%Y%m%d%H%M%S").encode()
    )
    block = await handle(site.pool, raw, "127.0.0.1")
    assert headers == [raw]
    # The message once; the ACK built from it is checked as text, not parsed again.
    assert len(parsed) == 1 and "|ONCE1|" in parsed[0]
    ack = read_ack(block)
    assert (ack.code, ack.control_id) == ("AA", "ONCE1"), ack.text
    assert await site.as_of("4EAST") == local.replace(microsecond=0).astimezone(UTC)


async def test_database_unavailable_answers_ae(db_dsn: str) -> None:
    pool = await database.create_pool(db_dsn, min_size=1, max_size=1)
    await pool.close()
    raw = adt("A01", "D1", minutes_ago(1), here="4EAST^401^1")
    ack = read_ack(await handle(pool, raw, "127.0.0.1"))
    assert (ack.code, ack.control_id) == ("AE", "D1")
    assert "resend later" in ack.text
