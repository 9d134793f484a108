"""Census reporting rules: validation, ordering, idempotency, future dates, scope, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bedboard.auth import Role
from tests.conftest import METRICS_TOKEN

PROBLEM = "application/problem+json"


@pytest.fixture
async def setup(make_facility: Any, make_unit: Any, make_user: Any, make_token: Any) -> Any:
    facility = await make_facility()
    other = await make_facility()
    unit = await make_unit(facility.id, licensed_beds=20)
    unit2 = await make_unit(facility.id, population="adolescent")
    foreign = await make_unit(other.id)
    staff = await make_user(Role.FACILITY, facility_ids=[facility.id])
    token = await make_token(staff.id)

    class S:
        pass

    s = S()
    s.facility, s.other, s.unit, s.unit2, s.foreign = facility, other, unit, unit2, foreign
    s.headers = {"Authorization": f"Bearer {token}"}
    return s


def at(minutes_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


async def put(client: Any, s: Any, unit_id: int, body: dict[str, Any]) -> Any:
    return await client.put(f"/api/v1/units/{unit_id}/census", json=body, headers=s.headers)


async def test_a_report_derives_available_beds_and_appends_history(
    client: Any, setup: Any, conn: Any
) -> None:
    resp = await put(
        client, setup, setup.unit.id, {"as_of": at(1), "staffed": 20, "occupied": 14, "blocked": 2}
    )
    assert resp.status == 200, await resp.text()
    result = (await resp.json())["results"][0]
    assert result["outcome"] == "applied"
    assert result["unit"]["available"] == 4
    assert result["unit"]["free"] == 4
    assert result["unit"]["freshness"] == "fresh"
    rows = await conn.fetch(
        "SELECT available, source, received_at FROM census_history WHERE unit_id = $1",
        setup.unit.id,
    )
    assert [r["available"] for r in rows] == [4]
    db_now = await conn.fetchval("SELECT now()")
    assert abs((rows[0]["received_at"] - db_now).total_seconds()) < 30


async def test_a_direct_available_count_is_accepted(client: Any, setup: Any) -> None:
    resp = await put(client, setup, setup.unit.id, {"as_of": at(1), "available": 3})
    unit = (await resp.json())["results"][0]["unit"]
    assert (unit["available"], unit["staffed"], unit["occupied"]) == (3, None, None)


@pytest.mark.parametrize(
    ("body", "field_fragment"),
    [
        ({"staffed": 10, "occupied": 11}, "occupied cannot exceed staffed"),
        ({"staffed": 10, "occupied": 8, "blocked": 3}, "blocked cannot exceed"),
        ({"staffed": -1, "occupied": 0}, "greater than or equal to 0"),
        ({"staffed": 10}, "staffed and occupied go together"),
        (
            {"staffed": 10, "occupied": 2, "available": 8},
            "either staffed and occupied, or available",
        ),
        ({}, "give staffed and occupied, or available"),
        ({"available": 99999}, "less than or equal to 2000"),
        ({"available": 2.5}, "valid integer"),
    ],
)
async def test_invalid_counts_are_refused_with_a_reason(
    client: Any, setup: Any, conn: Any, body: dict[str, Any], field_fragment: str
) -> None:
    resp = await put(client, setup, setup.unit.id, {"as_of": at(1), **body})
    assert resp.status == 422
    assert resp.content_type == PROBLEM
    messages = " ".join(e["message"] for e in (await resp.json())["errors"])
    assert field_fragment in messages
    assert await conn.fetchval("SELECT count(*) FROM unit_census") == 0


async def test_a_naive_timestamp_is_refused(client: Any, setup: Any) -> None:
    resp = await put(client, setup, setup.unit.id, {"as_of": "2026-01-01T10:00:00", "available": 1})
    assert resp.status == 422


async def test_a_report_older_than_the_stored_one_is_not_applied(
    client: Any, setup: Any, conn: Any
) -> None:
    await put(client, setup, setup.unit.id, {"as_of": at(5), "available": 5})
    resp = await put(client, setup, setup.unit.id, {"as_of": at(10), "available": 9})
    result = (await resp.json())["results"][0]
    assert result["outcome"] == "stale"
    assert "not applied" in result["detail"]
    assert (
        await conn.fetchval("SELECT available FROM unit_census WHERE unit_id = $1", setup.unit.id)
        == 5
    )
    assert await conn.fetchval("SELECT count(*) FROM census_history") == 1
    metrics = await (
        await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    ).text()
    assert 'bedboard_census_reports_total{outcome="stale"} 1.0' in metrics


async def test_resending_the_same_report_changes_nothing(
    client: Any, setup: Any, conn: Any
) -> None:
    body = {"as_of": at(2), "staffed": 12, "occupied": 10}
    first = await put(client, setup, setup.unit.id, body)
    seq_after_first = await conn.fetchval("SELECT seq FROM outbox_counter")
    second = await put(client, setup, setup.unit.id, body)
    assert (await first.json())["results"][0]["outcome"] == "applied"
    assert (await second.json())["results"][0]["outcome"] == "duplicate"
    assert await conn.fetchval("SELECT count(*) FROM census_history") == 1
    assert await conn.fetchval("SELECT seq FROM outbox_counter") == seq_after_first


async def test_a_report_from_the_future_is_rejected(client: Any, setup: Any, conn: Any) -> None:
    resp = await put(client, setup, setup.unit.id, {"as_of": at(-10), "available": 4})
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["field"] == "as_of"
    # Within the five-minute skew tolerance it is fine.
    ok = await put(client, setup, setup.unit.id, {"as_of": at(-3), "available": 4})
    assert (await ok.json())["results"][0]["outcome"] == "applied"


async def test_out_of_order_reports_end_with_the_newest(client: Any, setup: Any, conn: Any) -> None:
    for minutes_ago, available in ((30, 1), (10, 3), (20, 2), (5, 4), (25, 9)):
        await put(client, setup, setup.unit.id, {"as_of": at(minutes_ago), "available": available})
    assert (
        await conn.fetchval("SELECT available FROM unit_census WHERE unit_id = $1", setup.unit.id)
        == 4
    )
    assert await conn.fetchval("SELECT count(*) FROM census_history") == 3  # 30, 10, 5 minutes ago


async def test_a_facility_user_cannot_report_for_another_facility(
    client: Any, setup: Any, conn: Any
) -> None:
    resp = await put(client, setup, setup.foreign.id, {"as_of": at(1), "available": 4})
    assert resp.status == 403
    resp = await client.post(
        f"/api/v1/facilities/{setup.other.id}/census",
        json={"reports": [{"unit_id": setup.foreign.id, "as_of": at(1), "available": 4}]},
        headers=setup.headers,
    )
    assert resp.status == 403
    assert await conn.fetchval("SELECT count(*) FROM unit_census") == 0
    denied = await conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'census.report' AND outcome = 'denied'"
    )
    assert denied == 2


async def test_a_facility_batch_applies_all_or_none(client: Any, setup: Any, conn: Any) -> None:
    bad = await client.post(
        f"/api/v1/facilities/{setup.facility.id}/census",
        json={"reports": [
            {"unit_id": setup.unit.id, "as_of": at(1), "available": 4},
            {"unit_id": setup.unit2.id, "as_of": at(-60), "available": 2},
        ]},
        headers=setup.headers,
    )  # fmt: skip
    assert bad.status == 422
    assert await conn.fetchval("SELECT count(*) FROM unit_census") == 0
    stranger = await client.post(
        f"/api/v1/facilities/{setup.facility.id}/census",
        json={"reports": [{"unit_id": setup.foreign.id, "as_of": at(1), "available": 4}]},
        headers=setup.headers,
    )
    assert stranger.status == 422
    good = await client.post(
        f"/api/v1/facilities/{setup.facility.id}/census",
        json={"reports": [
            {"unit_id": setup.unit.id, "as_of": at(1), "available": 4},
            {"unit_id": setup.unit2.id, "as_of": at(1), "staffed": 8, "occupied": 8},
        ]},
        headers=setup.headers,
    )  # fmt: skip
    assert good.status == 200
    assert [r["outcome"] for r in (await good.json())["results"]] == ["applied", "applied"]
    assert await conn.fetchval("SELECT count(*) FROM unit_census") == 2


async def test_history_filters_by_time_range(client: Any, setup: Any) -> None:
    for minutes_ago in (50, 40, 30, 20):
        await put(
            client, setup, setup.unit.id, {"as_of": at(minutes_ago), "available": minutes_ago // 10}
        )
    start = (datetime.now(UTC) - timedelta(minutes=45)).isoformat()
    end = (datetime.now(UTC) - timedelta(minutes=25)).isoformat()
    resp = await client.get(
        f"/api/v1/units/{setup.unit.id}/history",
        params={"from": start, "to": end},
        headers=setup.headers,
    )
    assert resp.status == 200, await resp.text()
    assert [i["available"] for i in (await resp.json())["items"]] == [3, 4]
    bad = await client.get(
        f"/api/v1/units/{setup.unit.id}/history",
        params={"from": end, "to": start},
        headers=setup.headers,
    )
    assert bad.status == 422


async def test_the_board_snapshot_shows_counts_freshness_and_its_seq(
    client: Any, setup: Any, conn: Any
) -> None:
    await put(client, setup, setup.unit.id, {"as_of": at(1), "staffed": 20, "occupied": 15})
    resp = await client.get("/api/v1/board", headers=setup.headers)
    body = await resp.json()
    assert body["seq"] == await conn.fetchval("SELECT seq FROM outbox_counter")
    facility = next(f for f in body["facilities"] if f["id"] == setup.facility.id)
    units = {u["id"]: u for u in facility["units"]}
    assert units[setup.unit.id]["free"] == 5
    assert units[setup.unit.id]["freshness"] == "fresh"
    assert units[setup.unit2.id]["freshness"] == "never"
    assert facility["freshness"] == "never" and facility["overdue"] is True
