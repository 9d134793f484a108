"""The referral: refer (one by one, or to all that fit), acknowledge, ask and answer a
question, accept (hold a bed), decline, withdraw, reopen after a release."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg

from bedboard import audit, census
from bedboard.auth import Principal
from bedboard.database import Connection
from bedboard.errors import BedTaken, Duplicate, FieldError, IllegalTransition, Invalid
from bedboard.placements.errors import NotOpen, referral_illegal
from bedboard.placements.locks import _lock, _lock_referral
from bedboard.placements.models import (
    AWAITING,
    OPEN_REFERRAL,
    REFERRAL_TRANSITIONS,
    DeclineReason,
    ReferralStatus,
    Status,
)
from bedboard.placements.timeline import _event, _publish


async def refer(
    conn: Connection, placement_id: int, unit_ids: Sequence[int], actor: Principal
) -> list[int]:
    """Send referrals to units; the placement must be open. Returns the new referral ids."""
    async with conn.transaction():
        await _lock_open(conn, placement_id)
        return await _insert_referrals(conn, placement_id, unit_ids, actor, "placement.refer")


async def _lock_open(conn: Connection, placement_id: int) -> None:
    row = await _lock(conn, placement_id)
    if row["status"] != Status.OPEN:
        raise IllegalTransition(
            f"Referrals are sent while a placement is open; this one is {row['status']}.",
            row["status"],
        )


async def refer_all(
    conn: Connection, placement_id: int, fitting: Sequence[int], actor: Principal
) -> list[int]:
    """*Refer to all that fit*: refer the placement to every unit of ``fitting`` (the units
    its bed search says fit, as the liaison confirmed them) that has no open referral yet.
    The placement row is locked first, so a second submit of the same confirmation finds
    them referred and sends nothing (returns ``[]``)."""
    async with conn.transaction():
        await _lock_open(conn, placement_id)
        already = {
            r["unit_id"]
            for r in await conn.fetch(
                "SELECT unit_id FROM referrals WHERE placement_id = $1"
                " AND status = ANY($2::text[])",
                placement_id,
                sorted(OPEN_REFERRAL),
            )
        }
        todo = sorted(set(fitting) - already)
        if not todo:
            return []
        return await _insert_referrals(conn, placement_id, todo, actor, "placement.refer_all")


async def _insert_referrals(
    conn: Connection, placement_id: int, unit_ids: Sequence[int], actor: Principal, action: str
) -> list[int]:
    units = await conn.fetch(
        "SELECT u.id FROM units u JOIN facilities f ON f.id = u.facility_id"
        " WHERE u.id = ANY($1::bigint[]) AND u.active AND f.active",
        list(unit_ids),
    )
    missing = sorted(set(unit_ids) - {r["id"] for r in units})
    if missing:
        raise Invalid(
            "Some units do not exist or are not active.",
            [FieldError("unit_ids", f"unit {u} is not available", "reference") for u in missing],
        )
    ids = []
    for unit_id in sorted(set(unit_ids)):
        try:
            async with conn.transaction():
                referral_id = await conn.fetchval(
                    "INSERT INTO referrals (placement_id, unit_id, created_by)"
                    " VALUES ($1, $2, $3) RETURNING id",
                    placement_id,
                    unit_id,
                    actor.user_id,
                )
        except asyncpg.UniqueViolationError:
            raise Duplicate(
                f"Unit {unit_id} already has an open referral for this placement."
            ) from None
        ids.append(int(referral_id))
        await _event(
            conn,
            placement_id,
            actor,
            "referral_sent",
            data={"referral_id": referral_id, "unit_id": unit_id},
        )
    await _publish(conn, placement_id, "referred", referral_ids=ids)
    await audit.changed(conn, actor, action, "placement", placement_id, {"referral_ids": ids})
    return ids


async def _release_hold(conn: Connection, referral: Any) -> None:
    if referral["hold_active"]:
        await census.release_bed(conn, referral["unit_id"])
        await conn.execute(
            "UPDATE referrals SET hold_active = false, hold_expires_at = NULL WHERE id = $1",
            referral["id"],
        )


async def accept(conn: Connection, referral_id: int, actor: Principal, hold: timedelta) -> None:
    """Accept a pending referral: hold one bed, move the placement to ``accepted``, and
    withdraw the placement's other pending referrals. 409 when the bed was just taken."""
    async with conn.transaction():
        placement, referral = await _lock_referral(conn, referral_id)
        if ReferralStatus.ACCEPTED not in REFERRAL_TRANSITIONS[ReferralStatus(referral["status"])]:
            raise referral_illegal(referral["status"], "accepted")
        if placement["status"] != Status.OPEN:
            raise NotOpen(
                f"The placement is already {placement['status']}; it no longer needs a bed.",
                placement["status"],
            )
        if not await census.hold_bed(conn, referral["unit_id"]):
            raise BedTaken(
                "The bed was just taken: this unit has no free bed left. Update the census "
                "if a bed is free, or decline."
            )
        await conn.execute(
            "UPDATE referrals SET status = 'accepted', hold_active = true, hold_expires_at = now() + $2,"
            " responded_by = $3, responded_at = now(),"
            " first_response_at = COALESCE(first_response_at, now()) WHERE id = $1",
            referral_id,
            hold,
            actor.user_id,
        )
        withdrawn = await conn.fetch(
            "UPDATE referrals SET status = 'withdrawn', responded_at = now()"
            " WHERE placement_id = $1 AND status = ANY($3::text[]) AND id <> $2 RETURNING id",
            placement["id"],
            referral_id,
            sorted(AWAITING),
        )
        await conn.execute(
            "UPDATE placements SET status = 'accepted', accepted_referral_id = $2, accepted_at = now(),"
            " updated_at = now(), version = version + 1 WHERE id = $1",
            placement["id"],
            referral_id,
        )
        await _event(
            conn,
            placement["id"],
            actor,
            "referral_accepted",
            from_state=placement["status"],
            to_state=Status.ACCEPTED.value,
            data={"referral_id": referral_id, "unit_id": referral["unit_id"]},
        )
        for row in withdrawn:
            await _event(
                conn,
                placement["id"],
                None,
                "referral_withdrawn",
                data={"referral_id": row["id"], "reason": "another unit accepted"},
            )
        await _publish(
            conn,
            placement["id"],
            "accepted",
            referral_ids=[referral_id, *[r["id"] for r in withdrawn]],
            unit_ids=[referral["unit_id"]],
        )
        detail = {"placement_id": placement["id"]}
        await audit.changed(conn, actor, "referral.accept", "referral", referral_id, detail)


