"""Notification tests: the placement world, a real SMTP server on loopback (aiosmtpd),
a real webhook receiver (aiohttp) that verifies signatures with standardwebhooks."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from standardwebhooks import Webhook

from bedboard import notify
from tests.placements.conftest import CANARY, World, world  # noqa: F401 -- fixtures

__all__ = ["CANARY", "World"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mailbox:
    """What the loopback SMTP server received: (envelope to, raw bytes) per message."""

    port: int
    received: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((list(envelope.rcpt_tos), bytes(envelope.original_content)))
        return "250 OK"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def messages(self) -> list[EmailMessage]:
        out = []
        for _, raw in self.received:
            msg = message_from_bytes(raw, policy=policy.default)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Receiver:
    """A webhook receiver: verifies each request's signature, answers ``statuses`` in
    turn (then 200), and keeps what it verified."""

    secret: str = ""
    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    verified: list[dict[str, Any]] = field(default_factory=list)
    ok_ids: list[str] = field(default_factory=list)
    url: str = ""
    secrets_by_path: dict[str, str] = field(default_factory=dict)
    always_fail_paths: set[str] = field(default_factory=set)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        self.requests.append((headers, body))
        secret = self.secrets_by_path.get(request.path, self.secret)
        try:
            self.verified.append(Webhook(secret).verify(body, headers))
        except Exception:  # noqa: BLE001 -- a bad signature is the receiver's 401
            return web.Response(status=401)
        if request.path in self.always_fail_paths:
            return web.Response(status=503)
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.ok_ids.append(headers["webhook-id"])
        return web.Response(status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    rec.url = f"http://127.0.0.1:{port}"
    try:
        yield rec
    finally:
        await runner.cleanup()


def config(smtp_url: str | None = None, *, max_attempts: int = 6) -> notify.Config:
    return notify.Config(
        smtp_url=smtp_url,
        mail_from="bedboard@example.org",
        max_attempts=max_attempts,
        base_url="https://bedboard.example.org",
    )


async def db_now(conn: Any) -> datetime:
    value: datetime = await conn.fetchval("SELECT now()")
    return value


@pytest.fixture
async def pool(db_dsn: str) -> AsyncIterator[Any]:
    from bedboard import database

    p = await database.create_pool(db_dsn, min_size=1, max_size=4)
    try:
        yield p
    finally:
        await p.close()
