"""Demo census feeds: one facility fed by each adapter kind from a local simulated source.

- CSV: a file in ``<data dir>/demo-feeds/csv`` rewritten every few seconds;
- EDXL-HAVE: a document in ``<data dir>/demo-feeds/have`` rewritten likewise;
- FHIR R4: a small local FHIR server (bed Locations) whose beds change state;
- HL7 v2: an ADT sender admitting and discharging over MLLP to bedboard's listener
  (``BEDBOARD_MLLP_LISTEN``, or a demo listener on a loopback port).

Everything is fictional. ``BEDBOARD_DEMO_SIMULATE=false`` leaves the sources still (and
the FHIR and HL7 feeds disabled, since nothing would answer or send).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from bedboard import database
from bedboard.database import Connection
from bedboard.facilities import list_units
from bedboard.feeds import store
from bedboard.feeds.mllp import start_listener
from bedboard.feeds.models import FeedIn, FeedPatch
from bedboard.settings import Settings

log = logging.getLogger(__name__)

SOURCE_TICK_S = 8.0
HL7_TICK_S = 4.0
SENDING_FACILITY = "DEMO_HOSP"
FEED_NAMES = {
    "csv": "Demo CSV drop",
    "have": "Demo EDXL-HAVE document",
    "fhir": "Demo FHIR server",
    "hl7": "Demo HL7 ADT feed",
}


@dataclass
class Ward:
    """A simulated unit at a source: beds, each occupied or not."""

    source_id: str
    unit_id: int
    beds: list[bool] = field(default_factory=list)  # True: occupied

    def churn(self, rng: random.Random) -> None:
        i = rng.randrange(len(self.beds))
        self.beds[i] = not self.beds[i]

    @property
    def occupied(self) -> int:
        return sum(self.beds)


@dataclass
class DemoFeeds:
    root: Path
    wards: dict[str, list[Ward]] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    runners: list[web.AppRunner] = field(default_factory=list)
    servers: list[asyncio.AbstractServer] = field(default_factory=list)
    facility_ids: frozenset[int] = frozenset()  # the facilities these feeds report for

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for runner in self.runners:
            await runner.cleanup()
        for server in self.servers:
            server.close()


async def _feed_facilities(conn: Connection) -> list[int]:
    """Four demo facilities with an adult unit, not the demo facility account's own."""
    rows = await conn.fetch(
        """
        SELECT f.id FROM facilities f
         WHERE f.active
           AND EXISTS (SELECT 1 FROM units u WHERE u.facility_id = f.id AND u.population = 'adult')
           AND NOT EXISTS (SELECT 1 FROM user_facilities uf JOIN users us ON us.id = uf.user_id
                            WHERE uf.facility_id = f.id AND us.email LIKE 'facility@%')
         ORDER BY f.id DESC LIMIT 4
        """
    )
    return [r["id"] for r in rows]


async def _ensure_feed(
    conn: Connection,
    kind: str,
    facility_id: int,
    config: dict[str, Any],
    mappings: dict[str, int],
    enabled: bool,
) -> int:
    name = FEED_NAMES[kind]
    feed_id = await store.feed_named(conn, name)
    if feed_id is None:
        feed = await store.create_feed(
            conn,
            FeedIn(
                facility_id=facility_id,
                kind=kind,
                name=name,
                config=config,
                enabled=enabled,
                poll_interval_s=15,
                mappings=mappings,
            ),
        )
        return feed.id
    await store.update_feed(conn, feed_id, FeedPatch(config=config, enabled=enabled), None)
    return feed_id


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _csv_text(wards: list[Ward]) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = ["unit,staffed,occupied,blocked,as_of"]
    lines += [f"{w.source_id},{len(w.beds)},{w.occupied},0,{now}" for w in wards]
    return "\n".join(lines) + "\n"


def _capacity_status(ward: Ward) -> str:
    return "Vacant/Available" if ward.occupied < len(ward.beds) else "NotAvailable"


