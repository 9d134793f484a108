"""Two instances on one database: every change reaches the clients of both, in seq order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bedboard.app import create_app
from bedboard.context import LISTENER
from bedboard.settings import Settings
from tests.board.test_live import board_setup, collect, stamp, subscribe

__all__ = ["board_setup"]  # the fixture, shared with test_live


@pytest.fixture
async def second(aiohttp_client: Any, settings: Settings) -> Any:
    """Instance B: its own app, pool, LISTEN connection and hub, on instance A's database."""
    return await aiohttp_client(create_app(settings))


async def test_a_put_on_one_instance_reaches_clients_on_both_in_the_same_order(
    client: Any, second: Any, board_setup: Any, conn: Any
) -> None:
    start = (await (await client.get("/api/v1/board", headers=board_setup.viewer)).json())["seq"]
    sockets = [
        await instance.ws_connect("/ws", headers=board_setup.viewer)
        for instance in (client, client, second, second)
    ]
    for ws in sockets:
        assert (await subscribe(ws, start))["type"] == "subscribed"
    listener_b = second.app[LISTENER]
    total = 30
    for i in range(total):
        unit = board_setup.units[i % 3]
        writer = client if i % 4 else second  # most writes on A, some on B
        resp = await writer.put(
            f"/api/v1/units/{unit.id}/census",
            json={"as_of": stamp(i), "available": i % 7},
            headers=board_setup.staff,
        )
        assert resp.status == 200, await resp.text()
        if i in (7, 19):  # B's LISTEN connection dies under traffic
            await listener_b.connected.wait()
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", listener_b.backend_pid)
    received = await asyncio.gather(*(collect(ws, total) for ws in sockets))
    expected = list(range(start + 1, start + total + 1))
    for frames in received:
        assert [f["seq"] for f in frames] == expected
    assert all(frames == received[0] for frames in received)
    assert listener_b.reconnects >= 1
    for ws in sockets:
        await ws.close()
