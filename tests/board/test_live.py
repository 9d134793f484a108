"""Live updates: outbox order, LISTEN reconnects, slow clients, database restarts."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
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
    client: Any, board_setup: Any, conn: Any, aiohttp_client: Any, settings: Settings
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
    # An instance started after those changes remembers none of them: it reads the outbox.
    later = await aiohttp_client(create_app(settings))
    ws = await later.ws_connect("/ws", headers=board_setup.viewer)
    await subscribe(ws, 0)  # subscribed
    assert (await ws.receive_json(timeout=WAIT_S))["type"] == "snapshot_required"
    await ws.close()


async def test_a_client_resuming_from_a_remembered_position_catches_up_from_memory(
    client: Any, board_setup: Any, conn: Any
) -> None:
    start = (await (await client.get("/api/v1/board", headers=board_setup.viewer)).json())["seq"]
    for i, unit in enumerate(board_setup.units):
        resp = await client.put(
            f"/api/v1/units/{unit.id}/census",
            json={"as_of": stamp(i), "available": i},
            headers=board_setup.staff,
        )
        assert resp.status == 200
    await client.app[LISTENER].drain()  # the instance has published them
    # The outbox no longer has them: only the instance's memory can answer.
    await conn.execute("DELETE FROM board_outbox")
    ws = await client.ws_connect("/ws", headers=board_setup.viewer)
    assert (await subscribe(ws, start))["type"] == "subscribed"
    frames = await collect(ws, 3)
    assert [f["seq"] for f in frames] == [start + 1, start + 2, start + 3]
    assert [f["data"]["unit"]["available"] for f in frames] == [0, 1, 2]
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


# --------------------------------------------------------------------------- direct fan-out


async def raw_client(client: Any, headers: dict[str, str]) -> Any:
    """A websockets client on a socket with a tiny receive buffer, which reads only when
    told: a client that stops reading backs up into the server's transport at once."""
    url = str(client.make_url("/ws")).replace("http://", "ws://")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((urlsplit(url).hostname, urlsplit(url).port))
    return await websockets.connect(
        url, sock=sock, additional_headers=headers, max_size=None, max_queue=1
    )


async def until(condition: Callable[[], bool], seconds: float = WAIT_S) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached in time")


async def closed_with(ws: Any) -> int | None:
    """Read a websockets client until the server closes it; the code it sent."""

    async def read_until_closed() -> None:
        while True:
            await asyncio.wait_for(ws.recv(), WAIT_S)

    with pytest.raises(websockets.ConnectionClosed) as closed:
        await read_until_closed()
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


async def next_change(ws: Any, quiet_s: float) -> dict[str, Any] | None:
    """The next change frame (heartbeats skipped), or None after ``quiet_s`` of nothing."""
    try:
        while True:
            message: dict[str, Any] = await ws.receive_json(timeout=quiet_s)
            if "topic" in message:
                return message
    except TimeoutError:
        return None


async def append_to_outbox(dsn: str, count: int, padding: int = 0) -> list[int]:
    from bedboard import database

    writer = await database.connect(dsn)
    try:
        async with writer.transaction():
            events = [("board", {"kind": "test", "padding": "x" * padding})] * count
            return await outbox.append(writer, events)
    finally:
        await writer.close()


async def choked_peer(hub: live.Hub, label_part: str) -> live.Peer:
    """The server side of a raw client's connection, with a tiny kernel send buffer too:
    what the client does not read piles up in the server's transport within kilobytes."""
    await until(lambda: any(label_part in p.label for p in hub.peers))
    (peer,) = [p for p in hub.peers if label_part in p.label]
    peer.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    return peer


async def test_a_client_that_stops_reading_is_cut_by_its_unsent_bytes_and_the_others_never_wait(
    client: Any, board_setup: Any, make_user: Any, make_token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "SUBSCRIBER_BUFFER_BYTES", 64 * 1024)
    hub = client.app[HUB]
    base = hub.last_seq
    fast = await client.ws_connect("/ws", headers=board_setup.viewer)
    await subscribe(fast, base)
    stalled = await make_user(Role.VIEWER, email="stalled@example.org")
    slow = await raw_client(client, {"Authorization": f"Bearer {await make_token(stalled.id)}"})
    slow_peer = await choked_peer(hub, "stalled@")
    await slow.send(json.dumps({"type": "subscribe", "topics": ["board"], "since": base}))
    await until(lambda: hub.subscriber_count == 2)
    await until(lambda: slow_peer.pending is None)  # caught up: frames now go straight out

    total = 600
    payload = {"kind": "test", "padding": "x" * 2000}
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
    assert slow_peer.cut and hub.clients_cut == 1
    assert hub.subscriber_count == 1  # the slow one is no longer written to
    assert await closed_with(slow) == live.RESYNC_CLOSE_CODE
    await fast.close()