def _have_text(wards: list[Ward]) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    capacities = "".join(
        f"""
      <have:BedCapacity>
        <have:BedType>{w.source_id}</have:BedType>
        <have:Capacity>
          <have:CapacityStatus>{_capacity_status(w)}</have:CapacityStatus>
          <have:AvailableCount>{len(w.beds) - w.occupied}</have:AvailableCount>
          <have:BaselineCount>{len(w.beds)}</have:BaselineCount>
        </have:Capacity>
      </have:BedCapacity>"""
        for w in wards
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<have:HospitalStatus xmlns:have="urn:oasis:names:tc:emergency:EDXL:HAVE:1.0">
  <have:Hospital>
    <have:HospitalBedCapacityStatus>{capacities}
    </have:HospitalBedCapacityStatus>
    <have:LastUpdateTime>{now}</have:LastUpdateTime>
  </have:Hospital>
</have:HospitalStatus>
"""


def _fhir_app(wards: list[Ward], stamps: dict[str, str]) -> web.Application:
    """A tiny FHIR R4 server: the CapabilityStatement and bed Locations with their status."""
    status_system = "http://terminology.hl7.org/CodeSystem/v2-0116"

    def beds() -> list[dict[str, Any]]:
        out = []
        for ward in wards:
            for i, occupied in enumerate(ward.beds):
                bed_id = f"{ward.source_id}-bed-{i + 1}"
                out.append(
                    {
                        "fullUrl": f"Location/{bed_id}",
                        "resource": {
                            "resourceType": "Location",
                            "id": bed_id,
                            "meta": {"lastUpdated": stamps.get(bed_id, stamps["start"])},
                            "status": "active",
                            "name": f"Bed {i + 1}",
                            "mode": "instance",
                            "operationalStatus": {
                                "system": status_system,
                                "code": "O" if occupied else "U",
                            },
                            "physicalType": {
                                "coding": [
                                    {
                                        "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
                                        "code": "bd",
                                    }
                                ]
                            },
                            "partOf": {"reference": f"Location/{ward.source_id}"},
                        },
                    }
                )
        return out

    async def metadata(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "resourceType": "CapabilityStatement",
                "status": "active",
                "fhirVersion": "4.0.1",
                "kind": "instance",
                "format": ["json"],
            },
            content_type="application/fhir+json",
        )

    async def locations(request: web.Request) -> web.Response:
        entries = beds()
        since = request.query.get("_lastUpdated", "").removeprefix("gt")
        if since:
            entries = [e for e in entries if e["resource"]["meta"]["lastUpdated"] > since]
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(entries),
            "timestamp": datetime.now(UTC).isoformat(),
        }
        if request.query.get("_summary") != "count":
            count = int(request.query.get("_count", "200") or "200")
            bundle["entry"] = entries[:count]
        return web.json_response(bundle, content_type="application/fhir+json")

    app = web.Application()
    app.router.add_get("/fhir/metadata", metadata)
    app.router.add_get("/fhir/Location", locations)
    return app


def _hl7_message(kind: str, bed: str, control_id: int) -> bytes:
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    point_of_care, room, bed_no = bed.split("^")
    segments = [
        f"MSH|^~\\&|DEMO_ADT|{SENDING_FACILITY}|BEDBOARD|BEDBOARD|{now}||ADT^{kind}|DEMO{control_id:08d}|P|2.5",
        f"EVN|{kind}|{now}",
        f"PID|1||DEMO{control_id:06d}^^^DEMO||DEMO^PATIENT",
        f"PV1|1|I|{point_of_care}^{room}^{bed_no}",
    ]
    return "\r".join(segments).encode()


async def _hl7_sender(host: str, port: int, wards: list[Ward], rng: random.Random) -> None:
    """Admit and discharge over MLLP, one message every few seconds, waiting for each ACK."""
    control = int(datetime.now(UTC).timestamp())
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, port)
            try:
                while True:
                    await asyncio.sleep(HL7_TICK_S * rng.uniform(0.5, 1.5))
                    ward = rng.choice(wards)
                    i = rng.randrange(len(ward.beds))
                    kind = "A03" if ward.beds[i] else "A01"
                    ward.beds[i] = not ward.beds[i]
                    control += 1
                    bed = f"{ward.source_id}^{100 + i // 2}^{'AB'[i % 2]}"
                    writer.write(b"\x0b" + _hl7_message(kind, bed, control) + b"\x1c\x0d")
                    await writer.drain()
                    async with asyncio.timeout(10):
                        await reader.readuntil(b"\x1c\x0d")
            finally:
                writer.close()
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            log.warning("demo HL7 sender: %s; reconnecting", exc)
            await asyncio.sleep(2)


async def _rewrite(path: Path, render: Any, wards: list[Ward], rng: random.Random) -> None:
    while True:
        await asyncio.sleep(SOURCE_TICK_S * rng.uniform(0.5, 1.5))
        rng.choice(wards).churn(rng)
        _write_atomically(path, render(wards))


async def _fhir_churn(wards: list[Ward], stamps: dict[str, str], rng: random.Random) -> None:
    while True:
        await asyncio.sleep(SOURCE_TICK_S * rng.uniform(0.5, 1.5))
        ward = rng.choice(wards)
        i = rng.randrange(len(ward.beds))
        ward.beds[i] = not ward.beds[i]
        stamps[f"{ward.source_id}-bed-{i + 1}"] = datetime.now(UTC).isoformat()


async def start(pool: database.Pool, settings: Settings) -> DemoFeeds:
    """Create the demo feeds once (refreshing their settings each start) and start their sources."""
    demo = DemoFeeds(settings.data_dir / "demo-feeds")
    rng = random.Random()
    simulate = settings.demo_simulate
    async with database.acquire(pool) as conn:
        facility_ids = await _feed_facilities(conn)
        if len(facility_ids) < 4:
            return demo
        plans: dict[str, tuple[int, list[Ward]]] = {}
        for kind, facility_id in zip(("csv", "have", "fhir", "hl7"), facility_ids, strict=True):
            units = [u for u in await list_units(conn, facility_id) if u.active]
            adult = next(u for u in units if u.population == "adult")
            young = next((u for u in units if u.population in ("adolescent", "child")), None)
            if kind == "have":
                chosen = [("AdultPsychiatric", adult)] + (
                    [("PediatricPsychiatric", young)] if young else []
                )
            elif kind == "hl7":
                chosen = [(f"U{u.id}", u) for u in units[:2]]
            else:
                chosen = [(u.name if kind == "csv" else f"unit-{u.id}", u) for u in units[:3]]
            wards = [
                Ward(
                    source,
                    unit.id,
                    [rng.random() < 0.7 for _ in range(max(unit.licensed_beds // 2, 4))],
                )
                for source, unit in chosen
            ]
            plans[kind] = (facility_id, wards)
        demo.facility_ids = frozenset(facility for facility, _wards in plans.values())
        csv_dir, have_file = demo.root / "csv", demo.root / "have" / "status.xml"
        _write_atomically(csv_dir / "census.csv", _csv_text(plans["csv"][1]))
        _write_atomically(have_file, _have_text(plans["have"][1]))
        mapping = {
            kind: {w.source_id: w.unit_id for w in wards} for kind, (_f, wards) in plans.items()
        }
        await _ensure_feed(
            conn, "csv", plans["csv"][0], {"source": str(csv_dir)}, mapping["csv"], True
        )
        await _ensure_feed(
            conn, "have", plans["have"][0], {"path": str(have_file)}, mapping["have"], True
        )

        stamps = {"start": datetime.now(UTC).isoformat()}
        fhir_url = "http://127.0.0.1:1/fhir"
        if simulate:
            runner = web.AppRunner(_fhir_app(plans["fhir"][1], stamps))
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            demo.runners.append(runner)
            port = runner.addresses[0][1]
            fhir_url = f"http://127.0.0.1:{port}/fhir"
        await _ensure_feed(
            conn,
            "fhir",
            plans["fhir"][0],
            {"base_url": fhir_url, "mode": "locations"},
            mapping["fhir"],
            simulate,
        )

        beds = {
            w.source_id: [f"{100 + i // 2}^{'AB'[i % 2]}" for i in range(len(w.beds))]
            for w in plans["hl7"][1]
        }
        await _ensure_feed(
            conn,
            "hl7",
            plans["hl7"][0],
            {
                "sending_facility": SENDING_FACILITY,
                "allowed_addresses": ["127.0.0.1"],
                "beds": beds,
            },
            mapping["hl7"],
            simulate,
        )
    if not simulate:
        return demo
    address = settings.mllp_address
    if address is None:
        server = await start_listener(pool, "127.0.0.1", 0)
        demo.servers.append(server)
        sockets: list[Any] = list(getattr(server, "sockets", []))
        address = ("127.0.0.1", int(sockets[0].getsockname()[1]))
    for ward in plans["hl7"][1]:
        ward.beds = [False] * len(ward.beds)  # the sender starts from empty beds
    demo.tasks += [
        asyncio.create_task(_rewrite(csv_dir / "census.csv", _csv_text, plans["csv"][1], rng)),
        asyncio.create_task(_rewrite(have_file, _have_text, plans["have"][1], rng)),
        asyncio.create_task(_fhir_churn(plans["fhir"][1], stamps, rng)),
        asyncio.create_task(_hl7_sender("127.0.0.1", address[1], plans["hl7"][1], rng)),
    ]
    return demo
