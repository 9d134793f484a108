"""Where the person waits and the officer custody: moves make a history, admission ends
both, the page shows "officer on scene N h", and bad times are refused next to the form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bedboard import auth
from bedboard.auth import Role
from bedboard.placements import waiting
from tests.conftest import login
from tests.placements.conftest import World

CENTRAL = ZoneInfo("America/Chicago")


def _local(at: datetime) -> str:
    return at.astimezone(CENTRAL).strftime("%Y-%m-%dT%H:%M")


async def _principal(conn: Any, world: World) -> Any:
    return await auth.principal_for_user(conn, world.ids["user_liaison"])


async def test_a_move_ends_the_previous_place_and_admission_ends_the_wait_and_custody(
    world: World, conn: Any
) -> None:
    placement = await world.create()
    pid = placement["id"]
    liaison = await _principal(conn, world)
    now = await conn.fetchval("SELECT now()")
    ed = waiting.WaitIn(
        place=waiting.Place.EMERGENCY_DEPARTMENT,
        facility_id=world.ids["facility_a"],
        since=now - timedelta(hours=1, minutes=30),
    )
    await waiting.move(conn, pid, ed, liaison)
    await waiting.start_custody(
        conn,
        pid,
        waiting.CustodyIn(agency="Boone County Sheriff", since=now - timedelta(hours=1)),
        liaison,
    )
    moved_at = now - timedelta(minutes=20)
    await waiting.move(conn, pid, waiting.WaitIn(place=waiting.Place.JAIL, since=moved_at), liaison)
    current, first = await waiting.waits(conn, pid)
    assert (current.place, current.ended_at) == (waiting.Place.JAIL, None)
    assert (first.facility_name, first.ended_at) == ("Hillcrest Behavioral", moved_at)
    custody = await waiting.custody(conn, pid)
    assert round(custody.hours(now) or 0, 2) == 1.0

    [referral] = await world.refer(pid, "a1")
    for path, body in (
        (f"/api/v1/referrals/{referral}/accept", {"hold_minutes": 120}),
        (f"/api/v1/placements/{pid}/transition", {"to": "in_transit"}),
        (f"/api/v1/placements/{pid}/transition", {"to": "admitted"}),
    ):
        who = "facility_a" if "accept" in path else "liaison"
        resp = await world.call(who, "POST", path, json=body)
        assert resp.status in (200, 201), await resp.text()
    current, _ = await waiting.waits(conn, pid)
    assert current.ended_at is not None
    assert (await waiting.custody(conn, pid)).ended_at is not None
    kinds = [
        r["kind"]
        for r in await conn.fetch(
            "SELECT kind FROM placement_events WHERE placement_id = $1 ORDER BY id", pid
        )
    ]
    assert [k for k in kinds if k in ("waiting_moved", "custody_started")] == [
        "waiting_moved",
        "custody_started",
        "waiting_moved",
    ]


async def test_the_page_records_a_place_and_an_officer_and_shows_the_hours(
    world: World, make_user: Any, conn: Any
) -> None:
    placement = await world.create()
    pid = placement["id"]
    liaison = await make_user(Role.LIAISON)
    session = await login(world.client, liaison.email)
    two_hours_ago = datetime.now(UTC) - timedelta(hours=1, minutes=59)
    resp = await world.client.post(
        f"/placements/{pid}/waiting",
        data={
            "csrf_token": session.csrf,
            "place": "police_station",
            "facility_id": "",
            "since": "",
        },
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    resp = await world.client.post(
        f"/placements/{pid}/custody",
        data={
            "csrf_token": session.csrf,
            "agency": "Columbia Police",
            "since": _local(two_hours_ago),
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    html = await (await world.client.get(f"/placements/{pid}")).text()
    assert "<strong>Police station</strong> since" in html
    assert "Officer on scene 2 h" in html and "Columbia Police" in html
    resp = await world.client.post(
        f"/placements/{pid}/custody/end", data={"csrf_token": session.csrf}, allow_redirects=False
    )
    assert resp.status == 303
    html = await (await world.client.get(f"/placements/{pid}")).text()
    assert "released" in html and "Officer on scene" in html  # the button to start again


async def test_a_time_in_the_future_is_refused_next_to_the_form(
    world: World, make_user: Any, conn: Any
) -> None:
    placement = await world.create()
    liaison = await make_user(Role.LIAISON)
    session = await login(world.client, liaison.email)
    later = datetime.now(UTC) + timedelta(hours=3)
    resp = await world.client.post(
        f"/placements/{placement['id']}/waiting",
        data={"csrf_token": session.csrf, "place": "jail", "since": _local(later)},
        allow_redirects=False,
    )
    assert resp.status == 303 and "wait_error=since" in resp.headers["Location"]
    html = await (await world.client.get(resp.headers["Location"])).text()
    assert "Enter a time between the detention start and now." in html
    assert await conn.fetchval("SELECT count(*) FROM placement_waits") == 0
    resp = await world.client.post(
        f"/placements/{placement['id']}/waiting",
        data={"csrf_token": session.csrf, "place": "the moon", "since": ""},
        allow_redirects=False,
    )
    assert "wait_error=place" in resp.headers["Location"]


async def test_facility_and_court_users_cannot_record_where_the_person_waits(
    world: World, make_user: Any, conn: Any
) -> None:
    placement = await world.create()
    for role, extra in (
        (Role.FACILITY, {"facility_ids": [world.ids["facility_a"]]}),
        (Role.COURT, {"court_id": world.ids["court"]}),
    ):
        user = await make_user(role, **extra)
        session = await login(world.client, user.email)
        resp = await world.client.post(
            f"/placements/{placement['id']}/waiting",
            data={"csrf_token": session.csrf, "place": "jail", "since": ""},
            allow_redirects=False,
        )
        assert resp.status in (403, 404), role
    assert await conn.fetchval("SELECT count(*) FROM placement_waits") == 0
