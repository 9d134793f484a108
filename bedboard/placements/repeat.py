"""Repeat involvement without storing identity: a person's earlier placements, found by a
keyed fingerprint of their name and date of birth, and linked by a liaison.

Owns ``person_keys`` and ``person_links`` (migration 0016).

A liaison may enter a person's full name and date of birth once per placement. bedboard
keeps only ``HMAC-SHA256(key, normalized name | ISO date of birth)``; the key lives
outside the database (``Settings.resolved_person_link_key``), so a copy of the database
alone cannot be searched for a name. The raw values are never stored, logged, put in
the timeline, the audit trail or an outbox payload: this module receives them, computes
the fingerprint and forgets them.

The name is normalized so that spellings of one name meet: Unicode compatibility form
with accents removed, case folded, every run of characters that are not letters (spaces,
hyphens, apostrophes, periods, commas) treated as a break between words, and the words
sorted, so "O'Brien-Smith, José" and "jose obrien smith" are different but
"José Smith" / "SMITH, Jose" / "jose  smith" are one. Initials alone are refused: too
many people share them.

Earlier placements of the same person (same fingerprint) are *suggested*; a link exists
only when a liaison makes it, and both linking and unlinking are audited and on the
timeline (by reference only). The history shown (earlier placements, their outcomes and
case links) is for liaisons and admins only (``access``: ``PLACEMENT_WRITE``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bedboard import audit
from bedboard.auth import Principal
from bedboard.database import Connection
from bedboard.errors import Conflict, Invalid, NotFound
from bedboard.placements.locks import _lock
from bedboard.placements.timeline import _event, _publish

# Suggestions look this far back from the new placement's creation.
LOOKBACK_DAYS = 90
_WORD_BREAK = re.compile(r"[^a-z]+")


class PersonIn(BaseModel):
    """What the liaison types once. Never stored."""

    model_config = ConfigDict(extra="forbid")
    full_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
    birth_date: date


class Earlier(BaseModel):
    """An earlier placement of the same person, as the liaison sees it (no person data)."""

    placement_id: int
    reference: str
    created_at: datetime
    status: str
    outcome: str | None
    admitted_at: datetime | None
    closed_at: datetime | None
    linked: bool = Field(description="A liaison linked it to this placement.")
    case_links: list[tuple[str, str]] = Field(
        default_factory=list, description="The earlier case's links: (system, url)."
    )


def normalize_name(name: str) -> str:
    """The name's words, accent- and case-folded, sorted; '' when nothing is left."""
    folded = unicodedata.normalize("NFKD", name)
    letters = "".join(c for c in folded if not unicodedata.combining(c)).casefold()
    words = [w for w in _WORD_BREAK.split(letters) if w]
    return " ".join(sorted(words))


def person_key(secret: bytes, person: PersonIn) -> bytes:
    """The fingerprint: 32 bytes. Refuses a name that is not a full name."""
    name = normalize_name(person.full_name)
    words = name.split()
    if len(words) < 2 or all(len(w) == 1 for w in words):
        raise Invalid.field(
            "full_name", "Enter the person's full name (first and last), not initials."
        )
    if person.birth_date > datetime.now(UTC).date() or person.birth_date.year < 1900:
        raise Invalid.field("birth_date", "Enter a date of birth between 1900 and today.")
    message = f"{name}|{person.birth_date.isoformat()}".encode()
    return hmac.new(secret, message, hashlib.sha256).digest()


async def remember(
    conn: Connection, placement_id: int, key: bytes, actor: Principal
) -> list[Earlier]:
    """Store the placement's fingerprint (once; a second one is refused: unlink and ask an
    admin if it was wrong) and return the suggestions it gives."""
    async with conn.transaction():
        await _lock(conn, placement_id)
        stored = await conn.fetchval(
            "INSERT INTO person_keys (placement_id, person_key, created_by) VALUES ($1, $2, $3)"
            " ON CONFLICT (placement_id) DO NOTHING RETURNING placement_id",
            placement_id,
            key,
            actor.user_id,
        )
        if stored is None:
            raise Conflict("This placement already has the person's name and date of birth.")
        await _event(conn, placement_id, actor, "person_identified")
        await _publish(conn, placement_id, "person_identified")
        await audit.changed(conn, actor, "placement.person_key", "placement", placement_id, {})
    return await earlier(conn, placement_id)


