"""Supervisors and their region's placements: the list, the pages, recording and moving a
placement, the escalation ladder's supervisor rung (to the region's supervisors, or to the
administrators when it has none) and acknowledging it, and the live frames."""

from __future__ import annotations

import html as htmllib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest

from bedboard import regions, users
from bedboard.auth import Role
from bedboard.notify import occasions
from bedboard.placements import escalation
from bedboard.regions import RegionIn
from bedboard.users import UserPatch
from tests.conftest import login
from tests.placements.conftest import World, add_supervisors

ZONE = ZoneInfo("America/Chicago")
H = timedelta(hours=1)
BOONE, COLE, GREENE = "29019", "29051", "29077"  # Greene: in no region here


@pytest.fixture
async def world(world: World, make_user: Any, make_token: Any) -> World:
    return await add_supervisors(world, make_user, make_token)


async def _in(world: World, county: str, **overrides: Any) -> dict[str, Any]:
    return await world.create(county_fips=county, **overrides)


# --------------------------------------------------------------------------- seeing


async def test_a_supervisor_lists_their_regions_placements_and_not_anothers(
    world: World,
) -> None:
    boone, cole = await _in(world, BOONE), await _in(world, COLE)
    await _in(world, GREENE)
    for who, mine, theirs in (
        ("supervisor", boone, cole),
        ("other_supervisor", cole, boone),
    ):
        listed = await (await world.call(who, "GET", "/api/v1/placements")).json()
        assert [p["id"] for p in listed["items"]] == [mine["id"]], who
        assert (await world.call(who, "GET", f"/api/v1/placements/{mine['id']}")).status == 200
        other = await world.call(who, "GET", f"/api/v1/placements/{theirs['id']}")
        missing = await world.call(who, "GET", "/api/v1/placements/987654")
        assert other.status == missing.status == 404
        assert (await other.json())["detail"] == (await missing.json())["detail"]
        timeline = await world.call(who, "GET", f"/api/v1/placements/{mine['id']}/timeline")
        assert timeline.status == 200
    everyone = await (await world.call("liaison", "GET", "/api/v1/placements")).json()
    assert len(everyone["items"]) == 3


async def test_a_county_joining_the_region_brings_its_placements_at_once(world: World) -> None:
    cole = await _in(world, COLE)
    url = f"/api/v1/placements/{cole['id']}"
    assert (await world.call("supervisor", "GET", url)).status == 404
    region_id = world.ids["region_other_supervisor"]
    await regions.update_region(world.conn, region_id, RegionIn(name="Cole region (test)"))
    await regions.update_region(
        world.conn,
        world.ids["region_supervisor"],
        RegionIn(name="Boone region (test)", counties=[BOONE, COLE]),
    )
    assert (await world.call("supervisor", "GET", url)).status == 200


async def test_the_supervisors_pages_show_their_region_only(
    world: World, client: Any, make_user: Any
) -> None:
    boone, cole = await _in(world, BOONE), await _in(world, COLE)
    lead = await make_user(Role.SUPERVISOR, region_id=world.ids["region_supervisor"])
    await login(client, lead.email)
    home = htmllib.unescape(await (await client.get("/")).text())
    assert "Open placements in Boone region (test)" in home
    assert boone["reference"] in home and cole["reference"] not in home
    listing = htmllib.unescape(await (await client.get("/placements")).text())
    assert "Placements in Boone region (test)" in listing
    assert boone["reference"] in listing and cole["reference"] not in listing
    county_filter = listing.split('name="county"', 1)[1].split("</select>", 1)[0]
    assert ">Boone<" in county_filter and ">Cole<" not in county_filter
    assert (await client.get(f"/placements/{boone['id']}")).status == 200
    assert (await client.get(f"/placements/{cole['id']}")).status == 404
    form = htmllib.unescape(await (await client.get("/placements/new")).text())
    county_choice = form.split('name="county_fips"', 1)[1].split("</select>", 1)[0]
    assert ">Boone<" in county_choice and ">Cole<" not in county_choice
    assert (await client.get("/court")).status == 403  # the case lookup reaches every region


