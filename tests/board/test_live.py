"""Live updates: outbox order, LISTEN reconnects, slow clients, database restarts."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import websockets

from bedboard import live, outbox
from bedboard.app import create_app
from bedboard.auth import Role
from bedboard.context import HUB, LISTENER
from bedboard.outbox import Change
from bedboard.settings import Settings
from tests.conftest import TEST_SECRET, drop_database
from tests.support.pgproxy import PgProxy

WAIT_S = 10.0


@pytest.fixture
async def board_setup(make_facility: Any, make_unit: Any, make_user: Any, make_token: Any) -> Any:
    facility = await make_facility()
    units = [await make_unit(facility.id) for _ in range(3)]
    staff = await make_user(Role.FACILITY, facility_ids=[facility.id])
    viewer = await make_user(Role.VIEWER)

    class S:
        pass

    s = S()
    s.facility, s.units = facility, units
    s.staff = {"Authorization": f"Bearer {await make_token(staff.id)}"}
    s.viewer = {"Authorization": f"Bearer {await make_token(viewer.id)}"}
    return s


def stamp(offset_s: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(minutes=30) + timedelta(seconds=offset_s)).isoformat()


async def subscribe(ws: Any, since: int | None, topics: list[str] | None = None) -> dict[str, Any]:
    await ws.send_json({"type": "subscribe", "topics": topics or ["board"], "since": since})
    reply: dict[str, Any] = await ws.receive_json(timeout=WAIT_S)
    return reply


async def collect(ws: Any, count: int) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while len(frames) < count:
        message = await ws.receive_json(timeout=WAIT_S)
        if "seq" in message and "topic" in message:
            frames.append(message)
    return frames


async def test_a_census_report_reaches_a_subscriber_with_its_seq(
    client: Any, board_setup: Any, conn: Any
) -> None:
    snapshot = await (await client.get("/api/v1/board", headers=board_setup.viewer)).json()
    ws = await client.ws_connect("/ws", headers=board_setup.viewer)
    assert (await subscribe(ws, snapshot["seq"]))["type"] == "subscribed"
    unit = board_setup.units[0]
    resp = await client.put(
        f"/api/v1/units/{unit.id}/census",
        json={"as_of": stamp(), "available": 3},
        headers=board_setup.staff,
    )
    assert resp.status == 200
    (frame,) = await collect(ws, 1)
    assert frame["seq"] == snapshot["seq"] + 1
    assert frame["topic"] == "board"
    assert frame["data"]["kind"] == "unit"
    assert frame["data"]["unit"]["id"] == unit.id and frame["data"]["unit"]["free"] == 3
    await ws.close()


async def test_subscribing_without_a_position_asks_for_a_snapshot(
    client: Any, board_setup: Any
) -> None:
    ws = await client.ws_connect("/ws", headers=board_setup.viewer)
    reply = await subscribe(ws, None)
    assert reply["type"] == "snapshot_required"
    await ws.send_json({"type": "subscribe", "topics": ["placements-of-everyone"], "since": 0})
    assert (await ws.receive_json(timeout=WAIT_S))["type"] == "error"
    await ws.close()


async def test_the_websocket_refuses_anonymous_and_foreign_origins(
    client: Any, board_setup: Any
) -> None:
    resp = await client.get("/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    assert resp.status == 401
    resp = await client.get(
        "/ws", headers={**board_setup.viewer, "Origin": "https://evil.example.org"}
    )
    assert resp.status == 403


async def test_a_client_resuming_from_an_old_seq_gets_every_missed_change(
    client: Any, board_setup: Any
) -> None:
    start = (await (await client.get("/api/v1/board", headers=board_setup.viewer)).json())["seq"]
    for i, unit in enumerate(board_setup.units):
        await client.put(
            f"/api/v1/units/{unit.id}/census",
            json={"as_of": stamp(i), "available": i},
            headers=board_setup.staff,
        )
    ws = await client.ws_connect("/ws", headers=board_setup.viewer)
    await subscribe(ws, start)
    frames = await collect(ws, 3)
    assert [f["seq"] for f in frames] == [start + 1, start + 2, start + 3]
    changes = await client.get(f"/api/v1/changes?since={start + 1}", headers=board_setup.viewer)
    assert [c["seq"] for c in (await changes.json())["changes"]] == [start + 2, start + 3]
    await ws.close()


async def test_changes_since_a_pruned_position_is_410(
    client: Any, board_setup: Any, conn: Any
) -> None:
    for i, unit in enumerate(board_setup.units):
        await client.put(
            f"/api/v1/units/{unit.id}/census",
            json={"as_of": stamp(i), "available": i},
            headers=board_setup.staff,
        )
    await conn.execute("DELETE FROM board_outbox WHERE seq < (SELECT max(seq) FROM board_outbox)")
    resp = await client.get("/api/v1/changes?since=0", headers=board_setup.viewer)
    assert resp.status == 410
    assert (await resp.json())["type"].endswith("/snapshot-required")
    ws = await client.ws_connect("/ws", headers=board_setup.viewer)
    await subscribe(ws, 0)  # subscribed
    assert (await ws.receive_json(timeout=WAIT_S))["type"] == "snapshot_required"
    await ws.close()


async def test_out_of_order_commits_still_reach_subscribers_in_seq_order(
    client: Any, board_setup: Any, db_dsn: str
) -> None:
    """Writer A takes its seq and waits; writer B commits meanwhile; both arrive, in order."""
    start = (await (await client.get("/api/v1/board", headers=board_setup.viewer)).json())["seq"]
    ws = await client.ws_connect("/ws", headers=board_setup.viewer)
    await subscribe(ws, start)

    from bedboard import database

    writer_a = await database.connect(db_dsn)
    tx = writer_a.transaction()
    await tx.start()
    (seq_a,) = await outbox.append(writer_a, [("board", {"kind": "test", "writer": "A"})])
    unit = board_setup.units[0]
    writer_b = asyncio.create_task(
        client.put(
            f"/api/v1/units/{unit.id}/census",
            json={"as_of": stamp(), "available": 2},
            headers=board_setup.staff,
        )
    )
    await asyncio.sleep(0.3)  # B is now waiting to commit behind A
    assert not writer_b.done()
    await tx.commit()
    await writer_a.close()
    assert (await writer_b).status == 200

    frames = await collect(ws, 2)
    assert [f["seq"] for f in frames] == [seq_a, seq_a + 1]
    assert frames[0]["data"]["writer"] == "A"
    assert frames[1]["data"]["unit"]["id"] == unit.id
    await ws.close()


async def test_killing_the_listen_connection_loses_no_change(
    client: Any, board_setup: Any, conn: Any
) -> None:
    start = (await (await client.get("/api/v1/board", headers=board_setup.viewer)).json())["seq"]
    ws = await client.ws_connect("/ws", headers=board_setup.viewer)
    await subscribe(ws, start)
    listener = client.app[LISTENER]
    total = 30
    for i in range(total):
        unit = board_setup.units[i % 3]
        resp = await client.put(
            f"/api/v1/units/{unit.id}/census",
            json={"as_of": stamp(i), "available": i % 7},
            headers=board_setup.staff,
        )
        assert resp.status == 200
        if i % 10 == 3:
            await listener.connected.wait()
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", listener.backend_pid)
    frames = await collect(ws, total)
    assert [f["seq"] for f in frames] == list(range(start + 1, start + total + 1))
    assert listener.reconnects >= 1
    await ws.close()


async def test_a_slow_client_is_cut_with_the_resync_code_while_a_fast_one_keeps_up(
    client: Any, board_setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "SUBSCRIBER_BUFFER_FRAMES", 32)
    hub = client.app[HUB]
    base = hub.last_seq
    url = str(client.make_url("/ws")).replace("http://", "ws://")
    token = board_setup.viewer["Authorization"]

    fast = await client.ws_connect("/ws", headers=board_setup.viewer)
    await subscribe(fast, base)
    # The slow client never reads, and its socket buffer is tiny.
    host, port = urlsplit(url).hostname, urlsplit(url).port
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    slow = await websockets.connect(
        url, sock=sock, additional_headers={"Authorization": token}, max_size=None, max_queue=1
    )
    await slow.send(json.dumps({"type": "subscribe", "topics": ["board"], "since": base}))
    await asyncio.sleep(0.2)

    total = 2000
    payload = {"kind": "test", "padding": "x" * 8000}
    received: list[int] = []

    async def read_fast() -> None:
        while len(received) < total:
            message = await fast.receive_json(timeout=WAIT_S)
            if "seq" in message:
                received.append(message["seq"])

    reader = asyncio.create_task(read_fast())
    for i in range(total):
        hub.publish(Change(base + 1 + i, datetime.now(UTC), "board", payload))
        if i % 8 == 0:
            await asyncio.sleep(0)
    await asyncio.wait_for(reader, WAIT_S * 3)
    assert received == list(range(base + 1, base + total + 1))
    assert hub.clients_cut >= 1

    async def read_until_closed() -> None:
        while True:
            await asyncio.wait_for(slow.recv(), WAIT_S)

    with pytest.raises(websockets.ConnectionClosed) as closed:
        await read_until_closed()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == live.RESYNC_CLOSE_CODE
    await fast.close()


@pytest.fixture
async def proxied_app(
    aiohttp_client: Any, pg_dsn: str, empty_db_factory: Any, tmp_path: Path
) -> Any:
    dsn = await empty_db_factory("bedboard_template")
    proxy = PgProxy(pg_dsn)
    await proxy.start()
    settings = Settings(
        database_url=proxy.dsn(urlsplit(dsn).path.lstrip("/")),
        data_dir=tmp_path,
        secret_key=TEST_SECRET,
    )
    client = await aiohttp_client(create_app(settings))
    yield client, proxy, dsn
    await proxy.close()
    await drop_database(pg_dsn, dsn)


async def test_a_database_restart_under_traffic_gives_503s_and_loses_nothing_acknowledged(
    proxied_app: Any,
) -> None:
    from bedboard import auth, database, facilities, users

    client, proxy, direct_dsn = proxied_app
    conn = await database.connect(direct_dsn)
    try:
        facility = await facilities.create_facility(conn, facilities.FacilityIn(
            name="Outage General", kind="general_hospital", county_fips="29019"))  # fmt: skip
        unit = await facilities.create_unit(conn, facilities.UnitIn(
            facility_id=facility.id, name="Adult", population="adult", licensed_beds=30))  # fmt: skip
        staff = await users.create_user(conn, users.UserIn(
            email="staff@example.org", role="facility", facility_ids=[facility.id]))  # fmt: skip
        headers = {
            "Authorization": f"Bearer {(await auth.create_token(conn, staff.id, 't')).token}"
        }
    finally:
        await conn.close()

    start = (await (await client.get("/api/v1/board", headers=headers)).json())["seq"]
    ws = await client.ws_connect("/ws", headers=headers)
    await subscribe(ws, start)

    acknowledged: list[int] = []
    statuses: list[int] = []
    for i in range(60):
        if i == 20:
            await proxy.cut()
        if i == 40:
            await proxy.restore()
        resp = await client.put(
            f"/api/v1/units/{unit.id}/census",
            json={"as_of": stamp(i), "available": i % 25},
            headers=headers,
        )
        statuses.append(resp.status)
        if resp.status == 200:
            acknowledged.append(i)
        else:
            assert resp.status == 503, await resp.text()
            assert resp.headers["Retry-After"]
        await asyncio.sleep(0.02)
    assert 503 in statuses and 500 not in statuses
    assert statuses[-1] == 200

    conn = await database.connect(direct_dsn)
    try:
        stored = await conn.fetch("SELECT available FROM census_history ORDER BY as_of")
    finally:
        await conn.close()
    assert [r["available"] for r in stored] == [i % 25 for i in acknowledged]
    frames = await collect(ws, len(acknowledged)) if not ws.closed else []
    if ws.closed:  # the websocket's own catch-up may have been cut: resume as a client would
        ws = await client.ws_connect("/ws", headers=headers)
        await subscribe(ws, start)
        frames = await collect(ws, len(acknowledged))
    assert [f["data"]["unit"]["available"] for f in frames] == [i % 25 for i in acknowledged]
    await ws.close()
