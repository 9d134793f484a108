"""Courts without a password (issue 13 §5): per-case status links and per-court calendars.

- **Court status links.** A liaison or an administrator issues, for one placement, a
  revocable signed link (``links``, purpose ``court_status``) that opens the court's view
  of that placement (``placements.court_view``: status, order, deadline, the facility
  once accepted, the status timeline; nothing clinical, nothing about the person beyond
  the case number the court gave). It expires ``max_days`` after issue or when the case
  is closed, whichever comes first; every open is audited by ``links.verify``.
- **Court calendars.** Each court may have one calendar secret (``court_calendars``, its
  SHA-256 only; shown once to the administrator who rotates it). The feed is an
  iCalendar document of the court's placements still under way that have a legal
  deadline: one event each, at the deadline (UTC), summary ``PL-2026-000123 · open``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import icalendar

from bedboard import audit, links, placements
from bedboard.auth import Origin, Principal
from bedboard.database import Connection
from bedboard.errors import Conflict, NotFound
from bedboard.links import Link, Purpose, Signer
from bedboard.placements import CourtPlacement, Status

__all__ = [
    "IssuedLink",
    "calendar_path",
    "calendar_rotated_at",
    "court_calendar",
    "court_links",
    "issue_court_link",
    "open_court_link",
    "revoke_court_link",
    "rotate_calendar_secret",
]

CLOSED_DETAIL = "This case is closed, so its status link no longer opens."


@dataclass(frozen=True)
class IssuedLink:
    """A link just issued: its row and the token, which is shown this once."""

    link: Link
    token: str

    @property
    def path(self) -> str:
        return f"/c/{self.token}"


async def _status(conn: Connection, placement_id: int) -> tuple[Status, int | None]:
    row = await conn.fetchrow("SELECT status, court_id FROM placements WHERE id = $1", placement_id)
    if row is None:
        raise NotFound("placement")
    return Status(row["status"]), row["court_id"]


async def issue_court_link(
    conn: Connection,
    signer: Signer,
    placement_id: int,
    *,
    by: Principal,
    now: datetime,
    max_days: int,
) -> IssuedLink:
    """A new status link for the placement's court, valid ``max_days`` (or until the case
    closes). Refused (``Conflict``) for a closed case or one without a court."""
    status, court_id = await _status(conn, placement_id)
    if status is Status.CLOSED:
        raise Conflict("This case is closed; a status link would not open.")
    if court_id is None:
        raise Conflict("This placement has no court; a court status link is for a court.")
    link, token = await links.issue(
        conn,
        signer,
        Purpose.COURT_STATUS,
        placement_id,
        by=by,
        now=now,
        expires_at=now + timedelta(days=max_days),
        single_use=False,
    )
    return IssuedLink(link, token)


async def court_links(conn: Connection, placement_id: int) -> list[Link]:
    """The placement's status links, newest first (tokens are never shown again)."""
    await _status(conn, placement_id)
    return await links.list_links(conn, Purpose.COURT_STATUS, placement_id)


async def revoke_court_link(
    conn: Connection, placement_id: int, link_id: int, *, by: Principal
) -> Link:
    return await links.revoke(conn, Purpose.COURT_STATUS, placement_id, link_id, by=by)


async def open_court_link(
    conn: Connection, signer: Signer, token: str, *, now: datetime, origin: Origin
) -> CourtPlacement:
    """The court's view of the link's placement, or ``LinkRefused`` / ``LinkGone``. Call
    outside a transaction: the audit row of a refusal is kept."""
    opened = await links.verify(conn, signer, Purpose.COURT_STATUS, token, now=now, origin=origin)
    status, _ = await _status(conn, opened.link.subject_id)
    if status is Status.CLOSED:
        await links.refuse(conn, opened.link, CLOSED_DETAIL, origin=origin)
    return await placements.court_view(conn, opened.link.subject_id)


# --------------------------------------------------------------------------- calendars


def calendar_path(court_id: int, secret: str) -> str:
    return f"/calendar/courts/{court_id}/{secret}.ics"


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


async def rotate_calendar_secret(
    conn: Connection, court_id: int, *, by: Principal, now: datetime
) -> str:
    """A new calendar secret for the court (the old one stops working at once); the
    secret is returned this once. ``NotFound`` for a court that does not exist."""
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM courts WHERE id = $1)", court_id):
        raise NotFound("court")
    secret = secrets.token_urlsafe(24)
    await conn.execute(
        """
        INSERT INTO court_calendars (court_id, secret_hash, rotated_at, rotated_by)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (court_id) DO UPDATE
           SET secret_hash = EXCLUDED.secret_hash, rotated_at = EXCLUDED.rotated_at,
               rotated_by = EXCLUDED.rotated_by
        """,
        court_id,
        _hash(secret),
        now,
        by.user_id,
    )
    await audit.changed(conn, by, "court.calendar_rotate", "court", court_id)
    return secret


async def calendar_rotated_at(conn: Connection, court_id: int) -> datetime | None:
    """When the court's calendar secret was last set (None: the court has no calendar)."""
    value: datetime | None = await conn.fetchval(
        "SELECT rotated_at FROM court_calendars WHERE court_id = $1", court_id
    )
    return value


async def court_calendar(
    conn: Connection, court_id: int, secret: str, *, now: datetime, origin: Origin
) -> bytes:
    """The court's iCalendar feed; ``NotFound`` for a wrong secret or court (the same
    answer, so a guess learns nothing). Each read is audited (``court.calendar``)."""
    stored = await conn.fetchval(
        "SELECT secret_hash FROM court_calendars WHERE court_id = $1", court_id
    )
    if stored is None or not hmac.compare_digest(bytes(stored), _hash(secret)):
        raise NotFound("calendar")
    rows = await conn.fetch(
        f"""
        SELECT p.id, p.reference, p.status, p.deadline_at, ot.label AS order_label
          FROM placements p JOIN order_types ot ON ot.code = p.order_type
         WHERE p.court_id = $1 AND p.deadline_at IS NOT NULL AND {placements.UNDER_WAY_SQL}
         ORDER BY p.deadline_at, p.id
        """,  # noqa: S608 -- constant fragment
        court_id,
    )
    cal = icalendar.Calendar()
    cal.add("prodid", "-//bedboard//court deadlines//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "Placement deadlines")
    for row in rows:
        event = icalendar.Event()
        event.add("uid", f"placement-{row['id']}-deadline@bedboard")
        event.add("dtstamp", now)
        event.add("dtstart", row["deadline_at"])
        event.add("dtend", row["deadline_at"] + timedelta(minutes=15))
        status = str(row["status"]).replace("_", " ")
        event.add("summary", f"{row['reference']} · {status} · legal deadline")
        event.add("description", f"{row['order_label']}. Status: {status}.")
        cal.add_component(event)
    await audit.record(
        conn,
        actor="calendar",
        action="court.calendar",
        outcome="success",
        origin=origin,
        object_type="court",
        object_id=court_id,
        detail={"count": len(rows)},
    )
    return bytes(cal.to_ical())