# --------------------------------------------------------------------------- acting


async def test_a_supervisor_records_in_their_region_and_becomes_its_liaison(
    world: World,
) -> None:
    made = await world.call("supervisor", "POST", "/api/v1/placements", json=world.placement_body())
    assert made.status == 201, await made.text()
    assert (await made.json())["liaison_id"] == world.ids["user_supervisor"]
    elsewhere = await world.call(
        "supervisor", "POST", "/api/v1/placements", json=world.placement_body(county_fips=COLE)
    )
    assert elsewhere.status == 403
    reason = await world.conn.fetchval(
        "SELECT detail->>'reason' FROM audit_log WHERE outcome = 'denied' ORDER BY id DESC"
    )
    assert reason == "the county is not in your region"
    assert await world.conn.fetchval("SELECT count(*) FROM placements") == 1


async def test_a_supervisor_cannot_move_a_placement_out_of_their_region(world: World) -> None:
    boone = await _in(world, BOONE)
    url = f"/api/v1/placements/{boone['id']}"
    moved = await world.call("supervisor", "PATCH", url, json={"county_fips": COLE})
    assert moved.status == 403
    assert (
        await world.conn.fetchval("SELECT county_fips FROM placements WHERE id = $1", boone["id"])
        == BOONE
    )
    edited = await world.call(
        "supervisor", "PATCH", url, json={"county_fips": BOONE, "requesting_officer": "Sgt. B"}
    )
    assert edited.status == 200, await edited.text()
    by_liaison = await world.call("liaison", "PATCH", url, json={"county_fips": COLE})
    assert by_liaison.status == 200  # liaisons work everywhere
    assert (await world.call("supervisor", "GET", url)).status == 404


async def test_a_supervisor_refers_and_answers_for_their_regions_placement(world: World) -> None:
    boone = await _in(world, BOONE)
    refer = f"/api/v1/placements/{boone['id']}/referrals"
    made = await world.call("supervisor", "POST", refer, json={"unit_ids": [world.ids["a1"]]})
    assert made.status == 201, await made.text()
    (rid,) = (await made.json())["ids"]
    other = await world.call("other_supervisor", "POST", f"/api/v1/referrals/{rid}/acknowledge")
    assert other.status == 404
    mine = await world.call("supervisor", "POST", f"/api/v1/referrals/{rid}/acknowledge")
    assert mine.status == 200, await mine.text()


# --------------------------------------------------------------------------- the ladder


async def _deliveries(conn: Any) -> set[tuple[str, int | None]]:
    rows = await conn.fetch(
        "SELECT channel, user_id FROM deliveries WHERE event = 'escalation' ORDER BY id"
    )
    return {(r["channel"], r["user_id"]) for r in rows}


async def _supervisor_rung(world: World, county: str) -> tuple[dict[str, Any], int]:
    """A placement in ``county`` with its T-24 h rung (the supervisor's) raised and
    enqueued; its escalation id."""
    start = datetime.now(UTC).replace(microsecond=0) - H
    placement = await _in(world, county, detention_start=start.isoformat())
    at = start + 96 * H - 24 * H
    (raised,) = await escalation.run(world.conn, at)
    assert raised.audiences == ["supervisor"]
    await occasions.escalations(world.conn, [raised], now=at, zone=ZONE, on_call_email=None)
    return placement, raised.escalation_id


async def test_the_supervisor_rung_reaches_the_supervisor_of_the_placements_region_only(
    world: World,
) -> None:
    await _supervisor_rung(world, BOONE)
    lead = world.ids["user_supervisor"]
    assert await _deliveries(world.conn) == {("in_app", lead), ("email", lead)}