@pytest.mark.parametrize("backlog", [600, 1200], ids=["held-then-flushed", "caught-up-twice"])
async def test_changes_committed_during_a_catch_up_arrive_once_and_in_order(
    client: Any, board_setup: Any, db_dsn: str, backlog: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client stops reading mid catch-up, so the catch-up waits on its socket while
    new changes are published live; they are held, then sent after the catch-up without
    repeating what the catch-up itself read (with more than one catch-up batch, the
    second batch reads them from the outbox too)."""
    monkeypatch.setattr(live, "RECENT_CHANGES", 0)  # the hub remembers none: read the outbox
    hub = client.app[HUB]
    start = (await (await client.get("/api/v1/board", headers=board_setup.viewer)).json())["seq"]
    await append_to_outbox(db_dsn, backlog, padding=2000)
    await until(lambda: hub.last_seq == start + backlog)

    ws = await raw_client(client, board_setup.viewer)
    peer = await choked_peer(hub, "@")
    await ws.send(json.dumps({"type": "subscribe", "topics": ["board"], "since": start}))
    await until(lambda: peer.pending is not None)
    live_count = 40
    await append_to_outbox(db_dsn, live_count)
    await until(lambda: hub.last_seq == start + backlog + live_count)
    assert peer.pending is not None and len(peer.pending) == live_count  # held, not written

    seqs: list[int] = []
    async with asyncio.timeout(WAIT_S * 3):
        while len(seqs) < backlog + live_count:
            message = json.loads(await ws.recv())
            if "seq" in message and "topic" in message:
                seqs.append(message["seq"])
    assert seqs == list(range(start + 1, start + backlog + live_count + 1))
    assert peer.pending is None and peer.last_sent == start + backlog + live_count
    (after,) = await append_to_outbox(db_dsn, 1)  # and from now on straight to the socket
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        if "seq" in message and "topic" in message:
            break
    assert message["seq"] == after
    await ws.close()


async def test_subscribing_again_on_the_same_socket_replaces_the_subscription_without_repeats(
    client: Any, board_setup: Any, db_dsn: str
) -> None:
    hub = client.app[HUB]
    start = (await (await client.get("/api/v1/board", headers=board_setup.viewer)).json())["seq"]
    ws = await client.ws_connect("/ws", headers=board_setup.viewer)
    await subscribe(ws, start)
    first = await append_to_outbox(db_dsn, 3)
    assert [f["seq"] for f in await collect(ws, 3)] == first
    # Resume from the first of them: the other two come again (catch-up), then new ones once.
    assert (await subscribe(ws, first[0]))["type"] == "subscribed"
    second = await append_to_outbox(db_dsn, 2)
    assert [f["seq"] for f in await collect(ws, 4)] == first[1:] + second
    assert hub.subscriber_count == 1
    # Subscribing with no position leaves no subscription behind.
    assert (await subscribe(ws, None))["type"] == "snapshot_required"
    assert hub.subscriber_count == 0 and len(hub.peers) == 1
    await append_to_outbox(db_dsn, 1)
    assert await next_change(ws, quiet_s=0.5) is None
    await ws.close()
    await until(lambda: not hub.peers)


async def test_a_client_that_vanishes_is_skipped_and_leaves_the_hub(
    client: Any, board_setup: Any
) -> None:
    hub = client.app[HUB]
    base = hub.last_seq
    fast = await client.ws_connect("/ws", headers=board_setup.viewer)
    await subscribe(fast, base)
    gone = await raw_client(client, board_setup.viewer)
    await gone.send(json.dumps({"type": "subscribe", "topics": ["board"], "since": base}))
    await until(lambda: hub.subscriber_count == 2)
    gone.transport.abort()  # no close handshake: the TCP connection just goes
    for i in range(50):
        hub.publish(Change(base + 1 + i, datetime.now(UTC), "board", {"kind": "test"}))
        await asyncio.sleep(0)
    assert [f["seq"] for f in await collect(fast, 50)] == list(range(base + 1, base + 51))
    await until(lambda: len(hub.peers) == 1 and hub.subscriber_count == 1)
    assert hub.clients_cut == 0
    await fast.close()


async def test_the_live_tick_sends_one_heartbeat_to_every_connection_subscribed_or_not(
    client: Any, board_setup: Any
) -> None:
    from bedboard.context import POOL
    from bedboard.websocket import run_ticks

    hub = client.app[HUB]
    subscribed = await client.ws_connect("/ws", headers=board_setup.viewer)
    await subscribe(subscribed, hub.last_seq)
    idle = await client.ws_connect("/ws", headers=board_setup.staff)
    await until(lambda: len(hub.peers) == 2)
    ticks = asyncio.create_task(run_ticks(hub, client.app[POOL], heartbeat_s=0.05))
    try:
        for ws in (subscribed, idle):
            beats = [await ws.receive_json(timeout=WAIT_S) for _ in range(2)]
            assert beats == [{"type": "heartbeat", "seq": hub.last_seq}] * 2
    finally:
        ticks.cancel()
        await asyncio.gather(ticks, return_exceptions=True)
    await subscribed.close()
    await idle.close()


async def test_the_live_tick_closes_revoked_tokens_and_ended_sessions_with_4401(
    client: Any,
    board_setup: Any,
    make_user: Any,
    make_token: Any,
    conn: Any,
    sign_in: Any,
) -> None:
    from bedboard.context import POOL
    from bedboard.websocket import AUTH_CLOSE_CODE, run_ticks

    hub = client.app[HUB]
    revoked_user = await make_user(Role.VIEWER, email="revoked@example.org")
    revoked_token = await make_token(revoked_user.id)
    revoked = await client.ws_connect("/ws", headers={"Authorization": f"Bearer {revoked_token}"})
    kept = await client.ws_connect("/ws", headers=board_setup.viewer)
    await subscribe(kept, hub.last_seq)
    liaison = await make_user(Role.LIAISON, email="liaison@example.org")
    session = await sign_in(liaison)
    by_cookie = await client.ws_connect("/ws")  # the client's cookie jar holds the session
    await until(lambda: len(hub.peers) == 3)
    assert {p.credential.via for p in hub.peers} == {"token", "session"}

    await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1", revoked_user.id
    )
    resp = await client.post("/api/v1/logout", headers=session.headers())
    assert resp.status in (200, 204)
    ticks = asyncio.create_task(run_ticks(hub, client.app[POOL], heartbeat_s=0.05, recheck_every=2))
    try:
        for ws in (revoked, by_cookie):
            while (message := await ws.receive(timeout=WAIT_S)).type.name == "TEXT":
                assert json.loads(message.data)["type"] == "heartbeat"
            assert ws.close_code == AUTH_CLOSE_CODE
        await until(lambda: len(hub.peers) == 1)
        # The one still valid keeps its socket and its heartbeats through more re-checks.
        for _ in range(5):
            assert (await kept.receive_json(timeout=WAIT_S))["type"] == "heartbeat"
        assert not kept.closed
    finally:
        ticks.cancel()
        await asyncio.gather(ticks, return_exceptions=True)
    await kept.close()


async def test_the_credential_recheck_is_one_query_and_an_outage_is_not_a_sign_out(
    proxied_app: Any,
) -> None:
    from bedboard import auth, database, users
    from bedboard.context import POOL
    from bedboard.websocket import recheck_credentials

    client, proxy, direct_dsn = proxied_app
    setup = await database.connect(direct_dsn)
    try:
        tokens = []
        for n in range(3):
            viewer = await users.create_user(
                setup, users.UserIn(email=f"viewer{n}@example.org", role="viewer")
            )
            tokens.append((await auth.create_token(setup, viewer.id, "t")).token)
    finally:
        await setup.close()
    hub = client.app[HUB]
    sockets = [
        await client.ws_connect("/ws", headers={"Authorization": f"Bearer {t}"}) for t in tokens
    ]
    await until(lambda: len(hub.peers) == 3)
    pool = client.app[POOL]
    assert await recheck_credentials(hub, pool) == 0

    await proxy.cut()
    try:
        assert await recheck_credentials(hub, pool) == 0  # the database is away, not the users
    finally:
        await proxy.restore()
    assert not any(ws.closed for ws in sockets) and len(hub.peers) == 3
    for ws in sockets:
        await ws.close()


async def test_the_hub_remembers_only_its_newest_changes_and_older_positions_read_the_outbox(
    client: Any, board_setup: Any, db_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "RECENT_CHANGES", 4)
    hub = client.app[HUB]
    start = hub.last_seq
    assert hub.remembers(start)
    seqs = await append_to_outbox(db_dsn, 10)
    await until(lambda: hub.last_seq == seqs[-1])
    assert not hub.remembers(start)  # forgotten: a client there catches up from the outbox
    assert hub.remembers(seqs[-4]) and not hub.remembers(seqs[-1] + 1)
    ws = await client.ws_connect("/ws", headers=board_setup.viewer)
    assert (await subscribe(ws, start))["type"] == "subscribed"
    assert [f["seq"] for f in await collect(ws, 10)] == seqs
    await ws.close()
