"""The dispatcher: claims due deliveries and sends them, by email (aiosmtplib), signed
webhook (aiohttp + standardwebhooks) or in-app alert (the outbox's ``alerts`` topic,
which the live hub carries to that user only).

Claiming is one statement: due rows are locked ``FOR UPDATE SKIP LOCKED`` and given a
lease (their next attempt moves ``LEASE`` ahead), so two instances never claim one row
and a row whose sender died is tried again when the lease runs out. A failure waits
with exponential backoff and jitter; after ``max_attempts`` the row is ``dead`` and
shown to administrators, and nothing else waits for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import aiohttp
import aiosmtplib
from standardwebhooks import Webhook

from bedboard import database, outbox
from bedboard.notify import store
from bedboard.notify.models import Channel, Message
from bedboard.settings import Settings

log = logging.getLogger(__name__)

BATCH = 20
LEASE = timedelta(minutes=5)
BACKOFF_BASE_S = 30.0
BACKOFF_MAX_S = 3600.0
SEND_TIMEOUT_S = 20.0
INTERVAL_S = 10


@dataclass(frozen=True)
class Config:
    """What sending needs, from the settings."""

    smtp_url: str | None
    mail_from: str
    max_attempts: int
    base_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Config:
        base = (
            str(settings.public_url).rstrip("/")
            if settings.public_url is not None
            else f"http://{settings.host}:{settings.port}"
        )
        return cls(settings.smtp_url, settings.mail_from, settings.notify_max_attempts, base)


@dataclass(frozen=True)
class Dispatched:
    sent: int = 0
    retried: int = 0
    dead: int = 0


class SendFailed(Exception):
    """A channel refused or failed; the text is kept as the delivery's last error."""


def backoff(attempts: int, rng: Callable[[], float] = random.random) -> timedelta:
    """Wait before attempt ``attempts + 1``: 30 s, 60 s, 120 s … capped at an hour, each
    scaled by a random factor in [0.5, 1) so retries of many rows spread out."""
    delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))
    return timedelta(seconds=delay * (0.5 + 0.5 * rng()))


def sign_in_link(config: Config, message: Message) -> str:
    """Where the message's link goes: through the sign-in page, or (a one-time link that
    needs no password) straight there."""
    if message.direct_link:
        return f"{config.base_url}{message.link_path}"
    return f"{config.base_url}/login?next={quote(message.link_path, safe='/')}"


def email_of(
    config: Config, delivery_id: int, message: Message, to: str, now: datetime
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = config.mail_from
    mail["To"] = to
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(now.astimezone(UTC))
    domain = config.mail_from.rpartition("@")[2] or "bedboard.invalid"
    mail["Message-ID"] = f"<delivery-{delivery_id}@{domain}>"
    mail["X-Bedboard-Event"] = message.event.value
    mail["X-Bedboard-Reference"] = message.reference
    label = "Open" if message.direct_link else "Sign in"
    mail.set_content(f"{message.body}\n\n{label}: {sign_in_link(config, message)}\n")
    return mail


async def send_email(
    config: Config, delivery_id: int, message: Message, to: str, now: datetime
) -> None:
    if not config.smtp_url:
        raise SendFailed("no SMTP server configured (BEDBOARD_SMTP_URL)")
    url = urlsplit(config.smtp_url)
    try:
        await aiosmtplib.send(
            email_of(config, delivery_id, message, to, now),
            hostname=url.hostname,
            port=url.port or (465 if url.scheme == "smtps" else 25),
            username=unquote(url.username) if url.username else None,
            password=unquote(url.password) if url.password else None,
            use_tls=url.scheme == "smtps",
            timeout=SEND_TIMEOUT_S,
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise SendFailed(f"smtp: {type(exc).__name__}: {exc}") from exc


def webhook_body(delivery_id: int, message: Message, config: Config) -> str:
    """The webhook's JSON (Standard Webhooks' type / timestamp / data shape)."""
    return json.dumps(
        {
            "type": f"bedboard.{message.event.value}",
            "timestamp": datetime.now(UTC).isoformat(),
            "data": {
                "delivery_id": delivery_id,
                "reference": message.reference,
                "status": message.status,
                "facility": message.facility,
                "unit": message.unit,
                "deadline_at": message.deadline_at.isoformat() if message.deadline_at else None,
                "link": sign_in_link(config, message),
            },
        },
        separators=(",", ":"),
    )


async def send_webhook(
    http: aiohttp.ClientSession,
    config: Config,
    delivery_id: int,
    message: Message,
    url: str,
    secret: str | None,
) -> None:
    if secret is None:
        raise SendFailed("webhook endpoint removed or disabled")
    why = store.check_webhook_url(url)
    if why:
        raise SendFailed(f"webhook: {why}")
    body = webhook_body(delivery_id, message, config)
    msg_id = f"delivery-{delivery_id}"
    # The timestamp is the wall clock of this attempt: receivers check it against theirs.
    sent_at = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, sent_at, body),
    }
    try:
        async with http.post(
            url,
            data=body.encode(),
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT_S),
        ) as resp:
            if not 200 <= resp.status < 300:
                raise SendFailed(f"webhook: HTTP {resp.status}")
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise SendFailed(f"webhook: {type(exc).__name__}: {exc}") from exc


