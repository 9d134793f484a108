"""``GET /api/v1/board`` is encoded once per position: the same bytes for everyone asking
at the same seq, directory version and second, and never an out-of-date board."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bedboard import board, census, facilities
from bedboard.auth import Role
from bedboard.context import BOARD_CACHE


@pytest.fixture
async def viewer(make_user: Any, make_token: Any) -> dict[str, str]:
    user = await make_user(Role.VIEWER)
    return {"Authorization": f"Bearer {await make_token(user.id)}"}


def report(available: int) -> census.CensusReport:
    return census.CensusReport(as_of=datetime.now(UTC) - timedelta(minutes=1), available=available)


async def get_board(client: Any, headers: dict[str, str]) -> Any:
    resp = await client.get("/api/v1/board", headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_clients_asking_at_the_same_position_share_one_encoding(
    client: Any, viewer: dict[str, str], make_facility: Any, make_unit: Any
) -> None:
    await make_unit((await make_facility()).id)
    cache = client.app[BOARD_CACHE]
    bodies = await asyncio.gather(*(client.get("/api/v1/board", headers=viewer) for _ in range(8)))
    texts = {await r.read() for r in bodies}
    assert all(r.status == 200 for r in bodies)
    # The same second for all of them, almost always; a second boundary may add one.
    assert cache.encodes <= 2
    assert len(texts) <= 2


async def test_a_census_change_is_in_the_next_answer(
    client: Any, conn: Any, viewer: dict[str, str], make_facility: Any, make_unit: Any
) -> None:
    unit = await make_unit((await make_facility()).id)
    before = await get_board(client, viewer)
    await census.apply(conn, [(unit.id, report(7))], census.Source("api"))
    after = await get_board(client, viewer)
    assert after["seq"] == before["seq"] + 1
    (shown,) = [u for f in after["facilities"] for u in f["units"] if u["id"] == unit.id]
    assert shown["available"] == 7


async def test_a_directory_change_outside_the_outbox_is_in_the_next_answer(
    client: Any, conn: Any, viewer: dict[str, str], make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility()
    unit = await make_unit(facility.id)
    before = await get_board(client, viewer)
    assert unit.id in {u["id"] for f in before["facilities"] for u in f["units"]}
    await facilities.update_unit(conn, unit.id, facilities.UnitPatch(active=False))
    after = await get_board(client, viewer)
    assert after["seq"] == before["seq"]  # nothing reached the outbox
    assert unit.id not in {u["id"] for f in after["facilities"] for u in f["units"]}


async def test_the_cached_board_equals_a_fresh_snapshot(
    client: Any, conn: Any, viewer: dict[str, str], make_facility: Any, make_unit: Any
) -> None:
    unit = await make_unit((await make_facility()).id)
    await census.apply(conn, [(unit.id, report(3))], census.Source("api"))
    served = await get_board(client, viewer)
    again = await get_board(client, viewer)
    fresh = (await board.snapshot(conn)).model_dump(mode="json")
    assert served["facilities"] == fresh["facilities"] == again["facilities"]
    assert served["seq"] == fresh["seq"]


async def test_the_encoded_board_is_the_board_model_byte_for_byte(
    conn: Any, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility()
    await make_facility()  # no units
    reported = await make_unit(facility.id, population="adolescent")
    await make_unit(facility.id)  # never reported
    await census.apply(conn, [(reported.id, report(2))], census.Source("api"))
    now = await conn.fetchval("SELECT now()")
    body, _ = await board.encoded_snapshot(conn, now=now)
    validated = board.Board.model_validate_json(body)  # every value of its field's type
    assert validated.model_dump_json(warnings="error").encode() == body
    unit = next(u for f in validated.facilities for u in f.units if u.id == reported.id)
    assert unit.population is board.Population.ADOLESCENT and unit.free == 2


async def test_the_pages_board_is_the_apis_board(
    conn: Any, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility()
    unit = await make_unit(facility.id)
    await census.apply(conn, [(unit.id, report(3))], census.Source("api"))
    now = await conn.fetchval("SELECT now()")
    body, _ = await board.encoded_snapshot(conn, now=now)
    assert (await board.snapshot(conn, now=now)).model_dump_json().encode() == body


async def test_a_cached_board_lasts_until_a_unit_would_turn_late_and_never_long(
    conn: Any, make_facility: Any, make_unit: Any
) -> None:
    facility = await make_facility()  # the default cadence
    unit = await make_unit(facility.id)
    await census.apply(conn, [(unit.id, report(2))], census.Source("api"))
    now = await conn.fetchval("SELECT now()")
    _, until = await board.encoded_snapshot(conn, now=now)
    assert until == now + board.BOARD_CACHE_MAX_AGE
    cadence = timedelta(minutes=facility.report_cadence_minutes)
    # Another unit reported just under one cadence ago: it turns late in two seconds.
    other = await make_unit(facility.id)
    as_of = now - cadence + timedelta(seconds=2)
    await census.apply(
        conn, [(other.id, census.CensusReport(as_of=as_of, available=1))], census.Source("api")
    )
    _, until = await board.encoded_snapshot(conn, now=now)
    assert until == as_of + cadence
