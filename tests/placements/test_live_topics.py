"""Placement and referral changes reach each user over the websocket by the API's rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.placements.conftest import CANARY, World


async def frames(ws: Any, quiet_s: float = 0.6) -> list[dict[str, Any]]:
    """Everything that arrives until the connection has been quiet for a moment."""
    out: list[dict[str, Any]] = []
    while True:
        try:
            message = await ws.receive_json(timeout=quiet_s)
        except TimeoutError:
            return out
        if "seq" in message and "topic" in message:
            out.append(message)


async def subscribe(world: World, who: str, topics: list[str]) -> Any:
    board = await (await world.call("liaison", "GET", "/api/v1/board")).json()
    ws = await world.client.ws_connect("/ws", headers=world.headers[who])
    await ws.send_json({"type": "subscribe", "topics": topics, "since": board["seq"]})
    reply = await ws.receive_json(timeout=5)
    assert reply["type"] in ("subscribed", "error"), reply
    if reply["type"] == "error":
        await ws.close()
        raise PermissionError(reply["message"])
    return ws


async def test_each_user_sees_only_the_placement_changes_the_api_would_show(world: World) -> None:
    sockets = {
        who: await subscribe(world, who, ["placements", "referrals"]) for who in ("liaison",)
    }
    for facility in ("facility_a", "facility_b"):
        sockets[facility] = await subscribe(world, facility, ["referrals"])
    sockets["court"] = await subscribe(world, "court", ["court"])
    sockets["other_court"] = await subscribe(world, "other_court", ["court"])
    placement = await world.create()
    (ref,) = await world.refer(placement["id"], "a1")
    await world.call("facility_a", "POST", f"/api/v1/referrals/{ref}/accept")

    got = {who: await frames(ws) for who, ws in sockets.items()}
    for ws in sockets.values():
        await ws.close()
    events = {
        who: [(f["topic"], f["data"].get("event") or f["data"].get("status")) for f in fs]
        for who, fs in got.items()
    }
    assert events["liaison"] == [
        ("placements", "created"),
        ("placements", "referred"),
        ("referrals", "pending"),
        ("placements", "accepted"),
        ("referrals", "accepted"),
    ]
    # A facility hears of its own referrals only (never the placement's other frames).
    assert events["facility_a"] == [("referrals", "pending"), ("referrals", "accepted")]
    assert events["facility_b"] == []
    # The court sees status changes only: no referral events, no facility ids.
    assert events["court"] == [("court", "open"), ("court", "accepted")]
    for frame in got["court"]:
        assert set(frame["data"]) == {"kind", "placement_id", "reference", "status", "court_id"}
    assert events["other_court"] == []
    for fs in got.values():
        for frame in fs:
            assert CANARY not in str(frame)


async def test_viewers_and_courts_cannot_subscribe_to_placement_details(world: World) -> None:
    for who, topic in (
        ("viewer", "referrals"),
        ("viewer", "court"),
        ("court", "referrals"),
        ("court", "placements"),
        ("facility_a", "placements"),
    ):
        with pytest.raises(PermissionError, match="not allowed"):
            await subscribe(world, who, [topic])


async def test_a_facility_never_hears_of_another_facilitys_referral(world: World) -> None:
    facility_a = await subscribe(world, "facility_a", ["referrals"])
    placement = await world.create()
    ref_a, ref_b = await world.refer(placement["id"], "a1", "b1")
    await world.call(
        "facility_b", "POST", f"/api/v1/referrals/{ref_b}/decline", json={"reason": "no_bed"}
    )
    got = await frames(facility_a)
    await facility_a.close()
    assert got, "its own referral's frame arrives"
    for frame in got:
        assert frame["data"]["referral_id"] == ref_a
        assert frame["data"]["facility_id"] == world.ids["facility_a"]
        assert str(world.ids["facility_b"]) not in str(frame["data"].get("facility_ids", ""))