async def test_the_other_regions_supervisor_gets_their_own_placements_rung(
    world: World,
) -> None:
    await _supervisor_rung(world, COLE)
    lead = world.ids["user_other_supervisor"]
    assert await _deliveries(world.conn) == {("in_app", lead), ("email", lead)}


async def test_a_county_in_no_region_sends_the_supervisor_rung_to_the_administrators(
    world: World,
) -> None:
    await _supervisor_rung(world, GREENE)
    admin = world.ids["user_admin"]
    assert await _deliveries(world.conn) == {("in_app", admin), ("email", admin)}


async def test_a_region_without_an_active_supervisor_falls_back_to_the_administrators(
    world: World,
) -> None:
    await users.update_user(world.conn, world.ids["user_supervisor"], UserPatch(disabled=True))
    await _supervisor_rung(world, BOONE)
    admin = world.ids["user_admin"]
    assert await _deliveries(world.conn) == {("in_app", admin), ("email", admin)}


async def test_a_supervisors_own_choice_of_channels_is_kept(world: World, client: Any) -> None:
    headers = world.headers["supervisor"]
    resp = await client.put(
        "/api/v1/me/notification-preferences",
        json={"channels": {"escalation": ["in_app"]}},
        headers=headers,
    )
    assert resp.status == 200, await resp.text()
    await _supervisor_rung(world, BOONE)
    assert await _deliveries(world.conn) == {("in_app", world.ids["user_supervisor"])}


async def test_the_regions_supervisor_acknowledges_the_rung_and_another_region_cannot(
    world: World,
) -> None:
    placement, eid = await _supervisor_rung(world, BOONE)
    listed = await world.call(
        "supervisor", "GET", f"/api/v1/placements/{placement['id']}/escalations"
    )
    assert listed.status == 200 and len((await listed.json())["items"]) == 1
    ack = f"/api/v1/escalations/{eid}/acknowledge"
    assert (await world.call("other_supervisor", "POST", ack)).status == 404
    done = await world.call("supervisor", "POST", ack)
    assert done.status == 200, await done.text()
    assert (await done.json())["acknowledged_by"] == world.ids["user_supervisor"]


# --------------------------------------------------------------------------- live frames


async def test_placement_and_referral_frames_carry_the_county_supervisors_are_kept_to(
    world: World,
) -> None:
    boone = await _in(world, BOONE)
    await world.refer(boone["id"], "a1")
    rows = await world.conn.fetch(
        "SELECT topic, payload FROM board_outbox WHERE topic IN ('placements', 'referrals')"
    )
    assert {r["topic"] for r in rows} == {"placements", "referrals"}
    assert all(r["payload"]["county_fips"] == BOONE for r in rows)


async def test_the_regions_supervisor_acknowledges_the_rung_on_the_placement_page(
    world: World, client: Any, make_user: Any
) -> None:
    placement, eid = await _supervisor_rung(world, BOONE)
    outsider = await make_user(Role.SUPERVISOR, region_id=world.ids["region_other_supervisor"])
    session = await login(client, outsider.email)
    refused = await client.post(
        f"/escalations/{eid}/acknowledge", data={"csrf_token": session.csrf}
    )
    assert refused.status == 404
    client.session.cookie_jar.clear()
    lead = await make_user(Role.SUPERVISOR, region_id=world.ids["region_supervisor"])
    session = await login(client, lead.email)
    page = htmllib.unescape(await (await client.get(f"/placements/{placement['id']}")).text())
    assert "to the region's supervisor" in page and ">Acknowledge</button>" in page
    done = await client.post(
        f"/escalations/{eid}/acknowledge",
        data={"csrf_token": session.csrf},
        allow_redirects=False,
    )
    assert done.status == 303
    assert "Escalation acknowledged." in unquote(done.headers["Location"])
    assert (
        await world.conn.fetchval("SELECT acknowledged_by FROM escalations WHERE id = $1", eid)
        == lead.id
    )
