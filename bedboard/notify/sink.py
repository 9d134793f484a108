"""The demo's mail sink: a local SMTP server (aiosmtpd) on 127.0.0.1 that keeps every
message it receives as a ``.eml`` file, so a newcomer sees a referral email arrive
without a mail server. One log line per message (subject and addresses, never a body).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP

log = logging.getLogger(__name__)
# aiosmtpd logs every connection and disconnection at INFO; the sink logs one line a mail.
logging.getLogger("mail.log").setLevel(logging.WARNING)

FOLDER = "demo-mail"


class _Keep:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content or b"")
        self.count += 1
        path = self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{self.count:04d}.eml"
        path.write_bytes(raw)
        subject = str(message_from_bytes(raw, policy=policy.default).get("Subject", ""))
        log.info("demo mail: %s to %s", subject, ", ".join(envelope.rcpt_tos))
        return "250 OK"


@dataclass
class Sink:
    server: asyncio.Server
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


async def start_sink(data_dir: Path, port: int = 0) -> Sink:
    """Listen on 127.0.0.1:``port`` (0: any free port); mail goes to
    ``<data_dir>/demo-mail/``."""
    folder = data_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    handler = _Keep(folder)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="localhost", loop=loop), "127.0.0.1", port
    )
    bound = int(server.sockets[0].getsockname()[1])
    return Sink(server, folder, bound)