async def _reopen_after_release(conn: Connection, placement: Any, referral: Any, kind: str) -> bool:
    """An accepted referral ended (its bed already released): the placement is open again."""
    if (
        placement["status"] == Status.ACCEPTED
        and placement["accepted_referral_id"] == referral["id"]
    ):
        await conn.execute(
            "UPDATE placements SET status = 'open', accepted_referral_id = NULL, accepted_at = NULL,"
            " updated_at = now(), version = version + 1 WHERE id = $1",
            placement["id"],
        )
        await _event(
            conn,
            placement["id"],
            None,
            "reopened",
            from_state=Status.ACCEPTED.value,
            to_state=Status.OPEN.value,
            data={"referral_id": referral["id"], "because": kind},
        )
        return True
    return False


async def _end_referral(
    conn: Connection,
    referral_id: int,
    actor: Principal,
    to: ReferralStatus,
    action: str,
    data: dict[str, Any],
    sql: str,
    *args: Any,
) -> None:
    """Decline or withdraw a referral awaiting an answer or accepted: release its bed if held (the
    placement is then open again), record the event, publish. ``sql`` sets the status."""
    async with conn.transaction():
        placement, referral = await _lock_referral(conn, referral_id)
        status = referral["status"]
        if to not in REFERRAL_TRANSITIONS[ReferralStatus(status)] or (
            status == ReferralStatus.ACCEPTED and placement["status"] != Status.ACCEPTED
        ):
            raise referral_illegal(status, to.value)
        await _release_hold(conn, referral)
        await conn.execute(sql, referral_id, *args)
        await _event(
            conn,
            placement["id"],
            actor,
            f"referral_{to.value}",
            data={"referral_id": referral_id, "unit_id": referral["unit_id"], **data},
        )
        was_accepted = status == ReferralStatus.ACCEPTED
        if was_accepted:
            await _reopen_after_release(conn, placement, referral, to.value)
        await _publish(
            conn,
            placement["id"],
            to.value,
            referral_ids=[referral_id],
            unit_ids=[referral["unit_id"]] if was_accepted else [],
        )
        detail = {"placement_id": placement["id"], **data}
        await audit.changed(conn, actor, action, "referral", referral_id, detail)


async def decline(
    conn: Connection, referral_id: int, reason: DeclineReason, note: str, actor: Principal
) -> None:
    await _end_referral(
        conn,
        referral_id,
        actor,
        ReferralStatus.DECLINED,
        "referral.decline",
        {"reason": reason.value},
        "UPDATE referrals SET status = 'declined', decline_reason = $2, decline_note = $3,"
        " responded_by = $4, responded_at = now(),"
        " first_response_at = COALESCE(first_response_at, now()) WHERE id = $1",
        reason.value,
        note,
        actor.user_id,
    )


async def withdraw(conn: Connection, referral_id: int, actor: Principal) -> None:
    await _end_referral(
        conn,
        referral_id,
        actor,
        ReferralStatus.WITHDRAWN,
        "referral.withdraw",
        {},
        "UPDATE referrals SET status = 'withdrawn', responded_at = now() WHERE id = $1",
    )