async def has_key(conn: Connection, placement_id: int) -> bool:
    return bool(
        await conn.fetchval("SELECT true FROM person_keys WHERE placement_id = $1", placement_id)
    )


async def earlier(conn: Connection, placement_id: int) -> list[Earlier]:
    """The person's earlier placements: those linked (any age), and those with the same
    fingerprint created in the LOOKBACK_DAYS before this one; newest first."""
    rows = await conn.fetch(
        """
        WITH me AS (
            SELECT p.id, p.created_at, k.person_key
              FROM placements p LEFT JOIN person_keys k ON k.placement_id = p.id
             WHERE p.id = $1
        ), found AS (
            SELECT l.earlier_id AS id, true AS linked FROM person_links l WHERE l.placement_id = $1
            UNION
            SELECT e.id, false FROM me
              JOIN person_keys ek ON ek.person_key = me.person_key AND ek.placement_id <> me.id
              JOIN placements e ON e.id = ek.placement_id
             WHERE e.created_at < me.created_at AND e.created_at >= me.created_at - $2::interval
        )
        SELECT e.id, e.reference, e.created_at, e.status, e.outcome, e.admitted_at, e.closed_at,
               bool_or(f.linked) AS linked,
               COALESCE((SELECT array_agg(ARRAY[pl.system, pl.url] ORDER BY pl.id)
                           FROM placement_links pl WHERE pl.placement_id = e.id), '{}') AS links
          FROM found f JOIN placements e ON e.id = f.id
         GROUP BY e.id ORDER BY e.created_at DESC
        """,
        placement_id,
        timedelta(days=LOOKBACK_DAYS),
    )
    return [
        Earlier(
            placement_id=r["id"],
            reference=r["reference"],
            created_at=r["created_at"],
            status=r["status"],
            outcome=r["outcome"],
            admitted_at=r["admitted_at"],
            closed_at=r["closed_at"],
            linked=r["linked"],
            case_links=[(str(s), str(u)) for s, u in (r["links"] or [])],
        )
        for r in rows
    ]


async def link(conn: Connection, placement_id: int, earlier_id: int, actor: Principal) -> None:
    """Link an earlier placement: only one that shares the fingerprint or is already
    linked from elsewhere to this person; linking twice changes nothing."""
    async with conn.transaction():
        await _lock(conn, placement_id)
        suggested = {e.placement_id for e in await earlier(conn, placement_id)}
        if earlier_id not in suggested:
            raise NotFound("earlier placement of this person")
        reference = await conn.fetchval(
            "SELECT reference FROM placements WHERE id = $1", earlier_id
        )
        inserted = await conn.fetchval(
            "INSERT INTO person_links (placement_id, earlier_id, linked_by) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING earlier_id",
            placement_id,
            earlier_id,
            actor.user_id,
        )
        if inserted is None:
            return
        data = {"earlier_id": earlier_id, "reference": reference}
        await _event(conn, placement_id, actor, "person_linked", data=data)
        await _publish(conn, placement_id, "person_linked")
        await audit.changed(conn, actor, "placement.person_link", "placement", placement_id, data)


async def unlink(conn: Connection, placement_id: int, earlier_id: int, actor: Principal) -> None:
    async with conn.transaction():
        await _lock(conn, placement_id)
        reference = await conn.fetchval(
            "DELETE FROM person_links l USING placements e"
            " WHERE l.placement_id = $1 AND l.earlier_id = $2 AND e.id = l.earlier_id"
            " RETURNING e.reference",
            placement_id,
            earlier_id,
        )
        if reference is None:
            raise NotFound("link to that placement")
        data = {"earlier_id": earlier_id, "reference": reference}
        await _event(conn, placement_id, actor, "person_unlinked", data=data)
        await _publish(conn, placement_id, "person_unlinked")
        await audit.changed(conn, actor, "placement.person_unlink", "placement", placement_id, data)
