"""Signed links: a URL that opens one thing without a password (issue 13 §3, §5).

A link is a row of ``signed_links`` (purpose, subject, who issued it, when it expires,
revoked, used) and a token: an itsdangerous ``URLSafeTimedSerializer`` signature, with the
app's secret key and the purpose as the salt, of ``{"l": <link id>, "n": <nonce>}``. The
row keeps only the token's SHA-256, so the database alone cannot open a link.

``verify`` refuses, in this order: a token whose signature does not hold (altered,
truncated, another purpose's salt, another key) with ``LinkRefused`` (403); a link that is
revoked, expired (``now`` against ``expires_at``) or, when single use, already used, with
``LinkGone`` (410). Every open, allowed or refused, is one audit row (``link.open``);
the caller's use case writes it in its transaction.

Purposes: ``court_status`` (subject: a placement; issued by a liaison or an
administrator; many uses until it expires) and ``census_nudge`` (subject: a facility;
issued by the nudge job; single use).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from bedboard import audit
from bedboard.auth import Origin, Principal
from bedboard.database import Connection
from bedboard.errors import LinkGone, LinkRefused, NotFound

__all__ = [
    "REFUSED",
    "Link",
    "Opened",
    "Purpose",
    "Signer",
    "issue",
    "list_links",
    "mark_used",
    "refuse",
    "revoke",
    "token_hash",
    "verify",
]


class Purpose(StrEnum):
    COURT_STATUS = "court_status"
    CENSUS_NUDGE = "census_nudge"


@dataclass(frozen=True)
class Signer:
    """Makes and reads tokens with the app's secret key; the purpose is the salt."""

    secret_key: str

    def _serializer(self, purpose: Purpose) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt=f"bedboard-link:{purpose.value}")

    def dumps(self, purpose: Purpose, link_id: int) -> str:
        return str(self._serializer(purpose).dumps({"l": link_id, "n": secrets.token_hex(8)}))

    def link_id(self, purpose: Purpose, token: str) -> int:
        """The link id a token carries; ``LinkRefused`` for anything we did not sign."""
        try:
            data: Any = self._serializer(purpose).loads(token)
        except (BadSignature, UnicodeError, ValueError):
            raise LinkRefused(REFUSED) from None
        if not isinstance(data, dict) or not isinstance(data.get("l"), int):
            raise LinkRefused(REFUSED)
        return int(data["l"])


REFUSED = "This link is not valid. Check that it was copied whole, or ask for a new one."


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class Link:
    """A link as its issuer sees it (never the token)."""

    id: int
    purpose: Purpose
    subject_id: int
    created_by: int | None
    created_by_name: str | None
    created_at: datetime
    expires_at: datetime
    single_use: bool
    revoked_at: datetime | None
    used_at: datetime | None

    def state(self, now: datetime) -> str:
        """``revoked``, ``used``, ``expired`` or ``active``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.single_use and self.used_at is not None:
            return "used"
        if self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True)
class Opened:
    """A link that opened: its row. The token is not kept."""

    link: Link


_LINK_SQL = """
    SELECT l.id, l.purpose, l.subject_id, l.created_by, u.display_name AS created_by_name,
           l.created_at, l.expires_at, l.single_use, l.revoked_at, l.used_at, l.token_hash
      FROM signed_links l LEFT JOIN users u ON u.id = l.created_by
"""


def _link(row: Any) -> Link:
    return Link(
        id=row["id"],
        purpose=Purpose(row["purpose"]),
        subject_id=row["subject_id"],
        created_by=row["created_by"],
        created_by_name=row["created_by_name"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        single_use=row["single_use"],
        revoked_at=row["revoked_at"],
        used_at=row["used_at"],
    )


async def issue(
    conn: Connection,
    signer: Signer,
    purpose: Purpose,
    subject_id: int,
    *,
    by: Principal | None,
    now: datetime,
    expires_at: datetime,
    single_use: bool,
) -> tuple[Link, str]:
    """Make a link and its token (shown to the caller once, never stored). ``by`` None:
    issued by the service (the nudge job). Audited as ``link.issue`` for a person."""
    link_id = int(
        await conn.fetchval("SELECT nextval(pg_get_serial_sequence('signed_links', 'id'))")
    )
    token = signer.dumps(purpose, link_id)
    await conn.execute(
        """
        INSERT INTO signed_links (id, purpose, subject_id, created_by, created_at, expires_at,
                                  single_use, token_hash)
        OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        """,
        link_id,
        purpose.value,
        subject_id,
        by.user_id if by is not None else None,
        now,
        expires_at,
        single_use,
        token_hash(token),
    )
    await audit.changed(
        conn,
        by,
        "link.issue",
        "signed_link",
        link_id,
        {"purpose": purpose.value, "subject_id": subject_id},
    )
    row = await conn.fetchrow(_LINK_SQL + " WHERE l.id = $1", link_id)
    return _link(row), token


async def list_links(conn: Connection, purpose: Purpose, subject_id: int) -> list[Link]:
    """A subject's links, newest first."""
    rows = await conn.fetch(
        _LINK_SQL + " WHERE l.purpose = $1 AND l.subject_id = $2 ORDER BY l.id DESC",
        purpose.value,
        subject_id,
    )
    return [_link(r) for r in rows]


