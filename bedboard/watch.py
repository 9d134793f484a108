"""``bedboard watch``: print board changes as they arrive, resuming after disconnects.

Takes a snapshot first (``GET /api/v1/board``), then subscribes from its seq; after a
disconnect it subscribes again from the last seq it printed, so nothing is missed.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

import aiohttp
import websockets

MAX_BACKOFF_S = 15.0
SIGNED_OUT_CLOSE_CODE = 4401


class TokenRefused(Exception):
    """The server does not accept this token: retrying will not help."""


def describe(data: dict[str, Any], facilities: dict[int, str]) -> str:
    """One readable line for a board change."""
    if data.get("kind") == "unit":
        unit = data["unit"]
        facility = facilities.get(unit["facility_id"], f"facility {unit['facility_id']}")
        where = f"{facility} / {unit['name']}"
        counts = (
            f"staffed {unit['staffed']}, occupied {unit['occupied']}, blocked {unit['blocked']}"
            if unit["staffed"] is not None
            else f"available {unit['available']}"
        )
        held = f", held {unit['held']}" if unit["held"] else ""
        return f"{where}: {unit['free']} free ({counts}{held}) [{unit['freshness']}]"
    if data.get("kind") == "freshness":
        name = facilities.get(data["facility_id"], f"facility {data['facility_id']}")
        return f"{name} / unit {data['unit_id']}: now {data['freshness']}"
    return json.dumps(data)


class Watcher:
    def __init__(
        self, base_url: str, token: str, out: TextIO, clock: Callable[[], datetime]
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.out = out
        self.clock = clock
        self.seq: int | None = None
        self.facilities: dict[int, str] = {}

    def say(self, text: str) -> None:
        print(f"{self.clock().strftime('%H:%M:%S')} {text}", file=self.out, flush=True)

    async def snapshot(self) -> None:
        async with (
            aiohttp.ClientSession(headers=self.headers) as session,
            session.get(f"{self.base_url}/api/v1/board") as resp,
        ):
            if resp.status in (401, 403):
                raise TokenRefused(f"the token was refused ({resp.status})")
            resp.raise_for_status()
            board = await resp.json()
        self.facilities = {f["id"]: f["name"] for f in board["facilities"]}
        free = sum(u["free"] for f in board["facilities"] for u in f["units"])
        overdue = sum(1 for f in board["facilities"] if f["overdue"])
        self.seq = int(board["seq"])
        self.say(
            f"board at seq {self.seq}: {free} free beds, {len(self.facilities)} facilities, "
            f"{overdue} overdue reporters"
        )

    async def stream(self) -> None:
        ws_url = (
            self.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws"
        )
        async with websockets.connect(ws_url, additional_headers=self.headers) as ws:
            await ws.send(json.dumps({"type": "subscribe", "topics": ["board"], "since": self.seq}))
            try:
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("type") == "snapshot_required":
                        self.say("too far behind: taking a new snapshot")
                        self.seq = None
                        return
                    if message.get("type") == "subscribed":
                        self.say(f"live from seq {self.seq}")
                        continue
                    if "seq" in message and "topic" in message:
                        if self.seq is not None and message["seq"] <= self.seq:
                            continue
                        self.seq = message["seq"]
                        self.say(f"#{message['seq']} {describe(message['data'], self.facilities)}")
            except websockets.ConnectionClosed:
                if ws.close_code != SIGNED_OUT_CLOSE_CODE:
                    raise
        if ws.close_code == SIGNED_OUT_CLOSE_CODE:
            raise TokenRefused("the token is no longer valid (revoked, or its user disabled)")

    async def run(self) -> None:
        delay = 0.5
        while True:
            try:
                if self.seq is None:
                    await self.snapshot()
                await self.stream()
                delay = 0.5
                continue
            except (OSError, aiohttp.ClientError, websockets.WebSocketException) as exc:
                reason = str(exc) or type(exc).__name__
            resume = f"seq {self.seq}" if self.seq is not None else "a new snapshot"
            self.say(f"disconnected ({reason}); retrying from {resume}")
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, MAX_BACKOFF_S)
