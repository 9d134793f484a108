"""Shared by the HL7 listener tests: message builders, an MLLP peer, a facility with a feed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import hl7
import pytest
from hl7.mllp import open_hl7_connection

from bedboard import database, feeds
from bedboard.feeds import FeedIn
from bedboard.feeds.mllp import start_listener

FACILITY = "GOOD HEALTH HOSPITAL"


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def adt(
    trigger: str,
    ctrl: str,
    at: datetime,
    *,
    here: str = "",
    prior: str = "",
    status: str = "",
    facility: str = FACILITY,
    processing: str = "P",
) -> bytes:
    """An ADT message as a hospital would send it (CR between segments)."""
    segments = [
        f"MSH|^~\\&|ADT1|{facility}|BEDBOARD|STATE|{stamp(at)}||ADT^{trigger}^ADT_A01|{ctrl}"
        f"|{processing}|2.5",
        f"EVN|{trigger}|{stamp(at)}",
    ]
    if trigger == "A20":
        segments.append(f"NPU|{here}|{status}")
    else:
        segments.append("PID|1||PATID1234^^^GHH^MR||EVERYMAN^ADAM^A||19610615|M")
        segments.append(f"PV1|1|I|{here}|||{prior}|004777^ATTEND^AARON^A|||PSY")
    return "\r".join(segments).encode()


@dataclass
class Ack:
    code: str
    control_id: str
    text: str


def read_ack(block: bytes) -> Ack:
    assert b"\x0b" not in block and b"\x1c" not in block
    message = hl7.parse(block.decode("utf-8"))
    assert str(message.segment("MSH")(9)).startswith("ACK")
    msa = message.segment("MSA")
    return Ack(
        str(msa(1)),
        str(msa(2)) if len(msa) > 2 else "",
        message.unescape(str(msa(3))) if len(msa) > 3 else "",
    )


class Peer:
    """A hospital's interface engine: python-hl7's own MLLP client over real TCP."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: Any = None
        self.writer: Any = None

    async def connect(self) -> Peer:
        self.reader, self.writer = await open_hl7_connection("127.0.0.1", self.port)
        return self

    async def send(self, raw: bytes) -> Ack:
        return read_ack(await self.send_raw(raw))

    async def send_raw(self, raw: bytes) -> bytes:
        if self.writer is None:
            await self.connect()
        self.writer.writeblock(raw)
        await self.writer.drain()
        block: bytes = await asyncio.wait_for(self.reader.readblock(), timeout=30)
        return block

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()
            self.writer = None


@dataclass
class Site:
    """A facility with units, an hl7 feed and a listener on a loopback port."""

    pool: database.Pool
    conn: database.Connection
    port: int
    feed_id: int
    units: dict[str, int]  # point of care -> unit id
    listener: Any

    async def peer(self) -> Peer:
        return await Peer(self.port).connect()

    async def census(self, poc: str) -> tuple[int, int, int] | None:
        row = await self.conn.fetchrow(
            "SELECT staffed, occupied, blocked FROM unit_census WHERE unit_id = $1",
            self.units[poc],
        )
        return None if row is None else (row["staffed"], row["occupied"], row["blocked"])

    async def as_of(self, poc: str) -> datetime:
        value: datetime = await self.conn.fetchval(
            "SELECT as_of FROM unit_census WHERE unit_id = $1", self.units[poc]
        )
        return value

    async def beds(self) -> dict[str, str]:
        rows = await self.conn.fetch(
            "SELECT bed, status FROM hl7_beds WHERE feed_id = $1", self.feed_id
        )
        return {r["bed"]: r["status"] for r in rows}

    async def quarantine(self) -> list[str]:
        return [q.reason for q in await feeds.quarantine(self.conn, self.feed_id)]

    async def health(self) -> str:
        return (await feeds.get_feed(self.conn, self.feed_id)).health.state


async def make_site(
    db_dsn: str,
    conn: database.Connection,
    make_facility: Any,
    make_unit: Any,
    *,
    units: list[str],
    config: dict[str, Any] | None = None,
    mappings: dict[str, str] | None = None,
    limit: int | None = None,
) -> Site:
    facility = await make_facility()
    unit_ids = {}
    for poc in units:
        unit = await make_unit(facility.id, name=f"Unit {poc}", licensed_beds=40)
        unit_ids[poc] = unit.id
    feed = await feeds.create_feed(
        conn,
        FeedIn(
            facility_id=facility.id,
            kind="hl7",
            name="ADT feed",
            config={"sending_facility": FACILITY, "allowed_addresses": ["127.0.0.1"]}
            | (config or {}),
            mappings={source: unit_ids[poc] for source, poc in (mappings or {}).items()}
            or unit_ids,
        ),
    )
    pool = await database.create_pool(db_dsn, min_size=1, max_size=4)
    extra = {"limit": limit} if limit is not None else {}
    listener = await start_listener(pool, "127.0.0.1", 0, **extra)
    port = listener.sockets[0].getsockname()[1]
    return Site(pool, conn, port, feed.id, unit_ids, listener)


async def close_site(site: Site) -> None:
    site.listener.close()
    await site.listener.wait_closed()
    await site.pool.close()


@pytest.fixture
async def site_factory(
    db_dsn: str, conn: database.Connection, make_facility: Any, make_unit: Any
) -> AsyncIterator[Any]:
    made: list[Site] = []

    async def make(**kwargs: Any) -> Site:
        site = await make_site(db_dsn, conn, make_facility, make_unit, **kwargs)
        made.append(site)
        return site

    yield make
    for site in made:
        await close_site(site)
