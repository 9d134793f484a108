"""The placement lifecycle: states, referrals, holds, the timeline, ETags and idempotency."""

from __future__ import annotations

from typing import Any

import pytest

from tests.placements.conftest import World


async def test_creating_a_placement_computes_the_96_hour_deadline_and_a_reference(
    world: World,
) -> None:
    body = world.placement_body()
    placement = await world.create(detention_start=body["detention_start"])
    assert placement["reference"].startswith("PL-") and len(placement["reference"]) == len(
        "PL-2026-000001"
    )
    from datetime import datetime, timedelta

    start = datetime.fromisoformat(body["detention_start"])
    assert datetime.fromisoformat(placement["deadline_at"]) == start + timedelta(hours=96)
    assert placement["status"] == "open"
    assert placement["person"] == {"initials": "JD", "birth_year": None, "age": 34, "sex": "male"}
    assert placement["liaison_id"] == world.ids["user_liaison"]
    assert placement["links"][0]["url"] == "https://cases.example.org/C-100"
    assert placement["allowed_transitions"] == ["closed"]


async def test_a_court_order_needs_a_court_but_a_voluntary_one_does_not(world: World) -> None:
    resp = await world.call(
        "liaison", "POST", "/api/v1/placements", json=world.placement_body(court_id=None)
    )
    assert resp.status == 422
    voluntary = await world.create(order_type="voluntary", court_id=None, case_number="")
    assert voluntary["deadline_at"] is None


async def test_the_whole_path_from_referral_to_admission(world: World) -> None:
    placement = await world.create()
    pid = placement["id"]
    ref_a, ref_b = await world.refer(pid, "a1", "b1")

    declined = await world.call(
        "facility_a",
        "POST",
        f"/api/v1/referrals/{ref_a}/decline",
        json={"reason": "acuity", "note": "needs 1:1 we cannot staff"},
    )
    assert declined.status == 200, await declined.text()
    assert (
        await world.call("facility_b", "POST", f"/api/v1/referrals/{ref_b}/accept")
    ).status == 200
    assert await world.held("b1") == 1
    record = await (await world.call("liaison", "GET", f"/api/v1/placements/{pid}")).json()
    assert record["status"] == "accepted"
    assert record["accepted_facility_name"] == "Lakeside Psychiatric"
    states = {r["id"]: (r["status"], r["decline_reason"]) for r in record["referrals"]}
    assert states == {ref_a: ("declined", "acuity"), ref_b: ("accepted", None)}

    board = await (await world.call("viewer", "GET", "/api/v1/board")).json()
    unit = next(u for f in board["facilities"] for u in f["units"] if u["id"] == world.ids["b1"])
    assert (unit["held"], unit["free"]) == (1, 0)

    for to in ("in_transit", "admitted"):
        resp = await world.call(
            "liaison", "POST", f"/api/v1/placements/{pid}/transition", json={"to": to}
        )
        assert resp.status == 200, await resp.text()
    census = await world.conn.fetchrow(
        "SELECT held, available, occupied FROM unit_census WHERE unit_id = $1", world.ids["b1"]
    )
    assert (census["held"], census["available"], census["occupied"]) == (0, 0, 10)

    timeline = await (
        await world.call("liaison", "GET", f"/api/v1/placements/{pid}/timeline")
    ).json()
    kinds = [e["kind"] for e in timeline["items"]]
    assert kinds == [
        "created",
        "link_added",
        "referral_sent",
        "referral_sent",
        "referral_declined",
        "referral_accepted",
        "transition",
        "transition",
    ]
    assert [e["to_state"] for e in timeline["items"] if e["to_state"]] == [
        "open",
        "accepted",
        "in_transit",
        "admitted",
    ]
    assert all(e["at"] for e in timeline["items"])


async def test_accepting_one_referral_withdraws_the_others(world: World) -> None:
    placement = await world.create()
    ref_a, ref_b = await world.refer(placement["id"], "a1", "b1")
    assert (
        await world.call("facility_a", "POST", f"/api/v1/referrals/{ref_a}/accept")
    ).status == 200
    status = await world.conn.fetchval("SELECT status FROM referrals WHERE id = $1", ref_b)
    assert status == "withdrawn"
    late = await world.call("facility_b", "POST", f"/api/v1/referrals/{ref_b}/accept")
    assert late.status == 409
    assert (await late.json())["allowed"] == []