async def revoke(
    conn: Connection, purpose: Purpose, subject_id: int, link_id: int, *, by: Principal
) -> Link:
    """Revoke one of a subject's links (again: no change). ``NotFound`` for another's."""
    row = await conn.fetchrow(
        """
        UPDATE signed_links SET revoked_at = COALESCE(revoked_at, now()),
                                revoked_by = COALESCE(revoked_by, $4)
         WHERE id = $1 AND purpose = $2 AND subject_id = $3
        RETURNING id
        """,
        link_id,
        purpose.value,
        subject_id,
        by.user_id,
    )
    if row is None:
        raise NotFound("link")
    await audit.changed(conn, by, "link.revoke", "signed_link", link_id, {"purpose": purpose.value})
    found = await conn.fetchrow(_LINK_SQL + " WHERE l.id = $1", link_id)
    return _link(found)


async def verify(
    conn: Connection,
    signer: Signer,
    purpose: Purpose,
    token: str,
    *,
    now: datetime,
    origin: Origin,
) -> Opened:
    """The link a token opens, or a refusal; one ``link.open`` audit row either way.

    Call it outside a transaction (each statement its own), so that the audit row of a
    refusal is kept when the refusal propagates. A single-use link is spent afterwards
    with ``mark_used`` in the transaction that does what the link is for.
    """
    known: Link | None = None  # the row, once the token is ours: named in a refusal's audit
    try:
        link_id = signer.link_id(purpose, token)
        row = await conn.fetchrow(_LINK_SQL + " WHERE l.id = $1", link_id)
        if (
            row is None
            or row["purpose"] != purpose.value
            or not hmac.compare_digest(bytes(row["token_hash"]), token_hash(token))
        ):
            raise LinkRefused(REFUSED)
        link = known = _link(row)
        state = link.state(now)
        if state != "active":
            raise LinkGone(_GONE[state])
    except (LinkRefused, LinkGone) as exc:
        await _audit_open(conn, purpose, known, "failure", origin, exc.code)
        raise
    await _audit_open(conn, purpose, link, "success", origin, "")
    return Opened(link)


_GONE = {
    "revoked": "This link was revoked by the person who issued it. Ask them for a new one.",
    "used": "This link has been used already; each one works once. Ask for a new one.",
    "expired": "This link has expired. Ask for a new one.",
}


async def _audit_open(
    conn: Connection,
    purpose: Purpose,
    link: Link | None,
    outcome: audit.Outcome,
    origin: Origin,
    reason: str,
) -> None:
    detail: dict[str, Any] = {"purpose": purpose.value}
    if link is not None:
        detail["subject_id"] = link.subject_id
    if reason:
        detail["reason"] = reason
    await audit.record(
        conn,
        actor=f"link:{link.id}" if link is not None else "link",
        action="link.open",
        outcome=outcome,
        origin=origin,
        object_type="signed_link",
        object_id=link.id if link is not None else "",
        detail=detail,
    )


async def refuse(conn: Connection, link: Link, detail: str, *, origin: Origin) -> None:
    """An opened link whose subject refuses it (its case closed): audited, then gone."""
    await _audit_open(conn, link.purpose, link, "failure", origin, "subject-closed")
    raise LinkGone(detail)


async def mark_used(conn: Connection, link: Link, *, now: datetime) -> None:
    """Spend a single-use link (in the transaction that did what it was for). Raises
    ``LinkGone`` if another request spent it first."""
    done = await conn.fetchval(
        "UPDATE signed_links SET used_at = $2 WHERE id = $1 AND used_at IS NULL RETURNING id",
        link.id,
        now,
    )
    if done is None:
        raise LinkGone(_GONE["used"])