def alert_payload(row: Any, message: Message) -> dict[str, Any]:
    """The in-app frame: ids and the reference only."""
    return {
        "kind": "alert",
        "delivery_id": row["id"],
        "user_id": row["user_id"],
        "event": message.event.value,
        "reference": message.reference,
        "critical": row["critical"],
    }


_CLAIM = """
UPDATE deliveries d SET attempts = d.attempts + 1, next_attempt_at = $1::timestamptz + $3::interval
 WHERE d.id IN (SELECT id FROM deliveries
                 WHERE status = 'pending' AND next_attempt_at <= $1
                 ORDER BY next_attempt_at, id
                 LIMIT $2 FOR UPDATE SKIP LOCKED)
RETURNING d.id, d.channel, d.user_id, d.endpoint_id, d.address, d.message, d.critical, d.attempts
"""


async def claim(pool: database.Pool, *, now: datetime, batch: int = BATCH) -> list[Any]:
    """Take up to ``batch`` due rows for this instance (leased for ``LEASE``)."""
    async with database.acquire(pool) as conn:
        return list(await conn.fetch(_CLAIM, now, batch, LEASE))


async def _sent(conn: database.Connection, delivery_id: int, now: datetime) -> None:
    await conn.execute(
        "UPDATE deliveries SET status = 'sent', sent_at = $2, last_error = NULL WHERE id = $1",
        delivery_id,
        now,
    )


async def _send_one(
    pool: database.Pool,
    http: aiohttp.ClientSession,
    config: Config,
    row: Any,
    *,
    now: datetime,
    rng: Callable[[], float],
) -> str:
    message = Message.model_validate(row["message"])
    channel = Channel(row["channel"])
    try:
        if channel is Channel.IN_APP:
            async with database.acquire(pool) as conn, conn.transaction():
                await _sent(conn, row["id"], now)
                await outbox.append(conn, [(outbox.ALERTS, alert_payload(row, message))])
            return "sent"
        if channel is Channel.EMAIL:
            await send_email(config, row["id"], message, row["address"], now)
        else:
            async with database.acquire(pool) as conn:
                secret = await store.endpoint_secret(conn, row["endpoint_id"])
            await send_webhook(http, config, row["id"], message, row["address"], secret)
    except SendFailed as exc:
        return await _failed(pool, config, row, str(exc), now=now, rng=rng)
    async with database.acquire(pool) as conn:
        await _sent(conn, row["id"], now)
    return "sent"


async def _failed(
    pool: database.Pool,
    config: Config,
    row: Any,
    error: str,
    *,
    now: datetime,
    rng: Callable[[], float],
) -> str:
    dead = row["attempts"] >= config.max_attempts
    async with database.acquire(pool) as conn:
        await conn.execute(
            "UPDATE deliveries SET status = CASE WHEN $2 THEN 'dead' ELSE 'pending' END,"
            " next_attempt_at = $3, last_error = $4 WHERE id = $1",
            row["id"],
            dead,
            now if dead else now + backoff(row["attempts"], rng),
            error[:500],
        )
    if dead:
        log.warning(
            "delivery %d (%s) dead after %d attempts: %s",
            row["id"],
            row["channel"],
            row["attempts"],
            error[:200],
        )
        return "dead"
    return "retried"


async def dispatch_due(
    pool: database.Pool,
    config: Config,
    *,
    now: datetime,
    http: aiohttp.ClientSession | None = None,
    batch: int = BATCH,
    max_batches: int = 50,
    rng: Callable[[], float] = random.random,
) -> Dispatched:
    """Send what is due at ``now``, ``batch`` rows at a time, until nothing is due (or
    ``max_batches`` were sent). Safe to run on every instance at once."""
    own = http is None
    session = http if http is not None else aiohttp.ClientSession()
    counts = {"sent": 0, "retried": 0, "dead": 0}
    try:
        for _ in range(max_batches):
            rows = await claim(pool, now=now, batch=batch)
            if not rows:
                break
            results = await asyncio.gather(
                *(_send_one(pool, session, config, r, now=now, rng=rng) for r in rows)
            )
            for result in results:
                counts[result] += 1
    finally:
        if own:
            await session.close()
    return Dispatched(**counts)
