"""A referral's message thread: the liaisons and the referred facility write to each other.

The bodies are clinical text: only the liaisons (supervisors in their region) and the
facility the referral went to read them; every read and write is audited (ids only).
"""

from __future__ import annotations

from aiohttp import web

from bedboard import placements
from bedboard.access import Action, Resource
from bedboard.api.registry import route
from bedboard.context import POOL, authorize, path_id, record_success
from bedboard.database import Connection, acquire, transaction
from bedboard.placements import messages


async def message_resource(conn: Connection, referral_id: int) -> Resource:
    """A referral's thread as access sees it: the referral's."""
    return (await placements.referral_resource(conn, referral_id))[1]


@route(
    "GET",
    "/api/v1/referrals/{id}/messages",
    summary="A referral's messages with its facility",
    tag="referrals",
)
async def list_messages(request: web.Request) -> messages.MessageList:
    """Oldest first: each message's text (clinical), its sender's name, the side that wrote
    (`liaison` or `facility`) and when (UTC). For the liaisons and the facility the
    referral went to; any other facility is answered as if the referral did not exist."""
    referral_id = path_id(request)
    async with acquire(request.app[POOL]) as conn:
        authorize(request, Action.REFERRAL_MESSAGE_READ, await message_resource(conn, referral_id))
        items = await messages.thread(conn, referral_id)
        await record_success(
            request,
            conn,
            "referral_message.read",
            "referral",
            referral_id,
            {"count": len(items)},
        )
    return messages.MessageList(referral_id=referral_id, items=items)


@route(
    "POST",
    "/api/v1/referrals/{id}/messages",
    summary="Write to a referral's thread",
    tag="referrals",
    status=201,
    responses={409: "The referral is declined, withdrawn or expired, or the placement is over"},
)
async def send_message(request: web.Request, body: messages.MessageIn) -> messages.Message:
    """As your side: a facility user writes as the facility, a liaison (supervisor,
    administrator) as the liaisons. The other side is notified (`referral_message`), with
    the placement's reference and a link, never the text. Answers the message."""
    referral_id = path_id(request)
    async with transaction(request.app[POOL]) as conn:
        principal = authorize(
            request, Action.REFERRAL_MESSAGE_WRITE, await message_resource(conn, referral_id)
        )
        message_id = await messages.send(conn, referral_id, body.body, principal)
        return await messages.message(conn, message_id)
