"""The referral packet: a structured summary the liaison keeps and the referred facilities
read; its text is clinical (never logged, audited or on the wire)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.placements.conftest import CANARY, World


def full_packet(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "medical_clearance": True,
        "medical_clearance_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "toxicology": f"UDS negative; BAL 0.00 {CANARY}",
        "recent_aggression": True,
        "aggression_note": f"Struck a deputy yesterday {CANARY}",
        "medications_given": f"Haloperidol 5 mg IM at 14:00 {CANARY}",
        "legal_note": f"Application for 21 days filed {CANARY}",
        "order_copy_received": True,
        "pregnancy": "not_applicable",
        "mobility_needs": f"Uses a walker {CANARY}",
    }
    body.update(overrides)
    return body


async def test_a_packet_round_trips_and_starts_empty(world: World) -> None:
    pid = (await world.create())["id"]
    url = f"/api/v1/placements/{pid}/packet"
    empty = await (await world.call("liaison", "GET", url)).json()
    assert empty["placement_id"] == pid and empty["updated_at"] is None
    assert all(empty[k] is None for k in full_packet())

    body = full_packet()
    saved = await world.call("liaison", "PUT", url, json=body)
    assert saved.status == 200, await saved.text()
    read = await (await world.call("liaison", "GET", url)).json()
    for key, value in body.items():
        if key == "medical_clearance_at":
            assert datetime.fromisoformat(read[key]) == datetime.fromisoformat(value)
        else:
            assert read[key] == value, key
    assert read["updated_at"] is not None and read["updated_by"]

    # A PUT replaces the whole packet: what is left out is no longer recorded.
    replaced = await world.call("liaison", "PUT", url, json={"pregnancy": "unknown"})
    assert (await replaced.json())["toxicology"] is None


async def test_a_change_is_on_the_timeline_and_audited_by_field_name_only(world: World) -> None:
    pid = (await world.create())["id"]
    url = f"/api/v1/placements/{pid}/packet"
    first = full_packet()
    await world.call("liaison", "PUT", url, json=first)
    await world.call("liaison", "PUT", url, json={**first, "toxicology": "pending"})
    await world.call("liaison", "PUT", url, json={**first, "toxicology": "pending"})  # no change
    events = await world.conn.fetch(
        "SELECT data FROM placement_events WHERE placement_id = $1 AND kind = 'packet_updated'"
        " ORDER BY id",
        pid,
    )
    assert [e["data"]["fields"] for e in events] == [list(full_packet()), ["toxicology"]]
    audit = await world.conn.fetch(
        "SELECT detail::text AS d FROM audit_log WHERE action = 'placement.packet' ORDER BY id"
    )
    assert len(audit) == 2
    assert all("pending" not in r["d"] and CANARY not in r["d"] for r in audit)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"toxicology": "x" * 2001}, "toxicology"),
        ({"mobility_needs": "nul \x00 inside"}, None),  # refused as NUL before validation
        ({"pregnancy": "maybe"}, "pregnancy"),
        ({"medical_clearance": "yes"}, "medical_clearance"),
        ({"recent_aggression": None, "unknown_field": 1}, "unknown_field"),
        ({"medical_clearance": False}, "medical_clearance_at"),
        (
            {"medical_clearance_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
            "medical_clearance_at",
        ),
    ],
)
async def test_a_bad_packet_is_refused_with_a_problem_naming_the_field(
    world: World, change: dict[str, Any], field: str | None
) -> None:
    pid = (await world.create())["id"]
    url = f"/api/v1/placements/{pid}/packet"
    resp = await world.call("liaison", "PUT", url, json=full_packet(**change))
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    if field is None:
        assert resp.status == 400
    else:
        assert resp.status == 422, body
        assert field in {e["field"].split(".")[-1] for e in body["errors"]}
    assert CANARY not in await resp.text()
    assert await world.conn.fetchval("SELECT count(*) FROM placement_packets") == 0


async def test_the_packets_text_reaches_no_log_audit_frame_or_event(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pid = (await world.create(clinical_notes="No notes."))["id"]
    await world.refer(pid, "a1")
    url = f"/api/v1/placements/{pid}/packet"
    assert (await world.call("liaison", "PUT", url, json=full_packet())).status == 200
    assert (await world.call("facility_a", "GET", url)).status == 200
    refused = await world.call("facility_a", "PUT", url, json=full_packet())
    assert refused.status == 403 and CANARY not in await refused.text()
    bad = await world.call("liaison", "PUT", url, json=full_packet(toxicology=CANARY * 300))
    assert bad.status == 422 and CANARY not in await bad.text()
    assert CANARY not in caplog.text
    for sql in (
        "SELECT payload::text FROM board_outbox",
        "SELECT data::text FROM placement_events",
        "SELECT detail::text FROM audit_log",
    ):
        assert all(CANARY not in row[0] for row in await world.conn.fetch(sql)), sql