async def test_withdrawing_an_accepted_referral_releases_the_bed_and_reopens(world: World) -> None:
    placement = await world.create()
    (ref,) = await world.refer(placement["id"], "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    assert await world.held("a1") == 1
    resp = await world.call("liaison", "POST", f"/api/v1/referrals/{ref}/withdraw")
    assert resp.status == 200
    assert (await resp.json())["status"] == "open"
    assert await world.held("a1") == 0


async def test_a_facility_backing_out_releases_the_bed(world: World) -> None:
    placement = await world.create()
    (ref,) = await world.refer(placement["id"], "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    resp = await world.call(
        "facility_a", "POST", f"/api/v1/referrals/{ref}/decline", json={"reason": "staffing"}
    )
    assert resp.status == 200
    assert await world.held("a1") == 0
    assert (
        await world.conn.fetchval("SELECT status FROM placements WHERE id = $1", placement["id"])
        == "open"
    )


async def test_closing_releases_the_hold_and_withdraws_pending_referrals(world: World) -> None:
    placement = await world.create()
    ref_a, _ = await world.refer(placement["id"], "a1", "b1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref_a}/accept")
    resp = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{placement['id']}/transition",
        json={"to": "closed", "outcome": "released", "note": "released by the court"},
    )
    assert resp.status == 200
    body = await resp.json()
    assert (body["status"], body["outcome"]) == ("closed", "released")
    assert await world.held("a1") == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"to": "closed"}, "closing needs an outcome"),
        ({"to": "admitted", "outcome": "released"}, "only closing takes an outcome"),
        ({"to": "open"}, "Input should be"),
    ],
)
async def test_a_malformed_transition_is_a_422(
    world: World, body: dict[str, Any], message: str
) -> None:
    placement = await world.create()
    resp = await world.call(
        "liaison", "POST", f"/api/v1/placements/{placement['id']}/transition", json=body
    )
    assert resp.status == 422
    assert message in (await resp.text())


async def test_a_decline_needs_a_known_reason(world: World) -> None:
    placement = await world.create()
    (ref,) = await world.refer(placement["id"], "a1")
    resp = await world.call(
        "facility_a", "POST", f"/api/v1/referrals/{ref}/decline", json={"reason": "busy"}
    )
    assert resp.status == 422
    assert await world.conn.fetchval("SELECT status FROM referrals WHERE id = $1", ref) == "pending"


async def test_a_unit_cannot_get_two_open_referrals_for_one_placement(world: World) -> None:
    placement = await world.create()
    await world.refer(placement["id"], "a1")
    resp = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{placement['id']}/referrals",
        json={"unit_ids": [world.ids["a1"]]},
    )
    assert resp.status == 409


async def test_accepting_without_a_free_bed_is_a_409(world: World) -> None:
    first = await world.create()
    second = await world.create(case_number="26P-CV-0043")
    (r1,) = await world.refer(first["id"], "b1")  # b1 has one free bed
    (r2,) = await world.refer(second["id"], "b1")
    assert (await world.call("facility_b", "POST", f"/api/v1/referrals/{r1}/accept")).status == 200
    taken = await world.call("facility_b", "POST", f"/api/v1/referrals/{r2}/accept")
    assert taken.status == 409
    assert "just taken" in (await taken.json())["detail"]
    assert await world.held("b1") == 1


async def test_a_census_report_cannot_take_a_held_bed(world: World) -> None:
    placement = await world.create()
    (ref,) = await world.refer(placement["id"], "b1")
    await world.call("facility_b", "POST", f"/api/v1/referrals/{ref}/accept")
    now = await world.conn.fetchval("SELECT now()")
    resp = await world.call(
        "facility_b",
        "PUT",
        f"/api/v1/units/{world.ids['b1']}/census",
        json={"as_of": now.isoformat(), "staffed": 10, "occupied": 10},
    )
    result = (await resp.json())["results"][0]
    assert result["outcome"] == "conflict"
    assert "held for accepted placements" in result["detail"]


async def test_edits_honour_if_match(world: World) -> None:
    placement = await world.create()
    resp = await world.call("liaison", "GET", f"/api/v1/placements/{placement['id']}")
    etag = resp.headers["ETag"]
    ok = await world.call(
        "liaison",
        "PATCH",
        f"/api/v1/placements/{placement['id']}",
        json={"case_number": "26P-CV-0099"},
        headers={"If-Match": etag},
    )
    assert ok.status == 200
    assert ok.headers["ETag"] != etag
    stale = await world.call(
        "liaison",
        "PATCH",
        f"/api/v1/placements/{placement['id']}",
        json={"case_number": "26P-CV-0100"},
        headers={"If-Match": etag},
    )
    assert stale.status == 412
    assert (
        await world.conn.fetchval(
            "SELECT case_number FROM placements WHERE id = $1", placement["id"]
        )
        == "26P-CV-0099"
    )


async def test_changing_the_detention_start_moves_the_deadline(world: World) -> None:
    placement = await world.create()
    resp = await world.call(
        "liaison",
        "PATCH",
        f"/api/v1/placements/{placement['id']}",
        json={"detention_start": "2026-11-28T10:00:00+00:00"},
    )
    assert (await resp.json())["deadline_at"].startswith("2026-12-02T10:00:00")


