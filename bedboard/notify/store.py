"""The notification tables: enqueue, recipients from preferences and contacts, the
users' preferences, facility contacts, webhook endpoints, delivery history and the
in-app alerts with their acknowledgements. Every write to these tables is here."""

from __future__ import annotations

import base64
import ipaddress
import secrets
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from bedboard import audit
from bedboard.auth import Principal, Role
from bedboard.database import Connection
from bedboard.errors import FieldError, Invalid, NotFound
from bedboard.notify.models import (
    EVENTS,
    USER_CHANNELS,
    Alert,
    Channel,
    Delivery,
    Event,
    Message,
    Preferences,
    Recipient,
    Status,
    default_channels,
    events_for,
)

# --------------------------------------------------------------------------- enqueue


async def enqueue(
    conn: Connection,
    *,
    key: str,
    message: Message,
    recipients: Sequence[Recipient],
    critical: bool,
    now: datetime,
) -> list[int]:
    """One delivery row per recipient and channel; returns the ids of the rows made.

    ``key`` names the event occurrence (e.g. ``referral-arrived:42``): with the recipient
    and the channel it forms the row's ``dedupe_key``, so the same event enqueued twice
    makes nothing the second time. A recipient in quiet hours waits until they end,
    unless the event is critical."""
    if not recipients:
        return []
    keys, channels, users, contacts, endpoints, addresses, due = [], [], [], [], [], [], []
    for r in recipients:
        keys.append(f"{key}|{r.who}|{r.channel.value}")
        channels.append(r.channel.value)
        users.append(r.user_id)
        contacts.append(r.contact_id)
        endpoints.append(r.endpoint_id)
        addresses.append(r.address)
        wait = r.quiet_until if r.quiet_until is not None and not critical else None
        due.append(max(now, wait) if wait is not None else now)
    rows = await conn.fetch(
        """
        INSERT INTO deliveries (dedupe_key, event, channel, user_id, contact_id, endpoint_id,
                                address, message, critical, next_attempt_at, created_at)
        SELECT k, $7, c, u, ct, e, a, $8::jsonb, $9, d, $10
          FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
                      $6::text[], $11::timestamptz[]) AS t(k, c, u, ct, e, a, d)
        ON CONFLICT (dedupe_key) DO NOTHING
        RETURNING id
        """,
        keys,
        channels,
        users,
        contacts,
        endpoints,
        addresses,
        message.event.value,
        message.model_dump(mode="json"),
        critical,
        now,
        due,
    )
    return sorted(int(r["id"]) for r in rows)


# --------------------------------------------------------------------------- quiet hours


def quiet_until(
    start: time | None, end: time | None, *, now: datetime, zone: ZoneInfo
) -> datetime | None:
    """When quiet hours (local ``start`` to ``end``, possibly across midnight) end, if
    ``now`` is inside them; otherwise None."""
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone)


def _channels_of(row: Any, event: Event, role: Role) -> list[Channel]:
    chosen = (row["channels"] or {}).get(event.value) if row is not None else None
    if chosen is None:
        return list(default_channels(event, role))
    return [Channel(c) for c in chosen if c in {ch.value for ch in USER_CHANNELS}]


async def user_recipients(
    conn: Connection, event: Event, user_ids: Sequence[int], *, now: datetime, zone: ZoneInfo
) -> list[Recipient]:
    """The recipients among these users for this event: their chosen channels (or their
    role's defaults), with the end of their quiet hours. Disabled users and roles that
    may not subscribe to the event get nothing."""
    rows = await conn.fetch(
        """
        SELECT u.id, u.email, u.role, p.channels, p.quiet_start, p.quiet_end
          FROM users u LEFT JOIN notify_preferences p ON p.user_id = u.id
         WHERE u.id = ANY($1::bigint[]) AND NOT u.disabled
         ORDER BY u.id
        """,
        sorted(set(user_ids)),
    )
    out = []
    for row in rows:
        role = Role(row["role"])
        if role not in EVENTS[event].roles:
            continue
        until = quiet_until(row["quiet_start"], row["quiet_end"], now=now, zone=zone)
        for channel in _channels_of(row if row["channels"] is not None else None, event, role):
            address = row["email"] if channel is Channel.EMAIL else ""
            out.append(Recipient(channel, address, user_id=row["id"], quiet_until=until))
    return out


