"""`bedboard watch` prints every change and resumes from its last seq after a drop."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import WSCloseCode

from bedboard.app import create_app
from bedboard.auth import Role
from bedboard.context import WEBSOCKETS
from bedboard.settings import Settings
from bedboard.watch import Watcher

WAIT_S = 10.0


class Output(io.StringIO):
    """The watcher's terminal: wakes the test on every write."""

    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()

    def write(self, text: str) -> int:
        self.written.set()
        return super().write(text)


async def wait_for_text(out: Output, text: str) -> str:
    async def poll() -> str:
        while text not in out.getvalue():
            out.written.clear()
            await out.written.wait()
        return out.getvalue()

    return await asyncio.wait_for(poll(), WAIT_S)


async def test_watch_prints_changes_and_resumes_after_a_drop(
    aiohttp_server: Any, settings: Settings, make_facility: Any, make_unit: Any, make_user: Any,
    make_token: Any,
) -> None:  # fmt: skip
    server = await aiohttp_server(create_app(settings))
    base = str(server.make_url("")).rstrip("/")
    facility = await make_facility(name="Riverbend")
    unit = await make_unit(facility.id, name="Adult Acute")
    staff = await make_user(Role.FACILITY, facility_ids=[facility.id])
    staff_headers = {"Authorization": f"Bearer {await make_token(staff.id)}"}
    viewer = await make_user(Role.VIEWER)
    out = Output()
    watcher = Watcher(base, await make_token(viewer.id), out, lambda: datetime.now(UTC))
    task = asyncio.create_task(watcher.run())
    try:
        await wait_for_text(out, "live from seq")
        import aiohttp

        async with aiohttp.ClientSession(headers=staff_headers) as http:
            as_of = datetime.now(UTC) - timedelta(minutes=5)
            await http.put(f"{base}/api/v1/units/{unit.id}/census",
                           json={"as_of": as_of.isoformat(), "staffed": 10, "occupied": 7})  # fmt: skip
            text = await wait_for_text(out, "Riverbend / Adult Acute: 3 free")
            assert "staffed 10, occupied 7" in text

            # The network drops; a change lands while the watcher is away.
            for ws in list(server.app[WEBSOCKETS]):
                await ws.close(code=WSCloseCode.GOING_AWAY)
            later = (as_of + timedelta(minutes=1)).isoformat()
            await http.put(f"{base}/api/v1/units/{unit.id}/census",
                           json={"as_of": later, "available": 1})  # fmt: skip
            text = await wait_for_text(out, "Riverbend / Adult Acute: 1 free (available 1)")
        seqs = [line.split("#")[1].split()[0] for line in text.splitlines() if " #" in line]
        assert len(seqs) == 2 and int(seqs[1]) == int(seqs[0]) + 1
    finally:
        task.cancel()


def test_watch_without_a_token_says_how_to_get_one() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEDBOARD_")}
    result = subprocess.run([sys.executable, "-m", "bedboard.cli", "watch"], capture_output=True,
                            text=True, env=env, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 1
    assert "bedboard token create" in result.stderr


async def test_watch_says_it_retries_from_a_new_snapshot_before_it_has_a_seq() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = Output()
    watcher = Watcher(f"http://127.0.0.1:{port}", "bbt_x", out, lambda: datetime.now(UTC))
    task = asyncio.create_task(watcher.run())
    try:
        text = await wait_for_text(out, "retrying")
    finally:
        task.cancel()
    assert "retrying from a new snapshot" in text
    assert "None" not in text
