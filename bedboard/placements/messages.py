"""A message thread per referral: the liaisons and the referred facility write to each
other about one referral (``referral_messages``, the one writer of that table).

The body is clinical free text: it is stored here and shown to the two sides only. The
timeline event, the outbox events, the audit entry and the notification carry ids and
the side that wrote, never the text. The informal thread sits beside the formal
question and answer (``referrals.ask``/``answer``), which it does not replace.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bedboard import audit, outbox
from bedboard.auth import Principal, Role
from bedboard.database import Connection
from bedboard.errors import IllegalTransition, NotFound
from bedboard.placements.locks import _lock_referral
from bedboard.placements.models import OPEN_REFERRAL, Status
from bedboard.placements.timeline import _event, _events
from bedboard.placements.views import referral_scope

MAX_BODY = 4000
# The placement states a thread is written in: while a bed is sought, held, the person on
# the way, and once admitted. Not after discharge or closing.
WRITABLE = frozenset({Status.OPEN, Status.ACCEPTED, Status.IN_TRANSIT, Status.ADMITTED})
# The event name of a message on the timeline, the outbox and the notifications.
KIND = "referral_message"


class Side(StrEnum):
    LIAISON = "liaison"
    FACILITY = "facility"


def side_of(principal: Principal) -> Side:
    """A facility user writes as the facility; a liaison, supervisor or administrator as
    the liaisons."""
    return Side.FACILITY if principal.role is Role.FACILITY else Side.LIAISON


class MessageIn(BaseModel):
    """A message on a referral's thread: clinical free text (the notes' rules)."""

    model_config = ConfigDict(extra="forbid")
    body: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BODY)
    ] = Field(description="Clinical text, 1 to 4,000 characters once trimmed.")


class Message(BaseModel):
    id: int
    referral_id: int
    body: str = Field(description="Clinical text.")
    side: Side
    sent_by: int
    sender_name: str = Field(description="The sender's display name (or email).")
    sent_at: datetime


class MessageList(BaseModel):
    referral_id: int
    items: list[Message] = Field(description="Oldest first.")


_SELECT = (
    "SELECT m.id, m.referral_id, m.body, m.side, m.sent_by, m.sent_at,"
    " COALESCE(NULLIF(u.display_name, ''), u.email, '') AS sender_name"
    " FROM referral_messages m JOIN users u ON u.id = m.sent_by"
)


async def thread(conn: Connection, referral_id: int) -> list[Message]:
    """A referral's messages, oldest first."""
    await referral_scope(conn, referral_id)  # NotFound for a referral that does not exist
    rows = await conn.fetch(
        _SELECT + " WHERE m.referral_id = $1 ORDER BY m.sent_at, m.id", referral_id
    )
    return [Message.model_validate(dict(r)) for r in rows]


async def message(conn: Connection, message_id: int) -> Message:
    """One message (the one just sent)."""
    row = await conn.fetchrow(_SELECT + " WHERE m.id = $1", message_id)
    if row is None:
        raise NotFound("message")
    return Message.model_validate(dict(row))


async def threads(conn: Connection, referral_ids: list[int]) -> dict[int, list[Message]]:
    """Several referrals' messages (a page's referrals), oldest first in each."""
    rows = await conn.fetch(
        _SELECT + " WHERE m.referral_id = ANY($1::bigint[]) ORDER BY m.sent_at, m.id",
        referral_ids,
    )
    out: dict[int, list[Message]] = {rid: [] for rid in referral_ids}
    for r in rows:
        out[r["referral_id"]].append(Message.model_validate(dict(r)))
    return out


def takes_messages(referral_status: str, placement_status: str) -> bool:
    """Whether a referral's thread takes new messages (what ``send`` checks)."""
    return referral_status in OPEN_REFERRAL and placement_status in WRITABLE


def _refusal(placement: Any, referral: Any) -> IllegalTransition | None:
    if referral["status"] not in OPEN_REFERRAL:
        return IllegalTransition(
            f"The referral is {referral['status']}: its thread is closed to new messages.",
            referral["status"],
        )
    if placement["status"] not in WRITABLE:
        return IllegalTransition(
            f"The placement is {placement['status']}: its threads are closed to new messages.",
            placement["status"],
        )
    return None


async def send(conn: Connection, referral_id: int, body: str, actor: Principal) -> int:
    """Add a message to a referral's thread, as ``actor``'s side. Returns its id.

    The referral must be open (awaiting an answer or accepted) and the placement not yet
    discharged or closed; otherwise 409. ``body`` is trimmed first (the API's model
    already refuses an empty or too long one; the table's check is the last word)."""
    text = body.strip()
    side = side_of(actor)
    async with conn.transaction():
        placement, referral = await _lock_referral(conn, referral_id)
        refusal = _refusal(placement, referral)
        if refusal is not None:
            raise refusal
        message_id = int(
            await conn.fetchval(
                "INSERT INTO referral_messages (referral_id, body, sent_by, side)"
                " VALUES ($1, $2, $3, $4) RETURNING id",
                referral_id,
                text,
                actor.user_id,
                side.value,
            )
        )
        ids = {
            "referral_id": referral_id,
            "unit_id": referral["unit_id"],
            "facility_id": referral["facility_id"],
            "message_id": message_id,
            "side": side.value,
        }
        await _event(conn, placement["id"], actor, KIND, data=ids)
        await _publish_message(conn, placement["id"], referral_id, message_id, side)
        detail = {"placement_id": placement["id"], "message_id": message_id, "side": side.value}
        await audit.changed(conn, actor, "referral.message", "referral", referral_id, detail)
        return message_id


async def _publish_message(
    conn: Connection, placement_id: int, referral_id: int, message_id: int, side: Side
) -> None:
    """The placement's event (the liaisons' pages refresh) and the referral's, marked as
    a message (the facility's page refreshes; the notifier tells the other side): ids, the
    referral's state and the side that wrote only."""
    events = await _events(conn, placement_id, KIND, referral_ids=[referral_id])
    marked = []
    for topic, payload in events:
        if topic == outbox.REFERRALS:
            payload = {**payload, "event": KIND, "message_id": message_id, "side": side.value}
        marked.append((topic, payload))
    await outbox.append(conn, marked)


async def align_demo_times(conn: Connection) -> None:
    """Demo only: after the demo's timelines were moved to realistic times, each message
    is dated as its timeline event is."""
    await conn.execute(
        "UPDATE referral_messages m SET sent_at = e.at FROM placement_events e"
        " WHERE e.kind = $1 AND (e.data->>'message_id')::bigint = m.id",
        KIND,
    )
