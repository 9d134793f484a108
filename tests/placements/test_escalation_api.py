"""The escalation ladder over the API: the ladder per order type, a placement's
escalations, acknowledging one; every refusal a problem+json, never a 500."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from bedboard.placements import escalation
from tests.placements.conftest import World

LADDER = "/api/v1/order-types/emergency_96h/ladder"


async def _raised(world: World) -> tuple[dict[str, Any], escalation.Raised]:
    placement = await world.create()
    deadline = datetime.fromisoformat(placement["deadline_at"])
    (raised,) = await escalation.run(world.conn, deadline - timedelta(hours=24))
    return placement, raised


async def _problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body: dict[str, Any] = await resp.json()
    assert body["status"] == status
    return body


async def test_the_ladder_reads_and_is_replaced_by_an_administrator(world: World) -> None:
    body = await (await world.call("liaison", "GET", LADDER)).json()
    assert body["order_type"] == "emergency_96h" and body["deadline_hours"] == 96
    assert [r["hours_before"] for r in body["rungs"]] == [24, 12, 4, 0]
    new = {
        "rungs": [
            {
                "hours_before": 0,
                "audiences": ["court"],
                "ack_minutes": 240,
                "only_without_acceptance": False,
            },
            {"hours_before": 36, "audiences": ["supervisor", "liaison"], "ack_minutes": 90},
        ]
    }
    resp = await world.call("admin", "PUT", LADDER, json=new)
    assert resp.status == 200, await resp.text()
    saved = await resp.json()
    assert [(r["position"], r["hours_before"]) for r in saved["rungs"]] == [(1, 36), (2, 0)]
    assert saved["rungs"][0]["audiences"] == ["supervisor", "liaison"]
    assert saved == await (await world.call("viewer", "GET", LADDER)).json()


@pytest.mark.parametrize(
    ("rung", "field"),
    [
        ({"hours_before": 337, "audiences": ["court"], "ack_minutes": 60}, "hours_before"),
        ({"hours_before": -1, "audiences": ["court"], "ack_minutes": 60}, "hours_before"),
        ({"hours_before": 4, "audiences": [], "ack_minutes": 60}, "audiences"),
        ({"hours_before": 4, "audiences": ["sheriff"], "ack_minutes": 60}, "audiences.0"),
        ({"hours_before": 4, "audiences": ["court"], "ack_minutes": 0}, "ack_minutes"),
        ({"hours_before": 4, "audiences": ["court"]}, "ack_minutes"),
    ],
)
async def test_a_bad_rung_is_refused_naming_its_field(
    world: World, rung: dict[str, Any], field: str
) -> None:
    body = await _problem(await world.call("admin", "PUT", LADDER, json={"rungs": [rung]}), 422)
    assert [e["field"] for e in body["errors"]] == [f"rungs.0.{field}"]
    assert len((await (await world.call("admin", "GET", LADDER)).json())["rungs"]) == 4


async def test_two_rungs_at_one_hour_are_refused(world: World) -> None:
    rungs = [
        {"hours_before": 12, "audiences": ["liaison"], "ack_minutes": 60},
        {"hours_before": 12, "audiences": ["court"], "ack_minutes": 60},
    ]
    body = await _problem(await world.call("admin", "PUT", LADDER, json={"rungs": rungs}), 422)
    (error,) = body["errors"]
    assert error["field"] == "rungs.1.hours_before"
    assert "No two rungs at the same hour" in error["message"]


async def test_an_unknown_order_type_has_no_ladder(world: World) -> None:
    await _problem(await world.call("admin", "GET", "/api/v1/order-types/nope/ladder"), 404)
    await _problem(
        await world.call("admin", "PUT", "/api/v1/order-types/nope/ladder", json={"rungs": []}),
        404,
    )


async def test_a_ladder_body_that_is_not_json_is_refused(world: World) -> None:
    resp = await world.call(
        "admin", "PUT", LADDER, data=b"rungs", headers={"Content-Type": "text/plain"}
    )
    await _problem(resp, 415)
    resp = await world.call(
        "admin", "PUT", LADDER, data=b"{", headers={"Content-Type": "application/json"}
    )
    await _problem(resp, 400)


async def test_a_placement_lists_its_escalations_and_one_is_acknowledged_once(
    world: World,
) -> None:
    placement, raised = await _raised(world)
    url = f"/api/v1/placements/{placement['id']}/escalations"
    body = await (await world.call("liaison", "GET", url)).json()
    (item,) = body["items"]
    assert body["placement_id"] == placement["id"]
    assert (item["id"], item["position"], item["audiences"]) == (
        raised.escalation_id,
        1,
        ["supervisor"],
    )
    assert item["acknowledged_at"] is None
    ack = f"/api/v1/escalations/{raised.escalation_id}/acknowledge"
    first = await world.call("liaison", "POST", ack)
    assert first.status == 200, await first.text()
    first_body = await first.json()
    assert first_body["acknowledged_by"] == world.ids["user_liaison"]
    again = await world.call("admin", "POST", ack)
    assert again.status == 200
    assert await again.json() == first_body
    audits = await world.conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'escalation.acknowledge'"
    )
    assert audits == 1


async def test_acknowledging_on_a_closed_placement_is_a_conflict(world: World) -> None:
    placement, raised = await _raised(world)
    await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{placement['id']}/transition",
        json={"to": "closed", "outcome": "released"},
    )
    body = await _problem(
        await world.call(
            "liaison", "POST", f"/api/v1/escalations/{raised.escalation_id}/acknowledge"
        ),
        409,
    )
    assert body["type"].endswith("placement-over")
    assert "closed" in body["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/placements/987654/escalations"),
        ("POST", "/api/v1/escalations/987654/acknowledge"),
        ("POST", "/api/v1/escalations/x1/acknowledge"),
        ("GET", "/api/v1/placements/99999999999999999999/escalations"),
    ],
)
async def test_missing_placements_and_escalations_are_404(
    world: World, method: str, path: str
) -> None:
    await _problem(await world.call("liaison", method, path), 404)