async def contact_recipients(conn: Connection, event: Event, facility_id: int) -> list[Recipient]:
    """A facility's own destinations for this event: its intake contact's email (for
    referrals arriving and a liaison's messages on a referral's thread) and the active
    webhook endpoints that list the event, for this facility or the whole program."""
    out = []
    if event in (Event.REFERRAL_ARRIVED, Event.REFERRAL_MESSAGE):
        for row in await conn.fetch(
            "SELECT id, email FROM facility_contacts"
            " WHERE facility_id = $1 AND purpose = 'intake' AND email <> '' ORDER BY id",
            facility_id,
        ):
            out.append(Recipient(Channel.EMAIL, row["email"], contact_id=row["id"]))
    return out + await webhook_recipients(conn, event, facility_id)


async def webhook_recipients(
    conn: Connection, event: Event, facility_id: int | None
) -> list[Recipient]:
    """The active webhook endpoints that list this event: the whole program's, and (with
    ``facility_id``) that facility's."""
    rows = await conn.fetch(
        "SELECT id, url FROM webhook_endpoints WHERE active AND $1 = ANY(events)"
        " AND (facility_id IS NULL OR facility_id = $2) ORDER BY id",
        event.value,
        facility_id,
    )
    return [Recipient(Channel.WEBHOOK, row["url"], endpoint_id=row["id"]) for row in rows]


# --------------------------------------------------------------------------- preferences


def _hhmm(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


async def preferences(conn: Connection, user_id: int, role: Role) -> Preferences:
    """A user's preferences, with the defaults filled in for events not chosen."""
    row = await conn.fetchrow(
        "SELECT channels, quiet_start, quiet_end FROM notify_preferences WHERE user_id = $1",
        user_id,
    )
    return Preferences(
        channels={e: _channels_of(row, e, role) for e in events_for(role)},
        quiet_start=_hhmm(row["quiet_start"]) if row else None,
        quiet_end=_hhmm(row["quiet_end"]) if row else None,
    )


def _parse_hhmm(value: str | None) -> time | None:
    return time.fromisoformat(value) if value else None


async def save_preferences(
    conn: Connection, user_id: int, role: Role, prefs: Preferences, *, by: Principal | None = None
) -> Preferences:
    """Store a user's choices (events left out go back to their defaults). Events the
    role may not subscribe to and channels that are not a person's (webhooks) are
    refused; quiet hours need both ends."""
    allowed = set(events_for(role))
    errors = [
        FieldError(f"channels.{e.value}", "this event is not offered to your role", "invalid")
        for e in prefs.channels
        if e not in allowed
    ]
    errors += [
        FieldError(f"channels.{e.value}", f"{c.value} is not a channel for people", "invalid")
        for e, chans in prefs.channels.items()
        for c in chans
        if c not in USER_CHANNELS
    ]
    if (prefs.quiet_start is None) != (prefs.quiet_end is None):
        errors.append(
            FieldError("quiet_end", "give both the start and the end of quiet hours", "invalid")
        )
    elif prefs.quiet_start is not None and prefs.quiet_start == prefs.quiet_end:
        errors.append(FieldError("quiet_end", "quiet hours must end after they start", "invalid"))
    if errors:
        raise Invalid("The notification preferences are not valid.", errors)
    chosen = {e.value: sorted({c.value for c in chans}) for e, chans in prefs.channels.items()}
    await conn.execute(
        """
        INSERT INTO notify_preferences (user_id, channels, quiet_start, quiet_end, updated_at)
        VALUES ($1, $2, $3, $4, now())
        ON CONFLICT (user_id) DO UPDATE
           SET channels = EXCLUDED.channels,
               quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end,
               updated_at = now()
        """,
        user_id,
        chosen,
        _parse_hhmm(prefs.quiet_start),
        _parse_hhmm(prefs.quiet_end),
    )
    await audit.changed(conn, by, "notify.preferences", "user", user_id, {"events": sorted(chosen)})
    return await preferences(conn, user_id, role)


# --------------------------------------------------------------------------- contacts


class FacilityContact(BaseModel):
    facility_id: int
    email: str = ""
    phone: str = ""


async def intake_contact(conn: Connection, facility_id: int) -> FacilityContact:
    row = await conn.fetchrow(
        "SELECT email, phone FROM facility_contacts WHERE facility_id = $1 AND purpose = 'intake'",
        facility_id,
    )
    if row is None:
        return FacilityContact(facility_id=facility_id)
    return FacilityContact(facility_id=facility_id, email=row["email"], phone=row["phone"])


async def set_intake_contact(
    conn: Connection, facility_id: int, *, email: str, phone: str, by: Principal | None = None
) -> FacilityContact:
    """A facility's intake desk address (not a person's account)."""
    email, phone = email.strip().lower(), phone.strip()
    errors = []
    if email and (
        "@" not in email.strip("@") or len(email) > 254 or any(c.isspace() for c in email)
    ):
        errors.append(
            FieldError("intake_email", "enter an email address like intake@example.org", "invalid")
        )
    if len(phone) > 40:
        errors.append(
            FieldError("intake_phone", "a phone number has at most 40 characters", "invalid")
        )
    if errors:
        raise Invalid("The intake contact is not valid.", errors)
    if not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM facilities WHERE id = $1)", facility_id
    ):
        raise NotFound("facility")
    await conn.execute(
        """
        INSERT INTO facility_contacts (facility_id, purpose, email, phone)
        VALUES ($1, 'intake', $2, $3)
        ON CONFLICT (facility_id, purpose) DO UPDATE
           SET email = EXCLUDED.email, phone = EXCLUDED.phone, updated_at = now()
        """,
        facility_id,
        email,
        phone,
    )
    await audit.changed(conn, by, "facility.intake_contact", "facility", facility_id)
    return FacilityContact(facility_id=facility_id, email=email, phone=phone)