async def _facility_move(conn: Connection, referral_id: int, to: ReferralStatus) -> tuple[Any, Any]:
    """Lock the referral and check the move is allowed; the placement must still be open
    (a referral of an accepted or final placement is being answered no more)."""
    placement, referral = await _lock_referral(conn, referral_id)
    status = referral["status"]
    if to not in REFERRAL_TRANSITIONS[ReferralStatus(status)]:
        raise referral_illegal(status, to.value)
    if placement["status"] != Status.OPEN:
        raise NotOpen(
            f"The placement is already {placement['status']}; it no longer needs a bed.",
            placement["status"],
        )
    return placement, referral


async def _after_move(
    conn: Connection,
    placement: Any,
    referral: Any,
    actor: Principal,
    kind: str,
    action: str,
    to: ReferralStatus,
    data: dict[str, Any] | None = None,
) -> None:
    """The timeline event, the outbox events and the audit entry of a facility's move:
    ids and states only (a question's text stays in ``referral_questions``)."""
    ids = {"referral_id": referral["id"], "unit_id": referral["unit_id"], **(data or {})}
    await _event(
        conn,
        placement["id"],
        actor,
        kind,
        from_state=referral["status"],
        to_state=to.value,
        data=ids,
    )
    await _publish(conn, placement["id"], kind, referral_ids=[referral["id"]])
    detail = {"placement_id": placement["id"], **(data or {})}
    await audit.changed(conn, actor, action, "referral", referral["id"], detail)


async def acknowledge(conn: Connection, referral_id: int, actor: Principal) -> None:
    """*We are reviewing*: the facility has seen the referral and is deciding."""
    async with conn.transaction():
        placement, referral = await _facility_move(conn, referral_id, ReferralStatus.ACKNOWLEDGED)
        if referral["status"] == ReferralStatus.INFO_REQUESTED:
            # Only the liaison's answer takes a question back to "reviewing".
            raise referral_illegal(referral["status"], "acknowledged by the facility")
        await conn.execute(
            "UPDATE referrals SET status = 'acknowledged',"
            " acknowledged_at = COALESCE(acknowledged_at, now()),"
            " acknowledged_by = COALESCE(acknowledged_by, $2),"
            " first_response_at = COALESCE(first_response_at, now()) WHERE id = $1",
            referral_id,
            actor.user_id,
        )
        await _after_move(
            conn,
            placement,
            referral,
            actor,
            "referral_acknowledged",
            "referral.acknowledge",
            ReferralStatus.ACKNOWLEDGED,
        )


async def ask(conn: Connection, referral_id: int, question: str, actor: Principal) -> int:
    """The facility asks the liaison a question before deciding. Returns the question id.
    The text is clinical: it is stored in ``referral_questions`` only."""
    async with conn.transaction():
        placement, referral = await _facility_move(conn, referral_id, ReferralStatus.INFO_REQUESTED)
        question_id = int(
            await conn.fetchval(
                "INSERT INTO referral_questions (referral_id, question, asked_by)"
                " VALUES ($1, $2, $3) RETURNING id",
                referral_id,
                question,
                actor.user_id,
            )
        )
        await conn.execute(
            "UPDATE referrals SET status = 'info_requested', info_requested_at = now(),"
            " first_response_at = COALESCE(first_response_at, now()) WHERE id = $1",
            referral_id,
        )
        await _after_move(
            conn,
            placement,
            referral,
            actor,
            "referral_info_requested",
            "referral.ask",
            ReferralStatus.INFO_REQUESTED,
            {"question_id": question_id},
        )
        return question_id


async def answer(conn: Connection, referral_id: int, text: str, actor: Principal) -> int:
    """The liaison answers the referral's open question; the facility is reviewing again
    (``acknowledged``) and then accepts or declines. Returns the question id."""
    async with conn.transaction():
        placement, referral = await _lock_referral(conn, referral_id)
        if referral["status"] != ReferralStatus.INFO_REQUESTED:
            raise IllegalTransition(
                f"Only a referral with a question waiting can be answered; this one is "
                f"{referral['status']}.",
                referral["status"],
                sorted(REFERRAL_TRANSITIONS[ReferralStatus(referral["status"])]),
            )
        question_id = await conn.fetchval(
            "UPDATE referral_questions SET answer = $2, answered_by = $3, answered_at = now()"
            " WHERE referral_id = $1 AND answered_at IS NULL RETURNING id",
            referral_id,
            text,
            actor.user_id,
        )
        assert question_id is not None  # info_requested always has its open question
        await conn.execute(
            "UPDATE referrals SET status = 'acknowledged', info_answered_at = now(),"
            " acknowledged_at = COALESCE(acknowledged_at, now()) WHERE id = $1",
            referral_id,
        )
        await _after_move(
            conn,
            placement,
            referral,
            actor,
            "referral_info_answered",
            "referral.answer",
            ReferralStatus.ACKNOWLEDGED,
            {"question_id": int(question_id)},
        )
        return int(question_id)