async def test_idempotency_key_replays_the_first_answer(world: World) -> None:
    body = world.placement_body()
    key = {"Idempotency-Key": "4c1b7e0e-create-1"}
    first = await world.call("liaison", "POST", "/api/v1/placements", json=body, headers=key)
    second = await world.call("liaison", "POST", "/api/v1/placements", json=body, headers=key)
    assert first.status == second.status == 201
    assert (await first.json())["id"] == (await second.json())["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await world.conn.fetchval("SELECT count(*) FROM placements") == 1
    other = await world.call(
        "liaison",
        "POST",
        "/api/v1/placements",
        json={**body, "case_number": "26P-CV-7777"},
        headers=key,
    )
    assert other.status == 422
    assert await world.conn.fetchval("SELECT count(*) FROM placements") == 1
    # Keys belong to a user: another liaison's same key is a different request.
    mine = await world.call("liaison2", "POST", "/api/v1/placements", json=body, headers=key)
    assert mine.status == 201 and "Idempotent-Replayed" not in mine.headers


async def test_concurrent_retries_with_one_key_create_one_placement(world: World) -> None:
    import asyncio

    body = world.placement_body()
    key = {"Idempotency-Key": "retry-storm"}
    answers = await asyncio.gather(
        *(
            world.call("liaison", "POST", "/api/v1/placements", json=body, headers=key)
            for _ in range(8)
        )
    )
    assert {a.status for a in answers} == {201}
    assert len({(await a.json())["id"] for a in answers}) == 1
    assert await world.conn.fetchval("SELECT count(*) FROM placements") == 1


async def test_links_and_notes_are_kept_with_the_author(world: World) -> None:
    placement = await world.create()
    pid = placement["id"]
    assert (
        await world.call(
            "liaison",
            "POST",
            f"/api/v1/placements/{pid}/notes",
            json={"body": "Called family; consent for release of information."},
        )
    ).status == 201
    bad = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{pid}/links",
        json={"system": "docket", "url": "javascript:alert(1)"},
    )
    assert bad.status == 422
    record = await (await world.call("liaison", "GET", f"/api/v1/placements/{pid}")).json()
    assert record["notes"][0]["body"].startswith("Called family")
    assert record["notes"][0]["created_at"]


async def test_the_placement_list_filters_by_status_court_liaison_and_overdue(world: World) -> None:
    from datetime import UTC, datetime, timedelta

    old = (datetime.now(UTC) - timedelta(hours=100)).isoformat()
    overdue = await world.create(detention_start=old)
    fresh = await world.create(court_id=world.ids["other_court"])

    async def ids(query: str) -> set[int]:
        resp = await world.call("liaison", "GET", f"/api/v1/placements?{query}")
        assert resp.status == 200, await resp.text()
        return {p["id"] for p in (await resp.json())["items"]}

    assert await ids("overdue=true") == {overdue["id"]}
    assert await ids(f"court={world.ids['other_court']}") == {fresh["id"]}
    assert await ids(f"liaison={world.ids['user_liaison']}&status=open") == {
        overdue["id"],
        fresh["id"],
    }
    assert await ids("status=closed") == set()


async def test_the_placement_list_sorts_by_the_longest_officer_custody(world: World) -> None:
    first, second, third = [await world.create() for _ in range(3)]
    for placement, hours in ((first, 1), (third, 5)):
        await world.conn.execute(
            "UPDATE placements SET custody_agency = 'Boone County Sheriff',"
            " custody_started_at = now() - make_interval(hours => $2) WHERE id = $1",
            placement["id"], hours,
        )  # fmt: skip
    resp = await world.call("liaison", "GET", "/api/v1/placements?sort=custody")
    items = (await resp.json())["items"]
    assert [p["id"] for p in items[:2]] == [third["id"], first["id"]]
    assert items[0]["custody_started_at"] and items[0]["custody_ended_at"] is None
    assert second["id"] in {p["id"] for p in items[2:]}
    bad = await world.call("liaison", "GET", "/api/v1/placements?sort=nearest")
    assert bad.status == 422


async def test_a_transition_note_is_kept_in_a_row_and_the_timeline_only_says_there_is_one(
    world: World,
) -> None:
    placement = await world.create()
    pid = placement["id"]
    (ref,) = await world.refer(pid, "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")
    url = f"/api/v1/placements/{pid}/transition"
    moving = "Transport by deputy; medication given at 21:00"
    resp = await world.call("liaison", "POST", url, json={"to": "in_transit", "note": moving})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert [n["body"] for n in body["notes"]] == [moving]  # an access-controlled note row
    closing = "Released by the judge at the hearing"
    placement2 = await world.create()
    resp = await world.call(
        "liaison",
        "POST",
        f"/api/v1/placements/{placement2['id']}/transition",
        json={"to": "closed", "outcome": "released", "note": closing},
    )
    assert (await resp.json())["outcome_note"] == closing
    rows = await world.conn.fetch("SELECT data FROM placement_events WHERE kind = 'transition'")
    assert rows and all(r["data"].get("has_note") for r in rows)
    assert all(moving not in str(r["data"]) and closing not in str(r["data"]) for r in rows)