# --------------------------------------------------------------------------- webhooks


class WebhookEndpoint(BaseModel):
    id: int
    url: str
    events: list[Event]
    facility_id: int | None
    active: bool
    created_at: datetime


class NewWebhookEndpoint(WebhookEndpoint):
    """The answer to creating an endpoint: the only time its secret is shown."""

    secret: str


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_webhook_url(url: str) -> str | None:
    """Why a webhook URL is refused, or None: HTTPS, except to a loopback address."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "enter a full URL, like https://ehr.example.org/bedboard"
    if parts.scheme not in ("http", "https") or not host or len(url) > 2000:
        return "enter a full URL, like https://ehr.example.org/bedboard"
    if parts.scheme == "http" and not is_loopback(host):
        return "webhooks need https:// (plain http only to this machine)"
    return None


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


async def create_endpoint(
    conn: Connection,
    *,
    url: str,
    events: Sequence[Event],
    facility_id: int | None,
    by: Principal | None = None,
) -> NewWebhookEndpoint:
    errors = []
    why = check_webhook_url(url.strip())
    if why:
        errors.append(FieldError("url", why, "invalid"))
    if not events:
        errors.append(FieldError("events", "choose at least one event", "invalid"))
    if facility_id is not None and not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM facilities WHERE id = $1)", facility_id
    ):
        errors.append(FieldError("facility_id", "no such facility", "reference"))
    if errors:
        raise Invalid("The webhook endpoint is not valid.", errors)
    secret = new_secret()
    row = await conn.fetchrow(
        "INSERT INTO webhook_endpoints (url, events, facility_id, secret, created_by)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING id, url, events, facility_id, active, created_at",
        url.strip(),
        sorted({e.value for e in events}),
        facility_id,
        secret,
        by.user_id if by is not None else None,
    )
    assert row is not None
    await audit.changed(conn, by, "webhook.create", "webhook_endpoint", row["id"])
    return NewWebhookEndpoint(**dict(row), secret=secret)


async def list_endpoints(conn: Connection) -> list[WebhookEndpoint]:
    rows = await conn.fetch(
        "SELECT id, url, events, facility_id, active, created_at FROM webhook_endpoints ORDER BY id"
    )
    return [WebhookEndpoint(**dict(r)) for r in rows]


async def set_endpoint_active(
    conn: Connection, endpoint_id: int, active: bool, *, by: Principal | None = None
) -> None:
    done = await conn.execute(
        "UPDATE webhook_endpoints SET active = $2 WHERE id = $1", endpoint_id, active
    )
    if done.endswith(" 0"):
        raise NotFound("webhook endpoint")
    action = "webhook.enable" if active else "webhook.disable"
    await audit.changed(conn, by, action, "webhook_endpoint", endpoint_id)


async def endpoint_secret(conn: Connection, endpoint_id: int) -> str | None:
    value = await conn.fetchval(
        "SELECT secret FROM webhook_endpoints WHERE id = $1 AND active", endpoint_id
    )
    return str(value) if value is not None else None


# --------------------------------------------------------------------------- history


def _delivery(row: Any) -> Delivery:
    m = row["message"]
    who = (
        f"user:{row['user_id']}"
        if row["user_id"] is not None
        else f"contact:{row['contact_id']}"
        if row["contact_id"] is not None
        else f"endpoint:{row['endpoint_id']}"
        if row["endpoint_id"] is not None
        else "address"  # a configured address (the state's on-call)
    )
    return Delivery(
        id=row["id"],
        event=row["event"],
        channel=row["channel"],
        recipient=who,
        address=row["address"],
        reference=m["reference"],
        subject=m["subject"],
        critical=row["critical"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
    )


async def list_deliveries(
    conn: Connection, *, status: Status | None = None, before: int | None = None, limit: int = 100
) -> list[Delivery]:
    """Delivery history, newest first; ``before`` pages by id."""
    rows = await conn.fetch(
        """
        SELECT * FROM deliveries
         WHERE ($1::text IS NULL OR status = $1) AND ($2::bigint IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3
        """,
        status.value if status is not None else None,
        before,
        limit,
    )
    return [_delivery(r) for r in rows]


async def retry(
    conn: Connection, delivery_id: int, *, now: datetime, by: Principal | None = None
) -> None:
    """An administrator sends a dead-lettered delivery again (its attempts start over)."""
    done = await conn.execute(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2"
        " WHERE id = $1 AND status = 'dead'",
        delivery_id,
        now,
    )
    if done.endswith(" 0"):
        raise NotFound("delivery", "No dead-lettered delivery with that id.")
    await audit.changed(conn, by, "delivery.retry", "delivery", delivery_id)


# --------------------------------------------------------------------------- in-app alerts


async def unacknowledged(conn: Connection, user_id: int, *, limit: int = 5) -> list[Alert]:
    """A user's in-app alerts that were delivered and not acknowledged, newest first."""
    rows = await conn.fetch(
        """
        SELECT d.id, d.event, d.message, d.critical, d.created_at FROM deliveries d
         WHERE d.user_id = $1 AND d.channel = 'in_app' AND d.status = 'sent'
           AND NOT EXISTS (SELECT 1 FROM notify_acks a WHERE a.delivery_id = d.id)
         ORDER BY d.id DESC LIMIT $2
        """,
        user_id,
        limit,
    )
    return [
        Alert(
            id=r["id"],
            event=r["event"],
            subject=r["message"]["subject"],
            link_path=r["message"]["link_path"],
            reference=r["message"]["reference"],
            critical=r["critical"],
            created_at=r["created_at"],
        )
        for r in rows
    ]


async def acknowledge(conn: Connection, delivery_id: int, user_id: int) -> None:
    """The user acknowledged their alert; another user's alert answers as missing."""
    owner = await conn.fetchval(
        "SELECT user_id FROM deliveries WHERE id = $1 AND channel = 'in_app'", delivery_id
    )
    if owner != user_id:
        raise NotFound("alert")
    await conn.execute(
        "INSERT INTO notify_acks (delivery_id, user_id) VALUES ($1, $2)"
        " ON CONFLICT (delivery_id) DO NOTHING",
        delivery_id,
        user_id,
    )
