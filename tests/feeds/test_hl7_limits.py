"""No host may starve the HL7 listener: addresses no feed admits are refused at accept
time, one address may hold only a few connections, idle connections are closed, and
refusals stay visible in the log without flooding it. Old control ids are pruned."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import pkgutil
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import bedboard
from bedboard import scheduler
from bedboard.feeds import hl7, mllp
from tests.feeds.hl7_support import Peer, Site, adt, site_factory

__all__ = ["site_factory"]


async def _closed_without_answer(peer: Peer) -> bool:
    """The listener closed this connection: writing a message gets no ACK, only EOF."""
    try:
        await asyncio.wait_for(peer.send_raw(adt("A01", "X1", datetime.now(UTC))), timeout=30)
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        return True
    return False


async def test_an_address_no_feed_admits_is_refused_before_it_can_hold_a_connection(
    site_factory: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(mllp, "GATE_TTL_S", 0.0)
    site: Site = await site_factory(
        units=["4EAST"], config={"allowed_addresses": ["192.0.2.10"], "beds": {"4EAST": ["401^1"]}}
    )
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        peer = await Peer(site.port).connect()
        assert await _closed_without_answer(peer)
        await peer.close()
    refusals = [r for r in caplog.records if "refused a connection from 127.0.0.1" in r.message]
    assert len(refusals) == 1  # logged once a minute, not once per connection


async def test_one_address_may_hold_only_a_few_connections(
    site_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mllp, "MAX_CONNECTIONS_PER_ADDRESS", 2)
    site: Site = await site_factory(units=["4EAST"], config={"beds": {"4EAST": ["401^1"]}})
    held = [await Peer(site.port).connect() for _ in range(2)]
    await asyncio.sleep(0)  # let the listener register them
    for _ in range(100):
        if len(site.listener._tasks) == 2:
            break
        await asyncio.sleep(0.01)
    crowding = await Peer(site.port).connect()
    assert await _closed_without_answer(crowding)
    ack = await held[0].send(adt("A01", "OK1", datetime.now(UTC), here="4EAST^401^1"))
    assert ack.code == "AA"  # the ones already connected still work
    for peer in (*held, crowding):
        await peer.close()


async def test_an_idle_connection_is_closed(
    site_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mllp, "IDLE_TIMEOUT_S", 0.2)
    site: Site = await site_factory(units=["4EAST"], config={"beds": {"4EAST": ["401^1"]}})
    peer = await Peer(site.port).connect()
    with contextlib.suppress(asyncio.TimeoutError):
        # The listener closes its side: the peer reads end-of-stream.
        data = await asyncio.wait_for(peer.reader.read(), timeout=30)
        assert data == b""
    assert peer.reader.at_eof()
    await peer.close()


async def test_housekeeping_prunes_old_hl7_control_ids(
    site_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    site: Site = await site_factory(units=["4EAST"], config={"beds": {"4EAST": ["401^1"]}})
    old = datetime.now(UTC) - hl7.MESSAGE_RETENTION - timedelta(days=1)
    await site.conn.execute(
        "INSERT INTO hl7_messages (sending_facility, control_id, feed_id, received_at)"
        " SELECT 'X', 'C' || n, $1, $2 FROM generate_series(1, 50) n",
        site.feed_id,
        old,
    )
    await site.conn.execute(
        "INSERT INTO hl7_messages (sending_facility, control_id, feed_id) VALUES ('X', 'new', $1)",
        site.feed_id,
    )
    await scheduler.housekeeping(site.pool, _settings())
    assert await site.conn.fetchval("SELECT count(*) FROM hl7_messages") == 1


def _settings() -> Any:
    from bedboard.settings import Settings

    return Settings(secret_key="x" * 40)


def test_every_prune_function_is_called_by_housekeeping() -> None:
    """Retention the docs promise is only real if the hourly job calls it."""
    source = inspect.getsource(scheduler.housekeeping)
    found = []
    for info in pkgutil.walk_packages(bedboard.__path__, "bedboard."):
        module = __import__(info.name, fromlist=["_"])
        for name, func in inspect.getmembers(module, inspect.iscoroutinefunction):
            if func.__module__ == info.name and name.startswith(("prune", "purge")):
                found.append((info.name.rsplit(".", 1)[-1], name))
    assert found, "no prune functions found"
    for module_name, name in found:
        assert f"{module_name}.{name}(" in source, f"{module_name}.{name} is never scheduled"
